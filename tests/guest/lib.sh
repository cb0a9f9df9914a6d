# shellcheck shell=sh disable=SC2034 # the variables are used by the checks
# Helpers sourced by every check script in the guest (busybox sh).
#
# A check is a script that exits 0 on success. `fail` ends it at once with a
# one-line reason (printed as `REASON: ...`); `problem` and the expect_*
# helpers record a failure (`PROBLEM: ...`) and let it go on, so that one run
# reports every wrong value. Cgroups made with cg_create are killed and
# removed when the script exits.
#
# A "container" here is a new pid + mount namespace whose init (pid 1 inside)
# lives in a given cgroup and has its own /proc mounted: that is what lxcfs
# keys its per-container view on.

M=/var/lib/lxcfs
CGROOT=/sys/fs/cgroup
TAB=$(printf '\t')
# The /proc/swaps lxcfs serves, in the kernel's own columns: this header, then
# (when the container has swap) one line "none<spaces to column 40>virtual<tab>
# SIZE<tab><tab>USED<tab><tab>0" matching SWAPS_LINE_RE (extended regex; SIZE
# and USED are the 1st and 2nd number).
SWAPS_HEADER="Filename${TAB}${TAB}${TAB}${TAB}Type${TAB}${TAB}Size${TAB}${TAB}Used${TAB}${TAB}Priority"
SWAPS_LINE_RE="^none +virtual${TAB}[0-9]+${TAB}${TAB}[0-9]+${TAB}${TAB}0\$"

# Cgroups created by this script, deepest first (removed in this order).
_created_cgroups=
# A private scratch directory, visible inside containers too.
W=$(mktemp -d /tmp/check.XXXXXX)

# fail MESSAGE...: report the check as failed with a one-line reason.
fail() {
    echo "REASON: $(oneline "$*")"
    exit 1
}

# setup_fail MESSAGE...: the test environment, not lxcfs, went wrong.
setup_fail() {
    fail "setup: $*"
}

# oneline TEXT: TEXT on one line, newlines and tabs shown as \n and \t.
oneline() {
    printf '%s' "$1" | awk '{ gsub(/\t/, "\\t"); printf "%s%s", (NR > 1 ? "\\n" : ""), $0 }'
}

# problem MESSAGE...: record a failure and go on; returns 1.
problem() {
    echo "PROBLEM: $(oneline "$*")"
    return 1
}

# note MESSAGE...: a diagnostic line, shown only when the check fails.
note() {
    echo "note: $*"
}

# cg_create NAME [FILE=VALUE]...: create cgroup NAME (relative to the root)
# and write each VALUE into its FILE, in order.
cg_create() {
    _cg=$1
    shift
    mkdir "$CGROOT/$_cg" || setup_fail "cannot create cgroup $_cg"
    _created_cgroups="$_cg $_created_cgroups"
    for _kv in "$@"; do
        _f=${_kv%%=*}
        _v=${_kv#*=}
        echo "$_v" >"$CGROOT/$_cg/$_f" || setup_fail "cannot write '$_v' to $_cg/$_f"
    done
}

# cg_kill NAME: kill every process in cgroup NAME and its descendants and
# wait (up to 10 s) until it is empty.
cg_kill() {
    [ -d "$CGROOT/$1" ] || return 0
    echo 1 >"$CGROOT/$1/cgroup.kill" 2>/dev/null
    _i=0
    while grep -q '^populated 1' "$CGROOT/$1/cgroup.events" 2>/dev/null; do
        _i=$((_i + 1))
        [ $_i -le 100 ] || return 1
        usleep 100000
    done
}

# cg_cleanup: kill and remove every cgroup created by cg_create.
cg_cleanup() {
    for _cg in $_created_cgroups; do
        cg_kill "$_cg"
        rmdir "$CGROOT/$_cg" 2>/dev/null
    done
    _created_cgroups=
}

trap 'cg_cleanup; rm -rf "$W"' EXIT
trap 'exit 143' TERM INT

# ct_run CGROUP SCRIPT: run `sh -c SCRIPT` as pid 1 of a new pid and mount
# namespace (with its own /proc) whose processes live in CGROUP; the
# script's stdout and stderr are those of ct_run.
ct_run() {
    # shellcheck disable=SC2016 # $1 and $2 expand in the inner shell
    sh -c 'echo $$ >"$1/cgroup.procs" || exit 97; exec unshare --pid --fork --mount-proc sh -c "$2"' \
        ct_run "$CGROOT/$1" "$2"
}

# ct_start CGROUP SCRIPT: like ct_run but in the background; sets CT_PID to
# the pid of the (host-side) unshare process.
ct_start() {
    ct_run "$@" &
    CT_PID=$!
}

# meminfo_get FILE KEY: print the number of kB of KEY in a meminfo-style
# FILE (empty when absent).
meminfo_get() {
    awk -v k="$2:" '$1 == k { print $2; exit }' "$1"
}

# cg_read NAME FILE: print the content of FILE of cgroup NAME.
cg_read() {
    cat "$CGROOT/$1/$2"
}

# cg_key NAME FILE KEY: print the value of KEY in a flat-keyed cgroup file
# (memory.stat, cpu.stat, ...).
cg_key() {
    awk -v k="$3" '$1 == k { print $2; exit }' "$CGROOT/$1/$2"
}

# cpulist_count LIST: the number of CPUs in a cpu list like "0,2-3".
cpulist_count() {
    echo "$1" | awk -F, '{
        n = 0
        for (i = 1; i <= NF; i++) {
            if ($i == "") continue
            if (split($i, r, "-") == 2) n += r[2] - r[1] + 1; else n++
        }
        print n
    }'
}

# is_uint VALUE: true if VALUE is a non-empty decimal number.
is_uint() {
    case $1 in
        '' | *[!0-9]*) return 1 ;;
        *) return 0 ;;
    esac
}

# expect_eq WHAT EXPECTED GOT: record a problem unless GOT equals EXPECTED.
expect_eq() {
    [ "$3" = "$2" ] || problem "$1: expected '$2', got '$3'"
}

# expect_uint WHAT VALUE: fail (at once) unless VALUE is a decimal number.
expect_uint() {
    is_uint "$2" || fail "$1: expected a number, got '$2'"
}

# busy_loop SECONDS: burn one CPU for SECONDS in this process's cgroup.
busy_loop() {
    timeout "$1" sh -c 'while :; do :; done'
    return 0
}

# show NAME FILE: copy FILE into the check output (seen only on failure).
show() {
    echo "--- $1:"
    cat "$2"
    echo "---"
}
