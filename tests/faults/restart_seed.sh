#!/usr/bin/env bash
# Fault: the seed crashes and is restarted with its usual command line (no -j). 3 agents
# (3 and 4 joined through 2), a 2-instance service.
#  1. node-2 (the seed) and its services are SIGKILLed and node-2 is restarted within
#     0.2 s with its data dir. Asserts within 15 s: every agent lists three alive, exactly
#     2 real processes, one spec everywhere, and the instances did not all move onto the
#     seed (its fresh start must not win the placement).
#  2. node-2 is SIGKILLed again, held down until node-3 and node-4 list it failed, then
#     restarted without -j. Asserts within 15 s: it rejoins (three alive everywhere),
#     exactly 2 real processes, one spec everywhere, and again the instances did not all
#     move onto the seed.
# Both phases are evaluated; the test fails at the end with the list of failed checks.
# Usage: restart_seed.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"

all=(2 3 4)
start_network "${all[@]}"
two=$(svc two)
deploy_detached 2 "$(spec "$two" 'exec sleep 1000' 2)" >/dev/null || fail "deploy of $two refused"
assert_converged 20 "${all[*]}" "$two=2"
where() { echo "node-2:$(count_on 2 "$two") node-3:$(count_on 3 "$two") node-4:$(count_on 4 "$two")"; }
before=$(where)
log "$two runs on $before"

# ---- 1. a quick restart
old_pid=$(agent_pid 2)
kill_at=$(now_us)
crash_agent 2
start_agent 2
gap=$(( STARTED_AT - kill_at )); gap=$(printf '%d.%03d' $((gap / 1000000)) $((gap % 1000000 / 1000)))
new_pid=$(agent_pid 2)
[[ $new_pid != "$old_pid" ]] || fail "node-2 was not replaced (pid $old_pid)"
log "phase 1: node-2 SIGKILLed with its services and restarted without -j after ${gap}s (pid $old_pid -> $new_pid)"
awk -v g="$gap" 'BEGIN { exit !(g <= 0.2) }' || log "warning: the restart took ${gap}s, more than the 0.2 s aimed at"
if check_converged 15 "${all[*]}" "$two=2"; then
  log "phase 1: one network, exactly 2 processes after ${CONVERGED_AFTER}s: $(where)"
  if (( $(count_on 2 "$two") >= 2 )); then
    describe_service "$two" "${all[@]}"
    problem "phase 1: both instances of $two moved onto the restarted seed ($(where); before: $before)"
  fi
else
  problem "phase 1 (seed back within ${gap}s): $CONVERGE_ERROR"
fi

# ---- 2. a restart after the network declared the seed failed
crash_agent 2
down_at=$(now_us)
others_see_failed() { lists_state 3 failed 2 && lists_state 4 failed 2; }
wait_for 15 others_see_failed || { describe_members 3 4; fail "phase 2: node-3 and node-4 do not list node-2 as failed"; }
log "phase 2: node-2 down; 3 and 4 list it failed after $(elapsed "$down_at")s; $two runs $(count "$two") ($(where))"
start_agent 2
log "phase 2: node-2 restarted without -j"
if check_converged 15 "${all[*]}" "$two=2"; then
  log "phase 2: one network, exactly 2 processes after ${CONVERGED_AFTER}s: $(where)"
  if (( $(count_on 2 "$two") >= 2 )); then
    describe_service "$two" "${all[@]}"
    problem "phase 2: both instances of $two moved onto the returning seed ($(where))"
  fi
else
  problem "phase 2 (seed back after being declared failed): $CONVERGE_ERROR"
fi

fail_on_problems "a restarted seed did not rejoin cleanly"
pass "seed restarted without -j rejoined both times with exactly 2 processes"
