#!/usr/bin/env bash
# Fault: a skewed clock. node-4 runs under libfaketime 10 minutes behind
# (FAKETIME_DONT_RESET=1 faketime -f -600s), past the agent's 5 min bound; node-2 and
# node-3 are right. Asserts:
#  - node-4 says so where a user looks: `mob-tool members` or `status` through it mentions
#    the clock (its log is checked and reported too);
#  - a deploy through node-4 is refused (exit 1) with an error that mentions the clock, and
#    the refused service appears nowhere and runs nowhere;
#  - a 3-instance service deployed through node-2 runs exactly 3 real processes in total,
#    node-2 and node-3 agree on members and spec, and node-4 runs only what the network
#    assigned it (its processes == instances that node-2's status places on node-4).
# Needs the faketime package (apt-get install faketime).
# Usage: clock_skew.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"
command -v faketime >/dev/null || fail "faketime is not installed (apt-get install -y faketime)"


start_agent 2
wait_agent_up 2
start_agent 3 -j "$(addr 2)"
wait_for 20 all_see_alive 2 3 || { describe_members 2 3; fail "node-2 and node-3 did not see each other"; }
AGENT_PREFIX=(env FAKETIME_DONT_RESET=1 faketime -f -600s)
start_agent 4 -j "$(addr 2)"
unset AGENT_PREFIX
wait_agent_up 4 15

# Proof that the skew took effect on the agent itself: the environment of the running
# mob-agent carries libfaketime, and a clock read through the same library is 600 s behind.
skewed=$(agent_pid 4)
tr '\0' '\n' <"/proc/$skewed/environ" | grep -q '^LD_PRELOAD=.*faketime' \
  || fail "node-4 (pid $skewed) does not run under libfaketime"
behind=$(( $(date +%s) - $(FAKETIME_DONT_RESET=1 faketime -f -600s date +%s) ))
(( behind >= 590 && behind <= 610 )) || fail "faketime -f -600s does not shift the clock here (delta ${behind}s)"
# And the agent's own log stamps (HH:MM:SS.mmm, its wall clock) are 10 minutes behind the
# time the script wrote in its start line.
skew_in_log() {
  "$PY" - "$WORK/agent-4.log" <<'PYEOF'
import re, sys
start = agent = None
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"=== (\d\d):(\d\d):(\d\d)\.(\d+) start:", line)
    if m and start is None:
        start = int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])
        continue
    m = re.match(r"(\d\d):(\d\d):(\d\d)\.\d+ ", line)
    if m and start is not None:
        agent = int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])
        break
if start is None or agent is None:
    sys.exit(1)
print((start - agent) % 86400)
PYEOF
}
wait_for 5 skew_in_log >/dev/null || fail "node-4 wrote no log line to compare its clock with"
log_behind=$(skew_in_log)
(( log_behind >= 590 && log_behind <= 610 )) || fail "node-4's log clock is ${log_behind}s behind, not about 600 s"
log "node-4 (pid $skewed) runs under libfaketime; its log clock is ${log_behind}s behind"

# 1. It says so.
# (The work dir's name contains "clock_skew": it is cut out before looking for the words.)
mentions_clock() { sed "s#$WORK##g; s#$TEST_NAME##g" | grep -Ei 'clock|skew'; }
says_skew() { { tool 4 members 2>&1; tool 4 status 2>&1; } | mentions_clock >/dev/null; }
if wait_for 10 says_skew; then
  log "node-4's members/status output mentions its clock: $({ tool 4 members 2>&1; tool 4 status 2>&1; } | mentions_clock | head -2 | tr '\n' '|')"
else
  problem "neither 'mob-tool members' nor 'mob-tool status' through node-4 mentions its clock within 10 s; members: $(tool 4 members 2>&1 | tr '\n' '|')"
fi
if grep -v '^=== ' "$WORK/agent-4.log" | mentions_clock >/dev/null; then
  log "node-4's log mentions the clock: $(grep -v '^=== ' "$WORK/agent-4.log" | mentions_clock | head -1)"
else
  problem "node-4's log does not mention its clock"
fi

# 2. A write through it is refused, clearly, and lands nowhere.
refused=$(svc refused)
rc=0
out=$(printf '%s' "$(spec "$refused" 'exec sleep 1000' 1)" | tool 4 deploy --detach - 2>&1) || rc=$?
log "deploy through node-4 -> exit $rc: $out"
if [[ $rc -ne 1 ]]; then
  problem "a deploy through the skewed node-4 was not refused (exit $rc): $out"
elif ! mentions_clock <<<"$out" >/dev/null; then
  problem "the refusal of a deploy through node-4 does not mention the clock: $out"
fi
nowhere() { count_is "$refused" 0 && [[ $(svc_summary 2 "$refused") == absent && $(svc_summary 3 "$refused") == absent ]]; }
holds 3 nowhere || problem "the service deployed through node-4 appears: node-2 $(svc_summary 2 "$refused"), node-3 $(svc_summary 3 "$refused"), $(count "$refused") process(es)"

# 3. A service deployed through a healthy agent runs exactly 3 copies in total.
three=$(svc three)
deploy_detached 2 "$(spec "$three" 'exec sleep 1000' 3)" >/dev/null || fail "deploy of $three through node-2 refused"
healthy_agree() {
  [[ -n $(members 2) && "$(members 2 | sort)" == "$(members 3 | sort)" ]] || return 1
  lists_state 2 alive 2 3 && lists_state 3 alive 2 3 || return 1
  all_status_running "$three" 2 3 || return 1
  count_is "$three" 3
}
placed_on_4() { status_json 2 "$three" | "$PY" -c '
import json, sys
print(sum(1 for s in json.load(sys.stdin) for i in s["instance_list"] if i["node"] == "node-4"))'; }
if wait_for 10 healthy_agree && holds 2 healthy_agree; then
  log "$three: node-2 and node-3 agree, exactly 3 processes"
else
  describe_members 2 3 4
  describe_service "$three" 2 3 4
  problem "$three (3 instances, deployed through node-2) did not settle on exactly 3 processes with node-2 and node-3 agreeing within 10 s (now $(count "$three") processes)"
fi
on4=$(count_on 4 "$three"); assigned4=$(placed_on_4 || echo "?")
if [[ $on4 != "$assigned4" ]]; then
  problem "node-4 runs $on4 process(es) of $three but the network (node-2's status) places $assigned4 there"
fi
log "node-4 runs $on4 of $three; node-2 places $assigned4 there; node-4 lists: $(members 4 | tr '\n' ',')"

fail_on_problems "a skewed agent was not contained"
pass "skewed agent said so, refused writes, ran only what it was assigned; exactly 3 processes"
