#!/bin/sh
# /proc/stat CPU time ignores other cgroups: while two busy loops run in
# another cgroup for ~1.5 s, user+system of an idle container's "cpu " line
# grow by less than 20 ticks.
. /guest/lib.sh

cg_create stat_busy
cg_create stat_idle
ct_start stat_busy "
    timeout 2 sh -c 'while :; do :; done' &
    timeout 2 sh -c 'while :; do :; done' &
    wait
"
ct_run stat_idle "
    cat $M/proc/stat >$W/stat.before &&
    sleep 1.5 &&
    cat $M/proc/stat >$W/stat.after
" || fail "reading $M/proc/stat in the container failed"
wait "$CT_PID"
show "stat before" "$W/stat.before"
show "stat after" "$W/stat.after"
busy=$(cg_key stat_busy cpu.stat usage_usec)
[ "$busy" -ge 1000000 ] || setup_fail "the other cgroup used only $busy us of CPU"

a=$(awk '$1 == "cpu" { print $2 + $4 }' "$W/stat.before")
b=$(awk '$1 == "cpu" { print $2 + $4 }' "$W/stat.after")
expect_uint "user+system before" "$a"
expect_uint "user+system after" "$b"
d=$((b - a))
[ $d -lt 20 ] ||
    fail "user+system of an idle container's 'cpu ' grew by $d ticks while another cgroup burned $((busy / 10000)) ticks, expected < 20"
