#!/usr/bin/env python3
"""Guards test discovery: every test program in BUILD/bin must have CTest tests, as many as it lists.

catch_discover_tests registers what a program prints for --list-test-names-only; a program that
crashes at start-up (a static initializer, a sanitizer that cannot start) registers nothing, and
CTest then reports 100% of fewer tests. This compares, for each BUILD/bin/*_tests, the names the
program lists now with the CTest tests whose command runs it, and fails on any difference or on a
program that lists or registers no test.

usage: check_test_count.py BUILD_DIR [CTEST]
"""
import collections
import json
import os
import subprocess
import sys


def main():
    build = sys.argv[1]
    ctest = sys.argv[2] if len(sys.argv) > 2 else "ctest"
    shown = subprocess.run([ctest, "--show-only=json-v1"], cwd=build, capture_output=True, text=True, check=True)
    registered = collections.Counter()
    for test in json.loads(shown.stdout)["tests"]:
        command = test.get("command") or []
        if command:
            registered[os.path.realpath(command[0])] += 1
    bin_dir = os.path.join(build, "bin")
    programs = sorted(p for p in os.listdir(bin_dir) if p.endswith("_tests"))
    failures = []
    total = 0
    for program in programs:
        path = os.path.realpath(os.path.join(bin_dir, program))
        listed = subprocess.run([path, "--list-test-names-only"], capture_output=True, text=True)
        names = [line for line in listed.stdout.splitlines() if line.strip()]
        if listed.returncode < 0 or listed.returncode not in (0, len(names) % 256):
            # (Catch2 v2 exits with the number of tests listed)
            failures.append(f"{program}: listing its tests failed (exit status {listed.returncode}): "
                            f"{listed.stderr.strip()[-300:]}")
            continue
        count = registered[path]
        total += count
        print(f"{program}: {len(names)} tests listed, {count} registered with CTest")
        if not names:
            failures.append(f"{program}: lists no tests")
        elif count != len(names):
            failures.append(f"{program}: lists {len(names)} tests but CTest has {count} "
                            "(rerun cmake --build: discovery ran on another binary)")
    if not programs:
        failures.append(f"no test programs (*_tests) in {bin_dir}")
    for failure in failures:
        print(f"test-count: FAILED: {failure}", file=sys.stderr)
    print(f"test-count: {len(programs)} test programs, {total} tests registered")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
