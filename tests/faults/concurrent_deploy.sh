#!/usr/bin/env bash
# Fault: concurrent writes to one service through two agents (no partition needed).
#  - 5 rounds: two `mob-tool deploy` of DIFFERENT specs (exec sleep 10R1 / exec sleep 10R2,
#    2 instances) for one name, started at the same instant through node-2 and node-3.
#    Asserts within 6 s of the start: both agents show the same spec and version, every
#    instance running it, exactly 2 real processes and every one runs the winner's command
#    (/proc/PID/cmdline); the deploy whose spec won exits 0; the two deploys never both exit
#    0 with the same version number; the loser exits 1 and names the version that
#    superseded it and the agent it came through. Rounds 1-4 race over a whole network
#    (a true collision is a matter of timing); in round 5 the two agents are cut from each
#    other (iptables) until both deploys are acknowledged (at most 1 s, far less than
#    failure detection), so both surely write without seeing the other.
#  - 2 rounds of a deploy through node-2 racing a `remove` through node-3, and 1 round of a
#    deploy racing a `stop`: the end state is the same on both agents and the real processes
#    match it (0 if removed or stopped, 2 of the deployed spec otherwise); a deploy that the
#    end state undid must not have exited 0.
# Every round is evaluated; the test fails at the end with the list of failed rounds.
# Usage: concurrent_deploy.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"

all=(2 3)
start_network "${all[@]}"
race=$(svc race)
deploy_detached 2 "$(spec "$race" 'exec sleep 1000' 2)" >/dev/null || fail "deploy of $race refused"
assert_converged 20 "${all[*]}" "$race=2"
log "$race runs 2 processes of 'exec sleep 1000'"


# launch_at GO_US OUT N ARGS...: runs mob-tool against agent N once the clock reaches
# GO_US (both sides of a race start within a millisecond); pid in LAUNCHED.
launch_at() {
  local go=$1 out=$2 n=$3; shift 3
  (
    while (( ${EPOCHREALTIME/./} < go )); do sleep 0.001; done
    exec "$TOOL_BIN" -a "$(addr "$n")" --timeout 3000 "$@"
  ) >"$out" 2>&1 &
  LAUNCHED=$!
}
# launch_deploy_at GO_US OUT N SPEC
launch_deploy_at() {
  local go=$1 out=$2 n=$3 spec_text=$4
  (
    while (( ${EPOCHREALTIME/./} < go )); do sleep 0.001; done
    exec "$TOOL_BIN" -a "$(addr "$n")" --timeout 3000 deploy - --wait-timeout 12000 <<<"$spec_text"
  ) >"$out" 2>&1 &
  LAUNCHED=$!
}

# reap PID: waits up to 20 s for a launched mob-tool; prints its exit status (124 if killed).
reap() {
  local pid=$1 i
  for i in $(seq 1 200); do
    if ! kill -0 "$pid" 2>/dev/null; then
      local rc=0
      wait "$pid" || rc=$?
      echo "$rc"; return
    fi
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo 124
}

acked_version() { sed -n 's/^deployed .* version \([0-9]*\).*/\1/p' "$1" | head -1; }

# Both agents show SERVICE with every instance running one spec whose command is CMD, and
# the real processes are exactly 2, all running CMD.
runs_command() {
  local cmd=$1 c
  all_status_running "$race" "${all[@]}" || return 1
  [[ $(spec_command 2 "$race") == "$cmd" && $(spec_command 3 "$race") == "$cmd" ]] || return 1
  count_is "$race" 2 || return 1
  c=$(cmdlines "$race")
  [[ $c == "${cmd#exec }" ]]
}
settled_on_one_of() { runs_command "$1" || runs_command "$2"; }

acked() { grep -q '^deployed ' "$1" && grep -q '^deployed ' "$2"; }

