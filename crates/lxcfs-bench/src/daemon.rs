//! Starting, watching and stopping the filesystems under test, each on its own temporary
//! mount point. A [`Mounted`] stops its daemon and detaches its mount on drop, whatever
//! happened before.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Which implementation a daemon is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The trivial fuser filesystem ([`crate::floor`]).
    Floor,
    /// Debian's C lxcfs.
    C,
    /// This repository's `lxcfs` with `liblxcfs.so`.
    Ours,
}

/// How to start one daemon.
#[derive(Clone, Debug)]
pub struct Launch {
    /// Implementation.
    pub kind: Kind,
    /// Name of its scratch directory under the work directory, and of the daemon in
    /// messages: distinct for every daemon mounted at once (`floor`, `floor-checked`), since
    /// a second daemon started on the same mount point would mount over the first and
    /// answer every request meant for it.
    pub name: &'static str,
    /// The executable (`floorfs`, `/usr/bin/lxcfs`, `target/release/lxcfs`).
    pub program: PathBuf,
    /// `liblxcfs.so` for [`Kind::Ours`].
    pub library: Option<PathBuf>,
    /// A command the daemon is run under (`valgrind --tool=callgrind ...`), or empty.
    pub wrap: Vec<String>,
    /// Extra arguments before the mount point (`--hop-workers 4` for the floor).
    pub extra: Vec<String>,
}

impl Launch {
    /// The file whose presence shows that the mount serves (relative to the mount point).
    pub fn probe(&self) -> &'static str {
        match self.kind {
            Kind::Floor => crate::floor::FILE_REL,
            Kind::C | Kind::Ours => "proc/meminfo",
        }
    }
}

/// Whether `path` is a mount point in this mount namespace.
pub fn is_mounted(path: &Path) -> bool {
    let p = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| {
            lxcfs_formats::mountinfo::parse(&m)
                .iter()
                .any(|x| x.mount_point == p)
        })
        .unwrap_or(false)
}

/// A field of `/proc/<pid>/status` in kB (`VmRSS`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        let v = l.strip_prefix(field)?.strip_prefix(':')?;
        v.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// A running daemon and its mount point, torn down on drop.
#[derive(Debug)]
pub struct Mounted {
    /// How it was started.
    pub launch: Launch,
    /// Its scratch directory (`<workdir>/<name>`): `mnt/`, `run/`, `pid`, `log`.
    pub dir: PathBuf,
    /// Mount point.
    pub mnt: PathBuf,
    /// Pid file (lxcfs implementations only).
    pub pidfile: PathBuf,
    /// The daemon's stdout and stderr.
    pub log: PathBuf,
    child: Option<Child>,
}

