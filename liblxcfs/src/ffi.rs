//! The library's C ABI: the exported entry symbol and the [`LibVTable`] functions.
//!
//! This is the only module with `extern "C"` code. Each function checks its pointers, converts
//! them to Rust values, calls into [`crate::Lxcfs`], and catches every panic, which becomes
//! `-EIO` for that one call (the profile keeps `panic = "unwind"` so that this works).

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lxcfs_abi::{
    deref, Attr, Bytes, Caller, DirSink, HostApi, LibVTable, OpenReply, Options, Sink, SinkWriter,
    ABI_VERSION,
};

use crate::{logging, Lxcfs};

/// Version of this library build (`CARGO_PKG_VERSION` plus `LXCFS_VERSION_SUFFIX`).
pub const LIB_VERSION: &str = env!("LXCFS_LIB_VERSION");
/// Identifier unique to this build.
pub const BUILD_ID: &str = env!("LXCFS_BUILD_ID");

static VTABLE: LibVTable = LibVTable {
    abi_version: ABI_VERSION,
    struct_size: std::mem::size_of::<LibVTable>() as u32,
    lib_version,
    build_id,
    init,
    shutdown,
    getattr,
    readdir,
    open,
    read,
    readlink,
    access,
    write,
    psi_trigger,
    tick,
    set_virtualization,
    read_view,
    view,
};

/// The entry symbol ([`lxcfs_abi::ENTRY_SYMBOL`]): a pointer to the static vtable.
#[no_mangle]
pub extern "C" fn lxcfs_vtable_v1() -> *const LibVTable {
    &VTABLE
}

/// Runs `f`, turning a panic into `-EIO`.
fn boundary(what: &str, f: impl FnOnce() -> i32) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            tracing::error!("panic in {what}; answered EIO");
            -libc::EIO
        }
    }
}

fn errno(e: &crate::error::Error) -> i32 {
    -e.errno()
}

/// # Safety
/// `state` must be null or a pointer returned by `init` and not yet passed to `shutdown`.
unsafe fn lx<'a>(state: *mut c_void) -> Option<&'a Lxcfs> {
    // SAFETY: per the contract, a non-null `state` is the `Box<Lxcfs>` made by `init`.
    unsafe { state.cast::<Lxcfs>().as_ref() }
}

/// # Safety
/// `b` must describe readable bytes valid for the call.
unsafe fn text<'a>(b: Bytes) -> Option<&'a str> {
    // SAFETY: the caller passes a slice valid for the duration of the call.
    let bytes = unsafe { b.as_slice() };
    // Paths are ASCII: checking that is a few word-wide tests, where UTF-8 validation walks
    // a short path byte by byte (about 100 instructions on every read).
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).ok()
}

/// Common prologue: state, caller and path, or `-EINVAL`.
macro_rules! args {
    ($state:expr, $caller:expr, $path:expr) => {{
        // SAFETY: pointers come from the host per the ABI contract (valid for this call).
        let lx = match unsafe { lx($state) } {
            Some(l) => l,
            None => return -libc::EINVAL,
        };
        // SAFETY: as above.
        let caller = unsafe { deref($caller) }.copied().unwrap_or_default();
        // SAFETY: as above.
        let path = match unsafe { text($path) } {
            Some(p) => p,
            None => return -libc::EINVAL,
        };
        (lx, caller, path)
    }};
}

extern "C" fn lib_version() -> Bytes {
    Bytes::new(LIB_VERSION.as_bytes())
}

extern "C" fn build_id() -> Bytes {
    Bytes::new(BUILD_ID.as_bytes())
}

fn install_panic_hook() {
    // The default hook may capture a backtrace, whose symbolizer maps this image and never
    // unmaps it; log the panic through tracing instead.
    std::panic::set_hook(Box::new(|info| {
        let loc = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!("panic at {loc}: {msg}");
    }));
}

