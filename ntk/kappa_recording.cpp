#include "ntk/kappa_recording.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "autodiff/autodiff.hpp"
#include "ntk/vector_ops.hpp"

namespace ntk::detail {

namespace ad = autodiff;

Recording::Recording(const Problem& P) : m_(P.m) {
  const ad::UseTape use(tape_);  // constants made by y go to this tape
  w_ = tape_.variable(P.w0);
  y_ = P.y(w_);
  forward_end_ = tape_.size();
  set_c(Tensor::zeros({P.m}));
}

void Recording::set_c(const Tensor& c) {
  const ad::UseTape use(tape_);
  tape_.rewind(forward_end_);
  u_ = tape_.variable(c);
  g_ = ad::backward_graph(y_, {w_}, u_)[0];
}

Tensor Recording::jacobian() const { return std::move(ad::backward(y_, {w_}, Tensor::identity(m_), {m_})[0]); }

Tensor Recording::sweep(const Var& from, const Var& to, const Tensor& seed) {
  return std::move(ad::backward(from, {to}, seed)[0]);
}

Tensor curvature(const Problem& P, const Recording& recording, const Tensor& v, CurvatureMethod method,
                 Counters& count) {
  if (method == CurvatureMethod::forward_over_reverse) {
    ++count.curvature_passes;
    ad::TapeScope scope;
    ad::Tape& tape = scope.tape();
    const Var w = tape.variable(P.w0, v);
    const Var y = P.y(w);
    const Var u = tape.variable(Tensor::zeros({P.m}));
    const Var jt_u = ad::backward_graph(y, {w}, u)[0];                  // Jᵀu, linear in u
    const Var q = ad::dot(jt_u, tape.constant(v));                      // uᵀ J v
    const Var jv = ad::backward_graph(q, {u}, tape.constant(Tensor(1.0)))[0];  // J v, recorded
    return jv.has_tangent() ? jv.tangent() : Tensor::zeros({P.m});     // d/dt J(w0 + t v) v
  }
  // (J(w0 + hv) v − J(w0) v) / h: one forward-mode JVP at w0 + hv, and J(w0) v as a sweep over the
  // recording. h = √ε·max(1, ‖w0‖∞) balances truncation and rounding: error ~1e-8 relative.
  count.jvps += 2;
  const double h = std::sqrt(std::numeric_limits<double>::epsilon()) * std::max(1.0, max_abs(P.w0));
  Tensor plus = P.w0;
  axpy(h, v, plus);
  Tensor g = ad::jvp(P.y, plus, v).second;
  axpy(-1.0, recording.jacobian_times(v), g);
  scale_in_place(g, 1.0 / h);
  return g;
}

}  // namespace ntk::detail
