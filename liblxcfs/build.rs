//! Stamps the library with a build id (unique per build) and an optional version suffix.
//!
//! `LXCFS_VERSION_SUFFIX` (environment, at build time) is appended to the reported library
//! version; the reload tests build a second variant this way.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-env-changed=LXCFS_VERSION_SUFFIX");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let suffix = std::env::var("LXCFS_VERSION_SUFFIX").unwrap_or_default();
    println!("cargo:rustc-env=LXCFS_BUILD_ID={now:x}-{}{suffix}", std::process::id());
    println!("cargo:rustc-env=LXCFS_LIB_VERSION={}{suffix}", env!("CARGO_PKG_VERSION"));
}
