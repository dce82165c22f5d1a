#!/usr/bin/env bash
# Fault: the disk of an agent's data dir fills up. One agent whose data dir is a 512 KiB
# tmpfs; services deployed, then the disk filled. Asserts: a deploy, an update, a stop and a
# remove are each refused with an error naming the full disk and the data dir, and nothing
# of them is applied (status unchanged, the process still runs); `members` and `status` say
# the agent is degraded. Once space is freed the agent takes writes again (within 5 s).
# Then every write that was acknowledged (exit 0), and nothing else, is there after a
# kill -9 and a restart, with real processes to match (counted by MOB_SERVICE in /proc).
# Usage: disk_full.sh MOB_AGENT MOB_TOOL   (as root)
FAULT_MOUNTS=1
source "$(dirname "$0")/lib.sh"
fault_init "$@"

data=$WORK/data-2
mkdir -p "$data"
mount -t tmpfs -o size=512k tmpfs "$data"
MOUNTS+=("$data")
start_agent 2
wait_agent_up 2

# What was acknowledged: service -> "version enabled" it must have after the crash.
declare -A acked=()
write_ok() { acked[$1]="$2"; }

keep=$(svc keep)
deploy_detached 2 "$(spec "$keep" 'exec sleep 1000' 1)" >/dev/null || fail "deploy of $keep refused on an empty disk"
write_ok "$keep" "1 true"
others=()
for i in 1 2 3; do
  s=$(svc "before-$i"); others+=("$s")
  deploy_detached 2 "$(spec "$s" 'exec sleep 1000' 1)" >/dev/null || fail "deploy of $s refused on an empty disk"
  write_ok "$s" "1 true"
done
wait_for 15 count_is "$keep" 1 || fail "$keep does not run"
log "4 services deployed; filling the disk of $data"

dd if=/dev/zero of="$data/filler" bs=1k 2>/dev/null || true
log "disk full: $(df -k "$data" | tail -1 | awk '{print $4}') KiB left"

# refused WHAT COMMAND...: the write must fail (exit non-zero) naming the full disk and the dir.
refused() { refused_naming "$1" "a full disk" "disk full in $data" "${@:2}"; }
new=$(svc new)
refused "deploy of a new service" deploy_detached 2 "$(spec "$new" 'exec sleep 1000' 1)"
refused "update of $keep" deploy_detached 2 "$(spec "$keep" 'exec sleep 2000' 1)"
refused "stop of $keep" tool 2 stop "$keep"
refused "remove of $keep" tool 2 remove "$keep"

# Nothing of them applied: the same version, enabled, the same process.
summary=$(svc_summary 2 "$keep")
[[ $summary == "1 true "* ]] || problem "after the refused writes $keep is: $summary (expected version 1, enabled)"
[[ $(svc_summary 2 "$new") == absent ]] || problem "the refused deploy of $new is listed: $(svc_summary 2 "$new")"
holds 2 count_is "$keep" 1 || problem "$keep has $(count "$keep") processes after refused writes (expected 1)"
[[ $(spec_command 2 "$keep") == 'exec sleep 1000' ]] || problem "$keep runs the spec of a refused update: $(spec_command 2 "$keep")"

degraded() { { tool 2 members 2>&1; tool 2 status 2>&1; } | grep -c "disk refuses writes: disk full" || true; }
says_degraded() { [[ $(degraded) -ge 2 ]]; }
says_fine() { [[ $(degraded) -eq 0 ]]; }
wait_for 5 says_degraded || problem "members and status do not both say node-2 is degraded: $(tool 2 members 2>&1 | tr '\n' '|') $(tool 2 status 2>&1 | tail -1)"
grep -q "the disk refuses writes" "$WORK/agent-2.log" || problem "the agent's log does not say the disk refuses writes"

rm -f "$data/filler"
log "space freed"
wait_for 5 says_fine || problem "node-2 still says it is degraded 5 s after the disk has space again"
deploy_detached 2 "$(spec "$keep" 'exec sleep 2000' 1)" >/dev/null && write_ok "$keep" "2 true" \
  || problem "update of $keep refused after space was freed"
for i in 1 2 3 4 5; do
  s=$(svc "after-$i"); others+=("$s")
  deploy_detached 2 "$(spec "$s" 'exec sleep 1000' 1)" >/dev/null && write_ok "$s" "1 true" \
    || problem "deploy of $s refused after space was freed"
done
tool_quiet 2 stop "${others[0]}" && write_ok "${others[0]}" "1 false" || problem "stop of ${others[0]} refused"

# A second fill, with writes racing it: whatever was acknowledged must survive the crash.
dd if=/dev/zero of="$data/filler" bs=1k 2>/dev/null || true
for i in 1 2 3 4 5 6; do
  s=$(svc "racing-$i")
  if deploy_detached 2 "$(spec "$s" 'exec sleep 1000' 1)" >/dev/null 2>&1; then write_ok "$s" "1 true"; else others+=("$s"); fi
done
log "${#acked[@]} services acknowledged; crashing node-2 (kill -9) with the disk still full"
crash_agent 2
rm -f "$data/filler"
start_agent 2
wait_agent_up 2
for s in "${!acked[@]}"; do
  want=${acked[$s]}
  wait_for 10 eval '[[ $(svc_summary 2 "$s") == "$want "* ]]' \
    || problem "acknowledged $s is not back as version/enabled '$want' after the crash: $(svc_summary 2 "$s")"
done
for s in $(svc new) $(for r in 1 2 3 4 5 6; do [[ -n ${acked[$(svc "racing-$r")]:-} ]] || svc "racing-$r"; done); do
  [[ $(svc_summary 2 "$s") == absent ]] || problem "refused $s is listed after the restart: $(svc_summary 2 "$s")"
done
for s in "${!acked[@]}"; do
  want=1; [[ ${acked[$s]} == *false ]] && want=0
  wait_for 10 count_is "$s" "$want" || problem "$s has $(count "$s") processes after the restart (expected $want)"
done
[[ $(spec_command 2 "$keep") == 'exec sleep 2000' ]] || problem "$keep lost its acknowledged update: $(spec_command 2 "$keep")"
fail_on_problems "a full disk"
pass "every write on the full disk was refused naming it, the agent said it was degraded and recovered, and all ${#acked[@]} acknowledged services (and only they) came back after kill -9"
