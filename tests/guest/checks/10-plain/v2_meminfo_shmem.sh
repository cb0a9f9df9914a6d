#!/bin/sh
# meminfo after a container wrote 32 MiB into its own tmpfs: Shmem shows at
# least 32768 kB and MemAvailable does not count that memory as available.
. /guest/lib.sh

cg_create meminfo_shmem memory.max=256M
# The tmpfs lives in the container's mount namespace, so it (and its charge)
# exists while the container runs: read everything from inside.
ct_run meminfo_shmem "
    mkdir $W/shm && mount -t tmpfs tmpfs $W/shm &&
    dd if=/dev/zero of=$W/shm/fill bs=1M count=32 2>/dev/null &&
    cat $CGROOT/meminfo_shmem/memory.stat >$W/memory.stat &&
    cat $M/proc/meminfo >$W/meminfo
" || fail "writing the tmpfs or reading $M/proc/meminfo in the container failed"
show meminfo "$W/meminfo"

cg_shmem=$(awk '$1 == "shmem" { print $2 }' "$W/memory.stat")
expect_uint "memory.stat shmem" "$cg_shmem"
[ "$cg_shmem" -ge 33554432 ] || setup_fail "memory.stat shmem is $cg_shmem bytes, expected >= 32 MiB"

total=$(meminfo_get "$W/meminfo" MemTotal)
shmem=$(meminfo_get "$W/meminfo" Shmem)
avail=$(meminfo_get "$W/meminfo" MemAvailable)
expect_eq "MemTotal (kB)" 262144 "$total"
expect_uint Shmem "$shmem"
expect_uint MemAvailable "$avail"
[ "$shmem" -ge 32768 ] || problem "Shmem: expected >= 32768 kB after writing 32 MiB to tmpfs, got $shmem"
[ "$avail" -le $((total - 32768)) ] ||
    problem "MemAvailable: expected <= MemTotal - 32768 = $((total - 32768)) kB (tmpfs is not reclaimable), got $avail"