impl Mounted {
    /// Starts `launch` on `<workdir>/<name>/mnt` and waits up to `timeout` until the mount
    /// serves its probe file.
    ///
    /// # Errors
    /// When the mount point is mounted already, or the daemon cannot be spawned, exits early
    /// or does not mount in time (the error carries the end of its log; the daemon is
    /// stopped again).
    pub fn start(launch: Launch, workdir: &Path, timeout: Duration) -> io::Result<Mounted> {
        // Absolute, as `/proc/self/mountinfo` names mount points.
        let dir = std::path::absolute(workdir)?.join(launch.name);
        let mnt = dir.join("mnt");
        let run = dir.join("run");
        let leftover = |what: String| {
            io::Error::other(format!(
                "{what}: a mount left by an earlier run? `umount -l {}` clears it, or use \
                 another work directory",
                mnt.display()
            ))
        };
        // A dead FUSE mount (its daemon killed) fails here, with ENOTCONN or EEXIST.
        std::fs::create_dir_all(&mnt)
            .map_err(|e| leftover(format!("cannot create {}: {e}", mnt.display())))?;
        std::fs::create_dir_all(&run)?;
        // A daemon mounted here already would be hidden under the new one: its cells would
        // measure the new one.
        if is_mounted(&mnt) {
            return Err(leftover(format!("{} is mounted already", mnt.display())));
        }
        let pidfile = dir.join("pid");
        let log = dir.join("log");
        let _ = std::fs::remove_file(&pidfile);
        let logf = File::create(&log)?;

        let mut argv: Vec<OsString> = launch.wrap.iter().map(OsString::from).collect();
        argv.push(launch.program.clone().into());
        argv.extend(launch.extra.iter().map(OsString::from));
        match launch.kind {
            Kind::Floor => argv.push(mnt.clone().into()),
            Kind::C => {
                argv.extend(["-f".into(), "-p".into(), OsString::from(&pidfile)]);
                argv.push(mnt.clone().into());
            }
            Kind::Ours => {
                let lib = launch
                    .library
                    .clone()
                    .ok_or_else(|| io::Error::other("no library"))?;
                argv.extend([
                    "--library".into(),
                    lib.into(),
                    "-p".into(),
                    pidfile.clone().into(),
                ]);
                argv.extend(["--runtime-dir".into(), run.into(), mnt.clone().into()]);
            }
        }
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf)
            // Own process group: a Ctrl-C at the terminal reaches the harness, which then
            // stops the daemons in order, instead of killing them under the readers.
            .process_group(0);
        let child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("spawn {}: {e}", argv[0].to_string_lossy()),
            )
        })?;
        let mut m = Mounted {
            launch,
            dir,
            mnt,
            pidfile,
            log,
            child: Some(child),
        };
        let probe = m.mnt.join(m.launch.probe());
        let deadline = Instant::now() + timeout;
        while !(is_mounted(&m.mnt) && probe.exists()) {
            if let Some(c) = m.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    m.child = None;
                    return Err(io::Error::other(format!(
                        "{} exited early ({st}); log:\n{}",
                        m.launch.name,
                        m.log_tail(20)
                    )));
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "{} did not mount within {timeout:?}; log:\n{}",
                    m.launch.name,
                    m.log_tail(20)
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(m)
    }

    /// The daemon's pid: from its pid file when it writes one (it may run under a wrapper),
    /// else the spawned process.
    pub fn pid(&self) -> u32 {
        std::fs::read_to_string(&self.pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .or_else(|| self.child.as_ref().map(Child::id))
            .unwrap_or(0)
    }

    /// Resident set size of the daemon in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        status_kib(self.pid(), "VmRSS")
    }

    /// Sends `sig` to the daemon.
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        let pid = i32::try_from(self.pid()).map_err(io::Error::other)?;
        if pid <= 0 {
            return Err(io::Error::other("daemon not running"));
        }
        kill(Pid::from_raw(pid), sig).map_err(io::Error::from)
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let t = self.log_text();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// A path inside the mount.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }

    /// Stops the daemon (SIGTERM, then SIGKILL after `grace`), detaches the mount if it is
    /// still there and removes the empty mount point. Returns whether the daemon exited on
    /// its own.
    pub fn stop(&mut self, grace: Duration) -> bool {
        let mut clean = true;
        if let Some(mut child) = self.child.take() {
            let _ = self.signal_pid(&child, Signal::SIGTERM);
            let deadline = Instant::now() + grace;
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        clean = false;
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        if is_mounted(&self.mnt) {
            clean = false;
            let _ = nix::mount::umount2(&self.mnt, nix::mount::MntFlags::MNT_DETACH);
        }
        if !is_mounted(&self.mnt) {
            let _ = std::fs::remove_dir(&self.mnt);
        }
        clean
    }

    /// SIGTERM to the daemon itself (pid file) and, when it runs under a wrapper that did
    /// not write the pid file, to the spawned process.
    fn signal_pid(&self, child: &Child, sig: Signal) -> nix::Result<()> {
        let daemon = self.pid();
        if daemon != 0 && daemon != child.id() {
            let _ = kill(Pid::from_raw(daemon as i32), sig);
            return Ok(());
        }
        kill(Pid::from_raw(child.id() as i32), sig)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(15));
    }
}
