// Linearization and output scaling of the post's toy model (section "Scaling the Output"):
// f(x, w) = (w·x + w²·x + sin(e^{0.1w}))·(w − 0.4), w0 = 0.4, one data point x = 1.5, y = 3.
// α·f is linearized around w0 (ntk::linearize); the weight that fits the linearized model is
// plugged into the real one. As α grows, the fit needs a smaller step from w0, the real model
// stays closer to its linearization, and κ falls as 1/α.
#include <cmath>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "autodiff/autodiff.hpp"
#include "examples/print.hpp"
#include "examples/toy_model.hpp"
#include "nn/nn.hpp"
#include "ntk/kappa.hpp"
#include "ntk/linearize.hpp"

namespace ad = autodiff;
using ad::Tensor;
using ad::Var;
using examples::number;

// The toy model as an nn::Model: one weight, inputs x of shape (N, 1).
class Toy : public nn::Model {
 public:
  std::size_t input_dim() const override { return 1; }
  std::size_t output_dim() const override { return 1; }
  std::vector<nn::ParamBlock> layout() const override { return {{"w", {1}, 0}}; }
  Tensor init(std::uint64_t) const override { return Tensor::full({1}, 0.4); }
  Var forward(const Var& w, const Var& x) const override { return examples::toy_model(w, x); }
  std::string describe() const override { return "toy"; }
};

int main() {
  const auto toy = std::make_shared<Toy>();
  const Tensor w0 = toy->init(0);
  const Tensor x = Tensor::column({1.5});
  const Tensor y = Tensor::column({3.0});
  const double slope = ad::grad([&](const Var& w) { return ad::sum(toy->forward(w, w.tape().constant(x))); }, w0)(0);
  std::cout << "f(x, w0) = " << number(toy->predict(w0, x)(0, 0)) << ", f'(w0) = " << number(slope) << "\n\n";

  std::cout << fmt::format("{:<11}{:<13}{:<17}{:<15}{}\n", "alpha", "w_lin - w0", "alpha f(w_lin)", "f_lin(w_lin)", "kappa");
  for (const double alpha : {1.0, 10.0, 100.0, 1000.0}) {
    const auto scaled = nn::scaled(toy, alpha);
    const auto linear = ntk::linearize(scaled, w0);  // α f(w0) + α f'(w0) (w − w0)
    // The weight where the linearized model fits y exactly.
    const Tensor w_lin = Tensor::full({1}, w0(0) + y(0, 0) / (alpha * slope));
    const double real = scaled->predict(w_lin, x)(0, 0), linearized = linear->predict(w_lin, x)(0, 0);
    const double kappa = ntk::kappa(*scaled, w0, x, y, {.mode = ntk::KappaMode::dense}).kappa;
    std::cout << fmt::format("{:<11}{:<13}{:<17}{:<15}{}\n", number(alpha), number(w_lin(0) - w0(0), 4), number(real),
                             number(linearized), number(kappa, 4));
  }

  // What the linearized model records: one apply_linear node, J(w0) as a matrix-free map.
  ad::TapeScope scope;
  const Var w = scope.tape().variable(w0);
  const Var out = ntk::linearize(nn::scaled(toy, 10.0), w0)->forward(w, scope.tape().constant(x));
  std::cout << '\n' << ad::listing(ad::sum(out));
}
