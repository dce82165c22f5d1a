#!/usr/bin/env bash
# Removes the build directory DIR when CMake configured it with another generator than
# GENERATOR (CMake refuses to switch one in place), so that the scripts that build with Ninja
# can reuse a tree an older script configured with make. Usage: fresh-build-dir.sh DIR GENERATOR
set -euo pipefail
dir=$1 generator=$2
cache="$dir/CMakeCache.txt"
[[ -f "$cache" ]] || exit 0
if ! grep -qx "CMAKE_GENERATOR:INTERNAL=$generator" "$cache"; then
  echo "$dir was configured with another generator than $generator: starting it afresh" >&2
  rm -rf "$dir"
fi
