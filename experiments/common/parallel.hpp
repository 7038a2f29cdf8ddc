// Why: sweeps over seeds, widths and α are many independent runs. They go to worker threads
// (each with its own autodiff tape: tapes are thread-local), take their tasks in any order, and
// write their results into slot i of an array the caller owns, so the numbers and the files
// written from them are bit-identical whatever --threads is. Every random stream is seeded by
// the task (seed + draw), never by the thread.
//
// OpenBLAS starts threads of its own for every large product; inside several workers that
// oversubscribes the cores (two workers on two cores ran ~2× slower than one), and a product
// split over a different number of BLAS threads may round differently. While a sweep runs,
// OpenBLAS is set to one thread, whatever --threads is (and restored afterwards).
#pragma once

#include <cstddef>
#include <functional>

#include "autodiff/blas_threads.hpp"
#include "experiments/common/progress.hpp"

namespace experiments {

// body(i) for every i in [0, n), on min(threads, n) threads. The first exception thrown by a
// task stops the others from starting new tasks and is rethrown here. progress (optional) is
// advanced by weight(i) (default 1) after each task.
void parallel_for(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& body,
                  Progress* progress = nullptr, const std::function<double(std::size_t)>& weight = {});

// Sets OpenBLAS's thread count for this object's life (autodiff/blas_threads.hpp).
using autodiff::BlasThreads;

}  // namespace experiments
