// The standard workloads (README "Benchmarks"), through the same code paths users call. Prints one
// line per workload: NAME MEDIAN_SECONDS. `--filter REGEX` runs a subset.
//
// W1–W6 are single operations. W8–W12 are the dataset-scale ones: a kernel of 5000 Fashion-MNIST
// images written to .npy (the whole run against its kernel alone), the empirical NTK of a wide net
// on a subset functorch can hold, tanh kernels by quadrature (the series and, once, the per-pair
// rule it replaced), initializing a 16.8M-weight net, and κ over seeds on one and two threads.
// bench/compare.py runs this and bench/torch_reference.py side by side; bench/dataset_runs.py
// measures the peak memory of W8 and W8e through build/bin/ntk-kernel.
#include <cstdio>
#include <filesystem>
#include <functional>
#include <regex>
#include <string>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>

#include "autodiff/autodiff.hpp"
#include "bench/harness.hpp"
#include "data/fashion_mnist.hpp"
#include "experiments/common/parallel.hpp"
#include "nn/nn.hpp"
#include "ntk/empirical.hpp"
#include "ntk/infinite.hpp"
#include "ntk/kappa.hpp"
#include "ntk/table_io.hpp"

namespace {

using autodiff::Tensor;
using autodiff::Var;

std::shared_ptr<nn::MLP> mlp(std::size_t in, std::vector<std::size_t> hidden, std::size_t out, nn::Activation act) {
  return std::make_shared<nn::MLP>(
      nn::MLPConfig{.input_dim = in, .hidden = std::move(hidden), .output_dim = out, .activation = act});
}

struct Workload {
  std::string name;
  std::function<double()> run;  // median seconds per call
};

std::vector<Workload> workloads() {
  std::vector<Workload> all;
  all.push_back({"W1_seed_small_gd_step", [] {
                   const auto net = mlp(1, {100, 100}, 1, nn::Activation::relu);
                   const Tensor x = Tensor::column({-2.0, 0.5}), y = Tensor::column({3.0, -1.0});
                   nn::GradientDescent descent(*net, net->init(0), x, y, {.learning_rate = 1e-4});
                   // One full-batch GD step (forward, backward, update) per call.
                   return bench::median_seconds([&] { descent.step(); }, 500);
                 }});
  const auto wide = [] { return mlp(64, {1024, 1024, 1024}, 10, nn::Activation::relu); };
  all.push_back({"W2_wide_forward", [&] {
                   const auto net = wide();
                   const Tensor w = net->init(0), x = nn::standard_normal({512, 64}, 1);
                   return bench::median_seconds([&] { bench::keep(net->predict(w, x)); }, 5);
                 }});
  all.push_back({"W2_wide_grad", [&] {
                   const auto net = wide();
                   const Tensor w = net->init(0), x = nn::standard_normal({512, 64}, 1), y = nn::standard_normal({512, 10}, 2);
                   const auto loss = [&](const Var& wv) {
                     return nn::squared_loss(net->forward(wv, wv.tape().constant(x)), wv.tape().constant(y));
                   };
                   return bench::median_seconds([&] { bench::keep(autodiff::grad(loss, w)); }, 3);
                 }});
  const auto w3 = [](auto&& body) {
    const auto net = mlp(16, {512, 512}, 1, nn::Activation::tanh);
    const Tensor w = net->init(0), x = nn::standard_normal({128, 16}, 1), y = nn::standard_normal({128, 1}, 2);
    const Tensor v = nn::standard_normal({net->num_params()}, 3);
    const auto loss = [&](const Var& wv) {
      return nn::squared_loss(net->forward(wv, wv.tape().constant(x)), wv.tape().constant(y));
    };
    return body(loss, w, v);
  };
  all.push_back({"W3_grad", [&] {
                   return w3([](auto& loss, const Tensor& w, const Tensor&) {
                     return bench::median_seconds([&] { bench::keep(autodiff::grad(loss, w)); }, 10);
                   });
                 }});
  all.push_back({"W3_hvp", [&] {
                   return w3([](auto& loss, const Tensor& w, const Tensor& v) {
                     return bench::median_seconds([&] { bench::keep(autodiff::hvp(loss, w, v)); }, 10);
                   });
                 }});
  all.push_back({"W4_entk", [] {
                   const auto net = mlp(16, {512, 512}, 1, nn::Activation::relu);
                   const Tensor w = net->init(0), x = nn::standard_normal({256, 16}, 1);
                   return bench::median_seconds([&] { bench::keep(ntk::empirical_ntk(*net, w, x)); }, 1, 1);
                 }});
  all.push_back({"W5_kappa", [] {
                   const auto net = mlp(1, {1000}, 1, nn::Activation::tanh);
                   const Tensor w = net->init(0), x = nn::standard_normal({10, 1}, 1), y = Tensor::zeros({10, 1});
                   return bench::median_seconds([&] { bench::keep(ntk::kappa(*net, w, x, y)); }, 1, 1);
                 }});
  all.push_back({"W6_analytic_ntk", [] {
                   const Tensor x = nn::standard_normal({2000, 10}, 1);
                   const ntk::InfiniteMlp relu3{.depth = 3, .activation = nn::Activation::relu, .sw2 = 2.0, .sb2 = 0.0};
                   return bench::median_seconds(
                       [&] { bench::keep(ntk::infinite_width_kernel(x, relu3, ntk::KernelKind::ntk)); }, 1, 1);
                 }});
  // ---- dataset scale ----
  // W8: the analytic NTK (relu, depth 3, σ_w² = 2, σ_b² = 0.1) of the first 5000 Fashion-MNIST
  // training images (784-d, per-image standardized), alone and as ntk-kernel runs it: read the
  // .npy, compute, write the .npy. Target: whole ÷ kernel <= 1.3.
  const ntk::InfiniteMlp relu3_fmnist{.depth = 3, .activation = nn::Activation::relu, .sw2 = 2.0, .sb2 = 0.1};
  const auto fmnist = [](std::size_t rows) { return data::load_fashion_mnist(data::default_fashion_mnist_dir(), data::Split::train, rows).images; };
  all.push_back({"W8_fmnist_ntk_kernel", [=] {
                   const Tensor x = fmnist(5000);
                   return bench::median_seconds([&] { bench::keep(ntk::infinite_width_kernel(x, relu3_fmnist, ntk::KernelKind::ntk)); }, 1, 1, 3);
                 }});
  all.push_back({"W8_fmnist_ntk_file", [=] {
                   const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("bench-w8-" + std::to_string(::getpid()));
                   std::filesystem::create_directories(dir);
                   const std::string in = (dir / "x.npy").string(), out = (dir / "k.npy").string();
                   ntk::write_matrix(in, fmnist(5000));
                   const double t = bench::median_seconds(
                       [&] { ntk::write_matrix(out, ntk::infinite_width_kernel(ntk::read_matrix(in), relu3_fmnist, ntk::KernelKind::ntk)); }, 1, 1, 3);
                   std::filesystem::remove_all(dir);
                   return t;
                 }});
  // W8e: the empirical NTK of a width-1024 net (784-1024-1024-1024-1 relu, NTK parameterization)
  // on 48 images, a subset functorch's Jacobian contraction holds (J is 48 × 2.9M). Target: <= 1/100.
  all.push_back({"W8e_entk_subset", [=] {
                   const nn::MLP net(ntk::mlp_config(relu3_fmnist, data::kFashionMnistPixels, 1024));
                   const Tensor w = net.init(0), x = fmnist(48);
                   return bench::median_seconds([&] { bench::keep(ntk::empirical_ntk(net, w, x)); }, 1, 1, 5);
                 }});
  // W10: the tanh NTK (depth 2, σ_w² = 1.5, σ_b² = 0.2) of 1000 random 10-d points by quadrature:
  // the default (Hermite series) and, timed once, the per-pair 2-D rule at the automatic node count
  // of the largest variance (what the default was). Target: series <= 1 s on 2 cores.
  const auto tanh_points = [] { return nn::standard_normal({1000, 10}, 1); };
  const ntk::InfiniteMlp tanh2{.depth = 2, .activation = nn::Activation::tanh, .sw2 = 1.5, .sb2 = 0.2};
  all.push_back({"W10_tanh_ntk_series", [=] {
                   const Tensor x = tanh_points();
                   return bench::median_seconds([&] { bench::keep(ntk::infinite_width_kernel(x, tanh2, ntk::KernelKind::ntk)); }, 1, 1, 5);
                 }});
  all.push_back({"W10_tanh_ntk_pairwise", [=] {
                   const Tensor x = tanh_points();
                   double q_max = 0.0;  // the first layer's largest variance: its automatic node count
                   for (std::size_t i = 0; i < 1000; ++i) {
                     double q = 0.0;
                     for (std::size_t f = 0; f < 10; ++f) q += x(i, f) * x(i, f);
                     q_max = std::max(q_max, 1.5 * q / 10 + 0.2);
                   }
                   ntk::InfiniteMlp pairwise = tanh2;
                   pairwise.quadrature_nodes = ntk::automatic_quadrature_nodes(q_max);
                   return bench::median_seconds([&] { bench::keep(ntk::infinite_width_kernel(x, pairwise, ntk::KernelKind::ntk)); }, 1, 0, 1);
                 }});
  // W11: initializing 16-4096-4096-1 (16.8M weights, PyTorch's default U(±1/√fan_in)). Target: <= 0.1 s.
  all.push_back({"W11_init_4096x2", [] {
                   const auto net = mlp(16, {4096, 4096}, 1, nn::Activation::relu);
                   return bench::median_seconds([&] { bench::keep(net->init(0)); }, 1, 1, 5);
                 }});
  // W12: κ of 16-256-256-1 tanh nets (N = 32) for 8 seeds through experiments::parallel_for, on
  // one and on two threads (OpenBLAS single-threaded inside, as by default). Target: 1 ÷ 2 threads >= 1.8.
  for (unsigned threads : {1u, 2u}) {
    all.push_back({"W12_kappa_seeds_" + std::to_string(threads) + "thread", [threads] {
                     const auto net = mlp(16, {256, 256}, 1, nn::Activation::tanh);
                     const Tensor x = nn::standard_normal({32, 16}, 1), y = Tensor::zeros({32, 1});
                     return bench::median_seconds(
                         [&] {
                           experiments::parallel_for(8, threads, [&](std::size_t seed) {
                             bench::keep(ntk::kappa(*net, net->init(seed), x, y));
                           });
                         },
                         1, 1, 5);
                   }});
  }
  return all;
}

}  // namespace

