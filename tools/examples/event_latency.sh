#!/usr/bin/env bash
# The event stream's latency across five agents on this machine (docs/events.md, "Latency"):
# starts 5 agents on loopback (each joins through the first), deploys SERVICES services through
# the first while mob-event-latency reads the events of the last, prints p50/p99, stops them.
#
#   tools/examples/event_latency.sh BUILD_DIR [SERVICES] [BASE_PORT]
# BUILD_DIR holds bin/mob-agent, bin/mob-tool and bin/mob-event-latency; the agents use
# BASE_PORT .. BASE_PORT+9 (default 27100).
set -euo pipefail

build=${1:?usage: event_latency.sh BUILD_DIR [SERVICES] [BASE_PORT]}
services=${2:-200}
base=${3:-27100}
agents=5
last=$((base + 2 * (agents - 1)))
work=$(mktemp -d /tmp/mob-event-latency.XXXXXX)
pids=()

stop_agents() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap stop_agents EXIT

for ((i = 0; i < agents; i++)); do
  join=()
  ((i > 0)) && join=(-j "127.0.0.1:$base")
  "$build/bin/mob-agent" -p $((base + 2 * i)) -P bash --name "agent-$i" --data-dir "$work/$i" \
    --log-level warn "${join[@]}" >"$work/agent-$i.log" 2>&1 &
  pids+=($!)
done

# The last agent must see all five alive before the measurement starts.
for ((try = 0; try < 200; try++)); do
  alive=$("$build/bin/mob-tool" -p "$last" members 2>/dev/null | grep -c ' alive ' || true)
  [[ $alive == "$agents" ]] && break
  sleep 0.1
done
[[ $alive == "$agents" ]] || { echo "only $alive of $agents agents joined" >&2; exit 1; }

"$build/bin/mob-event-latency" "127.0.0.1:$base" "127.0.0.1:$last" "$services"
