#!/usr/bin/env bash
# Builds the Debian packages with CPack: mob_VERSION_ARCH.deb (mob-agent, mob-tool, the docker
# plugin, the systemd unit, /etc/mob/agent.conf, man pages, bash completion) and
# mob-dev_VERSION_ARCH.deb (the mob_client headers and libraries, mob-client.pc).
# Usage: scripts/package.sh [BUILD_DIR]   (default build-package, a Release build; an
# existing build dir, e.g. a test's, is packaged as it is configured). The .deb files are
# left in BUILD_DIR and their paths printed, one per line, on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
build_dir=$(realpath -m "${1:-build-package}")
if [[ ! -f $build_dir/CMakeCache.txt ]]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DMOB_BUILD_TESTS=OFF >&2
fi
cmake --build "$build_dir" -j"$(nproc)" >&2
for page in mob-agent.8.gz mob-tool.1.gz; do
  [[ -f $build_dir/share/man/$page ]] || {
    echo "scripts/package.sh: $build_dir/share/man/$page is missing: install help2man (scripts/install-deps.sh) and reconfigure" >&2
    exit 1
  }
done
rm -f "$build_dir"/mob*.deb
(cd "$build_dir" && cpack -G DEB >&2)
ls "$build_dir"/mob*.deb
