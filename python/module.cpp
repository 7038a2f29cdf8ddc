// The Python module ntk_autodiff: what a researcher calls from numpy — MLP models, training with a
// Python callback, empirical NTKs, the infinite-width NNGP/NTK kernels, κ, linearized models and
// gradient-flow predictions — as thin wrappers over the C++ API (same names, same conventions:
// σ_w², σ_b² as variances sw2/sb2, enums as the strings the C++ parse_* functions take).
//
// Arrays: numpy float64 in and out. float32, integer and non-contiguous arrays (and nested lists)
// are converted; any other dtype is refused with a TypeError naming the argument. Errors of the
// library (autodiff::Error: shapes, bad settings) are raised as ntk_autodiff.Error, a ValueError,
// with the C++ message. Long calls release the GIL; the training callback takes it back.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "nn/nn.hpp"
#include "ntk/empirical.hpp"
#include "ntk/flow.hpp"
#include "ntk/infinite.hpp"
#include "ntk/kappa.hpp"
#include "ntk/linearize.hpp"

namespace py = pybind11;
using autodiff::Tensor;
using namespace pybind11::literals;

namespace {

// Any array-like of numbers as a Tensor (a copy, float64, row-major).
Tensor to_tensor(const py::handle& object, const char* name) {
  py::array array = py::array::ensure(object);
  if (!array) throw py::type_error(fmt::format("{}: expected a numpy array (or nested lists) of numbers", name));
  const char kind = array.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u')
    throw py::type_error(fmt::format("{}: dtype {} is not supported: pass float64 (float32 and integer arrays are "
                                     "converted)",
                                     name, std::string(py::str(array.dtype()))));
  const auto doubles = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(array);
  autodiff::Shape shape(doubles.shape(), doubles.shape() + doubles.ndim());
  return Tensor(std::vector<double>(doubles.data(), doubles.data() + doubles.size()), shape);
}

py::array_t<double> to_numpy(const Tensor& t) {
  py::array_t<double> out(std::vector<py::ssize_t>(t.shape().begin(), t.shape().end()));
  if (t.size() > 0) std::memcpy(out.mutable_data(), t.data(), t.size() * sizeof(double));
  return out;
}

// A settings struct T from `base` (or T{}) with keyword arguments set as its Python attributes:
// one place where `f(..., options=None, **kwargs)` is resolved; unknown names raise AttributeError.
template <class T>
T with_kwargs(const py::object& base, const py::kwargs& kwargs) {
  py::object settings = base.is_none() ? py::cast(T{}) : py::cast(base.cast<T>());
  for (const auto& [key, value] : kwargs) py::setattr(settings, key, value);
  return settings.cast<T>();
}

// An enum field exposed as the string the C++ to_string/parse pair uses.
template <class Class, class Enum, class ToString, class Parse>
void enum_property(py::class_<Class>& cls, const char* name, Enum Class::*field, ToString to_string, Parse parse,
                   const char* doc) {
  cls.def_property(
      name, [field, to_string](const Class& c) { return to_string(c.*field); },
      [field, parse](Class& c, const std::string& value) { c.*field = parse(value); }, doc);
}

// "Name(a=1, b='x')" from a settings object's describe-like text.
template <class T>
std::string repr(const char* type, const T& object) {
  return fmt::format("<ntk_autodiff.{}: {}>", type, object.describe());
}

std::string curvature_name(ntk::CurvatureMethod m) {
  return m == ntk::CurvatureMethod::finite_difference ? "finite-difference" : "forward-over-reverse";
}
ntk::CurvatureMethod parse_curvature(const std::string& name) {
  if (name == "finite-difference") return ntk::CurvatureMethod::finite_difference;
  if (name == "forward-over-reverse") return ntk::CurvatureMethod::forward_over_reverse;
  throw autodiff::Error(
      fmt::format("unknown curvature method '{}' (expected finite-difference or forward-over-reverse)", name));
}
nn::Reduction parse_reduction(const std::string& name) {
  if (name == "sum") return nn::Reduction::sum;
  if (name == "mean") return nn::Reduction::mean;
  throw autodiff::Error(fmt::format("unknown reduction '{}' (expected sum or mean)", name));
}

struct PyMlpDescription {  // MLPConfig has no describe(); nn::MLP's names every setting
  const nn::MLPConfig& config;
  std::string describe() const { return nn::MLP(config).describe(); }
};

}  // namespace

