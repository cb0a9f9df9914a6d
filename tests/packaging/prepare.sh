#!/bin/sh
# Installs what the packaging tests (tests/packaging.rs) need on a Debian 12 machine:
#   - Debian packages: meson, ninja-build, pkg-config, systemd (systemd-analyze and systemd.pc),
#     the shellcheck linter, man-db and groff-base (rendering lxcfs.1), util-linux (unshare,
#     mount) and python3-venv;
#   - a Python venv with kubernetes-validate (pinned in requirements.txt next to this script)
#     at $LXCFS_TEST_VENV, default /var/cache/lxcfs-test-venv.
# Run as root. Safe to run again: it installs only what is missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
venv=${LXCFS_TEST_VENV:-/var/cache/lxcfs-test-venv}
requirements=$here/requirements.txt

if [ "$(id -u)" -ne 0 ]; then
    echo "prepare.sh: run me as root (apt-get and $venv need it)" >&2
    exit 1
fi

packages="meson ninja-build pkg-config systemd shellcheck man-db groff-base util-linux python3-venv"
missing=
for package in $packages; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing="$missing $package"
    fi
done
if [ -n "$missing" ]; then
    echo "prepare.sh: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086 # one word per package
    apt-get install -y -q --no-install-recommends $missing
fi

# The venv is rebuilt whenever requirements.txt changed since it was made.
stamp=$venv/.lxcfs-requirements
if [ -x "$venv/bin/kubernetes-validate" ] && [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
    echo "prepare.sh: $venv is up to date"
else
    echo "prepare.sh: creating $venv"
    rm -rf "$venv"
    # Debian's own interpreter, whatever python3 comes first in PATH.
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
    cp "$requirements" "$stamp"
fi
"$venv/bin/kubernetes-validate" --version >/dev/null
echo "prepare.sh: ready"
