#!/usr/bin/env bash
# Fault: an agent cut off (it stays up) longer than the tombstone TTL while a service it runs
# is removed. 3 agents with --tombstone-ttl-s 3; a 3-instance service `gone` (one instance
# on each agent) and a 1-instance `keep`. node-4 is cut from node-2 and node-3 both ways
# until each side lists the other failed; `gone` is removed through node-2; the cut is held
# past the TTL and two garbage collections (10 s cadence); then healed.
# Asserts: node-4 still ran `gone` while cut off (the fault held); after the heal the three
# list each other alive, and through a 10 s watch `gone` has 0 real processes and no agent
# lists it; `keep` runs exactly 1. (An agent cut off, unlike one stopped, keeps merging what
# it holds when the partition heals: tombstones are kept while a member that may hold the
# record is failed and still retried; docs/architecture.md.)
# Usage: partition_past_ttl.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"

ttl_network 3
[[ $(count_on 4 "$gone") -ge 1 ]] || fail "node-4 runs no instance of $gone: the test needs one there"

cut_link 4 2; cut_link 4 3
cut_at=$(now_us)
sides_failed() { lists_state 2 failed 4 && lists_state 3 failed 4 && lists_state 4 failed 2 3; }
wait_for 20 sides_failed || { describe_members "${all[@]}"; fail "the cut did not take effect: not every side lists the other failed after 20 s"; }
log "node-4 | node-2, node-3: each side lists the other failed after $(elapsed "$cut_at")s"

out=$(tool 2 remove "$gone" 2>&1) || fail "remove $gone through node-2 failed: $out"
removed_at=$(now_us)
log "$out"
gone_on_main() { absent_everywhere "$gone" 2 3 && [[ $(count_on 2 "$gone") -eq 0 && $(count_on 3 "$gone") -eq 0 ]]; }
wait_for 10 gone_on_main || { describe_service "$gone" 2 3; fail "$gone was not removed on node-2 and node-3"; }

# Held past the TTL and two collections.
past() { (( $(now_us) - removed_at > (TTL + 2 * GC_EVERY + 1) * 1000000 )); }
wait_for $((TTL + 2 * GC_EVERY + 3)) past || true
still4=$(count_on 4 "$gone")
[[ $still4 -ge 1 ]] || fail "node-4 no longer runs $gone before the heal: the cut did not hold"
lists_state 2 failed 4 || fail "node-2 lists node-4 $(member_state 2 4) before the heal: the cut did not hold"
log "held $(elapsed "$removed_at")s after the remove (TTL ${TTL}s); node-4 still runs $still4 of $gone"

heal || fail "iptables still holds DROP rules after the heal"
heal_at=$(now_us)
wait_for 20 all_see_alive "${all[@]}" || { describe_members "${all[@]}"; fail "the network did not become one within 20 s of the heal"; }
log "one network $(elapsed "$heal_at")s after the heal"

max_procs_main=0; listed_by=""
watch_end=$(( $(now_us) + 10000000 ))
while (( $(now_us) < watch_end )); do
  c=$(( $(count_on 2 "$gone") + $(count_on 3 "$gone") )); (( c > max_procs_main )) && max_procs_main=$c
  for n in 2 3; do
    s=$(svc_summary "$n" "$gone")
    [[ $s != absent && $s != noanswer && $listed_by != *"node-$n"* ]] && listed_by+=" node-$n"
  done
  sleep 0.2
done
log "during the 10 s watch: at most $max_procs_main process(es) of $gone on node-2/3; listed by:${listed_by:- nobody}"
if ! count_is "$gone" 0 || ! absent_everywhere "$gone" "${all[@]}"; then
  describe_service "$gone" "${all[@]}"
  fail "the removed service $gone came back when the partition healed: $(count "$gone") process(es), listed by:${listed_by:- nobody}"
fi
(( max_procs_main == 0 )) || fail "$gone ran again on node-2/3 ($max_procs_main process(es)) after the heal"
[[ -z $listed_by ]] || fail "$gone was listed again by:$listed_by after the heal"
assert_converged 10 "${all[*]}" "$keep=1" "$gone=0"
pass "a service removed while node-4 was cut off past the TTL stayed removed when it healed; $keep runs exactly 1"
