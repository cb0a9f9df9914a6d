#!/bin/sh
# -l: /proc/loadavg in a container has the format "a.bb c.dd e.ff r/t pid";
# two busy tasks in it raise the 1-minute value above 0.5 within 30 s while
# an idle container next to it stays below 0.3; the last pid is one of the
# container's own (never a host pid).
. /guest/lib.sh

format='^[0-9]+\.[0-9][0-9] [0-9]+\.[0-9][0-9] [0-9]+\.[0-9][0-9] [0-9]+/[0-9]+ [0-9]+$'

cg_create load_idle
cg_create load_busy
# The idle container only sleeps; it reads its loadavg when told to.
ct_start load_idle "
    cat $M/proc/loadavg >$W/idle.first
    while [ ! -e $W/stop ]; do sleep 0.2; done
    cat $M/proc/loadavg >$W/idle.last
"
idle_pid=$CT_PID
ct_run load_busy "
    cat $M/proc/loadavg >$W/busy.first
    timeout 40 sh -c 'while :; do :; done' &
    timeout 40 sh -c 'while :; do :; done' &
    i=0
    while [ \$i -lt 30 ]; do
        sleep 1
        i=\$((i + 1))
        cat $M/proc/loadavg >$W/busy.last || exit 1
        echo \"\$i s: \$(cat $W/busy.last)\" >>$W/busy.log
        awk '{ exit !(\$1 > 0.5) }' $W/busy.last && break
    done
    sh -c 'echo \$\$' >$W/busy.nextpid
" || fail "reading $M/proc/loadavg in the busy container failed"
touch "$W/stop"
wait "$idle_pid"
show "busy container loadavg over time" "$W/busy.log"
note "guest loadavg: $(cat /proc/loadavg)"

for f in busy.first busy.last idle.first idle.last; do
    grep -Eq "$format" "$W/$f" || fail "format: expected 'a.bb c.dd e.ff r/t pid', got '$(cat "$W/$f")' ($f)"
done
read -r load1 _ _ _ lastpid <"$W/busy.last"
secs=$(wc -l <"$W/busy.log")
awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }' ||
    problem "1-min load with two busy tasks for $secs s: expected > 0.5, got $load1"
read -r idle1 _ <"$W/idle.last"
awk -v l="$idle1" 'BEGIN { exit !(l < 0.3) }' ||
    problem "1-min load of an idle container while another ran two busy tasks for $secs s: expected < 0.3, got $idle1"
nextpid=$(cat "$W/busy.nextpid")
[ "$lastpid" -lt "$nextpid" ] ||
    problem "last pid: expected a pid of the container's namespace (< $nextpid), got $lastpid"
