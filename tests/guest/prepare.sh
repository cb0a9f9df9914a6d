#!/bin/sh
# Prepare a Debian 12 machine (run as root) for the cgroup v2 guest test:
# install qemu, busybox-static and cpio when missing, then fetch the pinned
# Debian kernel (tests/guest/kernel-version) into the cache directory
# ${LXCFS_GUEST_CACHE:-/var/cache/lxcfs-guest}/<version>/ as:
#   vmlinuz            the kernel image
#   modules/*.ko       fuse, brd, null_blk and everything they depend on
#                      (uncompressed)
#   modules/load-order the module file names in insmod order
# Idempotent: a complete cache entry for the same module list is left alone,
# packages are installed once.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
kver=$(tr -d ' \t\r\n' <"$here/kernel-version")
cache=${LXCFS_GUEST_CACHE:-/var/cache/lxcfs-guest}
dest=$cache/$kver
# Modules the guest needs; their dependencies are added automatically.
wanted_modules=${LXCFS_GUEST_MODULES:-fuse brd null_blk}

log() { printf 'prepare.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# --- packages -------------------------------------------------------------
apt_updated=
apt_update_once() {
    if [ -z "$apt_updated" ]; then
        log "apt-get update"
        apt-get update -qq >&2
        apt_updated=1
    fi
}

missing=
for pkg in qemu-system-x86 busybox-static cpio xz-utils; do
    if ! dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
        missing="$missing $pkg"
    fi
done
if [ -n "$missing" ]; then
    apt_update_once
    log "installing:$missing"
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
fi

# --- kernel ---------------------------------------------------------------
if [ -f "$dest/complete" ] && [ "$(cat "$dest/complete")" = "$wanted_modules" ]; then
    log "kernel $kver already prepared in $dest"
    exit 0
fi

pkg=linux-image-$kver-amd64
work=$(mktemp -d "${TMPDIR:-/tmp}/lxcfs-guest-prepare.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

log "downloading $pkg"
# apt-get download writes into the current directory as the _apt sandbox
# user when it can: give that user a directory of its own.
chmod 0755 "$work"
mkdir "$work/dl"
if id _apt >/dev/null 2>&1; then chown _apt "$work/dl"; fi
if ! (cd "$work/dl" && apt-get download "$pkg" >&2); then
    apt_update_once
    if ! (cd "$work/dl" && apt-get download "$pkg" >&2); then
        log "available kernels: $(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | cut -d' ' -f1 | tr '\n' ' ')"
        die "cannot download $pkg; update $here/kernel-version to an available version"
    fi
fi

dpkg -x "$work"/dl/"$pkg"_*.deb "$work/root"
moddir=$work/root/lib/modules/$kver-amd64
[ -d "$moddir" ] || die "no module directory $moddir in $pkg"

rm -rf "$dest.tmp"
mkdir -p "$dest.tmp/modules"
cp "$work/root/boot/vmlinuz-$kver-amd64" "$dest.tmp/vmlinuz"
cp "$work/root/boot/config-$kver-amd64" "$dest.tmp/config"

# find_module NAME: print the path of NAME.ko[.xz|.zst|.gz] ('-' and '_' are
# interchangeable in module names).
# shellcheck disable=SC3043 # dash, bash and busybox sh all have 'local'
find_module() {
    local alt
    alt=$(printf '%s' "$1" | tr '_-' '-_')
    find "$moddir/kernel" \( -name "$1.ko*" -o -name "$alt.ko*" \) | head -n 1
}

# module_depends FILE: print the comma-separated depends= field of a module.
module_depends() {
    case $1 in
        *.ko.xz) xz -dc "$1" ;;
        *.ko.zst) zstd -dc "$1" ;;
        *.ko.gz) gzip -dc "$1" ;;
        *) cat "$1" ;;
    esac | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n 1
}

# add_module NAME: copy NAME (decompressed) after all its dependencies and
# append it to the load order, once.
# 'local' is not POSIX but dash, bash and busybox sh all have it; the
# recursion needs it.
# shellcheck disable=SC3043
add_module() {
    local name file dep
    name=$1
    if grep -qx "$name.ko" "$dest.tmp/modules/load-order" 2>/dev/null; then
        return 0
    fi
    file=$(find_module "$name")
    [ -n "$file" ] || die "module $name not found in $pkg"
    for dep in $(module_depends "$file" | tr ',' ' '); do
        add_module "$dep"
    done
    case $file in
        *.ko.xz) xz -dc "$file" >"$dest.tmp/modules/$name.ko" ;;
        *.ko.zst) zstd -dc "$file" >"$dest.tmp/modules/$name.ko" ;;
        *.ko.gz) gzip -dc "$file" >"$dest.tmp/modules/$name.ko" ;;
        *) cp "$file" "$dest.tmp/modules/$name.ko" ;;
    esac
    echo "$name.ko" >>"$dest.tmp/modules/load-order"
}

for m in $wanted_modules; do
    # Built-in modules need no file.
    if grep -q "/$m\.ko\$" "$moddir/modules.builtin" 2>/dev/null; then
        continue
    fi
    add_module "$m"
done
touch "$dest.tmp/modules/load-order"

echo "$pkg $(dpkg-deb -f "$work"/dl/"$pkg"_*.deb Version)" >"$dest.tmp/package"
echo "$wanted_modules" >"$dest.tmp/complete"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
log "kernel $kver prepared in $dest: $(tr '\n' ' ' <"$dest/modules/load-order")"
