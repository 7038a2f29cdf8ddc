# Installs the Debian packages the project needs (sourced by test.sh and reproduce.sh).
# Only what is missing is installed; apt-get runs through sudo when not root.
BUILD_PACKAGES=(cmake g++ make pkg-config libxtensor-dev libxtensor-blas-dev libxsimd-dev libopenblas-dev
  liblapack-dev catch2 librapidcheck-dev libfmt-dev libcli11-dev nlohmann-json3-dev zlib1g-dev graphviz
  pybind11-dev python3-dev python3-numpy python3-pytest python3-torch
  libopenmpi-dev openmpi-bin libscalapack-openmpi-dev)  # MPI + ScaLAPACK: ntk-regress (optional to build)

# What the experiments need beyond the build: figures (matplotlib, run by Debian's own python3),
# `bc` for the timings of reproduce.sh, and the Fashion-MNIST data set for the real-data one.
EXPERIMENT_PACKAGES=(python3-matplotlib bc dataset-fashion-mnist)

# The fuzzers (scripts/fuzz.sh): clang with libFuzzer and its sanitizer runtimes.
FUZZ_PACKAGES=(clang libclang-rt-14-dev)

# The benchmarks' reference side and plots (bench/compare.py, bench/torch_reference.py,
# bench/dataset_runs.py, bench/plot_scaling.py), all run by Debian's /usr/bin/python3. Installed on
# demand: `source scripts/deps.sh && install_packages "${BENCH_PACKAGES[@]}"`.
BENCH_PACKAGES=(python3-torch python3-numpy python3-matplotlib dataset-fashion-mnist)

# An interpreter that can import matplotlib: Debian's /usr/bin/python3 (a python3 earlier on PATH
# may be a separate installation that cannot see Debian's python3-* packages).
find_matplotlib_python() {
  local candidate
  for candidate in /usr/bin/python3 "$(command -v python3 || true)"; do
    if [ -n "$candidate" ] && "$candidate" -c "import matplotlib" 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "no python3 with matplotlib found: install the Debian package python3-matplotlib" >&2
  return 1
}

# How ./test.sh and ./reproduce.sh configure build/: Release, and compiled for this CPU when it
# has AVX2 (NTK_AVX2; the library's default for other projects is a portable build).
CMAKE_CONFIGURE=(-DCMAKE_BUILD_TYPE=Release -DNTK_AVX2=ON)

install_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing missing Debian packages: ${missing[*]}"
  local apt=(apt-get)
  if [ "$(id -u)" -ne 0 ]; then apt=(sudo apt-get); fi
  "${apt[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"
}
