#!/bin/sh
# /proc/pressure/cpu in a container is its cgroup's cpu.pressure, not the
# host's (made non-zero first by three busy loops on two CPUs elsewhere).
. /guest/lib.sh
. /guest/checks/10-plain/pressure.inc

cg_create pressure_cpu_hog
ct_run pressure_cpu_hog "
    for i in 1 2 3; do timeout 1 sh -c 'while :; do :; done' & done
    wait
" || true
pressure_check cpu
