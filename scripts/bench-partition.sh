#!/usr/bin/env bash
# A 2|2 partition healed, Mob beside Serf, each agent in a network namespace of its own
# joined by veth pairs to one bridge (addresses 10.77.0.2-5 exist only inside the
# namespaces this script makes). On loopback Serf cannot be cut: memberlist dials its TCP
# fallback probe without binding the source address (docs/performance.md). Here every
# packet leaves from the agent's own address, so one rule set cuts both systems alike.
#
# Per run and system: 4 agents (2, 3, 4, 5; the others join through 2) with default
# settings; once all list 4 alive, each agent's namespace drops (iptables INPUT) every
# packet from the other side, so both ways are cut and a sender sees no error (an OUTPUT
# rule makes sendto fail with EPERM, which memberlist logs and never counts as a failed
# probe: Serf then keeps the other side alive); held until every agent lists the other side failed,
# then the rules are flushed; measured: from the heal until every agent lists all 4 alive.
# Not part of the test command (root; about 1-2 minutes per run and system).
# Usage: scripts/bench-partition.sh [--runs N] [--build-dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=2
build_dir=$PWD/build-bench
while (( $# )); do
  case $1 in
    --runs) runs=${2:?--runs needs a number}; shift ;;
    --build-dir) build_dir=$(realpath -m "${2:?--build-dir needs a directory}"); shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-partition.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $(id -u) -eq 0 ]] || { echo "bench-partition.sh: needs root (network namespaces, iptables)" >&2; exit 2; }

if [[ "${MOB_BENCH_IN_NAMESPACE:-}" != 1 ]]; then
  scripts/install-deps.sh
  command -v serf >/dev/null || apt-get install -y serf >/dev/null
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build_dir" -j"$(nproc)" --target mob-agent mob-tool >/dev/null
  # The bridge and the host ends of the veth pairs live in a namespace of this run: gone
  # with it. The agents' namespaces are named (ip netns) and deleted by the trap below.
  exec env MOB_BENCH_IN_NAMESPACE=1 unshare -n bash "$0" --runs "$runs" --build-dir "$build_dir"
fi

AGENT=$build_dir/bin/mob-agent
TOOL=$build_dir/bin/mob-tool
SERF=$(command -v serf)
WORK=$(mktemp -d /tmp/mob-bench-partition-XXXXXX)
NODES=(2 3 4 5)
SIDE_A=(2 3)
SIDE_B=(4 5)
NS_PREFIX="mobpart$$"
PIDS=()

ns() { echo "$NS_PREFIX-$1"; }
ip_of() { echo "10.77.0.$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for n in "${NODES[@]}"; do ip netns del "$(ns "$n")" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

ip link set lo up
ip link add br0 type bridge
ip link set br0 up
for n in "${NODES[@]}"; do
  ip netns add "$(ns "$n")"
  ip link add "veth$n" type veth peer name eth0 netns "$(ns "$n")"
  ip link set "veth$n" master br0 up
  in_ns "$n" ip link set lo up
  in_ns "$n" ip addr add "$(ip_of "$n")/24" dev eth0
  in_ns "$n" ip link set eth0 up
done

# Starts `cmd...` in node N's namespace in a process group of its own.
start_in() {
  local n=$1 log=$2; shift 2
  setsid ip netns exec "$(ns "$n")" "$@" >>"$log" 2>&1 &
  PIDS+=("$!")
  disown "$!"
}
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  PIDS=()
}

cut() {
  local n x
  for n in "${SIDE_A[@]}"; do for x in "${SIDE_B[@]}"; do
    in_ns "$n" iptables -A INPUT -s "$(ip_of "$x")" -j DROP
    in_ns "$x" iptables -A INPUT -s "$(ip_of "$n")" -j DROP
  done; done
}
heal() { local n; for n in "${NODES[@]}"; do in_ns "$n" iptables -F INPUT; done; }

# "NAME STATE" lines as node N sees them.
mob_view() { in_ns "$1" "$TOOL" -a "$(ip_of "$1"):7000" --timeout 1000 members 2>/dev/null | awk 'NR > 1 {print $1, $3}'; }
serf_view() { in_ns "$1" "$SERF" members -rpc-addr 127.0.0.1:7373 2>/dev/null | awk '{print $1, $3}'; }

