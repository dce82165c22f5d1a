#!/usr/bin/env bash
# The Debian packages end to end, as root: build them (scripts/package.sh on this build dir),
# dpkg -i, run the installed mob-agent as the unit runs it (its ExecStart and Environment, as
# user mob; no systemd needed) with a test config on a free loopback port, deploy a bash
# service through the installed mob-tool and count its processes, build a program against
# mob-dev with pkg-config, render the man pages, verify the unit, load the completion, then
# dpkg -r (only the data dir and the conffile stay) and dpkg -P (only the data dir stays).
# Leaves nothing installed or running: the agent is ended by its pid, what this test made
# (user mob, /var/lib/mob) is removed when it did not exist before.
# Usage: package_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
source_dir=$1 build_dir=$2
started=$(date +%s%N)
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { local ms=$(( ($(date +%s%N) - started) / 1000000 )); printf '== %s (at %d.%03d s)\n' "$*" $((ms / 1000)) $((ms % 1000)); }

[[ $(id -u) -eq 0 ]] || fail "needs root (dpkg -i); run it as root, as scripts/test.sh does in CI"
for package in mob mob-dev; do
  if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "installed"; then
    fail "package $package is already installed here; this test installs and removes it: remove it first (dpkg -P $package)"
  fi
done
user_existed=no; getent passwd mob >/dev/null && user_existed=yes
state_existed=no; [[ -e /var/lib/mob ]] && state_existed=yes

