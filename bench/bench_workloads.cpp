// The standard workloads of ../shared/bench/WORKLOADS.md, through the same code paths users call.
// Prints one line per workload: NAME MEDIAN_SECONDS. `--filter REGEX` runs a subset.
#include <cstdio>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "autodiff/autodiff.hpp"
#include "bench/harness.hpp"
#include "nn/nn.hpp"
#include "ntk/empirical.hpp"
#include "ntk/infinite.hpp"
#include "ntk/kappa.hpp"

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
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times the standard workloads (../shared/bench/WORKLOADS.md): NAME MEDIAN_SECONDS per line"};
  std::string filter = ".*";
  app.add_option("--filter", filter, "regular expression: run the workloads whose name matches");
  CLI11_PARSE(app, argc, argv);
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
