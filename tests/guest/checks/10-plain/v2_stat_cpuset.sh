#!/bin/sh
# /proc/stat in a container with cpuset.cpus 0: the "cpu " aggregate line and
# exactly one per-CPU line, cpu0; the other lines stay.
. /guest/lib.sh

cg_create stat_cpuset cpuset.cpus=0
ct_run stat_cpuset "cat $M/proc/stat" >"$W/stat" ||
    fail "reading $M/proc/stat in the container failed"
show stat "$W/stat"
expect_eq "aggregate 'cpu ' lines" 1 "$(grep -c '^cpu ' "$W/stat")"
expect_eq "per-CPU lines" "cpu0" "$(grep '^cpu[0-9]' "$W/stat" | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')"
for key in intr ctxt btime processes procs_running procs_blocked; do
    grep -q "^$key " "$W/stat" || problem "line '$key' missing"
done
