# Shared functions of the fault suite (tests/faults/*.sh). Sourced, not run.
#
# Each test script starts with:
#
#   source "$(dirname "$0")/lib.sh"
#   fault_init "$@"          # checks the arguments and root, re-execs under `unshare -n`,
#                            # makes the work dir, installs the cleanup trap
#
# and then drives real mob-agent processes on 127.0.0.N:7000 (N = 2, 3, ...) inside the
# private network namespace. Agents are named node-N and keep their data in $WORK/data-N and
# their log in $WORK/agent-N.log (appended across restarts).
#
# Environment knobs:
#   MOB_FAULT_AGENT_ARGS  extra flags for every mob-agent (e.g. a reconnect interval once the
#                         agent has one); word-split.
#   MOB_FAULT_KEEP=1      keep the work dir after the test (for post-mortems).
#
# The cleanup trap kills only the process groups this test started and the processes that
# carry one of this test's service names (MOB_SERVICE=...) or one of its agents' ids
# (MOB_AGENT_ID=...); never anything by name.

set -euo pipefail

# Failure detection and anti-entropy tuned for fast tests (the defaults: probe 1000 ms,
# suspicion 4 x log10(N) x window, sync 1000 ms). Heartbeats keep their default (5000 ms):
# what they carry (load, a clock sample) is tested at the period users run.
FAULT_AGENT_FLAGS=(--probe-interval-ms 200 --probe-timeout-ms 100 --suspicion-mult 4 --sync-ms 500)
PORT=7000
# The system python: a pyenv shim costs most of a second per call.
if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=$(command -v python3); fi

