// Why: OpenBLAS starts threads of its own for every large product. Inside worker threads of our
// own (the kernel passes of ntk/, the sweeps of experiments/) that oversubscribes the cores — two
// workers on two cores ran ~2× slower than one — and a product split over a different number of
// BLAS threads may round differently. Code that runs BLAS calls on several threads of its own
// holds a BlasThreads(1) for as long as they run.
#pragma once

namespace autodiff {

// Sets OpenBLAS's thread count for this object's life (no-op when the BLAS is not OpenBLAS).
// Nested holders restore in reverse order; the count is process-wide, so threads that each hold
// one while another BLAS user wants more threads see the smallest setting.
class BlasThreads {
 public:
  explicit BlasThreads(int threads);
  ~BlasThreads();
  BlasThreads(const BlasThreads&) = delete;
  BlasThreads& operator=(const BlasThreads&) = delete;

 private:
  int previous_;
};

}  // namespace autodiff
