#!/bin/sh
# cpuinfo in containers limited by cpuset.cpus: with "0" exactly one block
# "processor : 0"; with "1" also exactly one block, renumbered to 0.
. /guest/lib.sh

for cpu in 0 1; do
    cg_create cpuinfo_$cpu cpuset.cpus=$cpu
    ct_run cpuinfo_$cpu "cat $M/proc/cpuinfo" >"$W/cpuinfo$cpu" ||
        fail "reading $M/proc/cpuinfo in the container failed"
    show "cpuinfo with cpuset.cpus $cpu" "$W/cpuinfo$cpu"
    expect_eq "processor lines with cpuset.cpus $cpu" 1 "$(grep -c '^processor' "$W/cpuinfo$cpu")"
    expect_eq "processor line with cpuset.cpus $cpu" "processor${TAB}: 0" \
        "$(grep '^processor' "$W/cpuinfo$cpu")"
    grep -q '^model name' "$W/cpuinfo$cpu" ||
        problem "cpuinfo with cpuset.cpus $cpu has no 'model name' line (block content lost)"
done
