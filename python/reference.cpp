// python-reference: the C++ side of the Python module's tests (tests/python/). It runs every call
// the module exposes on fixed inputs through the C++ API and prints the results as one JSON object
// (doubles with 17 significant digits), which tests/python/test_against_cpp.py compares with what
// the module returns for the same inputs. The inputs are made here and printed too.
#include <cstdio>
#include <iostream>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/nn.hpp"
#include "ntk/empirical.hpp"
#include "ntk/flow.hpp"
#include "ntk/infinite.hpp"
#include "ntk/kappa.hpp"
#include "ntk/linearize.hpp"

using autodiff::Tensor;
using nlohmann::json;

namespace {

json to_json(const Tensor& t) {
  return json{{"shape", std::vector<std::size_t>(t.shape().begin(), t.shape().end())},
              {"data", std::vector<double>(t.data(), t.data() + t.size())}};
}

}  // namespace

int main() {
  json out;
  const Tensor x = nn::standard_normal({5, 3}, 11);
  const Tensor x2 = nn::standard_normal({4, 3}, 12);
  const Tensor y = nn::standard_normal({5, 2}, 13);
  out["x"] = to_json(x);
  out["x2"] = to_json(x2);
  out["y"] = to_json(y);

  // An MLP in the NTK parameterization (tanh, two outputs) and one in the standard one.
  const auto net = std::make_shared<nn::MLP>(nn::MLPConfig{.input_dim = 3,
                                                           .hidden = {16, 8},
                                                           .output_dim = 2,
                                                           .activation = nn::Activation::tanh,
                                                           .parameterization = nn::Parameterization::ntk,
                                                           .sw2 = 1.5,
                                                           .sb2 = 0.2});
  const Tensor w0 = net->init(3);
  out["describe"] = net->describe();
  out["w0"] = to_json(w0);
  out["predict"] = to_json(net->predict(w0, x));
  out["ntk"] = to_json(ntk::empirical_ntk(*net, w0, x, x2));
  out["ntk_same"] = to_json(ntk::empirical_ntk(*net, w0, x, ntk::NtkOptions{.trace_outputs = true}));
  out["jacobian"] = to_json(ntk::jacobian(*net, w0, x));

  const auto standard = std::make_shared<nn::MLP>(nn::MLPConfig{.input_dim = 3, .hidden = {10}, .output_dim = 1});
  out["standard_w0"] = to_json(standard->init(0));

  const nn::TrainResult run = nn::train(*net, w0, x, y, {.learning_rate = 0.05, .max_steps = 20});
  out["train_losses"] = run.losses;
  out["train_changes"] = run.relative_changes;
  out["train_w"] = to_json(run.w);

  const ntk::InfiniteMlp relu{.depth = 2, .activation = nn::Activation::relu, .sw2 = 2.0, .sb2 = 0.1};
  const ntk::Kernel k = ntk::infinite_width_kernels(x, x2, relu);
  out["inf_nngp"] = to_json(k.nngp);
  out["inf_ntk"] = to_json(k.ntk);
  const ntk::InfiniteMlp tanh{.depth = 1, .activation = nn::Activation::tanh, .sw2 = 1.3};
  out["inf_tanh_nngp"] = to_json(ntk::infinite_width_kernel(x, tanh, ntk::KernelKind::nngp));
  out["inf_describe"] = relu.describe();

  const ntk::KappaResult r = ntk::kappa(*net, w0, x, y, {.tolerance = 1e-10});
  out["kappa"] = {{"residual_norm", r.residual_norm}, {"jacobian_norm", r.jacobian_norm},
                  {"hessian_norm", r.hessian_norm},   {"kappa", r.kappa},
                  {"ratio", r.ratio},                 {"converged", r.converged}};
  const ntk::KappaResult d = ntk::kappa(*net, w0, x, y, {.mode = ntk::KappaMode::dense});
  out["kappa_dense"] = {{"kappa", d.kappa}, {"hessian_upper_bound", d.hessian_upper_bound}};

  const auto lin = ntk::linearize(net, w0);
  const Tensor w1 = autodiff::add(w0, nn::standard_normal(w0.shape(), 14) * 0.01);
  out["w1"] = to_json(w1);
  out["linearized_predict"] = to_json(lin->predict(w1, x));

  const Tensor theta = ntk::empirical_ntk(*net, w0, x);
  const Tensor u0 = autodiff::reshape(autodiff::sub(net->predict(w0, x), y), {y.size()});
  const ntk::GradientFlow flow(theta, u0);
  out["flow_residual"] = to_json(flow.residual(0.7));
  out["flow_gd"] = to_json(flow.residual_gd(5, 0.01));
  out["flow_loss"] = flow.loss(0.7);
  const Tensor f0 = autodiff::reshape(net->predict(w0, x), {y.size()});
  const Tensor theta_test = ntk::empirical_ntk(*net, w0, x2, x);
  const Tensor f0_test = autodiff::reshape(net->predict(w0, x2), {x2.shape()[0] * 2});
  const ntk::KernelPredictor predictor(theta, f0, autodiff::reshape(y, {y.size()}), {.ridge = 1e-6});
  out["kernel_predict"] = to_json(predictor.predict(theta_test, f0_test, 2.0));
  out["kernel_predict_inf"] = to_json(predictor.predict(theta_test, f0_test, ntk::KernelPredictor::infinity()));

  // The message of a C++ error, which the module must raise unchanged (x with 2 features, not 3).
  try {
    net->predict(w0, nn::standard_normal({5, 2}, 15));
  } catch (const autodiff::Error& e) {
    out["error_predict"] = e.what();
  }

  std::cout << out.dump(-1, ' ', false, json::error_handler_t::strict) << '\n';
  return 0;
}
