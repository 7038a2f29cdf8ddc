#!/usr/bin/env bash
# ntk-regress under mpiexec on small data: CASE is one of the checks below. Each fails unless it
# ran the program and saw what it expects (the single-process comparison line, or exactly one
# error message and no output file).
#   check_ntk_regress.sh BIN_DIR MPIEXEC CASE
source "$(dirname "$0")/mpi_test_setup.sh"

# Small regression problems as .npy: 97 training points (not a multiple of any block × grid
# used here), 13 test points, 6 features, 3 targets; dup/: a training set with a repeated point.
/usr/bin/python3 - "$folder" <<'PY'
import os, sys
import numpy as np
folder = sys.argv[1]
rng = np.random.default_rng(16)
x = rng.standard_normal((97, 6)); w = rng.standard_normal((6, 3))
xt = rng.standard_normal((13, 6))
for name, a in [("x", x), ("y", np.tanh(x @ w)), ("xt", xt), ("yt", np.tanh(xt @ w))]:
    np.save(os.path.join(folder, name + ".npy"), a)
os.makedirs(os.path.join(folder, "dup"))
xd = np.vstack([x[:20], x[:1]])
np.save(os.path.join(folder, "dup", "x.npy"), xd)
np.save(os.path.join(folder, "dup", "y.npy"), np.tanh(xd @ w))
PY
data=(--train-x "$folder/x.npy" --train-y "$folder/y.npy" --test-x "$folder/xt.npy" --test-y "$folder/yt.npy")

# ranks, then ntk-regress's arguments; stdout+stderr to $folder/log, exit status in $status.
run() {
  local ranks=$1
  shift
  set +e
  if [ "$ranks" -eq 0 ]; then  # without mpiexec: one rank
    "$bin/ntk-regress" "$@" > "$folder/log" 2>&1
  else
    "$mpiexec" -n "$ranks" "${mpi_args[@]}" "$bin/ntk-regress" "$@" > "$folder/log" 2>&1
  fi
  status=$?
  set -e
}

# Runs with --verify and requires predictions equal to the single-process path's (1e-10, checked
# by the program) and a training kernel equal to 1e-15.
agrees() {
  run "$@" --verify --predictions "$folder/p.npy"
  cat "$folder/log"
  [ "$status" -eq 0 ] || { echo "FAILED: exit status $status"; exit 1; }
  grep -q "^single-process path:" "$folder/log" || { echo "FAILED: no comparison with the single-process path"; exit 1; }
  local kernel
  kernel=$(sed -n 's/.*training kernel \([^ ]*\)$/\1/p' "$folder/log")
  /usr/bin/python3 -c "import sys; sys.exit(0 if float('$kernel') <= 1e-15 else 1)" ||
    { echo "FAILED: training kernel differs by $kernel"; exit 1; }
  [ -f "$folder/p.npy" ] || { echo "FAILED: no predictions written"; exit 1; }
}

# Requires a non-zero exit, exactly one error line containing $1, and no predictions file.
refused() {
  local expected=$1
  shift
  rm -f "$folder/p.npy"
  run "$@" --predictions "$folder/p.npy"
  cat "$folder/log"
  [ "$status" -ne 0 ] || { echo "FAILED: exit status 0"; exit 1; }
  local lines
  lines=$(grep -c "ntk-regress: error" "$folder/log" || true)
  [ "$lines" -eq 1 ] || { echo "FAILED: $lines error lines (want 1)"; exit 1; }
  grep -q -- "$expected" "$folder/log" || { echo "FAILED: the message does not contain '$expected'"; exit 1; }
  if ls "$folder"/p.npy* > /dev/null 2>&1; then echo "FAILED: an output file was left"; exit 1; fi
}

case $case in
  ranks1) agrees 0 "${data[@]}" --kind ntk --depth 2 --block 8 ;;
  ranks2) agrees 2 "${data[@]}" --kind nngp --depth 1 --block 8 --test-chunk 5 ;;
  ranks3)  # a 1x3 grid, blocks of 7 (97 = 13·7 + 6: uneven edges), relu NTK of depth 3
    agrees 3 "${data[@]}" --kind ntk --depth 3 --block 7 --sb2 0.1 ;;
  ranks3-column)  # a 3x1 grid: with 2 test rows in blocks of 4, ranks 1 and 2 own no test rows
    /usr/bin/python3 -c "import numpy as np; np.save('$folder/xt2.npy', np.load('$folder/xt.npy')[:2]); np.save('$folder/yt2.npy', np.load('$folder/yt.npy')[:2])"
    agrees 3 --train-x "$folder/x.npy" --train-y "$folder/y.npy" --test-x "$folder/xt2.npy" --test-y "$folder/yt2.npy" \
      --kind nngp --depth 2 --activation erf --block 4 --grid 3x1 ;;
  quadrature)  # tanh by quadrature with a fixed node count, 2 ranks
    agrees 2 "${data[@]}" --kind ntk --depth 1 --activation tanh --nodes 40 --block 8 ;;
  rbf) agrees 3 "${data[@]}" --kind rbf --rbf-gamma 0.5 --block 8 ;;
  fashion-mnist)  # the real reader, 2 ranks: accuracy equal to the single-process path's
    agrees 2 --fashion-mnist --train-size 150 --test-size 31 --kind ntk --depth 1 --block 16
    grep -q "^accuracy" "$folder/log" || { echo "FAILED: no accuracy"; exit 1; }
    a=$(sed -n 's/^accuracy \(.*\)/\1/p' "$folder/log")
    grep -q "single-process path: accuracy $a," "$folder/log" || { echo "FAILED: accuracy differs"; exit 1; } ;;
  same-across-ranks)  # 1 and 3 ranks give the same predictions to 1e-12
    agrees 0 "${data[@]}" --depth 2 --block 8 && mv "$folder/p.npy" "$folder/p1.npy"
    agrees 3 "${data[@]}" --depth 2 --block 8
    /usr/bin/python3 -c "
