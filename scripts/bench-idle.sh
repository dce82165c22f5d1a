#!/usr/bin/env bash
# What an idle Mob network costs with and without deployed services, side by side in one run
# (issue 16): two networks of N agents on loopback, one empty and one holding S one-instance
# bash services (`exec sleep`), both left idle; then, per agent, the CPU used over a window
# (every thread's run time, in nanoseconds from /proc/PID/task/*/schedstat, not 1/100 s ticks),
# the resident memory, and the requests' bytes the agents received (their `peer` request
# counters are not exposed, so the bytes are read from the kernel: each network's agents
# listen on their own ports, and `ss -tin` reports bytes_received per socket). With a list
# of sizes (--services 0,1000,5000,10000) the loaded network grows step by step and each
# step is measured against the empty one: the cost curve. Before each deploy, the floor under
# it: the same number of `sleep` processes started by a plain loop (mob-bench spawn-floor),
# with which the deploy's time until all run is compared. Prints one table and stops
# everything it started. Not part of the test command; results and the command go to
# docs/performance.md.
#
# Usage: scripts/bench-idle.sh [--agents N] [--services S[,S2,...]] [--settle-s T] [--window-s W]
#                              [--build-dir DIR] [--tsv FILE] [--plot FILE.png]
#   --agents N       agents per network (default 5)
#   --services LIST  services in the loaded network, one size or ascending sizes separated by
#                    commas (default 2000)
#   --settle-s T     how long both networks are left alone once everything runs, before the
#                    window opens (default 60: the deploy's last records are saved, gossiped
#                    and synced by then)
#   --window-s W     the idle window measured (default 30)
#   --build-dir DIR  a build holding bin/mob-agent and bin/mob-tool (default build-bench,
#                    built in Release if it has none)
#   --tsv FILE       also write the rows, tab-separated, to FILE
#   --plot FILE.png  draw the rows with gnuplot (scripts/install-deps.sh --bench installs it)
set -euo pipefail
cd "$(dirname "$0")/.."

agents=5 sizes=2000 settle_s=60 window_s=30 build_dir=build-bench tsv= plot=
while (( $# )); do
  case $1 in
    --agents) agents=${2:?}; shift ;;
    --services) sizes=${2:?}; shift ;;
    --settle-s) settle_s=${2:?}; shift ;;
    --window-s) window_s=${2:?}; shift ;;
    --build-dir) build_dir=${2:?}; shift ;;
    --tsv) tsv=${2:?}; shift ;;
    --plot) plot=${2:?}; shift ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-idle.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '[bench-idle %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ $sizes =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--services takes sizes separated by commas, e.g. 0,1000,5000"
