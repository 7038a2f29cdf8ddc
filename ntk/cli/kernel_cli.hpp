// The ntk-kernel command line as a function (ntk/tools/ntk_kernel.cpp is its main): so that it can be
// run in-process by the fuzzer of its argument handling (fuzz/, docs/reliability.md). Usage and
// behaviour: ntk/tools/ntk_kernel.cpp and docs/kernels.md.
#pragma once

namespace ntk {

// Parses argv and runs; returns the exit status (0, 1 for bad data or settings, 2 for a bad
// command line) after writing its messages to stderr. Throws nothing.
int kernel_cli(int argc, const char* const* argv);

}  // namespace ntk
