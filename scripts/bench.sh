#!/usr/bin/env bash
# Benchmarks lxcfs:   sudo ./scripts/bench.sh
#
# Runs in one go on one machine (about 12 minutes on 2 CPUs, plus the build):
#   1. installs Debian's `lxcfs` package (the C original) when it is missing, without letting
#      the package start a service on /var/lib/lxcfs;
#   2. builds `cargo build --release -p lxcfs-host -p liblxcfs -p lxcfs-bench` and copies the
#      binaries to a private directory (so concurrent builds in the shared target directory
#      cannot change what runs, or what a SIGUSR1 reload loads);
#   3. runs the harness (crates/lxcfs-bench), which mounts the floor (a trivial fuser
#      filesystem), the C original and ours on temporary mount points and measures
#      throughput/latency cells and our RSS across a million opens;
#   4. measures the reload pause with tests/src/bin/reload-bench (100 reloads) when that tool
#      exists and builds, else with the harness's own reload phase;
#   5. prints the Markdown report and saves it to <target>/bench/report-<time>.md.
#
# Arguments are passed to the harness (`lxcfs-bench run --help`), e.g. a quick look:
#   sudo ./scripts/bench.sh --rounds 1 --duration 1 --million 100000 --reloads 20
#
#   sudo ./scripts/bench.sh --profile
# instead profiles our daemon under load (CPU per operation by thread group against the floor
# and the floor with the daemon's job hop; strace syscall counts per operation for ours, the C
# original and the floor; callgrind instruction profile; perf cpu-clock profile) and saves
# everything to <target>/bench/profile-<time>/.
#
# Whatever happens (failure, Ctrl-C), the trap removes the mounts, processes and cgroups the
# benchmark created.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$HOME/.cargo/bin:/root/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