/// [`LibVTable::init`]: builds the state, restoring `saved` (see [`crate::state`]).
///
/// Test builds (feature `test-hooks`) read `LXCFS_TEST_INIT` from the daemon's environment:
/// `fail` returns `-EPERM`, `fail-reload` returns `-EPERM` when started by a reload (non-empty
/// `saved`), `panic` panics (answered `-EIO`), `pin` marks the image never to be unloaded.
unsafe extern "C" fn init(
    host: *const HostApi,
    options: *const Options,
    saved: Bytes,
    state_out: *mut *mut c_void,
) -> i32 {
    boundary("init", || {
        // SAFETY: the host passes valid pointers (or null) for the duration of the call.
        let (Some(host), Some(opts)) = (unsafe { deref(host) }, unsafe { deref(options) }) else {
            return -libc::EINVAL;
        };
        if state_out.is_null() || host.abi_version != ABI_VERSION {
            return -libc::EINVAL;
        }
        if (opts.struct_size as usize) < lxcfs_abi::OPTIONS_V1_SIZE {
            return -libc::EINVAL;
        }
        let covers = |end: usize| opts.struct_size as usize >= end;
        let cache_ttl_us = if covers(std::mem::size_of::<Options>()) {
            opts.cache_ttl_us
        } else {
            lxcfs_abi::DEFAULT_CACHE_TTL_US
        };
        logging::install(host.log, opts.max_log_level);
        install_panic_hook();
        #[cfg(feature = "test-hooks")]
        match std::env::var("LXCFS_TEST_INIT").as_deref() {
            Ok("fail") => return -libc::EPERM,
            // Fail only when started by a reload (saved state is handed over), so that the
            // previous library cannot come back either.
            Ok("fail-reload") if saved.len > 0 => return -libc::EPERM,
            Ok("panic") => panic!("test hook: panic in init"),
            Ok("pin") => pin_image(),
            _ => {}
        }
        // SAFETY: the host's strings are valid for the call.
        let root = unsafe { text(opts.root) }
            .filter(|r| !r.is_empty())
            .unwrap_or("/");
        let mut options = crate::Options::from_bits(opts.flags);
        options.cache_ttl = std::time::Duration::from_micros(cache_ttl_us.into());
        let lx = Lxcfs::new(root, options);
        // SAFETY: `saved` is valid for the call.
        let restored = crate::state::import(&lx, unsafe { saved.as_slice() });
        tracing::info!(
            "liblxcfs {LIB_VERSION} (build {BUILD_ID}) ready; {restored} saved records restored"
        );
        // SAFETY: checked non-null above; the host provides a writable slot.
        unsafe { *state_out = Box::into_raw(Box::new(lx)).cast() };
        0
    })
}

/// Test hook (`LXCFS_TEST_INIT=pin`): marks this image `RTLD_NODELETE`, so that `dlclose`
/// leaves it in memory, as a thread-local destructor or a leaked thread would. Lets the tests
/// exercise the host's "old image still loaded" path.
#[cfg(feature = "test-hooks")]
fn pin_image() {
    // SAFETY: `Dl_info` is plain data; all-zero is a valid value for dladdr to overwrite.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let addr = lxcfs_vtable_v1 as *const c_void;
    // SAFETY: dladdr only reads the loader's tables and writes `info`.
    if unsafe { libc::dladdr(addr, &mut info) } == 0 || info.dli_fname.is_null() {
        tracing::error!("test hook: cannot find this image to pin it");
        return;
    }
    // SAFETY: with RTLD_NOLOAD nothing is loaded: the call returns another reference to this
    // (loaded) image and marks it never to be unloaded; the reference is released again.
    unsafe {
        let h = libc::dlopen(
            info.dli_fname,
            libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
        );
        if h.is_null() {
            tracing::error!("test hook: pinning this image failed");
        } else {
            libc::dlclose(h);
            tracing::warn!("test hook: this image is pinned in memory (RTLD_NODELETE)");
        }
    }
}

