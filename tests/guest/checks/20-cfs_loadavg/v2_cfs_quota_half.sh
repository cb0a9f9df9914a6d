#!/bin/sh
# --enable-cfs: cpuset 0-1 with cpu.max "50000 100000" (half a CPU) shows one
# CPU in cpuinfo, stat and online.
. /guest/lib.sh
. /guest/checks/20-cfs_loadavg/cfs.inc

cfs_check cfs_half "50000 100000" 1
