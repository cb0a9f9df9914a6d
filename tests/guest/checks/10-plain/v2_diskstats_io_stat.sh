#!/bin/sh
# /proc/diskstats in a container that wrote 8 MiB with O_DIRECT to /dev/ram0:
# the ram0 line (1:0) shows the container's io.stat, 16384 sectors written
# in wios requests, although the host's counters for ram0 stay 0.
. /guest/lib.sh

cg_create diskstats
ct_run diskstats "
    dd if=/dev/zero of=/dev/ram0 bs=1M count=8 oflag=direct 2>/dev/null &&
    cat $M/proc/diskstats >$W/diskstats
" || fail "writing /dev/ram0 or reading $M/proc/diskstats in the container failed"
show diskstats "$W/diskstats"
show io.stat "$CGROOT/diskstats/io.stat"
wbytes=$(awk '$1 == "1:0" { for (i = 2; i <= NF; i++) if ($i ~ /^wbytes=/) print substr($i, 8) }' \
    "$CGROOT/diskstats/io.stat")
wios=$(awk '$1 == "1:0" { for (i = 2; i <= NF; i++) if ($i ~ /^wios=/) print substr($i, 6) }' \
    "$CGROOT/diskstats/io.stat")
[ "$wbytes" = 8388608 ] || setup_fail "io.stat wbytes for 1:0 is '$wbytes', expected 8388608"

line=$(awk '$1 == 1 && $2 == 0' "$W/diskstats")
[ -n "$line" ] || fail "no line for 1:0 (ram0)"
# shellcheck disable=SC2086 # split the line into its fields
set -- $line
expect_eq "device name of 1:0" ram0 "$3"
expect_eq "sectors written (field 10) = io.stat wbytes/512" $((wbytes / 512)) "${10}"
expect_eq "writes completed (field 8) = io.stat wios" "$wios" "$8"
expect_eq "sectors read (field 6)" 0 "$6"
