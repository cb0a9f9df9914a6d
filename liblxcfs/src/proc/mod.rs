//! The generated files under `/proc`: one module per file, each with a gather step (cgroup
//! reads through [`crate::hostfs::HostFs`]) and a pure render step tested on fixture text.
//!
//! [`render`] is the common pipeline: virtualization off → host file; otherwise resolve the
//! caller's container, run the file's module, and on any error log it and serve the host file.

pub mod cpuinfo;
pub mod diskstats;
pub mod loadavg;
pub mod meminfo;
pub mod pressure;
pub mod slabinfo;
pub mod stat;
pub mod swaps;
pub mod uptime;

use crate::cgroup::{CgroupDir, Controller};
use crate::container::Container;
use crate::error::{Error, Result};
use crate::Lxcfs;

/// A generated file directly under `/proc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcFile {
    /// `/proc/cpuinfo`
    Cpuinfo,
    /// `/proc/diskstats`
    Diskstats,
    /// `/proc/loadavg`
    Loadavg,
    /// `/proc/meminfo`
    Meminfo,
    /// `/proc/slabinfo`
    Slabinfo,
    /// `/proc/stat`
    Stat,
    /// `/proc/swaps`
    Swaps,
    /// `/proc/uptime`
    Uptime,
}

impl ProcFile {
    /// The file for a name under `/proc`.
    pub fn from_name(name: &str) -> Option<ProcFile> {
        Some(match name {
            "cpuinfo" => ProcFile::Cpuinfo,
            "diskstats" => ProcFile::Diskstats,
            "loadavg" => ProcFile::Loadavg,
            "meminfo" => ProcFile::Meminfo,
            "slabinfo" => ProcFile::Slabinfo,
            "stat" => ProcFile::Stat,
            "swaps" => ProcFile::Swaps,
            "uptime" => ProcFile::Uptime,
            _ => return None,
        })
    }

    /// The host's file (`/proc/meminfo`).
    pub fn host_path(self) -> &'static str {
        match self {
            ProcFile::Cpuinfo => "/proc/cpuinfo",
            ProcFile::Diskstats => "/proc/diskstats",
            ProcFile::Loadavg => "/proc/loadavg",
            ProcFile::Meminfo => "/proc/meminfo",
            ProcFile::Slabinfo => "/proc/slabinfo",
            ProcFile::Stat => "/proc/stat",
            ProcFile::Swaps => "/proc/swaps",
            ProcFile::Uptime => "/proc/uptime",
        }
    }
}

/// Reads a host file for serving. A host file that does not exist (a kernel without PSI, say)
/// is served as empty content.
///
/// # Errors
/// [`Error::Io`] when the file exists but cannot be read (out of descriptors, permission):
/// the read then fails with that errno rather than handing the reader an empty file.
pub fn host_file(lx: &Lxcfs, path: &str) -> Result<String> {
    match lx.fs.read(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::debug!("host file {path} does not exist: serving it empty");
            Ok(String::new())
        }
        Err(e) => {
            tracing::warn!("host file {path} unreadable: {e}");
            Err(Error::io(path, e))
        }
    }
}

/// Reads a host file that a renderer needs.
///
/// # Errors
/// [`Error::Io`] with the path.
pub fn read_host(lx: &Lxcfs, path: &str) -> Result<String> {
    lx.fs.read(path).map_err(|e| Error::io(path, e))
}

/// The container's cgroup for controller `c`.
///
/// # Errors
/// [`Error::NoController`] when the controller is not mounted or the container is not in it.
pub fn cgroup<'a>(lx: &'a Lxcfs, c: &Container, ctrl: Controller) -> Result<CgroupDir<'a>> {
    let h = lx
        .hierarchies
        .for_controller(ctrl)
        .ok_or(Error::NoController(ctrl.name()))?;
    CgroupDir::of(h, &c.membership).ok_or(Error::NoController(ctrl.name()))
}

/// The content of `file` for the caller thread `tid`; see the module documentation.
///
/// # Errors
/// As [`host_file`], when the container's figures cannot be used and the host file cannot be
/// read either.
pub fn render(lx: &Lxcfs, tid: u32, file: ProcFile) -> Result<String> {
    if !lx.virtualizing() {
        return host_file(lx, file.host_path());
    }
    let result = lx
        .container(tid)
        .and_then(|c| render_container(lx, &c, file));
    match result {
        Ok(s) => Ok(s),
        Err(e) => {
            if e.is_missing() {
                tracing::debug!("{}: serving the host file: {e}", file.host_path());
            } else {
                tracing::warn!("{}: serving the host file: {e}", file.host_path());
            }
            host_file(lx, file.host_path())
        }
    }
}

/// `file` for the container `c`, without the host fallback of [`render`].
///
/// # Errors
/// Whatever keeps the container's figures from being read (missing controller or cgroup
/// file, vanished process, malformed content).
pub fn render_container(lx: &Lxcfs, c: &Container, file: ProcFile) -> Result<String> {
    match file {
        ProcFile::Meminfo => read_meminfo(lx, c),
        ProcFile::Swaps => read_swaps(lx, c),
        ProcFile::Cpuinfo => cpuinfo::read(lx, c),
        ProcFile::Stat => stat::read(lx, c),
        ProcFile::Uptime => uptime::read(lx, c),
        ProcFile::Diskstats => diskstats::read(lx, c),
        ProcFile::Loadavg => loadavg::read(lx, c),
        ProcFile::Slabinfo => slabinfo::read(lx, c),
    }
}

fn read_meminfo(lx: &Lxcfs, c: &Container) -> Result<String> {
    let dir = cgroup(lx, c, Controller::Memory)?;
    let mem = crate::memory::read(&lx.fs, &dir)?;
    let host = read_host(lx, "/proc/meminfo")?;
    let opts = meminfo::MeminfoOptions {
        swap_off: lx.options.swap_off,
        zswap_off: lx.options.zswap_off,
    };
    Ok(meminfo::render(&host, &mem, opts))
}

fn read_swaps(lx: &Lxcfs, c: &Container) -> Result<String> {
    let dir = cgroup(lx, c, Controller::Memory)?;
    let mem = crate::memory::read(&lx.fs, &dir)?;
    let host = read_host(lx, "/proc/meminfo")?;
    let host_swap = lxcfs_formats::meminfo::value_of(&host, "SwapTotal").unwrap_or(0);
    Ok(swaps::render(&mem, host_swap, lx.options.swap_off))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_host_file_fails_the_read_and_a_missing_one_is_empty() {
        let root = std::env::temp_dir().join(format!("lxcfs-hostfile-{}", std::process::id()));
        // /proc/meminfo exists but cannot be read as a file; /proc/pressure does not exist.
        std::fs::create_dir_all(root.join("proc/meminfo")).unwrap();
        let lx = Lxcfs::new(&root, crate::Options::default());
        lx.set_virtualization(false);
        let err = render(&lx, 1, ProcFile::Meminfo).unwrap_err();
        assert_eq!(err.errno(), libc::EISDIR, "{err}");
        let psi = pressure::render(&lx, 1, pressure::Resource::Cpu).unwrap();
        assert_eq!(psi, "");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