# view_is SYSTEM N WANT: node N's view is exactly WANT (sorted "NAME STATE" lines).
view_is() { [[ "$("$1"_view "$2" | sort)" == "$3" ]]; }
all_alive_want() { local n; for n in "${NODES[@]}"; do echo "$4$n alive"; done | sort; }
everyone_sees_all_alive() {
  local system=$1 prefix=$2 want n
  want=$(for n in "${NODES[@]}"; do echo "$prefix$n alive"; done | sort)
  for n in "${NODES[@]}"; do view_is "$system" "$n" "$want" || return 1; done
}
# Every agent lists every agent of the other side failed.
sides_see_failed() {
  local system=$1 prefix=$2 n x view
  for n in "${NODES[@]}"; do
    view=$("$system"_view "$n")
    local others=("${SIDE_B[@]}")
    [[ " ${SIDE_B[*]} " == *" $n "* ]] && others=("${SIDE_A[@]}")
    for x in "${others[@]}"; do grep -qx "$prefix$x failed" <<<"$view" || return 1; done
  done
}
wait_until() {  # wait_until SECONDS CMD...: polls every 50 ms; 0 when CMD held in time
  local limit_ms=$(( $1 * 1000 )) start; shift
  start=$(now_ms)
  until "$@"; do
    (( $(now_ms) - start > limit_ms )) && return 1
    sleep 0.05
  done
}

start_mob() {
  local n join=()
  for n in "${NODES[@]}"; do
    mkdir -p "$WORK/mob-$1/data-$n"
    [[ $n != 2 ]] && join=(-j "$(ip_of 2):7000")
    start_in "$n" "$WORK/mob-$1/agent-$n.log" "$AGENT" --bind "$(ip_of "$n")" -p 7000 --name "node-$n" \
      --data-dir "$WORK/mob-$1/data-$n" -P bash --insecure "${join[@]}"  # no keys, as Serf runs here
    [[ $n == 2 ]] && wait_until 10 mob_view 2 >/dev/null
  done
}
start_serf() {
  local n join=()
  mkdir -p "$WORK/serf-$1"
  for n in "${NODES[@]}"; do
    [[ $n != 2 ]] && join=(-join "$(ip_of 2):7946")
    start_in "$n" "$WORK/serf-$1/agent-$n.log" "$SERF" agent -node "node-$n" -bind "$(ip_of "$n"):7946" \
      -rpc-addr 127.0.0.1:7373 -log-level info "${join[@]}"
    [[ $n == 2 ]] && wait_until 10 serf_view 2 >/dev/null
  done
}

# One run of SYSTEM (mob|serf): sets DETECTED and HEALED (seconds).
measure() {
  local system=$1 run=$2 cut_at heal_at detected healed
  "start_$system" "$run"
  if ! wait_until 60 everyone_sees_all_alive "$system" node-; then
    echo "$system: the 4 agents did not see each other within 60 s; node-2 lists:" >&2
    "$system"_view 2 >&2 || true
    tail -n 5 "$WORK/$system-$run"/agent-*.log >&2 || true
    return 1
  fi
  sleep 2
  cut
  cut_at=$(now_ms)
  if ! wait_until 120 sides_see_failed "$system" node-; then
    echo "$system run $run: the sides did not list each other failed within 120 s; they list:" >&2
    for n in "${NODES[@]}"; do echo "  node-$n: $("$system"_view "$n" | tr '\n' ',')" >&2; done
    return 1
  fi
  detected=$(( $(now_ms) - cut_at ))
  heal
  heal_at=$(now_ms)
  if ! wait_until 120 everyone_sees_all_alive "$system" node-; then
    echo "$system run $run: not one view within 120 s of the heal" >&2; return 1
  fi
  healed=$(( $(now_ms) - heal_at ))
  stop_all
  DETECTED=$(printf '%d.%03d' $((detected / 1000)) $((detected % 1000)))
  HEALED=$(printf '%d.%03d' $((healed / 1000)) $((healed % 1000)))
}

echo "2|2 partition in network namespaces (veth + bridge), $runs run(s); Mob $(git rev-parse --short HEAD) Release, Serf $("$SERF" version | head -1)"
printf '%-6s %-4s %-40s %s\n' system run "each side lists the other failed (s)" "healed -> 4 alive everywhere (s)"
for ((run = 1; run <= runs; ++run)); do
  for system in ${MOB_BENCH_SYSTEMS:-mob serf}; do
    measure "$system" "$run" || exit 1
    printf '%-6s %-4s %-40s %s\n' "$system" "$run" "$DETECTED" "$HEALED"
  done
done
