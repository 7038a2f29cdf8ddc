// apply_linear: a user-given linear map as one op.
#include <fmt/format.h>

#include "autodiff/linear_operator.hpp"
#include "autodiff/record.hpp"

namespace autodiff {
namespace op {

// y = A x:  dy = A dx,  x̄ = Aᵀ ȳ
struct ApplyLinear {
  static constexpr const char* name = "apply_linear";
  static Tensor value(In in, const Attrs& a) {
    const LinearOperator& map = *a.linear;
    const Shape from = a.transposed ? map.out_shape() : map.in_shape();
    const Shape to = a.transposed ? map.in_shape() : map.out_shape();
    const Tensor& x = in[0];
    const std::size_t lead = x.dim() >= from.size() ? x.dim() - from.size() : 0;
    if (x.dim() < from.size() || !std::equal(from.begin(), from.end(), x.shape().begin() + static_cast<std::ptrdiff_t>(lead)))
      throw Error(fmt::format("apply_linear: input has shape {}, the map takes {}", to_string(x.shape()), to_string(from)));
    const auto apply = [&](const Tensor& v) { return a.transposed ? map.apply_transpose(v) : map.apply(v); };
    if (lead == 0) return apply(x);
    // A batch: apply to each entry and stack.
    const Shape batch(x.shape().begin(), x.shape().begin() + static_cast<std::ptrdiff_t>(lead));
    const std::size_t count = shape_size(batch), in_size = shape_size(from), out_size = shape_size(to);
    Tensor out = Tensor::zeros(join_shapes(batch, to));
    for (std::size_t b = 0; b < count; ++b) {
      Tensor entry = Tensor::zeros(from);
      std::copy(x.data() + b * in_size, x.data() + (b + 1) * in_size, entry.data());
      const Tensor result = apply(entry);
      std::copy(result.data(), result.data() + out_size, out.data() + b * out_size);
    }
    return out;
  }
  template <class T> static T vjp(const Rule<T>& r, int, const T& g) {
    return apply_linear(r.attrs().linear, g, !r.attrs().transposed);
  }
  template <class T> static T jvp(const Rule<T>& r, int, const T& d) {
    return apply_linear(r.attrs().linear, d, r.attrs().transposed);
  }
};

}  // namespace op

Tensor apply_linear(const std::shared_ptr<const LinearOperator>& a, const Tensor& x, bool transposed) {
  if (!a) throw Error("apply_linear: no operator given");
  return eval<op::ApplyLinear>(Attrs{.linear = a, .transposed = transposed}, x);
}

Var apply_linear(const std::shared_ptr<const LinearOperator>& a, const Var& x, bool transposed) {
  if (!a) throw Error("apply_linear: no operator given");
  return record<op::ApplyLinear>(Attrs{.linear = a, .transposed = transposed}, x);
}

}  // namespace autodiff
