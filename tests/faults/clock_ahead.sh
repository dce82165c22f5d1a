#!/usr/bin/env bash
# Fault: a clock that runs ahead and is put back. node-4 runs under libfaketime with its
# offset read from a file (FAKETIME_TIMESTAMP_FILE, re-read every second; the monotonic
# clock is left alone). A 3-instance service runs on node-2..4. Then node-4's wall clock jumps
# 600 s ahead (past the agent's 5 min bound): its hybrid clock follows it and its peers
# refuse what it stamps. node-4 is paused (SIGSTOP) until node-2 and node-3 both list it
# failed, and resumed while still ahead: its refutations are stamped ahead, so it stays
# failed (checked). Its clock is then put back. Its hybrid clock stays 600 s ahead: until
# real time catches up, whatever it stamps is refused by its peers (found by mob-sim's
# `clock-ahead` scenario and random seeds 114, 134, 160, 178).
# Asserts, after the clock is put back:
#  - within 10 s node-2 and node-3 list node-4 alive again (it stamps its own member record
#    by its wall clock meanwhile), and node-4 says why it takes no part ("ran ahead");
#  - node-4 runs nothing (its stamps would lose), a deploy through it is refused naming the
#    clock, and the 3-instance service runs exactly 3 real processes, on node-2 and node-3;
#  - node-2 and node-3 agree on members and on the spec.
# Needs the faketime package (apt-get install faketime).
# Usage: clock_ahead.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"
faketime_lib=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1)
[[ -n $faketime_lib ]] || fail "libfaketime is not installed (apt-get install -y faketime)"

start_agent 2
wait_agent_up 2
start_agent 3 -j "$(addr 2)"
OFFSET_FILE=$WORK/clock-offset-4
echo "+0s" >"$OFFSET_FILE"
AGENT_PREFIX=(env LD_PRELOAD="$faketime_lib" FAKETIME_TIMESTAMP_FILE="$OFFSET_FILE" FAKETIME_CACHE_DURATION=1
              FAKETIME_DONT_RESET=1 FAKETIME_DONT_FAKE_MONOTONIC=1)
start_agent 4 -j "$(addr 2)"
unset AGENT_PREFIX
wait_for 20 all_see_alive 2 3 4 || { describe_members 2 3 4; fail "the three agents did not see each other"; }
pid4=$(agent_pid 4)
tr '\0' '\n' <"/proc/$pid4/environ" | grep -q '^LD_PRELOAD=.*faketime' || fail "node-4 (pid $pid4) does not run under libfaketime"

three=$(svc three)
deploy_detached 2 "$(spec "$three" 'exec sleep 1000' 3)" >/dev/null || fail "deploy of $three refused"
assert_converged 20 "2 3 4" "$three=3"

# 1. The clock jumps ahead, and the jump takes effect: node-4 itself sees its clock off.
echo "+600s" >"$OFFSET_FILE"
log "node-4's wall clock set 600 s ahead"
mentions_clock() { sed "s#$WORK##g; s#$TEST_NAME##g" | grep -Ei 'clock'; }
says_clock() { tool 4 members 2>&1 | mentions_clock >/dev/null; }
wait_for 15 says_clock || { describe_members 4; fail "node-4 did not notice its clock 600 s ahead within 15 s"; }
log "node-4 says: $(tool 4 members 2>&1 | mentions_clock | head -1)"

# 2. Paused past failure detection: both peers list it failed.
kill -STOP "$pid4"
log "node-4 (pid $pid4) paused"
both_failed() { lists_state 2 failed 4 && lists_state 3 failed 4; }
if ! wait_for 20 both_failed; then
  kill -CONT "$pid4"
  describe_members 2 3
  fail "node-2 and node-3 did not both list the paused node-4 failed within 20 s"
fi
log "node-2 and node-3 list node-4 failed"
kill -CONT "$pid4"
# Still ahead, it refutes with stamps its peers refuse: it stays failed (the fault holds).
sleep 3
lists_state 2 failed 4 || problem "node-4 was taken back while its clock was still 600 s ahead: node-2 lists $(member_state 2 4)"
grep -q 'ahead' "$WORK/agent-2.log" || problem "node-2's log does not say that it refused node-4's stamps as ahead"

# 3. The clock is put back; its hybrid clock stays 600 s ahead.
echo "+0s" >"$OFFSET_FILE"
put_back=$(now_us)
log "node-4's wall clock put back"
back_alive() { lists_state 2 alive 4 && lists_state 3 alive 4; }
if wait_for 10 back_alive; then
  log "node-2 and node-3 list node-4 alive $(elapsed "$put_back") s after its clock was put back"
else
  describe_members 2 3 4
  problem "node-4 not listed alive by node-2 and node-3 within 10 s of its clock being put back"
fi
ran_ahead() { tool 2 members 2>&1 | grep -i 'ran ahead' >/dev/null; }  # the kind of problem changed
wait_for 5 ran_ahead || problem "node-2's members do not show node-4's problem ('clock ran ahead'): $(tool 2 members 2>&1 | tr '\n' '|')"

rc=0
out=$(printf '%s' "$(spec "$(svc refused)" 'exec sleep 1000' 1)" | tool 4 deploy --detach - 2>&1) || rc=$?
log "deploy through node-4 -> exit $rc: $out"
[[ $rc -eq 1 ]] && mentions_clock <<<"$out" >/dev/null \
  || problem "a deploy through node-4, whose stamps run ahead, was not refused naming the clock (exit $rc): $out"

settled() {
  [[ $(count_on 4 "$three") -eq 0 ]] && count_is "$three" 3 || return 1
  [[ "$(members 2 | sort)" == "$(members 3 | sort)" ]] || return 1
  [[ "$(spec_command 2 "$three")" == "$(spec_command 3 "$three")" ]] || return 1
  all_status_running "$three" 2 3
}
if wait_for 15 settled && holds 3 settled; then
  log "$three: exactly 3 processes, none on node-4; node-2 and node-3 agree"
else
  describe_members 2 3 4
  describe_service "$three" 2 3 4
  problem "$three did not settle on exactly 3 processes off node-4 (now $(count "$three"), $(count_on 4 "$three") on node-4)"
fi

fail_on_problems "an agent whose clock ran ahead was not taken back cleanly"
pass "node-4 back as alive within seconds of its clock being put back, unfit until its stamps catch up; exactly 3 processes"
