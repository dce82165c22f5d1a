#!/usr/bin/env bash
# Fault: a hung shutdown. One agent runs a service that ignores SIGTERM, with
# stop_timeout_s 3600. The agent gets SIGTERM: 1 s later it and the service still run (it
# waits for the service, as the stop timeout says). A second SIGTERM: within 2 s the agent
# has exited and the service's process group is gone (SIGKILL). Then the same with
# SIGTERM followed by SIGINT.
# Usage: double_sigterm.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"

# The service's processes, by pid (not by name): its bash and the bash's children.
service_pids() { proc_table "$1" | cut -f1; }
# The instance's leader: its bash (the loop's `sleep 0.2` children come and go every 0.2 s,
# so counting every process of the service would see 1 or 2 depending on the moment).
leader_pids() { proc_table "$1" | awk -F'\t' 'index($4, "/bin/bash -c ") == 1' | cut -f1; }
one_leader() { [[ $(leader_pids "$1" | wc -l) -eq 1 ]]; }
none_left() { [[ -z $(service_pids "$1") ]]; }
# group_empty PGID: no live process is in the group (zombies wait for PID 1, not for Mob).
group_empty() {
  "$PY" - "$1" <<'PYEOF'
import os, sys
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if fields[2] == sys.argv[1] and fields[0] not in "ZX":
        sys.exit(1)
PYEOF
}

for second in TERM INT; do
  : >"$WORK/agent-2.log"
  start_agent 2
  wait_agent_up 2
  stubborn=$(svc "stubborn-$second")
  deploy_detached 2 "$(spec "$stubborn" 'trap : TERM; while :; do sleep 0.2; done' 1 '"stop_timeout_s": 3600')" >/dev/null \
    || fail "deploy of $stubborn refused"
  wait_for 15 one_leader "$stubborn" || fail "$stubborn does not run as one bash: $(proc_table "$stubborn" | tr '\n' ' ')"
  leader=$(leader_pids "$stubborn")
  agent=$(agent_pid 2)
  kill -TERM "$agent"
  # The first signal waits for the service (its stop timeout is an hour): both still run
  # a second later.
  holds 1 kill -0 "$agent" || fail "the agent exited within 1 s of the first SIGTERM, before its service (stop_timeout_s 3600) stopped"
  kill -0 "$leader" 2>/dev/null || fail "$stubborn (pid $leader) is gone 1 s after the first SIGTERM although it ignores SIGTERM"
  second_at=$(now_us)
  kill "-$second" "$agent"
  # Within 2 s of the second signal: the agent has exited, no live process of the service is
  # left and no live process is in its process group.
  all_gone() { exited "$agent" && none_left "$stubborn" && group_empty "$leader"; }
  if ! POLL=0.02 wait_for 2 all_gone; then
    exited "$agent" || fail "the agent still runs 2 s after SIGTERM then SIG$second"
    none_left "$stubborn" || fail "$stubborn still runs 2 s after the second signal: $(proc_table "$stubborn" | tr '\n' ' ')"
    fail "a process of the group $leader of $stubborn still runs 2 s after the second signal"
  fi
  agent_gone=$(elapsed "$second_at")
  grep -q "second signal: killing every service left at once" "$WORK/agent-2.log" \
    || fail "the agent's log does not say that the second signal killed what was left"
  log "SIGTERM then SIG$second: the agent and $stubborn were gone ${agent_gone}s after the second signal"
done
pass "a second SIGTERM or SIGINT during shutdown ended the agent and its SIGTERM-ignoring service (stop_timeout_s 3600) within 2 s"
