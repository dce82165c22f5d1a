#!/usr/bin/env bash
# Starts, stops or describes a Docker-Engine-API-compatible container engine on a Unix
# socket in DIR, for the docker provider's tests on machines without a Docker daemon.
#
#   eval "$(scripts/container-engine.sh start /tmp/mob-engine)"   # exports DOCKER_HOST
#   scripts/container-engine.sh env /tmp/mob-engine                # the same exports again
#   scripts/container-engine.sh stop /tmp/mob-engine
#
# It runs podman's Docker-compatible API service (`podman system service`) as root, with
# runc, cgroupfs, no RLIMIT changes and no container network: what sandboxed machines
# allow. Containers and images live in DIR/storage, so engines in different DIRs never see
# each other's containers and `stop` can remove everything its engine left. A tiny image,
# localhost/mob-busybox:latest, is made from Debian's busybox-static; no registry is needed.
# Missing packages (podman runc busybox-static curl) are installed with apt-get.
#
# DIR holds: containers.conf, engine.sock, engine.pid, engine.log, lock, storage/, run/.
set -euo pipefail

IMAGE="localhost/mob-busybox:latest"
START_TIMEOUT_S=30
STOP_TIMEOUT_S=15

log() { echo "container-engine: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  echo "usage: $0 start DIR | stop DIR | env DIR" >&2
  exit 2
}

[ $# -eq 2 ] || usage
ACTION="$1"
case "$ACTION" in
  start) mkdir -p "$2" ;;
  stop) [ -d "$2" ] || exit 0 ;;
  env) [ -d "$2" ] || die "no engine in $2; start one: $0 start $2" ;;
  *) usage ;;
esac
DIR="$(cd "$2" && pwd)"
SOCK="$DIR/engine.sock"
PIDFILE="$DIR/engine.pid"
CONF="$DIR/containers.conf"
STORAGE="$DIR/storage"
RUNROOT="$DIR/run"
export CONTAINERS_CONF="$CONF"

# podman with this DIR's storage; every podman call goes through it.
dpodman() { podman --root "$STORAGE" --runroot "$RUNROOT" "$@"; }

install_missing_packages() {
  local need=()
  command -v podman >/dev/null 2>&1 || need+=(podman)
  command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || need+=(runc)
  # The image needs a statically linked busybox; the `busybox` package's is dynamic.
  dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
    need+=(busybox-static)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  [ ${#need[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing ${need[*]}; run as root or install them first"
  log "installing ${need[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

write_conf() {
  # crun fails on hybrid cgroups here, and setting RLIMIT_NPROC is not permitted.
  cat >"$CONF" <<CONF
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$RUNROOT/libpod"
[containers]
default_ulimits = []
pids_limit = 0
netns = "none"
CONF
}

# Our engine's pid, if the pid file names a live `podman system service` on our socket.
engine_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid cmdline
  pid="$(cat "$PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"system service"*"unix://$SOCK"* ]] || return 1
  echo "$pid"
}

answers() { curl -sf --max-time 2 --unix-socket "$SOCK" http://d/_ping 2>/dev/null | grep -q OK; }

wait_until_answers() {
  local deadline=$((SECONDS + START_TIMEOUT_S))
  while ! answers; do
    engine_pid >/dev/null || die "the engine exited while starting; see $DIR/engine.log"
    [ $SECONDS -lt $deadline ] ||
      die "the engine did not answer within ${START_TIMEOUT_S}s; see $DIR/engine.log"
    sleep 0.1
  done
}

make_image() {
  dpodman image exists "$IMAGE" 2>/dev/null && return 0
  local root
  root="$(mktemp -d)"
  mkdir -p "$root/bin" "$root/proc" "$root/dev" "$root/sys" "$root/tmp" "$root/etc"
  cp /bin/busybox "$root/bin/busybox"
  local applet
  for applet in sh echo sleep cat ls env true false printf date hostname kill ps wc \
                head tail grep sed yes id; do
    ln -sf busybox "$root/bin/$applet"
  done
  tar -C "$root" -cf "$DIR/busybox.tar" .
  rm -rf "$root"
  dpodman import -q --change 'CMD ["/bin/sh"]' "$DIR/busybox.tar" "$IMAGE" >/dev/null
  rm -f "$DIR/busybox.tar"
}

print_env() {
  echo "export DOCKER_HOST=unix://$SOCK"
  echo "export CONTAINERS_CONF=$CONF"
}

start() {
  install_missing_packages
  if engine_pid >/dev/null; then
    wait_until_answers
    print_env
    return 0
  fi
  write_conf
  mkdir -p "$STORAGE" "$RUNROOT"
  make_image
  rm -f "$SOCK"
  # setsid: the engine leads its own process group, so `stop` can end all of it.
  setsid podman --root "$STORAGE" --runroot "$RUNROOT" system service --time=0 \
    "unix://$SOCK" >"$DIR/engine.log" 2>&1 </dev/null 9>&- &
  echo $! >"$PIDFILE"
  wait_until_answers
  print_env
}

remove_containers() {
  if answers; then
    local id
    for id in $(curl -sf --max-time 10 --unix-socket "$SOCK" \
                  'http://d/v1.41/containers/json?all=1' | grep -o '"Id":"[0-9a-f]*"' |
                  cut -d'"' -f4); do
      curl -sf --max-time 30 -X DELETE --unix-socket "$SOCK" \
        "http://d/v1.41/containers/$id?force=1" >/dev/null || true
    done
  elif [ -d "$STORAGE" ] && command -v podman >/dev/null 2>&1; then
    dpodman rm -af -t 0 >/dev/null 2>&1 || true
  fi
}

# The engine's conmon monitors (one per container and per exec session) detach into their
# own sessions, so stopping the engine's process group leaves them (an exec session's waits
# 300 s). They are this engine's own: their command lines name this DIR's run root or
# storage, which no other engine shares.
stop_leftover_monitors() {
  local cmdline pid pids=()
  for cmdline in /proc/[0-9]*/cmdline; do
    pid=${cmdline#/proc/}; pid=${pid%/cmdline}
    [ "$pid" != "$$" ] || continue
    tr '\0' ' ' <"$cmdline" 2>/dev/null | grep -qF -e "$RUNROOT/" -e "$STORAGE/" && pids+=("$pid")
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  log "stopping ${#pids[@]} leftover monitor(s) of this engine: ${pids[*]}"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + 5))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

stop() {
  remove_containers
  local pid
  if pid="$(engine_pid)"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "engine $pid ignored SIGTERM for ${STOP_TIMEOUT_S}s; killing it"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PIDFILE" "$SOCK"
  stop_leftover_monitors
  # The overlay driver bind-mounts its own directory; without this DIR cannot be deleted.
  if mountpoint -q "$STORAGE/overlay" 2>/dev/null; then umount "$STORAGE/overlay" || true; fi
}

env_of_running() {
  engine_pid >/dev/null && answers ||
    die "no engine answers at $SOCK; start one: $0 start $DIR"
  print_env
}

# One start or stop at a time per DIR (parallel test runs may all call start).
exec 9>"$DIR/lock"
flock 9

case "$ACTION" in
  start) start ;;
  stop) stop ;;
  env) env_of_running ;;
esac
