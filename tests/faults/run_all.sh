#!/usr/bin/env bash
# Runs the fault suite: every fault script with real agents, one after the other, and a
# summary of pass/fail with durations. Exit 0 only when every script passes.
# Usage: run_all.sh [MOB_AGENT MOB_TOOL] [SCRIPT...]   (as root)
#   MOB_AGENT, MOB_TOOL default to build/bin/ of this checkout. SCRIPT names (e.g.
#   sigstop or sigstop.sh) pick a subset. Each script is stopped after
#   MOB_FAULT_TIMEOUT_S (default 150) seconds.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
agent=${1:-$repo/build/bin/mob-agent}
tool=${2:-$repo/build/bin/mob-tool}
shift $(( $# >= 2 ? 2 : $# ))
scripts=(partition_2_2 partition_1_3 partition_past_ttl one_way sigstop restart_all restart_seed concurrent_deploy
         clock_skew clock_ahead tombstone_return disk_full disk_readonly damaged_state double_sigterm
         retried_deploy)
if (( $# > 0 )); then scripts=("${@%.sh}"); fi
limit=${MOB_FAULT_TIMEOUT_S:-150}
logs=$(mktemp -d /tmp/mob-faults-run-XXXXXX)
results=()
failed=0
suite_start=$SECONDS
for name in "${scripts[@]}"; do
  script=$here/$name.sh
  [[ -x $script ]] || { echo "no such fault script: $script"; exit 2; }
  start=${EPOCHREALTIME/./}
  timeout -k 10 "$limit" "$script" "$agent" "$tool" >"$logs/$name.log" 2>&1
  rc=$?
  took=$(( (${EPOCHREALTIME/./} - start) / 100000 ))
  took="$((took / 10)).$((took % 10))s"
  if (( rc == 0 )); then
    verdict=PASS
  else
    failed=$((failed + 1))
    verdict=FAIL
    (( rc == 124 || rc == 137 )) && verdict="FAIL (timed out after ${limit}s)"
  fi
  line=$(printf '%-18s %-28s %7s' "$name" "$verdict" "$took")
  reason=$(grep -m1 -E '^(PASS|FAIL):' "$logs/$name.log" || true)
  results+=("$line  ${reason:0:160}")
  echo "$line  ${reason:0:160}"
  (( rc == 0 )) || { echo "---- output of $name:"; sed 's/^/    /' "$logs/$name.log"; echo "----"; }
done
echo
echo "fault suite: $(( ${#scripts[@]} - failed )) passed, $failed failed in $((SECONDS - suite_start)) s (logs in $logs)"
printf '  %s\n' "${results[@]}"
(( failed == 0 ))
