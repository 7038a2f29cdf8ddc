// Matrices (data sets, kernels) from and to files for the command-line tools: CSV, NumPy .npy or
// an array of a NumPy .npz ("data.npz:X"; read only), chosen by the file's extension (.csv, .npy,
// .npz, any case). "-" as an output is CSV on standard output.
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
//   - every row has as many fields as the first data row;
//   - with CsvOptions: skip_header drops the first non-comment line whatever it holds (a pandas
//     header ",a,b" with its empty first name), and columns keeps only those columns (a pandas
//     index column or a label column is left out; the others need not be numbers).
// Errors name the file and the line: "X.csv:7: field 3 'abc' is not a number".
// CSV as written: no header, fields joined by ',', shortest round-trip decimal for each double.
//
// Writes are all-or-nothing: the file is written aside and renamed into place, so an error leaves
// any previous file as it was and no partial one. Both formats are streamed to the file row by
// row (CSV text through a 1 MiB buffer, .npy straight from the matrix): no copy of a kernel and no
// whole-file string, so writing costs about what the disk does.
#pragma once

#include <cstddef>
#include <istream>
#include <string>
#include <vector>

#include "autodiff/tensor.hpp"

namespace ntk {

using autodiff::Tensor;

enum class TableFormat { csv, npy, npz };
// From the extension ("-" is CSV, "FILE.npz:NAME" is npz); throws autodiff::Error ("FILE: unknown
// format ...") for anything else.
TableFormat table_format(const std::string& path);

struct CsvOptions {
  bool skip_header = false;          // drop the first line that is not blank or a comment
  std::vector<std::size_t> columns;  // 0-based columns to keep, in this order; empty: all
};
// "2,3,5-7,9-" (1-based, as cut -f): the 0-based columns [1, 2, 4, 5, 6, 8, ...]; an open range
// "9-" is kept as 8 followed by kOpenEnd. Throws autodiff::Error for anything else.
std::vector<std::size_t> parse_columns(const std::string& spec);
inline constexpr std::size_t kOpenEnd = static_cast<std::size_t>(-1);

// A matrix (rows, columns) from CSV; throws autodiff::Error naming file and line.
Tensor read_csv(const std::string& path, const CsvOptions& options = {});
// The same from text in memory, `name` naming it in messages (for fuzzing and tests).
Tensor parse_csv(std::istream& in, const std::string& name, const CsvOptions& options = {});
// A matrix to CSV, atomically (see above).
void write_csv(const std::string& path, const Tensor& matrix);

// By extension. Reading checks the result is a finite, non-empty matrix: a 1-D array of N numbers
// is N points of dimension 1 (a column), other ranks are refused; CSV options apply to CSV only.
// Writing needs a 2-D matrix.
Tensor read_matrix(const std::string& path, const CsvOptions& options = {});
void write_matrix(const std::string& path, const Tensor& matrix);
// For a matrix the caller is done with: a .npy gives its memory back as it is written (see
// nn::save_npy), which on a VM makes a new file of a large kernel ~10× faster. Consumes it.
void write_matrix(const std::string& path, Tensor&& matrix);

}  // namespace ntk
