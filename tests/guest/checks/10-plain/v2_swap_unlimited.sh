#!/bin/sh
# meminfo in a container with memory.swap.max "max": SwapTotal is the host's
# SwapTotal and SwapFree is that minus the container's own swap use, while
# another cgroup keeps 16+ MiB of the host's swap busy.
. /guest/lib.sh

host_total=$(meminfo_get /proc/meminfo SwapTotal)
[ "$host_total" -gt 0 ] || setup_fail "the guest has no swap"

# Another cgroup swaps so that the host's SwapFree differs from SwapTotal.
cg_create swap_hog memory.max=16M
ct_start swap_hog "
    mkdir $W/shm && mount -t tmpfs tmpfs $W/shm &&
    dd if=/dev/zero of=$W/shm/fill bs=1M count=32 2>/dev/null && touch $W/ready && sleep 600
"
i=0
while [ ! -e "$W/ready" ]; do
    i=$((i + 1))
    [ $i -le 300 ] || setup_fail "the swapping cgroup did not fill its tmpfs in 30 s"
    usleep 100000
done
hog=$(cg_read swap_hog memory.swap.current)
[ "$hog" -ge 8388608 ] || setup_fail "the swapping cgroup has $hog bytes in swap, expected >= 8 MiB"

cg_create swap_unlimited memory.max=256M memory.swap.max=max
ct_run swap_unlimited "
    cat $CGROOT/swap_unlimited/memory.swap.current >$W/before &&
    cat $M/proc/meminfo >$W/meminfo &&
    cat $CGROOT/swap_unlimited/memory.swap.current >$W/after
" || fail "reading $M/proc/meminfo in the container failed"
show meminfo "$W/meminfo"
note "host SwapFree $(meminfo_get /proc/meminfo SwapFree) kB"
before=$(cat "$W/before")
after=$(cat "$W/after")

total=$(meminfo_get "$W/meminfo" SwapTotal)
free=$(meminfo_get "$W/meminfo" SwapFree)
expect_eq "SwapTotal (kB) for memory.swap.max max (host SwapTotal)" "$host_total" "$total"
expect_uint SwapFree "$free"
lo=$((total - after / 1024 - 256))
hi=$((total - before / 1024 + 256))
if [ "$free" -lt $lo ] || [ "$free" -gt $hi ]; then
    problem "SwapFree: expected SwapTotal - own memory.swap.current/1024 in [$lo, $hi] kB, got $free (another cgroup uses $((hog / 1024)) kB of swap)"
fi
