#!/bin/sh
# /sys/devices/system/cpu/online in a container with cpuset.cpus 0 is "0".
. /guest/lib.sh

cg_create online_cpuset cpuset.cpus=0
ct_run online_cpuset "cat $M/sys/devices/system/cpu/online" >"$W/online" ||
    fail "reading $M/sys/devices/system/cpu/online in the container failed"
expect_eq "online with cpuset.cpus 0" "0" "$(cat "$W/online")"
