//! The C-ABI contract between the `lxcfs` host binary and the reloadable `liblxcfs.so`.
//!
//! The host owns the FUSE session, the inode table, per-open content snapshots, PSI trigger
//! file descriptors and poll handles. The library owns everything that knows about containers:
//! it answers `getattr`, `readdir`, `open`, `read` (a whole-file render), `readlink`, `access`,
//! `write` and PSI trigger validation, and drives the loadavg sampler on the host's timer.
//!
//! # Stability rules
//!
//! * The library exports one symbol, [`ENTRY_SYMBOL`], an `extern "C" fn() -> *const LibVTable`
//!   pointing at a `static` inside the library.
//! * [`LibVTable`] and [`HostApi`] start with `abi_version` and `struct_size`. The host accepts a
//!   library when `abi_version == ABI_VERSION` and `struct_size >= size_of::<LibVTable>()` as the
//!   host knows it. New fields are only ever appended; anything else bumps [`ABI_VERSION`] and the
//!   entry symbol's suffix. The `layout` test of this crate (abi_stable's layout checker against a
//!   frozen copy of each version) fails when the layout changes without that bump.
//! * Nothing Rust-shaped crosses the boundary: byte slices are [`Bytes`] (pointer + length,
//!   borrowed for the duration of the call), output goes to host-owned sinks ([`Sink`],
//!   [`DirSink`]), and nothing allocated on one side is freed on the other.
//! * Every function returns `i32`: `>= 0` on success, `-errno` on failure (errno values are
//!   Linux's, e.g. `-2` = `-ENOENT`).
//! * Every `extern "C"` function of the library catches panics and turns them into `-EIO`
//!   (`-5`); the library is built with `panic = "unwind"` so that this is possible.
//! * Calls into the library are made only from host threads that belong to the library's
//!   generation (see the host's `plugin` module): `init` and `shutdown` run on short-lived
//!   threads, operations on generation-owned worker threads. This is what lets `dlclose` unload
//!   the image (glibc keeps a DSO whose thread-local destructors are still registered).
#![deny(missing_docs)]

use std::ffi::c_void;
use std::marker::PhantomData;

#[cfg(feature = "layout-check")]
use abi_stable::StableAbi;

/// Version of this contract. Bump it, and the suffix of [`ENTRY_SYMBOL`], on any change that is
/// not an append of new trailing fields.
pub const ABI_VERSION: u32 = 1;

/// NUL-terminated name of the function the library exports; its type is [`EntryFn`].
pub const ENTRY_SYMBOL: &[u8] = b"lxcfs_vtable_v1\0";

/// Type of the exported entry function: returns a pointer to a `static` [`LibVTable`] inside the
/// library, valid until the library is unloaded. Never null.
pub type EntryFn = unsafe extern "C" fn() -> *const LibVTable;

/// Kind of a filesystem node, as reported in [`Attr::kind`] and to [`DirSink::add`].
pub mod kind {
    /// A directory.
    pub const DIR: u32 = 1;
    /// A regular file.
    pub const FILE: u32 = 2;
    /// A symbolic link.
    pub const SYMLINK: u32 = 3;
}

/// Flags of [`Options::flags`], one per upstream command-line switch that reaches the library.
pub mod opt {
    /// `-u`/`--disable-swap`: report no swap (SwapTotal/SwapFree 0, `/proc/swaps` header only).
    pub const SWAP_OFF: u32 = 1 << 0;
    /// `--disable-zswap`: report Zswap/Zswapped as 0.
    pub const ZSWAP_OFF: u32 = 1 << 1;
    /// `--enable-cfs`: CPU count from the CFS quota in cpuinfo, stat and `online`.
    pub const CFS: u32 = 1 << 2;
    /// `-l`/`--enable-loadavg`: per-container `/proc/loadavg`, sampled by [`crate::LibVTable::tick`].
    pub const LOADAVG: u32 = 1 << 3;
    /// `--enable-psi-poll`: PSI trigger writes and poll on `proc/pressure/*`.
    pub const PSI_POLL: u32 = 1 << 4;
    /// `--enable-pidfd`: accepted for compatibility; pid validity is always checked.
    pub const PIDFD: u32 = 1 << 5;
}

