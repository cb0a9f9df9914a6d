//! Command line: upstream lxcfs's flags with upstream's meaning, plus `--library`.
//!
//! Parsing is clap's; the few rules clap cannot express (upstream's `-d`/`-f` exclusion, the
//! `-o` filter) live in [`Cli::into_config`], which turns the raw flags into a validated
//! [`Config`]. The man page (`lxcfs.1`) is generated from [`command`].

use std::path::PathBuf;

use clap::{ArgAction, CommandFactory, Parser};

/// Installed location of the library, fixed at build time by `LXCFS_LIBDIR` (meson passes
/// `<prefix>/<libdir>`): `<libdir>/lxcfs/liblxcfs.so`, `/usr/lib/lxcfs/liblxcfs.so` by default.
pub const DEFAULT_LIBRARY: &str = env!("LXCFS_DEFAULT_LIBRARY");

/// Default runtime directory (`--runtime-dir`), fixed at build time by `LXCFS_RUNTIME_DIR`
/// (meson's `runtime-path`, as upstream's), `/run` by default.
pub const DEFAULT_RUNTIME_DIR: &str = env!("LXCFS_DEFAULT_RUNTIME_DIR");

/// FUSE options upstream lxcfs removes from `-o` because it always sets them itself.
const DROPPED_FUSE_OPTIONS: &[&str] = &[
    "allow_other",
    "direct_io",
    "nonempty",
    "entry_timeout",
    "attr_timeout",
];

/// FUSE filesystem that makes /proc and /sys files container-aware.
///
/// Bind-mount files from the mountpoint (usually /var/lib/lxcfs) over a container's /proc and
/// /sys files: proc/{cpuinfo,diskstats,loadavg,meminfo,slabinfo,stat,swaps,uptime},
/// proc/pressure/{cpu,io,memory} and sys/devices/system/cpu. Values are computed for the cgroup
/// of the init process of the reader's pid namespace. SIGUSR1 reloads liblxcfs.so without
/// unmounting; SIGUSR2 toggles virtualization off and on; SIGTERM/SIGINT unmount and exit.
#[derive(Debug, Parser)]
#[command(
    name = "lxcfs",
    disable_version_flag = true,
    after_help = "Signals: SIGUSR1 reloads the library, SIGUSR2 toggles virtualization, \
                  SIGTERM/SIGINT unmount and exit.\nLogging: RUST_LOG (e.g. RUST_LOG=debug) \
                  refines what -d selects."
)]
pub struct Cli {
    /// Mount point of the filesystem (e.g. /var/lib/lxcfs): an existing directory.
    #[arg(value_name = "MOUNTPOINT")]
    pub mountpoint: Option<PathBuf>,

    /// Debug logging, including every FUSE operation (runs in the foreground).
    #[arg(short = 'd', long = "debug")]
    pub debug: bool,

    /// Run in the foreground (the default; accepted for compatibility).
    #[arg(short = 'f', long = "foreground")]
    pub foreground: bool,

    /// Per-container /proc/loadavg (sampled every 5 s).
    #[arg(short = 'l', long = "enable-loadavg")]
    pub enable_loadavg: bool,

    /// Comma-separated FUSE mount options, as for mount.fuse(8). allow_other,
    /// direct_io, nonempty, entry_timeout and attr_timeout are ignored (lxcfs sets them).
    #[arg(short = 'o', value_name = "OPTIONS", action = ArgAction::Set)]
    pub options: Option<String>,

    /// Path of the pid file (locked while lxcfs runs) [default: RUNTIME_DIR/lxcfs.pid].
    #[arg(short = 'p', long = "pidfile", value_name = "FILE")]
    pub pidfile: Option<PathBuf>,

    /// Report no swap: SwapTotal and SwapFree 0 in meminfo, no device in swaps.
    #[arg(short = 'u', long = "disable-swap")]
    pub disable_swap: bool,

    /// Report Zswap and Zswapped as 0 in meminfo.
    #[arg(long = "disable-zswap")]
    pub disable_zswap: bool,

    /// Print the versions of lxcfs and of the library it would load, then exit.
    #[arg(short = 'v', long = "version")]
    pub version: bool,

    /// Legacy single-threaded mode switch; accepted and ignored.
    #[arg(short = 's', hide = true)]
    pub single_threaded: bool,

    /// Derive the CPU count of cpuinfo, stat and sys/devices/system/cpu/online from the CFS
    /// quota (cpu.max, or cpu.cfs_quota_us/cpu.cfs_period_us) as well as the cpuset.
    #[arg(long = "enable-cfs")]
    pub enable_cfs: bool,

