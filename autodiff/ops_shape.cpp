// Shape ops and reductions. Each pairs with its adjoint: reshape <-> reshape, sum_to <->
// broadcast_to, slice <-> embed, concat -> slices, sum along an axis -> broadcast.
#include <fmt/format.h>
#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xtensor.hpp>

#include "autodiff/broadcast.hpp"
#include "autodiff/record.hpp"

namespace autodiff {
namespace {

Shape head(const Shape& s, std::size_t k) { return Shape(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(k)); }
Shape tail(const Shape& s, std::size_t k) { return Shape(s.begin() + static_cast<std::ptrdiff_t>(k), s.end()); }
Shape join(Shape a, const Shape& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// An axis given by the user (negative counts from the end) as a negative axis, checked.
std::int64_t negative_axis(const char* op, std::int64_t axis, std::size_t rank) {
  const auto r = static_cast<std::int64_t>(rank);
  if (axis < -r || axis >= r) throw Error(fmt::format("{}: axis {} is out of range for {} axes", op, axis, rank));
  return axis < 0 ? axis : axis - r;
}
std::size_t position(std::int64_t negative_axis, std::size_t rank) {
  return static_cast<std::size_t>(static_cast<std::int64_t>(rank) + negative_axis);
}
void require_lead(const char* op, const Tensor& x, std::size_t lead) {
  if (lead > x.dim())
    throw Error(fmt::format("{}: {} leading axes asked of shape {}", op, lead, to_string(x.shape())));
}

// A tensor seen as (outer, length, inner) around one axis: slicing, embedding and concatenation
// copy runs of `inner` contiguous elements.
struct AxisView {
  std::size_t outer = 1, length = 1, inner = 1;
  AxisView(const Shape& shape, std::size_t axis) : length(shape[axis]) {
    for (std::size_t k = 0; k < axis; ++k) outer *= shape[k];
    for (std::size_t k = axis + 1; k < shape.size(); ++k) inner *= shape[k];
  }
};

// Copies `count` positions along the axis: from [from, from + count) of src to [to, to + count) of dst.
void copy_along(const Tensor& src, std::size_t from, Tensor& dst, std::size_t to, std::size_t count, std::size_t axis) {
  const AxisView s(src.shape(), axis), d(dst.shape(), axis);
  for (std::size_t o = 0; o < s.outer; ++o) {
    const double* in = src.data() + (o * s.length + from) * s.inner;
    double* out = dst.data() + (o * d.length + to) * d.inner;
    std::copy(in, in + count * s.inner, out);
  }
}

// Adds `src` into positions [to, to + src's length) along the axis of dst.
void add_along(const Tensor& src, Tensor& dst, std::size_t to, std::size_t axis) {
  const AxisView s(src.shape(), axis), d(dst.shape(), axis);
  for (std::size_t o = 0; o < s.outer; ++o) {
    const double* in = src.data() + o * s.length * s.inner;
    double* out = dst.data() + (o * d.length + to) * d.inner;
    for (std::size_t i = 0, n = s.length * s.inner; i < n; ++i) out[i] += in[i];
  }
}

// Sums one axis, keeping it with length 1: the data is viewed as (outer, length, inner).
Array sum_keep_axis(const Array& x, std::size_t axis) {
  const Shape& shape = x.shape();
  std::size_t outer = 1, inner = 1;
  for (std::size_t k = 0; k < axis; ++k) outer *= shape[k];
  for (std::size_t k = axis + 1; k < shape.size(); ++k) inner *= shape[k];
  const std::size_t length = shape[axis];
  Shape out_shape = shape;
  out_shape[axis] = 1;
  Array out = Array::from_shape(out_shape);
  out.fill(0.0);
  const double* in = x.data();
  double* o = out.data();
  for (std::size_t a = 0; a < outer; ++a)
    for (std::size_t l = 0; l < length; ++l) {
      const double* row = in + (a * length + l) * inner;
      double* acc = o + a * inner;
      for (std::size_t i = 0; i < inner; ++i) acc[i] += row[i];
    }
  return out;
}

}  // namespace

namespace op {

// Same elements, new shape.
struct Reshape {
  static constexpr const char* name = "reshape";
  static Tensor value(In in, const Attrs& a) {
    const Tensor& x = in[0];
    require_lead(name, x, a.lead);
    const Shape target = join(head(x.shape(), a.lead), a.shape);
    if (shape_size(target) != x.size())
      throw Error(fmt::format("reshape: cannot view shape {} as {}", to_string(x.shape()), to_string(target)));
    Array out = x.xt();
    out.reshape(target);
    return Tensor(std::move(out));
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
    std::vector<std::size_t> axes;
    for (std::size_t j = 0; j < extra; ++j) axes.push_back(a.lead + j);
    for (std::size_t j = 0; j < target.size(); ++j) {
      if (rest[extra + j] == target[j]) continue;
      if (target[j] != 1)
        throw Error(fmt::format("sum_to: cannot reduce shape {} to {}", to_string(rest), to_string(target)));
      axes.push_back(a.lead + extra + j);
    }
    Array out = x.xt();
    for (std::size_t axis : axes) out = sum_keep_axis(out, axis);
    out.reshape(join(head(x.shape(), a.lead), target));
    return Tensor(std::move(out));
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
    lifted = join(lifted, rest);
    Tensor out = Tensor::empty(join(head(x.shape(), a.lead), target));
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

// x[..., start:start+count, ...] along a (negative) axis.
struct Slice {
  static constexpr const char* name = "slice";
  static Tensor value(In in, const Attrs& a) {
    const Tensor& x = in[0];
    const std::size_t length = x.shape()[position(a.axis, x.dim())];
    if (a.start + a.count > length)
      throw Error(fmt::format("slice: [{}, {}) is out of range for axis {} of shape {}", a.start, a.start + a.count,
                              a.axis, to_string(x.shape())));
    Shape shape = x.shape();
    shape[position(a.axis, x.dim())] = a.count;
    Tensor out = Tensor::empty(shape);
    copy_along(x, a.start, out, 0, a.count, position(a.axis, x.dim()));
    return out;
  }
  template <class T> static T vjp(const Rule<T>& r, int, const T& g) {
    const Attrs& a = r.attrs();
    const Shape in = r.in_shape(0);
    return embed(g, a.start, in[position(a.axis, in.size())], a.axis);
  }
  template <class T> static T jvp(const Rule<T>& r, int, const T& d) {
    return slice(d, r.attrs().start, r.attrs().count, r.attrs().axis);
  }
  // The VJP added straight into x̄'s range: a layer's share of a flat weight vector's gradient.
  static void accumulate_vjp(const Rule<Tensor>& r, int, const Tensor& g, Tensor& x_bar) {
    add_along(g, x_bar, r.attrs().start, position(r.attrs().axis, x_bar.dim()));
  }
};

// x[..., start : start + size] with the last axis unfolded into `shape` (size = its element
// count): how a layer views its block of a flat parameter vector, in one copy. Its adjoint adds
// the block's cotangent into that range. Leading axes (a batch) pass through.
struct Segment {
  static constexpr const char* name = "segment";
  static Tensor value(In in, const Attrs& a) {
    const Tensor& x = in[0];
    require_rank(name, x, 1);
    const std::size_t length = x.shape().back(), size = shape_size(a.shape);
    if (a.start + size > length)
      throw Error(fmt::format("segment: [{}, {}) is out of range for a last axis of length {} (shape {})", a.start,
                              a.start + size, length, to_string(x.shape())));
    const Shape lead = head(x.shape(), x.dim() - 1);
    Tensor out = Tensor::empty(join(lead, a.shape));
    for (std::size_t o = 0, outer = shape_size(lead); o < outer; ++o)
      std::copy(x.data() + o * length + a.start, x.data() + o * length + a.start + size, out.data() + o * size);
    return out;
  }
  template <class T> static T vjp(const Rule<T>& r, int, const T& g) {
    const Attrs& a = r.attrs();
    const std::size_t size = shape_size(a.shape);
    return embed(reshape(g, {size}, g.dim() - a.shape.size()), a.start, r.in_shape(0).back(), -1);
  }
  template <class T> static T jvp(const Rule<T>& r, int, const T& d) {
    return segment(d, r.attrs().start, r.attrs().shape);
  }
  // For the recorded sweep: the block's cotangent, flat, and where it starts (see assemble).
  static Var vjp_piece(const Rule<Var>& r, int, const Var& g, std::size_t& start) {
    start = r.attrs().start;
    return reshape(g, {shape_size(r.attrs().shape)}, g.dim() - r.attrs().shape.size());
  }
  static void accumulate_vjp(const Rule<Tensor>& r, int, const Tensor& g, Tensor& x_bar) {
    const std::size_t length = x_bar.shape().back(), size = shape_size(r.attrs().shape), start = r.attrs().start;
    for (std::size_t o = 0, outer = x_bar.size() / length; o < outer; ++o) {
      const double* in = g.data() + o * size;
      double* out = x_bar.data() + o * length + start;
      for (std::size_t i = 0; i < size; ++i) out[i] += in[i];
    }
  }
};

// Zeros of length `count` along the last axis with each piece added at its offset: the sum of
// the pieces' embeddings in one op (how the recorded sweep gathers a flat vector's cotangent from
// its segments). Piece i's cotangent is its segment of the output's.
struct Assemble {
  static constexpr const char* name = "assemble";
  static Tensor value(In in, const Attrs& a) {
    if (in.size() == 0 || a.offsets.size() != in.size())
      throw Error(fmt::format("assemble: {} pieces for {} offsets", in.size(), a.offsets.size()));
    const Shape lead = head(in[0].shape(), in[0].dim() - 1);
    Tensor out = Tensor::zeros(join(lead, {a.count}));
    for (std::uint32_t i = 0; i < in.size(); ++i) {
      const Tensor& piece = in[i];
      if (piece.dim() != lead.size() + 1 || head(piece.shape(), lead.size()) != lead ||
          a.offsets[i] + piece.shape().back() > a.count)
        throw Error(fmt::format("assemble: piece of shape {} at {} does not fit shape {}", to_string(piece.shape()),
                                a.offsets[i], to_string(out.shape())));
      add_along(piece, out, a.offsets[i], lead.size());
    }
    return out;
  }
  template <class T> static T vjp(const Rule<T>& r, int i, const T& g) {
    return segment(g, r.attrs().offsets[static_cast<std::size_t>(i)], {r.in_shape(static_cast<std::uint32_t>(i)).back()});
  }
  template <class T> static T jvp(const Rule<T>& r, int i, const T& d) {
    return embed(d, r.attrs().offsets[static_cast<std::size_t>(i)], r.attrs().count, -1);
  }
};

// Zeros of length `count` along the axis, with x written at [start, start + x's length).
struct Embed {
  static constexpr const char* name = "embed";
  static Tensor value(In in, const Attrs& a) {
    const Tensor& x = in[0];
    const std::size_t pos = position(a.axis, x.dim());
    const std::size_t length = x.shape()[pos];
    if (a.start + length > a.count)
      throw Error(fmt::format("embed: [{}, {}) does not fit in length {}", a.start, a.start + length, a.count));
    Shape shape = x.shape();
    shape[pos] = a.count;
    Tensor out = Tensor::zeros(shape);
    copy_along(x, 0, out, a.start, length, pos);
    return out;
  }
  template <class T> static T vjp(const Rule<T>& r, int, const T& g) {
    const Attrs& a = r.attrs();
    const Shape in = r.in_shape(0);
    return slice(g, a.start, in[position(a.axis, in.size())], a.axis);
  }
  template <class T> static T jvp(const Rule<T>& r, int, const T& d) {
    return embed(d, r.attrs().start, r.attrs().count, r.attrs().axis);
  }
};

// Joins tensors along an existing axis; input i's cotangent is its slice of the output's.
struct Concat {
  static constexpr const char* name = "concat";
  static Tensor value(In in, const Attrs& a) {
    if (in.size() == 0) throw Error("concat: needs at least one tensor");
    const Tensor& first = in[0];
    const std::size_t pos = position(a.axis, first.dim());
    Shape shape = first.shape();
    shape[pos] = 0;
    for (std::uint32_t i = 0; i < in.size(); ++i) {
      Shape s = in[i].shape();
      if (s.size() != first.dim())
        throw Error(fmt::format("concat: shapes {} and {} differ in rank", to_string(first.shape()), to_string(s)));
      shape[pos] += s[pos];
      s[pos] = first.shape()[pos];
      if (s != first.shape())
        throw Error(fmt::format("concat: shapes {} and {} differ off axis {}", to_string(first.shape()),
                                to_string(in[i].shape()), a.axis));
    }
    Tensor out = Tensor::empty(shape);  // the pieces cover it
    std::size_t offset = 0;
    for (std::uint32_t i = 0; i < in.size(); ++i) {
      const std::size_t length = in[i].shape()[pos];
      copy_along(in[i], 0, out, offset, length, pos);
      offset += length;
    }
    return out;
  }
  template <class T> static std::size_t offset(const Rule<T>& r, int i) {
    std::size_t off = 0;
    for (int j = 0; j < i; ++j) {
      const Shape s = r.in_shape(static_cast<std::uint32_t>(j));
      off += s[position(r.attrs().axis, s.size())];
    }
    return off;
  }
  template <class T> static T vjp(const Rule<T>& r, int i, const T& g) {
    const Shape s = r.in_shape(static_cast<std::uint32_t>(i));
    return slice(g, offset(r, i), s[position(r.attrs().axis, s.size())], r.attrs().axis);
  }
  template <class T> static T jvp(const Rule<T>& r, int i, const T& d) {
    const std::int64_t axis = r.attrs().axis;
    const std::size_t total = offset(r, static_cast<int>(r.n_inputs()));
    return embed(d, offset(r, i), total, axis);
  }
};

// Sum along one (negative) axis, which disappears.
struct SumAxis {
  static constexpr const char* name = "sum";
  static Tensor value(In in, const Attrs& a) {
    const Tensor& x = in[0];
    const std::size_t axis = position(a.axis, x.dim());
    Array out = sum_keep_axis(x.xt(), axis);
    Shape shape = x.shape();
    shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(axis));
    out.reshape(shape);
    return Tensor(std::move(out));
  }
  template <class T> static T vjp(const Rule<T>& r, int, const T& g) {
    Shape kept = r.in_shape(0);
    kept[position(r.attrs().axis, kept.size())] = 1;
    return broadcast_to(reshape(g, kept, r.lead()), r.in_shape(0), r.lead());
  }
  template <class T> static T jvp(const Rule<T>& r, int, const T& d) { return sum(d, r.attrs().axis); }
};

}  // namespace op

// ---- public functions -----------------------------------------------------------------------
template <class T>
T reshape_any(const T& x, const Shape& shape, std::size_t lead) {
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
T slice_any(const T& x, std::size_t start, std::size_t count, std::int64_t axis) {
  return apply<op::Slice>(Attrs{.axis = negative_axis("slice", axis, x.dim()), .start = start, .count = count}, x);
}
template <class T>
T embed_any(const T& x, std::size_t start, std::size_t length, std::int64_t axis) {
  return apply<op::Embed>(Attrs{.axis = negative_axis("embed", axis, x.dim()), .start = start, .count = length}, x);
}
template <class T>
T sum_axis_any(const T& x, std::int64_t axis) {
  return apply<op::SumAxis>(Attrs{.axis = negative_axis("sum", axis, x.dim())}, x);
}
template <class T>
T sum_all(const T& x) {
  return sum_axis_any(reshape_any(x, {x.size()}, 0), -1);
}
template <class T>
T mean_axis(const T& x, std::int64_t axis) {
  const std::size_t n = x.dim() == 0 ? 1 : x.shape()[position(negative_axis("mean", axis, x.dim()), x.dim())];
  return scale(sum_axis_any(x, axis), 1.0 / static_cast<double>(n));
}

Tensor concat(const std::vector<Tensor>& xs, std::int64_t axis) {
  if (xs.empty()) throw Error("concat: needs at least one tensor");
  std::vector<const Tensor*> values;
  for (const Tensor& x : xs) values.push_back(&x);
  return op::Concat::value(In(values.data(), static_cast<std::uint32_t>(values.size())),
                           Attrs{.axis = negative_axis("concat", axis, xs[0].dim())});
}
Var concat(const std::vector<Var>& xs, std::int64_t axis) {
  if (xs.empty()) throw Error("concat: needs at least one tensor");
  return record_n<op::Concat>(xs.data(), static_cast<std::uint32_t>(xs.size()),
                              Attrs{.axis = negative_axis("concat", axis, xs[0].dim())});
}

template <class T>
T stack_any(const std::vector<T>& xs, std::int64_t axis) {
  if (xs.empty()) throw Error("stack: needs at least one tensor");
  for (const T& x : xs)  // here, so the message names stack and the shapes given to it
    if (x.shape() != xs[0].shape())
      throw Error(fmt::format("stack: shapes {} and {} differ", to_string(xs[0].shape()), to_string(x.shape())));
  const std::size_t rank = xs[0].dim() + 1;
  const std::size_t pos = position(negative_axis("stack", axis, rank), rank);
  std::vector<T> expanded;
  for (const T& x : xs) {
    Shape s = head(x.shape(), pos);
    s.push_back(1);
    expanded.push_back(reshape_any(x, join(s, tail(x.shape(), pos)), 0));
  }
  return concat(expanded, static_cast<std::int64_t>(pos));
}

Tensor reshape(const Tensor& x, const Shape& shape, std::size_t lead) { return reshape_any(x, shape, lead); }
Var reshape(const Var& x, const Shape& shape, std::size_t lead) { return reshape_any(x, shape, lead); }
Tensor sum_to(const Tensor& x, const Shape& shape, std::size_t lead) { return sum_to_any(x, shape, lead); }
Var sum_to(const Var& x, const Shape& shape, std::size_t lead) { return sum_to_any(x, shape, lead); }
Tensor broadcast_to(const Tensor& x, const Shape& shape, std::size_t lead) { return broadcast_to_any(x, shape, lead); }
Var broadcast_to(const Var& x, const Shape& shape, std::size_t lead) { return broadcast_to_any(x, shape, lead); }
Tensor slice(const Tensor& x, std::size_t start, std::size_t count, std::int64_t axis) {
  return slice_any(x, start, count, axis);
}
Var slice(const Var& x, std::size_t start, std::size_t count, std::int64_t axis) {
  return slice_any(x, start, count, axis);
}
Var assemble(const std::vector<Var>& pieces, const Shape& offsets, std::size_t length) {
  if (pieces.empty()) throw Error("assemble: needs at least one piece");
  return record_n<op::Assemble>(pieces.data(), static_cast<std::uint32_t>(pieces.size()),
                                Attrs{.count = length, .offsets = offsets});
}

Tensor segment(const Tensor& x, std::size_t start, const Shape& shape) {
  return eval<op::Segment>(Attrs{.start = start, .shape = shape}, x);
}
Var segment(const Var& x, std::size_t start, const Shape& shape) {
  return record<op::Segment>(Attrs{.start = start, .shape = shape}, x);
}
Tensor embed(const Tensor& x, std::size_t start, std::size_t length, std::int64_t axis) {
  return embed_any(x, start, length, axis);
}
Var embed(const Var& x, std::size_t start, std::size_t length, std::int64_t axis) {
  return embed_any(x, start, length, axis);
}
Tensor sum(const Tensor& x) { return sum_all(x); }
Var sum(const Var& x) { return sum_all(x); }
Tensor sum(const Tensor& x, std::int64_t axis) { return sum_axis_any(x, axis); }
Var sum(const Var& x, std::int64_t axis) { return sum_axis_any(x, axis); }
Tensor mean(const Tensor& x) { return scale(sum_all(x), 1.0 / static_cast<double>(x.size())); }
Var mean(const Var& x) { return scale(sum_all(x), 1.0 / static_cast<double>(x.size())); }
Tensor mean(const Tensor& x, std::int64_t axis) { return mean_axis(x, axis); }
Var mean(const Var& x, std::int64_t axis) { return mean_axis(x, axis); }
Tensor stack(const std::vector<Tensor>& xs, std::int64_t axis) { return stack_any(xs, axis); }
Var stack(const std::vector<Var>& xs, std::int64_t axis) { return stack_any(xs, axis); }

}  // namespace autodiff