log() { printf 'bench.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run me as root: sudo $0 (the benchmark mounts FUSE and creates cgroups)"
[ -c /dev/fuse ] || die "/dev/fuse is missing"
command -v cargo >/dev/null || die "cargo not found (install Rust for root, or put cargo on PATH)"

mode=run
if [ "${1:-}" = --profile ]; then
    mode=profile
    shift
fi

target_dir=${CARGO_TARGET_DIR:-$root/target}
stamp=$(date +%Y%m%d-%H%M%S)
out_dir=$target_dir/bench
mkdir -p "$out_dir"
work=$(mktemp -d /tmp/lxcfs-bench.XXXXXX)
harness_pid=
bench_pid=
rb_pid=
report=

# --- cleanup: runs on every exit ----------------------------------------------------------------
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$harness_pid" ] && kill -0 "$harness_pid" 2>/dev/null; then
        kill -TERM "$harness_pid" 2>/dev/null || true
        wait "$harness_pid" 2>/dev/null || true
    fi
    # Processes still running from the work directory (daemons, profilers, readers).
    local pids
    pids=$(pgrep -f -- "$work/" || true)
    if [ -n "$pids" ]; then
        log "stopping leftover processes: $pids"
        # shellcheck disable=SC2086 # one word per pid
        kill -TERM $pids 2>/dev/null || true
        sleep 1
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
    fi
    # Mounts under the work directory, deepest first.
    awk -v w="$work/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r m; do
            log "detaching leftover mount $m"
            umount -l "$m" || true
        done
    # What a killed reload-bench leaves: its daemon, readers, mount and temporary directories.
    if [ -n "$rb_pid" ]; then
        pids=$(pgrep -f -- "lxcfs-test-[a-z-]*-$rb_pid-" || true)
        if [ -n "$pids" ]; then
            # shellcheck disable=SC2086 # one word per pid
            kill -KILL $pids 2>/dev/null || true
        fi
        awk -v p="-$rb_pid-" '$5 ~ /^\/tmp\/lxcfs-test-/ && index($5, p) { print $5 }' /proc/self/mountinfo |
            while read -r m; do umount -l "$m" || true; done
        rm -rf /tmp/lxcfs-test-*-"$rb_pid"-* 2>/dev/null || true
    fi
    # The harness's cgroups (named after its pid).
    if [ -n "$bench_pid" ]; then
        for d in /sys/fs/cgroup/*/lxcfs-bench-"$bench_pid"; do
            [ -d "$d" ] || continue
            while read -r p; do echo "$p" >"$(dirname "$d")/cgroup.procs" 2>/dev/null || true; done <"$d/cgroup.procs"
            rmdir "$d" 2>/dev/null || log "could not remove cgroup $d"
        done
    fi
    if [ -n "$report" ]; then
        rm -f "$report.head" "$report.body"
    fi
    if ! awk -v w="$work/" 'index($5, w) == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo; then
        rm -rf "$work"
    else
        log "mounts remain under $work; not removing it"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a command in the background and waits for it, so that the traps fire while it runs.
# The pid is also kept in bench_pid: the harness names its cgroup after it.
run_bg() {
    "$@" &
    harness_pid=$!
    bench_pid=$harness_pid
    local rc=0
    wait "$harness_pid" || rc=$?
    harness_pid=
    return "$rc"
}

# --- Debian packages ----------------------------------------------------------------------------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    local made_policy=
    # Keep maintainer scripts from starting services (lxcfs.service would mount
    # /var/lib/lxcfs): invoke-rc.d and deb-systemd-invoke honour policy-rc.d's 101.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local mounted_before=0 rc=0
    grep -q ' /var/lib/lxcfs ' /proc/self/mountinfo && mounted_before=1
    apt-get update -q >/dev/null || rc=$?
    [ "$rc" -eq 0 ] && { apt-get install -y -q --no-install-recommends "$@" >/dev/null || rc=$?; }
    [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" -eq 0 ] || die "apt-get install $* failed"
    if [ "$mounted_before" = 0 ] && grep -q ' /var/lib/lxcfs ' /proc/self/mountinfo; then
        log "warning: something mounted /var/lib/lxcfs while installing $*; leaving it alone"
    fi
}

missing=
installed lxcfs || missing="$missing lxcfs"
if [ "$mode" = profile ]; then
    command -v strace >/dev/null || missing="$missing strace"
    command -v valgrind >/dev/null || missing="$missing valgrind"
    command -v perf >/dev/null || missing="$missing linux-perf"
fi
if [ -n "$missing" ]; then
    log "installing Debian packages:$missing"
    # shellcheck disable=SC2086 # one word per package
    apt_install $missing
fi
c_lxcfs=/usr/bin/lxcfs
# A `meson install` of ours also installs /usr/bin/lxcfs; make sure it is the package's.
if dpkg -V lxcfs 2>/dev/null | grep -q ' /usr/bin/lxcfs$'; then
    die "/usr/bin/lxcfs is not Debian's C lxcfs any more (overwritten by an install of ours?); \
restore it with: apt-get install --reinstall lxcfs"
fi

# --- build --------------------------------------------------------------------------------------
log "building (release): lxcfs-host, liblxcfs, lxcfs-bench"
cargo build --release -q -p lxcfs-host -p liblxcfs -p lxcfs-bench
mkdir -p "$work/bin"
for f in lxcfs liblxcfs.so floorfs lxcfs-bench; do
    cp "$target_dir/release/$f" "$work/bin/$f"
done
bin=$work/bin
common=(--workdir "$work/run" --floor "$bin/floorfs" --ours "$bin/lxcfs" --ours-lib "$bin/liblxcfs.so"
    --c-lxcfs "$c_lxcfs")

describe() {
    echo "- lxcfs (ours): $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
        git -C "$root" diff --quiet HEAD -- liblxcfs lxcfs-host abi crates/lxcfs-formats 2>/dev/null || echo ' + uncommitted changes')"
    echo "- C original: Debian lxcfs $(dpkg-query -W -f='${Version}' lxcfs), libfuse3 $(dpkg-query -W -f='${Version}' libfuse3-3 2>/dev/null || echo '?')"
    echo "- fuser $(grep -A1 '^name = "fuser"' "$root/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p'), $(rustc --version 2>/dev/null)"
    echo "- command: ./scripts/bench.sh $* (as root)"
}

if [ "$mode" = run ]; then
    report=$out_dir/report-$stamp.md
    log "running the benchmark (report: $report)"
    {
        echo "# lxcfs benchmark $stamp"
        echo
        describe "$@"
        echo
    } >"$report.head"
    # The header (commit, versions, command) goes to the terminal too; the harness prints the
    # rest as it runs.
    cat "$report.head"
    # The reload pause: the team's reload-bench when it is there (the harness then skips its
    # own reload phase), with `--reloads N` from the command line (default 100; 0 skips it).
    rb_reloads=100
    harness_rest=()
    while [ $# -gt 0 ]; do
        if [ "$1" = --reloads ] && [ $# -ge 2 ]; then
            rb_reloads=$2
            shift 2
        else
            harness_rest+=("$1")
            shift
        fi
    done
    use_rb=0
    if [ -f "$root/tests/src/bin/reload-bench.rs" ]; then
        if cargo build --release -q -p lxcfs-tests --bin reload-bench; then
            # A private copy: reload-bench re-executes itself for its readers, and the shared
            # target directory may be rebuilt meanwhile.
            cp "$target_dir/release/reload-bench" "$bin/reload-bench"
            use_rb=1
        else
            log "warning: reload-bench does not build; the harness measures the reload pause"
        fi
    fi
    harness_args=(--reloads "$rb_reloads")
    [ "$use_rb" = 1 ] && harness_args=(--reloads 0)
    run_bg "$bin/lxcfs-bench" run "${common[@]}" --report "$report.body" "${harness_args[@]}" \
        ${harness_rest[@]+"${harness_rest[@]}"} || die "the harness failed"
    if [ "$use_rb" = 1 ] && [ "$rb_reloads" != 0 ]; then
        log "measuring the reload pause with reload-bench ($rb_reloads reloads)"
        body_size=$(stat -c %s "$report.body")
        {
            echo
            echo "## Reload pause (tests/src/bin/reload-bench: $rb_reloads reloads, rm + cp + SIGUSR1)"
            echo
            echo '```'
        } >>"$report.body"
        # The daemon and library the harness measured (private copies), not the shared target's.
        "$bin/reload-bench" --reloads "$rb_reloads" --lxcfs "$bin/lxcfs" \
            --library "$bin/liblxcfs.so" >>"$report.body" 2>&1 &
        rb_pid=$!
        rb_rc=0
        wait "$rb_pid" || rb_rc=$?
        rb_pid=
        echo '```' >>"$report.body"
        [ "$rb_rc" = 0 ] || log "warning: reload-bench exited with $rb_rc (its output is in the report)"
        # The harness printed the rest already.
        tail -c +"$((body_size + 1))" "$report.body"
    fi
    cat "$report.head" "$report.body" >"$report"
    rm -f "$report.head" "$report.body"
    cp "$report" "$out_dir/latest.md"
    log "report saved to $report"
    exit 0
fi

# --- profile ------------------------------------------------------------------------------------
prof=$out_dir/profile-$stamp
mkdir -p "$prof"
log "profiling into $prof"
load() { run_bg "$bin/lxcfs-bench" load "${common[@]}" "$@"; }
{
    echo "# lxcfs profile $stamp"
    echo
    describe --profile
    echo "- CPU: $(nproc) × $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
    echo "- load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$prof/README.md"

# 1. CPU per operation by thread group, 1 reader, three alternating repetitions.
{
    echo
    echo "## CPU per operation (1 reader, 20000 operations per run, 3 alternating repetitions)"
    echo
    echo '```'
    for rep in 1 2 3; do
        echo "--- repetition $rep, load $(cut -d' ' -f1 /proc/loadavg)"
        load --target floor --readers 1 --ops 20000
        load --target floor-hop --readers 1 --ops 20000
        load --target c --file meminfo --readers 1 --ops 20000
        for f in meminfo cpuinfo stat uptime; do
            load --target ours --file "$f" --readers 1 --ops 20000
        done
    done
    echo '```'
} >>"$prof/README.md"

# 2. System calls per operation (strace -c attached after the warm-up).
per_op() { # <strace -c output> <ops>
    awk -v ops="$2" '$1 ~ /^[0-9.]+$/ && NF >= 5 { printf "  %-16s %8.2f\n", $NF, $4 / ops }' "$1"
}
{
    echo
    echo "## System calls per operation (strace -c -f on the daemon, 10000 operations, 1 reader)"
    for t in ours:meminfo ours:cpuinfo ours:stat ours:uptime c:meminfo floor:meminfo; do
        target=${t%%:*} file=${t#*:}
        load --target "$target" --file "$file" --readers 1 --ops 10000 \
            --attach "strace -c -f -o $prof/strace-$target-$file.txt -p {pid}" >/dev/null
        echo
        echo "### $target $file"
        echo '```'
        per_op "$prof/strace-$target-$file.txt" 10000
        echo '```'
    done
} >>"$prof/README.md"
# One operation's system calls in order (ours, meminfo).
load --target ours --file meminfo --readers 1 --ops 3 --warmup-ops 200 \
    --attach "strace -f -tt -T -s 60 -o $prof/trace-ours-meminfo.txt -p {pid}" >/dev/null

# 3. callgrind: instructions by function in our daemon (meminfo, 3000 operations).
load --target ours --file meminfo --readers 1 --ops 3000 --warmup-ops 300 \
    --wrap "valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$prof/callgrind.out" \
    --attach "callgrind_control -i on {pid}" >/dev/null
callgrind_annotate --inclusive=no "$prof/callgrind.out" >"$prof/callgrind-self.txt" 2>/dev/null || true
callgrind_annotate --inclusive=yes "$prof/callgrind.out" >"$prof/callgrind-inclusive.txt" 2>/dev/null || true
{
    echo
    echo "## callgrind (ours, meminfo, 3000 operations): instructions, self and inclusive"
    echo
    echo "$(valgrind --version): valgrind 3.19 (Debian 12's) does not implement pidfd_open(2)"
    echo "(it reports 'unhandled amd64-linux syscall: 434'), so under it the daemon takes its"
    echo "no-pidfd path: the caller's namespace link is read at every request and a kept render"
    echo "is checked by reading /proc/<init>/stat. With such a valgrind this profile overstates"
    echo "those two; perf's cpu-clock profile below shows the real host's hot path."
    echo '```'
    sed -n '/^Ir/,$p' "$prof/callgrind-self.txt" | sed -n '1,40p'
    echo
    sed -n '/^Ir/,$p' "$prof/callgrind-inclusive.txt" | sed -n '1,60p'
    echo '```'
} >>"$prof/README.md"

# 4. perf: where the daemon's CPU time goes, kernel included (cpu-clock works in VMs).
if perf record -q -e cpu-clock -o /dev/null true 2>/dev/null; then
    load --target ours --file meminfo --readers 1 --ops 20000 \
        --attach "perf record -q -e cpu-clock -F 4999 -g -o $prof/perf.data -p {pid}" >/dev/null
    perf report -i "$prof/perf.data" --no-children --sort comm,dso -g none --stdio \
        >"$prof/perf-comm.txt" 2>/dev/null || true
    perf report -i "$prof/perf.data" --no-children --sort sym -g none --stdio \
        >"$prof/perf-sym.txt" 2>/dev/null || true
    {
        echo
        echo "## perf (cpu-clock, ours, meminfo, 20000 operations)"
        echo '```'
        grep -v -e '^#' -e '^$' "$prof/perf-comm.txt" | sed -n '1,25p' || true
        echo
        grep -v -e '^#' -e '^$' "$prof/perf-sym.txt" | sed -n '1,40p' || true
        echo '```'
    } >>"$prof/README.md"
else
    echo "perf record does not work here; skipped" >>"$prof/README.md"
fi
cat "$prof/README.md"
log "profile saved to $prof"
