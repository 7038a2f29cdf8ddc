#!/usr/bin/env bash
# `mpiexec -n R ntk-kernel` (distributed/tools/ntk_kernel.cpp): CASE is one of the checks below.
#   check_ntk_kernel_mpi.sh BIN_DIR MPIEXEC CASE
# An agreement case runs plain ntk-kernel and then mpiexec on 2 and 3 ranks with the same flags,
# and requires every rank to exit 0, the .npy files to be equal byte for byte (cmp) and the MPI
# run's log to say it ran on those ranks in pieces. A refusal case requires every rank to exit non-zero (each rank's own
# status, recorded by a wrapper: mpiexec is told not to end a job at a rank's first non-zero exit),
# exactly one error line containing the expected words, no output file (nor .partial), and no hang
# (each mpiexec runs under `timeout`).
source "$(dirname "$0")/mpi_test_setup.sh"
base_args=("${mpi_args[@]}")
mpi_args+=(--mca orte_abort_on_non_zero_status 0)
kernel=$bin/ntk-kernel

# 97 points of dimension 6 (97 is prime: pieces of every size leave an uneven last one), 41 other
# points, 600 points of dimension 80 (the input Gram in 256 x 256 OpenBLAS tiles) and 170 others.
/usr/bin/python3 - "$folder" <<'PY'
import os, sys
import numpy as np
folder = sys.argv[1]
rng = np.random.default_rng(17)
x = rng.standard_normal((97, 6))
x[3] = x[0]; x[5] = -x[1]  # a repeated and a negated point: correlations of exactly +-1
np.save(os.path.join(folder, "x.npy"), x)
np.save(os.path.join(folder, "x2.npy"), rng.standard_normal((41, 6)))
np.save(os.path.join(folder, "wide.npy"), rng.standard_normal((600, 80)))
np.save(os.path.join(folder, "wide2.npy"), rng.standard_normal((170, 80)))
PY

# Runs ntk-kernel on `ranks` ranks (0: without mpiexec) with the other arguments; the log (stdout
# and stderr) in $folder/log, the exit status (mpiexec's) in $status, each rank's in
# $folder/status/RANK. With per_rank set, rank r runs in $folder/rank<r> (relative paths then
# name a file of its own).
run() {
  local ranks=$1
  shift
  rm -rf "$folder/status"
  mkdir -p "$folder/status"
  local wrapper='r=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}; '
  if [ -n "${per_rank:-}" ]; then wrapper+='cd "'"$folder"'/rank$r" || exit 99; '; fi
  wrapper+='"$0" "$@"; s=$?; echo $s > "'"$folder"'/status/$r"; exit $s'
  set +e
  if [ "$ranks" -eq 0 ]; then
    timeout 120 "$kernel" "$@" > "$folder/log" 2>&1
  else
    timeout 120 "$mpiexec" -n "$ranks" "${mpi_args[@]}" sh -c "$wrapper" "$kernel" "$@" > "$folder/log" 2>&1
  fi
  status=$?
  set -e
  [ "$status" -ne 124 ] || { cat "$folder/log"; echo "FAILED: no end after 120 s (a hang?)"; exit 1; }
}

