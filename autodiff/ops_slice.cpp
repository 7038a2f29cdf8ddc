// Slicing ops: parts of a tensor along an axis and their adjoints. slice <-> embed, a block of a
// flat vector (segment) <-> assemble, concat -> slices; stack is concat of reshaped inputs.
#include <fmt/format.h>

#include "autodiff/axes.hpp"
#include "autodiff/record.hpp"

namespace autodiff {
namespace op {
using namespace detail;

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
  // The VJP written straight into x̄'s range: a layer's share of a flat weight vector's gradient.
  static void accumulate_vjp(const Rule<Tensor>& r, int, const Tensor& g, Accumulator& x_bar) {
    const std::size_t axis = position(r.attrs().axis, g.dim());
    const AxisView from(g.shape(), axis), to(x_bar.tensor().shape(), axis);
    const std::size_t first = r.attrs().start * to.inner, count = from.length * from.inner, row = to.length * to.inner;
    const bool fresh = x_bar.claim(first, count, row);
    write_rows(g.data(), count, from.outer, x_bar.tensor().data() + first, row, !fresh, x_bar.scale());
  }
};

// x[..., start : start + size] with the last axis unfolded into `shape` (size = its element
// count): how a layer views its block of a flat parameter vector, in one copy. Its adjoint adds
// the block's cotangent into that range. Leading axes (a batch) pass through.
struct Segment {
  static constexpr const char* name = "segment";
  static constexpr int block_input = 0;
  static Tensor value(In in, const Attrs& a) {
    const Tensor& x = in[0];
    require_rank(name, x, 1);
    const std::size_t length = x.shape().back(), size = shape_size(a.shape);
    if (a.start + size > length)
      throw Error(fmt::format("segment: [{}, {}) is out of range for a last axis of length {} (shape {})", a.start,
                              a.start + size, length, to_string(x.shape())));
    const Shape lead = head(x.shape(), x.dim() - 1);
    Tensor out = Tensor::empty(join_shapes(lead, a.shape));
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
  // For the recorded sweep: the block's cotangent as it is, and where it starts (see assemble).
  static bool vjp_piece(const Rule<Var>& r, int, const Var& g, Var& piece, std::size_t& start) {
    start = r.attrs().start;
    piece = g;  // assemble reads it flat
    return true;
  }
  static bool add_piece_tangent(const Rule<Var>& r, int, const Var& g, Tensor& x_dot_bar) {
    if (g.has_tangent()) add_rows(g.tangent().data(), g.size(), 1, x_dot_bar.data() + r.attrs().start, 0);
    return true;
  }
  static void accumulate_vjp(const Rule<Tensor>& r, int, const Tensor& g, Accumulator& x_bar) {
    Tensor& total = x_bar.tensor();
    const std::size_t length = total.shape().back(), size = shape_size(r.attrs().shape);
    const bool fresh = x_bar.claim(r.attrs().start, size, length);
    write_rows(g.data(), size, total.size() / length, total.data() + r.attrs().start, length, !fresh,
               x_bar.scale());
  }
};

// Zeros (lead..., count) with each piece added at its offset along the last axis: the sum of the
// pieces' embeddings in one op (how the recorded sweep gathers a flat vector's cotangent from its
// segments). A piece is (lead..., any shape), its trailing axes read flat (a layer's (out, in)
// block goes in as it is, uncopied). Piece i's cotangent is its segment of the output's.
struct Assemble {
  static constexpr const char* name = "assemble";
  static Tensor value(In in, const Attrs& a) {
    if (in.size() == 0 || a.offsets.size() != in.size())
      throw Error(fmt::format("assemble: {} pieces for {} offsets", in.size(), a.offsets.size()));
    require_rank(name, in[0], a.lead);
    const Shape lead = head(in[0].shape(), a.lead);
    Tensor out = Tensor::zeros(join_shapes(lead, {a.count}));
    const std::size_t outer = shape_size(lead);
    for (std::uint32_t i = 0; i < in.size(); ++i) {
      const Tensor& piece = in[i];
      const std::size_t length = outer == 0 ? 0 : piece.size() / outer;
      if (piece.dim() < a.lead || head(piece.shape(), a.lead) != lead || a.offsets[i] + length > a.count)
        throw Error(fmt::format("assemble: piece of shape {} at {} does not fit shape {}", to_string(piece.shape()),
                                a.offsets[i], to_string(out.shape())));
      add_rows(piece.data(), length, outer, out.data() + a.offsets[i], a.count);
    }
    return out;
  }
  template <class T> static T vjp(const Rule<T>& r, int i, const T& g) {
    const Shape piece = tail(r.in_shape(static_cast<std::uint32_t>(i)), r.attrs().lead);
    return segment(g, r.attrs().offsets[static_cast<std::size_t>(i)], piece);
  }
  template <class T> static T jvp(const Rule<T>& r, int i, const T& d) {
    const std::size_t lead = r.lead() + r.attrs().lead;
    const T flat = reshape(d, {shape_size(tail(r.in_shape(static_cast<std::uint32_t>(i)), r.attrs().lead))}, lead);
    return embed(flat, r.attrs().offsets[static_cast<std::size_t>(i)], r.attrs().count, -1);
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

}  // namespace op

using namespace detail;

template <class T>
T slice_any(const T& x, std::size_t start, std::size_t count, std::int64_t axis) {
  return apply<op::Slice>(Attrs{.axis = negative_axis("slice", axis, x.dim()), .start = start, .count = count}, x);
}
template <class T>
T embed_any(const T& x, std::size_t start, std::size_t length, std::int64_t axis) {
  return apply<op::Embed>(Attrs{.axis = negative_axis("embed", axis, x.dim()), .start = start, .count = length}, x);
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
    expanded.push_back(reshape(x, join_shapes(s, tail(x.shape(), pos))));
  }
  return concat(expanded, static_cast<std::int64_t>(pos));
}

Tensor slice(const Tensor& x, std::size_t start, std::size_t count, std::int64_t axis) {
  return slice_any(x, start, count, axis);
}
Var slice(const Var& x, std::size_t start, std::size_t count, std::int64_t axis) {
  return slice_any(x, start, count, axis);
}
Tensor segment(const Tensor& x, std::size_t start, const Shape& shape) {
  return eval<op::Segment>(Attrs{.start = start, .shape = shape}, x);
}
Var segment(const Var& x, std::size_t start, const Shape& shape) {
  return record<op::Segment>(Attrs{.start = start, .shape = shape}, x);
}
Var assemble(const std::vector<Var>& pieces, const Shape& offsets, std::size_t length, std::size_t lead) {
  if (pieces.empty()) throw Error("assemble: needs at least one piece");
  return record_n<op::Assemble>(pieces.data(), static_cast<std::uint32_t>(pieces.size()),
                                Attrs{.count = length, .lead = lead, .offsets = offsets});
}
Tensor embed(const Tensor& x, std::size_t start, std::size_t length, std::int64_t axis) {
  return embed_any(x, start, length, axis);
}
Var embed(const Var& x, std::size_t start, std::size_t length, std::int64_t axis) {
  return embed_any(x, start, length, axis);
}
Tensor stack(const std::vector<Tensor>& xs, std::int64_t axis) { return stack_any(xs, axis); }
Var stack(const std::vector<Var>& xs, std::int64_t axis) { return stack_any(xs, axis); }

}  // namespace autodiff
