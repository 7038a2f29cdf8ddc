// Shape ops and reductions. Each pairs with its adjoint: reshape <-> reshape, sum_to <->
// broadcast_to, sum along an axis -> broadcast.
#include <fmt/format.h>

#include "autodiff/axes.hpp"
#include "autodiff/broadcast.hpp"
#include "autodiff/record.hpp"

namespace autodiff {
namespace {

using namespace detail;

// Sums one axis of `shape`, keeping it with length 1: the data is viewed as (outer, length, inner).
Tensor sum_keep_axis(const double* in, const Shape& shape, std::size_t axis) {
  std::size_t outer = 1, inner = 1;
  for (std::size_t k = 0; k < axis; ++k) outer *= shape[k];
  for (std::size_t k = axis + 1; k < shape.size(); ++k) inner *= shape[k];
  const std::size_t length = shape[axis];
  Shape out_shape = shape;
  out_shape[axis] = 1;
  Tensor out = Tensor::zeros(out_shape);
  double* o = out.data();
  for (std::size_t a = 0; a < outer; ++a)
    for (std::size_t l = 0; l < length; ++l) {
      const double* row = in + (a * length + l) * inner;
      double* acc = o + a * inner;
      for (std::size_t i = 0; i < inner; ++i) acc[i] += row[i];
    }
  return out;
}
Tensor sum_keep_axis(const Tensor& x, std::size_t axis) { return sum_keep_axis(x.data(), x.shape(), axis); }

}  // namespace

namespace op {
using namespace detail;

// Same elements, new shape.
struct Reshape {
  static constexpr const char* name = "reshape";
  static Tensor value(In in, const Attrs& a) {
    const Tensor& x = in[0];
    require_lead(name, x, a.lead);
    Tensor out = x;
    out.reshape(join_shapes(head(x.shape(), a.lead), a.shape));  // checks the sizes, naming both shapes
    return out;
  }
  template <class T> static T vjp(const Rule<T>& r, int, const T& g) {
    const std::size_t lead = r.attrs().lead;
    return reshape(g, tail(r.in_shape(0), lead), r.lead() + lead);
  }
  template <class T> static T jvp(const Rule<T>& r, int, const T& d) {
    return reshape(d, r.attrs().shape, r.lead() + r.attrs().lead);
  }
};

// Sums away the axes that broadcasting to x's shape would have added or stretched.
struct SumTo {
  static constexpr const char* name = "sum_to";
  static Tensor value(In in, const Attrs& a) {
    const Tensor& x = in[0];
    require_lead(name, x, a.lead);
    const Shape rest = tail(x.shape(), a.lead);
    const Shape& target = a.shape;
    const std::size_t extra = rest.size() >= target.size() ? rest.size() - target.size() : 0;
    if (rest.size() < target.size())
      throw Error(fmt::format("sum_to: cannot reduce shape {} to {}", to_string(rest), to_string(target)));
    std::vector<std::size_t> stretched;  // axes of size 1 in the target
    for (std::size_t j = 0; j < target.size(); ++j) {
      if (rest[extra + j] == target[j]) continue;
      if (target[j] != 1)
        throw Error(fmt::format("sum_to: cannot reduce shape {} to {}", to_string(rest), to_string(target)));
      stretched.push_back(a.lead + 1 + j);  // its place once the extra axes are one
    }
    // The extra axes in one pass, seen as one axis between the lead and the target's axes.
    Shape merged = head(x.shape(), a.lead);
    merged.push_back(shape_size(head(rest, extra)));
    merged.insert(merged.end(), rest.begin() + static_cast<std::ptrdiff_t>(extra), rest.end());
    Tensor out = sum_keep_axis(x.data(), merged, a.lead);
    for (std::size_t axis : stretched) out = sum_keep_axis(out, axis);
    out.reshape(join_shapes(head(x.shape(), a.lead), target));
    return out;
  }
  template <class T> static T vjp(const Rule<T>& r, int, const T& g) {
    const std::size_t lead = r.attrs().lead;
    return broadcast_to(g, tail(r.in_shape(0), lead), r.lead() + lead);
  }
  template <class T> static T jvp(const Rule<T>& r, int, const T& d) {
    return sum_to(d, r.attrs().shape, r.lead() + r.attrs().lead);
  }
};

// Repeats x along new leading axes and along its axes of size 1.
struct BroadcastTo {
  static constexpr const char* name = "broadcast_to";
  static Tensor value(In in, const Attrs& a) {
    const Tensor& x = in[0];
    require_lead(name, x, a.lead);
    const Shape rest = tail(x.shape(), a.lead);
    const Shape& target = a.shape;
    if (rest.size() > target.size())
      throw Error(fmt::format("broadcast_to: cannot broadcast shape {} to {}", to_string(rest), to_string(target)));
    const std::size_t extra = target.size() - rest.size();
    for (std::size_t j = 0; j < rest.size(); ++j)
      if (rest[j] != target[extra + j] && rest[j] != 1)
        throw Error(fmt::format("broadcast_to: cannot broadcast shape {} to {}", to_string(rest), to_string(target)));
    Shape lifted = head(x.shape(), a.lead);  // x with size-1 axes where the new ones go
    for (std::size_t j = 0; j < extra; ++j) lifted.push_back(1);
    lifted = join_shapes(lifted, rest);
    Tensor out = Tensor::empty(join_shapes(head(x.shape(), a.lead), target));
    if (out.size() > 0)
      detail::broadcast_loop(out.shape(), x.data(), lifted, x.data(), lifted, out.data(),
                             [](double v, double) { return v; });
    return out;
  }
  template <class T> static T vjp(const Rule<T>& r, int, const T& g) {
    const std::size_t lead = r.attrs().lead;
    return sum_to(g, tail(r.in_shape(0), lead), r.lead() + lead);
  }
  template <class T> static T jvp(const Rule<T>& r, int, const T& d) {
    return broadcast_to(d, r.attrs().shape, r.lead() + r.attrs().lead);
  }
};

// Sum along one (negative) axis, which disappears.
struct SumAxis {
  static constexpr const char* name = "sum";
  static Tensor value(In in, const Attrs& a) {
    const Tensor& x = in[0];
    const std::size_t axis = position(a.axis, x.dim());
    Tensor out = sum_keep_axis(x, axis);
    Shape shape = x.shape();
    shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(axis));
    out.reshape(shape);
    return out;
  }
  template <class T> static T vjp(const Rule<T>& r, int, const T& g) {
    Shape kept = r.in_shape(0);
    kept[position(r.attrs().axis, kept.size())] = 1;
    return broadcast_to(reshape(g, kept, r.lead()), r.in_shape(0), r.lead());
  }
  template <class T> static T jvp(const Rule<T>& r, int, const T& d) { return sum(d, r.attrs().axis); }
};

// ‖a − b‖², the sum of squared differences of two tensors of one shape, in one node (a squared
// loss records it instead of sub, square and sum):
//   ā = 2 (a − b) ḡ,   b̄ = −ā,   d(‖a − b‖²) = Σ 2 (a − b) (ȧ − ḃ).
struct SquaredDistance {
  static constexpr const char* name = "squared_distance";
  static Tensor value(In in, const Attrs&) {
    const Tensor &a = in[0], &b = in[1];
    if (a.shape() != b.shape())
      throw Error(fmt::format("squared_distance: shapes {} and {} differ", to_string(a.shape()), to_string(b.shape())));
    double total = 0.0;
    for (std::size_t i = 0, n = a.size(); i < n; ++i) total += (a.data()[i] - b.data()[i]) * (a.data()[i] - b.data()[i]);
    return Tensor::full({}, total);
  }
  // 2 (a − b), times ±1 for input 0 or 1.
  template <class T> static T twice_difference(const Rule<T>& r, int i) {
    return i == 0 ? scale(r.x() - r.y(), 2.0) : scale(r.y() - r.x(), 2.0);
  }
  template <class T> static T vjp(const Rule<T>& r, int i, const T& g) {
    if constexpr (std::is_same_v<T, Tensor>) {  // one pass on numbers, without a batch
      if (g.dim() == 0) {
        const double sign = i == 0 ? 2.0 * g.item() : -2.0 * g.item();
        const Tensor &a = r.x(), &b = r.y();
        Tensor out = Tensor::empty(a.shape());
        for (std::size_t k = 0, n = a.size(); k < n; ++k) out.data()[k] = sign * (a.data()[k] - b.data()[k]);
        return out;
      }
    }
    return broadcast_to(g, r.in_shape(0), r.lead()) * twice_difference(r, i);
  }
  template <class T> static T jvp(const Rule<T>& r, int i, const T& d) {
    return sum_to(d * twice_difference(r, i), {}, r.lead());
  }
};

}  // namespace op

