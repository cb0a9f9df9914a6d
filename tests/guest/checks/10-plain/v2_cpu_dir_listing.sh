#!/bin/sh
# Listing /sys/devices/system/cpu in a container with cpuset.cpus 0: no name
# twice, and as many cpuN entries as the real directory has (no hiding).
. /guest/lib.sh

cg_create cpu_dir cpuset.cpus=0
ct_run cpu_dir "ls -a1 $M/sys/devices/system/cpu" >"$W/ls" ||
    fail "listing $M/sys/devices/system/cpu in the container failed"
show listing "$W/ls"
dups=$(sort "$W/ls" | uniq -d | tr '\n' ' ')
[ -z "$dups" ] || problem "names listed twice: $dups"
want=$(find /sys/devices/system/cpu -mindepth 1 -maxdepth 1 -name "cpu[0-9]*" | grep -c "/cpu[0-9][0-9]*$")
got=$(grep -c '^cpu[0-9][0-9]*$' "$W/ls")
expect_eq "number of cpuN entries (as in the real directory)" "$want" "$got"
for name in online possible present; do
    grep -qx "$name" "$W/ls" || problem "entry '$name' missing"
done