# The kernel with these flags on 2 and 3 ranks equals the single-process one byte for byte.
agrees() {
  run 0 "$@" --output "$folder/k1.npy"
  [ "$status" -eq 0 ] || { cat "$folder/log"; echo "FAILED: the single-process run exited $status"; exit 1; }
  for ranks in 2 3; do
    rm -f "$folder/k.npy"
    run "$ranks" "$@" --output "$folder/k.npy"
    cat "$folder/log"
    [ "$status" -eq 0 ] || { echo "FAILED: $ranks ranks exited $status"; exit 1; }
    for ((r = 0; r < ranks; r++)); do  # (mpiexec does not tell: it runs each rank to its end)
      [ "$(cat "$folder/status/$r" 2> /dev/null)" = 0 ] || { echo "FAILED: rank $r did not exit 0"; exit 1; }
    done
    grep -q "; $ranks ranks$" "$folder/log" || { echo "FAILED: the run did not go over $ranks ranks"; exit 1; }
    grep -q "pieces of [0-9]* rows over $ranks ranks" "$folder/log" || { echo "FAILED: no pieces written"; exit 1; }
    cmp "$folder/k1.npy" "$folder/k.npy" || { echo "FAILED: $ranks ranks differ from one process: $*"; exit 1; }
    if ls "$folder"/*.partial > /dev/null 2>&1; then echo "FAILED: a .partial file was left"; exit 1; fi
    echo "equal on $ranks ranks: $*"
  done
}

# Every rank of a `ranks`-rank run exits non-zero, with one error line containing $2, and no
# output file is left (a file there before stays as it was).
refused() {
  local ranks=$1 expected=$2
  shift 2
  run "$ranks" "$@"
  cat "$folder/log"
  for ((r = 0; r < ranks; r++)); do
    [ -f "$folder/status/$r" ] || { echo "FAILED: rank $r did not run to its end"; exit 1; }
    [ "$(cat "$folder/status/$r")" -ne 0 ] || { echo "FAILED: rank $r exited 0"; exit 1; }
  done
  local lines
  lines=$(grep -c "ntk-kernel: error" "$folder/log" || true)
  [ "$lines" -eq 1 ] || { echo "FAILED: $lines error lines (want 1)"; exit 1; }
  grep -q -- "$expected" "$folder/log" || { echo "FAILED: the message does not contain '$expected'"; exit 1; }
  if ls "$folder"/k.npy* "$folder"/*/k.npy* > /dev/null 2>&1; then echo "FAILED: an output file was left"; exit 1; fi
  echo "refused on $ranks ranks: $expected"
}

