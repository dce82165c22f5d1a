#!/usr/bin/env bash
# Builds the libFuzzer targets with clang 16 (ASan + UBSan, in build-fuzz) and runs each one for
# SECONDS (default 60), one per core at a time, from the seed corpora in fuzz/corpus; new inputs it finds go to
# build-fuzz/corpus, a crashing input to build-fuzz/artifacts. Exits 1 on a crash, leak or hang.
# Targets: codec (the wire codec), spec (the spec parser), store (the peer store's handlers, fed
# message sequences; it isolates its network in a namespace of its own, so it needs root or
# unprivileged user namespaces), peer_store (the same handlers driven directly on virtual time,
# about 20 times faster; a finding's history of inputs goes to build-fuzz/artifacts).
# Usage: scripts/fuzz.sh [SECONDS]      run every target
#        scripts/fuzz.sh --seed         regenerate fuzz/corpus from real messages and specs
set -euo pipefail
cd "$(dirname "$0")/.."

build=${MOB_FUZZ_BUILD_DIR:-build-fuzz}
# MOB_FUZZ_TARGETS="codec" runs a subset.
read -r -a targets <<<"${MOB_FUZZ_TARGETS:-codec spec store peer_store}"
# Options of one target. store (fuzz/store_fuzz.cpp) runs a whole peer store whose state
# grows from one input to the next by design: libFuzzer's check for a leak after each input
# would rerun nearly every input (about 5 times slower) to find memory the store holds on
# purpose. Its inputs are message sequences: let them be long from the start.
# peer_store (fuzz/peer_store_fuzz.cpp) too, and the entropic schedule's bookkeeping of its
# many features per input would take 4 times longer than running them.
declare -A target_options=([store]="-detect_leaks=0 -len_control=0 -max_len=1024"
                           [peer_store]="-detect_leaks=0 -len_control=0 -max_len=1024 -entropic=0")
# ASan options besides detect_leaks. peer_store: short allocation stacks and no fake stacks
# halve its time; a finding is replayed from its history (MOB_PEER_STORE_FUZZ_HISTORY) with
# the full ones.
declare -A target_asan=([peer_store]=":malloc_context_size=3:detect_stack_use_after_return=0")

# Clang 16 is the oldest that compiles libstdc++'s std::expected (see fuzz/CMakeLists.txt).
compiler=${MOB_FUZZ_CXX:-clang++-16}
command -v "$compiler" >/dev/null || scripts/install-deps.sh --fuzz
# Line tables only: what a finding's stack needs (RelWithDebInfo is otherwise -O2 -g -DNDEBUG).
# Ninja, as scripts/test.sh.
scripts/fresh-build-dir.sh "$build" Ninja
cmake -G Ninja -S . -B "$build" -DCMAKE_CXX_COMPILER="$compiler" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
      -DMOB_BUILD_FUZZ=ON -DMOB_BUILD_TESTS=OFF >/dev/null

if [[ "${1:-}" == "--seed" ]]; then
  cmake --build "$build" -j"$(nproc)" --target make_corpus
  "$build/fuzz/make_corpus" "$PWD"
  # The store targets' seeds are message sequences, written by a script that knows their choices.
  if command -v python3 >/dev/null; then python3 fuzz/store_inputs.py
  else echo "no python3: fuzz/corpus/store and fuzz/corpus/peer_store left as they are" >&2; fi
  echo "seed corpora written to fuzz/corpus/"
  exit 0
fi

seconds=${1:-60}
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS|--seed]" >&2; exit 2; }
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/%/_fuzz}"

mkdir -p "$build/artifacts"
# Stack traces with function names and lines (the sanitizers do not always find it alone).
if [[ -z "${ASAN_SYMBOLIZER_PATH:-}" ]] && symbolizer=$(command -v llvm-symbolizer-16 || command -v llvm-symbolizer); then
  export ASAN_SYMBOLIZER_PATH=$symbolizer
fi
# run_target TARGET: one target for $seconds; its summary (or its finding) goes to stdout/stderr.
run_target() {
  local target=$1 work="$build/corpus/$1" log="$build/$1.log" status=0
  mkdir -p "$work"
  # shellcheck disable=SC2086 # the options are words
  ASAN_OPTIONS="detect_leaks=1${target_asan[$target]:-}" UBSAN_OPTIONS=print_stacktrace=1 \
      MOB_PEER_STORE_FUZZ_HISTORY="$build/artifacts/$target-history-" \
      "$build/fuzz/${target}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$build/artifacts/$target-" ${target_options[$target]:-} \
      "$work" "fuzz/corpus/$target" >"$log" 2>&1 || status=$?
  if (( status != 0 )); then
    echo "fuzz $target: exit status $status" >&2
    # The finding, not the coverage lines (NEW_FUNC) libFuzzer prints while it runs.
    grep -v -E "NEW_FUNC|^#[0-9]+" "$log" \
      | grep -E "ERROR|SUMMARY|Test unit written|abort|!=|refused|what\(\)|store_fuzz:|ALARM|timeout| in mob::" \
      | head -30 >&2 || true
    echo "--- the end of $log (without libFuzzer's progress lines):" >&2
    grep -v -E "NEW_FUNC|^#[0-9]+|^INFO:" "$log" | tail -25 >&2 || true
    if [[ "$target" == peer_store ]]; then
      echo "the inputs that led there: $(ls -t "$build/artifacts/$target-history-"* 2>/dev/null | head -1)" \
           "(replay: $build/fuzz/${target}_fuzz FILE)" >&2
    fi
    echo "fuzz $target: FAILED (full log: $log)" >&2
    return 1
  fi
  echo "=== fuzz $target: ran ${seconds}s"
  grep -E "^Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb" "$log"
}

# One target per core at a time (each fuzzer runs one thread), so the stage takes
# seconds x targets / cores.
parallel=${MOB_FUZZ_JOBS:-$(nproc)}
pids=() names=() failed=()
for target in "${targets[@]}"; do
  echo "=== fuzz $target: ${seconds}s (log: $build/$target.log)"
  run_target "$target" & pids+=($!) names+=("$target")
  if (( ${#pids[@]} >= parallel )); then
    wait "${pids[0]}" || failed+=("${names[0]}")
    pids=("${pids[@]:1}") names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${names[$i]}")
done
if (( ${#failed[@]} )); then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a crash, leak or hang"
