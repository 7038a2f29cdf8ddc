#!/usr/bin/env bash
# Installs missing Debian packages, builds and runs every test through CTest.
#
#   ./test.sh             Release build in build/ (what CI runs first)
#   ./test.sh --sanitize  AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/, every
#                         report fatal (CI runs this too)
#   ./test.sh --tsan      ThreadSanitizer build in build-tsan/, OpenBLAS single-threaded
#
# Any further arguments go to ctest (e.g. -R nn_ or -E experiments). See docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
mode=plain
case "${1:-}" in
  --sanitize) mode=asan; shift ;;
  --tsan) mode=tsan; shift ;;
  --help | -h) sed -n '2,9p' "$0"; exit 0 ;;
esac
install_packages "${BUILD_PACKAGES[@]}" "${EXPERIMENT_PACKAGES[@]}"
jobs=$(nproc)
case "$mode" in
  plain)
    build=build
    config=("${CMAKE_CONFIGURE[@]}") ;;
  asan)
    build=build-asan
    config=(-DCMAKE_BUILD_TYPE=Debug -DNTK_SANITIZE=address)
    # Every report stops the program (and fails its test) with a stack; leaks are reported too.
    export ASAN_OPTIONS="abort_on_error=0:halt_on_error=1:detect_leaks=1:strict_init_order=1:check_initialization_order=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" ;;
  tsan)
    build=build-tsan
    config=(-DCMAKE_BUILD_TYPE=Debug -DNTK_SANITIZE=thread)
    # OpenBLAS is not instrumented: its own worker threads would give false reports. Single-threaded
    # it starts none; the project's threads (parallel_for) are all instrumented.
    export OPENBLAS_NUM_THREADS=1
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" ;;
esac
cmake -S . -B "$build" "${config[@]}"
cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure -j"$jobs" "$@"
