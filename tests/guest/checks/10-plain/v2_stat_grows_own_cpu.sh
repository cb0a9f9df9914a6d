#!/bin/sh
# /proc/stat CPU time follows the container: user+system of the "cpu " line
# grow by ~100 ticks (USER_HZ 100) across a 1 s busy loop in the container.
. /guest/lib.sh

cg_create stat_own
ct_run stat_own "
    cat $CGROOT/stat_own/cpu.stat >$W/cpu.stat.before &&
    cat $M/proc/stat >$W/stat.before &&
    timeout 1 sh -c 'while :; do :; done'
    cat $M/proc/stat >$W/stat.after &&
    cat $CGROOT/stat_own/cpu.stat >$W/cpu.stat.after
" || fail "reading $M/proc/stat in the container failed"
show "stat before" "$W/stat.before"
show "stat after" "$W/stat.after"
used=$(($(awk '$1 == "usage_usec" { print $2 }' "$W/cpu.stat.after") - \
    $(awk '$1 == "usage_usec" { print $2 }' "$W/cpu.stat.before")))
[ $used -ge 500000 ] || setup_fail "the busy loop used only $used us of CPU"

a=$(awk '$1 == "cpu" { print $2 + $4 }' "$W/stat.before")
b=$(awk '$1 == "cpu" { print $2 + $4 }' "$W/stat.after")
expect_uint "user+system before" "$a"
expect_uint "user+system after" "$b"
d=$((b - a))
if [ $d -lt 50 ] || [ $d -gt 150 ]; then
    fail "user+system of 'cpu ' grew by $d ticks across a 1 s busy loop in the container (cgroup used $((used / 10000)) ticks), expected 50..150"
fi
