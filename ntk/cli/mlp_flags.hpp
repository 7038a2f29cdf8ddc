// The command-line flags of a fully connected net's infinite-width kernel (--depth, --activation,
// --sw2, --sb2, ...), shared by the command lines that take them (ntk-kernel's kernel_cli.cpp,
// ntk-regress) so that the flags, their help and their error messages are the same everywhere.
// Header-only: its users link CLI11, the libraries do not.
#pragma once

#include <cmath>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "autodiff/tensor.hpp"
#include "nn/mlp.hpp"
#include "ntk/infinite.hpp"

namespace ntk::tools {

// A flag's value through a parse_* function, whose error then names the flag.
template <class Parse>
auto parse_flag(const char* flag, Parse parse_value, const std::string& value) {
  try {
    return parse_value(value);
  } catch (const autodiff::Error& e) {
    throw autodiff::Error(fmt::format("{}: {}", flag, e.what()));
  }
}

struct MlpFlags {
  long long depth = 1;
  std::string activation = "relu";
  double sw2 = 1.0, sb2 = 0.0;
  bool no_bias = false;
  std::string parameterization = "ntk";
  long long width = 0;
  std::string method = "auto", rule = "trapezoid";
  long long nodes = 0;

  void add_to(CLI::App& app, const std::string& width_help) {
    app.add_option("--depth", depth, "hidden layers (activations)")->capture_default_str();
    app.add_option("--activation", activation, "identity, relu, tanh, erf, sigmoid or sin")->capture_default_str();
    app.add_option("--sw2", sw2, "weight variance σ_w²")->capture_default_str();
    app.add_option("--sb2", sb2, "bias variance σ_b²")->capture_default_str();
    app.add_flag("--no-bias", no_bias, "layers without bias (needs --sb2 0)");
    app.add_option("--parameterization", parameterization, "ntk or standard (standard needs --width)")->capture_default_str();
    app.add_option("--width", width, width_help);
    app.add_option("--method", method, "auto, closed or quadrature")->capture_default_str();
    app.add_option("--rule", rule, "quadrature rule: trapezoid or gauss-hermite")->capture_default_str();
    app.add_option("--nodes", nodes, "quadrature nodes per dimension (0: automatic)")->capture_default_str();
  }

  // The net, after checking every flag (autodiff::Error naming the flag). `empirical`: the width is
  // that of a finite net, checked by the caller.
  ntk::InfiniteMlp mlp(bool empirical = false) const {
    if (depth < 0) throw autodiff::Error(fmt::format("--depth must be >= 0 (hidden layers), got {}", depth));
    if (width < 0) throw autodiff::Error(fmt::format("--width must be >= 1, got {}", width));
    if (nodes < 0) throw autodiff::Error(fmt::format("--nodes must be >= 0 (0: automatic), got {}", nodes));
    if (nodes > static_cast<long long>(ntk::kMaxQuadratureNodes))
      throw autodiff::Error(fmt::format("--nodes must be <= {}, got {}", ntk::kMaxQuadratureNodes, nodes));
    ntk::InfiniteMlp m;
    m.depth = static_cast<std::size_t>(depth);
    m.activation = parse_flag("--activation", nn::parse_activation, activation);
    m.parameterization = parse_flag("--parameterization", nn::parse_parameterization, parameterization);
    m.method = parse_flag("--method", ntk::parse_activation_method, method);
    m.quadrature_rule = parse_flag("--rule", ntk::parse_quadrature_rule, rule);
    m.quadrature_nodes = static_cast<std::size_t>(nodes);
    ntk::ActivationLayer probe;
    probe.activation = m.activation;
    if (m.method == ntk::ActivationMethod::closed_form && !probe.has_closed_form())
      throw autodiff::Error(
          fmt::format("--method closed: {} has no closed form (relu, erf and identity have one)", activation));
    for (auto [name, value] : {std::pair{"--sw2", sw2}, std::pair{"--sb2", sb2}})
      if (!std::isfinite(value) || value < 0.0)
        throw autodiff::Error(fmt::format("{} must be a finite variance >= 0, got {}", name, value));
    if (no_bias && sb2 != 0.0) throw autodiff::Error(fmt::format("--sb2 {} given with --no-bias", sb2));
    m.sw2 = sw2;
    m.sb2 = sb2;
    m.bias = !no_bias;
    m.width = static_cast<std::size_t>(width);
    if (!empirical && m.parameterization == nn::Parameterization::standard && m.depth > 0 && width < 1)
      throw autodiff::Error("--parameterization standard needs --width W >= 1: its NTK depends on the width");
    return m;
  }

  // "closed form" or the quadrature used, for the log line.
  std::string how(const ntk::InfiniteMlp& m) const {
    ntk::ActivationLayer probe;
    probe.activation = m.activation;
    const bool closed = m.method != ntk::ActivationMethod::quadrature && probe.has_closed_form();
    return closed || m.depth == 0 ? std::string("closed form")
                                  : fmt::format("{} quadrature, {} nodes per dimension", ntk::to_string(m.quadrature_rule),
                                                nodes == 0 ? std::string("automatic") : std::to_string(nodes));
  }
};

}  // namespace ntk::tools