PYBIND11_MODULE(ntk_autodiff, m) {
  m.doc() = R"doc(ntk_autodiff: neural tangent kernels from a C++ automatic-differentiation engine.

Models are f(x, w) with all weights in one flat float64 vector w; inputs x are (N, input_dim)
arrays, outputs (N, output_dim). Weight scales are variances everywhere: sw2 = sigma_w^2 (default 1)
and sb2 = sigma_b^2 (default 0), in MLPConfig, InfiniteMlp and the ntk-kernel tool alike.

Arrays go in as numpy float64 (float32, integer and non-contiguous arrays are converted; other
dtypes raise TypeError) and come out as new float64 arrays. Errors of the library raise
ntk_autodiff.Error (a ValueError) with the C++ message.

Example:
    import numpy as np, ntk_autodiff as nt
    net = nt.MLP(input_dim=1, hidden=[100, 100], activation="tanh")
    w0 = net.init(seed=0)
    x = np.array([[-2.0], [0.5]]); y = np.array([[3.0], [-1.0]])
    print(nt.kappa(net, w0, x, y).kappa, nt.empirical_ntk(net, w0, x))
)doc";
  m.attr("__version__") = NTK_AUTODIFF_VERSION;
  py::register_exception<autodiff::Error>(m, "Error", PyExc_ValueError);

  // ---- models ----------------------------------------------------------------------------------
  py::class_<nn::MLPConfig> config(m, "MLPConfig", R"doc(Settings of a fully connected net (nn::MLPConfig).

Fields: input_dim, hidden (list of widths), output_dim, activation ("relu", "tanh", "erf",
"sigmoid", "sin", "identity"), parameterization ("standard" or "ntk"), init ("torch_default" or
"lecun_normal", for the standard parameterization), bias, sw2 (sigma_w^2), sb2 (sigma_b^2).
MLPConfig(**fields) sets any of them.)doc");
  config.def(py::init([](const py::kwargs& kwargs) { return with_kwargs<nn::MLPConfig>(py::none(), kwargs); }))
      .def_readwrite("input_dim", &nn::MLPConfig::input_dim)
      .def_readwrite("hidden", &nn::MLPConfig::hidden, "widths of the hidden layers")
      .def_readwrite("output_dim", &nn::MLPConfig::output_dim)
      .def_readwrite("bias", &nn::MLPConfig::bias)
      .def_readwrite("sw2", &nn::MLPConfig::sw2, "sigma_w^2: ntk weight scale sigma_w/sqrt(fan_in); LeCun variance sw2/fan_in")
      .def_readwrite("sb2", &nn::MLPConfig::sb2, "sigma_b^2: ntk bias scale sigma_b (ignored by the standard parameterization)")
      .def("__repr__", [](const nn::MLPConfig& c) { return repr("MLPConfig", PyMlpDescription{c}); });
  enum_property(config, "activation", &nn::MLPConfig::activation,
                [](nn::Activation a) { return nn::to_string(a); }, nn::parse_activation, "activation between layers");
  enum_property(config, "parameterization", &nn::MLPConfig::parameterization,
                [](nn::Parameterization p) { return nn::to_string(p); }, nn::parse_parameterization,
                "'standard' or 'ntk'");
  enum_property(config, "init", &nn::MLPConfig::init, [](nn::Init i) { return nn::to_string(i); }, nn::parse_init,
                "'torch_default' or 'lecun_normal'");

  py::class_<nn::Model, std::shared_ptr<nn::Model>>(m, "Model", "A model f(x, w) with one flat weight vector w.")
      .def_property_readonly("input_dim", &nn::Model::input_dim)
      .def_property_readonly("output_dim", &nn::Model::output_dim)
      .def_property_readonly("num_params", &nn::Model::num_params, "p, the size of w")
      .def(
          "init", [](const nn::Model& model, std::uint64_t seed) { return to_numpy(model.init(seed)); }, "seed"_a = 0,
          "Weights from the model's initialization: the same seed gives the same w (shape (p,)).")
      .def(
          "predict",
          [](const nn::Model& model, const py::object& w, const py::object& x) {
            const Tensor tw = to_tensor(w, "w"), tx = to_tensor(x, "x");
            Tensor y;
            {
              py::gil_scoped_release release;
              y = model.predict(tw, tx);
            }
            return to_numpy(y);
          },
          "w"_a, "x"_a, "f(x, w): x (N, input_dim) -> (N, output_dim).")
      .def(
          "layout",
          [](const nn::Model& model) {
            py::list blocks;
            for (const nn::ParamBlock& b : model.layout())
              blocks.append(py::dict("name"_a = b.name, "offset"_a = b.offset,
                                     "shape"_a = py::tuple(py::cast(std::vector<std::size_t>(b.shape.begin(), b.shape.end())))));
            return blocks;
          },
          "Where each weight tensor sits in w: a list of {'name', 'offset', 'shape'}.")
      .def("describe", &nn::Model::describe, "Every setting of the model, as one line.")
      .def("__repr__", [](const nn::Model& model) { return repr("Model", model); });

  py::class_<nn::MLP, nn::Model, std::shared_ptr<nn::MLP>>(m, "MLP", R"doc(A fully connected net (nn::MLP).

MLP(config) or MLP(**fields) with the fields of MLPConfig, e.g.
MLP(input_dim=3, hidden=[512, 512], activation="relu", parameterization="ntk", sw2=2.0).)doc")
      .def(py::init([](const py::object& config, const py::kwargs& kwargs) {
             return std::make_shared<nn::MLP>(with_kwargs<nn::MLPConfig>(config, kwargs));
           }),
           "config"_a = py::none())
      .def_property_readonly(
          "config", [](const nn::MLP& net) { return net.config(); }, "its MLPConfig (a copy)");

  m.def(
      "centered", [](std::shared_ptr<nn::Model> inner, std::uint64_t seed) -> std::shared_ptr<nn::Model> {
        return std::const_pointer_cast<nn::Model>(std::shared_ptr<const nn::Model>(nn::centered(inner, seed)));
      },
      "model"_a, "seed"_a = 0, "f(x, w) - f(x, w0) with w0 = model.init(seed): exactly 0 at w0.");
  m.def(
      "scaled", [](std::shared_ptr<nn::Model> inner, double alpha) -> std::shared_ptr<nn::Model> {
        return std::const_pointer_cast<nn::Model>(std::shared_ptr<const nn::Model>(nn::scaled(inner, alpha)));
      },
      "model"_a, "alpha"_a, "alpha * f(x, w).");

  // ---- training --------------------------------------------------------------------------------
  py::class_<nn::TrainResult>(m, "TrainResult", "What train() returns.")
      .def_property_readonly("w", [](const nn::TrainResult& r) { return to_numpy(r.w); }, "the final weights")
      .def_readonly("losses", &nn::TrainResult::losses, "the loss at every visited step, the first at w0")
      .def_readonly("relative_changes", &nn::TrainResult::relative_changes, "|w - w0| / |w0| at every visited step")
      .def_readonly("steps", &nn::TrainResult::steps, "updates made")
      .def_readonly("reached_threshold", &nn::TrainResult::reached_threshold);
  m.def(
      "train",
      [](const nn::Model& model, const py::object& w0, const py::object& x, const py::object& y, double learning_rate,
         std::size_t max_steps, double loss_threshold, const std::string& reduction, double loss_divisor,
         const py::object& callback) {
        const Tensor tw = to_tensor(w0, "w0"), tx = to_tensor(x, "x"), ty = to_tensor(y, "y");
        const nn::TrainConfig config{.learning_rate = learning_rate,
                                     .max_steps = max_steps,
                                     .loss_threshold = loss_threshold,
                                     .loss = {.reduction = parse_reduction(reduction), .divisor = loss_divisor}};
        nn::StepCallback step;
        if (!callback.is_none())
          step = [&callback](const nn::TrainState& s) {
            py::gil_scoped_acquire acquire;
            callback("step"_a = s.step, "loss"_a = s.loss, "relative_change"_a = s.relative_change, "w"_a = to_numpy(s.w));
          };
        py::gil_scoped_release release;
        return nn::train(model, tw, tx, ty, config, step);
      },
      "model"_a, "w0"_a, "x"_a, "y"_a, "learning_rate"_a = 1e-3, "max_steps"_a = 1000, "loss_threshold"_a = 0.0,
      "reduction"_a = "sum", "loss_divisor"_a = 1.0, "callback"_a = py::none(),
      R"doc(Gradient descent on the squared loss L = (1/divisor) * 1/2 sum (f(x, w) - y)^2 ('mean': also / N).

Stops after max_steps updates or as soon as the loss is at most loss_threshold.
callback(step=, loss=, relative_change=, w=) is called at every visited step (keyword arguments;
an exception it raises stops training and propagates).)doc");

  // ---- empirical NTK ---------------------------------------------------------------------------
  m.def(
      "empirical_ntk",
      [](const nn::Model& model, const py::object& w, const py::object& x1, const py::object& x2,
         const std::string& method, bool trace_outputs, std::size_t chunk) {
        const Tensor tw = to_tensor(w, "w"), t1 = to_tensor(x1, "x1");
        const bool same = x2.is_none();
        const Tensor t2 = same ? Tensor() : to_tensor(x2, "x2");
        const ntk::NtkOptions options{.method = ntk::parse_ntk_method(method), .trace_outputs = trace_outputs, .chunk = chunk};
        Tensor theta;
        {
          py::gil_scoped_release release;
          theta = same ? ntk::empirical_ntk(model, tw, t1, options) : ntk::empirical_ntk(model, tw, t1, t2, options);
        }
        return to_numpy(theta);
      },
      "model"_a, "w"_a, "x1"_a, "x2"_a = py::none(), "method"_a = "auto", "trace_outputs"_a = false, "chunk"_a = 32,
      R"doc(The empirical NTK J(x1) J(x2)^T at w (x2 = None: x1).

Shape (N1*k, N2*k) for k outputs, entry [n*k + a, m*k + b]; trace_outputs=True sums over the
outputs, shape (N1, N2). method: 'auto', 'jacobian', 'ntk-vector' or 'structured'.)doc");
  m.def(
      "jacobian",
      [](const nn::Model& model, const py::object& w, const py::object& x) {
        const Tensor tw = to_tensor(w, "w"), tx = to_tensor(x, "x");
        Tensor j;
        {
          py::gil_scoped_release release;
          j = ntk::jacobian(model, tw, tx);
        }
        return to_numpy(j);
      },
      "model"_a, "w"_a, "x"_a, "J(x) at w, shape (N*k, p): row n*k + a is d f_a(x_n) / dw.");

  // ---- infinite-width kernels ------------------------------------------------------------------
  py::class_<ntk::InfiniteMlp> infinite(m, "InfiniteMlp", R"doc(An infinitely wide fully connected net (ntk::InfiniteMlp).

Fields: depth (hidden layers), activation, sw2 (sigma_w^2, default 1), sb2 (sigma_b^2, default 0),
bias, parameterization ('ntk' or 'standard'; standard needs width), width, method ('auto',
'closed', 'quadrature'), quadrature_rule ('trapezoid', 'gauss-hermite'), quadrature_nodes (0: auto).
The kernels are those of neural-tangents' stax.serial(Dense(W_std=sigma_w, b_std=sigma_b), phi, ...).)doc");
  infinite.def(py::init([](const py::kwargs& kwargs) { return with_kwargs<ntk::InfiniteMlp>(py::none(), kwargs); }))
      .def_readwrite("depth", &ntk::InfiniteMlp::depth)
      .def_readwrite("sw2", &ntk::InfiniteMlp::sw2, "sigma_w^2")
      .def_readwrite("sb2", &ntk::InfiniteMlp::sb2, "sigma_b^2 (0 without bias)")
      .def_readwrite("bias", &ntk::InfiniteMlp::bias)
      .def_readwrite("width", &ntk::InfiniteMlp::width, "hidden width (standard parameterization only)")
      .def_readwrite("quadrature_nodes", &ntk::InfiniteMlp::quadrature_nodes)
      .def("describe", &ntk::InfiniteMlp::describe)
      .def("__repr__", [](const ntk::InfiniteMlp& mlp) { return repr("InfiniteMlp", mlp); });
  enum_property(infinite, "activation", &ntk::InfiniteMlp::activation,
                [](nn::Activation a) { return nn::to_string(a); }, nn::parse_activation, "activation");
  enum_property(infinite, "parameterization", &ntk::InfiniteMlp::parameterization,
                [](nn::Parameterization p) { return nn::to_string(p); }, nn::parse_parameterization,
                "'ntk' or 'standard'");
  enum_property(infinite, "method", &ntk::InfiniteMlp::method,
                [](ntk::ActivationMethod a) { return ntk::to_string(a); }, ntk::parse_activation_method,
                "'auto', 'closed' or 'quadrature'");
  enum_property(infinite, "quadrature_rule", &ntk::InfiniteMlp::quadrature_rule,
                [](ntk::QuadratureRule r) { return ntk::to_string(r); }, ntk::parse_quadrature_rule,
                "'trapezoid' or 'gauss-hermite'");

  const auto kernels = [](const py::object& x1, const py::object& x2, const ntk::InfiniteMlp& mlp) {
    const Tensor t1 = to_tensor(x1, "x1");
    const bool same = x2.is_none();
    const Tensor t2 = same ? Tensor() : to_tensor(x2, "x2");
    py::gil_scoped_release release;
    return same ? ntk::infinite_width_kernels(t1, mlp) : ntk::infinite_width_kernels(t1, t2, mlp);
  };
  m.def(
      "infinite_width_kernels",
      [kernels](const py::object& x1, const py::object& x2, const py::object& mlp, const py::kwargs& kwargs) {
        const ntk::Kernel k = kernels(x1, x2, with_kwargs<ntk::InfiniteMlp>(mlp, kwargs));
        return py::make_tuple(to_numpy(k.nngp), to_numpy(k.ntk));
      },
      "x1"_a, "x2"_a = py::none(), "mlp"_a = py::none(),
      R"doc((NNGP, NTK) of the infinitely wide net between the rows of x1 and x2 (None: x1), each (N1, N2).

The net is `mlp` (an InfiniteMlp) with any of its fields overridden by keyword, e.g.
infinite_width_kernels(x, depth=2, activation="relu", sw2=2.0, sb2=0.1).)doc");
  m.def(
      "infinite_width_kernel",
      [](const py::object& x1, const py::object& x2, const py::object& mlp, const std::string& kind,
         const py::kwargs& kwargs) {
        const ntk::InfiniteMlp net = with_kwargs<ntk::InfiniteMlp>(mlp, kwargs);
        const ntk::KernelKind k = ntk::parse_kernel_kind(kind);
        const Tensor t1 = to_tensor(x1, "x1");
        const bool same = x2.is_none();
        const Tensor t2 = same ? Tensor() : to_tensor(x2, "x2");
        Tensor out;
        {
          py::gil_scoped_release release;
          out = same ? ntk::infinite_width_kernel(t1, net, k) : ntk::infinite_width_kernel(t1, t2, net, k);
        }
        return to_numpy(out);
      },
      "x1"_a, "x2"_a = py::none(), "mlp"_a = py::none(), "kind"_a = "ntk",
      "One kernel, kind 'ntk' or 'nngp', of infinite_width_kernels (same arguments).");
  m.def("mlp_config", &ntk::mlp_config, "mlp"_a, "input_dim"_a, "width"_a,
        "The finite MLPConfig (hidden width `width`) whose kernels at initialization tend to mlp's.");

  // ---- kappa -----------------------------------------------------------------------------------
  py::class_<ntk::KappaOptions> kopt(m, "KappaOptions", R"doc(Settings of kappa() (ntk::KappaOptions; docs/kappa.md).

Fields: mode ('matrix-free' or 'dense'), tolerance, max_hessian_products, max_c_iterations,
lanczos_basis, jacobian_rows, curvature ('finite-difference' or 'forward-over-reverse'),
multistart, random_starts, dense_grid, seed.)doc");
  kopt.def(py::init([](const py::kwargs& kwargs) { return with_kwargs<ntk::KappaOptions>(py::none(), kwargs); }))
      .def_readwrite("tolerance", &ntk::KappaOptions::tolerance)
      .def_readwrite("max_hessian_products", &ntk::KappaOptions::max_hessian_products)
      .def_readwrite("max_c_iterations", &ntk::KappaOptions::max_c_iterations)
      .def_readwrite("lanczos_basis", &ntk::KappaOptions::lanczos_basis)
      .def_readwrite("jacobian_rows", &ntk::KappaOptions::jacobian_rows)
      .def_readwrite("multistart", &ntk::KappaOptions::multistart)
      .def_readwrite("random_starts", &ntk::KappaOptions::random_starts)
      .def_readwrite("dense_grid", &ntk::KappaOptions::dense_grid)
      .def_readwrite("seed", &ntk::KappaOptions::seed);
  enum_property(kopt, "mode", &ntk::KappaOptions::mode, [](ntk::KappaMode k) { return ntk::to_string(k); },
                ntk::parse_kappa_mode, "'matrix-free' or 'dense'");
  enum_property(kopt, "curvature", &ntk::KappaOptions::curvature, curvature_name, parse_curvature,
                "'finite-difference' or 'forward-over-reverse'");

  py::class_<ntk::KappaResult>(m, "KappaResult", "What kappa() returns (ntk::KappaResult).")
      .def_readonly("residual_norm", &ntk::KappaResult::residual_norm, "|y(w0) - y_target|")
      .def_readonly("jacobian_norm", &ntk::KappaResult::jacobian_norm, "|grad y(w0)| = sigma_max(J)")
      .def_readonly("hessian_norm", &ntk::KappaResult::hessian_norm, "|grad^2 y(w0)| (a local maximum over c)")
      .def_readonly("kappa", &ntk::KappaResult::kappa, "residual_norm * hessian_norm / jacobian_norm^2")
      .def_readonly("ratio", &ntk::KappaResult::ratio, "hessian_norm / jacobian_norm^2")
      .def_readonly("hessian_upper_bound", &ntk::KappaResult::hessian_upper_bound, "dense mode: a certified bound; else NaN")
      .def_property_readonly("c", [](const ntk::KappaResult& r) { return to_numpy(r.c); }, "unit c attaining hessian_norm")
      .def_property_readonly("v", [](const ntk::KappaResult& r) { return to_numpy(r.v); }, "unit v attaining it")
      .def_property_readonly("u", [](const ntk::KappaResult& r) { return to_numpy(r.u); }, "top left singular vector of J")
      .def_property_readonly("mode", [](const ntk::KappaResult& r) { return ntk::to_string(r.mode); })
      .def_readonly("converged", &ntk::KappaResult::converged)
      .def_readonly("hessian_products", &ntk::KappaResult::hessian_products)
      .def_readonly("jvps", &ntk::KappaResult::jvps)
      .def_readonly("vjps", &ntk::KappaResult::vjps)
      .def_readonly("curvature_passes", &ntk::KappaResult::curvature_passes)
      .def_readonly("jacobian_sweeps", &ntk::KappaResult::jacobian_sweeps)
      .def_readonly("c_iterations", &ntk::KappaResult::c_iterations)
      .def_readonly("seconds", &ntk::KappaResult::seconds)
      .def("__repr__", [](const ntk::KappaResult& r) {
        return fmt::format("<ntk_autodiff.KappaResult: kappa={} residual_norm={} jacobian_norm={} hessian_norm={} converged={}>",
                           r.kappa, r.residual_norm, r.jacobian_norm, r.hessian_norm, r.converged);
      });
  m.def(
      "kappa",
      [](const nn::Model& model, const py::object& w0, const py::object& x, const py::object& y,
         const py::object& options, const py::kwargs& kwargs) {
        const ntk::KappaOptions o = with_kwargs<ntk::KappaOptions>(options, kwargs);
        const Tensor tw = to_tensor(w0, "w0"), tx = to_tensor(x, "x"), ty = to_tensor(y, "y");
        py::gil_scoped_release release;
        return ntk::kappa(model, tw, tx, ty, o);
      },
      "model"_a, "w0"_a, "x"_a, "y"_a, "options"_a = py::none(),
      R"doc(kappa(w0) = |y(w0) - y| * |grad^2 y(w0)| / |grad y(w0)|^2 for y(w) = f(x, w) flattened.

options: a KappaOptions, any field of which can also be given by keyword (tolerance=1e-8, ...).)doc");

  // ---- linearized models, gradient flow --------------------------------------------------------
  py::class_<ntk::Linearized, nn::Model, std::shared_ptr<ntk::Linearized>>(
      m, "Linearized", "f(x, w0) + J(x, w0)(w - w0): a Model (predict, train, empirical_ntk, kappa apply).")
      .def_property_readonly("w0", [](const ntk::Linearized& l) { return to_numpy(l.w0()); });
  m.def(
      "linearize",
      [](std::shared_ptr<nn::Model> model, const py::object& w0) { return ntk::linearize(model, to_tensor(w0, "w0")); },
      "model"_a, "w0"_a, "The linearization of `model` around w0.");

  py::class_<ntk::GradientFlow>(m, "GradientFlow", R"doc(Gradient flow of the squared loss under a fixed kernel.

GradientFlow(ntk, u0): ntk the (symmetric) NTK on the training set, u0 = f(x, w0) - y flattened;
u(t) = V exp(-Lambda t) V^T u0.)doc")
      .def(py::init([](const py::object& theta, const py::object& u0) {
             return ntk::GradientFlow(to_tensor(theta, "ntk"), to_tensor(u0, "u0"));
           }),
           "ntk"_a, "u0"_a)
      .def(
          "residual", [](const ntk::GradientFlow& f, double t) { return to_numpy(f.residual(t)); }, "t"_a, "u(t)")
      .def(
          "residual_gd",
          [](const ntk::GradientFlow& f, std::size_t steps, double lr) { return to_numpy(f.residual_gd(steps, lr)); },
          "steps"_a, "learning_rate"_a, "(I - lr H)^steps u0: gradient descent on the linearized model")
      .def(
          "modes", [](const ntk::GradientFlow& f, double t) { return to_numpy(f.modes(t)); }, "t"_a,
          "V^T u(t): the residual along each eigenvector")
      .def("loss", &ntk::GradientFlow::loss, "t"_a, "1/2 |u(t)|^2")
      .def_property_readonly("eigenvalues", [](const ntk::GradientFlow& f) { return to_numpy(f.eigen().values); },
                             "the rates, ascending")
      .def_property_readonly("eigenvectors", [](const ntk::GradientFlow& f) { return to_numpy(f.eigen().vectors); },
                             "columns: the directions");

  py::class_<ntk::KernelPredictor>(m, "KernelPredictor", R"doc(Predictions of the linearized model trained by gradient flow.

KernelPredictor(theta_train, f0_train, y_train, ridge=0, eigenvalue_floor=1e-12), then
predict(theta_test, f0_test, t=inf) with theta_test = Theta(x_test, x_train), f0 = f(x, w0) flattened.)doc")
      .def(py::init([](const py::object& theta, const py::object& f0, const py::object& y, double ridge, double floor) {
             return ntk::KernelPredictor(to_tensor(theta, "theta_train"), to_tensor(f0, "f0_train"),
                                         to_tensor(y, "y_train"), {.ridge = ridge, .eigenvalue_floor = floor});
           }),
           "theta_train"_a, "f0_train"_a, "y_train"_a, "ridge"_a = 0.0, "eigenvalue_floor"_a = 1e-12)
      .def(
          "predict",
          [](const ntk::KernelPredictor& p, const py::object& theta, const py::object& f0, double t) {
            return to_numpy(p.predict(to_tensor(theta, "theta_test"), to_tensor(f0, "f0_test"), t));
          },
          "theta_test"_a, "f0_test"_a, "t"_a = std::numeric_limits<double>::infinity(), "f_t at the test points")
      .def_property_readonly("warnings", &ntk::KernelPredictor::warnings);
}
