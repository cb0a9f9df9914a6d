#!/bin/sh
# meminfo in a container with memory.swap.max 32M that really swaps (48 MiB
# of tmpfs under memory.max 32M): SwapTotal is 32768 kB and SwapFree is
# SwapTotal minus memory.swap.current.
. /guest/lib.sh

cg_create swap_limited memory.max=32M memory.swap.max=32M
ct_run swap_limited "
    mkdir $W/shm && mount -t tmpfs tmpfs $W/shm &&
    dd if=/dev/zero of=$W/shm/fill bs=1M count=48 2>/dev/null &&
    cat $CGROOT/swap_limited/memory.swap.current >$W/before &&
    cat $M/proc/meminfo >$W/meminfo &&
    cat $CGROOT/swap_limited/memory.swap.current >$W/after
" || fail "filling the tmpfs or reading $M/proc/meminfo in the container failed"
show meminfo "$W/meminfo"
before=$(cat "$W/before")
after=$(cat "$W/after")
[ "$before" -ge 8388608 ] || setup_fail "memory.swap.current is $before bytes, expected >= 8 MiB swapped"

total=$(meminfo_get "$W/meminfo" SwapTotal)
free=$(meminfo_get "$W/meminfo" SwapFree)
expect_eq "SwapTotal (kB) for memory.swap.max 32M" 32768 "$total"
expect_uint SwapFree "$free"
lo=$((total - after / 1024 - 256))
hi=$((total - before / 1024 + 256))
if [ "$free" -lt $lo ] || [ "$free" -gt $hi ]; then
    problem "SwapFree: expected SwapTotal - memory.swap.current/1024 in [$lo, $hi] kB (memory.swap.current $before..$after bytes), got $free"
fi
