#!/usr/bin/env bash
# Makes a man page from a program's --help and --version with help2man, so that the page and
# --help never disagree (run at build time). With --commands, each command's own --help
# (`PROGRAM COMMAND --help`, for the commands --help lists) becomes a section COMMANDS.
# Usage: man-page.sh PROGRAM SECTION "one-line description" OUT [--commands]
set -euo pipefail
program=$1 section=$2 description=$3 out=$4 with_commands=${5:-}
include=$(mktemp)
trap 'rm -f "$include"' EXIT
cat > "$include" <<'TEXT'
[SEE ALSO]
mob-agent(8), mob-tool(1), and /usr/share/doc/mob/ (operations.md: the package, the config
file and the systemd unit).
TEXT
if [[ $with_commands == --commands ]]; then
  # The commands are the lines of the "commands:" block of --help: "  NAME ARGS  summary".
  mapfile -t commands < <("$program" --help | sed -n '/^commands:/,/^$/{/^  [a-z]/s/^  \([a-z-]*\).*/\1/p}')
  {
    echo "[COMMANDS]"
    for command in "${commands[@]}"; do
      echo ".SS $command"
      echo ".nf"
      # troff reads a line that starts with . or ' as a request: \& in front makes it text.
      "$program" "$command" --help | sed "s/\\\\/\\\\\\\\/g; s/^\\([.']\\)/\\\\\\&\\1/"
      echo ".fi"
    done
  } >> "$include"
fi
help2man --no-info --section="$section" --name="$description" --include="$include" \
         --output="$out.tmp" "$program"
mv "$out.tmp" "$out"