# ---- deploy against deploy (round 5: with node-2 and node-3 cut from each other for the
# moment of the two writes, so that both agents surely accept a version without having
# seen the other's; healed once both deploys are acknowledged, or after 1 s)
for round in 1 2 3 4 5; do
  cmd_a="exec sleep 10${round}1"; cmd_b="exec sleep 10${round}2"
  out_a=$WORK/round$round-node2.out; out_b=$WORK/round$round-node3.out
  go=$(( $(now_us) + 300000 ))
  launch_deploy_at "$go" "$out_a" 2 "$(spec "$race" "$cmd_a" 2)"; pid_a=$LAUNCHED
  launch_deploy_at "$go" "$out_b" 3 "$(spec "$race" "$cmd_b" 2)"; pid_b=$LAUNCHED
  if [[ $round == 5 ]]; then
    cut_link 2 3
    while (( $(now_us) < go )); do sleep 0.01; done
    POLL=0.02 wait_for 1 acked "$out_a" "$out_b" || true
    heal || fail "iptables still holds DROP rules"
    log "round 5: node-2 and node-3 were cut from each other for $(elapsed "$go")s around the two deploys"
  fi
  while (( $(now_us) < go )); do sleep 0.01; done
  settled=yes
  if ! wait_for 6 settled_on_one_of "$cmd_a" "$cmd_b"; then settled=no; fi
  took=$(elapsed "$go")
  if [[ $settled == yes ]] && ! holds 1 settled_on_one_of "$cmd_a" "$cmd_b"; then settled=unstable; fi
  rc_a=$(reap "$pid_a"); rc_b=$(reap "$pid_b")
  v_a=$(acked_version "$out_a"); v_b=$(acked_version "$out_b")
  final_cmd=$(spec_command 2 "$race"); final_version=$(svc_summary 2 "$race" | cut -d' ' -f1)
  echo "round $round: node-2 deploy '$cmd_a' -> exit $rc_a, acked version ${v_a:-none}: $(tr '\n' '|' <"$out_a")"
  echo "round $round: node-3 deploy '$cmd_b' -> exit $rc_b, acked version ${v_b:-none}: $(tr '\n' '|' <"$out_b")"
  echo "round $round: node-2 holds '$final_cmd' version $final_version; processes run: $(cmdlines "$race" | tr '\n' ',') ($(count "$race"))"
  case $settled in
    yes) log "round $round: every instance on one spec ${took}s after the start";;
    no) problem "round $round: not settled on one spec within 6 s: node-2 $(svc_summary 2 "$race") / node-3 $(svc_summary 3 "$race"); node-2 spec '$(spec_command 2 "$race")', node-3 spec '$(spec_command 3 "$race")'; processes: $(cmdlines "$race" | tr '\n' ',') ($(count "$race"))";;
    unstable) problem "round $round: settled after ${took}s but did not stay settled for 1 s";;
  esac
  same_ack=no
  if [[ $rc_a == 0 && $rc_b == 0 ]]; then
    if [[ $v_a == "$v_b" ]]; then
      same_ack=yes
      problem "round $round: both deploys of different specs exited 0 claiming version $v_a"
    else
      log "round $round: both exited 0 with versions $v_a and $v_b (serially ordered)"
    fi
  fi
  if [[ $final_cmd == "$cmd_a" ]]; then win=a; elif [[ $final_cmd == "$cmd_b" ]]; then win=b; else win=none; fi
  if [[ $win == none ]]; then
    problem "round $round: the spec held is neither of the two deployed: '$final_cmd'"
  else
    if [[ $win == a ]]; then w_rc=$rc_a; l_rc=$rc_b; l_out=$out_b; w_node=2; l_v=$v_b
    else w_rc=$rc_b; l_rc=$rc_a; l_out=$out_a; w_node=3; l_v=$v_a; fi
    [[ $w_rc == 0 ]] || problem "round $round: the deploy whose spec won (through node-$w_node) exited $w_rc"
    if [[ $l_rc == 0 ]]; then
      if [[ $same_ack == no && -n $l_v && -n $final_version && $l_v -ge $final_version ]]; then
        problem "round $round: the losing deploy exited 0 with version $l_v, but version $final_version holds the other spec"
      fi
    elif [[ $l_rc == 1 ]]; then
      # The line that says so: it names the winning version (not the ack or progress lines,
      # which name nodes anyway) and the agent the winner came through.
      sup=$(grep -E "version $final_version\b" "$l_out" | grep -vE '^deployed |^[^ ]+/[0-9]+ |instance\(s\) running' || true)
      if [[ -z $sup ]]; then
        problem "round $round: the losing deploy exited 1 without naming version $final_version that superseded it: $(tr '\n' '|' <"$l_out")"
      elif ! grep -Eq "node-$w_node|127\.0\.0\.$w_node" <<<"$sup"; then
        problem "round $round: the losing deploy names version $final_version but not the agent it came through (node-$w_node): $sup"
      fi
    else
      problem "round $round: the losing deploy exited $l_rc (expected 1)"
    fi
  fi
