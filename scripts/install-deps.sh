#!/usr/bin/env bash
# Installs the Debian packages Mob needs to build and test (only those missing).
# Usage: scripts/install-deps.sh [--bench] [--fuzz]   (--bench adds serf, supervisor, Google
# Benchmark, gnuplot for the cost curve; --fuzz adds clang 16 and its libFuzzer runtime)
set -euo pipefail

packages=(g++ cmake make ninja-build pkg-config git
          libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libboost-program-options-dev
          nlohmann-json3-dev libcurl4-openssl-dev libsqlite3-dev libgtest-dev libgmock-dev
          podman runc busybox-static curl procps iproute2 iptables util-linux
          lld  # Debug builds link with it, 5 times faster than GNU ld
          python3 faketime  # tests/faults (python3 reads --json, faketime skews a clock)
          e2fsprogs  # tests/faults/disk_readonly.sh, retried_deploy.sh: mkfs.ext4 on a loop device
          libsystemd-dev  # sd_notify (agent/service_manager.cpp)
          libevent-dev  # the metrics endpoint's HTTP server, --metrics-addr (agent/metrics_http.cpp)
          # scripts/package.sh and tests/packaging: man pages, dpkg-shlibdeps, the unit's check
          help2man man-db groff-base dpkg-dev systemd
          # libzmq3-dev brings these too; MOB_STATIC_LINK links their archives by name
          libsodium-dev libpgm-dev libnorm-dev libkrb5-dev libbsd-dev)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(serf supervisor libbenchmark-dev gnuplot-nox)
fi
if [[ " $* " == *" --fuzz "* ]]; then
  packages+=(clang-16 libclang-rt-16-dev)  # libFuzzer and sanitizer runtimes: scripts/fuzz.sh
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if (( ${#missing[@]} == 0 )); then
  exit 0
fi
echo "installing: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