fault_init() {
  if [[ $# -lt 2 ]]; then
    echo "usage: $(basename "${BASH_SOURCE[1]}") MOB_AGENT MOB_TOOL" >&2
    exit 2
  fi
  AGENT_BIN=$(readlink -f "$1")
  TOOL_BIN=$(readlink -f "$2")
  [[ -x $AGENT_BIN ]] || { echo "FAIL: $1 is not an executable mob-agent"; exit 1; }
  [[ -x $TOOL_BIN ]] || { echo "FAIL: $2 is not an executable mob-tool"; exit 1; }
  if [[ $(id -u) -ne 0 ]]; then
    echo "FAIL: needs root for unshare -n and iptables (run the suite as root, as CI does)"
    exit 1
  fi
  if [[ "${MOB_IN_NAMESPACE:-}" != 1 ]]; then
    # FAULT_MOUNTS=1 (set by the script before fault_init): a private mount namespace too,
    # for the disk faults' tmpfs and read-only bind mounts (gone with the namespace).
    exec env MOB_IN_NAMESPACE=1 unshare -n ${FAULT_MOUNTS:+-m --propagation private} bash "${BASH_SOURCE[1]}" "$@"
  fi
  ip link set lo up
  TEST_NAME=$(basename "${BASH_SOURCE[1]}" .sh)
  WORK=$(mktemp -d "/tmp/mob-fault-$TEST_NAME-XXXXXX")
  # Unique per run: the PID namespace is shared with whatever else runs on the machine.
  TAG="$$"
  declare -gA AGENT_PID=()
  declare -gA AGENT_IDS=()
  GROUPS_STARTED=()
  MOUNTS=()  # mounts of this test (FAULT_MOUNTS=1), undone by the cleanup
  LOOPS=()   # loop devices of this test, detached by the cleanup
  T0=$(now_us)
  trap fault_cleanup EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  echo "== $TEST_NAME (work dir $WORK)"
}

# A service name owned by this run: svc BASE prints BASE-<run id> and records it (in a file,
# since svc runs in a command substitution) so that cleanup and process counts find it.
svc() {
  local name="$1-$TAG"
  grep -qx -- "$name" "$WORK/services" 2>/dev/null || echo "$name" >>"$WORK/services"
  echo "$name"
}
services() { cat "$WORK/services" 2>/dev/null || true; }

fault_cleanup() {
  local rc=$?
  trap - EXIT TERM INT
  local mount
  for mount in "${MOUNTS[@]}"; do fsfreeze -u "$mount" 2>/dev/null || true; done  # no writer stays blocked
  local pid
  for pid in "${GROUPS_STARTED[@]}"; do kill -CONT -- "-$pid" 2>/dev/null || true; done
  for pid in "${GROUPS_STARTED[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for pid in $(test_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  iptables -F INPUT 2>/dev/null || true
  iptables -F OUTPUT 2>/dev/null || true
  for mount in "${MOUNTS[@]}"; do
    if [[ ${MOB_FAULT_KEEP:-} == 1 ]]; then mount -o remount,rw "$mount" 2>/dev/null || true
    else umount -l "$mount" 2>/dev/null || true; fi
  done
  local loop
  for loop in "${LOOPS[@]}"; do losetup -d "$loop" 2>/dev/null || true; done
  if [[ ${MOB_FAULT_KEEP:-} == 1 ]]; then echo "(work dir kept: $WORK)"; else rm -rf "$WORK"; fi
  exit "$rc"
}

# Microseconds since the epoch.
now_us() { echo "${EPOCHREALTIME/./}"; }
# elapsed START_US: seconds since START_US, two decimals.
elapsed() { local d=$(( $(now_us) - $1 )); printf '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000)); }

log() { echo "[$(elapsed "$T0")s] $*"; }

fail() {
  echo "FAIL: $*"
  local f
  for f in "$WORK"/agent-*.log; do
    [[ -e $f ]] || continue
    echo "--- tail of $f"
    tail -25 "$f"
  done
  echo "--- processes of this test"
  proc_table || true
  exit 1
}

pass() { echo "PASS: $TEST_NAME: $*"; exit 0; }

# Tests that check several things record each failed check and fail at the end with all.
PROBLEMS=()
problem() { PROBLEMS+=("$*"); echo "  PROBLEM: $*"; }

# refused_naming WHAT FAULT NEEDLE COMMAND...: COMMAND must fail, and its output must name
# NEEDLE (what the disk is, e.g. "disk full in DIR"); a problem otherwise. FAULT says what
# was wrong, for the problem line ("a full disk").
refused_naming() {
  local what=$1 fault=$2 needle=$3; shift 3
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  if (( rc == 0 )); then problem "$what was acknowledged on $fault: $out"; return 0; fi
  if ! grep -qF "$needle" <<<"$out"; then problem "$what was refused without naming $needle: $out"; return 0; fi
  log "$what refused: $(head -c 200 <<<"$out")"
}

# ext4_on_loop DIR [MOUNT_OPTIONS]: a fresh 32 MiB ext4 file system on a loop device,
# mounted on DIR (made if missing); the cleanup unmounts it and detaches the device. Needs
# FAULT_MOUNTS=1. Sets LOOP_DEVICE (not to be called in a subshell: the cleanup lists).
ext4_on_loop() {
  local dir=$1 options=${2:-defaults} image
  mkdir -p "$dir"
  image=$WORK/disk-${#LOOPS[@]}.img
  truncate -s 32M "$image"
  mkfs.ext4 -q -F "$image"
  LOOP_DEVICE=$(losetup -f --show "$image")
  LOOPS+=("$LOOP_DEVICE")
  mount -o "$options" "$LOOP_DEVICE" "$dir"
  MOUNTS+=("$dir")
}
fail_on_problems() {
  (( ${#PROBLEMS[@]} == 0 )) && return 0
  echo "--- ${#PROBLEMS[@]} problem(s):"
  printf '  %s\n' "${PROBLEMS[@]}"
  fail "$1 (${#PROBLEMS[@]} problem(s) above; first: ${PROBLEMS[0]})"
}

# ---------------------------------------------------------------------------------------
# Agents

host() { echo "127.0.0.$1"; }
addr() { echo "127.0.0.$1:$PORT"; }
node() { echo "node-$1"; }

# start_agent N [mob-agent flags...]; AGENT_PREFIX (an array of words, e.g. env VAR=x) is
# put before the binary when set.
start_agent() {
  local n=$1; shift
  local prefix=()
  if [[ -n ${AGENT_PREFIX+x} ]]; then prefix=("${AGENT_PREFIX[@]}"); fi
  local extra=()
  if [[ -n ${MOB_FAULT_AGENT_ARGS:-} ]]; then read -r -a extra <<<"$MOB_FAULT_AGENT_ARGS"; fi
  mkdir -p "$WORK/data-$n"
  echo "=== $(date +%T.%N) start: ${prefix[*]} mob-agent --bind $(host "$n") $*" >>"$WORK/agent-$n.log"
  setsid "${prefix[@]}" "$AGENT_BIN" --bind "$(host "$n")" -p "$PORT" --name "$(node "$n")" \
    --data-dir "$WORK/data-$n" "${FAULT_AGENT_FLAGS[@]}" "${extra[@]}" "$@" \
    >>"$WORK/agent-$n.log" 2>&1 &
  local pid=$!
  STARTED_AT=$(now_us)
  disown "$pid"
  AGENT_PID[$n]=$pid
  GROUPS_STARTED+=("$pid")
  # The agent writes its id on start; remember it so that a "machine crash" can kill the
  # services it started even after the agent itself is gone.
  local i
  for i in $(seq 1 100); do
    if [[ -s $WORK/data-$n/agent-id ]]; then AGENT_IDS[$n]=$(cat "$WORK/data-$n/agent-id"); break; fi
    sleep 0.02
  done
}

# The pid that actually runs mob-agent for host N (the setsid child, or the agent below a
# wrapper such as faketime).
agent_pid() {
  local n=$1 pid=${AGENT_PID[$1]}
  local exe
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  if [[ $exe == "$AGENT_BIN" ]]; then echo "$pid"; return; fi
  local child
  for child in $(pgrep -g "$pid" 2>/dev/null || true); do
    [[ $(readlink "/proc/$child/exe" 2>/dev/null || true) == "$AGENT_BIN" ]] && { echo "$child"; return; }
  done
  echo "$pid"
}

# Waits (bounded) for agent N to answer.
wait_agent_up() {
  local n=$1 limit=${2:-10}
  wait_for "$limit" tool_quiet "$n" version || fail "agent $(node "$n") did not answer within ${limit}s"
}

# A graceful stop: SIGTERM, then wait for the process group to be gone.
stop_agent() {
  local n=$1 pid=${AGENT_PID[$1]}
  kill -TERM "$(agent_pid "$n")" 2>/dev/null || true
  wait_for 20 group_gone "$pid" || fail "agent $(node "$n") did not exit within 20 s of SIGTERM"
}

# A crashed machine: SIGKILL the agent's process group and every process the agent started
# (its services run in process groups of their own).
crash_agent() {
  local n=$1 pid=${AGENT_PID[$1]} apid
  apid=$(agent_pid "$n")
  kill -STOP "$apid" 2>/dev/null || true   # no restart in between
  local victims
  victims=$(children_and_agent_procs "$apid" "${AGENT_IDS[$n]:-}")
  kill -KILL -- "-$pid" 2>/dev/null || true
  kill -KILL "$apid" 2>/dev/null || true
  local v
  for v in $victims; do kill -KILL -- "-$v" 2>/dev/null || true; kill -KILL "$v" 2>/dev/null || true; done
  POLL=0.01 wait_for 5 group_gone "$pid" || fail "agent $(node "$n") survived SIGKILL"
  POLL=0.01 wait_for 5 no_agent_procs "${AGENT_IDS[$n]:-none}" || fail "services of $(node "$n") survived SIGKILL"
}

group_gone() { ! kill -0 -- "-$1" 2>/dev/null; }
# exited PID: the process has exited (gone or a zombie). Unlike group_gone, true only once it
# ran: just after start_agent the group may not exist yet (setsid has not run).
exited() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
  [[ -z $state || $state == Z ]]
}

# ---------------------------------------------------------------------------------------
# mob-tool

tool() { local n=$1; shift; "$TOOL_BIN" -a "$(addr "$n")" --timeout 1500 "$@"; }
tool_quiet() { tool "$@" >/dev/null 2>&1; }

# deploy_detached N JSON: --detach deploy through agent N; prints mob-tool's output.
deploy_detached() { local n=$1; printf '%s' "$2" | tool "$n" deploy --detach -; }

# spec NAME COMMAND INSTANCES [EXTRA_JSON_FIELDS]: a bash spec as one line of JSON.
spec() {
  local fields=${4:-}
  if [[ -n $fields ]]; then fields=", $fields"; fi
  printf '{"name": "%s", "provider": "bash", "params": {"command": "%s"}, "instances": %s, "stop_timeout_s": 2%s}' \
    "$1" "$2" "$3" "$fields" | "$PY" -c 'import json,sys; print(json.dumps(json.loads(sys.stdin.read())))'
}

# start_network FIRST OTHER...: agent FIRST, then the others joining through it; fails the
# test unless every one lists all of them alive within 20 s.
start_network() {
  local first=$1 n
  start_agent "$first"
  wait_agent_up "$first"
  for n in "${@:2}"; do start_agent "$n" -j "$(addr "$first")"; done
  wait_for 20 all_see_alive "$@" || { describe_members "$@"; fail "agents $* did not see each other"; }
}

# ---------------------------------------------------------------------------------------
# Waiting

# wait_for LIMIT_SECONDS COMMAND...: polls every $POLL (0.1) s until COMMAND succeeds; 1 on
# timeout.
wait_for() {
  local limit=$1; shift
  local deadline=$(( $(now_us) + ${limit%.*} * 1000000 ))
  until "$@"; do
    (( $(now_us) < deadline )) || return 1
    sleep "${POLL:-0.1}"
  done
}

# holds LIMIT_SECONDS COMMAND...: COMMAND must keep succeeding for the whole time.
holds() {
  local limit=$1; shift
  local deadline=$(( $(now_us) + ${limit%.*} * 1000000 ))
  while (( $(now_us) < deadline )); do
    "$@" || return 1
    sleep 0.1
  done
}

# ---------------------------------------------------------------------------------------
# Real processes (not what status says): scanned from /proc/*/environ.

# Prints "pid<TAB>service<TAB>agent_id<TAB>cmdline" for every live process that carries
# MOB_SERVICE (of any of the given names; all of this test's services when none).
proc_table() {
  # shellcheck disable=SC2046  # one service name per line, no spaces
  "$PY" - "$@" "--" $(services) <<'EOF'
import os, sys
args = sys.argv[1:]
split = args.index("--")
wanted = set(args[:split]) or set(args[split + 1:])
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        if stat[stat.rfind(")") + 2] in "ZX":
            continue
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue
    service = env.get(b"MOB_SERVICE", b"").decode(errors="replace")
    if service in wanted:
        agent = env.get(b"MOB_AGENT_ID", b"").decode(errors="replace")
        print(f"{pid}\t{service}\t{agent}\t{cmd}")
EOF
}

# count SERVICE: live processes of SERVICE.
count() { proc_table "$1" | wc -l; }
count_is() { [[ $(count "$1") -eq $2 ]]; }

# count_on N SERVICE: live processes of SERVICE started by agent N.
count_on() { proc_table "$2" | awk -F'\t' -v id="${AGENT_IDS[$1]:-none}" '$3 == id' | wc -l; }

# cmdlines SERVICE: the distinct command lines of SERVICE's processes.
cmdlines() { proc_table "$1" | cut -f4 | sort -u; }

# Pids of every process of this test (services by name, and anything its agents started).
test_pids() {
  proc_table | cut -f1
  local id
  for id in "${AGENT_IDS[@]}"; do agent_procs "$id"; done
}

agent_procs() {
  "$PY" - "$1" <<'EOF'
import os, sys
needle = b"MOB_AGENT_ID=" + sys.argv[1].encode()
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            if needle in f.read().split(b"\0"):
                print(pid)
    except OSError:
        pass
EOF
}
no_agent_procs() { [[ -z $(agent_procs "$1") ]]; }

children_and_agent_procs() {
  local apid=$1 id=$2
  pgrep -P "$apid" 2>/dev/null || true
  [[ -n $id ]] && agent_procs "$id"
}

# ---------------------------------------------------------------------------------------
# What the agents say

# members N: "name state" lines as agent N lists them (nothing if it does not answer).
members() {
  { tool "$1" members --json 2>/dev/null || true; } | "$PY" -c '
import json, sys
try:
    for m in json.load(sys.stdin):
        print(m["name"], m["state"])
except Exception:
    pass
'
}

# member_state N M: the state agent N lists for agent M ("" if unknown).
member_state() { members "$1" | awk -v m="$(node "$2")" '$1 == m {print $2}'; }

# lists_state N STATE M...: agent N lists every M in STATE.
lists_state() {
  local n=$1 state=$2; shift 2
  local table m
  table=$(members "$n")
  for m in "$@"; do
    [[ $(awk -v m="$(node "$m")" '$1 == m {print $2}' <<<"$table") == "$state" ]] || return 1
  done
}

# all_see_alive N...: every agent among N... lists exactly N... as members, all alive.
all_see_alive() {
  local want got n m
  want=$(for m in "$@"; do echo "$(node "$m") alive"; done | sort)
  for n in "$@"; do
    got=$(members "$n" | sort)
    [[ $got == "$want" ]] || return 1
  done
}

# describe_members N...: one line per agent, for messages.
describe_members() {
  local n
  for n in "$@"; do echo "  $(node "$n") lists: $(members "$n" | tr '\n' ',' | sed 's/,$//')"; done
}

# status_json N [SERVICE]: agent N's status --json ("" when it fails).
status_json() { tool "$1" status ${2:+"$2"} --json 2>/dev/null || true; }

# svc_summary N SERVICE: "version enabled instances hash-of-spec running-count states"
# or "absent" when agent N does not list SERVICE, "noanswer" when it does not answer.
svc_summary() {
  local out
  if ! out=$(tool "$1" status --json 2>/dev/null); then echo noanswer; return; fi
  "$PY" -c '
import json, sys, hashlib
name = sys.argv[1]
for s in json.loads(sys.stdin.read()):
    if s["name"] != name:
        continue
    spec = hashlib.sha1(s["spec_json"].encode()).hexdigest()[:10]
    insts = s["instance_list"]
    running = sum(1 for i in insts if i["state"] == "running" and i["spec_version"] == s["version"])
    states = ",".join(sorted("%s:%s@%s" % (i["index"], i["state"], i["node"]) for i in insts))
    print(s["version"], str(s["enabled"]).lower(), s["instances"], spec, running, states)
    break
else:
    print("absent")
' "$2" <<<"$out"
}

# spec_command N SERVICE: params.command of the spec agent N holds.
spec_command() {
  status_json "$1" | "$PY" -c '
import json, sys
try:
    for s in json.load(sys.stdin):
        if s["name"] == sys.argv[1]:
            print(json.loads(s["spec_json"])["params"]["command"])
except Exception:
    pass
' "$2"
}

# instance_field N SERVICE INDEX FIELD: one field of one instance in agent N's status.
instance_field() {
  status_json "$1" "$2" | "$PY" -c '
import json, sys
try:
    for s in json.load(sys.stdin):
        for i in s["instance_list"]:
            if i["index"] == int(sys.argv[1]):
                print(i[sys.argv[2]])
except Exception:
    pass
' "$3" "$4"
}

# all_status_running SERVICE N...: every agent N shows every instance of SERVICE running
# (same version, same spec, the desired count) and they all agree.
all_status_running() {
  local service=$1; shift
  local first="" n s
  for n in "$@"; do
    s=$(svc_summary "$n" "$service")
    [[ $s != absent && $s != noanswer ]] || return 1
    read -r ver enabled inst hash running states <<<"$s"
    [[ $enabled == true && $running == "$inst" ]] || return 1
    [[ -z $first || $first == "$ver $inst $hash $states" ]] || return 1
    first="$ver $inst $hash $states"
  done
}

# absent_everywhere SERVICE N...
absent_everywhere() {
  local service=$1; shift
  local n
  for n in "$@"; do [[ $(svc_summary "$n" "$service") == absent ]] || return 1; done
}

describe_service() {
  local service=$1; shift
  local n
  for n in "$@"; do echo "  $(node "$n") status of $service: $(svc_summary "$n" "$service")"; done
  echo "  reasons as $(node "$1") shows them: $(status_json "$1" "$service" | "$PY" -c '
import json, sys
try:
    print("; ".join("%s/%s %s: %s" % (i["service"], i["index"], i["state"], i["reason"] or "-")
                    for s in json.load(sys.stdin) for i in s["instance_list"]))
except Exception:
    print("(no answer)")')"
  echo "  real processes of $service: $(count "$service")"
  proc_table "$service" | sed 's/^/    /'
}

# ---------------------------------------------------------------------------------------
# The end state every test asserts: every agent lists the same members, all alive; every
# service has the same spec and version on every agent, all its instances running; and
# exactly `instances` real processes for each. Waits up to LIMIT seconds, then the state
# must hold for HOLD seconds more (duplicates that linger briefly are caught).
#
# converged LIMIT "N N N..." SERVICE=COUNT...
converged_now() {
  local hosts=$1; shift
  # shellcheck disable=SC2086
  all_see_alive $hosts || return 1
  local pair service want
  for pair in "$@"; do
    service=${pair%=*}; want=${pair##*=}
    count_is "$service" "$want" || return 1
    # shellcheck disable=SC2086
    if [[ $want -eq 0 ]]; then absent_everywhere "$service" $hosts || return 1
    else all_status_running "$service" $hosts || return 1; fi
  done
}

assert_converged() {
  check_converged "$@" || fail "$CONVERGE_ERROR"
}

# check_converged: as assert_converged, but returns 1 (with the reason in CONVERGE_ERROR and
# the state printed) instead of failing the test.
check_converged() {
  local limit=$1 hosts=$2; shift 2
  local start
  start=$(now_us)
  CONVERGE_ERROR=""
  if ! wait_for "$limit" converged_now "$hosts" "$@"; then
    explain_not_converged "$hosts" "$@"
    CONVERGE_ERROR="not converged within ${limit}s (see above)"
    return 1
  fi
  CONVERGED_AFTER=$(elapsed "$start")
  if ! holds 2 converged_now "$hosts" "$@"; then
    explain_not_converged "$hosts" "$@"
    CONVERGE_ERROR="converged after ${CONVERGED_AFTER}s but did not stay so for 2 s"
    return 1
  fi
}

explain_not_converged() {
  local hosts=$1; shift
  echo "--- state when giving up:"
  # shellcheck disable=SC2086
  describe_members $hosts
  local pair
  for pair in "$@"; do
    # shellcheck disable=SC2086
    describe_service "${pair%=*}" $hosts
    echo "  wanted: ${pair##*=} process(es)"
  done
}

# ---------------------------------------------------------------------------------------
# Tombstones

# ttl_network GONE_INSTANCES: agents 2, 3, 4 with --tombstone-ttl-s $TTL (3 and 4 join
# through 2), all alive; services `gone` (GONE_INSTANCES instances) and `keep` (1) deployed
# through node-2 and converged. Sets TTL, GC_EVERY, all, gone and keep.
ttl_network() {
  TTL=3
  GC_EVERY=10   # agent/store.cpp: collect_garbage() runs every 10 s
  all=(2 3 4)
  start_agent 2 --tombstone-ttl-s "$TTL"
  wait_agent_up 2
  start_agent 3 --tombstone-ttl-s "$TTL" -j "$(addr 2)"
  start_agent 4 --tombstone-ttl-s "$TTL" -j "$(addr 2)"
  wait_for 20 all_see_alive "${all[@]}" || { describe_members "${all[@]}"; fail "the three agents did not see each other"; }
  gone=$(svc gone); keep=$(svc keep)
  deploy_detached 2 "$(spec "$gone" 'exec sleep 1000' "$1")" >/dev/null || fail "deploy of $gone refused"
  deploy_detached 2 "$(spec "$keep" 'exec sleep 1000' 1)" >/dev/null || fail "deploy of $keep refused"
  assert_converged 20 "${all[*]}" "$gone=$1" "$keep=1"
}

# ---------------------------------------------------------------------------------------
# Partitions (INPUT drops between loopback addresses)

# cut A B: drop every packet between 127.0.0.A and 127.0.0.B, both ways.
cut_link() { iptables -A INPUT -s "$(host "$1")" -d "$(host "$2")" -j DROP
             iptables -A INPUT -s "$(host "$2")" -d "$(host "$1")" -j DROP; }
# cut_one_way A B: drop the packets from A to B only.
cut_one_way() { iptables -A INPUT -s "$(host "$1")" -d "$(host "$2")" -j DROP; }
heal() { iptables -F INPUT; [[ -z $(iptables -S INPUT | grep -- '-j DROP' || true) ]]; }
