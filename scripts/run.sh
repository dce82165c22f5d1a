#!/usr/bin/env bash
# Installs what is missing, builds Release into build/ and starts one local mob-agent in
# the background, ready for `mob-tool deploy`. Debian 12, as root or with sudo.
#
# Usage: scripts/run.sh [start|stop|foreground] [MOB-AGENT FLAGS...]
#   start       (default) build, start the agent in the background, wait until it answers
#   stop        SIGTERM the agent in the pid file and wait until it has exited
#   foreground  build, then run the agent in this terminal (Ctrl-C stops it)
# Extra arguments go to mob-agent, e.g. `scripts/run.sh start --log-level debug`.
#
# Environment: MOB_PORT (default 6666), MOB_DATA_DIR (default
# ${XDG_STATE_HOME:-~/.local/state}/mob/agent-PORT), MOB_BUILD_DIR (default build).
# The agent's pid goes to BUILD_DIR/agent-PORT.pid, its log to BUILD_DIR/agent-PORT.log.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly START_TIMEOUT_S=10
readonly STOP_TIMEOUT_S=60  # the agent stops every service first, each within its stop_timeout_s

action=${1:-start}
(( $# )) && shift
port=${MOB_PORT:-6666}
build_dir=$(realpath -m "${MOB_BUILD_DIR:-build}")  # absolute: printed in the hints below
data_dir=${MOB_DATA_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/mob/agent-$port}
pid_file=$build_dir/agent-$port.pid
log_file=$build_dir/agent-$port.log
agent=$build_dir/bin/mob-agent
tool=$build_dir/bin/mob-tool

say() { echo "run.sh: $*"; }
die() { echo "run.sh: $*" >&2; exit 1; }

[[ $port =~ ^[0-9]+$ ]] && (( port >= 1 && port <= 65534 )) \
  || die "MOB_PORT must be a port from 1 to 65534 (the agent also uses PORT+1), got '$port'"

# The pid in the pid file, if that process is still this port's mob-agent; else nothing.
running_pid() {
  [[ -f $pid_file ]] || return 0
  local pid command_line
  pid=$(<"$pid_file")
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 0
  command_line=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 0
  [[ $command_line == *mob-agent*" -p $port "* ]] || return 0
  echo "$pid"
}

build() {
  scripts/install-deps.sh
  say "building Release into $build_dir/"
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build_dir" -j"$(nproc)" --target mob-agent mob-tool
}

# Something already listening on PORT would answer our readiness check in the agent's place.
check_ports_free() {
  local p
  for p in "$port" $((port + 1)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      die "port $p is in use (another program, or a mob-agent not started with this pid file); choose another with MOB_PORT"
    fi
  done
}

providers() {
  if [[ -n ${DOCKER_HOST:-} || -S /var/run/docker.sock ]]; then echo bash,docker; else echo bash; fi
}

# The environment this run was given, for the commands it suggests.
again() { echo "${MOB_PORT:+MOB_PORT=$port }${MOB_BUILD_DIR:+MOB_BUILD_DIR=$build_dir }scripts/run.sh $1"; }

# How mob-tool reaches this agent: nothing for the default port, else -p PORT.
tool_port() { (( port == 6666 )) || echo " -p $port"; }

next_steps() {
  local p
  p=$(tool_port)
  cat <<EOF

Next:
  export PATH=$build_dir/bin:\$PATH
  mob-tool$p deploy examples/echoes.json
  mob-tool$p status
  mob-tool$p logs echoes
Agent log: $log_file    data: $data_dir
Stop it:   $(again stop)
EOF
}

start() {
  local pid
  pid=$(running_pid)
  if [[ -n $pid ]]; then
    say "mob-agent already runs on port $port (pid $pid, from $pid_file); not starting another"
    next_steps
    return 0
  fi
  check_ports_free
  build
  mkdir -p "$build_dir"
  local provider_list
  provider_list=$(providers)
  say "starting mob-agent -p $port -P $provider_list --data-dir $data_dir"
  # Not a process-group leader (no job control here), so setsid runs the agent in this pid.
  setsid "$agent" -p "$port" -P "$provider_list" --data-dir "$data_dir" "$@" \
    >>"$log_file" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pid_file"

  local deadline=$((SECONDS + START_TIMEOUT_S))
  until "$tool" -p "$port" --timeout 500 version >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pid_file"
      echo "run.sh: mob-agent exited at start; the end of $log_file:" >&2
      tail -n 5 "$log_file" >&2
      exit 1
    fi
    if (( SECONDS >= deadline )); then
      die "mob-agent (pid $pid) does not answer on port $port after ${START_TIMEOUT_S} s; see $log_file, stop it with: $(again stop)"
    fi
    sleep 0.2
  done
  kill -0 "$pid" 2>/dev/null || die "mob-agent exited right after it started; see $log_file"
  say "mob-agent runs: pid $pid, port $port, providers $provider_list"
  next_steps
}

stop() {
  local pid
  pid=$(running_pid)
  if [[ -z $pid ]]; then
    rm -f "$pid_file"
    say "no mob-agent runs from $pid_file"
    return 0
  fi
  say "stopping mob-agent (pid $pid); it stops its services first"
  kill -TERM "$pid"
  local deadline=$((SECONDS + STOP_TIMEOUT_S))
  while kill -0 "$pid" 2>/dev/null; do
    (( SECONDS < deadline )) \
      || die "mob-agent (pid $pid) is still stopping after ${STOP_TIMEOUT_S} s; see $log_file"
    sleep 0.2
  done
  rm -f "$pid_file"
  say "stopped"
}

foreground() {
  local pid
  pid=$(running_pid)
  [[ -z $pid ]] || die "mob-agent already runs on port $port (pid $pid); stop it first: $(again stop)"
  check_ports_free
  build
  local provider_list
  provider_list=$(providers)
  echo "$$" >"$pid_file"  # exec keeps this pid, so `scripts/run.sh stop` works from elsewhere
  say "running mob-agent -p $port -P $provider_list --data-dir $data_dir (Ctrl-C stops it)"
  exec "$agent" -p "$port" -P "$provider_list" --data-dir "$data_dir" "$@"
}

case "$action" in
  start) start "$@" ;;
  stop) stop ;;
  foreground) foreground "$@" ;;
  -h|--help|help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "usage: scripts/run.sh [start|stop|foreground] [MOB-AGENT FLAGS...]" >&2; exit 2 ;;
esac
