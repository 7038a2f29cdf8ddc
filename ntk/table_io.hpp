// Matrices (data sets, kernels) from and to files for the command-line tools: CSV or NumPy .npy,
// chosen by the file's extension (.csv or .npy, any case).
//
// CSV as read here:
//   - one row per line, fields separated by commas, spaces or tabs around a field ignored, LF or
//     CRLF line ends, a UTF-8 byte-order mark at the start ignored;
//   - blank lines and lines whose first non-blank character is '#' are skipped (comments);
//   - an optional header: the first remaining line is taken as column names if none of its fields
//     is a number or empty or starts with a digit, '+', '-' or '.' (so "x1,x2" is a header, while
//     "x,2" and "1 2 3" are bad data rows);
//   - every other field is a finite number in C syntax (std::from_chars, plus an optional '+'):
//     "1", "-2.5", "3e-4", ".5"; no quotes, no thousands separators, no nan or inf;
//   - every row has as many fields as the first data row.
// Errors name the file and the line: "X.csv:7: field 3 'abc' is not a number".
// CSV as written: no header, fields joined by ',', shortest round-trip decimal for each double.
//
// Writes are all-or-nothing: the file is written aside and renamed into place, so an error leaves
// any previous file as it was and no partial one. Both formats are streamed to the file row by
// row (CSV text through a 1 MiB buffer, .npy straight from the matrix): no copy of a kernel and no
// whole-file string, so writing costs about what the disk does.
#pragma once

#include <string>

#include "autodiff/tensor.hpp"

namespace ntk {

using autodiff::Tensor;

enum class TableFormat { csv, npy };
// From the extension; throws autodiff::Error ("FILE: unknown format ...") for anything else.
TableFormat table_format(const std::string& path);

// A matrix (rows, columns) from CSV; throws autodiff::Error naming file and line.
Tensor read_csv(const std::string& path);
// A matrix to CSV, atomically (see above).
void write_csv(const std::string& path, const Tensor& matrix);

// By extension. Reading checks the result is a finite 2-D matrix (a 1-D .npy is an error: is it a
// row or a column?); writing needs a 2-D matrix.
Tensor read_matrix(const std::string& path);
void write_matrix(const std::string& path, const Tensor& matrix);

}  // namespace ntk