unsafe extern "C" fn shutdown(state: *mut c_void, saved: *const Sink) -> i32 {
    let r = boundary("shutdown", || {
        if state.is_null() {
            return -libc::EINVAL;
        }
        // SAFETY: `state` came from `init` and the host passes it to `shutdown` exactly once.
        let lx = unsafe { Box::from_raw(state.cast::<Lxcfs>()) };
        let bytes = crate::state::export(&lx);
        let records = bytes
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            .saturating_sub(1);
        // SAFETY: the sink is valid for the call (or null).
        if let Some(sink) = unsafe { deref(saved) } {
            SinkWriter::new(sink).push(&bytes);
        }
        tracing::info!(
            "liblxcfs {LIB_VERSION} (build {BUILD_ID}) shutting down; {records} records of \
             state handed to the host (a reloaded library reads them)"
        );
        drop(lx);
        0
    });
    logging::uninstall();
    r
}

unsafe extern "C" fn getattr(
    state: *mut c_void,
    caller: *const Caller,
    path: Bytes,
    out: *mut Attr,
) -> i32 {
    boundary("getattr", || {
        let (lx, _caller, path) = args!(state, caller, path);
        if out.is_null() {
            return -libc::EINVAL;
        }
        match lx.getattr(path) {
            Ok(a) => {
                // SAFETY: checked non-null; the host owns a writable `Attr`.
                unsafe { *out = a };
                0
            }
            Err(e) => errno(&e),
        }
    })
}

unsafe extern "C" fn readdir(
    state: *mut c_void,
    caller: *const Caller,
    path: Bytes,
    sink: *const DirSink,
) -> i32 {
    boundary("readdir", || {
        let (lx, _caller, path) = args!(state, caller, path);
        // SAFETY: the sink is valid for the call (or null).
        let Some(sink) = (unsafe { deref(sink) }) else {
            return -libc::EINVAL;
        };
        match lx.readdir(path) {
            Ok(entries) => {
                for (name, kind) in &entries {
                    // SAFETY: `name` is alive across the call; the host copies it.
                    unsafe { (sink.add)(sink.ctx, name.as_ptr(), name.len(), *kind) };
                }
                entries.len() as i32
            }
            Err(e) => errno(&e),
        }
    })
}

unsafe extern "C" fn open(
    state: *mut c_void,
    caller: *const Caller,
    path: Bytes,
    flags: i32,
    out: *mut OpenReply,
) -> i32 {
    boundary("open", || {
        let (lx, caller, path) = args!(state, caller, path);
        if out.is_null() {
            return -libc::EINVAL;
        }
        match lx.open(caller.uid, path, flags) {
            Ok(r) => {
                // SAFETY: checked non-null; host-owned.
                unsafe { *out = r };
                0
            }
            Err(e) => errno(&e),
        }
    })
}

/// `read` and `read_view`: renders `path` for the caller into `sink` and writes the view to
/// `view` when it is not null.
fn render_into(
    name: &str,
    state: *mut c_void,
    caller: *const Caller,
    path: Bytes,
    sink: *const Sink,
    view: *mut u64,
) -> i32 {
    boundary(name, || {
        let (lx, caller, path) = args!(state, caller, path);
        // SAFETY: the sink is valid for the call (or null).
        let Some(sink) = (unsafe { deref(sink) }) else {
            return -libc::EINVAL;
        };
        let copied = lx.serve_view_with(caller.tid, path, |bytes| {
            SinkWriter::new(sink).push(bytes);
            bytes.len()
        });
        match copied {
            Ok((len, v)) => {
                if !view.is_null() {
                    // SAFETY: `view` is non-null and points at a u64 the host owns for the call.
                    unsafe { view.write(v) };
                }
                i32::try_from(len).unwrap_or(i32::MAX)
            }
            Err(e) => errno(&e),
        }
    })
}

unsafe extern "C" fn read(
    state: *mut c_void,
    caller: *const Caller,
    path: Bytes,
    sink: *const Sink,
) -> i32 {
    render_into("read", state, caller, path, sink, std::ptr::null_mut())
}

unsafe extern "C" fn read_view(
    state: *mut c_void,
    caller: *const Caller,
    path: Bytes,
    sink: *const Sink,
    view: *mut u64,
) -> i32 {
    if view.is_null() {
        return -libc::EINVAL;
    }
    render_into("read_view", state, caller, path, sink, view)
}

