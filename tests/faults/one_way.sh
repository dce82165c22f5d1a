#!/usr/bin/env bash
# Fault: a one-way cut. Packets from 127.0.0.2 to 127.0.0.3 and 127.0.0.4 are dropped; the
# other direction is left alone. Over TCP this kills the connections both ways (a SYN or an
# ack that cannot come back), so it is held until 3 and 4 list 2 as failed (asserted; how 2
# sees them is logged). After the heal the network must be one again: every agent lists all
# three alive, exactly 1 and 2 real processes, one spec per service everywhere.
# Usage: one_way.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"

all=(2 3 4)
start_network "${all[@]}"

one=$(svc one); two=$(svc two)
deploy_detached 3 "$(spec "$one" 'exec sleep 1000' 1)" >/dev/null || fail "deploy of $one refused"
deploy_detached 3 "$(spec "$two" 'exec sleep 1000' 2)" >/dev/null || fail "deploy of $two refused"
assert_converged 20 "${all[*]}" "$one=1" "$two=2"
log "before the cut: $one runs 1, $two runs 2"

cut_one_way 2 3
cut_one_way 2 4
cut_at=$(now_us)
log "dropping packets 127.0.0.2 -> 127.0.0.3 and 127.0.0.2 -> 127.0.0.4 (one direction)"
majority_sees_failed() { lists_state 3 failed 2 && lists_state 4 failed 2; }
if ! wait_for 20 majority_sees_failed; then
  describe_members "${all[@]}"
  fail "the one-way cut did not take effect: 3 and 4 do not list 2 as failed after 20 s"
fi
log "3 and 4 list 2 as failed after $(elapsed "$cut_at")s"
lone_sees_failed() { lists_state 2 failed 3 4; }
if wait_for 5 lone_sees_failed; then log "2 lists 3 and 4 as failed too"; else log "2 does not list both 3 and 4 as failed (informative)"; fi
describe_members "${all[@]}"
log "during the cut: $one runs $(count "$one"), $two runs $(count "$two") real process(es)"

heal || fail "iptables still holds DROP rules after the heal"
log "healed"
assert_converged 15 "${all[*]}" "$one=1" "$two=2"
pass "one-way cut healed by itself: one view and exact counts ${CONVERGED_AFTER}s after the heal"
