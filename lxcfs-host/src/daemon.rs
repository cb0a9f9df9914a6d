//! The daemon's life: find and load the library, take the pid file, mount, serve, handle
//! signals (SIGUSR1 reload, SIGUSR2 toggle, SIGTERM/SIGINT/SIGHUP unmount and exit), clean up.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fuser::{Config as FuseConfig, MountOption, SessionACL};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

use crate::cli::{Config, FuseOption, DEFAULT_LIBRARY};
use crate::fuse::LxcfsFs;
use crate::pidfile::PidFile;
use crate::plugin::{InitOptions, LibraryInfo, Plugin};

/// Errors that stop the daemon before or while mounting.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// No library file was found.
    #[error("liblxcfs.so not found (looked at {0})")]
    NoLibrary(String),
    /// The library could not be loaded.
    #[error(transparent)]
    Load(#[from] crate::plugin::LoadError),
    /// The pid file is held by another instance or cannot be written.
    #[error(transparent)]
    PidFile(#[from] crate::pidfile::PidFileError),
    /// Mounting failed.
    #[error("cannot mount {path}: {source}")]
    Mount {
        /// Mount point.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Signal handling could not be set up.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Finds the library: `--library`, else the installed path, else beside the executable.
///
/// # Errors
/// [`DaemonError::NoLibrary`] naming every place looked at.
pub fn find_library(explicit: Option<&Path>) -> Result<PathBuf, DaemonError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let mut tried = vec![PathBuf::from(DEFAULT_LIBRARY)];
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        tried.push(dir.join("liblxcfs.so"));
    }
    tried.iter().find(|p| p.exists()).cloned().ok_or_else(|| {
        DaemonError::NoLibrary(
            tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )
    })
}

/// Loads the library at `path` just to read its identity (for `--version`).
///
/// # Errors
/// The [`crate::plugin::LoadError`].
pub fn library_info(path: &Path) -> Result<LibraryInfo, crate::plugin::LoadError> {
    crate::plugin::peek(path)
}

fn init_options(cfg: &Config, max_log_level: u32) -> InitOptions {
    use lxcfs_abi::opt;
    let mut flags = 0;
    for (on, bit) in [
        (cfg.swap_off, opt::SWAP_OFF),
        (cfg.zswap_off, opt::ZSWAP_OFF),
        (cfg.cfs, opt::CFS),
        (cfg.loadavg, opt::LOADAVG),
        (cfg.psi_poll, opt::PSI_POLL),
        (cfg.pidfd, opt::PIDFD),
    ] {
        if on {
            flags |= bit;
        }
    }
    InitOptions {
        flags,
        runtime_dir: cfg.runtime_dir.to_string_lossy().into_owned(),
        root: "/".into(),
        max_log_level,
        cache_ttl_us: cfg.cache_ms.saturating_mul(1000),
    }
}

fn mount_options(cfg: &Config) -> Vec<MountOption> {
    let mut fsname = "lxcfs".to_string();
    let mut opts = Vec::new();
    for o in &cfg.fuse_options {
        match o {
            FuseOption::FsName(n) => fsname = n.clone(),
            FuseOption::Pass(p) => opts.push(match p.as_str() {
                "ro" => MountOption::RO,
                "rw" => MountOption::RW,
                "dev" => MountOption::Dev,
                "nodev" => MountOption::NoDev,
                "suid" => MountOption::Suid,
                "nosuid" => MountOption::NoSuid,
                "exec" => MountOption::Exec,
                "noexec" => MountOption::NoExec,
                "atime" => MountOption::Atime,
                "noatime" => MountOption::NoAtime,
                "sync" => MountOption::Sync,
                "async" => MountOption::Async,
                "dirsync" => MountOption::DirSync,
                "default_permissions" => MountOption::DefaultPermissions,
                other => MountOption::CUSTOM(other.to_string()),
            }),
        }
    }
    opts.insert(0, MountOption::FSName(fsname));
    opts.insert(1, MountOption::CUSTOM("subtype=lxcfs".into()));
    opts
}

/// Checks that the mount point is an existing directory. It is never created: as with the C
/// original (and any `mount`), a mistyped path is an error, not a new directory; the systemd
/// unit creates `/var/lib/lxcfs` before it starts the daemon.
///
/// # Errors
/// [`DaemonError::Mount`] naming the path, with `ENOENT` (and how to create it) or
/// `ENOTDIR`.
fn check_mount_point(path: &Path) -> Result<(), DaemonError> {
    let refuse = |source| DaemonError::Mount {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(refuse(std::io::Error::from_raw_os_error(libc::ENOTDIR))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(refuse(std::io::Error::new(
            e.kind(),
            format!(
                "the mount point does not exist (create it first: mkdir -p {})",
                path.display()
            ),
        ))),
        Err(e) => Err(refuse(e)),
    }
}

/// Lazily unmounts a dead FUSE mount (`ENOTCONN`, left by a crashed daemon) on `path`.
pub fn clean_stale_mount(path: &Path) {
    if let Err(e) = std::fs::metadata(path) {
        if e.raw_os_error() == Some(libc::ENOTCONN) {
            tracing::warn!("{}: stale FUSE mount found; detaching it", path.display());
            if let Err(e) = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
                tracing::error!("{}: cannot detach stale mount: {e}", path.display());
            }
        }
    }
}

/// SIGUSR1: replaces the library with the file now at its path and logs the outcome: old and
/// new version and build id, the generation number and the pause (how long requests were held,
/// in milliseconds), or why the new file was refused and which library serves instead.
fn reload(plugin: &Plugin) {
    tracing::info!("SIGUSR1: reloading {}", plugin.path().display());
    match plugin.reload() {
        Ok(r) => {
            tracing::info!(
                "reloaded liblxcfs: {} (build {}) -> {} (build {}) in {:.2} ms, generation {}{}",
                r.old.version,
                r.old.build_id,
                r.new.version,
                r.new.build_id,
                r.pause.as_secs_f64() * 1000.0,
                r.generation,
                if r.old_unloaded {
                    ""
                } else {
                    " (old image could not be unloaded)"
                }
            );
            if !r.old_unloaded {
                tracing::error!(
                    "the old liblxcfs image could not be unloaded and stays in memory; \
                     restart the daemon when convenient"
                );
            }
        }
        Err(e) => match (&e.serving, e.restarted) {
            (Some(s), false) => tracing::error!(
                "reload refused: {}; still serving liblxcfs {} (build {})",
                e.cause,
                s.version,
                s.build_id
            ),
            (Some(s), true) => tracing::error!(
                "reload failed: {}; the previous liblxcfs {} (build {}) was loaded again and \
                 serves",
                e.cause,
                s.version,
                s.build_id
            ),
            (None, _) => tracing::error!(
                "reload failed: {}; no library is loaded: requests fail with EIO until a good \
                 library is installed and SIGUSR1 is sent again",
                e.cause
            ),
        },
    }
}

/// Whether `path` is the mount point of a FUSE filesystem that still answers (a second
/// daemon stacking its mount there would be torn down together with the first one).
fn live_fuse_mount(path: &Path) -> bool {
    let Ok(canon) = std::fs::canonicalize(path) else {
        return false;
    };
    let canon = canon.to_string_lossy();
    let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    lxcfs_formats::mountinfo::parse(&mi)
        .iter()
        .any(|m| m.mount_point == canon && m.fstype.starts_with("fuse"))
}

/// Number of library worker threads per generation: they run the background jobs (the
/// loadavg pass, the virtualization switch); FUSE operations call the library on the event
/// loop threads.
const WORKERS: usize = 1;
/// Number of FUSE event-loop threads. Each answers its requests itself, library call
/// included, so this many requests are served at once; an idle thread sleeps in read(2) on
/// its `/dev/fuse` descriptor and costs nothing.
const FUSE_THREADS: usize = 2;
/// How long to wait for the session to end after unmounting before exiting anyway (bind
/// mounts in containers can keep the connection alive).
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// Raises the soft limit on open descriptors to the hard limit. The daemon holds pidfds (one
/// per container init, one per recent caller thread) and PSI trigger descriptors (up to
/// 1024), more than the 1024 a systemd service gets by default as its soft limit; it never
/// uses select(2), so a high limit is safe. A failure is logged and the daemon goes on: every
/// descriptor it keeps is an optimisation or has its own cap.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!("cannot raise the open-file limit from {soft} to {hard}: {e}");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot read the open-file limit: {e}"),
    }
}

