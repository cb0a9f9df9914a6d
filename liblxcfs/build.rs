//! Stamps the library with its version and a build id.
//!
//! * `LXCFS_LIB_VERSION`: the package version with `LXCFS_VERSION_SUFFIX` (environment, at
//!   build time) appended; the reload tests build a `-variant` library this way.
//! * `LXCFS_BUILD_ID`: `<nanoseconds since the epoch, hex>-<pid of this script><suffix>`,
//!   different for every run of this script. The script runs again whenever the library's own
//!   sources, the sources of the in-tree crates it embeds, the manifest or the suffix change,
//!   so two libraries with different code never share a build id.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    for path in [
        "src",
        "Cargo.toml",
        "../abi/src",
        "../abi/Cargo.toml",
        "../crates/lxcfs-formats/src",
        "../crates/lxcfs-formats/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-env-changed=LXCFS_VERSION_SUFFIX");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let suffix = std::env::var("LXCFS_VERSION_SUFFIX").unwrap_or_default();
    println!(
        "cargo:rustc-env=LXCFS_BUILD_ID={now:x}-{}{suffix}",
        std::process::id()
    );
    println!(
        "cargo:rustc-env=LXCFS_LIB_VERSION={}{suffix}",
        env!("CARGO_PKG_VERSION")
    );
}
