#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, ASan + UBSan) in build-fuzz/ and runs each for a
# bounded time. docs/reliability.md explains what they fuzz and what to do with a finding.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default: 60 s each of npy csv cli
#
# Each target starts from its kept inputs (fuzz/regressions/<target>/) plus the corpus it grew
# before (build-fuzz/corpus/<target>/, not committed). A crash, leak, sanitizer report or hang
# stops it with the input saved as build-fuzz/findings/<target>/crash-* (or leak-*, timeout-*,
# oom-*) and this script fails; fix the bug, then add the input to fuzz/regressions/<target>/ so
# the normal test suite replays it (tests/ntk_fuzz_regressions.cpp).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_packages "${BUILD_PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(npy csv cli)
CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DNTK_FUZZ=ON -DNTK_AVX2=OFF \
  -DNTK_AUTODIFF_BUILD_TESTS=OFF -DNTK_AUTODIFF_BUILD_BENCH=OFF -DNTK_AUTODIFF_BUILD_EXPERIMENTS=OFF \
  -DNTK_AUTODIFF_BUILD_EXAMPLES=OFF -DNTK_AUTODIFF_BUILD_PYTHON=OFF -DNTK_AUTODIFF_INSTALL=OFF
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}"
status=0
for target in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$target" "build-fuzz/findings/$target"
  echo "fuzz_$target: ${seconds} s"
  # -close_fd_mask=3: the targets' own messages (every refused input prints one) are not shown;
  # libFuzzer's reports still are. Inputs of at most 4 KiB; 10 s or 2 GiB for one input is a finding.
  # (absolute paths: fuzz_cli changes into a scratch folder before libFuzzer reads them)
  if ! "build-fuzz/bin/fuzz_$target" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
      -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$PWD/build-fuzz/findings/$target/" \
      "$PWD/build-fuzz/corpus/$target" "$PWD/fuzz/regressions/$target" 2> "build-fuzz/fuzz_$target.log"; then
    status=1
    echo "fuzz_$target: FINDING (see build-fuzz/fuzz_$target.log and build-fuzz/findings/$target/)"
  fi
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::new_units_added)|ERROR|SUMMARY" \
    "build-fuzz/fuzz_$target.log" | tail -5 || true
done
exit $status
