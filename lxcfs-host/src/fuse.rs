//! The fuser filesystem: maps FUSE operations onto library calls.
//!
//! The host owns the inode table (path ↔ inode number, stable across library reloads), open
//! file snapshots and directory listings, and PSI trigger descriptors. Operations that need the
//! library call it on the event-loop thread under the current generation
//! ([`crate::plugin::Plugin::with_lib`]) and answer the kernel from there.
//!
//! # Snapshot rule
//! A read at offset 0 renders the file anew, for the container of the thread that reads, and
//! keeps the result as that thread's snapshot of the open file; that thread's reads at other
//! offsets are served from it (a first read past offset 0 renders one). This is what the
//! kernel's seq_file does for `/proc` files: a reader never sees two renders stitched
//! together within one pass, and tools that keep the file open and read it again from the
//! start (procps `top`, `free -s`, monitoring agents using pread) see fresh values. The
//! snapshot is kept even when the read at offset 0 took the whole render: readers seek back
//! into what they read (bash's `read` reads a block, then seeks back to the end of the line
//! it used) and must find the same pass there. Snapshots are kept per view and thread (the
//! library's `view`: a container, or the host processes of one set of cgroups;
//! [`crate::handles::Open::snapshot_of_view`]): a descriptor shared with a process of another
//! container never serves it that container's render (upstream lxcfs keeps one per open file,
//! so a reader could be served another container's figures after that container read the
//! shared descriptor), the threads and processes of one view continue one pass, and a thread
//! continues its own. A thread reads on from the pass it rendered less than
//! [`crate::handles::TRUSTED_FOR`] ago without a library call (the read at end of file right
//! after the data); any other read past offset 0 asks the library for the reader's view
//! first, which proves the thread id still names the same thread, and renders a pass when
//! its view has none. `open`
//! itself only checks the path and the access mode, so it costs no more than on a trivial
//! filesystem: a read-only open of a file whose answer the library marked
//! caller-independent is answered from the inode table without a library call. Renders of
//! one open file are serialized, and a read waits for a render of its file in progress, so
//! that threads sharing a descriptor cannot mix two renders either.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, KernelConfig, LockOwner, OpenFlags, PollEvents, PollFlags, PollNotifier, ReplyAttr,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyPoll, ReplyWrite, Request,
    WriteFlags,
};
use lxcfs_abi::{kind, open_flags, Attr, Bytes, Caller, DirSink, OpenReply, VecSink};

use crate::handles::{coarse_now, Handles};
use crate::inodes::{child, Inodes};
use crate::plugin::{Lib, Plugin};
use crate::psi::Trigger;

/// Longest file name (bytes), as the kernel's NAME_MAX.
const NAME_MAX: usize = 255;

/// Entry and attribute time-to-live, as upstream lxcfs (0.5 s).
pub const TTL: Duration = Duration::from_millis(500);

/// A rendered file larger than this (bytes) does not keep its size in an event-loop
/// thread's render buffer.
const KEEP_RENDER_BUFFER: usize = 256 * 1024;