using namespace detail;

// ---- public functions -----------------------------------------------------------------------
template <class T>
T reshape_any(const T& x, const Shape& shape, std::size_t lead) {
  // To its own shape: the identity, with no copy and no node (rules reshape defensively).
  if (x.dim() == lead + shape.size() && std::equal(shape.begin(), shape.end(), x.shape().begin() + lead)) return x;
  return apply<op::Reshape>(Attrs{.lead = lead, .shape = shape}, x);
}
template <class T>
T sum_to_any(const T& x, const Shape& shape, std::size_t lead) {
  return apply<op::SumTo>(Attrs{.lead = lead, .shape = shape}, x);
}
template <class T>
T broadcast_to_any(const T& x, const Shape& shape, std::size_t lead) {
  return apply<op::BroadcastTo>(Attrs{.lead = lead, .shape = shape}, x);
}
template <class T>
T sum_axis_any(const T& x, std::int64_t axis) {
  return apply<op::SumAxis>(Attrs{.axis = negative_axis("sum", axis, x.dim())}, x);
}
template <class T>
T sum_all(const T& x) {
  return sum_to_any(x, {}, 0);
}
template <class T>
T mean_axis(const T& x, std::int64_t axis) {
  const std::size_t n = x.dim() == 0 ? 1 : x.shape()[position(negative_axis("mean", axis, x.dim()), x.dim())];
  return scale(sum_axis_any(x, axis), 1.0 / static_cast<double>(n));
}

