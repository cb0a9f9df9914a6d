#!/bin/sh
# Called by meson (see meson.build): builds the daemon, the library and the man page generator
# in release mode and copies them into the meson build directory.
#
# usage: cargo-build.sh CARGO SOURCE_DIR OUTPUT_DIR LOCKED(true|false)
#
# The Cargo target directory is $CARGO_TARGET_DIR when set (meson's -Dcargo-target-dir sets
# it), else SOURCE_DIR/target, so a meson build shares compiled crates with plain
# `cargo build --release` runs in the same tree.
set -eu

if [ "$#" -ne 4 ]; then
    echo "usage: $0 CARGO SOURCE_DIR OUTPUT_DIR LOCKED" >&2
    exit 2
fi
cargo=$1
srcdir=$2
outdir=$3
locked=$4

CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$srcdir/target}
export CARGO_TARGET_DIR

set -- build --release --manifest-path "$srcdir/Cargo.toml" -p lxcfs-host -p liblxcfs
if [ "$locked" = true ]; then
    set -- "$@" --locked
fi
"$cargo" "$@"

release=$CARGO_TARGET_DIR/release
for artifact in lxcfs liblxcfs.so lxcfs-mangen; do
    if [ ! -f "$release/$artifact" ]; then
        echo "cargo-build.sh: cargo did not produce $release/$artifact" >&2
        exit 1
    fi
    # Leave an unchanged copy alone so that its timestamp (and what depends on it) stays put.
    if ! cmp -s "$release/$artifact" "$outdir/$artifact"; then
        cp "$release/$artifact" "$outdir/$artifact.tmp"
        mv -f "$outdir/$artifact.tmp" "$outdir/$artifact"
    fi
done