/// Flags returned in [`OpenReply::flags`].
pub mod open_flags {
    /// The file's content is generated: the host must open it with direct I/O (no page cache).
    pub const DIRECT_IO: u32 = 1 << 0;
    /// The file accepts PSI trigger writes (a `proc/pressure/*` file with `--enable-psi-poll`).
    pub const PSI_TRIGGER: u32 = 1 << 1;
    /// This reply holds for every open of the same path with the same access mode
    /// (`O_ACCMODE`), whoever opens it, for as long as this library serves (until a reload):
    /// the host may answer such opens itself with the same flags. Hosts that do not know the
    /// bit ignore it.
    pub const CALLER_INDEPENDENT: u32 = 1 << 2;
}

/// Log levels passed to [`HostApi::log`]; same order as `tracing::Level`.
pub mod level {
    /// `tracing::Level::ERROR`
    pub const ERROR: u32 = 1;
    /// `tracing::Level::WARN`
    pub const WARN: u32 = 2;
    /// `tracing::Level::INFO`
    pub const INFO: u32 = 3;
    /// `tracing::Level::DEBUG`
    pub const DEBUG: u32 = 4;
    /// `tracing::Level::TRACE`
    pub const TRACE: u32 = 5;
}

/// A borrowed byte slice: `len` bytes at `ptr`, valid for the duration of the call it is passed
/// to (or, for [`LibVTable::lib_version`] and friends, for the life of the loaded image).
/// `ptr` may be null only when `len` is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "layout-check", derive(StableAbi))]
pub struct Bytes {
    /// First byte, or null for an empty slice.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

impl Bytes {
    /// An empty slice.
    pub const EMPTY: Bytes = Bytes {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// Borrows `s` (the caller keeps `s` alive for as long as the result is used).
    pub fn new(s: &[u8]) -> Bytes {
        Bytes {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// Views the bytes as a slice.
    ///
    /// # Safety
    /// `ptr` must point at `len` readable bytes that stay valid and unmodified for `'a`, or `len`
    /// must be 0.
    pub unsafe fn as_slice<'a>(self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            &[]
        } else {
            // SAFETY: guaranteed by the caller as documented above.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// A host-owned byte sink: the library appends output by calling `write(ctx, ptr, len)` any
/// number of times. The host owns the memory behind `ctx`; the library never keeps the sink
/// after the call it was passed to returns.
#[repr(C)]
#[derive(Debug)]
#[cfg_attr(feature = "layout-check", derive(StableAbi))]
pub struct Sink {
    /// Opaque host context.
    pub ctx: *mut c_void,
    /// Appends `len` bytes at `data` to the sink.
    pub write: unsafe extern "C" fn(ctx: *mut c_void, data: *const u8, len: usize),
}

/// A host-owned sink of directory entries.
#[repr(C)]
#[derive(Debug)]
#[cfg_attr(feature = "layout-check", derive(StableAbi))]
pub struct DirSink {
    /// Opaque host context.
    pub ctx: *mut c_void,
    /// Adds one entry: `name` (`len` bytes, never `.` or `..`) of kind [`kind`]`::*`.
    pub add: unsafe extern "C" fn(ctx: *mut c_void, name: *const u8, len: usize, kind: u32),
}

/// Who is asking: the identity the kernel put in the FUSE request header.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "layout-check", derive(StableAbi))]
pub struct Caller {
    /// Thread id (not the thread-group id) of the calling thread, in the daemon's pid namespace.
    pub tid: u32,
    /// Effective uid of the caller, in the daemon's user namespace.
    pub uid: u32,
    /// Effective gid of the caller, in the daemon's user namespace.
    pub gid: u32,
}

/// Attributes of one node, filled by [`LibVTable::getattr`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "layout-check", derive(StableAbi))]
pub struct Attr {
    /// [`kind`]`::*`.
    pub kind: u32,
    /// Permission bits (e.g. `0o444`), without the file-type bits.
    pub perm: u32,
    /// Size in bytes. Generated files report 0 or an estimate; they are served with direct I/O.
    pub size: u64,
    /// Link count.
    pub nlink: u32,
    /// Reserved, 0.
    pub reserved: u32,
}

/// Result of [`LibVTable::open`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "layout-check", derive(StableAbi))]
pub struct OpenReply {
    /// [`open_flags`]`::*`.
    pub flags: u32,
    /// Reserved, 0.
    pub reserved: u32,
}

/// Options handed to [`LibVTable::init`]; built by the host from its command line.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "layout-check", derive(StableAbi))]
pub struct Options {
    /// `size_of::<Options>()` as the host knows it; the library reads no field beyond it.
    pub struct_size: u32,
    /// [`opt`]`::*` bits.
    pub flags: u32,
    /// Runtime directory (`--runtime-dir`, default `/run`), UTF-8.
    pub runtime_dir: Bytes,
    /// Root of the host filesystem view the library reads `/proc` and `/sys` through: `/` in
    /// production, a fixture tree in tests. UTF-8.
    pub root: Bytes,
    /// Most verbose [`level`] the host will print; the library skips formatting anything
    /// more verbose.
    pub max_log_level: u32,
    /// Padding of the first release made explicit, 0; never read (a first-release host left
    /// it uninitialized).
    pub reserved: u32,
    /// Appended after the first release of v1 (read only when `struct_size` covers it): how
    /// long, in µs, a file rendered for a container may be served again to readers in the same
    /// container (`--cache-ms`); 0 renders for every open file. A host whose `struct_size` ends
    /// before this field gets [`DEFAULT_CACHE_TTL_US`].
    pub cache_ttl_us: u32,
}

/// `size_of::<Options>()` in the first release of ABI v1, before `cache_ttl_us` was appended
/// (48 bytes on 64-bit targets).
pub const OPTIONS_V1_SIZE: usize = std::mem::offset_of!(Options, cache_ttl_us);

/// The render cache lifetime a library uses when the host does not set one: 10 ms, one
/// USER_HZ tick, the resolution of `/proc/stat` and `/proc/uptime` figures.
pub const DEFAULT_CACHE_TTL_US: u32 = 10_000;

/// Services the host offers the library; passed to [`LibVTable::init`], valid until
/// [`LibVTable::shutdown`] returns.
#[repr(C)]
#[derive(Debug)]
#[cfg_attr(feature = "layout-check", derive(StableAbi))]
pub struct HostApi {
    /// [`ABI_VERSION`] of the host.
    pub abi_version: u32,
    /// `size_of::<HostApi>()` of the host.
    pub struct_size: u32,
    /// Emits one log record: [`level`]`::*`, a target (e.g. `liblxcfs::proc::meminfo`) and a
    /// formatted message, both UTF-8.
    pub log: unsafe extern "C" fn(level: u32, target: Bytes, message: Bytes),
}

/// The library's function table. See the crate documentation for the calling rules.
///
/// `state` is the pointer returned by `init`; `path` is an absolute path inside the mount
/// (`/proc/meminfo`, `/sys/devices/system/cpu/online`, `/` for the root), UTF-8.
#[repr(C)]
#[derive(Debug)]
#[cfg_attr(feature = "layout-check", derive(StableAbi))]
pub struct LibVTable {
    /// Must equal the host's [`ABI_VERSION`].
    pub abi_version: u32,
    /// `size_of::<LibVTable>()` as the library knows it; at least the host's.
    pub struct_size: u32,
    /// The library's version string (e.g. `0.1.0`), static, UTF-8.
    pub lib_version: extern "C" fn() -> Bytes,
    /// An identifier unique to this build of the library, static, UTF-8.
    pub build_id: extern "C" fn() -> Bytes,
    /// Creates the library's state. `saved` holds bytes a previous generation wrote in
    /// `shutdown` (empty on first start); unknown or corrupt saved state is dropped with a log
    /// line. On success stores the state in `*state_out` and returns 0; otherwise `-errno`.
    pub init: unsafe extern "C" fn(
        host: *const HostApi,
        options: *const Options,
        saved: Bytes,
        state_out: *mut *mut c_void,
    ) -> i32,
    /// Writes the state worth keeping across a reload (versioned bytes) to `saved`, then frees
    /// `state`. No library thread survives this call. Returns 0 or `-errno`.
    pub shutdown: unsafe extern "C" fn(state: *mut c_void, saved: *const Sink) -> i32,
    /// Attributes of `path` into `*out`. `-ENOENT` when the path does not exist.
    pub getattr: unsafe extern "C" fn(
        state: *mut c_void,
        caller: *const Caller,
        path: Bytes,
        out: *mut Attr,
    ) -> i32,
    /// Lists the directory `path` into `sink` (without `.` and `..`). `-ENOTDIR`, `-ENOENT`.
    pub readdir: unsafe extern "C" fn(
        state: *mut c_void,
        caller: *const Caller,
        path: Bytes,
        sink: *const DirSink,
    ) -> i32,
    /// Checks that `path` may be opened with open(2) `flags`; fills `*out`. `-ENOENT`,
    /// `-EISDIR`, `-EACCES` (write access where none is allowed).
    pub open: unsafe extern "C" fn(
        state: *mut c_void,
        caller: *const Caller,
        path: Bytes,
        flags: i32,
        out: *mut OpenReply,
    ) -> i32,
    /// Renders the whole content of the file `path`, as seen by `caller`, into `sink`. Returns
    /// the number of bytes written or `-errno`. Never fails merely because a cgroup file is
    /// missing or malformed: the library falls back to the host's file.
    pub read: unsafe extern "C" fn(
        state: *mut c_void,
        caller: *const Caller,
        path: Bytes,
        sink: *const Sink,
    ) -> i32,
    /// Writes the target of the symlink `path` into `sink`. `-EINVAL` for a non-link.
    pub readlink: unsafe extern "C" fn(
        state: *mut c_void,
        caller: *const Caller,
        path: Bytes,
        sink: *const Sink,
    ) -> i32,
    /// access(2) check of `path` for `mask` (`R_OK|W_OK|X_OK`, or `F_OK`). 0 or `-EACCES`.
    pub access: unsafe extern "C" fn(
        state: *mut c_void,
        caller: *const Caller,
        path: Bytes,
        mask: i32,
    ) -> i32,
    /// A write of `data` at `offset` to `path`. Generated files refuse writes (`-EACCES` under
    /// `/sys`, `-EINVAL` under `/proc`); PSI trigger files are handled by `psi_trigger` instead.
    pub write: unsafe extern "C" fn(
        state: *mut c_void,
        caller: *const Caller,
        path: Bytes,
        data: Bytes,
        offset: u64,
    ) -> i32,
    /// Validates a PSI trigger written to `path` (`some|full <threshold µs> <window µs>`) for
    /// `caller`'s container; on success writes the absolute host path of the cgroup's
    /// `<resource>.pressure` file to `target` and the normalized trigger text to `trigger`, and
    /// returns 0. The host opens the file, writes the trigger and polls the descriptor.
    /// `-EINVAL` for a malformed trigger, `-ENOENT` when the container's cgroup has no such file.
    pub psi_trigger: unsafe extern "C" fn(
        state: *mut c_void,
        caller: *const Caller,
        path: Bytes,
        data: Bytes,
        target: *const Sink,
        trigger: *const Sink,
    ) -> i32,
    /// Called by the host every 5 s (older hosts: only with `-l`): one loadavg sampling pass
    /// (nothing to do unless `-l` is on and a container has read `loadavg`), and the release
    /// of what the library keeps for containers whose processes have exited. Returns 0.
    pub tick: unsafe extern "C" fn(state: *mut c_void) -> i32,
    /// Switches virtualization on (1) or off (0, host content everywhere); SIGUSR2 toggles it.
    pub set_virtualization: unsafe extern "C" fn(state: *mut c_void, on: u32) -> i32,
    /// Appended in revision 3 (a revision-3 host needs it): [`LibVTable::read`], and writes to
    /// `*view` the view the content was rendered for (see [`LibVTable::view`]). The host keeps
    /// an open file's render per view, so that a reader of a shared descriptor is never
    /// served a render made for another view.
    pub read_view: unsafe extern "C" fn(
        state: *mut c_void,
        caller: *const Caller,
        path: Bytes,
        sink: *const Sink,
        view: *mut u64,
    ) -> i32,
    /// Appended in revision 3: writes to `*view` the view `caller` gets, an opaque key equal
    /// for two callers only when every file renders the same for both at one moment: the
    /// readers of one container, or host processes in the same cgroups (whether
    /// virtualization is on or off). Finding it proves that the caller's thread id still
    /// names the thread it named (the library's caller check). Returns 0, or `-ESRCH` when
    /// the caller thread is gone.
    pub view:
        unsafe extern "C" fn(state: *mut c_void, caller: *const Caller, view: *mut u64) -> i32,
}

/// Reads through a `*const T` the host or library handed over, checking for null.
///
/// # Safety
/// `p` must be null or point at a valid, initialized `T` that outlives `'a`.
pub unsafe fn deref<'a, T>(p: *const T) -> Option<&'a T> {
    // SAFETY: the caller guarantees that a non-null `p` is valid for `'a`.
    unsafe { p.as_ref() }
}

/// Marker used by [`SinkWriter`] to tie a sink's lifetime to a borrow.
#[derive(Debug)]
pub struct SinkWriter<'a> {
    sink: &'a Sink,
    _borrow: PhantomData<&'a mut ()>,
}

impl<'a> SinkWriter<'a> {
    /// Wraps a sink received from the other side of the boundary.
    pub fn new(sink: &'a Sink) -> Self {
        SinkWriter {
            sink,
            _borrow: PhantomData,
        }
    }

    /// Appends `data` to the sink.
    pub fn push(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        // SAFETY: `data` is a valid slice for the duration of the call; the sink contract says
        // `write` copies the bytes and does not keep the pointer.
        unsafe { (self.sink.write)(self.sink.ctx, data.as_ptr(), data.len()) }
    }
}

/// A host-side [`Sink`] backed by a `Vec<u8>`: create with [`VecSink::new`], pass
/// [`VecSink::sink`] across, read the bytes back with [`VecSink::into_inner`].
#[derive(Debug)]
pub struct VecSink {
    // Boxed so that the `Vec` header has a stable address: the C view holds a pointer to it
    // and must stay valid when the `VecSink` itself is moved.
    #[allow(clippy::box_collection)]
    buf: Box<Vec<u8>>,
}

impl Default for VecSink {
    fn default() -> Self {
        Self::new()
    }
}

impl VecSink {
    /// An empty sink.
    pub fn new() -> Self {
        VecSink {
            buf: Box::new(Vec::new()),
        }
    }

    /// The C view of this sink; valid while `self` is alive and not moved out of.
    pub fn sink(&mut self) -> Sink {
        Sink {
            ctx: (&mut *self.buf as *mut Vec<u8>).cast(),
            write: vec_sink_write,
        }
    }

    /// The bytes written so far.
    pub fn into_inner(self) -> Vec<u8> {
        *self.buf
    }
}

/// Appends what the other side writes to `buf` (which keeps its capacity from call to call:
/// the host renders into a reused buffer this way, without allocating).
///
/// ```
/// let mut buf = b"kept ".to_vec();
/// let rc = lxcfs_abi::collect_into(&mut buf, |sink| {
///     lxcfs_abi::SinkWriter::new(sink).push(b"MemTotal: 1 kB\n");
///     0
/// });
/// assert_eq!((rc, &buf[..]), (0, &b"kept MemTotal: 1 kB\n"[..]));
/// ```
pub fn collect_into<R>(buf: &mut Vec<u8>, f: impl FnOnce(&Sink) -> R) -> R {
    let sink = Sink {
        ctx: (buf as *mut Vec<u8>).cast(),
        write: vec_sink_write,
    };
    f(&sink)
}

unsafe extern "C" fn vec_sink_write(ctx: *mut c_void, data: *const u8, len: usize) {
    if ctx.is_null() || (data.is_null() && len > 0) {
        return;
    }
    // SAFETY: `ctx` was produced by `VecSink::sink` from a live `Box<Vec<u8>>`, or by
    // `collect_into` from a `&mut Vec<u8>`, and the sink is used only while that vector is
    // alive and not otherwise borrowed; `data`/`len` describe a readable slice per the contract.
    unsafe {
        let v = &mut *ctx.cast::<Vec<u8>>();
        v.extend_from_slice(Bytes { ptr: data, len }.as_slice());
    }
}

/// Layout of the contract as abi_stable describes it, for the layout test.
#[cfg(feature = "layout-check")]
pub fn layout() -> &'static abi_stable::type_layout::TypeLayout {
    <LibVTable as StableAbi>::LAYOUT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collect_joins_any_number_of_writes() {
        for parts in [&[][..], &["one"][..], &["a", "bc", "", "def"][..]] {
            let mut bytes = Vec::new();
            let n = collect_into(&mut bytes, |sink| {
                let mut w = SinkWriter::new(sink);
                for p in parts {
                    w.push(p.as_bytes());
                }
                parts.len()
            });
            assert_eq!(n, parts.len());
            assert_eq!(&bytes[..], parts.concat().as_bytes());
        }
    }
}