    /// Accepted for compatibility: process identity is always validated.
    #[arg(long = "enable-pidfd")]
    pub enable_pidfd: bool,

    /// Allow PSI trigger writes and poll(2) on proc/pressure/{cpu,io,memory}.
    #[arg(long = "enable-psi-poll")]
    pub enable_psi_poll: bool,

    /// How long, in milliseconds, a file rendered for a container is served again to other
    /// reads from the same container before it is rendered anew (0: render on every open).
    /// Readers that read less often always get a fresh render; the default, one 10 ms clock
    /// tick, is the resolution of stat and uptime figures.
    #[arg(long = "cache-ms", value_name = "MS", default_value_t = 10, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(0..=60_000))]
    pub cache_ms: u32,

    /// Upstream's `--enable-cgroup` (its emulated cgroup tree), which this lxcfs does not
    /// provide: accepted only to be refused with an explanation.
    #[arg(long = "enable-cgroup", hide = true)]
    pub enable_cgroup: bool,

    /// Runtime directory (pid file default).
    #[arg(long = "runtime-dir", value_name = "DIR", default_value = DEFAULT_RUNTIME_DIR)]
    pub runtime_dir: PathBuf,

    /// Library to load instead of the installed one (default: the installed
    /// LIBDIR/lxcfs/liblxcfs.so, else liblxcfs.so beside the lxcfs executable).
    #[arg(long = "library", value_name = "PATH")]
    pub library: Option<PathBuf>,
}

/// A FUSE mount option accepted with `-o`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FuseOption {
    /// A mount flag or fuse option passed through to the mount (e.g. `ro`, `noexec`,
    /// `default_permissions`, `max_read=N`).
    Pass(String),
    /// `fsname=NAME`: the mount's source name (default `lxcfs`).
    FsName(String),
}

/// The validated configuration the daemon runs with.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to mount.
    pub mountpoint: PathBuf,
    /// `-d`.
    pub debug: bool,
    /// `-l`.
    pub loadavg: bool,
    /// `-u`.
    pub swap_off: bool,
    /// `--disable-zswap`.
    pub zswap_off: bool,
    /// `--enable-cfs`.
    pub cfs: bool,
    /// `--enable-pidfd`.
    pub pidfd: bool,
    /// `--enable-psi-poll`.
    pub psi_poll: bool,
    /// `--cache-ms`, in milliseconds.
    pub cache_ms: u32,
    /// Pid file path.
    pub pidfile: PathBuf,
    /// Runtime directory.
    pub runtime_dir: PathBuf,
    /// Explicit library path (`--library`), if any.
    pub library: Option<PathBuf>,
    /// Filtered `-o` options.
    pub fuse_options: Vec<FuseOption>,
}

/// Errors of [`Cli::into_config`]; each is reported with the usage text and exit status 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No mount point was given.
    #[error("missing mountpoint")]
    MissingMountpoint,
    /// `-d` together with `-f`.
    #[error("both --debug and --foreground specified")]
    DebugAndForeground,
    /// An `-o` entry that is not a FUSE option lxcfs can pass on.
    #[error("unsupported FUSE option in -o: {0:?}")]
    BadFuseOption(String),
    /// `--enable-cgroup`.
    #[error(
        "--enable-cgroup (upstream's emulated cgroup tree under the mount) is not provided: \
         containers see their own cgroups through cgroup namespaces"
    )]
    CgroupEmulation,
}

/// Mount flags and kernel FUSE options that `-o` passes through.
const PASSABLE_FUSE_OPTIONS: &[&str] = &[
    "ro",
    "rw",
    "dev",
    "nodev",
    "suid",
    "nosuid",
    "exec",
    "noexec",
    "atime",
    "noatime",
    "sync",
    "async",
    "dirsync",
    "default_permissions",
];

/// Parses upstream's `-o` list: drops the options lxcfs always sets, keeps the rest.
///
/// # Errors
/// [`CliError::BadFuseOption`] for an option the kernel's FUSE mount would not accept.
pub fn parse_fuse_options(list: &str) -> Result<Vec<FuseOption>, CliError> {
    let mut out = Vec::new();
    for opt in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let key = opt.split('=').next().unwrap_or(opt);
        if DROPPED_FUSE_OPTIONS.contains(&key) {
            continue;
        }
        if let Some(name) = opt.strip_prefix("fsname=") {
            if name.is_empty() || name.contains([' ', '\t', '\n']) {
                return Err(CliError::BadFuseOption(opt.to_string()));
            }
            out.push(FuseOption::FsName(name.to_string()));
        } else if PASSABLE_FUSE_OPTIONS.contains(&opt)
            || (key == "max_read" && opt[key.len() + 1..].parse::<u32>().is_ok())
        {
            out.push(FuseOption::Pass(opt.to_string()));
        } else {
            return Err(CliError::BadFuseOption(opt.to_string()));
        }
    }
    Ok(out)
}

