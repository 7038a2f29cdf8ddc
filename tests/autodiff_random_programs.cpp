// Property tests on random programs: rapidcheck generates random DAGs of ops over a flat input
// vector x (size 1..6). Every instruction picks an op and operands among ALL earlier values, so
// intermediate values are reused many times (fan-out), and the pieces are cut, reshaped and
// broadcast so that matmul, dot, concat, stack, slice, sums along axes and broadcasting all occur.
// Everything is kept smooth and finite: unbounded growth is cut by a normalising scale (each value
// carries an upper bound on its magnitude, computed while the program is resolved), logs, square
// roots and powers only see 1 + a², exp only sees 0.3 sin(a), divisions only 1.5 + sin(b).
//
// A generated program is a list of raw integer choices (RawProgram); `resolve` turns it into a
// valid typed program whatever the integers are, so rapidcheck can shrink the integers freely and
// a counterexample is printed as the resolved listing (see showValue below).
//
// Number of programs: 300 (check_derivatives), 500 (sixth-order differences), 500 (Jacobians),
// 500 (Hessians) and 300 (replay and descend) per run, 2100 in all, unless RC_PARAMS sets max_success (see prop_n). The seed is
// rapidcheck's: random per run, printed with RC_PARAMS="reproduce=..." on a failure.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include "autodiff/autodiff.hpp"
#include "autodiff/gradcheck.hpp"
#include "autodiff/record.hpp"
#include "autodiff/transforms.hpp"

