// How an op struct becomes a node on the tape. Included by the files that define ops; users who
// add an op of their own include it too (tests/autodiff_gradcheck.cpp defines some).
//
// An op is a struct with
//   static constexpr const char* name;
//   static Tensor value(In in, const Attrs& a);                    // the forward computation
//   template <class T> static T vjp(const Rule<T>& r, int i, const T& g);   // gᵀ ∂out/∂in_i
//   template <class T> static T jvp(const Rule<T>& r, int i, const T& d);   // ∂out/∂in_i · d
// and optionally `static constexpr bool broadcasts = true` (inputs broadcast against each other),
// `static constexpr bool differentiable = false` (zero derivative: no rules needed), or
// `static void accumulate_vjp(const Rule<Tensor>&, int i, const Tensor& g, Accumulator& x_bar)`,
// a fast path that writes the VJP into the input's cotangent in place (slice, segment), or
// `static bool vjp_piece(const Rule<Var>&, int i, const Var& g, Var& piece, std::size_t& start)`,
// which lets the recorded sweep gather blocks of a flat vector into one `assemble` (segment), and
// with it `static bool add_piece_tangent(const Rule<Var>&, int i, const Var& g, Tensor& x_dot_bar)`,
// which adds the piece's tangent alone into the input's (what hvp needs), and
// `static constexpr int block_input`, the input read only as the block [start, start + size(shape)
// + count) (see OpInfo::block_input).
//
// The rules are templates: with T = Tensor they compute numbers; with T = Var they record ops on
// the tape, so a derivative is itself differentiable (higher order by composition).
// Batches: g and d may carry leading batch axes (r.batch()) in front of the op's own shapes; the
// framework lifts tangents of broadcast inputs and sums cotangents back to each input's shape.
#pragma once

#include <cstdint>
#include <type_traits>

#include "autodiff/accumulator.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/tape.hpp"

namespace autodiff {

// What a derivative rule sees of its node. With T = Tensor, in(i) and out() are the recorded
// values; with T = Var they are the recorded variables themselves.
template <class T>
class Rule {
 public:
  using Arg = std::conditional_t<std::is_same_v<T, Tensor>, const Tensor&, Var>;

  Rule(const Tape& tape, const std::uint32_t* inputs, std::uint32_t n_inputs, const Attrs& attrs,
       const Tensor& out_value, std::uint32_t out_index, const Shape& batch)
      : tape_(tape), inputs_(inputs, inputs + n_inputs), attrs_(attrs), out_value_(out_value),
        out_index_(out_index), batch_(batch) {}

  Arg in(std::uint32_t i) const {
    const std::uint32_t index = inputs_[i];
    if constexpr (std::is_same_v<T, Tensor>) {
      return tape_.node(index).value;
    } else {
      return tape_.var(index);
    }
  }
  Arg x() const { return in(0); }
  Arg y() const { return in(1); }
  Arg out() const {
    if constexpr (std::is_same_v<T, Tensor>) {
      return out_value_;
    } else {
      return tape_.var(out_index_);
    }
  }
  Shape in_shape(std::uint32_t i) const {
    return tape_.node(inputs_[i]).value.shape();
  }
  std::uint32_t n_inputs() const { return static_cast<std::uint32_t>(inputs_.size()); }
  const Attrs& attrs() const { return attrs_; }
  // Leading batch axes of the cotangent/tangent this rule is applied to.
  const Shape& batch() const { return batch_; }
  std::size_t lead() const { return batch_.size(); }

