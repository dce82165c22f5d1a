#!/usr/bin/env bash
# A network partition and its healing, with real agents in a private network namespace:
# both sides run a copy of the instance while cut off; after the heal exactly one copy
# remains, and at no moment is there none.
# Usage: partition_test.sh MOB_AGENT MOB_TOOL   (as root: it uses unshare -n and iptables)
set -euo pipefail
agent_bin=$1
tool_bin=$2
if [[ $(id -u) -ne 0 ]]; then
  echo "FAIL: needs root for unshare -n and iptables (run the suite as root, as CI does)"; exit 1
fi
if [[ "${MOB_IN_NAMESPACE:-}" != 1 ]]; then
  exec env MOB_IN_NAMESPACE=1 unshare -n bash "$0" "$@"
fi

ip link set lo up
work=$(mktemp -d /tmp/mob-partition-XXXXXX)
service="solo-$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for pid in $(grep -l "MOB_SERVICE=$service" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  iptables -F INPUT 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "--- $f"; tail -20 "$f"; done; exit 1; }
tool() { "$tool_bin" -a "$1:7000" --timeout 1000 "${@:2}"; }
# Waits (bounded) for a command to succeed.
wait_for() {
  local limit=$1; shift
  local deadline=$((SECONDS + limit))
  until "$@"; do
    (( SECONDS < deadline )) || return 1
    sleep 0.05
  done
}

hosts=(127.0.0.2 127.0.0.3 127.0.0.4)
for host in "${hosts[@]}"; do
  join=()
  [[ $host != "${hosts[0]}" ]] && join=(-j "${hosts[0]}:7000")
  setsid "$agent_bin" --bind "$host" -p 7000 --name "node-$host" --data-dir "$work/data-$host" \
    "${join[@]}" >"$work/$host.log" 2>&1 &
  pids+=($!)
done

all_alive() {
  for host in "${hosts[@]}"; do
    [[ $(tool "$host" members --json 2>/dev/null | grep -c '"state": "alive"') == 3 ]] || return 1
  done
}
wait_for 20 all_alive || fail "the three agents did not see each other"

echo "{\"name\": \"$service\", \"provider\": \"bash\", \"params\": {\"command\": \"exec sleep 1000\"}}" \
  | tool 127.0.0.2 deploy --detach - >/dev/null || fail "deploy refused"
running_node() { tool "$1" status "$service" --json 2>/dev/null | python3 -c '
import json, sys
services = json.load(sys.stdin)
for i in services[0]["instance_list"]:
    if i["state"] == "running": print(i["node"])
'; }
copies() { { grep -l "MOB_SERVICE=$service" /proc/[0-9]*/environ 2>/dev/null || true; } | wc -l; }
has_node() { node=$(running_node 127.0.0.2); [[ -n "$node" ]]; }
wait_for 20 has_node || fail "the service did not start"
isolated=${node#node-}
echo "instance runs on $isolated; cutting it off"
others=()
for host in "${hosts[@]}"; do [[ $host != "$isolated" ]] && others+=("$host"); done
for other in "${others[@]}"; do
  iptables -A INPUT -s "$isolated" -d "$other" -j DROP
  iptables -A INPUT -s "$other" -d "$isolated" -j DROP
done

moved() { n=$(running_node "${others[0]}"); [[ -n "$n" && "$n" != "node-$isolated" ]]; }
wait_for 30 moved || fail "the majority side did not run its own copy"
two_copies() { [[ $(copies) -ge 2 ]]; }
wait_for 10 two_copies || fail "expected a copy on each side of the partition, found $(copies)"
echo "both sides run a copy ($(copies)); healing"
iptables -F INPUT

# After the heal: never zero copies, and within seconds exactly one.
deadline=$((SECONDS + 30))
while (( SECONDS < deadline )); do
  count=$(copies)
  (( count >= 1 )) || fail "no copy ran at some moment during the heal"
  if (( count == 1 )); then
    sleep 1
    (( $(copies) == 1 )) || continue
    echo "1 passed, 0 failed: partition healed to exactly one copy"
    exit 0
  fi
  sleep 0.05
done
fail "duplicates were not resolved within 30 s: $(copies) copies"
