#!/bin/sh
# meminfo in a container whose cgroup has memory.max 256M: MemTotal is the
# limit (262144 kB) and MemFree is the limit minus memory.current. A process
# of the guest's own pid namespace in that cgroup sees the same MemTotal.
. /guest/lib.sh

cg_create meminfo_limit memory.max=256M
# Bracket the lxcfs read with two reads of memory.current, from inside so the
# reader processes are counted.
ct_run meminfo_limit "
    cat $CGROOT/meminfo_limit/memory.current >$W/before &&
    cat $M/proc/meminfo >$W/meminfo &&
    cat $CGROOT/meminfo_limit/memory.current >$W/after
" || fail "reading $M/proc/meminfo in the container failed"
show meminfo "$W/meminfo"
before=$(cat "$W/before")
after=$(cat "$W/after")

total=$(meminfo_get "$W/meminfo" MemTotal)
free=$(meminfo_get "$W/meminfo" MemFree)
expect_eq "MemTotal (kB) for memory.max 256M" 262144 "$total"
expect_uint MemFree "$free"
# MemFree = MemTotal - memory.current/1024, within 1 MiB of the bracket.
lo=$((total - after / 1024 - 1024))
hi=$((total - before / 1024 + 1024))
if [ "$free" -lt $lo ] || [ "$free" -gt $hi ]; then
    problem "MemFree: expected MemTotal - memory.current/1024 in [$lo, $hi] kB (memory.current $before..$after bytes), got $free"
fi

# A reader in the initial pid namespace is judged by its own cgroup.
# shellcheck disable=SC2016 # $$ expands in the inner shell
sh -c 'echo $$ >"$1/cgroup.procs" && exec cat "$2"' sh "$CGROOT/meminfo_limit" "$M/proc/meminfo" \
    >"$W/meminfo.host" || fail "reading $M/proc/meminfo from the cgroup in the initial pid namespace failed"
expect_eq "MemTotal (kB) for a reader in the initial pid namespace in the 256M cgroup" 262144 \
    "$(meminfo_get "$W/meminfo.host" MemTotal)"
