//! The filesystem tree lxcfs serves, as upstream lxcfs lays it out:
//!
//! ```text
//! /                       dir 0755: proc, sys
//! /proc                   dir 0555: cpuinfo diskstats loadavg meminfo pressure slabinfo stat swaps uptime
//! /proc/<file>            file 0444
//! /proc/pressure          dir 0555: cpu io memory
//! /proc/pressure/<res>    file 0444; 0666 with --enable-psi-poll (PSI triggers)
//! /sys, /sys/devices, /sys/devices/system   dirs 0555 leading to cpu
//! /sys/devices/system/cpu/**                the host's directory, `online` rewritten
//! ```

use lxcfs_abi::{kind, Attr};

use crate::proc::pressure::Resource;
use crate::proc::ProcFile;

/// A node of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// `/`
    Root,
    /// `/proc`
    ProcDir,
    /// A generated file directly under `/proc`.
    Proc(ProcFile),
    /// `/proc/pressure`
    PressureDir,
    /// `/proc/pressure/{cpu,io,memory}`
    Pressure(Resource),
    /// `/sys`
    SysDir,
    /// `/sys/devices`
    SysDevicesDir,
    /// `/sys/devices/system`
    SysSystemDir,
    /// `/sys/devices/system/cpu` (empty string) or a path below it (`online`, `cpu0/topology`).
    SysCpu(String),
    /// Test builds only: a file whose read panics (`/proc/.lxcfs-panic`).
    PanicHook,
}

/// Names listed in `/proc`, in the order upstream lists them.
pub const PROC_ENTRIES: &[(&str, u32)] = &[
    ("cpuinfo", kind::FILE),
    ("diskstats", kind::FILE),
    ("loadavg", kind::FILE),
    ("meminfo", kind::FILE),
    ("pressure", kind::DIR),
    ("slabinfo", kind::FILE),
    ("stat", kind::FILE),
    ("swaps", kind::FILE),
    ("uptime", kind::FILE),
];

impl Node {
    /// Maps an absolute path inside the mount to a node; `None` when it does not exist in
    /// the tree (existence below `/sys/devices/system/cpu` is decided by the host).
    pub fn lookup(path: &str) -> Option<Node> {
        let rest = path.strip_prefix('/')?;
        if rest.split('/').any(|c| c == "." || c == "..") {
            return None;
        }
        let rest = rest.trim_end_matches('/');
        Some(match rest {
            "" => Node::Root,
            "proc" => Node::ProcDir,
            "proc/pressure" => Node::PressureDir,
            "proc/pressure/cpu" => Node::Pressure(Resource::Cpu),
            "proc/pressure/io" => Node::Pressure(Resource::Io),
            "proc/pressure/memory" => Node::Pressure(Resource::Memory),
            "proc/.lxcfs-panic" if cfg!(feature = "test-hooks") => Node::PanicHook,
            "sys" => Node::SysDir,
            "sys/devices" => Node::SysDevicesDir,
            "sys/devices/system" => Node::SysSystemDir,
            "sys/devices/system/cpu" => Node::SysCpu(String::new()),
            _ => {
                if let Some(f) = rest.strip_prefix("proc/") {
                    Node::Proc(ProcFile::from_name(f)?)
                } else if let Some(r) = rest.strip_prefix("sys/devices/system/cpu/") {
                    if r.is_empty() || r.contains("//") {
                        return None;
                    }
                    Node::SysCpu(r.to_string())
                } else {
                    return None;
                }
            }
        })
    }

    /// Attributes of a node that does not mirror the host.
    pub fn static_attr(&self) -> Attr {
        let dir = |perm| Attr {
            kind: kind::DIR,
            perm,
            size: 0,
            nlink: 2,
            reserved: 0,
        };
        match self {
            Node::Root => dir(0o755),
            Node::ProcDir
            | Node::PressureDir
            | Node::SysDir
            | Node::SysDevicesDir
            | Node::SysSystemDir => dir(0o555),
            Node::SysCpu(_) => dir(0o755),
            Node::Proc(_) | Node::Pressure(_) | Node::PanicHook => Attr {
                kind: kind::FILE,
                perm: 0o444,
                size: 0,
                nlink: 1,
                reserved: 0,
            },
        }
    }

    /// Entries of a directory node that does not mirror the host; `None` for files.
    pub fn static_entries(&self) -> Option<Vec<(String, u32)>> {
        let one = |n: &str| Some(vec![(n.to_string(), kind::DIR)]);
        match self {
            Node::Root => Some(vec![("proc".into(), kind::DIR), ("sys".into(), kind::DIR)]),
            Node::ProcDir => Some(
                PROC_ENTRIES
                    .iter()
                    .map(|(n, k)| (n.to_string(), *k))
                    .collect(),
            ),
            Node::PressureDir => Some(
                ["cpu", "io", "memory"]
                    .iter()
                    .map(|n| (n.to_string(), kind::FILE))
                    .collect(),
            ),
            Node::SysDir => one("devices"),
            Node::SysDevicesDir => one("system"),
            Node::SysSystemDir => one("cpu"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(Node::lookup("/"), Some(Node::Root));
        assert_eq!(
            Node::lookup("/proc/meminfo"),
            Some(Node::Proc(ProcFile::Meminfo))
        );
        assert_eq!(
            Node::lookup("/proc/pressure/io"),
            Some(Node::Pressure(Resource::Io))
        );
        assert_eq!(Node::lookup("/proc/nope"), None);
        assert_eq!(
            Node::lookup("/sys/devices/system/cpu/online"),
            Some(Node::SysCpu("online".into()))
        );
        assert_eq!(Node::lookup("/sys/devices/system/cpu/../../kernel"), None);
        assert_eq!(Node::lookup("/sys/kernel"), None);
        assert_eq!(Node::lookup("relative"), None);
        assert_eq!(
            Node::lookup("/proc/.lxcfs-panic").is_some(),
            cfg!(feature = "test-hooks")
        );
    }

    #[test]
    fn every_proc_entry_resolves() {
        for (name, k) in PROC_ENTRIES {
            let n = Node::lookup(&format!("/proc/{name}")).unwrap();
            assert_eq!(n.static_attr().kind, *k, "{name}");
        }
    }
}
