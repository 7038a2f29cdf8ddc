// ntk-kernel: the infinite-width NTK or NNGP kernel (or the empirical NTK of a finite net at
// initialization) of the rows of a data file, for a fully connected net with L hidden layers and
// a scalar readout. CSV, .npy or an .npz member in, CSV or .npy out, by extension. See docs/kernels.md.
//
//   ntk-kernel --input X.csv --depth 3 --activation relu --sw2 2 --sb2 0.1 --kind ntk --output K.csv
//   ntk-kernel --input X.npy --depth 2 --activation tanh --empirical --width 512 --seed 7 --output K.npy
//
// The settings (and the seed) go to stderr; errors are one line naming file and line, exit status
// 1 (bad data or settings) or 2 (bad command line), and leave no output file behind.
//
// This main is built where MPI was not found; with MPI, ntk-kernel is distributed/tools/ntk_kernel.cpp,
// the same program, which under `mpirun -np R` also writes the kernel from R ranks.
#include "ntk/cli/kernel_cli.hpp"

int main(int argc, char** argv) { return ntk::kernel_cli(argc, argv); }
