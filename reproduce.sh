#!/usr/bin/env bash
# Reproduces "Understanding the Neural Tangent Kernel" (Rajat V D, 2019) with this library:
# installs the Debian packages it needs, builds, runs every experiment with its defaults (the
# post's settings), draws every figure and writes results/REPORT.md.
#
#   ./reproduce.sh                 every experiment, results in results/<name>/
#   ./reproduce.sh --quick         every experiment at small sizes (seconds), in results/quick/
#   ./reproduce.sh NAME...         some of them (e.g. ./reproduce.sh toy-model kappa-alpha)
#   THREADS=1 ./reproduce.sh       worker threads per experiment (default: all cores)
#
# The time of each experiment (run and plots) is printed and goes into the report.
set -euo pipefail
cd "$(dirname "$0")"

ALL=(toy-model lazy-weights kappa-width kappa-alpha random-functions train-100 ntk-ellipses gradient-flow
     infinite-width generalization)
quick=()
results=results
selected=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick); results=results/quick ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "reproduce.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    *)
      known=0
      for name in "${ALL[@]}"; do [ "$name" = "$arg" ] && known=1; done
      [ $known = 1 ] || { echo "reproduce.sh: unknown experiment '$arg'; the experiments are: ${ALL[*]}" >&2; exit 2; }
      selected+=("$arg") ;;
  esac
done
[ ${#selected[@]} -gt 0 ] || selected=("${ALL[@]}")

source scripts/deps.sh
install_packages "${BUILD_PACKAGES[@]}" "${EXPERIMENT_PACKAGES[@]}"
python=$(find_matplotlib_python)
cmake -S . -B build "${CMAKE_CONFIGURE[@]}" > /dev/null
cmake --build build --target experiments -j"$(nproc)"

threads=${THREADS:-$(nproc)}
mkdir -p "$results"
timings="$results/timings.csv"
[ -f "$timings" ] || echo "experiment,run_seconds,plot_seconds,status" > "$timings"
failed=()
suite_start=$(date +%s.%N)
for name in "${selected[@]}"; do
  echo "== $name"
  start=$(date +%s.%N)
  status=ok
  build/bin/"$name" "${quick[@]}" --threads "$threads" --out "$results/$name" || status=failed
  middle=$(date +%s.%N)
  if [ $status = ok ]; then
    "$python" experiments/plot_"${name//-/_}".py "$results/$name" || status=plot-failed
  fi
  end=$(date +%s.%N)
  run_s=$(echo "$middle - $start" | bc)
  plot_s=$(echo "$end - $middle" | bc)
  printf '%s: run %.1f s, plots %.1f s (%s)\n' "$name" "$run_s" "$plot_s" "$status"
  grep -v "^$name," "$timings" > "$timings.partial" || true
  printf '%s,%.2f,%.2f,%s\n' "$name" "$run_s" "$plot_s" "$status" >> "$timings.partial"
  mv "$timings.partial" "$timings"
  [ $status = ok ] || failed+=("$name")
done
suite_end=$(date +%s.%N)
printf 'suite: %.1f s for %d experiment(s)\n' "$(echo "$suite_end - $suite_start" | bc)" "${#selected[@]}"
"$python" experiments/report.py "$results" "${ALL[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "reproduce.sh: failed: ${failed[*]}" >&2
  exit 1
fi
