#!/bin/sh
# /proc/uptime in a fresh container (new pid namespace): two fields, the
# uptime below 2 s, 0 <= idle <= uptime x visible CPUs.
. /guest/lib.sh

# Make sure the guest itself has been up long enough to tell the two apart.
while [ "$(cut -d. -f1 /proc/uptime)" -lt 5 ]; do sleep 1; done

cg_create uptime
ct_run uptime "cat $M/proc/uptime" >"$W/uptime" ||
    fail "reading $M/proc/uptime in the container failed"
content=$(cat "$W/uptime")
note "uptime in the container: $content"
cpus=$(cpulist_count "$(cg_read uptime cpuset.cpus.effective)")
echo "$content" | grep -Eq '^[0-9]+\.[0-9]+ [0-9]+\.[0-9]+$' ||
    fail "expected 'UPTIME IDLE', got '$content' (guest: $(cat /proc/uptime))"
echo "$content" | awk -v n="$cpus" -v guest="$(cut -d' ' -f1 /proc/uptime)" '{
    if ($1 >= 2.0) print "PROBLEM: uptime: expected < 2.0 s in a new pid namespace, got " $1 " (guest uptime " guest ")"
    if ($2 > $1 * n) print "PROBLEM: idle: expected <= uptime x " n " CPUs = " $1 * n ", got " $2
}'
