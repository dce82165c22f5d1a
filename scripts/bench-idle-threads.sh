#!/usr/bin/env bash
# What an idle Mob network of N agents costs, and which thread wakes up for it: starts N
# agents on loopback (each joining through the first), leaves them settle, then prints the
# mean CPU per agent over a window (utime+stime of all of them, divided by the window the
# clock measured) and, for one agent, each thread's wake-ups a second (voluntary plus
# involuntary context switches). Used to take apart the idle cost step by step (probe rate,
# ZMTP heartbeats): run it on two builds, or with different --agent-flags. Not part of the
# test command; results go to docs/performance.md ("Idle CPU at the default flags").
#
# Usage: scripts/bench-idle-threads.sh [--agents N] [--settle-s T] [--window-s W]
#                                      [--build-dir DIR] [--agent-flags "FLAGS"]
#   --agents N       agents (default 20)
#   --settle-s T     seconds between the last start and the window (default 10)
#   --window-s W     the window (default 30)
#   --build-dir DIR  a build holding bin/mob-agent and bin/mob-tool (default build-bench)
#   --agent-flags    extra flags for every agent, e.g. "--probe-interval-ms 200"
# Ports: 32000-32399 on 127.0.0.1. Every agent runs in a process group of its own; the
# script stops those groups (and only those) on exit, Ctrl-C included.
set -euo pipefail

agents=20 settle_s=10 window_s=30 build_dir=build-bench agent_flags=""
while (( $# )); do
  case $1 in
    --agents) agents=${2:?--agents needs a count}; shift ;;
    --settle-s) settle_s=${2:?--settle-s needs seconds}; shift ;;
    --window-s) window_s=${2:?--window-s needs seconds}; shift ;;
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift ;;
    --agent-flags) agent_flags=${2?--agent-flags needs flags}; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-idle-threads.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $agents =~ ^[0-9]+$ ]] && (( agents >= 2 && agents <= 100 )) \
  || { echo "bench-idle-threads.sh: --agents takes 2 to 100" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
[[ $build_dir = /* ]] || build_dir=$root/$build_dir
agent_bin=$build_dir/bin/mob-agent tool_bin=$build_dir/bin/mob-tool
[[ -x $agent_bin && -x $tool_bin ]] \
  || { echo "bench-idle-threads.sh: no mob-agent/mob-tool in $build_dir/bin (build it first, e.g. scripts/bench.sh builds build-bench)" >&2; exit 2; }

work=$(mktemp -d /tmp/mob-idle-threads.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  sleep 2
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

base=32000
read -r -a extra <<<"$agent_flags"
for (( i = 0; i < agents; i++ )); do
  join=(); (( i > 0 )) && join=(-j "127.0.0.1:$base")
  setsid "$agent_bin" -p $((base + 4 * i)) -P bash --name "i$i" --data-dir "$work/d$i" "${join[@]}" \
    "${extra[@]}" >"$work/log$i" 2>&1 &
  pids+=("$!")
  (( i == 0 )) && sleep 0.3
done
sleep "$settle_s"
alive=$("$tool_bin" -p "$base" members | grep -c ' alive ' || true)

ticks() { local total=0 pid stat; for pid in "$@"; do read -r -a stat <"/proc/$pid/stat"; total=$((total + stat[13] + stat[14])); done; echo "$total"; }
switches() { awk '/^voluntary_ctxt_switches/ { v = $2 } /^nonvoluntary_ctxt_switches/ { n = $2 } END { print v + n }' "$1/status"; }

watched=${pids[$((agents / 2))]}
declare -A before
for task in /proc/"$watched"/task/*; do before[$task]=$(switches "$task"); done
from_ns=$(date +%s%N); from_ticks=$(ticks "${pids[@]}")
sleep "$window_s"
to_ticks=$(ticks "${pids[@]}"); to_ns=$(date +%s%N)

hz=$(getconf CLK_TCK)
echo "agents=$agents alive_seen_by_first=$alive flags='${agent_flags}' build=$build_dir"
awk -v t=$((to_ticks - from_ticks)) -v hz="$hz" -v ns=$((to_ns - from_ns)) -v n="$agents" \
  'BEGIN { printf "idle CPU per agent: %.3f %% of a core over %.1f s\n", t / hz / (ns / 1e9) / n * 100, ns / 1e9 }'
echo "wake-ups a second of agent i$((agents / 2))'s threads:"
for task in /proc/"$watched"/task/*; do
  [[ -n ${before[$task]:-} ]] || continue
  awk -v name="$(cat "$task/comm")" -v d=$(( $(switches "$task") - before[$task] )) -v s="$window_s" \
    'BEGIN { printf "  %-16s %6.1f\n", name, d / s }'
done