/// Runs the daemon until a terminating signal. Returns when the filesystem is unmounted.
///
/// # Errors
/// [`DaemonError`] for anything that prevents serving; nothing is left mounted.
pub fn run(cfg: Config, max_log_level: u32) -> Result<(), DaemonError> {
    raise_fd_limit();
    clean_stale_mount(&cfg.mountpoint);
    check_mount_point(&cfg.mountpoint)?;
    let lib_path = find_library(cfg.library.as_deref())?;
    let pidfile = PidFile::acquire(&cfg.pidfile)?;
    let plugin = Arc::new(Plugin::load(
        &lib_path,
        init_options(&cfg, max_log_level),
        WORKERS,
    )?);
    let mut signals =
        Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2]).map_err(DaemonError::Signals)?;

    if live_fuse_mount(&cfg.mountpoint) {
        return Err(DaemonError::Mount {
            path: cfg.mountpoint.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a live FUSE filesystem is already mounted there (another lxcfs?)",
            ),
        });
    }
    let fs = LxcfsFs::new(plugin.clone(), cfg.psi_poll);
    let mut fcfg = FuseConfig::default();
    fcfg.mount_options = mount_options(&cfg);
    fcfg.acl = SessionACL::All;
    fcfg.n_threads = Some(FUSE_THREADS);
    fcfg.clone_fd = true;
    let mut session =
        fuser::Session::new(fs, &cfg.mountpoint, &fcfg).map_err(|e| DaemonError::Mount {
            path: cfg.mountpoint.clone(),
            source: e,
        })?;
    let mut unmounter = session.unmount_callable();
    tracing::info!("mounted lxcfs on {}", cfg.mountpoint.display());

    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    let runner = std::thread::Builder::new()
        .name("fuse-session".into())
        .spawn(move || {
            if let Err(e) = session.run() {
                tracing::error!("FUSE session ended with an error: {e}");
            }
            let _ = done_tx.send(());
            // Wake the signal loop: when the filesystem was unmounted from outside, the daemon
            // has nothing left to serve and exits as on SIGTERM.
            let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::SIGTERM);
        })
        .map_err(|e| DaemonError::Mount {
            path: cfg.mountpoint.clone(),
            source: e,
        })?;

    let ticker = crate::ticker::Ticker::start(plugin.clone());

    let mut virtualizing = true;
    let mut ended = false;
    for sig in signals.forever() {
        match sig {
            SIGUSR1 => reload(&plugin),
            SIGUSR2 => {
                virtualizing = !virtualizing;
                plugin.set_virtualization(virtualizing);
                tracing::info!(
                    "switched to {}virtualization mode",
                    if virtualizing { "" } else { "non-" }
                );
            }
            _ => {
                if done_rx.try_recv().is_ok() {
                    tracing::warn!(
                        "{} was unmounted from outside; exiting",
                        cfg.mountpoint.display()
                    );
                    ended = true;
                } else {
                    tracing::info!("signal {sig}: unmounting {}", cfg.mountpoint.display());
                }
                break;
            }
        }
    }

    drop(ticker);
    if !ended {
        if let Err(e) = unmounter.unmount() {
            tracing::warn!("{}: busy ({e}); detaching lazily", cfg.mountpoint.display());
            let _ = nix::mount::umount2(&cfg.mountpoint, nix::mount::MntFlags::MNT_DETACH);
        }
        ended = done_rx.recv_timeout(EXIT_GRACE).is_ok();
        if !ended {
            tracing::warn!("containers still hold the filesystem; exiting anyway");
        }
    }
    if ended {
        let _ = runner.join();
    }
    plugin.shutdown();
    drop(pidfile);
    Ok(())
}
