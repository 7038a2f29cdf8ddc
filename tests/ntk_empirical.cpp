// The empirical NTK: three methods against each other and against the definition J Jᵀ.
#include <catch2/catch.hpp>

#include <memory>

#include "autodiff/autodiff.hpp"
#include "nn/nn.hpp"
#include "ntk/empirical.hpp"
#include "ntk/linalg.hpp"

namespace {

using autodiff::Tensor;

Tensor random_inputs(std::size_t n, std::size_t d, std::uint64_t seed) { return nn::standard_normal({n, d}, seed); }

double relative_frobenius(const Tensor& a, const Tensor& b) {
  double diff = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += (a.flat(i) - b.flat(i)) * (a.flat(i) - b.flat(i));
    norm += b.flat(i) * b.flat(i);
  }
  return std::sqrt(diff / norm);
}

// Every method, full and traced, against Θ = J1 J2ᵀ formed from autodiff::jacfwd (forward mode,
// independent of the reverse-mode Jacobian the contraction method uses). Agreement: 1e-10 relative.
void check_methods_agree(const nn::Model& model, const Tensor& w, const Tensor& x1, const Tensor& x2) {
  const auto outputs = [&](const Tensor& x) {
    return [&model, x](const autodiff::Var& wv) {
      const autodiff::Var y = model.forward(wv, wv.tape().constant(x));
      return autodiff::reshape(y, {y.size()});
    };
  };
  const Tensor j1 = autodiff::jacfwd(outputs(x1), w);
  const Tensor j2 = autodiff::jacfwd(outputs(x2), w);
  const Tensor reference = autodiff::matmul(j1, autodiff::transpose(j2));
  const std::size_t k = model.output_dim(), n1 = x1.shape()[0], n2 = x2.shape()[0];
  Tensor reference_traced = Tensor::zeros({n1, n2});
  for (std::size_t n = 0; n < n1; ++n)
    for (std::size_t m = 0; m < n2; ++m)
      for (std::size_t a = 0; a < k; ++a)
        reference_traced.flat(n * n2 + m) += reference.flat((n * k + a) * (n2 * k) + m * k + a);

  for (auto method : {ntk::NtkMethod::jacobian_contraction, ntk::NtkMethod::ntk_vector_products,
                      ntk::NtkMethod::structured, ntk::NtkMethod::automatic}) {
    INFO("method " << ntk::to_string(method) << ", model " << model.describe());
    const Tensor full = ntk::empirical_ntk(model, w, x1, x2, {.method = method, .trace_outputs = false, .chunk = 3});
    REQUIRE(full.shape() == reference.shape());
    CHECK(relative_frobenius(full, reference) < 1e-10);
    const Tensor traced = ntk::empirical_ntk(model, w, x1, x2, {.method = method, .trace_outputs = true, .chunk = 3});
    REQUIRE(traced.shape() == reference_traced.shape());
    CHECK(relative_frobenius(traced, reference_traced) < 1e-10);
  }
  // The structured method with its traces made one layer at a time (as for large N).
  for (bool trace_outputs : {false, true}) {
    const ntk::NtkOptions by_layer{.method = ntk::NtkMethod::structured,
                                   .trace_outputs = trace_outputs,
                                   .traces = ntk::NtkOptions::Traces::by_layer};
    CHECK(relative_frobenius(ntk::empirical_ntk(model, w, x1, x2, by_layer), trace_outputs ? reference_traced : reference) <
          1e-10);
  }
}

}  // namespace

TEST_CASE("empirical NTK: the three methods agree with J Jᵀ", "[ntk][empirical]") {
  const Tensor x1 = random_inputs(5, 3, 1), x2 = random_inputs(4, 3, 2);
  for (auto activation : {nn::Activation::relu, nn::Activation::tanh, nn::Activation::erf, nn::Activation::sin}) {
    for (auto parameterization : {nn::Parameterization::standard, nn::Parameterization::ntk}) {
      for (std::size_t k : {1, 2}) {
        for (bool bias : {true, false}) {
          const auto net = std::make_shared<nn::MLP>(nn::MLPConfig{.input_dim = 3,
                                                                    .hidden = {7, 6},
                                                                    .output_dim = k,
                                                                    .activation = activation,
                                                                    .parameterization = parameterization,
                                                                    .bias = bias,
                                                                    .sw2 = 1.69,
                                                                    .sb2 = 0.16});
          check_methods_agree(*net, net->init(3), x1, x2);
        }
      }
    }
  }
}

TEST_CASE("empirical NTK: wrapped models, any w, Θ(X, X) symmetric PSD", "[ntk][empirical]") {
  const Tensor x = random_inputs(6, 2, 4);
  const auto net = std::make_shared<nn::MLP>(nn::MLPConfig{.input_dim = 2, .hidden = {8}, .output_dim = 1,
                                                            .activation = nn::Activation::tanh});
  const auto model = nn::scaled(nn::centered(net, 5), 3.0);
  Tensor w = net->init(5);
  for (std::size_t i = 0; i < w.size(); ++i) w.flat(i) += 0.1 * std::sin(static_cast<double>(i));  // mid-training
  check_methods_agree(*model, w, x, random_inputs(3, 2, 6));
  // Scaling by α multiplies Θ by α² (1e-12), centering leaves it unchanged.
  const Tensor inner = ntk::empirical_ntk(*net, w, x);
  CHECK(relative_frobenius(ntk::empirical_ntk(*model, w, x), autodiff::scale(inner, 9.0)) < 1e-12);
  const Tensor theta = ntk::empirical_ntk(*model, w, x, {.method = ntk::NtkMethod::jacobian_contraction});
  CHECK(autodiff::max_relative_difference(theta, autodiff::transpose(theta)) < 1e-14);
  const auto eig = ntk::symmetric_eigen(theta);
  CHECK(eig.values.flat(0) > -1e-10 * eig.values.flat(eig.values.size() - 1));
}

