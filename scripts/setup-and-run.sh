#!/bin/sh
# Builds lxcfs on a fresh Debian 12 machine, installs it under /usr and runs it on
# /var/lib/lxcfs.
#
#   sudo ./scripts/setup-and-run.sh
#
# 1. installs the Debian packages the build needs (only those missing);
# 2. finds cargo ($CARGO, then PATH, then ~/.cargo/bin of root) — Rust itself is not installed
#    here, because Debian 12's own rustc is too old for this code base;
# 3. builds with meson into ./build and installs with --prefix=/usr;
# 4. with systemd as PID 1: enables and starts lxcfs.service (or, when it already runs,
#    reloads it so that it picks up the new library); otherwise runs /usr/bin/lxcfs in the
#    foreground until interrupted (Ctrl-C unmounts and exits).
#
# Running it again rebuilds what changed and reinstalls; it never restarts a running lxcfs
# (that would break the containers using it).
set -eu

log() { printf 'setup-and-run: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
mountpoint=/var/lib/lxcfs

[ "$(id -u)" -eq 0 ] || die "run me as root: sudo $0"

# --- Debian packages --------------------------------------------------------------------------
# gcc and libc6-dev: rustc links through cc. procps: /bin/kill, used by `systemctl reload`.
packages="meson ninja-build pkg-config gcc libc6-dev util-linux procps"
if [ -d /run/systemd/system ]; then
    packages="$packages systemd"
fi
missing=
for package in $packages; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing="$missing $package"
    fi
done
if [ -n "$missing" ]; then
    log "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086 # one word per package
    apt-get install -y -q --no-install-recommends $missing
fi

# --- cargo ------------------------------------------------------------------------------------
cargo=${CARGO:-}
if [ -z "$cargo" ]; then
    cargo=$(command -v cargo 2>/dev/null || true)
fi
# sudo resets PATH, so look where rustup puts cargo for root as well.
for candidate in "${HOME:-/root}/.cargo/bin/cargo" /root/.cargo/bin/cargo; do
    if [ -z "$cargo" ] && [ -x "$candidate" ]; then
        cargo=$candidate
    fi
done
if [ -z "$cargo" ] || ! "$cargo" --version >/dev/null 2>&1; then
    cat >&2 <<EOF
setup-and-run: error: no working cargo found.
  lxcfs needs Rust 1.85 or newer; Debian 12's rustc/cargo packages are too old.
  Install a toolchain for root with rustup (it puts cargo in /root/.cargo/bin), or point
  CARGO at an existing one:  sudo CARGO=/path/to/cargo $0
EOF
    exit 1
fi
log "using $("$cargo" --version) ($cargo)"
# rustup's cargo finds rustc next to itself through PATH.
PATH=$(dirname "$cargo"):$PATH
export PATH

# --- build and install --------------------------------------------------------------------------
if [ -f "$build/build.ninja" ]; then
    meson setup --reconfigure "$build" "$root" --prefix=/usr -Dcargo="$cargo"
else
    meson setup "$build" "$root" --prefix=/usr -Dcargo="$cargo"
fi
meson compile -C "$build"
# meson install replaces files by unlinking them first, so a running lxcfs keeps the copies it
# has open and can switch to the new library on reload.
meson install -C "$build"

# --- run --------------------------------------------------------------------------------------
mkdir -p "$mountpoint"
[ -e /dev/fuse ] || modprobe fuse 2>/dev/null || true
[ -e /dev/fuse ] || die "/dev/fuse is missing and the fuse module could not be loaded"

if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    if systemctl is-active --quiet lxcfs.service; then
        log "lxcfs.service is running: reloading it (new library, same mount)"
        systemctl reload lxcfs.service
    else
        systemctl enable --now lxcfs.service
    fi
    systemctl --no-pager status lxcfs.service || true
    log "lxcfs is serving $mountpoint (journalctl -u lxcfs for its log)"
    exit 0
fi

if grep -q " $mountpoint fuse.lxcfs " /proc/self/mounts; then
    pid=$(cat /run/lxcfs.pid 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        log "lxcfs (pid $pid) already serves $mountpoint: asking it to reload its library"
        kill -USR1 "$pid"
        exit 0
    fi
    log "found a dead lxcfs mount on $mountpoint; lxcfs detaches it when it starts"
fi
log "running /usr/bin/lxcfs $mountpoint in the foreground (Ctrl-C stops it)"
exec /usr/bin/lxcfs "$mountpoint"
