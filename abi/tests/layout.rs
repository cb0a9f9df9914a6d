//! Guards the C ABI: the current `LibVTable` (with every type it mentions) must be
//! layout-compatible, as abi_stable's checker sees it, with the frozen copy of the version it
//! claims. Changing a field, a parameter or an order without bumping `ABI_VERSION` (and adding a
//! new frozen copy) fails here. Run with `--features layout-check`.

use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::StableAbi;
use lxcfs_abi as abi;

/// Version 1 of the contract, frozen: the first release and its append-only revisions. A
/// revision may only append fields to `Options` and to `LibVTable` (both carry
/// `struct_size`); everything else is fixed. Never edit a released revision; add the next one
/// below.
macro_rules! frozen_v1 {
    ($name:ident { $($appended:tt)* } { $($vtable_appended:tt)* }) => {
#[allow(dead_code, missing_debug_implementations)]
mod $name {
    use abi_stable::StableAbi;
    use std::ffi::c_void;

    #[repr(C)]
    #[derive(StableAbi)]
    pub struct Bytes {
        pub ptr: *const u8,
        pub len: usize,
    }
    #[repr(C)]
    #[derive(StableAbi)]
    pub struct Sink {
        pub ctx: *mut c_void,
        pub write: unsafe extern "C" fn(ctx: *mut c_void, data: *const u8, len: usize),
    }
    #[repr(C)]
    #[derive(StableAbi)]
    pub struct DirSink {
        pub ctx: *mut c_void,
        pub add: unsafe extern "C" fn(ctx: *mut c_void, name: *const u8, len: usize, kind: u32),
    }
    #[repr(C)]
    #[derive(StableAbi)]
    pub struct Caller {
        pub tid: u32,
        pub uid: u32,
        pub gid: u32,
    }
    #[repr(C)]
    #[derive(StableAbi)]
    pub struct Attr {
        pub kind: u32,
        pub perm: u32,
        pub size: u64,
        pub nlink: u32,
        pub reserved: u32,
    }
    #[repr(C)]
    #[derive(StableAbi)]
    pub struct OpenReply {
        pub flags: u32,
        pub reserved: u32,
    }
    #[repr(C)]
    #[derive(StableAbi)]
    pub struct Options {
        pub struct_size: u32,
        pub flags: u32,
        pub runtime_dir: Bytes,
        pub root: Bytes,
        pub max_log_level: u32,
        $($appended)*
    }
    #[repr(C)]
    #[derive(StableAbi)]
    pub struct HostApi {
        pub abi_version: u32,
        pub struct_size: u32,
        pub log: unsafe extern "C" fn(level: u32, target: Bytes, message: Bytes),
    }
    #[repr(C)]
    #[derive(StableAbi)]
    pub struct LibVTable {
        pub abi_version: u32,
        pub struct_size: u32,
        pub lib_version: extern "C" fn() -> Bytes,
        pub build_id: extern "C" fn() -> Bytes,
        pub init: unsafe extern "C" fn(
            host: *const HostApi,
            options: *const Options,
            saved: Bytes,
            state_out: *mut *mut c_void,
        ) -> i32,
        pub shutdown: unsafe extern "C" fn(state: *mut c_void, saved: *const Sink) -> i32,
        pub getattr: unsafe extern "C" fn(
            state: *mut c_void,
            caller: *const Caller,
            path: Bytes,
            out: *mut Attr,
        ) -> i32,
        pub readdir: unsafe extern "C" fn(
            state: *mut c_void,
            caller: *const Caller,
            path: Bytes,
            sink: *const DirSink,
        ) -> i32,
        pub open: unsafe extern "C" fn(
            state: *mut c_void,
            caller: *const Caller,
            path: Bytes,
            flags: i32,
            out: *mut OpenReply,
        ) -> i32,
        pub read: unsafe extern "C" fn(
            state: *mut c_void,
            caller: *const Caller,
            path: Bytes,
            sink: *const Sink,
        ) -> i32,
        pub readlink: unsafe extern "C" fn(
            state: *mut c_void,
            caller: *const Caller,
            path: Bytes,
            sink: *const Sink,
        ) -> i32,
        pub access: unsafe extern "C" fn(
            state: *mut c_void,
            caller: *const Caller,
            path: Bytes,
            mask: i32,
        ) -> i32,
        pub write: unsafe extern "C" fn(
            state: *mut c_void,
            caller: *const Caller,
            path: Bytes,
            data: Bytes,
            offset: u64,
        ) -> i32,
        pub psi_trigger: unsafe extern "C" fn(
            state: *mut c_void,
            caller: *const Caller,
            path: Bytes,
            data: Bytes,
            target: *const Sink,
            trigger: *const Sink,
        ) -> i32,
        pub tick: unsafe extern "C" fn(state: *mut c_void) -> i32,
        pub set_virtualization: unsafe extern "C" fn(state: *mut c_void, on: u32) -> i32,
        $($vtable_appended)*
    }
}
    };
}