IFS=, read -r -a steps <<<"$sizes"
for (( i = 1; i < ${#steps[@]}; i++ )); do
  (( steps[i] > steps[i - 1] )) || die "--services: sizes must ascend (${steps[i - 1]} then ${steps[i]})"
done
services=${steps[-1]}  # the most the loaded network holds
[[ -z $plot ]] || command -v gnuplot >/dev/null || die "--plot needs gnuplot: scripts/install-deps.sh --bench"

if [[ ! -x $build_dir/bin/mob-agent || ! -x $build_dir/bin/mob-tool || ! -x $build_dir/bin/mob-bench ]]; then
  say "building Release in $build_dir (mob-bench needs scripts/install-deps.sh --bench)"
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DMOB_BUILD_BENCH=ON >/dev/null
  cmake --build "$build_dir" -j"$(nproc)" --target mob-agent mob-tool mob-bench >/dev/null
fi
AGENT=$(realpath "$build_dir/bin/mob-agent") TOOL=$(realpath "$build_dir/bin/mob-tool")
BENCH=$(realpath "$build_dir/bin/mob-bench")

work=$(mktemp -d /tmp/mob-bench-idle.XXXXXX)
token=bench-idle-$$-$RANDOM
groups=()
cleanup() {
  local status=$? pgid pid
  trap - EXIT INT TERM
  for pgid in "${groups[@]}"; do kill -TERM -- "-$pgid" 2>/dev/null || true; done
  local deadline=$((SECONDS + 30))
  for pgid in "${groups[@]}"; do
    while kill -0 -- "-$pgid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.1; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  done
  # Services that outlived their agent carry the token in their environment.
  for pid in $(grep -lsxz "MOB_BENCH_RUN=$token" /proc/[0-9]*/environ 2>/dev/null | sed -n 's|^/proc/\([0-9]*\)/environ$|\1|p'); do
    [[ $pid == "$$" ]] || kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Network $1 (empty|loaded) on ports from $2: agent i listens on base + 2i (PUB base + 2i + 1).
declare -A pids
start_network() {
  local label=$1 base=$2 i join
  for (( i = 0; i < agents; i++ )); do
    join=(); (( i > 0 )) && join=(-j "127.0.0.1:$base")
    # 0.1-1 s apart, at random: machines do not start in the same millisecond, and agents that
    # did would probe and sync in step for good (a second network's deploys move its agents'
    # timers apart), their requests to each other sharing wake-ups that agents started apart
    # each pay for: the empty network would read cheaper than any real one.
    (( i > 0 )) && sleep "0.$(printf '%03d' $((100 + RANDOM % 900)))"

    mkdir -p "$work/$label-$i"
    MOB_BENCH_RUN=$token setsid "$AGENT" -p $((base + 2 * i)) -P bash --name "$label-$i" \
      --data-dir "$work/$label-$i" --max-services $((services + 100)) "${join[@]}" \
      >"$work/$label-$i.log" 2>&1 </dev/null &
    pids[$label,$i]=$!
    groups+=("$!")
    if (( i == 0 )); then
      local until=$((SECONDS + 10))
      until "$TOOL" -p "$base" version >/dev/null 2>&1; do
        (( SECONDS < until )) || die "agent $label-0 did not start (log: $work/$label-0.log)"
        sleep 0.1
      done
    fi
  done
  local until=$((SECONDS + 30))
  until [[ $("$TOOL" -p "$base" members 2>/dev/null | grep -c ' alive') -ge $agents ]]; do
    (( SECONDS < until )) || die "network $label did not form in 30 s"
    sleep 0.2
  done
}

# The kernel's count of bytes received by the sockets listening on or connected to the
# network's request ports (ROUTER side: what its agents were sent, requests and probes).
request_bytes() {
  local base=$1 i filter=""
  for (( i = 0; i < agents; i++ )); do filter+="${filter:+ or }sport = :$((base + 2 * i))"; done
  ss -Htin state established "( $filter )" 2>/dev/null \
    | grep -o 'bytes_received:[0-9]*' | awk -F: '{ s += $2 } END { printf "%d", s }'
}

cpu_ns() {  # CPU time of the network's agents, every thread, in nanoseconds (schedstat)
  local label=$1 i
  for (( i = 0; i < agents; i++ )); do cat /proc/"${pids[$label,$i]}"/task/*/schedstat; done \
    | awk '{ s += $1 } END { printf "%.0f", s }'
}
rss_mib() {
  local label=$1 i total=0
  for (( i = 0; i < agents; i++ )); do total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/${pids[$label,$i]}/status"))); done
  awk -v k="$total" -v n="$agents" 'BEGIN { printf "%.1f", k / n / 1024 }'
}

empty_base=31000 loaded_base=31200
say "starting two networks of $agents agents ($AGENT)"
start_network empty $empty_base
start_network loaded $loaded_base

per_agent_cpu() { awk -v t="$1" -v s="$window_s" -v n="$agents" 'BEGIN { printf "%.3f", t / 1e9 / s / n * 100 }'; }
per_agent_bytes() { awk -v b="$1" -v s="$window_s" -v n="$agents" 'BEGIN { printf "%.0f", b / s / n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0) printf "%.2f", b / a; else printf "-" }'; }
running() { "$TOOL" -p "$1" status 2>/dev/null | grep -c ' running' || true; }

mkdir -p "$work/specs"
rows=()
deployed=0
for size in "${steps[@]}"; do
  all_running_s=- floor_s=- over_floor=-
  if (( size > deployed )); then
    # The floor under this step: the same processes started with nothing else to do, just
    # before (mob-bench spawn-floor; they are gone again when it returns).
    floor=$("$BENCH" spawn-floor --processes $((size - deployed)) --command "sleep 100000") \
      || die "mob-bench spawn-floor failed"
    floor_s=$(awk -v f="$floor" 'BEGIN { split(f, kv, "spawned_ms="); printf "%.1f", kv[2] / 1000 }')
    say "the floor: $((size - deployed)) sleep processes alone started in ${floor_s} s"
    say "deploying services $deployed to $((size - 1)) into the loaded network (pipelined, --detach)"
    rm -f "$work/specs/"*.json
    for (( s = deployed; s < size; s++ )); do
      printf '{"name":"idle-%05d","provider":"bash","params":{"command":"exec sleep 100000"}}\n' "$s" >"$work/specs/$s.json"
    done
    deploy_started_ns=$(date +%s%N)
    find "$work/specs" -name '*.json' -print0 | xargs -0 -n 200 "$TOOL" -p $loaded_base deploy --detach >"$work/deploy.log" 2>&1 \
      || die "deploys failed: $(grep -v '^deployed' "$work/deploy.log" | head -3)"
    until=$((SECONDS + 900))
    while (( $(running $loaded_base) < size )); do
      (( SECONDS < until )) || die "only $(running $loaded_base) of $size instances running after 900 s"
      sleep 0.5
    done
    all_running_s=$(awk -v ns="$(( $(date +%s%N) - deploy_started_ns ))" 'BEGIN { printf "%.1f", ns / 1e9 }')
    over_floor=$(ratio "$floor_s" "$all_running_s")
    say "all $size running ${all_running_s} s after the first of these deploys (${over_floor}x the floor)"
    deployed=$size
  fi
  say "$size services: idle ${settle_s} s, then a ${window_s} s window"
  sleep "$settle_s"
  e0=$(cpu_ns empty) l0=$(cpu_ns loaded) eb0=$(request_bytes $empty_base) lb0=$(request_bytes $loaded_base)
  sleep "$window_s"
  e1=$(cpu_ns empty) l1=$(cpu_ns loaded) eb1=$(request_bytes $empty_base) lb1=$(request_bytes $loaded_base)
  erss=$(rss_mib empty) lrss=$(rss_mib loaded)
  # `mob-tool status` of every service through one agent of the loaded network, idle: median of 5,
  # and the first of them alone (after the idle spell the agent holds few specs parsed: it
  # parses them again, agent/spec_cache.hpp).
  status_ms=()
  for _ in 1 2 3 4 5; do
    t0=$(date +%s%N)
    "$TOOL" -p "$loaded_base" status >/dev/null || die "status failed"
    status_ms+=($(( ($(date +%s%N) - t0) / 1000000 )))
  done
  status_median=$(printf '%s\n' "${status_ms[@]}" | sort -n | sed -n 3p) status_first=${status_ms[0]}
  ecpu=$(per_agent_cpu "$(awk -v a="$e0" -v b="$e1" 'BEGIN { printf "%.0f", b - a }')") lcpu=$(per_agent_cpu "$(awk -v a="$l0" -v b="$l1" 'BEGIN { printf "%.0f", b - a }')")
  ebytes=$(per_agent_bytes $((eb1 - eb0))) lbytes=$(per_agent_bytes $((lb1 - lb0)))
  per_1000=$(awk -v e="$erss" -v l="$lrss" -v s="$size" 'BEGIN { if (s > 0) printf "%.2f", (l - e) / s * 1000; else printf "-" }')
  rows+=("$size $ecpu $lcpu $(ratio "$ecpu" "$lcpu") $erss $lrss $per_1000 $ebytes $lbytes $(ratio "$ebytes" "$lbytes") $all_running_s $status_median $status_first $floor_s $over_floor")
  say "$size services: CPU ${ecpu} / ${lcpu} %, RSS ${erss} / ${lrss} MiB, request bytes/s ${ebytes} / ${lbytes}, status ${status_median} ms (the first ${status_first} ms)"
done

header="services cpu_empty_pct cpu_loaded_pct cpu_ratio rss_empty_mib rss_loaded_mib mib_per_1000 bytes_empty_per_s bytes_loaded_per_s bytes_ratio all_running_s status_ms status_first_ms floor_s over_floor"
echo
echo "per agent, idle, $agents agents per network, ${window_s} s windows after ${settle_s} s idle; empty / loaded network"
{ echo "$header"; printf '%s\n' "${rows[@]}"; } | column -t
if [[ -n $tsv ]]; then { echo "$header"; printf '%s\n' "${rows[@]}"; } | tr ' ' '\t' >"$tsv"; say "rows in $tsv"; fi
if [[ -n $plot ]]; then
  printf '%s\n' "${rows[@]}" >"$work/rows.dat"
  gnuplot <<GNUPLOT || die "gnuplot failed"
set terminal pngcairo size 900,900 font ",10"
set output "$plot"
set multiplot layout 3,1 title "Idle cost per agent, $agents agents, one-instance services (empty network: dashed)"
set key left top
set grid
set yrange [0:*]
set xlabel "services deployed"
set ylabel "CPU (% of one core)"
plot "$work/rows.dat" using 1:3 with linespoints title "loaded", "" using 1:2 with lines dashtype 2 title "empty"
set ylabel "RSS (MiB)"
plot "$work/rows.dat" using 1:6 with linespoints title "loaded", "" using 1:5 with lines dashtype 2 title "empty"
set ylabel "request bytes received / s"
plot "$work/rows.dat" using 1:9 with linespoints title "loaded", "" using 1:8 with lines dashtype 2 title "empty"
unset multiplot
GNUPLOT
  say "plot in $plot"
fi