TEST_CASE("empirical NTK: method choice, NTK-vector products and errors", "[ntk][empirical]") {
  const auto net = std::make_shared<nn::MLP>(nn::MLPConfig{.input_dim = 2, .hidden = {5}, .output_dim = 2});
  const Tensor w = net->init(0), x1 = random_inputs(3, 2, 7), x2 = random_inputs(4, 2, 8);
  CHECK(ntk::choose_ntk_method(*net, 3, 4) == ntk::NtkMethod::structured);
  const Tensor v = {1.0, -2.0, 0.5, 0.0, 3.0, 1.0, -1.0, 2.0};
  const Tensor theta = ntk::empirical_ntk(*net, w, x1, x2, {.method = ntk::NtkMethod::jacobian_contraction});
  CHECK(autodiff::max_relative_difference(ntk::ntk_vector_product(*net, w, x1, x2, v), autodiff::matmul(theta, v)) <
        1e-12);
  CHECK_THROWS_WITH(ntk::empirical_ntk(*net, w, random_inputs(3, 3, 1), x2), Catch::Contains("[3, 3]"));
  CHECK_THROWS_WITH(ntk::empirical_ntk(*net, Tensor::zeros({4}), x1, x2), Catch::Contains("parameters"));
  CHECK_THROWS_WITH(ntk::ntk_vector_product(*net, w, x1, x2, Tensor{1.0}), Catch::Contains("v has shape"));
  CHECK(ntk::parse_ntk_method("structured") == ntk::NtkMethod::structured);
  CHECK_THROWS_AS(ntk::parse_ntk_method("fast"), autodiff::Error);
}

TEST_CASE("empirical NTK: traces one layer at a time, over several sweeps of 64 points, equal all at once",
          "[ntk][empirical]") {
  // 600 and 300 points: three and two sweeps, the last ones partial.
  const Tensor x1 = random_inputs(600, 5, 11), x2 = random_inputs(300, 5, 12);
  for (std::size_t k : {1, 2}) {
    const auto net = std::make_shared<nn::MLP>(nn::MLPConfig{.input_dim = 5, .hidden = {9, 7}, .output_dim = k,
                                                              .activation = nn::Activation::tanh, .sb2 = 0.1});
    const Tensor w = net->init(13);
    for (bool trace_outputs : {false, true}) {
      INFO("k = " << k << ", traced " << trace_outputs);
      using Traces = ntk::NtkOptions::Traces;
      const ntk::NtkOptions all{.method = ntk::NtkMethod::structured, .trace_outputs = trace_outputs, .traces = Traces::all};
      ntk::NtkOptions by_layer = all;
      by_layer.traces = Traces::by_layer;
      CHECK(autodiff::max_relative_difference(ntk::empirical_ntk(*net, w, x1, by_layer),
                                              ntk::empirical_ntk(*net, w, x1, all)) < 1e-13);
      CHECK(autodiff::max_relative_difference(ntk::empirical_ntk(*net, w, x1, x2, by_layer),
                                              ntk::empirical_ntk(*net, w, x1, x2, all)) < 1e-13);
    }
  }
}

TEST_CASE("empirical NTK: one layer's traces kept in Θ's free half when they fit, on their own when not",
          "[ntk][empirical]") {
  // Symmetric kernels made layer by layer keep the upper triangle packed and a layer's traces in
  // the rest of Θ's memory. 150 points through width 40: the traces (150 × 80 doubles) fit in the
  // free 150·149/2; 12 points through width 40 do not (12 × 80 > 66) and get memory of their own.
  // Both must equal the traces kept all at once, and the Jacobian contraction J Jᵀ.
  for (std::size_t n : {150, 12}) {
    const Tensor x = random_inputs(n, 6, 21);
    for (std::size_t k : {1, 3}) {
      const auto net = std::make_shared<nn::MLP>(nn::MLPConfig{.input_dim = 6, .hidden = {40, 40}, .output_dim = k,
                                                                .activation = nn::Activation::relu, .sb2 = 0.2});
      const Tensor w = net->init(22);
      for (bool trace_outputs : {false, true}) {
        INFO("N = " << n << ", k = " << k << ", traced " << trace_outputs);
        using Traces = ntk::NtkOptions::Traces;
        const ntk::NtkOptions all{.method = ntk::NtkMethod::structured, .trace_outputs = trace_outputs, .traces = Traces::all};
        ntk::NtkOptions by_layer = all, contraction = all;
        by_layer.traces = Traces::by_layer;
        contraction.method = ntk::NtkMethod::jacobian_contraction;
        const Tensor theta = ntk::empirical_ntk(*net, w, x, by_layer);
        CHECK(autodiff::max_relative_difference(theta, ntk::empirical_ntk(*net, w, x, all)) < 1e-13);
        CHECK(autodiff::max_relative_difference(theta, ntk::empirical_ntk(*net, w, x, contraction)) < 1e-12);
        const std::size_t m = theta.shape()[0];
        bool symmetric = true;
        for (std::size_t i = 0; i < m; ++i)
          for (std::size_t j = 0; j < i; ++j) symmetric = symmetric && theta.flat(i * m + j) == theta.flat(j * m + i);
        CHECK(symmetric);
      }
    }
  }
}
