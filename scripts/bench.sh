#!/usr/bin/env bash
# Builds Mob in Release and measures it beside HashiCorp Serf and supervisord on loopback:
# membership, failure detection, restarts, placement, event delay, codec throughput. Prints
# one table (figure, Mob, peer, ratio) and stops everything it started. Not part of the test
# command. What each figure means and how to read it: docs/performance.md.
#
# Usage: scripts/bench.sh [--quick] [--only LIST] [--load-s S] [--kills K] [--keep]
#                         [--build-dir DIR] [--agent-flags "FLAGS"] [--sizes LIST] [--cluster-n N]
#   --quick        shorter durations and smaller N (about a minute plus the build, not ~5)
#   --only LIST    comma-separated subset of: membership,failure,restart,placement,bus,events
#                  (failure includes idle RSS/CPU and false positives under load; events
#                  are measured during placement)
#   --load-s S     seconds of full CPU load for the false-positive count (default 60; 0 skips it)
#   --sizes LIST   network sizes whose full view is timed (default 5,20,50; --quick 5,10)
#   --cluster-n N  the size of the network for idle RSS/CPU, failure detection and false
#                  positives (default 20; --quick 10); timed for its full view as well
#                  (e.g. --only failure --sizes 200 --cluster-n 200 --load-s 0)
#   --kills K      SIGKILLs per restart measurement (default 20)
#   --keep         keep the temp dir (agent logs, configs) and print where it is
#   --build-dir    default build-bench
#   --agent-flags  extra mob-agent flags for every agent (e.g. "--probe-interval-ms 100");
#                  report the default-flag figures next to any run that uses this
# Every daemon runs in its own process group and carries MOB_BENCH_RUN=<token> in its
# environment, as do the services it starts; on exit (also Ctrl-C) every group is stopped
# and any process still carrying the token is SIGKILLed. Ports: 30000-32700 on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly SOURCE_DIR=$PWD
readonly command_args="$*"

quick=0
only=membership,failure,restart,placement,bus,events
load_s=
kills=
keep=0
build_dir=$SOURCE_DIR/build-bench
agent_flags=
sizes_arg=
cluster_n_arg=
while (( $# )); do
  case $1 in
    --quick) quick=1 ;;
    --only) only=${2:?--only needs a list}; shift ;;
    --load-s) load_s=${2:?--load-s needs seconds}; shift ;;
    --kills) kills=${2:?--kills needs a count}; shift ;;
    --keep) keep=1 ;;
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift ;;
    --agent-flags) agent_flags=${2?--agent-flags needs flags}; shift ;;
    --sizes) sizes_arg=${2:?--sizes needs a comma-separated list of sizes}; shift ;;
    --cluster-n) cluster_n_arg=${2:?--cluster-n needs a size}; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

if (( quick )); then
  membership_sizes=(5 10)
  cluster_n=10          # idle RSS/CPU, failure detection, false positives
  placement_agents=5
  placement_services=200
  idle_settle_s=2
  idle_cpu_s=5
  : "${load_s:=10}" "${kills:=10}"
else
  membership_sizes=(5 20 50)
  cluster_n=20
  placement_agents=10
  placement_services=1000
  idle_settle_s=15       # after the full view, so that the join's work is over
  idle_cpu_s=30          # 1/100 s ticks: a short window moves a figure of 0.2 % by 0.02
  : "${load_s:=60}" "${kills:=20}"
