#!/usr/bin/env bash
# Fault: a symmetric 2|2 partition ({2,3} | {4,5}) held until each side lists the other as
# failed, then healed. Asserts the network becomes one by itself within 15 s (target 5 s):
# every agent lists all four alive, exactly 1 and 3 real processes, one spec everywhere, and
# a deploy through one side after the heal reaches the other.
# Usage: partition_2_2.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"
source "$(dirname "$0")/partition_common.sh"
partition_scenario "2 3" "4 5"
