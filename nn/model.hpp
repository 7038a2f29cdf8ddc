// A model is f(x, w): all its weights in one flat vector w of size p (the post's notation), and
// a batch of inputs X of shape (N, input_dim) mapped to outputs of shape (N, output_dim).
// Layers are views into w: a ParamBlock says where each weight tensor sits in it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

// ops.hpp: Tensor arithmetic (sub, reshape, matmul, ...) for users of nn/ and ntk/ headers.
#include "autodiff/ops.hpp"
#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"

namespace nn {

using autodiff::Shape;
using autodiff::Tensor;
using autodiff::Var;

struct ParamBlock {
  std::string name;  // e.g. "layer1.weight"
  Shape shape;
  std::size_t offset = 0;  // first index in w
  std::size_t size() const { return autodiff::shape_size(shape); }
};

class Model {
 public:
  virtual ~Model() = default;

  virtual std::size_t input_dim() const = 0;
  virtual std::size_t output_dim() const = 0;
  // Where each weight tensor sits in w (empty for models with no layers of their own).
  virtual std::vector<ParamBlock> layout() const = 0;
  std::size_t num_params() const;
  // Weights drawn from this model's initialization scheme: same seed, same w.
  virtual Tensor init(std::uint64_t seed) const = 0;
  // f(X, w) on the tape: x has shape (N, input_dim), the result (N, output_dim). It must record
  // the same ops for any w and x of these shapes (no branching on values): training records it
  // once and replays the recording (autodiff::Tape::replay).
  virtual Var forward(const Var& w, const Var& x) const = 0;
  virtual std::string describe() const = 0;

  // f(X, w) as numbers (records on a scratch tape), with shape checks.
  Tensor predict(const Tensor& w, const Tensor& x) const;
  // Checks w's and x's shapes against this model; `what` names the caller in the message.
  void check_inputs(const char* what, const Shape& w_shape, const Shape& x_shape) const;
};

using ModelPtr = std::shared_ptr<const Model>;

// The flat vector <-> per-layer tensors.
std::vector<Tensor> unflatten(const std::vector<ParamBlock>& layout, const Tensor& w);
Tensor flatten(const std::vector<ParamBlock>& layout, const std::vector<Tensor>& tensors);
// A block of w on the tape, reshaped (one `segment` op): how layers read their weights.
Var view(const Var& w, const ParamBlock& block);

}  // namespace nn
