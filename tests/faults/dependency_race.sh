#!/usr/bin/env bash
# Fault: dependency rules broken by writes through the two sides of a partition, each fine
# where it was made. During a cut held until each side lists the other failed:
#   side 2 deploys a (depends on b), side 3 deploys b (depends on a): a cycle once healed;
#   side 3 removes db, side 2 deploys web (depends on db): a missing dependency once healed.
# After the heal every agent's status names the problem with what to do (what already runs
# keeps running), `remove a` refuses naming the cycle, `remove --force a` breaks it, and the
# real processes follow: 0 of a, 1 of b and 1 of web once redeployed without the dependency.
# Usage: dependency_race.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"

all=(2 3)
start_network "${all[@]}"

a=$(svc a); b=$(svc b); db=$(svc db); web=$(svc web)
for s in "$a" "$b" "$db"; do
  deploy_detached 2 "$(spec "$s" 'exec sleep 1000' 1)" >/dev/null || fail "deploy of $s refused"
done
assert_converged 20 "${all[*]}" "$a=1" "$b=1" "$db=1"
log "before the cut: $a, $b and $db run once each"

cut_link 2 3
cut_at=$(now_us)
cut_seen() { lists_state 2 failed 3 && lists_state 3 failed 2; }
wait_for 20 cut_seen || { describe_members "${all[@]}"; fail "the cut did not take effect within 20 s"; }
log "each side lists the other failed after $(elapsed "$cut_at")s"

deploy_detached 2 "$(spec "$a" 'exec sleep 1001' 1 "\"depends_on\": [\"$b\"]")" >/dev/null \
  || fail "side 2 refused $a depending on $b"
deploy_detached 3 "$(spec "$b" 'exec sleep 1002' 1 "\"depends_on\": [\"$a\"]")" >/dev/null \
  || fail "side 3 refused $b depending on $a"
tool 3 remove "$db" >/dev/null || fail "side 3 refused to remove $db"
deploy_detached 2 "$(spec "$web" 'exec sleep 1003' 1 "\"depends_on\": [\"$db\"]")" >/dev/null \
  || fail "side 2 refused $web depending on $db"
log "during the cut: $a -> $b through 2, $b -> $a through 3, $db removed through 3, $web -> $db through 2"

heal || fail "iptables still holds DROP rules after the heal"
log "healed"
wait_for 20 all_see_alive "${all[@]}" || { describe_members "${all[@]}"; fail "the network did not become one"; }

# problem_has N SERVICE TEXT: agent N's status of SERVICE names a problem containing TEXT.
problem_has() {
  [[ $(status_json "$1" "$2" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["problem"])' 2>/dev/null) == *"$3"* ]]
}
both_show() { problem_has 2 "$1" "$2" && problem_has 3 "$1" "$2"; }
if ! wait_for 15 both_show "$a" "dependency cycle"; then
  describe_service "$a" "${all[@]}"
  fail "$a does not show the dependency cycle as its reason on both agents"
fi
log "$a shows: $(status_json 2 "$a" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["problem"])')"
if ! wait_for 15 both_show "$web" "dependency $db is not deployed"; then
  describe_service "$web" "${all[@]}"
  fail "$web does not say that $db is not deployed on both agents"
fi
log "$web shows: $(status_json 3 "$web" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["problem"])')"

refusal=$(tool 2 remove "$a" 2>&1) && fail "remove $a was accepted while $b depends on it: $refusal"
[[ $refusal == *"dependency cycle"*"--force"* ]] || fail "remove $a refused without naming the cycle and --force: $refusal"
log "remove $a: $refusal"
tool 3 remove --force "$a" >/dev/null || fail "remove --force $a refused"
deploy_detached 3 "$(spec "$b" 'exec sleep 1002' 1)" >/dev/null || fail "redeploy of $b refused"
deploy_detached 2 "$(spec "$web" 'exec sleep 1003' 1)" >/dev/null || fail "redeploy of $web refused"
gone_a() { absent_everywhere "$a" "${all[@]}"; }
wait_for 10 gone_a || fail "$a is still listed after remove --force"
assert_converged 15 "${all[*]}" "$b=1" "$web=1"
(( $(count "$a") == 0 )) || fail "$a still runs $(count "$a") process(es) after remove --force"
pass "cycle and missing dependency shown with what to do; remove --force broke the cycle; exact counts"
