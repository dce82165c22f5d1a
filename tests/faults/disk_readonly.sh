#!/usr/bin/env bash
# Fault: the data dir becomes read-only. One agent whose data dir is an ext4 file system
# on a loop device (errors=remount-ro), in a private mount namespace.
# (1) Made read-only while the agent runs (an ext4 error, as a failing disk causes: the
#     kernel remounts it read-only; a bind mount cannot be remounted read-only while files
#     are open for writing): a deploy, an update and a stop are refused naming the
#     read-only data dir, nothing of them is applied (the process still runs, the same
#     version), members and status say the agent is degraded.
# (2) Read-only at start (the file system mounted read-only): the agent exits non-zero
#     within 10 s naming the read-only data dir and the fix, and starts no service.
# (3) Read-write again: the agent starts with every acknowledged write and none refused.
# Usage: disk_readonly.sh MOB_AGENT MOB_TOOL   (as root)
FAULT_MOUNTS=1
source "$(dirname "$0")/lib.sh"
fault_init "$@"

data=$WORK/data-2
ext4_on_loop "$data" errors=remount-ro
loop=$LOOP_DEVICE
start_agent 2
wait_agent_up 2
web=$(svc web)
deploy_detached 2 "$(spec "$web" 'exec sleep 1000' 1)" >/dev/null || fail "deploy of $web refused"
wait_for 15 count_is "$web" 1 || fail "$web does not run"

echo "mob fault test: read-only while running" >"/sys/fs/ext4/$(basename "$loop")/trigger_fs_error"
ro_now() { ! touch "$data/probe" 2>/dev/null; }
wait_for 5 ro_now || fail "the data dir is still writable after the ext4 error"
log "data dir read-only (ext4 remounted it after an error)"

refused() { refused_naming "$1" "a read-only data dir" "read-only data dir $data" "${@:2}"; }
other=$(svc other)
refused "deploy of $other" deploy_detached 2 "$(spec "$other" 'exec sleep 1000' 1)"
refused "update of $web" deploy_detached 2 "$(spec "$web" 'exec sleep 2000' 1)"
refused "stop of $web" tool 2 stop "$web"
[[ $(svc_summary 2 "$other") == absent ]] || problem "the refused deploy of $other is listed"
[[ $(svc_summary 2 "$web") == "1 true "* ]] || problem "a refused write to $web was applied: $(svc_summary 2 "$web")"
holds 2 count_is "$web" 1 || problem "$web has $(count "$web") processes after the refused stop (expected 1)"
says_degraded() {
  tool 2 members 2>&1 | grep -q "disk refuses writes: read-only" &&
    tool 2 status 2>&1 | grep -q "disk refuses writes: read-only"
}
wait_for 5 says_degraded || problem "members and status do not say node-2 is degraded: $(tool 2 members 2>&1 | tr '\n' '|')"

stop_agent 2
count_is "$web" 0 || problem "$web survived the agent's stop"
umount "$data"
mount -o ro "$loop" "$data"
log "starting node-2 on a read-only data dir"
start_agent 2
refusal_logged() { grep -q "read-only file system: remount it read-write or give another --data-dir" "$WORK/agent-2.log"; }
wait_for 10 exited "${AGENT_PID[2]}" || problem "mob-agent still runs 10 s after starting on a read-only data dir"
wait_for 5 refusal_logged || problem "the agent's refusal does not name the read-only data dir and the fix: $(tail -2 "$WORK/agent-2.log")"
count_is "$web" 0 || problem "$web runs although the agent refused to start"

umount "$data"
mount "$loop" "$data"
start_agent 2
wait_agent_up 2
wait_for 15 count_is "$web" 1 || problem "$web does not run after the restart on a writable data dir"
[[ $(spec_command 2 "$web") == 'exec sleep 1000' ]] || problem "$web holds a refused update: $(spec_command 2 "$web")"
[[ $(svc_summary 2 "$other") == absent ]] || problem "the refused deploy of $other is listed after the restart"
deploy_detached 2 "$(spec "$other" 'exec sleep 1000' 1)" >/dev/null || problem "deploy of $other refused once writable again"
fail_on_problems "a read-only data dir"
pass "writes refused naming the read-only data dir with nothing applied and the agent degraded; a start on it refused naming the fix; writable again, only acknowledged writes are there"