namespace randprog {

using autodiff::Shape;
using autodiff::Tensor;
using autodiff::Var;

// ---- raw programs (what rapidcheck generates and shrinks) -----------------------------------

struct RawInstr {
  int op = 0;  // which op (taken modulo the number of kinds)
  int a = 0;   // first operand (modulo the number of earlier values)
  int b = 0;   // second operand, or a count for unary ops
  int p = 0;   // op parameter (scale factor, exponent, axis, adaptor mode, ...)
  int q = 0;   // second parameter (slice start, ...)
};

struct RawProgram {
  std::vector<double> x;     // the point, entries in [-2, 2]
  std::vector<RawInstr> code;
  std::vector<int> outputs;  // extra values concatenated into the vector output
  int scalar_kind = 0;       // how the vector output becomes a scalar
};

// ---- resolved programs ----------------------------------------------------------------------

enum Kind : int {
  // unary
  kSin, kCos, kTanh, kExpSin, kSigmoid, kSquare, kErf, kLog1pSq, kSqrt1pSq, kScale, kAddScalar, kPowBase, kNeg,
  // binary elementwise with broadcasting (operand b is cut to a shape that broadcasts against a)
  kAdd, kSub, kMul, kDivSin, kPowVar,
  // with a constant (no gradient, no tangent) that may broadcast a to a larger shape
  kMulConst, kAddConst,
  // linear algebra on reshaped pieces
  kMatMul, kMatVec, kDot, kOuterAdd,
  // shapes and reductions
  kConcat, kStack, kSlice, kSumAxis, kMeanAxis, kSumAll, kReshape, kTranspose,
  kKinds
};

const char* kind_name(int k) {
  static const char* names[] = {"sin",   "cos",     "tanh",  "exp(0.3 sin)", "sigmoid", "square", "erf",
                                "log(1+a²)", "sqrt(1+a²)", "scale", "add_scalar", "pow(1+a², p)", "neg",
                                "add",   "sub",     "mul",   "div(a, 1.5+sin b)", "pow(1+a², 0.5 sin b)",
                                "mul_const", "add_const",
                                "matmul", "matvec", "dot",   "outer_add", "concat", "stack", "slice",
                                "sum_axis", "mean_axis", "sum", "reshape", "transpose"};
  static_assert(sizeof(names) / sizeof(names[0]) == kKinds);
  return names[k];
}

// A view of an operand: the piece [start, start + size(shape)) of the flattened value, reshaped to
// `shape`; or the value itself when `whole` (no nodes recorded: direct fan-out).
struct View {
  bool whole = true;
  std::size_t start = 0;
  Shape shape{};
};

struct Instr {
  Kind kind = kSin;
  std::size_t a = 0, b = 0;
  View va, vb;
  bool swap = false;        // binary elementwise: op(b', a') instead of op(a', b')
  double s = 0.0;           // scale factor, added constant or exponent
  std::int64_t axis = 0;    // slice / sum / concat / stack axis
  std::size_t start = 0, count = 0;  // slice
  bool transpose_result = false;     // matmul
  Shape const_shape{};      // kMulConst / kAddConst: the constant's shape (its entries from `start`)
  double post = 1.0;        // a normalising scale applied to the result (1: none)
  Shape shape{};            // shape of the result
  std::string text;         // a readable line for the listing
};

struct Program {
  std::vector<double> x;
  std::vector<Instr> code;
  std::vector<std::size_t> outputs;  // values concatenated (flattened) into the vector output
  int scalar_kind = 0;
  std::size_t n_values = 1;
};

constexpr double kNormalise = 8.0;      // a value whose bound exceeds this is scaled down to bound 1
constexpr std::size_t kMaxSize = 16;    // values never have more elements than this

std::string shape_str(const Shape& s) { return autodiff::to_string(s); }

std::string view_str(std::size_t v, const View& view) {
  std::ostringstream os;
  os << 'v' << v;
  if (!view.whole) os << "[" << view.start << ":" << view.start + autodiff::shape_size(view.shape) << "]->" << shape_str(view.shape);
  return os.str();
}

// Builds the typed program; every raw instruction becomes a valid instruction.
Program resolve(const RawProgram& raw) {
  Program prog;
  prog.x = raw.x;
  prog.scalar_kind = raw.scalar_kind % 3;
  std::vector<Shape> shapes{Shape{raw.x.size()}};
  std::vector<double> bounds{2.0};  // |x_i| <= 2

  for (const RawInstr& r : raw.code) {
    Instr in;
    const std::size_t nv = shapes.size();
    in.a = static_cast<std::size_t>(r.a) % nv;
    in.b = static_cast<std::size_t>(r.b) % nv;
    const Shape sa = shapes[in.a], sb = shapes[in.b];
    const std::size_t na = autodiff::shape_size(sa), nb = autodiff::shape_size(sb);
    const double ba = bounds[in.a], bb = bounds[in.b];
    const unsigned p = static_cast<unsigned>(r.p), q = static_cast<unsigned>(r.q);
    in.kind = static_cast<Kind>(r.op % kKinds);
    double bound = 0.0;
    std::ostringstream text;

    // View of operand b cut to broadcast against a's shape (mode chosen by p).
    const auto broadcast_view = [&](const Shape& target, std::size_t n_other) {
      View v;
      if (sb == target) return v;  // the whole value
      v.whole = false;
      const std::size_t n = autodiff::shape_size(target);
      switch (p % 4) {
        case 0:
          if (n_other >= n) { v.shape = target; break; }
          [[fallthrough]];
        case 1:  // a row: broadcasts along the leading axes
          if (!target.empty() && n_other >= target.back()) { v.shape = Shape{target.back()}; break; }
          [[fallthrough]];
        case 2:  // a column: broadcasts along the last axis
          if (target.size() >= 2 && n_other >= target[target.size() - 2]) {
            v.shape = Shape{target[target.size() - 2], 1};
            break;
          }
          [[fallthrough]];
        default:  // one element, as a 0-d scalar or a length-1 vector
          v.shape = (q % 2) ? Shape{} : Shape{1};
      }
      v.start = q % (n_other - autodiff::shape_size(v.shape) + 1);
      return v;
    };
    const auto piece_view = [](const Shape& have, std::size_t n_have, Shape want, unsigned start) {
      View v;
      if (have == want) return v;
      v.whole = false;
      v.start = start % (n_have - autodiff::shape_size(want) + 1);
      v.shape = std::move(want);
      return v;
    };

    switch (in.kind) {
      case kSin: case kCos: case kTanh: case kExpSin: case kSigmoid: case kSquare: case kErf:
      case kLog1pSq: case kSqrt1pSq: case kNeg:
        in.shape = sa;
        bound = in.kind == kSin ? std::min(1.0, ba)
              : in.kind == kCos ? 1.0
              : in.kind == kTanh ? std::min(1.0, ba)
              : in.kind == kExpSin ? std::exp(0.3)
              : in.kind == kSigmoid ? 1.0
              : in.kind == kSquare ? ba * ba
              : in.kind == kErf ? 1.0
              : in.kind == kLog1pSq ? std::log1p(ba * ba)
              : in.kind == kSqrt1pSq ? std::sqrt(1.0 + ba * ba)
              : ba;
        text << kind_name(in.kind) << "(v" << in.a << ")";
        break;
      case kScale:
        in.s = static_cast<double>(static_cast<int>(p % 9) - 4) / 2.0;  // -2 .. 2 in steps of 0.5
        in.shape = sa;
        bound = std::abs(in.s) * ba;
        text << "scale(v" << in.a << ", " << in.s << ")";
        break;
      case kAddScalar:
        in.s = static_cast<double>(static_cast<int>(p % 9) - 4) / 4.0;  // -1 .. 1
        in.shape = sa;
        bound = ba + std::abs(in.s);
        text << "add_scalar(v" << in.a << ", " << in.s << ")";
        break;
      case kPowBase: {
        static const double exponents[] = {-1.5, -1.0, -0.5, 0.5, 1.5, 2.0, 3.0, 0.25};
        in.s = exponents[p % 8];
        in.shape = sa;
        bound = in.s > 0 ? std::pow(1.0 + ba * ba, in.s) : 1.0;
        text << "pow(1 + v" << in.a << "², " << in.s << ")";
        break;
      }
      case kAdd: case kSub: case kMul: case kDivSin: case kPowVar: {
        in.vb = broadcast_view(sa, nb);
        const Shape bshape = in.vb.whole ? sb : in.vb.shape;
        in.shape = autodiff::broadcast_shapes("resolve", sa, bshape);
        in.swap = (q / 2) % 2 == 1;
        const std::string A = fmt::format("v{}", in.a), B = view_str(in.b, in.vb);  // not "v" + string: GCC 12 -Wrestrict false positive
        const std::string L = in.swap ? B : A, R = in.swap ? A : B;
        const double bl = in.swap ? bb : ba;  // bound of the left operand
        switch (in.kind) {
          case kAdd: bound = ba + bb; text << "add(" << L << ", " << R << ")"; break;
          case kSub: bound = ba + bb; text << "sub(" << L << ", " << R << ")"; break;
          case kMul: bound = ba * bb; text << "mul(" << L << ", " << R << ")"; break;
          case kDivSin: bound = 2.0 * bl; text << "div(" << L << ", 1.5 + sin(" << R << "))"; break;
          default: bound = std::sqrt(1.0 + bl * bl); text << "pow(1 + " << L << "², 0.5 sin(" << R << "))"; break;
        }
        break;
      }
      case kMulConst: case kAddConst: {
        // C has a's shape, or a's shape with a leading axis of 2 (a is broadcast up: the output is
        // larger than a, so its tangent must be completed by broadcasting), or a's last axis only.
        in.const_shape = sa;
        const unsigned mode = p % 3;
        if (mode == 1 && 2 * na <= kMaxSize) {
          in.const_shape = Shape{2};
          for (std::size_t d : sa) in.const_shape.push_back(d);
        } else if (mode == 2 && !sa.empty()) {
          in.const_shape = Shape{sa.back()};
        }
        in.start = q;
        in.shape = autodiff::broadcast_shapes("resolve", sa, in.const_shape);
        bound = in.kind == kMulConst ? ba : ba + 1.0;
        text << (in.kind == kMulConst ? "mul(v" : "add(v") << in.a << ", const" << shape_str(in.const_shape) << " #" << q << ")";
        break;
      }
      case kMatMul: {
        // a stack of matrices (rank 3) times a matrix cut from b, or two matrices cut from a and b
        if (sa.size() == 3 && nb >= sa[2]) {
          const std::size_t k = sa[2], c = std::min<std::size_t>(nb / k, 2);
          in.vb = piece_view(sb, nb, Shape{k, c}, q);
          in.shape = Shape{sa[0], sa[1], c};
          bound = static_cast<double>(k) * ba * bb;
          text << "matmul(v" << in.a << ", " << view_str(in.b, in.vb) << ")";
          break;
        }
        const std::size_t k = 1 + p % std::min<std::size_t>({na, nb, 4});
        const std::size_t rows = std::min<std::size_t>(na / k, 4), cols = std::min<std::size_t>(nb / k, 3);
        in.va = piece_view(sa, na, Shape{rows, k}, q);
        in.vb = piece_view(sb, nb, Shape{k, cols}, q / 3);
        in.transpose_result = (p / 4) % 2 == 1;
        in.shape = in.transpose_result ? Shape{cols, rows} : Shape{rows, cols};
        bound = static_cast<double>(k) * ba * bb;
        text << (in.transpose_result ? "transpose(matmul(" : "matmul(") << view_str(in.a, in.va) << ", "
             << view_str(in.b, in.vb) << (in.transpose_result ? "))" : ")");
        break;
      }
      case kMatVec: {
        const std::size_t k = 1 + p % std::min<std::size_t>({na, nb, 4});
        const std::size_t other = std::min<std::size_t>(na / k, 4);
        in.swap = (p / 4) % 2 == 1;  // vector x matrix instead of matrix x vector
        in.va = piece_view(sa, na, in.swap ? Shape{k, other} : Shape{other, k}, q);
        in.vb = piece_view(sb, nb, Shape{k}, q / 3);
        in.shape = Shape{other};
        bound = static_cast<double>(k) * ba * bb;
        if (in.swap)
          text << "matmul(" << view_str(in.b, in.vb) << ", " << view_str(in.a, in.va) << ")";
        else
          text << "matmul(" << view_str(in.a, in.va) << ", " << view_str(in.b, in.vb) << ")";
        break;
      }
      case kDot: {
        const std::size_t len = 1 + p % std::min(na, nb);
        in.va = piece_view(sa, na, Shape{len}, q);
        in.vb = piece_view(sb, nb, Shape{len}, q / 3);
        in.shape = Shape{};
        bound = static_cast<double>(len) * ba * bb;
        text << "dot(" << view_str(in.a, in.va) << ", " << view_str(in.b, in.vb) << ")";
        break;
      }
      case kOuterAdd: {  // a column cut from a plus a row cut from b: a matrix by broadcasting
        const std::size_t rows = 1 + p % std::min<std::size_t>(na, 4), cols = 1 + q % std::min<std::size_t>(nb, 3);
        in.va = piece_view(sa, na, Shape{rows, 1}, q / 3);
        in.vb = piece_view(sb, nb, Shape{cols}, p / 4);
        in.shape = Shape{rows, cols};
        bound = ba + bb;
        text << "add(" << view_str(in.a, in.va) << ", " << view_str(in.b, in.vb) << ")";
        break;
      }
      case kConcat: {
        const bool matrices = sa.size() == 2 && sb.size() == 2 && na + nb <= kMaxSize;
        if (matrices && sa[1] == sb[1] && (p % 2 == 0 || sa[0] != sb[0])) {
          in.axis = 0;
          in.shape = Shape{sa[0] + sb[0], sa[1]};
        } else if (matrices && sa[0] == sb[0]) {
          in.axis = -1;
          in.shape = Shape{sa[0], sa[1] + sb[1]};
        } else {  // flattened pieces, at most kMaxSize elements in all
          in.axis = 0;
          const std::size_t la = std::min<std::size_t>(na, 12), lb = std::min(nb, kMaxSize - la);
          in.va = piece_view(sa, na, Shape{la}, q);
          in.vb = piece_view(sb, nb, Shape{lb}, q / 3);
          in.shape = Shape{la + lb};
        }
        bound = std::max(ba, bb);
        text << "concat(" << view_str(in.a, in.va) << ", " << view_str(in.b, in.vb) << ", axis " << in.axis << ")";
        break;
      }
      case kStack: {
        if (sa.size() <= 1 && na <= kMaxSize / 2) {
          // b cut to a's shape when it is large enough, else a with itself (fan-out)
          if (nb >= na) {
            in.vb = piece_view(sb, nb, sa, q);
          } else {
            in.b = in.a;
            in.vb = View{};
          }
          in.axis = static_cast<std::int64_t>(p % (sa.size() + 1));
          if ((p / 4) % 2 == 1) in.axis -= static_cast<std::int64_t>(sa.size() + 1);  // negative form
          const auto pos = static_cast<std::size_t>(in.axis < 0 ? in.axis + static_cast<std::int64_t>(sa.size() + 1) : in.axis);
          in.shape = Shape{};
          for (std::size_t k = 0; k <= sa.size(); ++k) {
            if (k == pos) in.shape.push_back(2);
            if (k < sa.size()) in.shape.push_back(sa[k]);
          }
          bound = std::max(ba, in.b == in.a ? ba : bb);
          text << "stack(v" << in.a << ", " << view_str(in.b, in.vb) << ", axis " << in.axis << ")";
        } else {  // too big to stack: fall back to tanh
          in.kind = kTanh;
          in.shape = sa;
          bound = std::min(1.0, ba);
          text << "tanh(v" << in.a << ")";
        }
        break;
      }
      case kSlice: {
        if (sa.empty()) {
          in.va = piece_view(sa, na, Shape{1}, 0);
          in.axis = 0;
          in.start = 0;
          in.count = 1;
          in.shape = Shape{1};
        } else {
          const std::size_t rank = sa.size();
          const std::size_t axis = p % rank;
          const std::size_t len = sa[axis];
          in.start = q % len;
          in.count = 1 + static_cast<unsigned>(r.b) % (len - in.start);
          in.axis = (p / 4) % 2 ? static_cast<std::int64_t>(axis) - static_cast<std::int64_t>(rank)
                                : static_cast<std::int64_t>(axis);
          in.shape = sa;
          in.shape[axis] = in.count;
        }
        in.b = in.a;
        bound = ba;
        text << "slice(" << view_str(in.a, in.va) << ", " << in.start << ", " << in.count << ", axis " << in.axis << ")";
        break;
      }
      case kSumAxis: case kMeanAxis: {
        if (sa.empty()) {
          in.kind = kSumAll;
          in.shape = Shape{};
          bound = ba;
          text << "sum(v" << in.a << ")";
          break;
        }
        const std::size_t rank = sa.size();
        const std::size_t axis = p % rank;
        in.axis = (p / 4) % 2 ? static_cast<std::int64_t>(axis) - static_cast<std::int64_t>(rank)
                              : static_cast<std::int64_t>(axis);
        in.shape = sa;
        in.shape.erase(in.shape.begin() + static_cast<std::ptrdiff_t>(axis));
        bound = in.kind == kSumAxis ? static_cast<double>(sa[axis]) * ba : ba;
        text << (in.kind == kSumAxis ? "sum(v" : "mean(v") << in.a << ", axis " << in.axis << ")";
        break;
      }
      case kSumAll:
        in.shape = Shape{};
        bound = static_cast<double>(na) * ba;
        text << "sum(v" << in.a << ")";
        break;
      case kReshape: {
        if (sa.size() == 1 && na > 1) {  // vector -> matrix (rows divides the length)
          std::vector<std::size_t> divisors;
          for (std::size_t d = 1; d <= na; ++d)
            if (na % d == 0) divisors.push_back(d);
          const std::size_t rows = divisors[p % divisors.size()];
          in.shape = Shape{rows, na / rows};
        } else if (sa.size() == 2 && sa[0] * sa[1] <= 12 && p % 3 == 0) {  // matrix -> 3-d stack
          in.shape = Shape{1, sa[0], sa[1]};
          if (sa[0] % 2 == 0) in.shape = Shape{2, sa[0] / 2, sa[1]};
        } else {
          in.shape = Shape{na};
        }
        bound = ba;
        text << "reshape(v" << in.a << ", " << shape_str(in.shape) << ")";
        break;
      }
      case kTranspose: {
        if (sa.size() >= 2) {
          in.shape = sa;
          std::swap(in.shape[sa.size() - 1], in.shape[sa.size() - 2]);
          text << "transpose(v" << in.a << ")";
        } else {  // a vector becomes a column first
          in.va = piece_view(sa, na, Shape{na, 1}, 0);
          in.shape = Shape{1, na};
          text << "transpose(" << view_str(in.a, in.va) << ")";
        }
        bound = ba;
        break;
      }
      case kKinds: break;
    }
    if (bound > kNormalise) {
      in.post = 1.0 / bound;
      bound = 1.0;
      text << " * " << in.post;
    }
    in.text = text.str();
    shapes.push_back(in.shape);
    bounds.push_back(bound);
    prog.code.push_back(std::move(in));
  }
  prog.n_values = shapes.size();
  prog.outputs.push_back(shapes.size() - 1);
  for (int o : raw.outputs) prog.outputs.push_back(static_cast<std::size_t>(o) % shapes.size());
  return prog;
}

// ---- a deliberately wrong op, to show that the properties can fail -----------------------------

enum class Fault { none, wrong_vjp, wrong_jvp };
Fault g_fault = Fault::none;  // when set, the interpreter records sin as WrongSin

// sin with one derivative rule off by 1%.
struct WrongSin {
  static constexpr const char* name = "wrong_sin";
  static Tensor value(autodiff::In in, const autodiff::Attrs&) { return autodiff::sin(in[0]); }
  template <class T>
  static T vjp(const autodiff::Rule<T>& r, int, const T& g) {
    return scale(g * cos(r.x()), g_fault == Fault::wrong_vjp ? 1.01 : 1.0);
  }
  template <class T>
  static T jvp(const autodiff::Rule<T>& r, int, const T& d) {
    return scale(d * cos(r.x()), g_fault == Fault::wrong_jvp ? 1.01 : 1.0);
  }
};

// ---- the interpreter: the same code for plain tensors (T = Tensor) and recording (T = Var) ----

template <class T>
T flat(const T& v) { return reshape(v, Shape{v.size()}); }

template <class T>
T view(const T& v, const View& w) {
  if (w.whole) return v;
  return reshape(slice(flat(v), w.start, autodiff::shape_size(w.shape)), w.shape);
}

// A constant with entries in [0, 1], determined by a seed. For T = Var it goes on the current tape.
template <class T>
T constant_like(const Shape& shape, std::size_t seed) {
  Tensor c = Tensor::zeros(shape);
  for (std::size_t i = 0; i < c.size(); ++i) c.flat(i) = 0.5 + 0.5 * std::sin(static_cast<double>(seed + 3 * i));
  return T(c);
}

template <class T>
T execute(const Instr& in, const std::vector<T>& values) {
  const T& A = values[in.a];
  const T& B = values[in.b];
  const T a = view(A, in.va);
  const T b = view(B, in.vb);
  const T& l = in.swap ? b : a;
  const T& r = in.swap ? a : b;
  switch (in.kind) {
    case kSin:
      if constexpr (std::is_same_v<T, Var>) {
        if (g_fault != Fault::none) return autodiff::record<WrongSin>(autodiff::Attrs{}, a);
      }
      return sin(a);
    case kCos: return cos(a);
    case kTanh: return tanh(a);
    case kExpSin: return exp(scale(sin(a), 0.3));
    case kSigmoid: return sigmoid(a);
    case kSquare: return square(a);
    case kErf: return erf(a);
    case kLog1pSq: return log(add_scalar(square(a), 1.0));
    case kSqrt1pSq: return sqrt(add_scalar(square(a), 1.0));
    case kScale: return scale(a, in.s);
    case kAddScalar: return add_scalar(a, in.s);
    case kPowBase: return pow(1.0 + square(a), in.s);
    case kNeg: return neg(a);
    case kAdd: return l + r;
    case kSub: return l - r;
    case kMul: return l * r;
    case kDivSin: return l / (1.5 + sin(r));
    case kPowVar: return pow(1.0 + square(l), scale(sin(r), 0.5));
    case kMulConst: return a * constant_like<T>(in.const_shape, in.start);
    case kAddConst: return a + constant_like<T>(in.const_shape, in.start);
    case kMatMul: {
      const T product = matmul(a, b);
      return in.transpose_result ? transpose(product) : product;
    }
    case kMatVec: return in.swap ? matmul(b, a) : matmul(a, b);
    case kDot: return dot(a, b);
    case kOuterAdd: return a + b;
    case kConcat: return concat(std::vector<T>{a, b}, in.axis);
    case kStack: return stack(std::vector<T>{a, b}, in.axis);
    case kSlice: return slice(a, in.start, in.count, in.axis);
    case kSumAxis: return sum(a, in.axis);
    case kMeanAxis: return mean(a, in.axis);
    case kSumAll: return sum(a);
    case kReshape: return reshape(a, in.shape);
    case kTranspose: return transpose(a);
    case kKinds: break;
  }
  throw autodiff::Error("random program: unknown instruction");
}

template <class T>
std::vector<T> run_all(const Program& prog, const T& x) {
  std::vector<T> values{x};
  values.reserve(prog.n_values);
  for (const Instr& in : prog.code) {
    T v = execute(in, values);
    if (in.post != 1.0) v = scale(v, in.post);
    values.push_back(std::move(v));
  }
  return values;
}

// The vector output: the listed values, flattened and concatenated.
template <class T>
T vector_output(const Program& prog, const T& x) {
  const std::vector<T> values = run_all(prog, x);
  std::vector<T> parts;
  for (std::size_t o : prog.outputs) parts.push_back(flat(values[o]));
  return parts.size() == 1 ? parts[0] : concat(parts, 0);
}

// The scalar output, from the vector output y.
template <class T>
T scalar_output(const Program& prog, const T& x) {
  const T y = vector_output(prog, x);
  switch (prog.scalar_kind) {
    case 0: return sum(square(y));
    case 1: return sum(sin(y));
    default: return scale(dot(y, y), 0.5) + sum(cos(y));
  }
}

std::string listing(const Program& prog) {
  std::ostringstream os;
  os.precision(17);
  os << "x = [";
  for (std::size_t i = 0; i < prog.x.size(); ++i) os << (i ? ", " : "") << prog.x[i];
  os << "]\nv0 = x  " << shape_str(Shape{prog.x.size()}) << "\n";
  for (std::size_t i = 0; i < prog.code.size(); ++i)
    os << 'v' << i + 1 << " = " << prog.code[i].text << "  " << shape_str(prog.code[i].shape) << "\n";
  os << "y = concat(flatten(";
  for (std::size_t i = 0; i < prog.outputs.size(); ++i) os << (i ? "), flatten(v" : "v") << prog.outputs[i];
  static const char* scalars[] = {"sum(square(y))", "sum(sin(y))", "0.5 dot(y, y) + sum(cos(y))"};
  os << "))\nscalar = " << scalars[prog.scalar_kind] << "\n";
  return os.str();
}

// rapidcheck prints counterexamples with showValue: the resolved listing is what one reads.
void showValue(const RawProgram& raw, std::ostream& os) { os << "\n" << listing(resolve(raw)); }

Tensor point(const Program& prog) {
  Tensor x = Tensor::zeros(Shape{prog.x.size()});
  for (std::size_t i = 0; i < prog.x.size(); ++i) x.flat(i) = prog.x[i];
  return x;
}

// ---- generators -------------------------------------------------------------------------------

// Integers uniform over [0, 1000) whatever rapidcheck's size is (inRange scales with the size).
rc::Gen<int> gen_choice() { return rc::gen::resize(100, rc::gen::inRange(0, 1000)); }

rc::Gen<RawInstr> gen_instr() {
  return rc::gen::exec([] {
    RawInstr r;
    r.op = *gen_choice();
    r.a = *gen_choice();
    r.b = *gen_choice();
    r.p = *gen_choice();
    r.q = *gen_choice();
    return r;
  });
}

// Programs of 1 .. 20 instructions (a container of up to 20 elements; rapidcheck shrinks it by
// removing instructions, so a counterexample comes out short) over 1 .. 6 inputs in [-2, 2].
rc::Gen<RawProgram> gen_program() {
  return rc::gen::exec([] {
    RawProgram raw;
    const int n = *rc::gen::resize(100, rc::gen::inRange(1, 7));
    raw.x = *rc::gen::container<std::vector<double>>(
        static_cast<std::size_t>(n),
        rc::gen::map(rc::gen::resize(100, rc::gen::inRange(-2000, 2001)), [](int k) { return k / 1000.0; }));
    raw.code = *rc::gen::suchThat(rc::gen::resize(20, rc::gen::container<std::vector<RawInstr>>(gen_instr())),
                                  [](const std::vector<RawInstr>& code) { return !code.empty(); });
    raw.outputs = *rc::gen::resize(2, rc::gen::container<std::vector<int>>(gen_choice()));
    raw.scalar_kind = *rc::gen::resize(100, rc::gen::inRange(0, 3));
    return raw;
  });
}

// ---- running a property on many programs ------------------------------------------------------

constexpr int kPrograms = 500;  // programs per property in a default run (jacobians, hessians)

// rc::prop with its own number of programs; RC_PARAMS="max_success=N" still overrides it.
template <class Testable>
void prop_n(const std::string& description, int programs, Testable&& testable) {
  SECTION(description) {
    rc::detail::TestParams params = rc::detail::configuration().testParams;
    const char* env = std::getenv("RC_PARAMS");
    if (env == nullptr || std::string(env).find("max_success") == std::string::npos) params.maxSuccess = programs;
    rc::detail::TestMetadata metadata;
    metadata.id = description;
    metadata.description = description;
    const auto result = rc::detail::checkTestable(std::forward<Testable>(testable), metadata, params);
    std::ostringstream ss;
    rc::detail::printResultMessage(result, ss);
    INFO(ss.str() << "\n");
    REQUIRE(result.template is<rc::detail::SuccessResult>());
    const auto success = result.template get<rc::detail::SuccessResult>();
    // The property really ran on that many programs (a vacuous pass is a failure).
    REQUIRE(success.numSuccess >= std::min(programs, params.maxSuccess));
  }
}

// ---- the properties, written once so that fixed programs can run them too ------------------------

// Tolerances: derivatives against central finite differences (autodiff::check_derivatives, steps
// 1e-6 for first and 1e-5 for second derivatives) agree to 1e-5 in its error measure
// max|a - b| / max(1, |a|, |b|): truncation (h² f''') and rounding (eps |f| / h) stay far below
// that for these bounded programs (observed worst: 6e-7 over 100000 programs).
constexpr double kFiniteDifferenceTolerance = 1e-5;
// AD against AD (two association orders of the same sums): 1e-10 in max_relative_difference
// (observed worst: 8e-15 over 40000 programs).
constexpr double kExact = 1e-10;
// Sixth-order differences with h = 1e-3 against AD: 1e-8 in the same measure (observed worst:
// 2.4e-10 over 40000 programs), so a derivative rule off by ~1e-7 relative is caught.
constexpr double kPreciseTolerance = 1e-8;

void check_finite_differences(const Program& prog) {
  const Tensor x = point(prog);
  const auto f_vector = [&](const Var& v) { return vector_output(prog, v); };
  const auto f_scalar = [&](const Var& v) { return scalar_output(prog, v); };
  autodiff::CheckOptions options;
  options.directions = 2;
  options.seed = 12345;
  options.tolerance = kFiniteDifferenceTolerance;
  const auto vector_report = autodiff::check_derivatives(f_vector, x, options);
  RC_LOG() << "vector output: " << vector_report.summary() << "\n";
  RC_ASSERT(vector_report.passed());
  const auto scalar_report = autodiff::check_derivatives(f_scalar, x, options);
  RC_LOG() << "scalar output: " << scalar_report.summary() << "\n";
  RC_ASSERT(scalar_report.gradient_error.has_value());
  RC_ASSERT(scalar_report.hvp_error.has_value());
  RC_ASSERT(scalar_report.passed());
}

Tensor unit_direction(std::size_t n, std::size_t salt) {
  Tensor v = Tensor::zeros(Shape{n});
  for (std::size_t i = 0; i < n; ++i) v.flat(i) = std::sin(1.0 + static_cast<double>(i * 7 + salt));
  return v;
}

// d/dt g(x + t v) at t = 0 by the sixth-order central stencil (coefficients 3/4, -3/20, 1/60 at
// ±h, ±2h, ±3h): truncation ~ h⁶ g⁽⁷⁾ / 140, rounding ~ 2 eps |g| / h.
template <class G>
Tensor directional_derivative(G g, const Tensor& x, const Tensor& v, double h) {
  static const double c[] = {3.0 / 4.0, -3.0 / 20.0, 1.0 / 60.0};
  Tensor acc;
  for (int k = 1; k <= 3; ++k) {
    const double t = k * h;
    const Tensor d = autodiff::scale(autodiff::sub(g(autodiff::add(x, autodiff::scale(v, t))),
                                                   g(autodiff::sub(x, autodiff::scale(v, t)))), c[k - 1] / h);
    acc = k == 1 ? d : autodiff::add(acc, d);
  }
  return acc;
}

double fd_error(const Tensor& a, const Tensor& b) {
  double m = 0.0, s = 1.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, std::abs(a.flat(i) - b.flat(i)));
    s = std::max({s, std::abs(a.flat(i)), std::abs(b.flat(i))});
  }
  return std::isfinite(m) ? m / s : INFINITY;
}