fi
[[ $load_s =~ ^[0-9]+$ && $kills =~ ^[0-9]+$ ]] || { echo "bench.sh: --load-s and --kills take whole numbers" >&2; exit 2; }
if [[ -n $sizes_arg ]]; then
  [[ $sizes_arg =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "bench.sh: --sizes takes sizes separated by commas, e.g. 5,20,200" >&2; exit 2; }
  IFS=, read -r -a membership_sizes <<<"$sizes_arg"
fi
if [[ -n $cluster_n_arg ]]; then
  [[ $cluster_n_arg =~ ^[0-9]+$ ]] && (( cluster_n_arg >= 2 )) \
    || { echo "bench.sh: --cluster-n takes a size of at least 2" >&2; exit 2; }
  cluster_n=$cluster_n_arg
fi
# The failure figures are taken on the cluster_n network: it is started in the size loop.
[[ " ${membership_sizes[*]} " == *" $cluster_n "* ]] || membership_sizes+=("$cluster_n")

wants() { [[ ",$only," == *",$1,"* ]]; }
say() { echo "[bench $(date +%T)] $*" >&2; }
die() { echo "bench.sh: $*" >&2; exit 1; }

# ---- processes: every daemon in its own group; cleanup on any exit -----------------------

token=bench-$$-$(date +%s%N)
work=$(mktemp -d /tmp/mob-bench.XXXXXX)
groups=()  # process group ids (= pids, via setsid) of everything started

# True while PID exists and is not a zombie.
alive() { [[ -e /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

# SIGTERM each group, wait up to $1 seconds for the leaders, then SIGKILL what is left.
stop_groups() {
  local grace=$1; shift
  local pgid deadline=$((SECONDS + grace))
  for pgid in "$@"; do kill -TERM -- "-$pgid" 2>/dev/null || true; done
  for pgid in "$@"; do
    while alive "$pgid" && (( SECONDS < deadline )); do sleep 0.05; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  done
}

# Every process whose environment holds this run's token: services that outlived an agent.
token_pids() {
  grep -lsxz "MOB_BENCH_RUN=$token" /proc/[0-9]*/environ 2>/dev/null \
    | sed -n 's|^/proc/\([0-9]*\)/environ$|\1|p' | grep -vx "$$" || true
}

kill_token_processes() {
  local pid
  for pid in $(token_pids); do kill -KILL "$pid" 2>/dev/null || true; done
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if (( ${#groups[@]} )); then stop_groups 15 "${groups[@]}"; fi
  kill_token_processes
  if (( keep )); then echo "bench.sh: kept $work" >&2; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts "$@" in a new session (its own process group) with the token; sets started_pid.
start_daemon() {
  local log=$1; shift
  MOB_BENCH_RUN="$token" setsid "$@" >"$log" 2>&1 </dev/null &  # no env(1): one exec less
  started_pid=$!
  disown "$started_pid"  # no "Killed" job notices: the kills are the point
  groups+=("$started_pid")
}

forget_groups() {
  local gone=" $* " kept=() pgid
  for pgid in "${groups[@]}"; do [[ $gone == *" $pgid "* ]] || kept+=("$pgid"); done
  groups=("${kept[@]}")
}

# ---- ports: consecutive free ports from 30000 up, never reused within a run --------------

port_cursor=30000
# Sets taken_port to the first of $1 consecutive ports free on TCP and UDP.
take_ports() {
  local count=$1 used
  used=" $(ss -Htuan 2>/dev/null | awk '{n=split($5,a,":"); print a[n]}' | sort -u | tr '\n' ' ') "
  local start=$port_cursor port
  while :; do
    (( start + count <= 32700 )) || die "no $count free ports left below 32700"
    for (( port = start; port < start + count; port++ )); do
      [[ $used == *" $port "* ]] && break
    done
    if (( port == start + count )); then break; fi
    start=$((port + 1))
  done
  taken_port=$start
  port_cursor=$((start + count))
}

# ---- build ------------------------------------------------------------------------------

scripts/install-deps.sh --bench
say "building Release in $build_dir"
cmake -S "$SOURCE_DIR" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DMOB_BUILD_BENCH=ON >"$work/cmake.log" \
  || { cat "$work/cmake.log" >&2; die "cmake configure failed"; }
cmake --build "$build_dir" -j"$(nproc)" --target mob-agent mob-tool mob-bench mob_bus_bench >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log" >&2; die "build failed (log above)"; }
readonly AGENT=$build_dir/bin/mob-agent TOOL=$build_dir/bin/mob-tool BENCH=$build_dir/bin/mob-bench
readonly SERF=$(command -v serf) SUPERVISORD=$(command -v supervisord)
read -r -a extra_agent_flags <<<"$agent_flags"

# ---- results ----------------------------------------------------------------------------

rows=()  # "figure|mob|peer|ratio"
add_row() { rows+=("$1|$2|$3|$4"); }
# Mob/peer to three significant digits when both are numbers and peer > 0, else "-".
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b + 0 > 0) printf "%.3g", a / b; else printf "-" }'
}
# The value of key $1 in a key=value line $2.
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
ms_to_s() { awk -v v="$1" 'BEGIN { if (v ~ /^[0-9.]+$/) printf "%.2f", v / 1000; else printf "%s", v }'; }

# ---- clusters ---------------------------------------------------------------------------

# Starts an N-agent cluster of $1 (mob|serf) joined through the first one. Sets: pids,
# names, ports (request/RPC ports), cluster_since_ns (just before the first start).
start_cluster() {
  local system=$1 n=$2 label=$3 i base
  take_ports $((2 * n)); base=$taken_port
  pids=(); names=(); ports=()
  # Data dirs are made before the clock starts: the harness's own work is not measured.
  if [[ $system == mob ]]; then for (( i = 0; i < n; i++ )); do mkdir -p "$work/$label-$i"; done; fi
  cluster_since_ns=$(date +%s%N)
  for (( i = 0; i < n; i++ )); do
    local name=$label-$i port=$((base + 2 * i)) join=()
    if [[ $system == mob ]]; then
      (( i > 0 )) && join=(-j "127.0.0.1:$base")
      start_daemon "$work/$name.log" "$AGENT" -p "$port" -P bash --name "$name" \
        --data-dir "$work/$name" "${join[@]}" "${extra_agent_flags[@]}"
      ports+=("$port")
    else
      (( i > 0 )) && join=(-join "127.0.0.1:$base")
      start_daemon "$work/$name.log" "$SERF" agent -node "$name" -bind "127.0.0.1:$port" \
        -rpc-addr "127.0.0.1:$((port + 1))" -log-level info "${join[@]}"
      ports+=("$((port + 1))")
    fi
    pids+=("$started_pid"); names+=("$name")
    # Both systems: the seed must answer before the others join through it.
    if (( i == 0 )); then
      "$BENCH" converge --system "$system" --ports "${ports[0]}" --n 1 --since-ns "$cluster_since_ns" \
        --timeout-ms 10000 >/dev/null || die "$system seed did not start (log: $work/$name.log)"
    fi
  done
}

stop_cluster() {
  stop_groups 30 "${pids[@]}"
  forget_groups "${pids[@]}"
  kill_token_processes
}

join_by_comma() { local IFS=,; echo "$*"; }

# Mean VmRSS and PSS (MiB; PSS splits shared library pages among the processes mapping
# them) and mean CPU (% of one core over $idle_cpu_s s) of the pids given.
idle_footprint() {
  local pid rss_kb=0 pss_kb=0 ticks0=0 ticks1=0 hz
  hz=$(getconf CLK_TCK)
  for pid in "$@"; do rss_kb=$((rss_kb + $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"))); done
  for pid in "$@"; do pss_kb=$((pss_kb + $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup"))); done
  # The ticks are read without a process per file (200 agents: 200 awks took seconds and
  # stretched the window), and the window is what the clock says it was.
  local from_ns to_ns stat
  from_ns=$(date +%s%N)
  for pid in "$@"; do read -r -a stat < "/proc/$pid/stat"; ticks0=$((ticks0 + stat[13] + stat[14])); done
  sleep "$idle_cpu_s"
  for pid in "$@"; do read -r -a stat < "/proc/$pid/stat"; ticks1=$((ticks1 + stat[13] + stat[14])); done
  to_ns=$(date +%s%N)
  footprint_rss=$(awk -v k="$rss_kb" -v n=$# 'BEGIN { printf "%.1f", k / n / 1024 }')
  footprint_pss=$(awk -v k="$pss_kb" -v n=$# 'BEGIN { printf "%.1f", k / n / 1024 }')
  footprint_cpu=$(awk -v t=$((ticks1 - ticks0)) -v hz="$hz" -v ns=$((to_ns - from_ns)) -v n=$# \
    'BEGIN { printf "%.2f", t / hz / (ns / 1e9) / n * 100 }')
}

# Live names accused (suspect/failed) in the agents' logs since the byte offsets saved by
# mark_logs; prints "count names".
mark_logs() { log_marks=(); local name; for name in "${names[@]}"; do log_marks+=("$(stat -c %s "$work/$name.log")"); done; }
accused_in_logs() {
  local system=$1 exclude=$2 i
  for (( i = 0; i < ${#names[@]}; i++ )); do
    [[ ${names[i]} == "$exclude" ]] && continue
    tail -c +$((log_marks[i] + 1)) "$work/${names[i]}.log"
  done | if [[ $system == mob ]]; then
    sed -n 's/.*member \([^ ]*\) is \(suspect\|failed\).*/\1/p'
  else
    sed -n -e 's/.*memberlist: Suspect \([^ ]*\) has failed.*/\1/p' \
           -e 's/.*memberlist: Marking \([^ ]*\) as failed.*/\1/p' \
           -e 's/.*EventMemberFailed: \([^ ]*\) .*/\1/p'
  fi | { grep -vx "$exclude" || true; } | sort -u | paste -sd, -
}
refutations_in_logs() {
  local system=$1 i
  for (( i = 0; i < ${#names[@]}; i++ )); do tail -c +$((log_marks[i] + 1)) "$work/${names[i]}.log"; done \
    | grep -c -e 'refuting a stale view' -e 'Refuting a suspect message' || true
}

declare -A join_accused converge_ms rss pss cpu detect_all detect_first detect_suspect fp fp_detail silent_all silent_first
declare -A rss_alone
# RSS of one agent with no peers, idle after joining nothing.
measure_alone() {
  local system=$1
  start_cluster "$system" 1 "${system:0:1}alone"
  sleep "$idle_settle_s"
  rss_alone[$system]=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/${pids[0]}/status")
  say "$system: one idle agent alone: ${rss_alone[$system]} MiB RSS"
  stop_cluster
}

measure_system() {
  local system=$1 n label name
  wants failure && measure_alone "$system"
  for n in "${membership_sizes[@]}" ; do
    wants membership || (( n == cluster_n )) || continue
    label=${system:0:1}$n
    say "$system: $n agents joining through one seed"
    start_cluster "$system" "$n" "$label"
    local out
    # 60 s, or 0.5 s per agent for large networks (200 agents on 2 cores start for seconds).
    local converge_s=$(( n > 120 ? n / 2 : 60 ))
    out=$("$BENCH" converge --system "$system" --ports "$(join_by_comma "${ports[@]}")" --n "$n" \
      --since-ns "$cluster_since_ns" --timeout-ms $((converge_s * 1000))) || true
    converge_ms[$system,$n]=$(field ms "$out")
    if [[ ${converge_ms[$system,$n]} != [0-9]* ]]; then
      converge_ms[$system,$n]="timeout $converge_s s ($(field reached "$out" | tr _ ' '))"
    fi
    log_marks=(); for name in "${names[@]}"; do log_marks+=(0); done
    join_accused[$system,$n]=$(accused_in_logs "$system" "")
    say "$system: full view of $n everywhere after ${converge_ms[$system,$n]} ms;" \
      "live agents suspected while joining: ${join_accused[$system,$n]:-none}"
    if (( n == cluster_n )) && wants failure; then measure_failure "$system"; fi
    stop_cluster
  done
}

measure_failure() {
  local system=$1 victim_index=$((cluster_n - 1)) out
  say "$system: idle ${idle_settle_s}s, then RSS and CPU over ${idle_cpu_s}s"
  sleep "$idle_settle_s"
  idle_footprint "${pids[@]}"
  rss[$system]=$footprint_rss; pss[$system]=$footprint_pss; cpu[$system]=$footprint_cpu
  say "$system: idle agent ${rss[$system]} MiB RSS (${pss[$system]} MiB PSS), ${cpu[$system]}% of a core"

  local victim=${names[victim_index]} victim_pid=${pids[victim_index]}
  local survivors=("${ports[@]:0:victim_index}")
  say "$system: SIGKILL $victim"
  # detect connects to every survivor first, then kills: the time counts no connection made
  # after the kill.
  out=$("$BENCH" detect --system "$system" --ports "$(join_by_comma "${survivors[@]}")" \
    --target "$victim" --kill-pid "$victim_pid" --timeout-ms 60000) || out="all_ms=timeout"
  detect_all[$system]=$(field all_ms "$out"); detect_first[$system]=$(field first_ms "$out")
  detect_suspect[$system]=$(field first_suspect_ms "$out")
  say "$system: $victim ${detect_suspect[$system]:+suspect after ${detect_suspect[$system]} ms, }failed on one agent after ${detect_first[$system]} ms, on all after ${detect_all[$system]} ms"

  if (( load_s > 0 )); then
    measure_false_positives "$system" "$victim"
  else
    fp[$system]="-"; fp_detail[$system]="not measured (--load-s 0)"
  fi

  # A silent failure: a stopped process closes no connection, so only probes find it.
  local silent=$((victim_index - 1))
  local watchers=("${ports[@]:0:silent}")
  say "$system: SIGSTOP ${names[silent]} (a silent failure)"
  out=$("$BENCH" detect --system "$system" --ports "$(join_by_comma "${watchers[@]}")" \
    --target "${names[silent]}" --stop-pid "${pids[silent]}" --timeout-ms 60000) || out="all_ms=timeout"
  kill -CONT "${pids[silent]}"
  silent_all[$system]=$(field all_ms "$out"); silent_first[$system]=$(field first_ms "$out")
  say "$system: ${names[silent]} failed on one agent after ${silent_first[$system]} ms, on all after ${silent_all[$system]} ms"
}

measure_false_positives() {
  local system=$1 victim=$2 out
  say "$system: ${load_s}s with every core busy; watching $((cluster_n - 1)) live agents"
  mark_logs
  local burners=() core
  for (( core = 0; core < $(nproc); core++ )); do
    start_daemon /dev/null timeout "$load_s" sh -c 'while :; do :; done'
    burners+=("$started_pid")
  done
  out=$("$BENCH" watch --system "$system" --ports "$(join_by_comma "${survivors[@]}")" \
    --duration-ms $((load_s * 1000)) --exclude "$victim" --interval-ms 100)
  stop_groups 5 "${burners[@]}"; forget_groups "${burners[@]}"
  sleep 1  # let the last accusations reach the logs
  local from_logs polled all
  from_logs=$(accused_in_logs "$system" "$victim")
  polled=$(field names "$out" | tr ',' '\n' | sed 's/:.*//' | grep -v '^-$' || true)
  all=$( { tr ',' '\n' <<<"$from_logs"; echo "$polled"; } | { grep -v '^$' || true; } | sort -u | paste -sd, -)
  fp[$system]=$(awk -v s="$all" 'BEGIN { print (s == "" ? 0 : split(s, a, ",")) }')
  fp_detail[$system]="polls: $(field polls "$out") ($(field unanswered "$out") unanswered); accused: ${all:-none}; refutations: $(refutations_in_logs "$system")"
  say "$system: false positives ${fp[$system]} (${fp_detail[$system]})"
}

# ---- restart ----------------------------------------------------------------------------

measure_restart() {
  local out port
  say "restart: one mob-agent, a bash service 'exec sleep 1000', $kills SIGKILLs"
  take_ports 2; port=$taken_port
  mkdir -p "$work/restart-agent"
  start_daemon "$work/restart-agent.log" "$AGENT" -p "$port" -P bash --name restart-agent \
    --data-dir "$work/restart-agent" "${extra_agent_flags[@]}"
  local agent_pid=$started_pid
  "$BENCH" converge --system mob --ports "$port" --n 1 --since-ns "$(date +%s%N)" --timeout-ms 10000 >/dev/null \
    || die "restart agent did not start (log: $work/restart-agent.log)"
  cat >"$work/sleeper.json" <<'EOF'
{"name": "sleeper", "provider": "bash", "params": {"command": "exec sleep 1000"},
 "restart": {"policy": "always", "max_restarts": 1000000, "window_s": 60, "backoff_ms": 0, "backoff_max_ms": 0}}
EOF
  "$TOOL" -p "$port" deploy "$work/sleeper.json" --wait-timeout 10000 >"$work/restart-deploy.log" 2>&1 \
    || die "deploying the restart service failed: $(cat "$work/restart-deploy.log")"
  mob_restart=$("$BENCH" restart --parent "$agent_pid" --kills "$kills" --command "sleep 1000" \
    --mob-port "$port") || mob_restart="p50_ms=failed p99_ms=failed"
  say "restart: mob $mob_restart"
  stop_groups 30 "$agent_pid"; forget_groups "$agent_pid"

  say "restart: supervisord, same command, autorestart=true startsecs=0, $kills SIGKILLs"
  mkdir -p "$work/supervisor"
  cat >"$work/supervisor/supervisord.conf" <<EOF
[supervisord]
nodaemon=true
logfile=$work/supervisor/supervisord.log
pidfile=$work/supervisor/supervisord.pid
childlogdir=$work/supervisor
loglevel=info

[program:sleeper]
command=/bin/bash -c "exec sleep 1000"
autostart=true
autorestart=true
startsecs=0
startretries=1000000
stdout_logfile=$work/supervisor/sleeper.log
redirect_stderr=true
EOF
  start_daemon "$work/supervisor/stdout.log" "$SUPERVISORD" -n -c "$work/supervisor/supervisord.conf"
  local supervisord_pid=$started_pid
  peer_restart=$("$BENCH" restart --parent "$supervisord_pid" --kills "$kills" --command "sleep 1000") \
    || peer_restart="p50_ms=failed p99_ms=failed"
  say "restart: supervisord $peer_restart"
  stop_groups 15 "$supervisord_pid"; forget_groups "$supervisord_pid"
  kill_token_processes
}

# ---- placement --------------------------------------------------------------------------

# A subscriber on another agent than the one deployed through (what it sees is gossip);
# sets subscriber (its pid, or empty).
start_events_subscriber() {
  subscriber=""
  wants events && "$TOOL" help events >/dev/null 2>&1 || return 0
  start_daemon "$work/events-$1.txt" sh -c '"$0" -p "$1" events --json | "$2" stamp' \
    "$TOOL" "${ports[1]}" "$BENCH"
  subscriber=$started_pid
  sleep 1  # the subscription reaches the agent a moment after mob-tool connects
}

# Stops the subscriber; prints "count=N p50_ms=... p99_ms=... max_ms=..." of the delay of
# each event: when the subscriber read it minus its origin's time_ms.
finish_events_subscriber() {
  [[ -n $subscriber ]] || return 0
  sleep 1
  stop_groups 5 "$subscriber"; forget_groups "$subscriber"
  sed -n 's/^\([0-9]\{19\}\) {.*"time_ms":\([0-9]*\).*/\1 \2/p' "$work/events-$1.txt" \
    | awk '{ printf "%.3f\n", $1 / 1e6 - $2 }' | sort -n \
    | awk '{ a[NR] = $1 } END { if (NR == 0) { print "count=0"; exit }
             p99 = int(NR * 0.99); if (p99 < NR * 0.99) p99++
             printf "count=%d p50_ms=%.0f p99_ms=%.0f max_ms=%.0f\n", NR, a[int((NR + 1) / 2)], a[p99], a[NR] }'
}

measure_placement() {
  say "placement: $placement_agents agents, $placement_services one-instance services through one"
  start_cluster mob "$placement_agents" place
  "$BENCH" converge --system mob --ports "$(join_by_comma "${ports[@]}")" --n "$placement_agents" \
    --since-ns "$cluster_since_ns" --timeout-ms 60000 >/dev/null || die "placement cluster did not converge"
  local last=$((placement_agents - 1))
  start_events_subscriber batch
  # As `mob::Client::deploy_many` (and so a batch of deploys) does: 64 requests in flight.
  placement=$("$BENCH" place --port "${ports[0]}" --services "$placement_services" --prefix svc- \
    --in-flight 64 --crash-pid "${pids[last]}" --crash-node "${names[last]}" --timeout-ms 120000) \
    || say "placement did not finish: $placement"
  say "placement: $placement"
  events_batch=$(finish_events_subscriber batch)
  [[ -z $events_batch ]] || say "events, 64 deploys in flight: $events_batch (subscriber on ${names[1]})"
  say "placement: stopping the agents (SIGTERM: they stop their services)"
  stop_cluster
  local left; left=$(token_pids | wc -l)
  (( left == 0 )) || say "placement: $left service processes outlived their agents (SIGKILLed)"
  kill_token_processes

  say "placement: again on a fresh cluster, one deploy at a time (as one mob-tool deploy does)"
  start_cluster mob "$placement_agents" seq
  "$BENCH" converge --system mob --ports "$(join_by_comma "${ports[@]}")" --n "$placement_agents" \
    --since-ns "$cluster_since_ns" --timeout-ms 60000 >/dev/null || die "placement cluster did not converge"
  start_events_subscriber one
  placement_sequential=$("$BENCH" place --port "${ports[0]}" --services "$placement_services" \
    --prefix seq- --timeout-ms 120000) || say "placement did not finish: $placement_sequential"
  say "placement, one at a time: $placement_sequential"
  events_one=$(finish_events_subscriber one)
  [[ -z $events_one ]] || say "events, one deploy at a time: $events_one (subscriber on ${names[1]})"
  stop_cluster
  kill_token_processes
}

# ---- bus --------------------------------------------------------------------------------

declare -A bus
measure_bus() {
  say "bus: Google Benchmark of the codec"
  local min_time=1; (( quick )) && min_time=0.2
  "$build_dir/bin/mob_bus_bench" --benchmark_format=csv --benchmark_min_time="$min_time" \
    >"$work/bus.csv" 2>"$work/bus.err" || { cat "$work/bus.err" >&2; die "mob_bus_bench failed"; }
  local name
  for name in BM_StatusRequest BM_DeployRequest BM_Gossip20; do
    bus[$name]=$(awk -F, -v n="\"$name\"" '$1 == n { printf "%.0f", $7 }' "$work/bus.csv")
  done
}

# ---- run --------------------------------------------------------------------------------

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), load $load_at_start"
if wants membership || wants failure; then measure_system mob; measure_system serf; fi
if wants restart; then measure_restart; fi
if wants placement; then measure_placement; fi
if wants bus; then measure_bus; fi

# ---- the table --------------------------------------------------------------------------

if wants membership || wants failure; then
  for n in "${membership_sizes[@]}"; do
    [[ -n ${converge_ms[mob,$n]:-} ]] || continue
    target=""; (( n == 50 )) && target=" [target <1000, < Serf]"; (( n == 200 )) && target=" [< Serf]"
    add_row "full view, $n agents (ms)$target" "${converge_ms[mob,$n]}" "${converge_ms[serf,$n]}" \
      "$(ratio "${converge_ms[mob,$n]}" "${converge_ms[serf,$n]}")"
  done
  count() { awk -v s="$1" 'BEGIN { print (s == "" ? 0 : split(s, a, ",")) }'; }
  largest=${membership_sizes[-1]}
  if [[ -n ${converge_ms[mob,$largest]:-} ]]; then
    add_row "live agents suspected while $largest join" "$(count "${join_accused[mob,$largest]}")" \
      "$(count "${join_accused[serf,$largest]}")" "-"
  fi
fi
if wants failure; then
  add_row "idle RSS, one agent alone (MiB) [target <8]" "${rss_alone[mob]}" "${rss_alone[serf]}" "$(ratio "${rss_alone[mob]}" "${rss_alone[serf]}")"
  add_row "idle RSS per agent, N=$cluster_n (MiB)" "${rss[mob]}" "${rss[serf]}" "$(ratio "${rss[mob]}" "${rss[serf]}")"
  add_row "idle PSS per agent, N=$cluster_n (MiB)" "${pss[mob]}" "${pss[serf]}" "$(ratio "${pss[mob]}" "${pss[serf]}")"
  add_row "idle CPU per agent, N=$cluster_n (% core) [<0.5]" "${cpu[mob]}" "${cpu[serf]}" "$(ratio "${cpu[mob]}" "${cpu[serf]}")"
  m=$(ms_to_s "${detect_all[mob]}"); s=$(ms_to_s "${detect_all[serf]}")
  add_row "SIGKILL 1 of $cluster_n: failed everywhere (s) [<2]" "$m" "$s" "$(ratio "$m" "$s")"
  m=$(ms_to_s "${detect_first[mob]}"); s=$(ms_to_s "${detect_first[serf]}")
  add_row "SIGKILL 1 of $cluster_n: failed on first agent (s)" "$m" "$s" "$(ratio "$m" "$s")"
  m=$(ms_to_s "${silent_all[mob]}"); s=$(ms_to_s "${silent_all[serf]}")
  add_row "SIGSTOP 1 of $cluster_n (silent): failed everywhere (s)" "$m" "$s" "$(ratio "$m" "$s")"
  add_row "false positives, ${load_s}s all cores busy [0]" "${fp[mob]}" "${fp[serf]}" "-"
fi
if wants restart; then
  m=$(field p50_ms "$mob_restart"); s=$(field p50_ms "$peer_restart")
  add_row "restart after SIGKILL, p50 (ms) [<10]" "$m" "$s" "$(ratio "$m" "$s")"
  m=$(field p99_ms "$mob_restart"); s=$(field p99_ms "$peer_restart")
  add_row "restart after SIGKILL, p99 (ms)" "$m" "$s" "$(ratio "$m" "$s")"
  add_row "restart: status shows new pid running, p50 (ms)" "$(field status_p50_ms "$mob_restart")" "-" "-"
fi
if wants placement; then
  add_row "deploys accepted per second, 64 in flight, $placement_agents agents" "$(field deploys_per_s "$placement")" "-" "-"
  add_row "$placement_services services all running, 64 in flight (s) [<5]" "$(ms_to_s "$(field running_ms "$placement")")" "-" "-"
  add_row "deploys accepted per second, one at a time" "$(field deploys_per_s "$placement_sequential")" "-" "-"
  add_row "$placement_services services all running, one at a time (s)" "$(ms_to_s "$(field running_ms "$placement_sequential")")" "-" "-"
  add_row "agent SIGKILLed: its $(field crashed_node_instances "$placement") instances run elsewhere (s)" \
    "$(ms_to_s "$(field moved_ms "$placement")")" "-" "-"
fi
if wants bus; then
  add_row "bus: StatusRequest encode+decode (msg/s)" "${bus[BM_StatusRequest]}" "-" "-"
  add_row "bus: DeployRequest encode+decode (msg/s)" "${bus[BM_DeployRequest]}" "-" "-"
  add_row "bus: Gossip, 20-entry delta, encode+decode (msg/s)" "${bus[BM_Gossip20]}" "-" "-"
fi
if wants events; then
  if [[ -n ${events_one:-} || -n ${events_batch:-} ]]; then
    for load in one batch; do
      summary=events_$load; summary=${!summary:-}
      [[ -n $summary ]] || continue
      label="one deploy at a time"; [[ $load == batch ]] && label="64 deploys in flight"
      add_row "events: delay origin->subscriber p50 / p99 (ms), $label, $(field count "$summary") events" \
        "$(field p50_ms "$summary") / $(field p99_ms "$summary")" "-" "-"
    done
  else
    add_row "events" "measured with placement (--only placement,events)" "-" "-"
  fi
fi

echo
echo "Mob $("$AGENT" --version | awk '{print $2}') vs Serf $("$SERF" version | awk 'NR == 1 {print $NF}') / supervisord $("$SUPERVISORD" --version)" \
  "- $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)," \
  "load at start $load_at_start"
echo "tree: $(git -C "$SOURCE_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$SOURCE_DIR" status --porcelain 2>/dev/null | grep -q . && echo ' plus uncommitted changes'); command: scripts/bench.sh${command_args:+ $command_args}"
if [[ -n $agent_flags ]]; then echo "mob-agent flags: $agent_flags (non-default)"; else echo "mob-agent flags: defaults"; fi
echo "peer = Serf for membership and failure rows, supervisord for restart rows; ratio = Mob / peer"
printf '%s\n' "${rows[@]}" | awk -F'|' '
  { for (i = 1; i <= 4; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
  END {
    hdr[1] = "figure"; hdr[2] = "Mob"; hdr[3] = "peer"; hdr[4] = "ratio"
    for (i = 1; i <= 4; i++) if (length(hdr[i]) > w[i]) w[i] = length(hdr[i])
    line = sprintf("| %-*s | %*s | %*s | %*s |", w[1], hdr[1], w[2], hdr[2], w[3], hdr[3], w[4], hdr[4]); print line
    printf "|%s|%s:|%s:|%s:|\n", dashes(w[1] + 2), dashes(w[2] + 1), dashes(w[3] + 1), dashes(w[4] + 1)
    for (r = 1; r <= NR; r++)
      printf "| %-*s | %*s | %*s | %*s |\n", w[1], cell[r, 1], w[2], cell[r, 2], w[3], cell[r, 3], w[4], cell[r, 4]
  }
  function dashes(n,   s) { s = ""; while (n-- > 0) s = s "-"; return s }'
if wants failure; then
  echo
  echo "false positives, Mob: ${fp_detail[mob]}"
  echo "false positives, Serf: ${fp_detail[serf]}"
fi
