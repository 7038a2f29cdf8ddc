#include "nn/model.hpp"

#include <fmt/format.h>

#include "autodiff/ops.hpp"

namespace nn {

namespace ad = autodiff;

std::size_t Model::num_params() const {
  std::size_t p = 0;
  for (const ParamBlock& b : layout()) p += b.size();
  return p;
}

void Model::check_inputs(const char* what, const Shape& w_shape, const Shape& x_shape) const {
  if (w_shape != Shape{num_params()})
    throw ad::Error(fmt::format("{}: weight vector has shape {}, the model {} has {} parameters", what,
                                ad::to_string(w_shape), describe(), num_params()));
  if (x_shape.size() != 2 || x_shape[1] != input_dim())
    throw ad::Error(fmt::format("{}: inputs have shape {}, expected (N, {}) for {}", what, ad::to_string(x_shape),
                                input_dim(), describe()));
}

Tensor Model::predict(const Tensor& w, const Tensor& x) const {
  check_inputs("predict", w.shape(), x.shape());
  ad::TapeScope scope;
  return forward(scope.tape().constant(w), scope.tape().constant(x)).value();
}

std::vector<Tensor> unflatten(const std::vector<ParamBlock>& layout, const Tensor& w) {
  std::size_t p = 0;
  for (const ParamBlock& b : layout) p = std::max(p, b.offset + b.size());
  if (w.shape() != Shape{p})  // a longer w (another model's weights?) was silently cut
    throw ad::Error(
        fmt::format("unflatten: w has shape {}, the layout has {} parameters", ad::to_string(w.shape()), p));
  std::vector<Tensor> out;
  for (const ParamBlock& b : layout) {
    if (b.offset + b.size() > w.size())
      throw ad::Error(fmt::format("unflatten: block {} [{}, {}) is beyond w of size {}", b.name, b.offset,
                                  b.offset + b.size(), w.size()));
    out.push_back(ad::reshape(ad::slice(w, b.offset, b.size()), b.shape));
  }
  return out;
}

Tensor flatten(const std::vector<ParamBlock>& layout, const std::vector<Tensor>& tensors) {
  if (tensors.size() != layout.size())
    throw ad::Error(fmt::format("flatten: {} tensors for {} blocks", tensors.size(), layout.size()));
  std::size_t p = 0;
  for (const ParamBlock& b : layout) p = std::max(p, b.offset + b.size());
  Tensor w = Tensor::zeros({p});
  for (std::size_t i = 0; i < layout.size(); ++i) {
    if (tensors[i].shape() != layout[i].shape)
      throw ad::Error(fmt::format("flatten: {} has shape {}, expected {}", layout[i].name,
                                  ad::to_string(tensors[i].shape()), ad::to_string(layout[i].shape)));
    std::copy(tensors[i].data(), tensors[i].data() + tensors[i].size(), w.data() + layout[i].offset);
  }
  return w;
}

Var view(const Var& w, const ParamBlock& block) { return ad::segment(w, block.offset, block.shape); }

}  // namespace nn