 private:
  const Tape& tape_;
  xt::svector<std::uint32_t, 4> inputs_;  // a copy: the tape's edge list may grow meanwhile
  // Var-mode rules record, which may move the tape's nodes: they keep a copy. Tensor-mode rules
  // record nothing, so a reference is safe (and saves a copy per node per sweep).
  std::conditional_t<std::is_same_v<T, Tensor>, const Attrs&, Attrs> attrs_;
  const Tensor& out_value_;
  std::uint32_t out_index_;
  const Shape& batch_;
};

// Elementwise unary ops have a diagonal Jacobian: both rules multiply by f'(x), which the op
// gives as `derivative(r)`. So sin needs only `derivative = cos(x)` (as in JAX's defjvp).
// An op may also give f' pointwise, `static double slope(double x, double fx)`: on numbers (and
// without a batch to broadcast) the product is then one pass, with no tensor for f'.
template <class Op>
struct Elementwise {
  template <class T>
  static T vjp(const Rule<T>& r, int, const T& g) { return times_derivative(r, g); }
  template <class T>
  static T jvp(const Rule<T>& r, int, const T& d) { return times_derivative(r, d); }

 private:
  template <class T>
  static T times_derivative(const Rule<T>& r, const T& g) {
    if constexpr (std::is_same_v<T, Tensor> && requires { Op::slope(0.0, 0.0); }) {
      const Tensor &x = r.x(), &fx = r.out();
      if (g.shape() == x.shape()) {
        Tensor out = Tensor::empty(g.shape());
        // The result is a fresh block (restrict), and the slope is named: GCC 12 if-converts a
        // branchy slope (relu's) into a vector blend only so, not a mispredicted jump per element.
        const double *__restrict gp = g.data(), *__restrict xp = x.data(), *__restrict fp = fx.data();
        double* __restrict o = out.data();
        for (std::size_t i = 0, n = out.size(); i < n; ++i) {
          const double slope = Op::slope(xp[i], fp[i]);
          o[i] = gp[i] * slope;
        }
        return out;
      }
    }
    return g * Op::derivative(r);
  }
};

namespace detail {
template <class Op>
constexpr bool differentiable() {
  if constexpr (requires { Op::differentiable; }) return Op::differentiable;
  return true;
}
template <class Op>
constexpr bool broadcasts() {
  if constexpr (requires { Op::broadcasts; }) return Op::broadcasts;
  return false;
}
template <class Op, class T>
T vjp_entry(const Rule<T>& r, int i, const T& g) { return Op::vjp(r, i, g); }

template <class Op>
constexpr int block_input() {
  if constexpr (requires { Op::block_input; }) return Op::block_input;
  return -1;
}
template <class Op>
constexpr auto accumulate_entry() {
  using Fn = void (*)(const Rule<Tensor>&, int, const Tensor&, Accumulator&);
  if constexpr (requires { &Op::accumulate_vjp; }) {
    return static_cast<Fn>(&Op::accumulate_vjp);
  } else {
    return static_cast<Fn>(nullptr);
  }
}

template <class Op>
constexpr auto piece_entry() {
  using Fn = bool (*)(const Rule<Var>&, int, const Var&, Var&, std::size_t&);
  if constexpr (requires { &Op::vjp_piece; }) {
    return static_cast<Fn>(&Op::vjp_piece);
  } else {
    return static_cast<Fn>(nullptr);
  }
}

template <class Op>
constexpr auto piece_tangent_entry() {
  using Fn = bool (*)(const Rule<Var>&, int, const Var&, Tensor&);
  if constexpr (requires { &Op::add_piece_tangent; }) {
    return static_cast<Fn>(&Op::add_piece_tangent);
  } else {
    return static_cast<Fn>(nullptr);
  }
}

template <class Op>
constexpr OpInfo make_info() {
  if constexpr (differentiable<Op>()) {
    return {Op::name,
            &Op::value,
            true,
            broadcasts<Op>(),
            &vjp_entry<Op, Tensor>,
            &vjp_entry<Op, Var>,
            accumulate_entry<Op>(),
            piece_entry<Op>(),
            piece_tangent_entry<Op>(),
            block_input<Op>()};
  } else {
    return {Op::name, &Op::value, false, false, nullptr, nullptr, nullptr, nullptr, nullptr, -1};
  }
}
template <class Op>
inline constexpr OpInfo op_info = make_info<Op>();

// Forward mode, eagerly: the tangent of the new node from its inputs' tangents.
Tensor lift_tangent(const Tensor& tangent, const Shape& batch, std::size_t in_rank, std::size_t out_rank);
Tensor complete_tangent(Tensor tangent, const Shape& batch, const Shape& out_shape, const char* op);
Tape& common_tape(const Var* inputs, std::uint32_t n, const char* op);
}  // namespace detail

// Computes an op's value on plain tensors.
template <class Op, class... Tensors>
Tensor eval(const Attrs& attrs, const Tensors&... xs) {
  const Tensor* values[] = {&xs...};
  return Op::value(In(values, sizeof...(xs)), attrs);
}

// Computes an op's value on variables and records it (with its tangent, in forward mode).
template <class Op>
Var record_n(const Var* inputs, std::uint32_t n, const Attrs& attrs) {
  Tape& tape = detail::common_tape(inputs, n, Op::name);
  constexpr std::uint32_t kInline = 8;
  const Tensor* inline_values[kInline];
  std::uint32_t inline_indices[kInline];
  std::vector<const Tensor*> many_values;
  std::vector<std::uint32_t> many_indices;
  const Tensor** values = inline_values;
  std::uint32_t* indices = inline_indices;
  if (n > kInline) {
    many_values.resize(n);
    many_indices.resize(n);
    values = many_values.data();
    indices = many_indices.data();
  }
  bool requires_grad = false, has_tangent = false;
  for (std::uint32_t k = 0; k < n; ++k) {
    const Node& input = tape.node(inputs[k].index());
    values[k] = &input.value;
    indices[k] = inputs[k].index();
    requires_grad |= input.requires_grad;
    has_tangent |= input.has_tangent;
  }
  Node node;
  node.op = &detail::op_info<Op>;
  node.value = Op::value(In(values, n), attrs);
  node.attrs = attrs;
  if constexpr (detail::differentiable<Op>()) {
    node.requires_grad = requires_grad;
    if (has_tangent) {
      const Shape& batch = tape.tangent_batch();
      const Rule<Tensor> rule(tape, indices, n, attrs, node.value, 0, batch);
      Tensor tangent;
      bool first = true;
      for (std::uint32_t k = 0; k < n; ++k) {
        const Node& input = tape.node(indices[k]);
        if (!input.has_tangent) continue;
        // Only a batch of tangents needs lifting: without one, broadcasting lines up by itself.
        Tensor lifted;
        const Tensor* d = &input.tangent;
        if (detail::broadcasts<Op>() && !batch.empty() && input.value.dim() < node.value.dim()) {
          lifted = detail::lift_tangent(input.tangent, batch, input.value.dim(), node.value.dim());
          d = &lifted;
        }
        Tensor term = Op::jvp(rule, static_cast<int>(k), *d);
        if (first) {
          tangent = std::move(term);
          first = false;
        } else if (tangent.shape() == term.shape()) {
          tangent += term;
        } else {
          tangent = add(tangent, term);
        }
      }
      node.tangent = detail::complete_tangent(std::move(tangent), batch, node.value.shape(), Op::name);
      node.has_tangent = true;
    }
  }
  return tape.push(std::move(node), indices, n);
}

template <class Op, class... Vars>
Var record(const Attrs& attrs, const Vars&... xs) {
  const Var inputs[] = {xs...};
  return record_n<Op>(inputs, sizeof...(xs), attrs);
}

// eval on tensors, record on variables: lets one template define an op's Tensor and Var forms.
template <class Op, class T, class... Ts>
T apply(const Attrs& attrs, const T& x, const Ts&... xs) {
  if constexpr (std::is_same_v<T, Tensor>) {
    return eval<Op>(attrs, x, xs...);
  } else {
    return record<Op>(attrs, x, xs...);
  }
}

}  // namespace autodiff
