#!/usr/bin/env bash
# Fault: a 1|3 partition ({2} | {3,4,5}) held until each side lists the other as failed,
# then healed. Same assertions as partition_2_2.sh: one view of four alive members, exactly
# 1 and 3 real processes, one spec everywhere, and a deploy through the lone agent after the
# heal reaches the others.
# Usage: partition_1_3.sh MOB_AGENT MOB_TOOL   (as root)
source "$(dirname "$0")/lib.sh"
fault_init "$@"
source "$(dirname "$0")/partition_common.sh"
partition_scenario "2" "3 4 5"