Tensor reshape(const Tensor& x, const Shape& shape, std::size_t lead) { return reshape_any(x, shape, lead); }
Var reshape(const Var& x, const Shape& shape, std::size_t lead) { return reshape_any(x, shape, lead); }
Tensor sum_to(const Tensor& x, const Shape& shape, std::size_t lead) { return sum_to_any(x, shape, lead); }
Var sum_to(const Var& x, const Shape& shape, std::size_t lead) { return sum_to_any(x, shape, lead); }
Tensor broadcast_to(const Tensor& x, const Shape& shape, std::size_t lead) { return broadcast_to_any(x, shape, lead); }
Var broadcast_to(const Var& x, const Shape& shape, std::size_t lead) { return broadcast_to_any(x, shape, lead); }
Tensor sum(const Tensor& x) { return sum_all(x); }
Var sum(const Var& x) { return sum_all(x); }
Tensor sum(const Tensor& x, std::int64_t axis) { return sum_axis_any(x, axis); }
Var sum(const Var& x, std::int64_t axis) { return sum_axis_any(x, axis); }
Tensor squared_distance(const Tensor& a, const Tensor& b) { return eval<op::SquaredDistance>({}, a, b); }
Var squared_distance(const Var& a, const Var& b) { return record<op::SquaredDistance>({}, a, b); }
Tensor mean(const Tensor& x) { return scale(sum_all(x), 1.0 / static_cast<double>(x.size())); }
Var mean(const Var& x) { return scale(sum_all(x), 1.0 / static_cast<double>(x.size())); }
Tensor mean(const Tensor& x, std::int64_t axis) { return mean_axis(x, axis); }
Var mean(const Var& x, std::int64_t axis) { return mean_axis(x, axis); }

}  // namespace autodiff
