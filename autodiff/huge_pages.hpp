// Why: large buffers written once (kernels of N² entries, the weights of a wide net) spend more
// time in page faults of 4 KiB pages than in the arithmetic that fills them — on this project's VMs
// a fault costs microseconds. Advising the kernel to back them with 2 MiB pages before the first
// touch makes the faults 512× fewer (Linux transparent huge pages in "madvise" mode).
// And memory that is fresh to a VM's guest is slow to touch the first time (the host backs it on
// demand): writing a 200 MB kernel to a new file took 0.34 s in page-cache pages never used
// before, 0.03 s when the writer gave each written piece of the kernel back first, so that the
// page cache reused those pages (release_pages).
#pragma once

#include <cstddef>

namespace autodiff {

// Advice only (a no-op off Linux, or where it is refused): the whole 2 MiB pages inside
// [data, data + bytes) are asked to be huge pages.
void advise_huge_pages(void* data, std::size_t bytes);

// Gives the whole pages inside [data, data + bytes) back to the system now (MADV_DONTNEED): for
// memory the program will not read again before freeing it. They read as zeros afterwards. A
// no-op off Linux.
void release_pages(void* data, std::size_t bytes);

}  // namespace autodiff
