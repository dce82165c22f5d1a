#!/usr/bin/env bash
# Fault: the whole network crashes. 3 agents (3 and 4 joined through 2 with -j), a
# 2-instance service; every agent and every service process is SIGKILLed; all three are
# restarted with their data dirs and WITHOUT -j. Asserts within 15 s: each agent lists the
# three alive, exactly 2 real processes, one spec everywhere.
# Usage: restart_all.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"

all=(2 3 4)
start_network "${all[@]}"
two=$(svc two)
deploy_detached 2 "$(spec "$two" 'exec sleep 1000' 2)" >/dev/null || fail "deploy of $two refused"
assert_converged 20 "${all[*]}" "$two=2"
log "$two runs 2 processes; crashing every agent with its services"

for n in "${all[@]}"; do crash_agent "$n"; done
count_is "$two" 0 || fail "processes of $two survived the crash: $(count "$two")"
log "all agents and services killed (0 processes of $two)"

restart_at=$(now_us)
for n in "${all[@]}"; do start_agent "$n"; done
log "restarted all three without -j"
assert_converged 15 "${all[*]}" "$two=2"
pass "restarted network found itself: 3 alive everywhere and exactly 2 processes ${CONVERGED_AFTER}s after convergence began ($(elapsed "$restart_at")s after the restart, including the 2 s hold)"
