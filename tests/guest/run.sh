#!/bin/sh
# Boot the cgroup v2 test guest once and copy its serial console to stdout.
#
# Usage: run.sh INITRAMFS
# Environment:
#   LXCFS_GUEST_CACHE    prepare.sh cache (default /var/cache/lxcfs-guest)
#   LXCFS_GUEST_ACCEL    auto (default), kvm or tcg; auto uses KVM only when
#                        /dev/kvm exists and a probe VM runs, else TCG
#   LXCFS_GUEST_TIMEOUT  hard limit for qemu in seconds (default 600)
#   LXCFS_GUEST_APPEND   more kernel command line, e.g. lxcfs_guest.verbose=1
#                        (the guest then prints the output of every check)
# Exits with qemu's status (124 when the time limit killed it).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
kver=$(tr -d ' \t\r\n' <"$here/kernel-version")
cache=${LXCFS_GUEST_CACHE:-/var/cache/lxcfs-guest}/$kver
accel=${LXCFS_GUEST_ACCEL:-auto}
limit=${LXCFS_GUEST_TIMEOUT:-600}
# A kernel that locks up (a CPU stuck in the kernel for 20 s) panics at once
# instead of running into the time limit, and the panic replays the whole
# kernel log on the console with every CPU's stack (/init keeps ordinary
# kernel messages off the console).
diag="softlockup_panic=1 softlockup_all_cpu_backtrace=1 panic_print=0x20"
append="console=ttyS0 panic=-1 quiet cgroup_no_v1=all rdinit=/init $diag ${LXCFS_GUEST_APPEND:-}"

die() {
    printf 'run.sh: error: %s\n' "$*" >&2
    exit 1
}

[ $# = 1 ] || die "usage: run.sh INITRAMFS"
initramfs=$1
[ -f "$initramfs" ] || die "$initramfs does not exist"
[ -f "$cache/complete" ] || die "kernel $kver not prepared in $cache: run tests/guest/prepare.sh"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not installed: run tests/guest/prepare.sh"

# kvm_works: true if the guest kernel really boots under KVM. A /dev/kvm that
# opens is not enough (some nested setups hang inside the guest kernel), so
# boot it with init = `poweroff -f` and give it 20 s. Skipped without the
# vmx/svm CPU flag.
kvm_works() {
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
    grep -qwE 'vmx|svm' /proc/cpuinfo || return 1
    timeout -k 5 20 qemu-system-x86_64 -accel kvm -cpu host -m 256 -nographic -no-reboot \
        -nodefaults -serial null -kernel "$cache/vmlinuz" -initrd "$initramfs" \
        -append "console=ttyS0 panic=-1 quiet rdinit=/bin/poweroff -- -f" \
        </dev/null >/dev/null 2>&1
}

case $accel in
    auto)
        if kvm_works; then accel=kvm; else accel=tcg; fi
        ;;
    kvm | tcg) ;;
    *) die "LXCFS_GUEST_ACCEL must be auto, kvm or tcg" ;;
esac
if [ "$accel" = kvm ]; then
    accel_args="-accel kvm -cpu host"
else
    accel_args="-accel tcg,thread=multi -cpu max"
fi
printf 'run.sh: booting %s with %s (limit %s s)\n' "$kver" "$accel" "$limit" >&2

status=0
# shellcheck disable=SC2086 # accel_args is a list of words
timeout --foreground -k 10 "$limit" qemu-system-x86_64 $accel_args \
    -m 1024 -smp 2 -nographic -no-reboot -nodefaults -serial stdio \
    -kernel "$cache/vmlinuz" -initrd "$initramfs" \
    -append "$append" \
    </dev/null || status=$?
exit $status