work=$(mktemp -d /tmp/mob-package-XXXXXX)
chmod 0755 "$work"
agent_pid=
data=  # the agent's data dir: the unit's default, /var/lib/mob/agent-PORT
cleanup() {
  local status=$?
  if [[ -n $agent_pid ]] && kill -0 "$agent_pid" 2>/dev/null; then
    kill -KILL -- "-$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  # Services the agent started carry its id; end any it left behind (by pid).
  if [[ -n $data && -f $data/agent-id ]]; then
    for pid in $(grep -lsz "MOB_AGENT_ID=$(cat "$data/agent-id")" /proc/[0-9]*/environ | cut -d/ -f3); do
      kill -KILL "$pid" 2>/dev/null || true
    done
  fi
  dpkg -P mob-dev mob >/dev/null 2>&1 || true
  [[ -n $data ]] && rm -rf "$data"
  [[ $state_existed == no ]] && rm -rf /var/lib/mob
  [[ $user_existed == no ]] && getent passwd mob >/dev/null && { deluser --quiet mob >/dev/null 2>&1 || true; }
  [[ $user_existed == no ]] && getent group mob >/dev/null && { delgroup --quiet mob >/dev/null 2>&1 || true; }
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT

step "build the packages"
mapfile -t debs < <("$source_dir/scripts/package.sh" "$build_dir" 2>"$work/package.log") \
  || { tail -30 "$work/package.log" >&2; fail "scripts/package.sh failed"; }
(( ${#debs[@]} == 2 )) || fail "expected 2 packages (mob, mob-dev), got: ${debs[*]}"
for deb in "${debs[@]}"; do printf '   %s: %d KiB\n' "$(basename "$deb")" $(( $(stat -c %s "$deb") / 1024 )); done

step "dpkg -i"
dpkg -i "${debs[@]}" > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i failed"; }
dpkg -L mob mob-dev | sort -u > "$work/installed"
for file in /usr/bin/mob-agent /usr/bin/mob-tool /usr/lib/mob/mob-provider-docker.so \
            /lib/systemd/system/mob-agent.service /etc/mob/agent.conf /usr/share/man/man8/mob-agent.8.gz \
            /usr/share/man/man1/mob-tool.1.gz /usr/share/bash-completion/completions/mob-tool \
            /usr/include/mob/tools/client.hpp /usr/lib/x86_64-linux-gnu/pkgconfig/mob-client.pc; do
  [[ -e $file ]] || fail "$file is not installed"
done
dpkg-query -W -f='${Conffiles}\n' mob | grep -q "/etc/mob/agent.conf" || fail "/etc/mob/agent.conf is not a conffile"
getent passwd mob >/dev/null || fail "postinst did not make the user mob"
[[ $(stat -c %U /var/lib/mob) == mob ]] || fail "/var/lib/mob is not owned by mob"
grep -q "^#" /etc/mob/agent.conf && ! grep -qv '^\(#.*\)\?$' /etc/mob/agent.conf \
  || fail "the default /etc/mob/agent.conf must hold only comments: $(grep -v '^\(#.*\)\?$' /etc/mob/agent.conf | head -3)"

step "man pages"
for page in /usr/share/man/man8/mob-agent.8.gz /usr/share/man/man1/mob-tool.1.gz; do
  rendered=$(MANWIDTH=200 man -l "$page" 2>"$work/man.err") || fail "man -l $page: $(cat "$work/man.err")"
  [[ -s $work/man.err ]] && fail "man -l $page warns: $(cat "$work/man.err")"
  program=$(basename "${page%%.[18]*}")
  # Every long flag of --help is in the page (made from --help at build time).
  for flag in $("/usr/bin/$program" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    grep -qF -- "$flag" <<< "$rendered" || fail "man page of $program lacks $flag"
  done
done
rendered=$(MANWIDTH=200 man -l /usr/share/man/man1/mob-tool.1.gz)
grep -q -- "--wait-timeout" <<< "$rendered" || fail "mob-tool(1) lacks the commands' own options (deploy --wait-timeout)"

step "systemd unit"
unit=/lib/systemd/system/mob-agent.service
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit" > "$work/verify.log" 2>&1 || { cat "$work/verify.log" >&2; fail "systemd-analyze verify $unit"; }
  # Warnings about this unit (not about other units of the machine) fail the test.
  if grep -i "mob-agent.service" "$work/verify.log"; then fail "systemd-analyze verify warns about the unit"; fi
else
  echo "   systemd-analyze not installed: unit not verified"
fi

step "bash completion"
completion=$(bash -c 'source /usr/share/bash-completion/completions/mob-tool; complete -p mob-tool')
[[ $completion == "complete -F _mob_tool mob-tool" ]] || fail "completion not loaded: $completion"
[[ $(/usr/bin/mob-tool completion bash) == "$(cat /usr/share/bash-completion/completions/mob-tool)" ]] \
  || fail "the installed completion differs from mob-tool completion bash"

step "the installed agent, run as the unit runs it"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
mapfile -t environment < <(sed -n 's/^Environment=//p' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
[[ -n $exec_start && $user == mob ]] || fail "the unit has no ExecStart or does not run as mob"
port=
# Below the kernel's ephemeral range (32768 and up: another test's outgoing connection may
# hold any port there) and above the C++ tests' range (20000-29999), and free in any state.
for candidate in $(shuf -i 30000-32700 -n 50); do
  if ! ss -Htan "sport = :$candidate or sport = :$((candidate + 1))" | grep -q .; then port=$candidate; break; fi
done
[[ -n $port ]] || fail "no free port pair on loopback"
data=/var/lib/mob/agent-$port
[[ ! -e $data ]] || fail "$data exists already"
cat > "$work/agent.conf" <<CONF
# the package test's agent; its data dir is the unit's default (XDG_STATE_HOME=/var/lib)
port = $port
bind = 127.0.0.1
providers = bash
name = package-test
log-format = json
tag = test=package
CONF
/usr/bin/mob-agent --config "$work/agent.conf" --print-config > "$work/printed.conf"
grep -qx "port = $port" "$work/printed.conf" || fail "--print-config does not show the config's port"
# A process group of its own (setsid), the unit's environment, and user mob (setpriv execs:
# the pid is the agent's).
# shellcheck disable=SC2086
setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/var/lib/mob "${environment[@]}" \
  setpriv --reuid=mob --regid=mob --init-groups $exec_start --config "$work/agent.conf" \
  > "$work/agent.log" 2>&1 &
agent_pid=$!
tool() { /usr/bin/mob-tool -p "$port" "$@"; }
for _ in $(seq 100); do
  tool --timeout 200 version >/dev/null 2>&1 && break
  kill -0 "$agent_pid" 2>/dev/null || { cat "$work/agent.log" >&2; fail "the installed agent exited"; }
done
tool version | grep -q "agent package-test" || { cat "$work/agent.log" >&2; fail "the installed agent does not answer"; }
[[ $(stat -c %U "/proc/$agent_pid") == mob ]] || fail "the agent does not run as mob"
head -1 "$work/agent.log" | python3 -c 'import json,sys; line=json.loads(sys.stdin.readline()); assert {"time","level","component","message"} <= line.keys(), line' \
  || fail "the agent's log is not JSON lines: $(head -2 "$work/agent.log")"

cat > "$work/sleepers.json" <<'SPEC'
{"name": "sleepers", "provider": "bash", "params": {"command": "exec sleep 1000"}, "instances": 2}
SPEC
tool deploy "$work/sleepers.json" > "$work/deploy.log" 2>&1 || { cat "$work/deploy.log" "$work/agent.log" >&2; fail "deploy through the installed mob-tool"; }
[[ -f $data/state.db && $(stat -c %U "$data") == mob ]] || fail "the agent's data is not in $data, owned by mob"
agent_id=$(cat "$data/agent-id")
count_services() { grep -lsz "MOB_AGENT_ID=$agent_id" /proc/[0-9]*/environ | cut -d/ -f3 | while read -r pid; do
                     [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */sleep ]] && echo "$pid"; done | wc -l; }
[[ $(count_services) == 2 ]] || fail "expected 2 sleep processes of the service, found $(count_services)"
tool members | grep -q "test=package" || fail "the config's tag is not on the member"

step "a program built against mob-dev"
cat > "$work/client.cpp" <<'CPP'
#include <iostream>
#include "tools/client.hpp"
int main(int argc, char** argv) {
  auto client = mob::Client::connect(argv[1], {});
  if (!client) { std::cerr << client.error().message << "\n"; return 1; }
  auto status = client->status();
  if (!status) { std::cerr << status.error().message << "\n"; return 1; }
  for (const auto& service : status->services) std::cout << service.name << "\n";
  return argc == 2 ? 0 : 1;
}
CPP
# shellcheck disable=SC2046
g++ -o "$work/client" "$work/client.cpp" $(pkg-config --cflags --libs mob-client) 2> "$work/cc.log" \
  || { cat "$work/cc.log" >&2; fail "cannot build a program with pkg-config mob-client"; }
[[ $("$work/client" "127.0.0.1:$port") == sleepers ]] || fail "the mob-dev program does not list the service"

step "stop the agent"
kill -TERM "$agent_pid"
timeout 20 tail --pid="$agent_pid" -s 0.05 -f /dev/null || fail "the agent did not stop within 20 s of SIGTERM"
wait "$agent_pid" || fail "the agent exited with status $?: $(tail -5 "$work/agent.log")"
agent_pid=
[[ $(count_services) == 0 ]] || fail "the agent left $(count_services) service processes running"

step "dpkg -r"
dpkg -r mob-dev mob > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -r failed"; }
while read -r path; do
  [[ -d $path || ! -e $path ]] && continue
  [[ $path == /etc/mob/agent.conf ]] && continue  # a conffile: dpkg keeps it until purge
  fail "$path is left after dpkg -r"
done < "$work/installed"
[[ -f /etc/mob/agent.conf ]] || fail "dpkg -r removed the conffile (it keeps it until purge)"
[[ -f $data/state.db ]] || fail "dpkg -r removed the data dir $data"
for dir in /usr/lib/mob /usr/include/mob /usr/share/doc/mob; do [[ ! -e $dir ]] || fail "$dir is left after dpkg -r"; done

step "dpkg -P"
dpkg -P mob-dev mob > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -P failed"; }
[[ ! -e /etc/mob ]] || fail "/etc/mob is left after purge: $(ls -A /etc/mob)"
[[ -f $data/state.db ]] || fail "purge removed the data dir $data"
step "passed"