constexpr double kStencilStep = 1e-3;
// The same comparisons as check_derivatives, with a sixth-order stencil instead of the second-order
// one, so that much smaller errors in a derivative rule show.
void check_precise_finite_differences(const Program& prog) {
  const Tensor x = point(prog);
  const std::size_t n = x.size();
  const auto f_vector = [&](const Var& v) { return vector_output(prog, v); };
  const auto f_scalar = [&](const Var& v) { return scalar_output(prog, v); };
  const auto plain_vector = [&](const Tensor& at) { return vector_output(prog, at); };
  const auto plain_scalar = [&](const Tensor& at) { return scalar_output(prog, at); };
  const auto gradient_at = [&](const Tensor& at) { return autodiff::grad(f_scalar, at); };
  Tensor v = unit_direction(n, 17);
  v = autodiff::scale(v, 1.0 / std::sqrt(autodiff::dot(v, v).item()));
  const Tensor fd = directional_derivative(plain_vector, x, v, kStencilStep);
  const Tensor u = unit_direction(fd.size(), 23);
  const double jvp_err = fd_error(autodiff::jvp(f_vector, x, v).second, fd);
  const double vjp_err = fd_error(autodiff::dot(autodiff::vjp(f_vector, x, u).second, v), autodiff::dot(u, fd));
  const Tensor fd_s = directional_derivative(plain_scalar, x, v, kStencilStep);
  const double grad_err = fd_error(autodiff::dot(gradient_at(x), v), fd_s);
  const Tensor fd_hv = directional_derivative(gradient_at, x, v, kStencilStep);
  const double hvp_err = fd_error(autodiff::hvp(f_scalar, x, v), fd_hv);
  RC_LOG() << "sixth-order differences: jvp " << jvp_err << ", vjp " << vjp_err << ", gradient " << grad_err
           << ", hvp " << hvp_err << "\n";
  RC_ASSERT(jvp_err <= kPreciseTolerance);
  RC_ASSERT(vjp_err <= kPreciseTolerance);
  RC_ASSERT(grad_err <= kPreciseTolerance);
  RC_ASSERT(hvp_err <= kPreciseTolerance);
}

