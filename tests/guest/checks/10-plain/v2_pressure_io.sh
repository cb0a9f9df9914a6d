#!/bin/sh
# /proc/pressure/io in a container is its cgroup's io.pressure, not the
# host's (made non-zero first by another cgroup waiting on /dev/nullb0,
# whose requests take 10 ms each).
. /guest/lib.sh
. /guest/checks/10-plain/pressure.inc

cg_create pressure_io_hog
ct_run pressure_io_hog "dd if=/dev/zero of=/dev/nullb0 bs=4k count=40 oflag=direct 2>/dev/null" ||
    setup_fail "writing /dev/nullb0 failed"
pressure_check io