impl Cli {
    /// Validates the flags into a [`Config`].
    ///
    /// # Errors
    /// See [`CliError`].
    pub fn into_config(self) -> Result<Config, CliError> {
        if self.debug && self.foreground {
            return Err(CliError::DebugAndForeground);
        }
        if self.enable_cgroup {
            return Err(CliError::CgroupEmulation);
        }
        let mountpoint = self.mountpoint.ok_or(CliError::MissingMountpoint)?;
        let fuse_options = match &self.options {
            Some(list) => parse_fuse_options(list)?,
            None => Vec::new(),
        };
        let pidfile = self
            .pidfile
            .unwrap_or_else(|| self.runtime_dir.join("lxcfs.pid"));
        Ok(Config {
            mountpoint,
            debug: self.debug,
            loadavg: self.enable_loadavg,
            swap_off: self.disable_swap,
            zswap_off: self.disable_zswap,
            cfs: self.enable_cfs,
            pidfd: self.enable_pidfd,
            psi_poll: self.enable_psi_poll,
            cache_ms: self.cache_ms,
            pidfile,
            runtime_dir: self.runtime_dir,
            library: self.library,
            fuse_options,
        })
    }
}

/// The clap command, for the man page generator and for usage errors.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(std::iter::once("lxcfs").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.into_config().map_err(|e| e.to_string())
    }

    #[test]
    fn upstream_flags_parse() {
        let c = parse(&[
            "-l",
            "-u",
            "--enable-cfs",
            "--enable-pidfd",
            "--enable-psi-poll",
            "--disable-zswap",
            "-s",
            "-p",
            "/tmp/x.pid",
            "/var/lib/lxcfs",
        ])
        .unwrap();
        assert!(c.loadavg && c.swap_off && c.cfs && c.pidfd && c.psi_poll && c.zswap_off);
        assert_eq!(c.pidfile, PathBuf::from("/tmp/x.pid"));
        assert_eq!(c.mountpoint, PathBuf::from("/var/lib/lxcfs"));
    }

    #[test]
    fn pidfile_defaults_to_runtime_dir() {
        let c = parse(&["--runtime-dir", "/tmp/rt", "/mnt"]).unwrap();
        assert_eq!(c.pidfile, PathBuf::from("/tmp/rt/lxcfs.pid"));
        let c = parse(&["/mnt"]).unwrap();
        assert_eq!(c.pidfile, PathBuf::from("/run/lxcfs.pid"));
    }

    #[test]
    fn debug_and_foreground_conflict() {
        assert!(parse(&["-d", "-f", "/mnt"])
            .unwrap_err()
            .contains("both --debug"));
    }

    #[test]
    fn bad_flags_are_errors() {
        assert!(parse(&["--enable-cgroup", "/mnt"])
            .unwrap_err()
            .contains("not provided"));
        assert!(parse(&["--cache-ms", "-1", "/mnt"])
            .unwrap_err()
            .contains("0..=60000"));
        assert!(parse(&["/a", "/b"]).is_err());
        assert!(parse(&["-o", "ro", "-o", "rw", "/mnt"]).is_err());
        assert!(parse(&[]).unwrap_err().contains("missing mountpoint"));
    }

    #[test]
    fn fuse_options_filtered_as_upstream() {
        let o =
            parse_fuse_options("allow_other,ro,entry_timeout=3,attr_timeout=1,nonempty,direct_io")
                .unwrap();
        assert_eq!(o, vec![FuseOption::Pass("ro".into())]);
        let o = parse_fuse_options("fsname=foo,max_read=4096,noexec").unwrap();
        assert_eq!(
            o,
            vec![
                FuseOption::FsName("foo".into()),
                FuseOption::Pass("max_read=4096".into()),
                FuseOption::Pass("noexec".into())
            ]
        );
        assert!(parse_fuse_options("bogus").is_err());
        assert!(parse_fuse_options("fsname=").is_err());
        assert!(parse_fuse_options("max_read=x").is_err());
    }
}