void check_jacobians(const Program& prog) {
  const Tensor x = point(prog);
  const std::size_t n = x.size();
  const auto f = [&](const Var& v) { return vector_output(prog, v); };
  // The recorded values are the plain values, bit for bit (same value functions).
  const Tensor plain = vector_output(prog, x);
  const Tensor jf = autodiff::jacfwd(f, x);
  const Tensor jr = autodiff::jacrev(f, x);
  const std::size_t m = plain.size();
  RC_ASSERT(autodiff::all_finite(plain));
  RC_ASSERT(jf.shape() == (Shape{m, n}));
  RC_ASSERT(jr.shape() == (Shape{m, n}));
  {
    autodiff::TapeScope scope;
    const Var y = f(scope.tape().variable(x));
    RC_ASSERT(y.value().shape() == plain.shape());
    RC_ASSERT(std::equal(plain.data(), plain.data() + m, y.value().data()));
  }
  const double err = autodiff::max_relative_difference(jf, jr);
  RC_LOG() << "jacfwd vs jacrev: " << err << "\njacfwd =\n" << jf << "\njacrev =\n" << jr << "\n";
  RC_ASSERT(err <= kExact);  // forward and reverse Jacobians agree to 1e-10 (relative)
  RC_ASSERT(autodiff::all_finite(jf));
  // jvp and vjp against the Jacobian (1e-10 relative).
  const Tensor v = unit_direction(n, 3);
  const Tensor u = unit_direction(m, 5);
  const auto [y1, jv] = autodiff::jvp(f, x, v);
  const auto [y2, jtu] = autodiff::vjp(f, x, u);
  RC_ASSERT(autodiff::max_relative_difference(jv, autodiff::matmul(jr, v)) <= kExact);
  RC_ASSERT(autodiff::max_relative_difference(jtu, autodiff::matmul(u, jf)) <= kExact);
  RC_ASSERT(autodiff::max_relative_difference(y1, plain) == 0.0);
  RC_ASSERT(autodiff::max_relative_difference(y2, plain) == 0.0);
}

