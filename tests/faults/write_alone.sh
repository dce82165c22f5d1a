#!/usr/bin/env bash
# Fault: an agent cut off from its peers takes writes. Three agents 2, 3, 4. First node-4 is
# paused (SIGSTOP) for a deploy through node-2: node-3's copy answers it at once, no
# warning. Then agent 2 is cut from 3 and 4 both ways. A deploy through 2 before it
# noticed waits for a peer's copy, gets
# none, and is answered after about a second: mob-tool exits 0 and warns that node-2 alone
# holds it. Once each side lists the other failed, a deploy through 2 is answered at once
# with the same warning, and one through 3 (which still has 4) with none. After the heal the
# writes held by 2 alone spread: exactly one process of each service, the same everywhere.
# Usage: write_alone.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"

all=(2 3 4)
start_network "${all[@]}"
log "3 agents alive everywhere"

# deploy_timed N JSON NAME: deploys through N; mob-tool's stderr in $WORK/NAME.err, its
# wall time (ms) in $TOOK_MS; fails the test unless mob-tool exits 0.
deploy_timed() {
  local n=$1 json=$2 name=$3 started
  started=$(now_us)
  printf '%s' "$json" | tool "$n" deploy --detach - >"$WORK/$name.out" 2>"$WORK/$name.err" \
    || fail "deploy of $name through $(node "$n") exited non-zero: $(cat "$WORK/$name.err")"
  TOOK_MS=$(( ($(now_us) - started) / 1000 ))
}
warns_alone() { grep -q "is held by $(node "$1") alone" "$WORK/$2.err"; }

whole=$(svc whole); early=$(svc early); late=$(svc late); majority=$(svc majority)
deploy_timed 2 "$(spec "$whole" 'exec sleep 1000' 1)" "$whole"
warns_alone 2 "$whole" && fail "a deploy in a whole network warned: $(cat "$WORK/$whole.err")"
[[ -s $WORK/$whole.err ]] && fail "a deploy in a whole network wrote to stderr: $(cat "$WORK/$whole.err")"
log "whole network: the deploy answered in ${TOOK_MS} ms, no warning"

# One peer paused (SIGSTOP) before anyone noticed: the other confirms the copy, so the
# answer comes at once and says nothing of one copy.
paused=$(svc paused)
frozen=$(agent_pid 4)
kill -STOP "$frozen"
deploy_timed 2 "$(spec "$paused" 'exec sleep 1000' 1)" "$paused"
kill -CONT "$frozen"
warns_alone 2 "$paused" && fail "a deploy with one of two peers paused warned: $(cat "$WORK/$paused.err")"
(( TOOK_MS < 900 )) || fail "a deploy with one of two peers paused waited ${TOOK_MS} ms: the other peer's copy did not answer it"
log "node-4 paused: the deploy through node-2 answered in ${TOOK_MS} ms by node-3's copy, no warning"
wait_for 20 all_see_alive "${all[@]}" || { describe_members "${all[@]}"; fail "node-4 is not alive everywhere after SIGCONT"; }

for b in 3 4; do cut_link 2 "$b"; cut_link "$b" 2; done
cut_at=$(now_us)
log "cut {2} | {3, 4} both ways"

deploy_timed 2 "$(spec "$early" 'exec sleep 1000' 1)" "$early"
warns_alone 2 "$early" || fail "the deploy through the cut-off agent did not warn: $(cat "$WORK/$early.err")"
(( TOOK_MS >= 900 )) || fail "the deploy through the cut-off agent was answered in ${TOOK_MS} ms: it did not wait for a copy"
lists_state 2 alive 3 4 || log "(node-2 had noticed already: $(member_state 2 3) / $(member_state 2 4))"
log "cut off, not yet noticed: answered after ${TOOK_MS} ms with the warning: $(head -c 160 "$WORK/$early.err")"

sides_declared_failed() { lists_state 2 failed 3 4 && lists_state 3 failed 2 && lists_state 4 failed 2; }
if ! wait_for 20 sides_declared_failed; then
  describe_members "${all[@]}"
  fail "the partition did not take effect: after 20 s the sides do not list each other failed"
fi
log "each side lists the other as failed after $(elapsed "$cut_at")s"

deploy_timed 2 "$(spec "$late" 'exec sleep 1000' 1)" "$late"
warns_alone 2 "$late" || fail "the deploy through the agent that holds its peers failed did not warn: $(cat "$WORK/$late.err")"
(( TOOK_MS < 900 )) || fail "the agent that holds every peer failed waited ${TOOK_MS} ms for a copy nobody could make"
log "noticed: answered in ${TOOK_MS} ms with the warning"
deploy_timed 3 "$(spec "$majority" 'exec sleep 1000' 1)" "$majority"
warns_alone 3 "$majority" && fail "a deploy through the side of two warned: $(cat "$WORK/$majority.err")"
log "the side of two: answered in ${TOOK_MS} ms, no warning"
heal || fail "iptables still holds DROP rules after the heal"
log "healed"
assert_converged 20 "${all[*]}" "$whole=1" "$paused=1" "$early=1" "$late=1" "$majority=1"
log "after the heal: every write everywhere, exactly one process each, after ${CONVERGED_AFTER}s"
pass "writes held by one agent were answered with a warning, and spread after the heal"
