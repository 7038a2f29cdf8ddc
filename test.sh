#!/usr/bin/env bash
# Installs missing Debian packages, builds (Release) and runs every test through CTest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
install_packages "${BUILD_PACKAGES[@]}" "${EXPERIMENT_PACKAGES[@]}"
jobs=$(nproc)
cmake -S . -B build "${CMAKE_CONFIGURE[@]}"
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
