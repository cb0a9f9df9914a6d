#!/usr/bin/env bash
# Runs every check lxcfs has, the way CI does:   sudo ./scripts/test.sh
#
# Needs root and /dev/fuse: the tests mount the filesystem, create cgroups and run readers
# inside them. Installs what the tests need from Debian's packages (qemu, busybox, cpio and a
# Debian kernel for the cgroup v2 guest; meson, systemd and kubernetes-validate for the
# packaging test) before running:
#   1. rustfmt and clippy (warnings are errors) and rustdoc (warnings are errors);
#   2. cargo test for the whole workspace: unit tests, the ABI layout guard, fixture golden
#      tests for v1/hybrid/v2 hosts, FUSE mount tests on real cgroups, reload tests, the
#      packaging test and the cgroup v2 guest stage.
# LXCFS_SKIP_GUEST=1 skips the guest stage (loudly); nothing else is skippable.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:/root/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

[ "$(id -u)" -eq 0 ] || { echo "test.sh: run as root (the tests mount FUSE and create cgroups)" >&2; exit 1; }
[ -c /dev/fuse ] || { echo "test.sh: /dev/fuse is missing" >&2; exit 1; }
command -v cargo >/dev/null || { echo "test.sh: cargo not found" >&2; exit 1; }

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies"
export DEBIAN_FRONTEND=noninteractive
base_missing=
for p in util-linux python3 gcc libc6-dev xz-utils; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || base_missing="$base_missing $p"
done
if [ -n "$base_missing" ]; then
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $base_missing
fi
if [ "${LXCFS_SKIP_GUEST:-0}" != 1 ]; then
    bash tests/guest/prepare.sh
fi
bash tests/packaging/prepare.sh

step "rustfmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --features lxcfs-abi/layout-check -- -D warnings

step "rustdoc"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --document-private-items -q

step "release build (used by the guest and packaging stages)"
cargo build --release -p lxcfs-host -p liblxcfs

step "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --no-fail-fast --features lxcfs-abi/layout-check 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run (cargo prints one result line per test binary, the last
# of which is usually an empty doc-test run).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1); if ($(i) ~ /^ignored;?$/) s += $(i-1) } }
     END { printf "\nsummary: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
