// The tape (Wengert list): every op appends one Node holding its value, its inputs' indices and
// the OpInfo that knows its derivative rules. Reverse mode walks the nodes backwards by index;
// forward mode is computed eagerly while recording (each node may carry a tangent).
//
// One tape per thread: Tape::current() is thread-local, so independent computations run in
// parallel. Functional transforms (grad, jvp, ...) record on a fresh tape from a per-thread pool
// and rewind it afterwards, which keeps node storage allocated between steps.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/tensor.hpp"

namespace autodiff {

class Tape;
class Var;
class LinearOperator;
class Accumulator;
template <class T>
class Rule;

// Attributes of an op. Axes are stored counted from the end (-1 = last) so that the same rule
// works when a batch of tangents or cotangents adds leading axes.
struct Attrs {
  double scalar = 0.0;     // scale factor (segment_matmul: α), added constant or exponent
  std::int64_t axis = -1;  // reduction / slicing / concatenation axis, negative
  std::size_t start = 0;   // slice and embed: first index along `axis`
  std::size_t count = 0;   // slice: length; embed: full length of the axis; segment_matmul: bias length
  std::size_t lead = 0;    // reshape, sum_to, broadcast_to: leading axes kept as they are
  Shape shape{};           // reshape / sum_to / broadcast_to target (without the leading axes)
  std::shared_ptr<const LinearOperator> linear{};  // apply_linear: the map
  bool transposed = false;                         // apply_linear: apply its transpose
  bool transpose_a = false;                        // matmul: use Aᵀ (the last two axes swapped)
  bool transpose_b = false;                        // matmul: use Bᵀ
  Shape offsets{};                                 // assemble: where each piece starts
  double bias_scale = 1.0;                         // segment_matmul: β, the bias's factor
};

// The input values of an op, as seen by its value function.
class In {
 public:
  In(const Tensor* const* values, std::uint32_t n) : values_(values), n_(n) {}
  const Tensor& operator[](std::uint32_t i) const { return *values_[i]; }
  std::uint32_t size() const { return n_; }

 private:
  const Tensor* const* values_;
  std::uint32_t n_;
};

// What the reverse sweep needs to know about an op: plain function pointers, filled once per op
// type from its rule struct (see autodiff/record.hpp), so a node costs one pointer.
struct OpInfo {
  const char* name;
  Tensor (*value)(In inputs, const Attrs&);  // the forward computation (what Tape::replay reruns)
  bool differentiable;  // false for step/sign: zero derivative, output is a constant
  bool broadcasts;      // inputs broadcast against each other (elementwise binary ops, matmul)
  Tensor (*vjp_tensor)(const Rule<Tensor>&, int input, const Tensor& cotangent);
  Var (*vjp_var)(const Rule<Var>&, int input, const Var& cotangent);
  // Optional fast path of vjp_tensor: writes the VJP into the input's cotangent in place (slices
  // write their range instead of building a full-size embedding first). nullptr: none.
  void (*accumulate_vjp)(const Rule<Tensor>&, int input, const Tensor& cotangent, Accumulator& input_cotangent);
  // Optional, for ops that read a block of an input's last axis (segment, segment_matmul): the
  // VJP before it is embedded, flattened along the last axis, and where it starts; false for an
  // input that is not read as a block (its VJP is the usual one). The recorded sweep gathers all
  // pieces of one input into a single `assemble` op instead of an embedding and an add per
  // piece. nullptr: none.
  bool (*vjp_piece)(const Rule<Var>&, int input, const Var& cotangent, Var& piece, std::size_t& start);
  // Optional, with vjp_piece: adds that piece's tangent alone into the tangent of the input's
  // whole cotangent (flat, no batch), without recording the piece (an HVP reads only the
  // gradient's tangent, so the gradient's own value need not be formed). Called only without
  // batches. false: not a block. nullptr: none.
  bool (*add_piece_tangent)(const Rule<Var>&, int input, const Var& cotangent, Tensor& input_tangent);
  // The input this op reads only as the block [start, start + size(shape) + count) of its last
  // axis (attrs), and in its rules only before it writes that input's cotangent (segment,
  // segment_matmul); −1: none. Lets descend() update such blocks in place during the sweep.
  int block_input;
};

struct Node {
  const OpInfo* op = nullptr;  // nullptr: a leaf (variable or constant)
  std::uint32_t first_edge = 0;
  std::uint32_t n_inputs = 0;
  std::uint64_t stamp = 0;  // identifies this node's lifetime; a Var must match it
  bool requires_grad = false;
  bool has_tangent = false;
  Tensor value;
  Tensor tangent;  // shape: tape.tangent_batch() + value.shape(), when has_tangent
  Attrs attrs;
};

// A handle to a node on a tape: cheap to copy, checked on every use.
class Var {
 public:
  Var() = default;
  Var(const Tensor& constant);  // NOLINT: a constant on the current thread's tape
  Var(Tape* tape, std::uint32_t index, std::uint64_t stamp) : tape_(tape), index_(index), stamp_(stamp) {}

