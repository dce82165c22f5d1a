#!/usr/bin/env bash
# A burst of deploys, and what it does to failure detection (issue 16): N agents on loopback,
# S one-instance bash services (`exec sleep`) deployed through the first agent with
# `mob-tool deploy --detach` (200 specs a call, 64 requests in flight). Reports per run: the
# time until every deploy was accepted, the time until `status` shows all S running, and the
# "is suspect" / "is failed" lines in the agents' logs: no agent dies, so every one is a live
# agent suspected (a false suspicion). With two build dirs the runs alternate between them
# (A B A B ...) so that both see the same machine. Stops everything it started (the agents
# by SIGTERM, which stops their services, then their process groups and any instance group
# left). Not part of the test command; results and the command go to docs/performance.md.
#
# Usage: scripts/bench-deploy-burst.sh [--agents N] [--services S] [--runs R] BUILD_DIR [BUILD_DIR_B]
#   BUILD_DIR    a build holding bin/mob-agent and bin/mob-tool (Release or RelWithDebInfo)
#   --agents N   agents (default 5)
#   --services S services (default 3000)
#   --runs R     runs per build dir (default 2)
set -uo pipefail
cd "$(dirname "$0")/.."

agents=5 services=3000 runs=2 dirs=()
while (( $# )); do
  case $1 in
    --agents) agents=${2:?}; shift ;;
    --services) services=${2:?}; shift ;;
    --runs) runs=${2:?}; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "bench-deploy-burst.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) dirs+=("$1") ;;
  esac
  shift
done
(( ${#dirs[@]} >= 1 && ${#dirs[@]} <= 2 )) || { echo "bench-deploy-burst.sh: give one or two build dirs (see --help)" >&2; exit 2; }
for d in "${dirs[@]}"; do
  [ -x "$d/bin/mob-agent" ] && [ -x "$d/bin/mob-tool" ] || { echo "bench-deploy-burst.sh: no bin/mob-agent and bin/mob-tool in $d" >&2; exit 2; }
done

work=$(mktemp -d /tmp/mob-bench-burst-XXXXXX)
agent_pids=()
stop_agents() {
  for pid in "${agent_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 1 120); do
    local alive=0
    for pid in "${agent_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    (( alive )) || break
    sleep 0.5
  done
  for pid in "${agent_pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done
  # Instances the agents started lead their own process groups; none should be left.
  for pid in $(cat "$work"/run/a*.log 2>/dev/null | sed -n 's/.*started as pid \([0-9]*\).*/\1/p'); do
    kill -KILL -- "-$pid" 2>/dev/null
  done
  agent_pids=()
}
trap 'stop_agents; rm -rf "$work"' EXIT

mkdir -p "$work/specs"
for ((s = 0; s < services; s++)); do
  printf '{"name":"burst-%05d","provider":"bash","params":{"command":"exec sleep 100000"}}\n' "$s" >"$work/specs/$s.json"
done

one_run() {
  local bin=$1/bin base=$2
  rm -rf "$work/run"; mkdir -p "$work/run"
  for ((i = 0; i < agents; i++)); do
    local join=()
    (( i > 0 )) && join=(-j "127.0.0.1:$base")
    setsid "$bin/mob-agent" -p $((base + 2 * i)) -P bash --name "a$i" --data-dir "$work/run/a$i" \
      --max-services $((services + 100)) "${join[@]}" >"$work/run/a$i.log" 2>&1 </dev/null &
    agent_pids+=($!)
    (( i == 0 )) && sleep 1
  done
  until [ "$("$bin/mob-tool" -p "$base" members 2>/dev/null | grep -c ' alive ')" = "$agents" ]; do sleep 0.2; done
  local t0 accepted all=-1
  t0=$(date +%s%N)
  find "$work/specs" -name '*.json' -print0 | xargs -0 -n 200 "$bin/mob-tool" -p "$base" deploy --detach >"$work/run/deploy.log" 2>&1
  accepted=$(( ($(date +%s%N) - t0) / 1000000 ))
  for _ in $(seq 1 600); do
    if (( $("$bin/mob-tool" -p "$base" status 2>/dev/null | grep -c ' running') >= services )); then
      all=$(( ($(date +%s%N) - t0) / 1000000 )); break
    fi
    sleep 0.5
  done
  sleep 5
  local suspect failed
  suspect=$(cat "$work"/run/a*.log | grep -c 'is suspect')
  failed=$(cat "$work"/run/a*.log | grep -c 'is failed')
  printf '%-40s %8s %12s %14s %13s %6s\n' "$1" "$accepted" "$all" "$suspect" "$failed" "$(cut -d' ' -f1 /proc/loadavg)"
  stop_agents
}

echo "# $agents agents, $services services, $(date -u '+%Y-%m-%d %H:%M UTC')"
printf '%-40s %8s %12s %14s %13s %6s\n' build accepted_ms all_running_ms suspect_lines failed_lines load1
for ((r = 0; r < runs; r++)); do
  for k in "${!dirs[@]}"; do one_run "${dirs[$k]}" $((31400 + 100 * k)); done
done
