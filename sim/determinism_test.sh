#!/usr/bin/env bash
# The same seed gives the same run: each case runs twice in separate processes (different
# temp dirs, different heap addresses) and once inside a --seeds batch; the trace hashes
# must be equal. Usage: determinism_test.sh PATH/TO/mob-sim
set -euo pipefail
sim=$1
check() {
  local first second batch
  first=$("$sim" "$@" | tail -1)
  second=$("$sim" "$@" | tail -1)
  batch=$("$sim" "$@" --seeds 1 | grep '^trace' | tail -1)
  echo "$* -> $first / $second / $batch"
  [[ $first == trace* && $first == "$second" && $first == "$batch" ]]
}
check --agents 5 --scenario random --seed 11
check --agents 6 --scenario partition-symmetric --seed 2
check --agents 5 --scenario restart-all --seed 3
# A seed run after others in one process gives the trace it gives alone.
alone=$("$sim" --agents 5 --scenario random --seed 12 | tail -1)
after=$("$sim" --agents 5 --scenario random --seed 10 --seeds 3 | grep '^trace' | tail -1)
echo "seed 12 alone -> $alone; after seeds 10, 11 -> $after"
[[ $alone == "$after" ]]
