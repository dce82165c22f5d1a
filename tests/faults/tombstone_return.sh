#!/usr/bin/env bash
# Fault: an agent returns after the tombstone of a service it still holds was collected.
# 3 agents with --tombstone-ttl-s 3; a 2-instance service `gone` and a 1-instance `keep`.
# node-4 is SIGKILLed with its services; `gone` is removed through node-2; the test waits
# past the TTL and the 10 s garbage-collection cadence (and logs whether the tombstone left
# node-2's and node-3's state.db); node-4 comes back with its old data dir (-j node-2).
# Asserts: the three list each other alive, and after a 10 s watch `gone` has 0 real
# processes and no agent lists it; `keep` runs exactly 1 everywhere.
# Usage: tombstone_return.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"

ttl_network 2

# db_has N SERVICE: agent N's state.db has a row for SERVICE. Read-only, and the db is in WAL
# mode, where a reader never blocks the agent's writes. Prints yes, no or unknown.
db_has() {
  "$PY" - "$WORK/data-$1/state.db" "$2" <<'PYEOF'
import sqlite3, sys
try:
    db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=0.5)
    row = db.execute("SELECT 1 FROM services WHERE name = ?", (sys.argv[2],)).fetchone()
    print("yes" if row else "no")
except Exception:
    print("unknown")
PYEOF
}
log "node-4's state.db holds $gone: $(db_has 4 "$gone")"

crash_agent 4
wait_for 15 lists_state 2 failed 4 || { describe_members 2 3; fail "node-2 does not list node-4 as failed"; }
wait_for 15 lists_state 3 failed 4 || { describe_members 2 3; fail "node-3 does not list node-4 as failed"; }
log "node-4 crashed (with its services); 2 and 3 list it failed"

out=$(tool 2 remove "$gone" 2>&1) || fail "remove $gone through node-2 failed: $out"
removed_at=$(now_us)
log "$out"
removed() { absent_everywhere "$gone" 2 3 && count_is "$gone" 0; }
wait_for 10 removed || { describe_service "$gone" 2 3; fail "$gone was not removed on node-2 and node-3"; }
log "$gone absent on node-2 and node-3, 0 processes"

# Past the TTL and one collection: the tombstone is collected on 2 and 3 (logged), or the
# agents keep it longer (allowed: the rule is theirs to choose).
collected() { [[ $(db_has 2 "$gone") == no && $(db_has 3 "$gone") == no ]]; }
if wait_for $((TTL + GC_EVERY + 2)) collected; then
  log "tombstone of $gone collected from node-2's and node-3's state.db $(elapsed "$removed_at")s after the remove"
else
  log "tombstone of $gone still in state.db of node-2 ($(db_has 2 "$gone")) / node-3 ($(db_has 3 "$gone")) after $(elapsed "$removed_at")s"
fi
past_ttl() { (( $(now_us) - removed_at > (TTL + 1) * 1000000 )); }
wait_for $((TTL + 2)) past_ttl || true
log "node-4 was away $(elapsed "$removed_at")s after the remove (TTL ${TTL}s); its state.db holds $gone: $(db_has 4 "$gone")"

start_agent 4 --tombstone-ttl-s "$TTL" -j "$(addr 2)"
back_at=$(now_us)
log "node-4 restarted with its old data dir"
wait_for 15 all_see_alive "${all[@]}" || { describe_members "${all[@]}"; fail "node-4 did not rejoin within 15 s"; }
log "node-4 rejoined after $(elapsed "$back_at")s"

# Watch 10 s: a resurrection shows up as processes or as a status row.
max_procs=0; listed_by=""
watch_end=$(( $(now_us) + 10000000 ))
while (( $(now_us) < watch_end )); do
  c=$(count "$gone"); (( c > max_procs )) && max_procs=$c
  for n in "${all[@]}"; do
    s=$(svc_summary "$n" "$gone")
    [[ $s != absent && $s != noanswer && $listed_by != *"node-$n"* ]] && listed_by+=" node-$n"
  done
  sleep 0.2
done
log "during the 10 s watch: at most $max_procs process(es) of $gone; listed by:${listed_by:- nobody}"
if ! count_is "$gone" 0 || ! absent_everywhere "$gone" "${all[@]}"; then
  describe_service "$gone" "${all[@]}"
  fail "the removed service $gone came back with node-4: $(count "$gone") process(es) 10 s after it rejoined"
fi
(( max_procs == 0 )) || log "warning: $gone ran briefly ($max_procs process(es)) after node-4 came back"
[[ -z $listed_by ]] || log "warning: $gone was listed for a while by:$listed_by"
assert_converged 10 "${all[*]}" "$keep=1" "$gone=0"
pass "the removed service stayed removed after node-4 returned past the TTL; $keep runs exactly 1"