import numpy as np, sys
a, b = np.load('$folder/p1.npy'), np.load('$folder/p.npy')
d = np.abs(a - b).max() / np.abs(a).max(); print('1 vs 3 ranks: relative difference', d); sys.exit(0 if d <= 1e-12 else 1)" ;;
  missing-file)  # the training inputs exist for rank 0 only (a relative path in another folder)
    mkdir -p "$folder/rank0" "$folder/rank1"
    cp "$folder"/{x,y,xt,yt}.npy "$folder/rank0/"
    cp "$folder"/{y,xt,yt}.npy "$folder/rank1/"
    set +e
    (cd "$folder" && "$mpiexec" -n 2 "${mpi_args[@]}" sh -c \
      'cd rank${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}} && exec "$0" "$@"' "$bin/ntk-regress" \
      --train-x x.npy --train-y y.npy --test-x xt.npy --test-y yt.npy --predictions "$folder/p.npy") > "$folder/log" 2>&1
    status=$?
    set -e
    cat "$folder/log"
    [ "$status" -ne 0 ] || { echo "FAILED: exit status 0"; exit 1; }
    [ "$(grep -c 'ntk-regress: error' "$folder/log")" -eq 1 ] || { echo "FAILED: not exactly one error line"; exit 1; }
    grep -q "rank 1: .*x.npy" "$folder/log" || { echo "FAILED: the message does not name rank 1 and the file"; exit 1; }
    if ls "$folder"/p.npy* > /dev/null 2>&1; then echo "FAILED: an output file was left"; exit 1; fi ;;
  not-positive-definite)  # repeated training points and λ = 0, the linear kernel x·x′/d (rank <= 6 < 21)
    refused "not positive definite" 2 --train-x "$folder/dup/x.npy" --train-y "$folder/dup/y.npy" --test-x "$folder/xt.npy" \
      --test-y "$folder/yt.npy" --kind nngp --depth 0 --ridge-absolute 0 --block 4 ;;
  memory-limit)  # refused before allocating: the plan exceeds the limit
    refused "over the limit" 3 "${data[@]}" --memory-limit 1e-6 ;;
  memory-available)  # the default limit, what the machine has available: 2,000,000 training points
    # (16 TB of kernel a rank) are refused from the counts alone — the Fashion-MNIST folder here
    # holds label files only, so reading any image would fail with another message
    mkdir -p "$folder/fake"
    /usr/bin/python3 - "$folder/fake" <<'PY'
import gzip, os, struct, sys
for name, count in [("train-labels-idx1-ubyte.gz", 2000000), ("t10k-labels-idx1-ubyte.gz", 10)]:
    with gzip.open(os.path.join(sys.argv[1], name), "wb") as f:
        f.write(struct.pack(">BBBBI", 0, 0, 8, 1, count) + bytes(count))
PY
    fake=(--fashion-mnist --fashion-mnist-dir "$folder/fake" --train-size 2000000 --test-size 10)
    refused "more than this machine has available for each of its 1 ranks" 0 "${fake[@]}"
    refused "more than this machine has available for each of its 2 ranks" 2 "${fake[@]}" ;;
  bad-arguments)
    refused "--block must be >= 1" 2 "${data[@]}" --block 0
    refused "process grid needs 4 ranks" 3 "${data[@]}" --grid 2x2
    refused "unknown kernel" 2 "${data[@]}" --kind gauss
    refused "give --nodes" 2 "${data[@]}" --activation tanh
    refused "--train-x, --train-y" 2 --train-x "$folder/x.npy"
    refused "wrong" 2 "${data[@]}" --wrong-flag
    [ "$status" -eq 2 ] || { echo "FAILED: a bad command line exits 2, got $status"; exit 1; } ;;
  *) echo "unknown case $case"; exit 1 ;;
esac
echo "$case: ok"
