#!/usr/bin/env bash
# Fault: a false failure. The one agent that may run a tag-constrained service (node-4,
# started with --tag role=pinned) is frozen with SIGSTOP until the other two list it as
# failed, then resumed with SIGCONT. Its process never stopped. Asserts within 15 s: every
# agent lists all three alive and shows the pinned instance `running` on node-4 (not
# pending), exactly 1 real process of it, the service that depends on it still runs (1),
# and a second dependent deployed after the SIGCONT starts (1).
# Usage: sigstop.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"

all=(2 3 4)
start_agent 2
wait_agent_up 2
start_agent 3 -j "$(addr 2)"
start_agent 4 -j "$(addr 2)" --tag role=pinned
wait_for 20 all_see_alive "${all[@]}" || { describe_members "${all[@]}"; fail "the three agents did not see each other"; }

pinned=$(svc pinned); dependent=$(svc dependent)
deploy_detached 2 "$(spec "$pinned" 'exec sleep 1000' 1 '"constraints": {"tags": {"role": "pinned"}}')" >/dev/null \
  || fail "deploy of $pinned refused"
deploy_detached 2 "$(spec "$dependent" 'exec sleep 1000' 1 "\"depends_on\": [\"$pinned\"]")" >/dev/null \
  || fail "deploy of $dependent refused"
assert_converged 20 "${all[*]}" "$pinned=1" "$dependent=1"
[[ $(instance_field 2 "$pinned" 0 node) == "$(node 4)" ]] || fail "$pinned/0 is not on $(node 4): $(instance_field 2 "$pinned" 0 node)"
(( $(count_on 4 "$pinned") == 1 )) || fail "the process of $pinned is not one that node-4 started"
pinned_pid=$(proc_table "$pinned" | cut -f1)
log "$pinned runs on node-4 (pid $pinned_pid); $dependent runs"

frozen=$(agent_pid 4)
kill -STOP "$frozen"
stop_at=$(now_us)
log "SIGSTOP node-4 (pid $frozen)"
others_see_failed() { lists_state 2 failed 4 && lists_state 3 failed 4; }
if ! wait_for 20 others_see_failed; then
  kill -CONT "$frozen"
  describe_members 2 3
  fail "the freeze did not take effect: 2 and 3 do not list node-4 as failed after 20 s"
fi
log "2 and 3 list node-4 as failed after $(elapsed "$stop_at")s"
log "while frozen, node-2 shows: $(svc_summary 2 "$pinned") / $dependent: $(svc_summary 2 "$dependent")"
kill -CONT "$frozen"
log "SIGCONT node-4"

assert_converged 15 "${all[*]}" "$pinned=1" "$dependent=1"
for n in "${all[@]}"; do
  [[ $(instance_field "$n" "$pinned" 0 node) == "$(node 4)" ]] \
    || fail "$(node "$n") shows $pinned/0 on $(instance_field "$n" "$pinned" 0 node), not node-4"
done
late=$(svc late)
deploy_detached 3 "$(spec "$late" 'exec sleep 1000' 1 "\"depends_on\": [\"$pinned\"]")" >/dev/null \
  || fail "deploy of $late (depends on $pinned) refused after the SIGCONT"
assert_converged 10 "${all[*]}" "$pinned=1" "$dependent=1" "$late=1"
now_pid=$(proc_table "$pinned" | cut -f1)
[[ $now_pid == "$pinned_pid" ]] && kept="the same process kept running" || kept="process replaced: $pinned_pid -> $now_pid"
pass "after a false failure of node-4: running everywhere ${CONVERGED_AFTER}s after SIGCONT ($kept); both dependents run"
