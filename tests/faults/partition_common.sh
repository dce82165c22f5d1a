# A symmetric partition held past failure detection on both sides, then healed (sourced by
# partition_2_2.sh and partition_1_3.sh after fault_init).
#
# partition_scenario "A..." "B...": four agents 2..5 (3, 4, 5 join through 2), a 1-instance
# and a 3-instance service; every link between side A and side B is cut both ways until
# each side lists the whole other side as failed; then the rules are deleted and the
# network must become one again by itself: every agent lists all four alive, exactly 1 and
# 3 real processes, one spec per service everywhere; and a deploy through side A after the
# heal reaches side B.

partition_scenario() {
  local side_a side_b
  read -r -a side_a <<<"$1"
  read -r -a side_b <<<"$2"
  local all=(2 3 4 5)
  start_network "${all[@]}"
  log "4 agents alive everywhere"

  local one three later
  one=$(svc one); three=$(svc three); later=$(svc later)
  deploy_detached 2 "$(spec "$one" 'exec sleep 1000' 1)" >/dev/null || fail "deploy of $one refused"
  deploy_detached 2 "$(spec "$three" 'exec sleep 1000' 3)" >/dev/null || fail "deploy of $three refused"
  assert_converged 20 "${all[*]}" "$one=1" "$three=3"
  log "before the cut: $one runs 1, $three runs 3, same spec everywhere"

  local a b
  for a in "${side_a[@]}"; do for b in "${side_b[@]}"; do cut_link "$a" "$b"; done; done
  local cut_at
  cut_at=$(now_us)
  log "cut {${side_a[*]}} | {${side_b[*]}} both ways"

  sides_declared_failed() {
    local x
    for x in "${side_a[@]}"; do lists_state "$x" failed "${side_b[@]}" || return 1; done
    for x in "${side_b[@]}"; do lists_state "$x" failed "${side_a[@]}" || return 1; done
  }
  if ! wait_for 20 sides_declared_failed; then
    describe_members "${all[@]}"
    fail "the partition did not take effect: after 20 s not every agent lists the other side as failed"
  fi
  log "each side lists the other as failed after $(elapsed "$cut_at")s"
  # Let each side act on it (place its own copies); informative only.
  has_duplicates() { (( $(count "$one") >= 2 )); }
  wait_for 5 has_duplicates || true
  log "during the partition: $one runs $(count "$one"), $three runs $(count "$three") real process(es)"
  describe_members "${all[@]}"

  heal || fail "iptables still holds DROP rules after the heal"
  local heal_at
  heal_at=$(now_us)
  log "healed (iptables -F INPUT; no DROP rule left)"

  assert_converged 15 "${all[*]}" "$one=1" "$three=3"
  log "after the heal: one network and exactly 1 + 3 processes after ${CONVERGED_AFTER}s (target 5 s)"
  HEAL_SECONDS=$CONVERGED_AFTER

  # A deploy through side A after the heal reaches side B.
  local through=${side_a[0]} other=${side_b[-1]}
  deploy_detached "$through" "$(spec "$later" 'exec sleep 1000' 2)" >/dev/null \
    || fail "deploy of $later through $(node "$through") refused after the heal"
  if ! wait_for 10 all_status_running "$later" "$other"; then
    describe_service "$later" "${all[@]}"
    fail "$later, deployed through $(node "$through") after the heal, is not shown running by $(node "$other") within 10 s"
  fi
  log "$later deployed through $(node "$through") is running as seen by $(node "$other")"
  assert_converged 10 "${all[*]}" "$one=1" "$three=3" "$later=2"
  pass "partition {${side_a[*]}}|{${side_b[*]}} healed by itself: one view and exact counts ${HEAL_SECONDS}s after the heal"
}