out=(--output "$folder/k.npy")
case $case in
  ranks1)  # one rank under mpiexec: the plain program, MPI never initialized
    run 0 --input "$folder/x.npy" --depth 2 --output "$folder/k1.npy"
    run 1 --input "$folder/x.npy" --depth 2 --output "$folder/k.npy"
    cat "$folder/log"
    [ "$(cat "$folder/status/0" 2> /dev/null)" = 0 ] || { echo "FAILED: the rank did not exit 0"; exit 1; }
    grep -q "wrote .*k.npy" "$folder/log" || { echo "FAILED: nothing written"; exit 1; }
    if grep -q "ranks" "$folder/log"; then echo "FAILED: one rank went over MPI"; exit 1; fi
    cmp "$folder/k1.npy" "$folder/k.npy" || { echo "FAILED: 1 rank differs"; exit 1; } ;;
  closed-forms)  # relu and erf, NTK and NNGP, depth 1 to 3
    for depth in 1 2 3; do
      agrees --input "$folder/x.npy" --kind ntk --depth "$depth" --sw2 2 --sb2 0.1
      agrees --input "$folder/x.npy" --kind nngp --depth "$depth" --sw2 2 --sb2 0.1
    done
    agrees --input "$folder/x.npy" --kind ntk --depth 2 --activation erf --sw2 1.5 --sb2 0.2
    agrees --input "$folder/x.npy" --kind nngp --depth 3 --activation erf
    agrees --input "$folder/x.npy" --kind ntk --depth 2 --parameterization standard --width 64 ;;
  quadrature)  # tanh by the Hermite series and by the 2-D rule, erf and sin by quadrature
    agrees --input "$folder/x.npy" --kind ntk --depth 1 --activation tanh --sb2 0.1
    agrees --input "$folder/x.npy" --kind nngp --depth 2 --activation tanh --sb2 0.1
    agrees --input "$folder/x.npy" --kind ntk --depth 3 --activation tanh --nodes 12
    agrees --input "$folder/x.npy" --kind ntk --depth 2 --activation erf --method quadrature --nodes 9
    agrees --input "$folder/x.npy" --kind nngp --depth 1 --activation sin --rule gauss-hermite --nodes 30 ;;
  rectangular)  # --input2: every piece is whole rows
    agrees --input "$folder/x.npy" --input2 "$folder/x2.npy" --kind ntk --depth 3 --sb2 0.1
    agrees --input "$folder/x.npy" --input2 "$folder/x2.npy" --kind nngp --depth 2 --activation tanh
    agrees --input "$folder/x2.npy" --input2 "$folder/x.npy" --kind ntk --depth 1 --activation erf ;;
  tiled)  # 80 features: pieces of 256 rows, one tile row each (600 = 2 x 256 + 88)
    agrees --input "$folder/wide.npy" --kind ntk --depth 2 --sw2 2 --sb2 0.1
    grep -q "3 pieces of 256 rows" "$folder/log" || { echo "FAILED: not 3 pieces of 256 rows"; exit 1; }
    agrees --input "$folder/wide.npy" --input2 "$folder/wide2.npy" --kind nngp --depth 1 ;;
  missing-file)  # the input exists for ranks 0 and 2 only (a relative path, each rank in a folder of its own)
    mkdir -p "$folder/rank0" "$folder/rank1" "$folder/rank2"
    cp "$folder/x.npy" "$folder/rank0/"
    cp "$folder/x.npy" "$folder/rank2/"
    per_rank=1 refused 3 "rank 1: .*x.npy" --input x.npy --depth 2 "${out[@]}" ;;
  malformed-file)  # rank 1 reads a truncated .npy, then a CSV with a word among the numbers
    mkdir -p "$folder/rank0" "$folder/rank1"
    cp "$folder/x.npy" "$folder/rank0/"
    head -c 1000 "$folder/x.npy" > "$folder/rank1/x.npy"
    per_rank=1 refused 2 "rank 1: .*x.npy" --input x.npy --depth 2 "${out[@]}"
    printf '1,2\n3,4\n' > "$folder/rank0/x.csv"
    printf '1,2\n3,four\n' > "$folder/rank1/x.csv"
    per_rank=1 refused 2 "rank 1: x.csv:2: field 2 'four' is not a number" --input x.csv "${out[@]}" ;;
  different-data)  # the ranks read files of the same shape and other numbers
    mkdir -p "$folder/rank0" "$folder/rank1"
    cp "$folder/x.npy" "$folder/rank0/"
    /usr/bin/python3 -c "import numpy as np; np.save('$folder/rank1/x.npy', np.load('$folder/x.npy') + 1e-9)"
    per_rank=1 refused 2 "the ranks read different data from x.npy" --input x.npy "${out[@]}" ;;
  non-finite)  # variances overflow in the second layer: every entry is Inf or NaN
    refused 2 "the kernel has non-finite entries" --input "$folder/x.npy" --depth 2 --sw2 1e300 "${out[@]}"
    refused 3 "the kernel has non-finite entries" --input "$folder/x.npy" --depth 2 --sw2 1e300 "${out[@]}"
    # mpiexec as users run it (ending the job at a rank's non-zero exit) exits non-zero, and a file
    # there before is left as it was
    echo "previous" > "$folder/k.npy"
    mpi_args=("${base_args[@]}")
    run 2 --input "$folder/x.npy" --depth 2 --sw2 1e300 "${out[@]}"
    cat "$folder/log"
    [ "$status" -ne 0 ] || { echo "FAILED: mpiexec exited 0"; exit 1; }
    grep -q "ntk-kernel: error: the kernel has non-finite entries" "$folder/log" || { echo "FAILED: not the error"; exit 1; }
    [ "$(cat "$folder/k.npy")" = "previous" ] || { echo "FAILED: the previous file changed"; exit 1; }
    if ls "$folder"/*.partial > /dev/null 2>&1; then echo "FAILED: a .partial file was left"; exit 1; fi ;;
  bad-arguments)
    refused 2 "over MPI ranks the kernel is written as one .npy" --input "$folder/x.npy" --output "$folder/k.csv"
    refused 2 "over MPI ranks the kernel is written as one .npy" --input "$folder/x.npy" --output -
    refused 3 "--empirical is not computed over MPI ranks" --input "$folder/x.npy" --empirical --width 8 "${out[@]}"
    refused 2 "unknown kernel kind 'gauss'" --input "$folder/x.npy" --kind gauss "${out[@]}"
    refused 2 "--depth must be >= 0" --input "$folder/x.npy" --depth -1 "${out[@]}"
    refused 3 "would overwrite an input file" --input "$folder/x.npy" --output "$folder/x.npy"
    refused 2 "wide.npy has 80 columns but .*x2.npy has 6" --input "$folder/wide.npy" --input2 "$folder/x2.npy" "${out[@]}"
    refused 2 "missing.npy" --input "$folder/missing.npy" "${out[@]}"
    refused 2 "wrong" --input "$folder/x.npy" --wrong-flag "${out[@]}"
    for r in 0 1; do
      [ "$(cat "$folder/status/$r")" -eq 2 ] || { echo "FAILED: a bad command line exits 2 on rank $r"; exit 1; }
    done ;;
  *) echo "unknown case $case"; exit 1 ;;
esac
echo "$case: ok"
