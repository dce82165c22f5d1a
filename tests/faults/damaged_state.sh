#!/usr/bin/env bash
# Fault: a damaged state.db. Four damages: a 0-byte file, a file cut to half its size,
# garbage over one page, garbage in the write-ahead log after a kill -9.
# - Alone (node-5, never part of a network): the agent refuses to start (exits non-zero
#   within 10 s) naming the file and the fix (-j HOST:PORT), starts no service and leaves
#   the file where it is. It never starts with 0 services.
# - In a network (node-4 of {2,3,4}): restarted with -j (or, for the garbage page, without
#   -j, through the peers it still reads from the damaged file), it moves the file aside
#   (state.db.damaged-*), logs that it takes the state from its peers, and then lists every
#   service with the network's version.
# Usage: damaged_state.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"

SERVICES=30
# big_spec NAME: a one-instance bash spec of about 1.6 KiB, so that 30 of them fill pages.
big_spec() {
  "$PY" -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "provider": "bash",
    "params": {"command": "exec sleep 1000", "env": {"PAD": "x" * 1500}}, "instances": 1, "stop_timeout_s": 2}))' "$1"
}
# deploy_many N PREFIX COUNT: deploys PREFIX-1..COUNT through agent N in one mob-tool call.
deploy_many() {
  local n=$1 prefix=$2 count=$3 i files=()
  mkdir -p "$WORK/specs"
  for i in $(seq 1 "$count"); do
    big_spec "$(svc "$prefix-$i")" >"$WORK/specs/$prefix-$i.json"
    files+=("$WORK/specs/$prefix-$i.json")
  done
  tool "$n" deploy --detach "${files[@]}" >/dev/null || fail "deploy of $prefix-* through node-$n refused"
}
listed() { status_json "$1" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo 0; }
lists() { [[ $(listed "$1") -eq $2 ]]; }

# remembers_peers N: agent N's state.db lists peers (read-only, beside the running agent).
remembers_peers() {
  "$PY" -c 'import sqlite3,sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
sys.exit(0 if db.execute("SELECT count(*) FROM peers").fetchone()[0] > 0 else 1)' "$WORK/data-$1/state.db" 2>/dev/null
}

# damage KIND FILE
damage() {
  local kind=$1 db=$2
  case $kind in
    empty) truncate -s 0 "$db" ;;
    truncated) truncate -s $(( $(stat -c %s "$db") / 2 )) "$db" ;;
    page) head -c 4096 /dev/urandom | dd of="$db" bs=4096 seek=10 conv=notrunc status=none ;;
    wal) head -c 64 /dev/urandom | dd of="$db-wal" bs=1 seek=132 conv=notrunc status=none ;;
  esac
}

start_network 2 3 4
start_agent 5
wait_agent_up 5
deploy_many 2 net "$SERVICES"
deploy_many 5 alone "$SERVICES"
wait_for 20 lists 4 "$SERVICES" || fail "node-4 lists $(listed 4) of $SERVICES services"
wait_for 20 lists 5 "$SERVICES" || fail "node-5 lists $(listed 5) of $SERVICES services"
stop_agent 5   # closing checkpoints the log: state.db holds every page
cp -a "$WORK/data-5" "$WORK/data-5.clean"
log "node-5 (alone) and the network each hold $SERVICES services"

refusal_logged() { grep -q "state.db is damaged.*-j HOST:PORT.*does not start" "$WORK/agent-5.log"; }
alone_count() { local s n=0; for s in $(services | grep -- '^alone-'); do n=$((n + $(count "$s"))); done; echo "$n"; }
for kind in empty truncated page wal; do
  rm -rf "$WORK/data-5"; cp -a "$WORK/data-5.clean" "$WORK/data-5"
  if [[ $kind == wal ]]; then
    start_agent 5; wait_agent_up 5
    deploy_many 5 alone-more 3
    crash_agent 5
    [[ $(stat -c %s "$WORK/data-5/state.db-wal" 2>/dev/null || echo 0) -gt 4096 ]] || fail "no log left by the crash of node-5"
  fi
  damage "$kind" "$WORK/data-5/state.db"
  : >"$WORK/agent-5.log"
  start_agent 5
  wait_for 10 exited "${AGENT_PID[5]}" || { problem "alone, $kind: node-5 still runs 10 s after starting on a damaged state.db ($(listed 5) services listed)"; crash_agent 5; continue; }
  wait_for 5 refusal_logged || problem "alone, $kind: the refusal does not name the damaged file and the fix: $(grep -v '^===' "$WORK/agent-5.log" | tail -2)"
  [[ -e $WORK/data-5/state.db ]] || problem "alone, $kind: the damaged state.db was moved although the agent did not start"
  [[ $(alone_count) -eq 0 ]] || problem "alone, $kind: $(alone_count) processes of node-5's services run"
  log "alone, $kind: refused: $(grep -o 'state.db is damaged ([^)]*)' "$WORK/agent-5.log" | head -1)"
done

for kind in empty truncated page wal; do
  if [[ $kind == wal ]]; then
    deploy_many 2 net-more 2
    wait_for 10 lists 4 $((SERVICES + 2)) || fail "node-4 did not learn the 2 new services"
    crash_agent 4
  else
    # Without -j the agent joins through the peers it remembers (kept within 1 s of joining).
    [[ $kind == page ]] && { wait_for 10 remembers_peers 4 || fail "node-4 keeps no peers in its state.db"; }
    stop_agent 4
  fi
  damage "$kind" "$WORK/data-4/state.db"
  : >"$WORK/agent-4.log"
  if [[ $kind == page ]]; then start_agent 4; else start_agent 4 -j "$(addr 2)"; fi
  want=$(listed 2)
  if ! wait_for 15 lists 4 "$want"; then
    problem "network, $kind: node-4 lists $(listed 4) services, the network $want"
    continue
  fi
  grep -q "moved the damaged .*state.db aside" "$WORK/agent-4.log" \
    || problem "network, $kind: node-4 does not log that it moved the damaged file aside"
  grep -q "took the state from the network" "$WORK/agent-4.log" \
    || problem "network, $kind: node-4 does not log that it took the state from the network"
  compgen -G "$WORK/data-4/state.db.damaged-*" >/dev/null || problem "network, $kind: no state.db.damaged-* kept"
  rm -f "$WORK"/data-4/state.db.damaged-*
  [[ $(svc_summary 4 "$(svc net-1)" | cut -d' ' -f1-3) == "$(svc_summary 2 "$(svc net-1)" | cut -d' ' -f1-3)" ]] \
    || problem "network, $kind: node-4 holds $(svc_summary 4 "$(svc net-1)"), the network $(svc_summary 2 "$(svc net-1)")"
  log "network, $kind: node-4 took $want services from its peers"
done
wait_for 20 all_see_alive 2 3 4 || problem "the network did not converge: $(describe_members 2 3 4)"
fail_on_problems "a damaged state.db"
pass "no damaged state.db was read as empty: alone, 4 refusals naming the file and the fix; in a network, 4 times moved aside and the state taken from the peers"
