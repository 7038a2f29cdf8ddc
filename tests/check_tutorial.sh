#!/usr/bin/env bash
# Keeps docs/tutorial.md and the programs in examples/ from drifting apart. The tutorial tags its
# fenced blocks with the example they belong to:
#
#   ```text output=NAME     what build/bin/example-NAME prints (all such blocks of NAME, in order,
#                           must equal its whole output)
#   ```cpp example=NAME     an excerpt of examples/NAME.cpp ('-' read as '_') or of a header in
#                           examples/, verbatim
#
# Usage: check_tutorial.sh TUTORIAL EXAMPLES_DIR BIN_DIR [NAME]
#   with NAME: runs example-NAME and checks its output blocks and code excerpts;
#   without:   checks that every examples/*.cpp has output in the tutorial and every tag names
#              an example.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 TUTORIAL EXAMPLES_DIR BIN_DIR [NAME]" >&2
  exit 2
fi
tutorial=$1
sources=$2
bin=$3
name=${4:-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# output.NAME: the output blocks of NAME joined; code.NAME.K: its K-th code excerpt.
awk -v dir="$work" '
  !inside && /^```[A-Za-z0-9_+-]* (output|example)=[A-Za-z0-9_-]+[[:space:]]*$/ {
    split($2, pair, "=")
    if (pair[1] == "output") {
      file = dir "/output." pair[2]
    } else {
      excerpts[pair[2]]++
      file = dir "/code." pair[2] "." excerpts[pair[2]]
    }
    printf "" >> file
    inside = 1
    next
  }
  inside && /^```[[:space:]]*$/ { inside = 0; close(file); next }
  inside { print >> file }
  END { if (inside) { print "unterminated block in the tutorial" > "/dev/stderr"; exit 1 } }
' "$tutorial"

source_of() { echo "$sources/${1//-/_}.cpp"; }

if [ -z "$name" ]; then
  status=0
  for source in "$sources"/*.cpp; do
    example=$(basename "$source" .cpp)
    example=${example//_/-}
    if [ ! -f "$work/output.$example" ]; then
      echo "$tutorial has no \`\`\`text output=$example block for $source"
      status=1
    fi
  done
  for block in "$work"/output.* "$work"/code.*; do
    [ -e "$block" ] || continue
    example=$(basename "$block")
    example=${example#*.}
    example=${example%%.*}
    if [ ! -f "$(source_of "$example")" ]; then
      echo "$tutorial tags a block with '$example', but there is no $(source_of "$example")"
      status=1
    fi
  done
  [ $status -eq 0 ] && echo "every example is in $tutorial"
  exit $status
fi

source=$(source_of "$name")
[ -f "$source" ] || { echo "no example source $source"; exit 1; }
[ -f "$work/output.$name" ] || { echo "$tutorial has no \`\`\`text output=$name block"; exit 1; }
if ! "$bin/example-$name" > "$work/actual" 2> "$work/errors"; then
  echo "$bin/example-$name failed:"
  cat "$work/errors"
  exit 1
fi
status=0
if ! diff -u --label "$tutorial (output=$name)" --label "$bin/example-$name" "$work/output.$name" "$work/actual"; then
  echo "the tutorial's output of example-$name differs from what the program prints (above): update one or the other"
  status=1
fi
source_text=$(cat "$source" "$sources"/*.hpp)  # excerpts may come from the shared headers too
for excerpt in "$work"/code."$name".*; do
  [ -e "$excerpt" ] || continue
  block=$(<"$excerpt")
  if [[ "$source_text" != *"$block"* ]]; then
    echo "this \`\`\`cpp example=$name block of $tutorial is not in $source:"
    cat "$excerpt"
    status=1
  fi
done
[ $status -eq 0 ] && echo "example-$name: its output and code excerpts match $tutorial"
exit $status