void check_hessians(const Program& prog) {
  const Tensor x = point(prog);
  const std::size_t n = x.size();
  const auto f = [&](const Var& v) { return scalar_output(prog, v); };
  const Tensor h = autodiff::hessian(f, x);                            // forward over reverse
  const Tensor h_rr = autodiff::jacrev(autodiff::grad_fn(f), x);       // reverse over reverse
  const Tensor h_fr = autodiff::jacfwd(autodiff::grad_fn(f), x);       // forward over reverse, spelled out
  RC_ASSERT(h.shape() == (Shape{n, n}));
  RC_ASSERT(h_rr.shape() == (Shape{n, n}));
  RC_ASSERT(autodiff::all_finite(h));
  const double symmetry = autodiff::max_relative_difference(h, autodiff::transpose(h));
  const double rr = autodiff::max_relative_difference(h, h_rr);
  const double fr = autodiff::max_relative_difference(h, h_fr);
  const Tensor v = unit_direction(n, 11);
  const Tensor hv = autodiff::hvp(f, x, v);
  const double hvp_err = autodiff::max_relative_difference(hv, autodiff::matmul(h, v));
  // Reverse-over-reverse HVP: the gradient of x -> <∇f(x), v>.
  const Tensor hv_rr = autodiff::grad(
      [&](const Var& y) { return autodiff::dot(autodiff::gradient_var(f(y), y), Var(v)); }, x);
  const double hvp_rr_err = autodiff::max_relative_difference(hv_rr, hv);
  // The gradient agrees with the one-row Jacobian of the scalar output.
  const Tensor g = autodiff::grad(f, x);
  const double grad_err = autodiff::max_relative_difference(g, autodiff::reshape(autodiff::jacfwd(f, x), Shape{n}));
  RC_LOG() << "hessian =\n" << h << "\nsymmetry " << symmetry << ", vs jacrev(grad_fn) " << rr
           << ", vs jacfwd(grad_fn) " << fr << ", hvp " << hvp_err << ", reverse-over-reverse hvp " << hvp_rr_err
           << ", grad vs jacfwd " << grad_err << "\n";
  RC_ASSERT(symmetry <= kExact);  // all 1e-10, relative
  RC_ASSERT(rr <= kExact);
  RC_ASSERT(fr <= kExact);
  RC_ASSERT(hvp_err <= kExact);
  RC_ASSERT(hvp_rr_err <= kExact);
  RC_ASSERT(grad_err <= kExact);
}

