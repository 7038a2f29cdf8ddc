# Sourced by the scripts of the distributed.* tests with their arguments BIN_DIR MPIEXEC CASE:
# sets $bin, $mpiexec and $case, a scratch $folder removed at exit, and mpi_args for mpiexec:
# --oversubscribe (more ranks than cores) and, when run as root (as in CI), --allow-run-as-root.
set -euo pipefail
bin=$(cd "$1" && pwd) mpiexec=$2 case=$3
folder=$(mktemp -d)
trap 'rm -rf "$folder"' EXIT
mpi_args=(--oversubscribe)
if [ "$(id -u)" -eq 0 ]; then mpi_args+=(--allow-run-as-root); fi
