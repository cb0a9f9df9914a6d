//! Fixes the installed library path at build time: `LXCFS_LIBDIR` (meson passes
//! `<prefix>/<libdir>`, default `/usr/lib`) + `/lxcfs/liblxcfs.so`, and the default runtime
//! directory: `LXCFS_RUNTIME_DIR` (meson's `runtime-path`, default `/run`).

fn main() {
    println!("cargo:rerun-if-env-changed=LXCFS_LIBDIR");
    println!("cargo:rerun-if-env-changed=LXCFS_RUNTIME_DIR");
    let runtime = std::env::var("LXCFS_RUNTIME_DIR").unwrap_or_else(|_| "/run".to_string());
    println!("cargo:rustc-env=LXCFS_DEFAULT_RUNTIME_DIR={runtime}");
    let libdir = std::env::var("LXCFS_LIBDIR").unwrap_or_else(|_| "/usr/lib".to_string());
    println!(
        "cargo:rustc-env=LXCFS_DEFAULT_LIBRARY={}/lxcfs/liblxcfs.so",
        libdir.trim_end_matches('/')
    );
}
