// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 28×28 grey images of clothing in 10 classes,
// 60000 for training and 10000 for testing, as installed by the Debian package
// `dataset-fashion-mnist` in /usr/share/datasets/fashion-mnist.
//
// Why: the experiment on the post's "Generalization" section ("Understanding the Neural Tangent
// Kernel", Rajat V D, 2019) compares kernel regression with the infinite-width kernels against
// trained networks on real images. Images come as rows of an (N, 784) tensor, the form nn::Model
// and the ntk kernels take.
//
// Normalization. Pixels are scaled to [0, 1]. The NTK literature puts inputs on a sphere: Jacot et
// al. and Arora et al. ("On Exact Computation with an Infinitely Wide Neural Net", 2019) analyse
// inputs of fixed norm, and neural-tangents' examples standardize inputs. The default here,
// `standardize_per_image`, subtracts each image's mean pixel and divides by its standard deviation
// (population), so every image has mean 0 and ‖x‖² = d = 784 exactly: the input kernel x·x′/d of
// ntk::input_kernel is 1 on the diagonal and a correlation off it. `unit_interval` keeps [0, 1].
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "autodiff/tensor.hpp"
#include "data/idx.hpp"

namespace data {

enum class Split { train, test };
enum class Normalization { unit_interval, standardize_per_image };

std::string to_string(Split split);
std::string to_string(Normalization normalization);

inline constexpr std::size_t kFashionMnistClasses = 10;
inline constexpr std::size_t kFashionMnistPixels = 28 * 28;

struct FashionMnist {
  autodiff::Tensor images;  // (N, 784), rows normalized as chosen
  std::vector<int> labels;  // N labels in 0..9
  Split split = Split::train;
  Normalization normalization = Normalization::standardize_per_image;
  std::size_t rows() const { return labels.size(); }
};

// Where the Debian package installs the files.
std::filesystem::path default_fashion_mnist_dir();

// The first min(max_rows, all) images and labels of a split. A missing, truncated or corrupted
// file is a data::Error naming the file and the Debian package `dataset-fashion-mnist`.
FashionMnist load_fashion_mnist(const std::filesystem::path& dir = default_fashion_mnist_dir(), Split split = Split::train,
                                std::size_t max_rows = kAllItems,
                                Normalization normalization = Normalization::standardize_per_image);

// The number of images of a split (from its labels file, which is small).
std::size_t fashion_mnist_rows(const std::filesystem::path& dir = default_fashion_mnist_dir(), Split split = Split::train);

// The images and labels at these row indices, in this order (each below the split's count): a
// random subset without converting all 60000 images to doubles. Same errors as above.
FashionMnist load_fashion_mnist_rows(const std::filesystem::path& dir, Split split, const std::vector<std::size_t>& rows,
                                     Normalization normalization = Normalization::standardize_per_image);

// The class names, by label ("T-shirt/top", "Trouser", ...).
const std::string& fashion_mnist_class_name(int label);

// Targets for regression on class labels: `on` at the label's class, `off` elsewhere, (N, classes).
// on = 0.9, off = −0.1 is one-hot minus 0.1: each row sums to 0 over the ten classes.
autodiff::Tensor one_hot_targets(const std::vector<int>& labels, std::size_t classes = kFashionMnistClasses,
                                 double on = 0.9, double off = -0.1);

// The predicted class of each row: the index of its largest score (the first on ties).
std::vector<int> argmax_rows(const autodiff::Tensor& scores);

// Fraction of predictions equal to the labels.
double accuracy(const std::vector<int>& predicted, const std::vector<int>& labels);

}  // namespace data
