#include "autodiff/accumulator.hpp"

#include <algorithm>
#include <cstring>

namespace autodiff {

void Accumulator::add(Tensor term) {
  if (!started_) {
    total_ = std::move(term);
    started_ = complete_ = true;
    return;
  }
  if (scale_ != 1.0) {
    double* t = term.data();
    for (std::size_t i = 0, n = term.size(); i < n; ++i) t[i] *= scale_;
  }
  zeroed() += term;
}

void Accumulator::start_onto(Tensor& target, double scale) {
  target_ = &target;
  scale_ = scale;
  started_ = complete_ = true;
}

void Accumulator::start(const Shape& shape) {
  if (started_) return;
  total_ = Tensor::empty(shape);
  started_ = true;
  complete_ = total_.size() == 0;
  row_length_ = 0;
  written_.clear();
}

bool Accumulator::claim(std::size_t first, std::size_t count, std::size_t row_length) {
  if (complete_) return false;
  if (written_.empty()) row_length_ = row_length;
  if (row_length != row_length_ || row_length == 0) {  // blocks of another layout: no tracking
    zeroed();
    return false;
  }
  const std::size_t last = first + count;
  const auto overlaps = [&](const auto& range) { return range.first < last && first < range.second; };
  const bool fresh = std::none_of(written_.begin(), written_.end(), overlaps);
  if (!fresh) zero_gaps(first, last);
  // Record [first, last), merged with the ranges it touches, keeping the list sorted.
  auto at = std::lower_bound(written_.begin(), written_.end(), std::make_pair(first, last));
  written_.insert(at, {first, last});
  std::size_t kept = 0;
  for (std::size_t k = 1; k < written_.size(); ++k) {
    if (written_[k].first <= written_[kept].second) {
      written_[kept].second = std::max(written_[kept].second, written_[k].second);
    } else {
      written_[++kept] = written_[k];
    }
  }
  written_.resize(kept + 1);
  complete_ = written_.size() == 1 && written_[0].first == 0 && written_[0].second == row_length_;
  return fresh;
}

Tensor& Accumulator::zeroed() {
  if (!complete_) {  // (never for a target: it starts complete)
    if (written_.empty()) {
      // (memset on an empty tensor's null data() is undefined behaviour, even for 0 bytes)
      if (total_.size() > 0) std::memset(total_.data(), 0, total_.size() * sizeof(double));
    } else {
      zero_gaps(0, row_length_);
    }
    complete_ = true;
    written_.clear();
  }
  return tensor();
}

void Accumulator::zero_gaps(std::size_t first, std::size_t last) {
  const std::size_t rows = row_length_ == 0 ? 0 : total_.size() / row_length_;
  const auto zero = [&](std::size_t from, std::size_t to) {
    if (from >= to || rows == 0) return;
    for (std::size_t r = 0; r < rows; ++r)
      std::memset(total_.data() + r * row_length_ + from, 0, (to - from) * sizeof(double));
  };
  std::size_t next = first;  // the first column not yet known to be written
  for (const auto& [begin, end] : written_) {
    if (end <= next) continue;
    if (begin >= last) break;
    zero(next, std::min(begin, last));
    next = std::max(next, end);
  }
  zero(next, last);
}

}  // namespace autodiff
