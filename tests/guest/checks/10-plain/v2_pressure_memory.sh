#!/bin/sh
# /proc/pressure/memory in a container is its cgroup's memory.pressure, not
# the host's (made non-zero first by a cgroup swapping under memory.max).
. /guest/lib.sh
. /guest/checks/10-plain/pressure.inc

cg_create pressure_memory_hog memory.max=16M
ct_run pressure_memory_hog "
    mkdir $W/shm && mount -t tmpfs tmpfs $W/shm &&
    dd if=/dev/zero of=$W/shm/fill bs=1M count=40 2>/dev/null && cat $W/shm/fill >/dev/null
" || setup_fail "the swapping cgroup failed"
pressure_check memory
