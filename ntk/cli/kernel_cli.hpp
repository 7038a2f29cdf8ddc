// The ntk-kernel command line as a function: so that it can be run in-process by the fuzzer of its
// argument handling (fuzz/, docs/reliability.md), and by the main of the MPI build. Its main is
// ntk/tools/ntk_kernel.cpp, or where MPI was found distributed/tools/ntk_kernel.cpp, which calls
// it unless started by mpirun on several ranks. Usage and behaviour: ntk/tools/ntk_kernel.cpp and
// docs/kernels.md; over MPI ranks docs/distributed.md.
#pragma once

#include <string>

namespace ntk {

// Parses argv and runs; returns the exit status (0, 1 for bad data or settings, 2 for a bad
// command line) after writing its messages to stderr. Throws nothing. `footer` closes --help (the
// MPI build's main tells there how to run it over ranks). Flags, checks and messages are
// ntk/cli/kernel_flags.hpp's, which the MPI main shares.
int kernel_cli(int argc, const char* const* argv, const std::string& footer = "");

}  // namespace ntk