unsafe extern "C" fn view(state: *mut c_void, caller: *const Caller, view: *mut u64) -> i32 {
    boundary("view", || {
        // SAFETY: per the contract.
        let Some(lx) = (unsafe { lx(state) }) else {
            return -libc::EINVAL;
        };
        // SAFETY: the caller is valid for the call (or null).
        let Some(caller) = (unsafe { deref(caller) }) else {
            return -libc::EINVAL;
        };
        if view.is_null() {
            return -libc::EINVAL;
        }
        match lx.view(caller.tid) {
            Ok(v) => {
                // SAFETY: `view` is non-null and points at a u64 the host owns for the call.
                unsafe { view.write(v) };
                0
            }
            Err(e) => errno(&e),
        }
    })
}

unsafe extern "C" fn readlink(
    state: *mut c_void,
    caller: *const Caller,
    path: Bytes,
    sink: *const Sink,
) -> i32 {
    boundary("readlink", || {
        let (lx, _caller, path) = args!(state, caller, path);
        // SAFETY: the sink is valid for the call (or null).
        let Some(sink) = (unsafe { deref(sink) }) else {
            return -libc::EINVAL;
        };
        match lx.readlink(path) {
            Ok(t) => {
                SinkWriter::new(sink).push(t.as_bytes());
                t.len() as i32
            }
            Err(e) => errno(&e),
        }
    })
}

unsafe extern "C" fn access(
    state: *mut c_void,
    caller: *const Caller,
    path: Bytes,
    mask: i32,
) -> i32 {
    boundary("access", || {
        let (lx, _caller, path) = args!(state, caller, path);
        match lx.access(path, mask) {
            Ok(()) => 0,
            Err(e) => errno(&e),
        }
    })
}

unsafe extern "C" fn write(
    state: *mut c_void,
    caller: *const Caller,
    path: Bytes,
    _data: Bytes,
    _offset: u64,
) -> i32 {
    boundary("write", || {
        let (lx, _caller, path) = args!(state, caller, path);
        match lx.write(path) {
            Ok(n) => n as i32,
            Err(e) => errno(&e),
        }
    })
}

unsafe extern "C" fn psi_trigger(
    state: *mut c_void,
    caller: *const Caller,
    path: Bytes,
    data: Bytes,
    target: *const Sink,
    trigger: *const Sink,
) -> i32 {
    boundary("psi_trigger", || {
        let (lx, caller, path) = args!(state, caller, path);
        // SAFETY: sinks and data are valid for the call (or null).
        let (Some(target), Some(trigger), data) = (
            unsafe { deref(target) },
            unsafe { deref(trigger) },
            unsafe { data.as_slice() },
        ) else {
            return -libc::EINVAL;
        };
        // Test hook: a trigger check that takes this many milliseconds, so that a test can
        // reload while a trigger write is inside the library.
        #[cfg(feature = "test-hooks")]
        if let Some(ms) = std::env::var("LXCFS_TEST_PSI_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        match crate::proc::pressure::trigger(lx, caller.tid, path, data) {
            Ok((file, text)) => {
                SinkWriter::new(target).push(file.as_bytes());
                SinkWriter::new(trigger).push(text.as_bytes());
                0
            }
            Err(e) => errno(&e),
        }
    })
}

unsafe extern "C" fn tick(state: *mut c_void) -> i32 {
    boundary("tick", || {
        // SAFETY: per the contract.
        let Some(lx) = (unsafe { lx(state) }) else {
            return -libc::EINVAL;
        };
        if lx.options.loadavg {
            crate::proc::loadavg::tick(lx);
        }
        lx.resolver.housekeep();
        0
    })
}

unsafe extern "C" fn set_virtualization(state: *mut c_void, on: u32) -> i32 {
    boundary("set_virtualization", || {
        // SAFETY: per the contract.
        let Some(lx) = (unsafe { lx(state) }) else {
            return -libc::EINVAL;
        };
        lx.set_virtualization(on != 0);
        0
    })
}
