#!/bin/sh
# --enable-cfs: cpuset 0-1 with cpu.max "150000 100000" (1.5 CPUs) shows two
# CPUs in cpuinfo, stat and online.
. /guest/lib.sh
. /guest/checks/20-cfs_loadavg/cfs.inc

cfs_check cfs_one_and_half "150000 100000" 2
