#!/usr/bin/env bash
# Resident memory of one idle agent alone, without and with --metrics-addr (issue 20): each
# agent is started on free loopback ports with its own data dir, left idle for 5 s after it
# answers, and its VmRSS read from /proc/PID/status; the agent with metrics is read again
# after 10 scrapes of /metrics. Runs each case --runs times and prints every figure. Not part
# of the test command; results and the command go to docs/performance.md.
#
# Usage: scripts/bench-metrics-rss.sh [--runs N] [--build-dir DIR]
#   --runs N         starts per case (default 3)
#   --build-dir DIR  a build holding bin/mob-agent and bin/mob-tool (default build-bench,
#                    built in Release if it has none)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3 build_dir=build-bench
while (( $# )); do
  case $1 in
    --runs) runs=${2:?}; shift ;;
    --build-dir) build_dir=${2:?}; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-metrics-rss.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

if [[ ! -x $build_dir/bin/mob-agent || ! -x $build_dir/bin/mob-tool ]]; then
  echo "building Release in $build_dir" >&2
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build_dir" -j"$(nproc)" --target mob-agent mob-tool >/dev/null
fi

work=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]]; then kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {  # a port with port+1 free too, below the ephemeral range
  local port
  while true; do
    port=$(( 20000 + RANDOM % 10000 ))
    if ! ss -ltnH "( sport = :$port or sport = :$((port + 1)) )" | grep -q .; then echo "$port"; return; fi
  done
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# start_agent EXTRA...: starts an agent, waits until it answers, sets pid and port.
start_agent() {
  port=$(free_port)
  "$build_dir/bin/mob-agent" --config '' -p "$port" -P bash --data-dir "$work/agent-$port" --log-level warn "$@" \
    2>"$work/agent-$port.log" &
  pid=$!
  for _ in $(seq 100); do
    "$build_dir/bin/mob-tool" -p "$port" --timeout 200 version >/dev/null 2>&1 && return
    kill -0 "$pid" 2>/dev/null || { cat "$work/agent-$port.log" >&2; exit 1; }
  done
  echo "the agent on port $port did not answer" >&2
  exit 1
}

stop_agent() {
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
}

for (( run = 1; run <= runs; run++ )); do
  start_agent
  sleep 5
  echo "run $run: without --metrics-addr: $(rss_kib "$pid") KiB"
  stop_agent

  metrics_port=$(free_port)
  start_agent --metrics-addr "127.0.0.1:$metrics_port"
  sleep 5
  echo "run $run: with --metrics-addr, idle: $(rss_kib "$pid") KiB"
  for _ in $(seq 10); do curl -sf "http://127.0.0.1:$metrics_port/metrics" >/dev/null; done
  echo "run $run: with --metrics-addr, after 10 scrapes: $(rss_kib "$pid") KiB"
  stop_agent
done
