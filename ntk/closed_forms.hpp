// Internals of ntk/infinite.cpp: the activations with closed-form Gaussian expectations, relu (the
// arc-cosine kernel) and erf (Williams 1997); docs/kernels.md has the formulas.
//
// A run of closed-form activations (relu, erf) with the Dense maps between them is computed in ONE
// pass over (K, Θ): each entry goes through every stage in registers, so memory is read and
// written once whatever the depth. A stage is the Dense map before an activation (`pre`) and the
// activation; `post` maps the result of the last one. Row and column factors per stage come from
// the pre-activation variances, computed beforehand (O(N) per stage). AVX2 versions (chosen at
// run time) have a vectorized arc-cosine; the scalar ones use libm.
#pragma once

#include <vector>

#include "ntk/affine_map.hpp"
#include "ntk/infinite.hpp"
#include "ntk/kernel_matrix.hpp"

namespace ntk::detail {

struct Stage {
  bool relu = true;  // else erf
  Affine pre;
  // relu: s = √q, r = 1/√q (0 for q = 0: then u ≡ 0 and c = 0 too, the angle is moot and r = 0
  // gives θ = π/2); erf: s = 1/√(1 + 2q), r unused.
  std::vector<double> s1, r1, s2, r2;
};

// Runs the stages and `post` over the kernel (upper triangle only for symmetric kernels), and maps
// the variances along. `ntk_into_nngp` (needs ntk_zero and a tracked NTK): the resulting Θ is
// written over k.nngp, row by row through a buffer, and the final NNGP is dropped — an NTK-only
// run then holds one N1 × N2 matrix instead of two (k.ntk is neither read nor written).
// It is the two halves below on the whole state.
void closed_form_run(Kernel& k, std::vector<Stage>& stages, const Affine& post, bool ntk_zero,
                     bool ntk_into_nngp = false);

// The per-point half: each stage's row and column factors from the variances of k (all its points),
// which are mapped through the stages and `post`. O(N) per stage.
void prepare_closed_form(Kernel& k, std::vector<Stage>& stages, const Affine& post);
// The per-entry half, on a window (kernel_matrix.hpp) of the state the stages were prepared on.
void closed_form_entries(const Window& w, const std::vector<Stage>& stages, const Affine& post, bool ntk_zero,
                         bool ntk_into_nngp);

}  // namespace ntk::detail
