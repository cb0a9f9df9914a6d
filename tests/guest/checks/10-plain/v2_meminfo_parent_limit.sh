#!/bin/sh
# meminfo in a container whose cgroup allows 512M under a parent limited to
# 128M: MemTotal is the smaller ancestor limit (131072 kB).
. /guest/lib.sh

cg_create meminfo_parent memory.max=128M cgroup.subtree_control=+memory
cg_create meminfo_parent/child memory.max=512M
ct_run meminfo_parent/child "cat $M/proc/meminfo" >"$W/meminfo" ||
    fail "reading $M/proc/meminfo in the container failed"
show meminfo "$W/meminfo"
expect_eq "MemTotal (kB) for memory.max 512M under a 128M parent" 131072 \
    "$(meminfo_get "$W/meminfo" MemTotal)"
