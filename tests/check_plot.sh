#!/usr/bin/env bash
# Runs one experiment with --quick into a temporary folder and draws its figures with its
# plotting script; fails unless the script succeeds and leaves at least one PNG and no partial file.
set -euo pipefail
bin=$1 name=$2 script=$3
python=/usr/bin/python3
folder=$(mktemp -d)
trap 'rm -rf "$folder"' EXIT
"$bin/$name" --quick --threads 2 --out "$folder/$name" 2> "$folder/stderr" || { cat "$folder/stderr"; exit 1; }
"$python" "$script" "$folder/$name"
pngs=$(find "$folder/$name" -name '*.png' | wc -l)
partial=$(find "$folder/$name" -name '*.partial*' | wc -l)
[ "$pngs" -ge 1 ] || { echo "no PNG written"; exit 1; }
[ "$partial" -eq 0 ] || { echo "partial files left"; exit 1; }
echo "$name: $pngs PNG(s), $(find "$folder/$name" -name '*.gif' | wc -l) GIF(s)"