// A program recorded at x and replayed at x' (Tape::replay) gives, bitwise, the values and the
// gradient of recording it at x'; descend then steps x' by −step ∇ (1e-14 relative: these
// programs read x through slices, so the gradient is formed first).
void check_replay(const Program& prog) {
  const Tensor x = point(prog);
  Tensor moved = x;  // stays in [-2, 2], where the programs' bounds hold
  for (std::size_t i = 0; i < moved.size(); ++i) moved.flat(i) = 0.9 * x.flat(i) + 0.05;
  autodiff::TapeScope fresh;
  const Var at_moved = fresh.tape().variable(moved);
  const Var expected = scalar_output(prog, at_moved);
  const Tensor expected_gradient = autodiff::gradient(expected, at_moved);

  autodiff::TapeScope scope;
  autodiff::Tape& tape = scope.tape();
  const Var v = tape.variable(x);
  const Var y = scalar_output(prog, v);
  tape.set_value(v, moved);
  tape.replay(v.index() + 1);
  RC_ASSERT(autodiff::max_relative_difference(y.value(), expected.value()) == 0.0);
  RC_ASSERT(autodiff::max_relative_difference(autodiff::gradient(y, v), expected_gradient) == 0.0);
  const double step = 0.01;
  autodiff::descend(y, v, step);
  Tensor stepped = moved;
  for (std::size_t i = 0; i < stepped.size(); ++i) stepped.flat(i) -= step * expected_gradient.flat(i);
  RC_ASSERT(autodiff::max_relative_difference(v.value(), stepped) <= 1e-14);
}

