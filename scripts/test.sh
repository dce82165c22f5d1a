#!/usr/bin/env bash
# Installs what is missing, builds and runs every test: a Debug build, then the same suite
# under AddressSanitizer+UndefinedBehaviorSanitizer, then under ThreadSanitizer, then 60 s of
# each libFuzzer target (scripts/fuzz.sh; clang from install-deps.sh --fuzz).
# A local container engine (podman's Docker-compatible API) is started for the docker tests.
# Usage: scripts/test.sh [debug|asan|tsan|fuzz ...]   (default: all four stages)
#
# The next stage builds while this one's tests run, at the lowest CPU priority (nice 19):
# the tests (real agents, mostly waiting on timers and sockets) leave most of the 2 cores
# idle, and the compilers take only what the tests leave. A stage's tests start once its own
# build is done. MOB_TEST_SERIAL=1 builds each stage only when it comes.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

stages=("$@")
(( ${#stages[@]} )) || stages=(debug asan tsan fuzz)
for stage in "${stages[@]}"; do
  case "$stage" in
    debug|asan|tsan|fuzz) ;;
    *) echo "scripts/test.sh: unknown stage '$stage' (debug, asan, tsan, fuzz)" >&2; exit 2 ;;
  esac
done
export MOB_TEST_JOBS=$(nproc)
root=$PWD

ahead_pid="" ahead_log=""
engine_dir=$(mktemp -d /tmp/mob-engine-XXXXXX)
cleanup() {
  # A build running ahead is its own process group (setsid below): stopped with it.
  if [[ -n $ahead_pid ]]; then kill -- "-$ahead_pid" 2>/dev/null || true; wait "$ahead_pid" 2>/dev/null || true; fi
  [[ -n $ahead_log ]] && rm -f "$ahead_log"
  scripts/container-engine.sh stop "$engine_dir" >/dev/null 2>&1 || true
  rm -rf "$engine_dir"
}
trap cleanup EXIT
eval "$(scripts/container-engine.sh start "$engine_dir")"
echo "container engine: $DOCKER_HOST"

# build_stage NAME: configures and builds the stage's tree (fuzz: clang and its targets).
# The fault suite (label "fault", slow), the simulator's seeds (label "sim", one thread) and
# the Debian packages (label "package": dpkg -i of a debug build) run in the debug stage
# only; the store's handlers run under ASan+UBSan in the fuzz stage (peer_store_fuzz drives
# the same PeerStore on virtual time). The TSan stage builds no unit test of a pure
# single-threaded part (tests/CMakeLists.txt), and the ASan stage compiles the tests' own
# files without UBSan's checks (ASan's only; the product's code has both).
# Line tables only (-g1): what a sanitizer report or a backtrace needs, at 15 % less
# compile time per unit than -g (store.cpp 20.8 -> 17.6 s) and smaller objects to link.
build_stage() {
  local name=$1 args=(-DMOB_WERROR=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1)
  case "$name" in
    asan) args+=(-DMOB_SANITIZE=ON) ;;
    tsan) args+=(-DMOB_TSAN=ON) ;;
    fuzz) scripts/install-deps.sh --fuzz && scripts/fuzz.sh --build; return ;;
  esac
  cmake -S . -B "build-$name" "${args[@]}" >/dev/null
  cmake --build "build-$name" -j"$MOB_TEST_JOBS"
}
export -f build_stage

test_stage() {
  local name=$1
  case "$name" in
    debug) (cd build-debug && ctest --output-on-failure -j2 --timeout 300) ;;
    asan) (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
             ctest --output-on-failure -j2 --timeout 300 -LE "fault|sim|package") ;;
    tsan) (cd build-tsan && TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=7:suppressions=$root/tests/tsan.supp" \
             ctest --output-on-failure -j2 --timeout 300 -LE "fault|sim|package") ;;
    fuzz) scripts/fuzz.sh 60 ;;
  esac
}

for i in "${!stages[@]}"; do
  stage=${stages[$i]} next=${stages[$((i + 1))]:-}
  started=$SECONDS
  if [[ -n $ahead_pid ]]; then
    echo "=== stage $stage: build (begun during the stage before)"
    status=0
    wait "$ahead_pid" || status=$?
    ahead_pid=""
    cat "$ahead_log"
    rm -f "$ahead_log"; ahead_log=""
    (( status == 0 )) || { echo "=== stage $stage: build failed" >&2; exit 1; }
  else
    echo "=== stage $stage: build"
    build_stage "$stage"
  fi
  echo "=== stage $stage: built after $(( SECONDS - started )) s"
  if [[ -n $next && "${MOB_TEST_SERIAL:-0}" != 1 ]]; then
    ahead_log=$(mktemp /tmp/mob-build-ahead-XXXXXX)
    setsid nice -n 19 bash -c 'build_stage "$0"' "$next" >"$ahead_log" 2>&1 &
    ahead_pid=$!
  fi
  started=$SECONDS
  echo "=== stage $stage: test"
  test_stage "$stage"
  echo "=== stage $stage: tests took $(( SECONDS - started )) s"
done
echo "all stages passed: ${stages[*]}"