thread_local! {
    /// This event-loop thread's render buffer: a render is collected here, copied into the
    /// open file's snapshot, and the reply is sent from here after the snapshot is unlocked.
    static RENDER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The filesystem state shared by fuser threads and jobs.
#[derive(Debug)]
pub struct Shared {
    /// The library.
    pub plugin: Arc<Plugin>,
    /// Inode table.
    pub inodes: Inodes,
    /// Open files and directories.
    pub handles: Handles,
    /// `--enable-psi-poll`.
    pub psi_poll: bool,
}

/// The fuser filesystem.
#[derive(Debug)]
pub struct LxcfsFs {
    shared: Arc<Shared>,
}

impl LxcfsFs {
    /// A filesystem serving through `plugin`.
    pub fn new(plugin: Arc<Plugin>, psi_poll: bool) -> LxcfsFs {
        LxcfsFs {
            shared: Arc::new(Shared {
                plugin,
                inodes: Inodes::new(),
                handles: Handles::new(),
                psi_poll,
            }),
        }
    }

    /// The errno for a change to the tree at or below `ino`: nothing here can be created,
    /// removed, renamed or have its attributes changed. `EACCES` under `/sys` (as for writes
    /// there), `EPERM` elsewhere (as upstream lxcfs).
    fn deny(&self, ino: INodeNo) -> Errno {
        let under_sys = self
            .shared
            .inodes
            .path(ino.0)
            .is_some_and(|p| p.starts_with("/sys"));
        if under_sys {
            Errno::EACCES
        } else {
            Errno::EPERM
        }
    }

    /// The shared state (for tests and the PSI notifier).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Runs `f` with the current library on this event-loop thread (a reload waits for it) and
    /// returns what it returns. When no library is loaded, or `f` panics, this logs and
    /// returns `None`; a reply `f` owned is then dropped unsent, which answers EIO.
    ///
    /// Lock order: a read holds its open file's slot while it calls the library, and a reload
    /// holds the generation lock while it waits for calls to leave; so nothing run here may
    /// wait for the slot of an open file (a fresh slot from [`Handles::insert`] is free, and
    /// no reader holds it).
    fn run<T>(&self, f: impl FnOnce(&Lib, &Shared) -> T) -> Option<T> {
        let shared = &self.shared;
        let r = shared.plugin.with_lib(|lib| f(lib, shared));
        if r.is_none() {
            tracing::error!("no library loaded; answering EIO");
        }
        r
    }
}

fn caller(req: &Request) -> Caller {
    Caller {
        tid: req.pid(),
        uid: req.uid(),
        gid: req.gid(),
    }
}

fn errno(rc: i32) -> Errno {
    Errno::from_i32(if rc < 0 { -rc } else { libc::EIO })
}

/// Calls the library's getattr.
fn lib_getattr(lib: &Lib, c: &Caller, path: &str) -> Result<Attr, Errno> {
    let mut a = Attr::default();
    // SAFETY: called inside the generation's gate; pointers valid for the call.
    let rc = unsafe { (lib.vtable().getattr)(lib.state(), c, Bytes::new(path.as_bytes()), &mut a) };
    if rc < 0 {
        Err(errno(rc))
    } else {
        Ok(a)
    }
}

/// Renders `path` for caller `c` into `buf`, which is cleared first (the library's
/// `read_view`, a whole-file render); returns the view it was rendered for.
fn lib_read(lib: &Lib, c: &Caller, path: &str, buf: &mut Vec<u8>) -> Result<u64, Errno> {
    buf.clear();
    let mut view = 0u64;
    let rc = lxcfs_abi::collect_into(buf, |s| {
        // SAFETY: called inside the generation's gate; the sink and `view` outlive the call.
        unsafe {
            (lib.vtable().read_view)(lib.state(), c, Bytes::new(path.as_bytes()), s, &mut view)
        }
    });
    if rc < 0 {
        Err(errno(rc))
    } else {
        Ok(view)
    }
}

fn file_attr(ino: u64, a: &Attr, req_uid: u32, req_gid: u32) -> FileAttr {
    let _ = (req_uid, req_gid);
    let now = SystemTime::now();
    FileAttr {
        ino: INodeNo(ino),
        size: a.size,
        blocks: 0,
        atime: now,
        mtime: now,
        ctime: now,
        crtime: now,
        kind: match a.kind {
            kind::DIR => FileType::Directory,
            kind::SYMLINK => FileType::Symlink,
            _ => FileType::RegularFile,
        },
        perm: a.perm as u16,
        nlink: a.nlink,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn file_type(k: u32) -> FileType {
    match k {
        kind::DIR => FileType::Directory,
        kind::SYMLINK => FileType::Symlink,
        _ => FileType::RegularFile,
    }
}

unsafe extern "C" fn dir_add(ctx: *mut std::ffi::c_void, name: *const u8, len: usize, k: u32) {
    // SAFETY: `ctx` is the `Vec` passed by `opendir` below, alive for the call; `name` is a
    // valid slice per the ABI contract.
    unsafe {
        let v = &mut *ctx.cast::<Vec<(String, u32)>>();
        let n = Bytes { ptr: name, len }.as_slice();
        v.push((String::from_utf8_lossy(n).into_owned(), k));
    }
}

impl Filesystem for LxcfsFs {
    fn init(&mut self, _req: &Request, _config: &mut KernelConfig) -> std::io::Result<()> {
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let Some(ppath) = self.shared.inodes.path(parent.0) else {
            return reply.error(Errno::ENOENT);
        };
        if name.len() > NAME_MAX {
            return reply.error(Errno::from_i32(libc::ENAMETOOLONG));
        }
        let Some(name) = name.to_str().filter(|n| !n.contains('/')) else {
            return reply.error(Errno::ENOENT);
        };
        let path = child(ppath, name);
        let c = caller(req);
        let (uid, gid) = (req.uid(), req.gid());
        self.run(move |lib, sh| match lib_getattr(lib, &c, &path) {
            Ok(a) => match sh.inodes.ino(&path) {
                Some(ino) => reply.entry(&TTL, &file_attr(ino, &a, uid, gid), Generation(0)),
                None => {
                    tracing::warn!("inode table full; {path} gets no inode number");
                    reply.error(Errno::from_i32(libc::ENOSPC))
                }
            },
            Err(e) => reply.error(e),
        });
    }

    fn getattr(&self, req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let Some(path) = self.shared.inodes.path(ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let c = caller(req);
        let (uid, gid) = (req.uid(), req.gid());
        self.run(move |lib, _| match lib_getattr(lib, &c, path) {
            Ok(a) => reply.attr(&TTL, &file_attr(ino.0, &a, uid, gid)),
            Err(e) => reply.error(e),
        });
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        let Some(path) = self.shared.inodes.path(ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let c = caller(req);
        self.run(move |lib, _| {
            let mut sink = VecSink::new();
            let s = sink.sink();
            // SAFETY: called inside the generation's gate; sink alive for the call.
            let rc = unsafe {
                (lib.vtable().readlink)(lib.state(), &c, Bytes::new(path.as_bytes()), &s)
            };
            if rc < 0 {
                reply.error(errno(rc))
            } else {
                reply.data(&sink.into_inner())
            }
        });
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let Some(path) = self.shared.inodes.path(ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let read_only = flags.0 & libc::O_ACCMODE == libc::O_RDONLY;
        if read_only {
            let serving = self.shared.plugin.serving();
            if let Some(f) = self.shared.inodes.kept_open(ino.0, serving) {
                return opened(&self.shared, ino, f, reply);
            }
        }
        let c = caller(req);
        self.run(move |lib, sh| {
            let mut out = OpenReply::default();
            // SAFETY: called inside the generation's gate; pointers valid for the call.
            let rc = unsafe {
                (lib.vtable().open)(
                    lib.state(),
                    &c,
                    Bytes::new(path.as_bytes()),
                    flags.0,
                    &mut out,
                )
            };
            if rc < 0 {
                return reply.error(errno(rc));
            }
            if read_only && out.flags & open_flags::CALLER_INDEPENDENT != 0 {
                sh.inodes.keep_open(ino.0, lib.generation(), out.flags);
            }
            opened(sh, ino, out.flags, reply);
        });
    }

    fn read(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        // The slot stays locked across a render, so reads of this file wait for it. Every
        // reply is sent after the slot is unlocked: the reply wakes the reader, whose next
        // request (on the other event-loop thread, often) must not find the slot still locked.
        let Some(open) = self.shared.handles.get(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let c = caller(req);
        let (mut open, reply) = if offset > 0 {
            // Served from this thread's fresh snapshot, or handed back.
            let missed = RENDER.with_borrow_mut(move |buf| {
                let Some(snapshot) = open.snapshot_of_thread(c.tid, coarse_now()) else {
                    return Some((open, reply));
                };
                buf.clear();
                buf.extend_from_slice(slice(snapshot, offset, size));
                drop(open);
                reply.data(buf);
                None
            });
            match missed {
                Some(missed) => missed,
                None => return,
            }
        } else {
            (open, reply)
        };
        let Some(path) = self.shared.inodes.path(open.ino) else {
            return reply.error(Errno::EBADF);
        };
        self.run(move |lib, _| {
            RENDER.with_borrow_mut(|buf| {
                if offset > 0 && open.has_any_snapshot() {
                    // Another thread reading past offset 0: its view's pass, if one is kept.
                    let mut view = 0u64;
                    // SAFETY: called inside the generation's gate; pointers valid for the call.
                    let rc = unsafe { (lib.vtable().view)(lib.state(), &c, &mut view) };
                    if let Some(snapshot) = (rc == 0)
                        .then(|| open.snapshot_of_view(view, c.tid))
                        .flatten()
                    {
                        buf.clear();
                        buf.extend_from_slice(slice(snapshot, offset, size));
                        drop(open);
                        return reply.data(buf);
                    }
                }
                let rendered = lib_read(lib, &c, path, buf);
                if let Ok(view) = rendered {
                    open.keep_snapshot(view, c.tid, coarse_now(), buf);
                }
                drop(open);
                match rendered {
                    Ok(_) => reply.data(slice(buf, offset, size)),
                    Err(e) => reply.error(e),
                }
                if buf.capacity() > KEEP_RENDER_BUFFER {
                    *buf = Vec::new();
                }
            })
        });
    }

    fn write(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let (path, psi_capable, armed) = {
            let Some(h) = self.shared.handles.get(fh.0) else {
                return reply.error(Errno::EBADF);
            };
            let Some(path) = self.shared.inodes.path(h.ino) else {
                return reply.error(Errno::EBADF);
            };
            (path, h.psi_capable, h.trigger.is_some())
        };
        let c = caller(req);
        let data = data.to_vec();
        if !psi_capable {
            self.run(move |lib, _| {
                // SAFETY: called inside the generation's gate; slices valid for the call.
                let rc = unsafe {
                    (lib.vtable().write)(
                        lib.state(),
                        &c,
                        Bytes::new(path.as_bytes()),
                        Bytes::new(&data),
                        offset,
                    )
                };
                if rc < 0 {
                    reply.error(errno(rc))
                } else {
                    reply.written(rc as u32)
                }
            });
            return;
        }
        if armed {
            return reply.error(Errno::EBUSY);
        }
        if offset != 0 || data.is_empty() {
            return reply.error(Errno::EINVAL);
        }
        // The library checks the trigger inside the gate; arming it and recording it in the
        // slot happen after leaving the gate (see `run` on lock order).
        let checked = self.run(|lib, _| {
            let (mut target, mut text) = (VecSink::new(), VecSink::new());
            let (ts, xs) = (target.sink(), text.sink());
            // SAFETY: called inside the generation's gate; sinks and slices alive for the call.
            let rc = unsafe {
                (lib.vtable().psi_trigger)(
                    lib.state(),
                    &c,
                    Bytes::new(path.as_bytes()),
                    Bytes::new(&data),
                    &ts,
                    &xs,
                )
            };
            (rc, target.into_inner(), text.into_inner())
        });
        let Some((rc, target, text)) = checked else {
            return reply.error(Errno::EIO);
        };
        if rc < 0 {
            return reply.error(errno(rc));
        }
        let target = String::from_utf8_lossy(&target).into_owned();
        let text = String::from_utf8_lossy(&text).into_owned();
        match Trigger::arm(&target, &text) {
            Ok(t) => match self.shared.handles.get(fh.0).as_deref_mut() {
                Some(h) if h.trigger.is_none() => {
                    h.trigger = Some(Arc::new(t));
                    reply.written(data.len() as u32);
                }
                Some(_) => reply.error(Errno::EBUSY),
                None => reply.error(Errno::EBADF),
            },
            Err(e) => {
                tracing::warn!("PSI trigger on {target}: {e}");
                reply.error(Errno::from_i32(e.errno()))
            }
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.shared.handles.remove(fh.0);
        reply.ok();
    }

    fn fsync(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _d: bool, reply: ReplyEmpty) {
        reply.ok();
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let Some(path) = self.shared.inodes.path(ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let c = caller(req);
        self.run(move |lib, sh| {
            let mut list: Vec<(String, u32)> = Vec::new();
            let sink = DirSink {
                ctx: (&mut list as *mut Vec<(String, u32)>).cast(),
                add: dir_add,
            };
            // SAFETY: called inside the generation's gate; `list` outlives the call.
            let rc = unsafe {
                (lib.vtable().readdir)(lib.state(), &c, Bytes::new(path.as_bytes()), &sink)
            };
            if rc < 0 {
                return reply.error(errno(rc));
            }
            let parent = match path.rfind('/') {
                Some(0) | None => "/".to_string(),
                Some(i) => path[..i].to_string(),
            };
            let Some(parent_ino) = sh.inodes.ino(&parent) else {
                return reply.error(Errno::from_i32(libc::ENOSPC));
            };
            let mut entries = vec![
                (".".to_string(), kind::DIR, ino.0),
                ("..".to_string(), kind::DIR, parent_ino),
            ];
            let mut seen = std::collections::HashSet::new();
            for (name, k) in list {
                if name == "." || name == ".." || !seen.insert(name.clone()) {
                    continue;
                }
                let Some(i) = sh.inodes.ino(&child(path, &name)) else {
                    tracing::warn!("inode table full; listing {path} without {name}");
                    continue;
                };
                entries.push((name, k, i));
            }
            let Some(fh) = sh.handles.insert(|h| {
                h.ino = ino.0;
                h.entries = entries;
            }) else {
                return reply.error(Errno::from_i32(libc::ENFILE));
            };
            reply.opened(FileHandle(fh), FopenFlags::empty());
        });
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Some(h) = self.shared.handles.get(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        for (i, (name, k, ino)) in h.entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), (i + 1) as u64, file_type(*k), name) {
                break;
            }
        }
        drop(h);
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.shared.handles.remove(fh.0);
        reply.ok();
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        let Some(path) = self.shared.inodes.path(ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let c = caller(req);
        self.run(move |lib, _| {
            // SAFETY: called inside the generation's gate.
            let rc = unsafe {
                (lib.vtable().access)(lib.state(), &c, Bytes::new(path.as_bytes()), mask.bits())
            };
            if rc < 0 {
                reply.error(errno(rc))
            } else {
                reply.ok()
            }
        });
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(self.deny(ino));
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply.error(self.deny(parent));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(self.deny(parent));
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(self.deny(parent));
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(self.deny(parent));
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        _link_name: &OsStr,
        _target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        reply.error(self.deny(parent));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(self.deny(parent));
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(self.deny(newparent));
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: fuser::ReplyCreate,
    ) {
        reply.error(self.deny(parent));
    }

    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: i64,
        _whence: i32,
        reply: fuser::ReplyLseek,
    ) {
        // SEEK_DATA/SEEK_HOLE: the kernel's generic answer (all data, hole at EOF) is right
        // for generated files; ENOSYS makes it use that from now on.
        reply.error(Errno::ENOSYS);
    }

    #[allow(clippy::too_many_arguments)]
    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: fuser::IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: fuser::ReplyIoctl,
    ) {
        // isatty(3) and friends: these are not terminals (and answering quietly keeps the
        // log free of one warning per open).
        reply.error(Errno::from_i32(libc::ENOTTY));
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: fuser::ReplyXattr,
    ) {
        // No extended attributes (SELinux labels and the like) on generated files.
        reply.error(Errno::from_i32(libc::ENODATA));
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: fuser::ReplyXattr) {
        if size == 0 {
            reply.size(0);
        } else {
            reply.data(&[]);
        }
    }

    fn poll(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        ph: PollNotifier,
        _events: PollEvents,
        flags: PollFlags,
        reply: ReplyPoll,
    ) {
        if !self.shared.psi_poll {
            return reply.error(Errno::ENOSYS);
        }
        let trigger = {
            let Some(h) = self.shared.handles.get(fh.0) else {
                return reply.error(Errno::EBADF);
            };
            if !h.psi_capable {
                return reply.poll(PollEvents::POLLIN | PollEvents::POLLRDNORM);
            }
            h.trigger.clone()
        };
        match trigger {
            None => reply.poll(PollEvents::POLLERR | PollEvents::POLLPRI),
            Some(t) => {
                let notify = flags
                    .contains(PollFlags::FUSE_POLL_SCHEDULE_NOTIFY)
                    .then_some(ph);
                reply.poll(t.poll(notify));
            }
        }
    }
}

/// Answers an open the library allowed with [`open_flags`] `flags`: a new handle, with the
/// page cache bypassed when the library asks for it.
fn opened(sh: &Shared, ino: INodeNo, flags: u32, reply: ReplyOpen) {
    let psi_capable = flags & open_flags::PSI_TRIGGER != 0;
    let Some(fh) = sh.handles.insert(|h| {
        h.ino = ino.0;
        h.psi_capable = psi_capable;
    }) else {
        return reply.error(Errno::from_i32(libc::ENFILE));
    };
    let mut f = FopenFlags::FOPEN_NOFLUSH;
    if flags & open_flags::DIRECT_IO != 0 {
        f |= FopenFlags::FOPEN_DIRECT_IO;
    }
    reply.opened(FileHandle(fh), f);
}

/// `content[offset..offset+size]`, clamped.
fn slice(content: &[u8], offset: u64, size: u32) -> &[u8] {
    let start = (offset as usize).min(content.len());
    let end = start.saturating_add(size as usize).min(content.len());
    &content[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slicing_and_eof() {
        let c = b"0123456789";
        assert_eq!(slice(c, 5, 3), b"567");
        assert_eq!(slice(c, 8, 10), b"89");
        assert_eq!(slice(c, 20, 10), b"");
    }
}
