#include "autodiff/tape.hpp"

#include <malloc.h>

#include <sstream>

#include <fmt/format.h>

#include "autodiff/anomaly.hpp"
#include "autodiff/ops.hpp"

namespace autodiff {

namespace {
// Each thread has a stack of tapes: the bottom one is the thread's default, and every TapeScope
// borrows the next (keeping its storage for reuse when the scope ends).
struct ThreadTapes {
  std::vector<std::unique_ptr<Tape>> pool;
  std::size_t depth = 0;  // tapes in use by scopes
  Tape* current = nullptr;
  Tape& base() {
    if (pool.empty()) pool.push_back(std::make_unique<Tape>());
    return *pool.front();
  }
};
thread_local ThreadTapes tls;

// Every op allocates its result, and a training step frees and allocates the same sizes again.
// Tensors recycle their blocks (storage.hpp); what still comes from glibc (the largest blocks,
// containers' small allocations) is tuned here, once per process, before the first tape exists.
// glibc's defaults return freed memory above 128 KiB to the kernel and serve large blocks with
// mmap, so each step paid page faults for fresh pages (a third of a small step's time): keep freed
// memory in the heap instead. And without fast bins, a large request no longer first walks them
// to consolidate what small frees left there.
const bool allocator_tuned = [] {
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
  mallopt(M_MXFAST, 0);
  return true;
}();
}  // namespace

Tape& Tape::current() { return tls.current ? *tls.current : tls.base(); }

TapeScope::TapeScope() : previous_(&Tape::current()) {
  tls.base();
  ++tls.depth;
  if (tls.pool.size() <= tls.depth) tls.pool.push_back(std::make_unique<Tape>());
  tape_ = tls.pool[tls.depth].get();
  tls.current = tape_;
}

TapeScope::~TapeScope() {
  tape_->clear();
  tape_->set_tangent_batch({});
  --tls.depth;
  tls.current = previous_;
}

UseTape::UseTape(Tape& tape) : previous_(tls.current) { tls.current = &tape; }
UseTape::~UseTape() { tls.current = previous_; }

// ---- Var ------------------------------------------------------------------------------------
Var::Var(const Tensor& constant) : Var(Tape::current().constant(constant)) {}

bool Var::valid() const {
  return tape_ != nullptr && index_ < tape_->size() && tape_->node(index_).stamp == stamp_;
}

Tape& Var::tape() const {
  if (tape_ == nullptr) throw Error("variable: uninitialized Var (default-constructed)");  // no call on nullptr
  tape_->check(*this, "variable");
  return *tape_;
}

const Tensor& Var::value() const { return tape().node(index_).value; }
bool Var::requires_grad() const { return tape().node(index_).requires_grad; }
bool Var::has_tangent() const { return tape().node(index_).has_tangent; }
const Tensor& Var::tangent() const {
  const Node& n = tape().node(index_);
  if (!n.has_tangent)
    throw Error("tangent: this value carries no tangent (it does not depend on a variable given a tangent)");
  return n.tangent;
}

Var Var::slice(std::size_t start, std::size_t count) const { return autodiff::slice(*this, start, count); }
Var Var::reshape(const Shape& shape) const { return autodiff::reshape(*this, shape); }

// ---- Tape -----------------------------------------------------------------------------------
void Tape::check(const Var& v, const char* what) const {
  if (v.tape_ == nullptr) throw Error(fmt::format("{}: uninitialized Var (default-constructed)", what));
  if (v.tape_ != this)  // before the index test, which would misreport it as a cleared tape
    throw Error(fmt::format("{}: Var %{} lives on a different tape (Vars from different tapes cannot be mixed)",
                            what, v.index_));
  if (v.index_ >= nodes_.size() || nodes_[v.index_].stamp != v.stamp_)
    throw Error(fmt::format(
        "{}: Var %{} belongs to a tape that was cleared or rewound past it (its computation ended); "
        "record it again",
        what, v.index_));
}

const Node& Tape::node(const Var& v) const {
  check(v, "node");
  return nodes_[v.index_];
}

Var Tape::push(Node node, const std::uint32_t* inputs, std::uint32_t n_inputs) {
  node.first_edge = static_cast<std::uint32_t>(edges_.size());
  node.n_inputs = n_inputs;
  node.stamp = next_stamp_++;
  edges_.insert(edges_.end(), inputs, inputs + n_inputs);
  const auto index = static_cast<std::uint32_t>(nodes_.size());
  const std::uint64_t stamp = node.stamp;
  nodes_.push_back(std::move(node));
  // Anomaly mode (autodiff/anomaly.hpp): one thread-local read when off. A node that fails the
  // check is taken off the tape again, so the tape stays as it was before the failing op.
  if (detail::t_detect_anomaly) [[unlikely]] {
    try {
      detail::check_pushed_node(*this, index);
    } catch (...) {
      rewind(index);
      throw;
    }
  }
  return Var(this, index, stamp);
}

Var Tape::variable(Tensor value) {
  Node n;
  n.value = std::move(value);
  n.requires_grad = true;
  return push(std::move(n), nullptr, 0);
}

Var Tape::variable(Tensor value, Tensor tangent) {
  const Shape expected = join_shapes(tangent_batch_, value.shape());
  if (tangent.shape() != expected)
    throw Error(fmt::format("variable: tangent has shape {}, expected {} (tangent batch {} + value shape {})",
                            to_string(tangent.shape()), to_string(expected), to_string(tangent_batch_),
                            to_string(value.shape())));
  Node n;
  n.value = std::move(value);
  n.tangent = std::move(tangent);
  n.requires_grad = true;
  n.has_tangent = true;
  return push(std::move(n), nullptr, 0);
}

Var Tape::constant(Tensor value) {
  Node n;
  n.value = std::move(value);
  return push(std::move(n), nullptr, 0);
}

void Tape::rewind(std::size_t size) {
  if (size >= nodes_.size()) return;
  edges_.resize(nodes_[size].first_edge);
  nodes_.resize(size);  // capacity is kept: the next step reuses the storage
}

void Tape::set_value(const Var& leaf, Tensor value) {
  check(leaf, "set_value");
  Node& n = nodes_[leaf.index()];
  if (n.op != nullptr) throw Error(fmt::format("set_value: %{} is the result of {}, not a leaf", leaf.index(), n.op->name));
  if (value.shape() != n.value.shape())
    throw Error(fmt::format("set_value: %{} has shape {}, the new value {}", leaf.index(), to_string(n.value.shape()),
                            to_string(value.shape())));
  if (n.has_tangent) throw Error("set_value: leaves with tangents cannot be replayed");
  n.value = std::move(value);
}

void Tape::replay(std::size_t from) {
  constexpr std::uint32_t kInline = 8;
  const Tensor* inline_values[kInline];
  std::vector<const Tensor*> many;
  for (std::size_t i = from; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    if (n.op == nullptr) continue;  // leaves keep what set_value gave them
    if (n.has_tangent) throw Error(fmt::format("replay: %{} carries a tangent; only values are replayed", i));
    const Tensor** values = inline_values;
    if (n.n_inputs > kInline) {
      many.resize(n.n_inputs);
      values = many.data();
    }
    for (std::uint32_t k = 0; k < n.n_inputs; ++k) values[k] = &nodes_[edges_[n.first_edge + k]].value;
    n.value = n.op->value(In(values, n.n_inputs), n.attrs);
  }
}

void Tape::set_tangent_batch(const Shape& batch) {
  for (const Node& n : nodes_)
    if (n.has_tangent && batch != tangent_batch_)
      throw Error(fmt::format("set_tangent_batch: the tape already holds tangents with batch {}; nested "
                              "forward mode is not supported",
                              to_string(tangent_batch_)));
  tangent_batch_ = batch;
}

std::string Tape::dump() const {
  std::ostringstream os;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    os << '%' << i << " = ";
    if (n.op == nullptr) {
      os << (n.requires_grad ? "variable" : "constant");
    } else {
      os << n.op->name << '(';
      for (std::uint32_t k = 0; k < n.n_inputs; ++k) os << (k ? ", %" : "%") << edges_[n.first_edge + k];
      os << ')';
    }
    os << "  " << to_string(n.value.shape());
    if (n.requires_grad) os << "  grad";
    if (n.has_tangent) os << "  tangent";
    os << '\n';
  }
  return os.str();
}

}  // namespace autodiff
