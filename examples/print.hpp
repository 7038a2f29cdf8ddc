// Printing helpers shared by the tutorial's programs: fixed significant digits, so what they
// print is the same from run to run and can be checked against docs/tutorial.md.
#pragma once

#include <iostream>
#include <string>

#include "autodiff/listing.hpp"

namespace examples {

// A matrix row by row, each number with `precision` significant digits in a column of `width`.
inline void print_matrix(const std::string& name, const autodiff::Tensor& m, int precision = 6, int width = 11) {
  const std::size_t rows = m.dim() == 2 ? m.shape()[0] : 1, columns = m.size() / rows;
  std::cout << name << " (" << autodiff::to_string(m.shape()) << "):\n";
  for (std::size_t r = 0; r < rows; ++r) {
    std::cout << ' ';
    for (std::size_t c = 0; c < columns; ++c) {
      const std::string number = autodiff::format_number(m.flat(r * columns + c), {.precision = precision});
      std::cout << std::string(static_cast<std::size_t>(width) > number.size() ? width - number.size() : 1, ' ')
                << number;
    }
    std::cout << '\n';
  }
}

inline std::string number(double value, int precision = 6) {
  return autodiff::format_number(value, {.precision = precision});
}

}  // namespace examples
