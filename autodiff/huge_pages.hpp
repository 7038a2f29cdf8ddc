// Why: large buffers written once (kernels of N² entries, the weights of a wide net) spend more
// time in page faults of 4 KiB pages than in the arithmetic that fills them — on this project's VMs
// a fault costs microseconds. Advising the kernel to back them with 2 MiB pages before the first
// touch makes the faults 512× fewer (Linux transparent huge pages in "madvise" mode).
#pragma once

#include <cstddef>

namespace autodiff {

// Advice only (a no-op off Linux, or where it is refused): the whole 2 MiB pages inside
// [data, data + bytes) are asked to be huge pages.
void advise_huge_pages(void* data, std::size_t bytes);

}  // namespace autodiff
