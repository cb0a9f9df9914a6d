//! Fixes the installed library path at build time: `LXCFS_LIBDIR` (meson passes
//! `<prefix>/<libdir>`, default `/usr/lib`) + `/lxcfs/liblxcfs.so`.

fn main() {
    println!("cargo:rerun-if-env-changed=LXCFS_LIBDIR");
    let libdir = std::env::var("LXCFS_LIBDIR").unwrap_or_else(|_| "/usr/lib".to_string());
    println!(
        "cargo:rustc-env=LXCFS_DEFAULT_LIBRARY={}/lxcfs/liblxcfs.so",
        libdir.trim_end_matches('/')
    );
}
