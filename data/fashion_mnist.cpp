#include "data/fashion_mnist.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace data {

namespace {

constexpr const char* kPackageHint =
    "(Fashion-MNIST comes with the Debian package 'dataset-fashion-mnist': apt-get install dataset-fashion-mnist)";

// read_idx with the package named in any error.
IdxArray read_with_hint(const std::filesystem::path& path, std::size_t rank, std::size_t max_rows) {
  try {
    return read_idx(path, rank, max_rows);
  } catch (const Error& e) {
    throw Error(fmt::format("{} {}", e.what(), kPackageHint));
  }
}

void normalize_row(double* row, std::size_t d, Normalization normalization) {
  if (normalization == Normalization::unit_interval) return;
  double sum = 0.0;
  for (std::size_t j = 0; j < d; ++j) sum += row[j];
  const double mean = sum / static_cast<double>(d);
  double squares = 0.0;
  for (std::size_t j = 0; j < d; ++j) squares += (row[j] - mean) * (row[j] - mean);
  const double deviation = std::sqrt(squares / static_cast<double>(d));
  const double scale = deviation > 0.0 ? 1.0 / deviation : 0.0;  // a constant image becomes 0
  for (std::size_t j = 0; j < d; ++j) row[j] = (row[j] - mean) * scale;
}

}  // namespace

std::string to_string(Split split) { return split == Split::train ? "train" : "test"; }

std::string to_string(Normalization normalization) {
  return normalization == Normalization::unit_interval ? "unit-interval" : "standardize-per-image";
}

std::filesystem::path default_fashion_mnist_dir() { return "/usr/share/datasets/fashion-mnist"; }

namespace {

struct RawSplit {
  IdxArray images, labels;
  std::filesystem::path image_path, label_path;
};

std::filesystem::path label_file(const std::filesystem::path& dir, Split split) {
  return dir / (split == Split::train ? "train-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte.gz");
}

// Both files of a split (the first max_rows items), checked against each other.
RawSplit read_split(const std::filesystem::path& dir, Split split, std::size_t max_rows) {
  RawSplit raw;
  raw.image_path = dir / (split == Split::train ? "train-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte.gz");
  raw.label_path = label_file(dir, split);
  raw.labels = read_with_hint(raw.label_path, 1, max_rows);
  raw.images = read_with_hint(raw.image_path, 3, max_rows);
  if (raw.images.dims[1] != 28 || raw.images.dims[2] != 28)
    throw Error(fmt::format("{}: images of {} x {} pixels, expected 28 x 28 {}", raw.image_path.string(), raw.images.dims[1],
                            raw.images.dims[2], kPackageHint));
  if (raw.images.dims[0] != raw.labels.dims[0])
    throw Error(fmt::format("{} holds {} images but {} holds {} labels {}", raw.image_path.string(), raw.images.dims[0],
                            raw.label_path.string(), raw.labels.dims[0], kPackageHint));
  for (std::size_t i = 0; i < raw.labels.dims[0]; ++i)
    if (raw.labels.values[i] >= kFashionMnistClasses)
      throw Error(fmt::format("{}: label {} of row {} is not a class 0..9 {}", raw.label_path.string(), raw.labels.values[i], i,
                              kPackageHint));
  return raw;
}

FashionMnist select(const RawSplit& raw, Split split, const std::vector<std::size_t>& rows, Normalization normalization) {
  FashionMnist set;
  set.split = split;
  set.normalization = normalization;
  const std::size_t n = rows.size(), d = kFashionMnistPixels, available = raw.labels.dims[0];
  set.labels.resize(n);
  set.images = autodiff::Tensor::empty({n, d});
  double* out = set.images.data();
  for (std::size_t i = 0; i < n; ++i) {
    if (rows[i] >= available)
      throw std::out_of_range(fmt::format("load_fashion_mnist_rows: row {} out of range ({} has {} images)", rows[i],
                                          raw.image_path.string(), available));
    set.labels[i] = raw.labels.values[rows[i]];
    const std::uint8_t* pixels = raw.images.values.data() + rows[i] * d;
    for (std::size_t j = 0; j < d; ++j) out[i * d + j] = pixels[j] / 255.0;
    normalize_row(out + i * d, d, normalization);
  }
  return set;
}

}  // namespace

FashionMnist load_fashion_mnist(const std::filesystem::path& dir, Split split, std::size_t max_rows,
                                Normalization normalization) {
  const RawSplit raw = read_split(dir, split, max_rows);
  std::vector<std::size_t> rows(raw.labels.dims[0]);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = i;
  return select(raw, split, rows, normalization);
}

std::size_t fashion_mnist_rows(const std::filesystem::path& dir, Split split) {
  return read_with_hint(label_file(dir, split), 1, kAllItems).dims[0];
}

FashionMnist load_fashion_mnist_rows(const std::filesystem::path& dir, Split split, const std::vector<std::size_t>& rows,
                                     Normalization normalization) {
  // Only the images up to the last one asked for are kept (the rest is read to check the file).
  const std::size_t kept = rows.empty() ? 0 : *std::max_element(rows.begin(), rows.end()) + 1;
  return select(read_split(dir, split, kept), split, rows, normalization);
}

const std::string& fashion_mnist_class_name(int label) {
  static const std::array<std::string, kFashionMnistClasses> names = {
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  if (label < 0 || label >= static_cast<int>(kFashionMnistClasses))
    throw std::out_of_range(fmt::format("fashion_mnist_class_name: label {} is not a class 0..9", label));
  return names[static_cast<std::size_t>(label)];
}

autodiff::Tensor one_hot_targets(const std::vector<int>& labels, std::size_t classes, double on, double off) {
  autodiff::Tensor y = autodiff::Tensor::full({labels.size(), classes}, off);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= classes)
      throw std::invalid_argument(fmt::format("one_hot_targets: label {} of row {} is not a class 0..{}", labels[i], i, classes - 1));
    y(i, static_cast<std::size_t>(labels[i])) = on;
  }
  return y;
}

std::vector<int> argmax_rows(const autodiff::Tensor& scores) {
  if (scores.dim() != 2) throw std::invalid_argument("argmax_rows: scores must be a matrix (N, classes)");
  const std::size_t n = scores.shape()[0], k = scores.shape()[1];
  std::vector<int> best(n, 0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t c = 1; c < k; ++c)
      if (scores.flat(i * k + c) > scores.flat(i * k + static_cast<std::size_t>(best[i]))) best[i] = static_cast<int>(c);
  return best;
}

double accuracy(const std::vector<int>& predicted, const std::vector<int>& labels) {
  if (predicted.size() != labels.size() || labels.empty())
    throw std::invalid_argument(fmt::format("accuracy: {} predictions for {} labels", predicted.size(), labels.size()));
  std::size_t right = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) right += predicted[i] == labels[i];
  return static_cast<double>(right) / static_cast<double>(labels.size());
}

}  // namespace data
