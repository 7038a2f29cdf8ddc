// Elementwise ops: value and derivative rules side by side, one struct per op.
// Rules are written with differentiable ops (T = Tensor or Var), so they can be differentiated.
#include <cmath>
#include <numbers>

#include <xtensor/xmath.hpp>
#include <xtensor/xoperation.hpp>

#include "autodiff/broadcast.hpp"
#include "autodiff/record.hpp"

namespace autodiff {
namespace op {

// NumPy broadcasting with an error that names the op and both shapes; equal shapes are one flat
// loop, everything else the strided loop of autodiff/broadcast.hpp.
template <class F>
Tensor broadcast_binary(const char* name, In in, F f) {
  const Tensor& x = in[0];
  const Tensor& y = in[1];
  if (x.shape() == y.shape()) {
    Tensor out = Tensor::empty(x.shape());
    const double *a = x.data(), *b = y.data();
    double* o = out.data();
    for (std::size_t i = 0, n = out.size(); i < n; ++i) o[i] = f(a[i], b[i]);
    return out;
  }
  const Shape shape = broadcast_shapes(name, x.shape(), y.shape());
  Tensor out = Tensor::empty(shape);
  if (out.size() > 0) detail::broadcast_loop(shape, x.data(), x.shape(), y.data(), y.shape(), out.data(), f);
  return out;
}

// ---- binary, broadcasting: the framework sums each cotangent back to its input's shape -------

// d(x + y) = dx + dy
struct Add {
  static constexpr const char* name = "add";
  static constexpr bool broadcasts = true;
  static Tensor value(In in, const Attrs&) {
    return broadcast_binary(name, in, [](double x, double y) { return x + y; });
  }
  template <class T> static T vjp(const Rule<T>&, int, const T& g) { return g; }
  template <class T> static T jvp(const Rule<T>&, int, const T& d) { return d; }
};

// d(x - y) = dx - dy
struct Sub {
  static constexpr const char* name = "sub";
  static constexpr bool broadcasts = true;
  static Tensor value(In in, const Attrs&) {
    return broadcast_binary(name, in, [](double x, double y) { return x - y; });
  }
  template <class T> static T vjp(const Rule<T>&, int i, const T& g) { return i == 0 ? g : neg(g); }
  template <class T> static T jvp(const Rule<T>&, int i, const T& d) { return i == 0 ? d : neg(d); }
};

// d(x y) = dx y + x dy
struct Mul {
  static constexpr const char* name = "mul";
  static constexpr bool broadcasts = true;
  static Tensor value(In in, const Attrs&) {
    return broadcast_binary(name, in, [](double x, double y) { return x * y; });
  }
  template <class T> static T vjp(const Rule<T>& r, int i, const T& g) { return i == 0 ? g * r.y() : g * r.x(); }
  template <class T> static T jvp(const Rule<T>& r, int i, const T& d) { return i == 0 ? d * r.y() : r.x() * d; }
};

// z = x / y:  dz = dx / y - dy z / y
struct Div {
  static constexpr const char* name = "div";
  static constexpr bool broadcasts = true;
  static Tensor value(In in, const Attrs&) {
    return broadcast_binary(name, in, [](double x, double y) { return x / y; });
  }
  template <class T> static T vjp(const Rule<T>& r, int i, const T& g) {
    return i == 0 ? g / r.y() : neg(g * r.out() / r.y());
  }
  template <class T> static T jvp(const Rule<T>& r, int i, const T& d) {
    return i == 0 ? d / r.y() : neg(d * r.out() / r.y());
  }
};

// z = x^y:  dz = y x^(y-1) dx + z log(x) dy
struct Pow {
  static constexpr const char* name = "pow";
  static constexpr bool broadcasts = true;
  static Tensor value(In in, const Attrs&) {
    return broadcast_binary(name, in, [](double x, double y) { return std::pow(x, y); });
  }
  template <class T> static T partial(const Rule<T>& r, int i) {
    return i == 0 ? r.y() * pow(r.x(), r.y() - 1.0) : r.out() * log(r.x());
  }
  template <class T> static T vjp(const Rule<T>& r, int i, const T& g) { return g * partial(r, i); }
  template <class T> static T jvp(const Rule<T>& r, int i, const T& d) { return d * partial(r, i); }
};

// ---- with a constant --------------------------------------------------------------------------

// d(s x) = s dx
struct Scale {
  static constexpr const char* name = "scale";
  static Tensor value(In in, const Attrs& a) { return Tensor(a.scalar * in[0].xt()); }
  template <class T> static T vjp(const Rule<T>& r, int, const T& g) { return scale(g, r.attrs().scalar); }
  template <class T> static T jvp(const Rule<T>& r, int, const T& d) { return scale(d, r.attrs().scalar); }
};

// d(x + c) = dx
struct AddScalar {
  static constexpr const char* name = "add_scalar";
  static Tensor value(In in, const Attrs& a) { return Tensor(in[0].xt() + a.scalar); }
  template <class T> static T vjp(const Rule<T>&, int, const T& g) { return g; }
  template <class T> static T jvp(const Rule<T>&, int, const T& d) { return d; }
};

// d(x^p) = p x^(p-1) dx
struct PowScalar : Elementwise<PowScalar> {
  static constexpr const char* name = "pow_scalar";
  static Tensor value(In in, const Attrs& a) {
    const double p = a.scalar;
    if (p == 2.0) return Tensor(in[0].xt() * in[0].xt());
    if (p == -1.0) return Tensor(1.0 / in[0].xt());
    // std::pow element by element, not xt::pow: xsimd's vectorized pow (SSE2 batches in a
    // portable build) gets x = 0 wrong (0^0 = 0, 0^-2 = 0), which the derivatives of pow, 1/x and
    // log at 0 rely on. The exponents above cover the hot uses.
    Tensor out = Tensor::empty(in[0].shape());
    const double* x = in[0].data();
    double* y = out.data();
    for (std::size_t i = 0; i < out.size(); ++i) y[i] = std::pow(x[i], p);
    return out;
  }
  template <class T> static T derivative(const Rule<T>& r) {
    const double p = r.attrs().scalar;
    if (p == 0.0) return scale(r.x(), 0.0);  // (x^0)' = 0, also at x = 0 (not 0 * 0^-1 = NaN)
    return scale(pow(r.x(), p - 1.0), p);
  }
};

// ---- unary: each gives f'(x) and Elementwise multiplies -------------------------------------

// d(-x) = -dx
struct Neg {
  static constexpr const char* name = "neg";
  static Tensor value(In in, const Attrs&) { return Tensor(-in[0].xt()); }
  template <class T> static T vjp(const Rule<T>&, int, const T& g) { return neg(g); }
  template <class T> static T jvp(const Rule<T>&, int, const T& d) { return neg(d); }
};

struct Square : Elementwise<Square> {  // (x²)' = 2x
  static constexpr const char* name = "square";
  static Tensor value(In in, const Attrs&) { return Tensor(in[0].xt() * in[0].xt()); }
  template <class T> static T derivative(const Rule<T>& r) { return scale(r.x(), 2.0); }
  static double slope(double x, double) { return 2.0 * x; }
};

struct Sqrt : Elementwise<Sqrt> {  // (√x)' = 1 / (2√x)
  static constexpr const char* name = "sqrt";
  static Tensor value(In in, const Attrs&) { return Tensor(xt::sqrt(in[0].xt())); }
  template <class T> static T derivative(const Rule<T>& r) { return 0.5 / r.out(); }
  static double slope(double, double fx) { return 0.5 / fx; }
};

struct Exp : Elementwise<Exp> {  // (eˣ)' = eˣ
  static constexpr const char* name = "exp";
  static Tensor value(In in, const Attrs&) { return Tensor(xt::exp(in[0].xt())); }
  template <class T> static T derivative(const Rule<T>& r) { return r.out(); }
  static double slope(double, double fx) { return fx; }
};

struct Log : Elementwise<Log> {  // (log x)' = 1/x
  static constexpr const char* name = "log";
  static Tensor value(In in, const Attrs&) { return Tensor(xt::log(in[0].xt())); }
  template <class T> static T derivative(const Rule<T>& r) { return pow(r.x(), -1.0); }
  static double slope(double x, double) { return 1.0 / x; }
};

struct Sin : Elementwise<Sin> {  // sin' = cos
  static constexpr const char* name = "sin";
  static Tensor value(In in, const Attrs&) { return Tensor(xt::sin(in[0].xt())); }
  template <class T> static T derivative(const Rule<T>& r) { return cos(r.x()); }
};

struct Cos : Elementwise<Cos> {  // cos' = -sin
  static constexpr const char* name = "cos";
  static Tensor value(In in, const Attrs&) { return Tensor(xt::cos(in[0].xt())); }
  template <class T> static T derivative(const Rule<T>& r) { return neg(sin(r.x())); }
};

struct Tanh : Elementwise<Tanh> {  // tanh' = 1 - tanh²
  static constexpr const char* name = "tanh";
  static Tensor value(In in, const Attrs&) { return Tensor(xt::tanh(in[0].xt())); }
  template <class T> static T derivative(const Rule<T>& r) { return one_minus_square(r.out()); }
  static double slope(double, double fx) { return 1.0 - fx * fx; }
};

// 1 - x² as one op (tanh's derivative in terms of its output): one node and one pass where
// square, neg and add would record three — it matters in recorded gradients (HVPs, κ).
struct OneMinusSquare : Elementwise<OneMinusSquare> {  // (1 - x²)' = -2x
  static constexpr const char* name = "one_minus_square";
  static Tensor value(In in, const Attrs&) {
    Tensor out = Tensor::empty(in[0].shape());
    const double* x = in[0].data();
    double* o = out.data();
    for (std::size_t i = 0, n = out.size(); i < n; ++i) o[i] = 1.0 - x[i] * x[i];
    return out;
  }
  template <class T> static T derivative(const Rule<T>& r) { return scale(r.x(), -2.0); }
  static double slope(double x, double) { return -2.0 * x; }
};

struct Sigmoid : Elementwise<Sigmoid> {  // σ' = σ (1 - σ)
  static constexpr const char* name = "sigmoid";
  static Tensor value(In in, const Attrs&) { return Tensor(1.0 / (1.0 + xt::exp(-in[0].xt()))); }
  template <class T> static T derivative(const Rule<T>& r) { return r.out() * (1.0 - r.out()); }
  static double slope(double, double fx) { return fx * (1.0 - fx); }
};

struct Relu : Elementwise<Relu> {  // relu' = step (0 at the kink, as PyTorch and JAX)
  static constexpr const char* name = "relu";
  static Tensor value(In in, const Attrs&) { return Tensor(xt::maximum(in[0].xt(), 0.0)); }
  template <class T> static T derivative(const Rule<T>& r) { return step(r.x()); }
  static double slope(double x, double) { return x > 0.0 ? 1.0 : 0.0; }
};

struct Erf : Elementwise<Erf> {  // erf'(x) = 2/√π e^(-x²)
  static constexpr const char* name = "erf";
  static Tensor value(In in, const Attrs&) { return Tensor(xt::erf(in[0].xt())); }
  template <class T> static T derivative(const Rule<T>& r) {
    return scale(exp(neg(square(r.x()))), 2.0 / std::sqrt(std::numbers::pi));
  }
};

struct Abs : Elementwise<Abs> {  // |x|' = sign(x) (0 at 0)
  static constexpr const char* name = "abs";
  static Tensor value(In in, const Attrs&) { return Tensor(xt::abs(in[0].xt())); }
  template <class T> static T derivative(const Rule<T>& r) { return sign(r.x()); }
};

// ---- piecewise constant: zero derivative ----------------------------------------------------

struct Step {
  static constexpr const char* name = "step";
  static constexpr bool differentiable = false;
  static Tensor value(In in, const Attrs&) { return Tensor(xt::where(in[0].xt() > 0.0, 1.0, 0.0)); }
};

struct Sign {
  static constexpr const char* name = "sign";
  static constexpr bool differentiable = false;
  static Tensor value(In in, const Attrs&) { return Tensor(xt::sign(in[0].xt())); }
};

}  // namespace op

// ---- the public functions ---------------------------------------------------------------------
#define AUTODIFF_BINARY(fn, Op)                                                         \
  Tensor fn(const Tensor& x, const Tensor& y) { return eval<op::Op>({}, x, y); } \
  Var fn(const Var& x, const Var& y) { return record<op::Op>({}, x, y); }
#define AUTODIFF_UNARY(fn, Op)                                     \
  Tensor fn(const Tensor& x) { return eval<op::Op>({}, x); } \
  Var fn(const Var& x) { return record<op::Op>({}, x); }
#define AUTODIFF_WITH_SCALAR(fn, Op)                                                                 \
  Tensor fn(const Tensor& x, double s) { return eval<op::Op>(Attrs{.scalar = s}, x); } \
  Var fn(const Var& x, double s) { return record<op::Op>(Attrs{.scalar = s}, x); }

AUTODIFF_BINARY(add, Add)
AUTODIFF_BINARY(sub, Sub)
AUTODIFF_BINARY(mul, Mul)
AUTODIFF_BINARY(div, Div)
AUTODIFF_BINARY(pow, Pow)
AUTODIFF_WITH_SCALAR(scale, Scale)
AUTODIFF_WITH_SCALAR(add_scalar, AddScalar)
AUTODIFF_WITH_SCALAR(pow, PowScalar)
AUTODIFF_UNARY(neg, Neg)
AUTODIFF_UNARY(square, Square)
AUTODIFF_UNARY(sqrt, Sqrt)
AUTODIFF_UNARY(exp, Exp)
AUTODIFF_UNARY(log, Log)
AUTODIFF_UNARY(sin, Sin)
AUTODIFF_UNARY(cos, Cos)
AUTODIFF_UNARY(tanh, Tanh)
AUTODIFF_UNARY(one_minus_square, OneMinusSquare)
AUTODIFF_UNARY(sigmoid, Sigmoid)
AUTODIFF_UNARY(relu, Relu)
AUTODIFF_UNARY(erf, Erf)
AUTODIFF_UNARY(abs, Abs)
AUTODIFF_UNARY(step, Step)
AUTODIFF_UNARY(sign, Sign)

}  // namespace autodiff