// Runs one check on one fixed program as a rapidcheck property (once), so RC_ASSERT works.
template <class Check>
rc::detail::TestResult run_once(Check check, const Program& prog) {
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  params.maxSuccess = 1;
  rc::detail::TestMetadata metadata;
  return rc::detail::checkTestable([&] { check(prog); }, metadata, params);
}

}  // namespace randprog

using namespace randprog;

TEST_CASE("random programs: derivatives match central finite differences", "[engine][random_programs]") {
  prop_n("gradcheck on random programs", 300, [] {
    const RawProgram raw = *gen_program();
    check_finite_differences(resolve(raw));
  });
}

TEST_CASE("random programs: derivatives match sixth-order finite differences", "[engine][random_programs]") {
  prop_n("precise gradcheck on random programs", 500, [] {
    const RawProgram raw = *gen_program();
    check_precise_finite_differences(resolve(raw));
  });
}

TEST_CASE("random programs: jacfwd equals jacrev and jvp/vjp agree", "[engine][random_programs]") {
  prop_n("jacobians of random programs", kPrograms, [] {
    const RawProgram raw = *gen_program();
    check_jacobians(resolve(raw));
  });
}

TEST_CASE("random programs: Hessians are symmetric and agree across nestings", "[engine][random_programs]") {
  prop_n("hessians of random programs", kPrograms, [] {
    const RawProgram raw = *gen_program();
    check_hessians(resolve(raw));
  });
}

