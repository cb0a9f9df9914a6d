#!/bin/sh
# Build the initramfs of the cgroup v2 test guest (run as root, after
# prepare.sh). It holds busybox (with applet links), lxcfs and liblxcfs.so
# under /opt/lxcfs/bin with the shared libraries they need, the kernel
# modules from the prepare.sh cache, /init and the check scripts.
#
# Usage: build-initramfs.sh [--lxcfs PATH] [--liblxcfs PATH] --out FILE
#   --lxcfs PATH     the daemon binary (default: $LXCFS_BIN)
#   --liblxcfs PATH  the library (default: $LIBLXCFS_SO, else liblxcfs.so
#                    beside the daemon binary)
#   --out FILE       where to write the gzip-compressed newc cpio archive
# Without a daemon binary the guest still boots and reports every check as
# failed (useful to test the boot path alone).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
kver=$(tr -d ' \t\r\n' <"$here/kernel-version")
cache=${LXCFS_GUEST_CACHE:-/var/cache/lxcfs-guest}/$kver

lxcfs=${LXCFS_BIN:-}
liblxcfs=${LIBLXCFS_SO:-}
out=

die() {
    printf 'build-initramfs.sh: error: %s\n' "$*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
        --lxcfs) lxcfs=$2; shift 2 ;;
        --liblxcfs) liblxcfs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) die "unknown argument $1" ;;
    esac
done
[ -n "$out" ] || die "--out FILE is required"
[ -f "$cache/complete" ] || die "kernel $kver not prepared in $cache: run tests/guest/prepare.sh"
busybox=$(command -v busybox) || die "busybox not installed: run tests/guest/prepare.sh"
if ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked: install busybox-static"
fi
if [ -n "$lxcfs" ] && [ -z "$liblxcfs" ]; then
    liblxcfs=$(dirname "$lxcfs")/liblxcfs.so
fi
for f in $lxcfs $liblxcfs; do
    [ -f "$f" ] || die "$f does not exist"
done

stage=$(mktemp -d "${TMPDIR:-/tmp}/lxcfs-guest-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM

mkdir -p "$stage/bin" "$stage/sbin" "$stage/usr/bin" "$stage/usr/sbin" \
    "$stage/dev" "$stage/proc" "$stage/sys" "$stage/newroot" "$stage/etc" \
    "$stage/lib/guest-modules" "$stage/guest" "$stage/opt/lxcfs/bin"

# busybox and a link for every applet at its usual place.
cp "$busybox" "$stage/bin/busybox"
"$busybox" --list-full | while read -r applet; do
    case $applet in
        bin/busybox) ;;
        */*) [ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet" ;;
    esac
done
# Without /dev/console in the archive the kernel cannot give /init a console
# before devtmpfs is mounted.
mknod -m 600 "$stage/dev/console" c 5 1
echo "root:x:0:0:root:/:/bin/sh" >"$stage/etc/passwd"
echo "root:x:0:" >"$stage/etc/group"

# Kernel modules.
cp "$cache/modules/"*.ko "$cache/modules/load-order" "$stage/lib/guest-modules/"

# copy_with_libs FILE: copy every shared library FILE needs (and the dynamic
# loader) to the same path in the stage.
copy_with_libs() {
    ldd "$1" 2>/dev/null | awk '
        $2 == "=>" && $3 ~ /^\// { print $3 }
        $1 ~ /^\// { print $1 }
    ' | while read -r lib; do
        if [ ! -e "$stage$lib" ]; then
            mkdir -p "$stage$(dirname "$lib")"
            cp -L "$lib" "$stage$lib"
        fi
    done
}

if [ -n "$lxcfs" ]; then
    cp "$lxcfs" "$stage/opt/lxcfs/bin/lxcfs"
    cp "$liblxcfs" "$stage/opt/lxcfs/bin/liblxcfs.so"
    copy_with_libs "$lxcfs"
    copy_with_libs "$liblxcfs"
fi

# /init, the check library and the checks.
cp "$here/init" "$stage/init"
chmod 0755 "$stage/init"
cp "$here/lib.sh" "$stage/guest/lib.sh"
cp -R "$here/checks" "$stage/guest/checks"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -print | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
    gzip -4 >"$out.tmp"
mv "$out.tmp" "$out"
printf 'build-initramfs.sh: wrote %s (%s bytes)\n' "$out" "$(wc -c <"$out")" >&2