// ---- scaling ----------------------------------------------------------------------------------
// How cost grows with size: `--scaling` prints `SERIES SIZE SECONDS` lines (median of 3 calls
// after one warm-up), which bench/plot_scaling.py fits (log-log slopes) and draws.
void scaling() {
  const auto report = [](const char* series, std::size_t size, double seconds) {
    std::printf("%s %zu %.6g\n", series, size, seconds);
    std::fflush(stdout);
  };
  // κ of 1-p-1 tanh on 10 points vs the width p (expected ~p).
  for (std::size_t width : {100, 1000, 10000, 100000}) {
    const auto net = mlp(1, {width}, 1, nn::Activation::tanh);
    const Tensor w = net->init(0), x = nn::standard_normal({10, 1}, 1), y = Tensor::zeros({10, 1});
    report("kappa_vs_width", width, bench::median_seconds([&] { bench::keep(ntk::kappa(*net, w, x, y)); }, 1, 1, 3));
  }
  // The analytic NTK (relu, depth 3) of N 10-d points vs N (expected ~N²).
  const ntk::InfiniteMlp relu3{.depth = 3, .activation = nn::Activation::relu, .sw2 = 2.0, .sb2 = 0.0};
  for (std::size_t n : {500, 1000, 2000, 4000, 8000}) {
    const Tensor x = nn::standard_normal({n, 10}, 1);
    report("analytic_ntk_vs_n", n,
           bench::median_seconds([&] { bench::keep(ntk::infinite_width_kernel(x, relu3, ntk::KernelKind::ntk)); }, 1, 1, 3));
  }
  // The tanh NTK by quadrature (depth 2, the series) vs N (expected ~N²).
  const ntk::InfiniteMlp tanh2{.depth = 2, .activation = nn::Activation::tanh, .sw2 = 1.5, .sb2 = 0.2};
  for (std::size_t n : {250, 500, 1000, 2000}) {
    const Tensor x = nn::standard_normal({n, 10}, 1);
    report("tanh_quadrature_ntk_vs_n", n,
           bench::median_seconds([&] { bench::keep(ntk::infinite_width_kernel(x, tanh2, ntk::KernelKind::ntk)); }, 1, 1, 3));
  }
  // The empirical NTK of 16-w-w-1 relu vs N (w = 512; expected ~N² once the Gram products dominate)
  // and vs the width (N = 256; expected ~w²: the hidden-to-hidden products).
  for (std::size_t n : {128, 256, 512, 1024, 2048}) {
    const auto net = mlp(16, {512, 512}, 1, nn::Activation::relu);
    const Tensor w = net->init(0), x = nn::standard_normal({n, 16}, 1);
    report("empirical_ntk_vs_n", n, bench::median_seconds([&] { bench::keep(ntk::empirical_ntk(*net, w, x)); }, 1, 1, 3));
  }
  for (std::size_t width : {128, 256, 512, 1024, 2048}) {
    const auto net = mlp(16, {width, width}, 1, nn::Activation::relu);
    const Tensor w = net->init(0), x = nn::standard_normal({256, 16}, 1);
    report("empirical_ntk_vs_width", width, bench::median_seconds([&] { bench::keep(ntk::empirical_ntk(*net, w, x)); }, 1, 1, 3));
  }
  // One full-batch GD step of 64-w-w-10 relu on 128 points vs the width (expected ~w²).
  for (std::size_t width : {128, 256, 512, 1024, 2048}) {
    const auto net = mlp(64, {width, width}, 10, nn::Activation::relu);
    const Tensor x = nn::standard_normal({128, 64}, 1), y = nn::standard_normal({128, 10}, 2);
    nn::GradientDescent descent(*net, net->init(0), x, y, {.learning_rate = 1e-6});
    report("train_step_vs_width", width, bench::median_seconds([&] { descent.step(); }, 3, 1, 3));
  }
}

int main(int argc, char** argv) {
  CLI::App app{"Times the standard workloads (README, Benchmarks): NAME MEDIAN_SECONDS per line"};
  std::string filter = ".*";
  app.add_option("--filter", filter, "regular expression: run the workloads whose name matches");
  bool scaling_only = false;
  app.add_flag("--scaling", scaling_only, "instead: how cost grows with size, SERIES SIZE SECONDS per line");
  CLI11_PARSE(app, argc, argv);
  if (scaling_only) {
    scaling();
    return 0;
  }
  std::regex pattern;
  try {
    pattern = std::regex(filter);
  } catch (const std::regex_error& e) {
    std::fprintf(stderr, "bench-workloads: --filter '%s' is not a valid regular expression: %s\n", filter.c_str(), e.what());
    return 2;
  }
  for (const Workload& w : workloads()) {
    if (!std::regex_search(w.name, pattern)) continue;
    std::printf("%s %.6g\n", w.name.c_str(), w.run());
    std::fflush(stdout);
  }
  return 0;
}
