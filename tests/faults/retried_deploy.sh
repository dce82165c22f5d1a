#!/usr/bin/env bash
# Fault: a deploy that times out and is retried. Two agents; service v1 runs. The disk of
# node-2's data dir (ext4 on a loop device) is frozen (fsfreeze) while `mob-tool deploy` of
# v2 goes through node-2: the agent receives it but cannot answer before it is on disk; the
# tool times out, sends the deploy once more with the same write id, times out again and
# exits 1 saying the deploy may still take effect, how to check (mob-tool status NAME) and
# how to retry it (--write-id). (A SIGSTOPped agent would not do: its connection handshake
# never completes, so the request never leaves the tool.) Thawed, node-2 takes both copies
# of the request: exactly one new version (2, never 3). The printed retry, through node-2 and then through node-3 (which
# learned the write id with the record), answers "version 2" and makes no version 3.
# Then the other side: with its default --busy-timeout the tool does not give up on an
# agent that is up (it answered the connection's handshake) but cannot answer yet. The
# disk is frozen again under a deploy of v3: 5 s later (past twice --timeout) the tool is
# still waiting; thawed, it prints "deployed ... version 3" and exits 0.
# Usage: retried_deploy.sh MOB_AGENT MOB_TOOL   (as root)
FAULT_MOUNTS=1
source "$(dirname "$0")/lib.sh"
fault_init "$@"

data=$WORK/data-2
ext4_on_loop "$data"
start_network 2 3
web=$(svc web)
deploy_detached 2 "$(spec "$web" 'exec sleep 1000' 1)" >/dev/null || fail "deploy of $web refused"
assert_converged 15 "2 3" "$web=1"
version_on() { svc_summary "$1" "$web" | cut -d' ' -f1; }

spec "$web" 'exec sleep 2000' 1 >"$WORK/v2.json"
fsfreeze -f "$data"
log "node-2's disk frozen; deploying v2 through it"
rc=0
out=$(tool 2 --busy-timeout 1500 deploy --detach "$WORK/v2.json" 2>&1) || rc=$?
log "mob-tool exited $rc: $out"
fsfreeze -u "$data"
(( rc != 0 )) || fail "the deploy through an agent with a frozen disk exited 0"
grep -q "may still take effect" <<<"$out" || problem "the timeout does not say the deploy may still take effect"
grep -q "is up (its connection answers) but did not answer" <<<"$out" \
  || problem "the timeout does not say the agent is up but not answering: $out"
grep -q "mob-tool status $web" <<<"$out" || problem "the timeout does not say how to check (mob-tool status $web)"
write_id=$(grep -o -- '--write-id [0-9a-f]*' <<<"$out" | cut -d' ' -f2)
[[ -n $write_id ]] || problem "the timeout does not print the write id to retry with"

is_v2() { [[ $(version_on 2) == 2 && $(version_on 3) == 2 ]]; }
wait_for 10 is_v2 || problem "after the thaw $web is at version $(version_on 2) on node-2, $(version_on 3) on node-3 (expected 2)"
holds 2 is_v2 || problem "$web moved past version 2: $(version_on 2) (the retry made a new version)"
if [[ -n $write_id ]]; then
  for n in 2 3; do
    again=$(tool "$n" deploy --detach --write-id "$write_id" "$WORK/v2.json" 2>&1) \
      || problem "the retry through node-$n failed: $again"
    grep -q "deployed $web version 2" <<<"$again" || problem "the retry through node-$n answered: $again (expected version 2)"
  done
  holds 1 is_v2 || problem "the retries made a new version: $(version_on 2)"
fi
assert_converged 15 "2 3" "$web=1"
[[ $(cmdlines "$web") == 'sleep 2000' ]] || problem "$web runs $(cmdlines "$web" | tr '\n' ' ') (expected v2: sleep 2000)"

spec "$web" 'exec sleep 3000' 1 >"$WORK/v3.json"
fsfreeze -f "$data"
log "node-2's disk frozen again; deploying v3 through it with the default --busy-timeout"
tool 2 deploy --detach "$WORK/v3.json" >"$WORK/v3.out" 2>&1 &
patient=$!
sleep 5
if kill -0 "$patient" 2>/dev/null; then
  log "after 5 s the tool is still waiting for the busy agent"
else
  problem "the tool gave up on an agent that is up within 5 s: $(cat "$WORK/v3.out")"
fi
fsfreeze -u "$data"
rc=0
wait "$patient" || rc=$?
log "mob-tool exited $rc after the thaw: $(cat "$WORK/v3.out")"
(( rc == 0 )) || problem "the deploy waited for through the thaw exited $rc: $(cat "$WORK/v3.out")"
grep -q "deployed $web version 3" "$WORK/v3.out" || problem "the patient deploy answered: $(cat "$WORK/v3.out") (expected version 3)"
fail_on_problems "a retried deploy"
pass "a deploy that timed out (sent twice) and was retried through both agents with its write id made one version, 2; a deploy through a busy agent (frozen disk) waited and was answered, version 3"