done

# ---- deploy against remove / stop
# A consistent end state: both agents agree, and the processes match it.
end_state() {
  local s2 s3
  s2=$(svc_summary 2 "$race"); s3=$(svc_summary 3 "$race")
  [[ $s2 != noanswer && $s2 == "$s3" ]] || return 1
  if [[ $s2 == absent ]]; then count_is "$race" 0 || return 1; echo absent; return; fi
  read -r ver enabled inst hash running states <<<"$s2"
  if [[ $enabled == false ]]; then count_is "$race" 0 || return 1; echo stopped; return; fi
  runs_command "$(spec_command 2 "$race")" || return 1
  echo "running $(spec_command 2 "$race")"
}
consistent() { end_state >/dev/null; }

ensure_running() {
  local cmd=$1
  if [[ $(svc_summary 2 "$race") != absent ]]; then tool 2 start "$race" >/dev/null 2>&1 || true; fi
  deploy_detached 2 "$(spec "$race" "$cmd" 2)" >/dev/null || fail "deploy of $race ('$cmd') refused"
  wait_for 15 runs_command "$cmd" || { describe_service "$race" "${all[@]}"; fail "$race did not settle on '$cmd' before the next round"; }
}

for round in 6 7 8; do
  if [[ $round == 8 ]]; then op=stop; else op=remove; fi
  ensure_running "exec sleep 10${round}0"
  cmd="exec sleep 10${round}1"
  out_d=$WORK/round$round-deploy.out; out_o=$WORK/round$round-$op.out
  go=$(( $(now_us) + 300000 ))
  launch_deploy_at "$go" "$out_d" 2 "$(spec "$race" "$cmd" 2)"; pid_d=$LAUNCHED
  launch_at "$go" "$out_o" 3 "$op" "$race"; pid_o=$LAUNCHED
  while (( $(now_us) < go )); do sleep 0.01; done
  settled=yes
  wait_for 6 consistent || settled=no
  took=$(elapsed "$go")
  if [[ $settled == yes ]] && ! holds 1 consistent; then settled=unstable; fi
  rc_d=$(reap "$pid_d"); rc_o=$(reap "$pid_o")
  state=$(end_state || echo inconsistent)
  echo "round $round: node-2 deploy '$cmd' -> exit $rc_d: $(tr '\n' '|' <"$out_d")"
  echo "round $round: node-3 $op -> exit $rc_o: $(tr '\n' '|' <"$out_o")"
  echo "round $round: end state: $state; node-2 $(svc_summary 2 "$race") / node-3 $(svc_summary 3 "$race"); processes $(count "$race")"
  case $settled in
    yes) log "round $round (deploy vs $op): consistent after ${took}s: $state";;
    no) problem "round $round (deploy vs $op): no consistent end state within 6 s: node-2 $(svc_summary 2 "$race") / node-3 $(svc_summary 3 "$race"); $(count "$race") processes: $(cmdlines "$race" | tr '\n' ',')";;
    unstable) problem "round $round (deploy vs $op): consistent after ${took}s but it did not hold for 1 s";;
  esac
  if [[ $state == absent || $state == stopped ]] && [[ $rc_d == 0 ]]; then
    problem "round $round: the deploy exited 0 but the $op that raced it won ($state): an acknowledged deploy undone without being told"
  fi
  if [[ $state == running* && $state != "running $cmd" ]]; then
    problem "round $round: the service runs '${state#running }', neither removed nor the deployed spec"
  fi
done

wait_for 5 all_see_alive "${all[@]}" || problem "the two agents do not list each other alive at the end: $(describe_members "${all[@]}" | tr '\n' ' ')"
fail_on_problems "concurrent writes did not end in one visible winner"
pass "8 races: one spec everywhere, every process on it, losers told"
