#!/usr/bin/env bash
# Measures what health checks cost and how fast they act, on one agent of a Release build:
# the agent's CPU with N instances and no checks, then with a tcp check every second on each
# (to one listener), and the time from a service that stops answering (its socket closed, or
# the process frozen with SIGSTOP) to a new process running. Not part of the test command.
# docs/performance.md, "Health checks", has the results.
# Usage: scripts/bench-health.sh [--instances N] [--seconds S] [--runs R] [--build-dir DIR]
# (--instances 0: only the restart times; --no-build: use the binaries already in DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
instances=1000
seconds=30
runs=5
build_dir=$PWD/build-bench
build=1
while (( $# )); do
  case $1 in
    --instances) instances=${2:?--instances needs a number}; shift ;;
    --seconds) seconds=${2:?--seconds needs a number}; shift ;;
    --runs) runs=${2:?--runs needs a number}; shift ;;
    --build-dir) build_dir=$(realpath -m "${2:?--build-dir needs a directory}"); shift ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-health.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

if (( build )); then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build_dir" -j2 --target mob-agent mob-tool >/dev/null
fi
agent_bin=$build_dir/bin/mob-agent
tool_bin=$build_dir/bin/mob-tool
port=30400        # the agent (and 30401, its PUB)
listen_port=30410 # the listener every tcp check connects to
http_port=30420   # the service whose restart is timed
work=$(mktemp -d /tmp/mob-bench-health.XXXXXX)
token=bench-health-$$
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Anything still carrying the token (services of a killed agent).
  for environ in /proc/[0-9]*/environ; do
    if { tr '\0' '\n' <"$environ"; } 2>/dev/null | grep -qx "MOB_BENCH_RUN=$token"; then
      pid=${environ#/proc/}; kill -KILL "${pid%/environ}" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
export MOB_BENCH_RUN=$token
tool() { "$tool_bin" -a "127.0.0.1:$port" "$@"; }
# utime+stime of a process, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu_percent() {  # PID SECONDS: its CPU over that long, in % of one core
  local before after
  before=$(ticks "$1"); sleep "$2"; after=$(ticks "$1")
  awk -v d=$((after - before)) -v s="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", 100 * d / hz / s}'
}
count_healthy() {
  tool status bench --json | python3 -c 'import json, sys
print(sum(1 for s in json.load(sys.stdin) for i in s["instance_list"] if i["health"] == "healthy"))'
}

setsid python3 -c '
import socket, sys
listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(sys.argv[1]))); listener.listen(4096)
while True:
    listener.accept()[0].close()' "$listen_port" &
pids+=($!)
listener_pid=$!
setsid "$agent_bin" -p "$port" -P bash --max-instances "$instances" --data-dir "$work/data" >"$work/agent.log" 2>&1 &
pids+=($!)
agent_pid=$!
for _ in $(seq 100); do tool ping >/dev/null 2>&1 && break; sleep 0.1; done

spec() {  # CHECKS_JSON
  echo "{\"name\": \"bench\", \"provider\": \"bash\", \"params\": {\"command\": \"exec sleep 100000\"},
         \"instances\": $instances, \"checks\": $1}"
}
echo "Mob $(git rev-parse --short HEAD), Release build in $build_dir; $(nproc) cores; $instances instances"
if (( instances > 0 )); then
tool deploy - --wait-timeout 300000 <<<"$(spec '[]')" >/dev/null
sleep 5
echo "  agent CPU, $instances instances, no checks: $(cpu_percent "$agent_pid" "$seconds") % of a core"
tool deploy - --wait-timeout 300000 \
  <<<"$(spec "[{\"type\": \"tcp\", \"port\": $listen_port, \"interval_s\": 1, \"timeout_s\": 1}]")" >/dev/null
healthy=$(count_healthy)
sleep 5
echo "  agent CPU, $instances instances, a 1 s tcp check each: $(cpu_percent "$agent_pid" "$seconds") % of a core ($healthy healthy; listener $(cpu_percent "$listener_pid" 5) %)"
tool remove bench >/dev/null
fi

# Time from not answering to a new process running, polled every 10 ms.
cat >"$work/server.py" <<'PY'
import signal, socket, sys, time
listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(sys.argv[1]))); listener.listen(64)
signal.signal(signal.SIGUSR1, lambda *_: listener.close())
while True:
    try:
        connection = listener.accept()[0]
        connection.recv(1024); connection.sendall(b"HTTP/1.0 200 OK\r\n\r\n"); connection.close()
    except OSError:
        time.sleep(1000)
PY
timed_restart() {  # SIGNAL: ms from the signal to a new pid running, by the agent's clock
  local pid now start
  pid=$(tool status web --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["instance_list"][0]["pid"])')
  start=$(( $(date +%s%N) / 1000000 ))
  kill "-$1" "$pid"
  while :; do
    # The new process's since_ms (when it entered running), once it runs.
    now=$(tool status web --json | python3 -c 'import json, sys
i = json.load(sys.stdin)[0]["instance_list"][0]
print(i["since_ms"] if i["state"] == "running" and i["pid"] != int(sys.argv[1]) else 0)' "$pid")
    [[ $now != 0 ]] && break
  done
  echo $(( now - start ))
}
for check in "tcp" "http"; do
  signal=USR1; [[ $check == http ]] && signal=STOP
  tool deploy - >/dev/null <<<"{\"name\": \"web\", \"provider\": \"bash\", \"stop_timeout_s\": 0,
    \"params\": {\"command\": \"exec python3 $work/server.py $http_port\"},
    \"restart\": {\"max_restarts\": 1000, \"backoff_ms\": 0},
    \"checks\": [{\"type\": \"$check\", \"port\": $http_port, \"interval_s\": 1, \"timeout_s\": 0.5, \"failures\": 3, \"grace_s\": 2}]}"
  samples=()
  for ((run = 1; run <= runs; ++run)); do
    until [[ $(tool status web --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["instance_list"][0]["health"])') == healthy ]]; do sleep 0.1; done
    samples+=("$(timed_restart "$signal")")
  done
  echo "  $check check (interval 1 s, failures 3, timeout 0.5 s), SIG$signal to a new process: ${samples[*]} ms"
  tool remove web >/dev/null
done