  const Tensor& value() const;
  const Shape& shape() const { return value().shape(); }
  std::size_t dim() const { return value().dim(); }
  std::size_t size() const { return value().size(); }
  bool requires_grad() const;
  bool has_tangent() const;
  const Tensor& tangent() const;  // throws if this value carries no tangent

  Tape& tape() const;
  std::uint32_t index() const { return index_; }
  bool valid() const;  // false once its tape was rewound past it or cleared

  // Conveniences for viewing a flat parameter vector as layer tensors.
  Var slice(std::size_t start, std::size_t count) const;
  Var reshape(const Shape& shape) const;

 private:
  friend class Tape;
  Tape* tape_ = nullptr;
  std::uint32_t index_ = 0;
  std::uint64_t stamp_ = 0;
};

class Tape {
 public:
  Tape() = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  // The tape new leaves and constants go to on this thread.
  static Tape& current();

  Var variable(Tensor value);  // a leaf that gradients are taken with respect to
  Var variable(Tensor value, Tensor tangent);  // ... carrying a forward-mode tangent
  Var constant(Tensor value);

  std::size_t size() const { return nodes_.size(); }
  void rewind(std::size_t size);  // drop nodes from `size` on; their Vars become invalid
  // Recomputes the values of nodes from `from` on with the ops and inputs they were recorded
  // with, after leaves below were given new values (set_value): a recorded function evaluated
  // again without recording it again. Valid for code whose ops do not depend on its values.
  void replay(std::size_t from);
  void set_value(const Var& leaf, Tensor value);  // same shape; leaves only
  void clear() { rewind(0); }

  // Forward mode: every tangent on this tape has shape batch + value shape. An empty batch is
  // one direction; batch {k} pushes k directions at once (forward-mode Jacobians, Hessians).
  const Shape& tangent_batch() const { return tangent_batch_; }
  void set_tangent_batch(const Shape& batch);

  // A readable listing of the tape: one line per node, e.g. "%4 = mul(%2, %3)  [2, 3]".
  std::string dump() const;

  // Internals used by recording and by the sweeps.
  const Node& node(std::uint32_t index) const { return nodes_[index]; }
  Node& node(std::uint32_t index) { return nodes_[index]; }
  const Node& node(const Var& v) const;
  std::uint32_t input(const Node& n, std::uint32_t k) const { return edges_[n.first_edge + k]; }
  const std::uint32_t* inputs(const Node& n) const { return edges_.data() + n.first_edge; }
  Var var(std::uint32_t index) const { return Var(const_cast<Tape*>(this), index, nodes_[index].stamp); }
  Var push(Node node, const std::uint32_t* inputs, std::uint32_t n_inputs);
  void check(const Var& v, const char* what) const;

 private:
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> edges_;
  std::uint64_t next_stamp_ = 1;
  Shape tangent_batch_{};
};

// RAII: a fresh tape from this thread's pool becomes current; on exit it is rewound and the
// previous current tape is restored. Functional transforms use it so their work never leaks.
class TapeScope {
 public:
  TapeScope();
  ~TapeScope();
  TapeScope(const TapeScope&) = delete;
  TapeScope& operator=(const TapeScope&) = delete;
  Tape& tape() { return *tape_; }

 private:
  Tape* tape_;
  Tape* previous_;
};

// RAII: makes a tape the thread's current one (for constants and leaves) until the guard ends,
// without clearing it; for objects that keep their own tape between calls (nn::GradientDescent).
class UseTape {
 public:
  explicit UseTape(Tape& tape);
  ~UseTape();
  UseTape(const UseTape&) = delete;
  UseTape& operator=(const UseTape&) = delete;

 private:
  Tape* previous_;
};

}  // namespace autodiff