// The first release.
frozen_v1!(v1 {} {});
// Revision 2: explicit padding, then the render cache lifetime.
frozen_v1!(v1r2 {
    pub reserved: u32,
    pub cache_ttl_us: u32,
} {});
// Revision 3: a read that reports the caller's view, and the view alone.
frozen_v1!(v1r3 {
    pub reserved: u32,
    pub cache_ttl_us: u32,
} {
    pub read_view: unsafe extern "C" fn(
        state: *mut c_void,
        caller: *const Caller,
        path: Bytes,
        sink: *const Sink,
        view: *mut u64,
    ) -> i32,
    pub view: unsafe extern "C" fn(state: *mut c_void, caller: *const Caller, view: *mut u64) -> i32,
});

#[test]
fn vtable_layout_matches_frozen_version() {
    let frozen = match abi::ABI_VERSION {
        1 => <v1r3::LibVTable as StableAbi>::LAYOUT,
        v => panic!("ABI_VERSION {v} has no frozen layout in tests/layout.rs: add one"),
    };
    if let Err(e) = check_layout_compatibility(frozen, abi::layout()) {
        panic!(
            "LibVTable layout differs from the frozen v{} contract without an ABI_VERSION \
             bump:\n{e}",
            abi::ABI_VERSION
        );
    }
}

#[test]
fn host_api_layout_matches_frozen_version() {
    let frozen = <v1r3::HostApi as StableAbi>::LAYOUT;
    check_layout_compatibility(frozen, <abi::HostApi as StableAbi>::LAYOUT)
        .unwrap_or_else(|e| panic!("HostApi layout changed without an ABI_VERSION bump:\n{e}"));
}

#[test]
fn checker_detects_a_changed_parameter() {
    // The guard itself must be able to fail: a u32 -> u64 change is reported.
    #[repr(C)]
    #[derive(StableAbi)]
    struct A {
        f: extern "C" fn(u32) -> i32,
    }
    #[repr(C)]
    #[derive(StableAbi)]
    struct B {
        f: extern "C" fn(u64) -> i32,
    }
    assert!(
        check_layout_compatibility(<A as StableAbi>::LAYOUT, <B as StableAbi>::LAYOUT).is_err()
    );
}

#[test]
fn entry_symbol_names_the_version() {
    let sym = std::str::from_utf8(abi::ENTRY_SYMBOL).unwrap();
    assert_eq!(sym, format!("lxcfs_vtable_v{}\0", abi::ABI_VERSION));
}

#[test]
fn options_revisions_only_append() {
    // Every field of the first release keeps its offset, and the appended fields start at or
    // after the first release's size, so a first-release host's `struct_size` never covers
    // them (its padding is not mistaken for a value).
    use std::mem::{offset_of, size_of};
    assert_eq!(
        offset_of!(abi::Options, flags),
        offset_of!(v1::Options, flags)
    );
    assert_eq!(
        offset_of!(abi::Options, runtime_dir),
        offset_of!(v1::Options, runtime_dir)
    );
    assert_eq!(
        offset_of!(abi::Options, root),
        offset_of!(v1::Options, root)
    );
    assert_eq!(
        offset_of!(abi::Options, max_log_level),
        offset_of!(v1::Options, max_log_level)
    );
    assert_eq!(abi::OPTIONS_V1_SIZE, size_of::<v1::Options>());
    assert!(offset_of!(abi::Options, cache_ttl_us) >= size_of::<v1::Options>());
    assert_eq!(size_of::<abi::Options>(), size_of::<v1r3::Options>());
}

#[test]
fn vtable_revisions_only_append() {
    // Every field of the second revision keeps its offset and the third's start after its
    // end, so a revision-2 host (whose `struct_size` check asks for less) never reads them.
    use std::mem::{offset_of, size_of};
    assert_eq!(
        offset_of!(v1r3::LibVTable, read_view),
        size_of::<v1r2::LibVTable>()
    );
    assert_eq!(
        offset_of!(abi::LibVTable, set_virtualization),
        offset_of!(v1r2::LibVTable, set_virtualization)
    );
    assert_eq!(
        offset_of!(abi::LibVTable, read),
        offset_of!(v1r2::LibVTable, read)
    );
    assert_eq!(
        offset_of!(abi::LibVTable, read_view),
        size_of::<v1r2::LibVTable>()
    );
    assert_eq!(size_of::<abi::LibVTable>(), size_of::<v1r3::LibVTable>());
}
