#!/usr/bin/env bash
# Measures how fast Mob converges after the faults of tests/faults, in a Release build: a 2|2
# partition held past failure detection and healed (time from the heal to one view and
# exactly 1 + 3 processes), every agent SIGKILLed and restarted without -j, concurrent deploys
# through two agents (time to every instance on the winning spec). Not part of the test
# command (root; about 2 minutes per run). docs/performance.md has the results, and why Serf's
# partition healing is not measured beside it on loopback.
# Usage: scripts/bench-heal.sh [--runs N] [--build-dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3
build_dir=$PWD/build-bench
while (( $# )); do
  case $1 in
    --runs) runs=${2:?--runs needs a number}; shift ;;
    --build-dir) build_dir=$(realpath -m "${2:?--build-dir needs a directory}"); shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-heal.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $(id -u) -eq 0 ]] || { echo "bench-heal.sh: needs root (the fault scripts use unshare -n, iptables)" >&2; exit 2; }

scripts/install-deps.sh
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target mob-agent mob-tool >/dev/null
echo "Mob $(git rev-parse --short HEAD): tests/faults scripts, Release build in $build_dir, $runs run(s) each"
for script in partition_2_2 restart_all concurrent_deploy; do
  for ((run = 1; run <= runs; ++run)); do
    out=$(bash "tests/faults/$script.sh" "$build_dir/bin/mob-agent" "$build_dir/bin/mob-tool" 2>&1) \
      || { echo "$out" | tail -20; echo "bench-heal.sh: $script failed" >&2; exit 1; }
    echo "  $script run $run: $(grep -E '^PASS' <<<"$out" | sed 's/^PASS: //')"
    grep -E '^\[.*(after the heal|every instance on one spec)' <<<"$out" | sed 's/^/    /' || true
  done
done
