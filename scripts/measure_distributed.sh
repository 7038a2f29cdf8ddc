#!/usr/bin/env bash
# The measurements of docs/distributed.md: ntk-regress on Fashion-MNIST (the first N training
# images, all 10,000 test images), one JSON report per run in results/distributed/ and a summary
# table results/distributed/summary.csv. Needs a built tree (./test.sh or cmake --build build).
#
#   scripts/measure_distributed.sh scaling            # N = 10k, NTK depth 2, on 1 and 2 ranks
#   scripts/measure_distributed.sh accuracy 5000 10000  # NTK and NNGP depth 1-3 and RBF, 2 ranks
#   scripts/measure_distributed.sh one NAME ARGS...    # one run on RANKS ranks
#   scripts/measure_distributed.sh summary
#
# One rank per core: OpenBLAS and the kernel passes single-threaded (OPENBLAS_NUM_THREADS=1 and
# ntk-regress's default --threads 1). RANKS (default 2) sets the ranks of the accuracy runs. The
# nets are those of the generalization experiment (σ_w² = 2, σ_b² = 0.1, relu); its training
# images are a random subset, here they are the first N. The RBF baseline uses γ = 4, the best of
# 0.5, 1, 2, 4, 8, 16 on the test set at N = 5k (so it is, if anything, favoured).
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/distributed
mkdir -p "$out"
bin=build/bin/ntk-regress
[ -x "$bin" ] || { echo "no $bin: build first (MPI and ScaLAPACK needed)"; exit 1; }
export OPENBLAS_NUM_THREADS=1
# Waiting ranks yield the core (other work on the machine otherwise slows their busy polling).
mpi=(mpiexec --oversubscribe --mca mpi_yield_when_idle 1 -x OPENBLAS_NUM_THREADS)
if [ "$(id -u)" -eq 0 ]; then mpi+=(--allow-run-as-root); fi
ranks=${RANKS:-2}

run() {  # ranks report-name ntk-regress-arguments...
  local r=$1 name=$2
  shift 2
  echo "== $name ($r ranks): $*"
  "${mpi[@]}" -n "$r" "$bin" --fashion-mnist --test-size 10000 --sw2 2 --sb2 0.1 --report "$out/$name.json" "$@" |
    tee "$out/$name.txt"
}

summary() {
  /usr/bin/python3 - "$out" <<'PY'
import csv, glob, json, os, sys
out = sys.argv[1]
rows = []
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    r = json.load(open(path))
    s = r["seconds"]
    rows.append({"run": os.path.basename(path)[:-5], "kind": r["kind"], "depth": r["depth"], "train_rows": r["train_rows"],
                 "test_rows": r["test_rows"], "ranks": r["ranks"], "grid": r["grid"], "accuracy": r["accuracy"],
                 "ridge": r["ridge"], "load_s": s.get("load"), "train_kernel_s": s.get("train kernel"), "solve_s": s.get("solve"),
                 "test_kernel_s": s.get("test kernel"), "predict_s": s.get("predict"),
                 "peak_rss_gb_max": max(r["peak_rss_bytes"]) / 1e9, "planned_gb_per_rank": r["planned_bytes_per_rank"] / 1e9,
                 "planned_kernel_gb_per_rank": r["planned_kernel_bytes_per_rank"] / 1e9})
with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(rows)
for row in rows:
    print(row)
PY
}

what=${1:-all}
shift || true
case $what in
  scaling)
    for r in 1 2; do run "$r" "scaling_n10000_r$r" --train-size 10000 --kind ntk --depth 2; done ;;
  accuracy)
    sizes=("$@")
    [ ${#sizes[@]} -gt 0 ] || sizes=(5000 10000)
    for n in "${sizes[@]}"; do
      for kind in ntk nngp; do
        for depth in 1 2 3; do run "$ranks" "accuracy_${kind}_d${depth}_n$n" --train-size "$n" --kind "$kind" --depth "$depth"; done
      done
      run "$ranks" "accuracy_rbf_n$n" --train-size "$n" --kind rbf --rbf-gamma "${RBF_GAMMA:-4}"
    done ;;
  one)  # one run: NAME and ntk-regress's arguments (scripts/measure_distributed.sh one NAME --train-size 20000 ...)
    run "$ranks" "$@" ;;
  summary) ;;
  all)
    "$0" scaling
    "$0" accuracy 5000 10000 ;;
  *) echo "usage: $0 [scaling|accuracy [N...]|one NAME ARGS...|summary|all]"; exit 2 ;;
esac
summary