TEST_CASE("random programs: a replayed tape equals a fresh recording and descend steps", "[engine][random_programs][replay]") {
  prop_n("replay of random programs", 300, [] {
    const RawProgram raw = *gen_program();
    check_replay(resolve(raw));
  });
}

// Every kind of instruction, in four fixed programs (the random ones cover them only by chance),
// run through all four checks; and a check that the resolver keeps (nearly) every kind it is given.
TEST_CASE("random programs: every instruction kind in fixed programs", "[engine][random_programs]") {
  for (int shift = 0; shift < 4; ++shift) {
    RawProgram raw;
    raw.x = {0.3, -1.2, 0.7, 1.9, -0.4, 0.05};
    raw.x.resize(static_cast<std::size_t>(3 + shift % 4));
    for (int k = 0; k < kKinds; ++k)
      raw.code.push_back(RawInstr{k, k * 7 + shift, k * 3 + 1, k * 5 + shift, k + 2 * shift});
    raw.outputs = {3 + shift, 17};
    raw.scalar_kind = shift % 3;
    const Program prog = resolve(raw);
    INFO(listing(prog));
    int kinds_seen = 0;
    for (int k = 0; k < kKinds; ++k)
      kinds_seen += std::any_of(prog.code.begin(), prog.code.end(), [&](const Instr& in) { return in.kind == k; });
    CHECK(kinds_seen >= kKinds - 4);  // sum_all, stack and tanh may stand in for others
    const auto as_property = [&](auto check) {
      const auto result = run_once(check, prog);
      std::ostringstream ss;
      rc::detail::printResultMessage(result, ss);
      INFO(ss.str());
      CHECK(result.template is<rc::detail::SuccessResult>());
    };
    as_property(check_finite_differences);
    as_property(check_precise_finite_differences);
    as_property(check_jacobians);
    as_property(check_hessians);
    as_property(check_replay);
  }
}

// The checks can fail: with sin recorded by an op whose VJP (or JVP) rule is 1% off, each check
// rejects a small fixed program that uses sin.
TEST_CASE("random programs: the properties detect a wrong derivative rule", "[engine][random_programs]") {
  RawProgram raw;
  raw.x = {0.3, -1.2, 0.7};
  raw.code = {RawInstr{kSin, 0, 0, 0, 0}, RawInstr{kMul, 1, 0, 0, 0}};  // v2 = sin(x) * x
  const Program prog = resolve(raw);
  const auto fails = [&](Fault fault, auto check) {
    g_fault = fault;
    const auto result = run_once(check, prog);
    g_fault = Fault::none;
    return result.template is<rc::detail::FailureResult>();
  };
  // Sanity: without the fault all four pass.
  CHECK_FALSE(fails(Fault::none, check_finite_differences));
  CHECK_FALSE(fails(Fault::none, check_precise_finite_differences));
  CHECK_FALSE(fails(Fault::none, check_jacobians));
  CHECK_FALSE(fails(Fault::none, check_hessians));
  CHECK(fails(Fault::wrong_vjp, check_finite_differences));
  CHECK(fails(Fault::wrong_jvp, check_finite_differences));
  CHECK(fails(Fault::wrong_vjp, check_precise_finite_differences));
  CHECK(fails(Fault::wrong_jvp, check_precise_finite_differences));
  CHECK(fails(Fault::wrong_vjp, check_jacobians));
  CHECK(fails(Fault::wrong_jvp, check_jacobians));
  CHECK(fails(Fault::wrong_jvp, check_hessians));  // hvp / hessian (forward over reverse) vs reverse over reverse
  CHECK(fails(Fault::wrong_vjp, check_hessians));  // the gradient disagrees with jacfwd
}
