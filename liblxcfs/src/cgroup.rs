//! The host's cgroup hierarchies (v1 controllers, the unified v2 hierarchy) and access to one
//! container's cgroup files in them.
//!
//! Discovery reads `/proc/self/mountinfo` once per library load through the [`HostFs`] view:
//! every `cgroup` mount is a v1 hierarchy named by its super-block options (`memory`,
//! `cpu,cpuacct`, `name=systemd`), the `cgroup2` mount is the unified hierarchy whose
//! controllers are listed in its root's `cgroup.controllers`. A host is *legacy* (v1 only),
//! *hybrid* (v1 controllers plus a cgroup2 mount, as systemd's `unified` layout) or *unified*
//! (cgroup2 only) — see cgroups(7).

use lxcfs_formats::mountinfo;

use crate::hostfs::HostFs;

/// Controllers lxcfs reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Controller {
    /// `memory`
    Memory,
    /// `cpu` (quota/period, v2 `cpu.stat`)
    Cpu,
    /// `cpuacct` (v1 only: per-CPU usage)
    Cpuacct,
    /// `cpuset`
    Cpuset,
    /// v1 `blkio`; on v2 the `io` controller serves the same purpose.
    Blkio,
    /// v2 `io`
    Io,
    /// `pids`
    Pids,
}

impl Controller {
    /// The controller's name as the kernel spells it.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Blkio => "blkio",
            Controller::Io => "io",
            Controller::Pids => "pids",
        }
    }
}

/// cgroup version of a hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// cgroup v1 (one hierarchy per controller set).
    V1,
    /// cgroup v2 (the unified hierarchy).
    V2,
}

/// How the host mounts cgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// v1 controller hierarchies only.
    Legacy,
    /// v1 controller hierarchies plus a cgroup2 mount.
    Hybrid,
    /// cgroup2 only.
    Unified,
    /// No cgroup mounts at all (every file falls back to the host's).
    None,
}

/// One mounted hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// v1 or v2.
    pub version: Version,
    /// v1: controllers from the super-block options; v2: the root's `cgroup.controllers`.
    pub controllers: Vec<String>,
    /// Absolute host path of the mount point (`/sys/fs/cgroup/memory`).
    pub mount_point: String,
    /// The cgroup path mounted there (`/` unless the mount shows a subtree).
    pub mount_root: String,
}

impl Hierarchy {
    /// Whether the hierarchy carries `c`.
    pub fn has(&self, c: &str) -> bool {
        self.controllers.iter().any(|x| x == c)
    }

    /// Absolute host directory of cgroup `path` (as `/proc/<pid>/cgroup` shows it), or `None`
    /// when the path lies outside the mounted subtree.
    pub fn dir_of(&self, path: &str) -> Option<String> {
        let rel = if self.mount_root == "/" {
            path
        } else {
            let r = path.strip_prefix(self.mount_root.as_str())?;
            if !(r.is_empty() || r.starts_with('/')) {
                return None;
            }
            r
        };
        let rel = rel.trim_matches('/');
        if rel.split('/').any(|c| c == "..") {
            return None;
        }
        Some(if rel.is_empty() {
            self.mount_point.clone()
        } else {
            format!("{}/{}", self.mount_point.trim_end_matches('/'), rel)
        })
    }
}

/// All hierarchies of the host.
#[derive(Clone, Debug, Default)]
pub struct Hierarchies {
    /// v1 hierarchies.
    pub v1: Vec<Hierarchy>,
    /// The unified hierarchy, if mounted.
    pub unified: Option<Hierarchy>,
}

/// Super-block options of a v1 mount that are not controller names.
const V1_NON_CONTROLLER_OPTIONS: &[&str] = &[
    "rw",
    "ro",
    "noprefix",
    "clone_children",
    "xattr",
    "cpuset_v2_mode",
    "favordynmods",
];

impl Hierarchies {
    /// Discovers the hierarchies from the host's `/proc/self/mountinfo`. The first mount of
    /// each hierarchy wins (later bind mounts of the same controllers are ignored).
    pub fn discover(fs: &HostFs) -> Hierarchies {
        let text = match fs.read("/proc/self/mountinfo") {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("cannot read /proc/self/mountinfo: {e}; no cgroup hierarchies");
                return Hierarchies::default();
            }
        };
        Self::from_mountinfo(fs, &text)
    }

    /// Builds the hierarchies from mountinfo text; `fs` is used to read the unified root's
    /// `cgroup.controllers`.
    pub fn from_mountinfo(fs: &HostFs, text: &str) -> Hierarchies {
        let mut h = Hierarchies::default();
        for m in mountinfo::parse(text) {
            match m.fstype.as_str() {
                "cgroup" => {
                    let controllers: Vec<String> = m
                        .super_option_list()
                        .filter(|o| !V1_NON_CONTROLLER_OPTIONS.contains(o) && !o.contains('/'))
                        .filter(|o| !o.starts_with("release_agent="))
                        .map(str::to_string)
                        .collect();
                    if controllers.is_empty() || h.v1.iter().any(|x| x.controllers == controllers) {
                        continue;
                    }
                    h.v1.push(Hierarchy {
                        version: Version::V1,
                        controllers,
                        mount_point: m.mount_point,
                        mount_root: m.root,
                    });
                }
                "cgroup2" if h.unified.is_none() => {
                    let ctrl_file = format!("{}/cgroup.controllers", m.mount_point);
                    let controllers = fs
                        .read(&ctrl_file)
                        .map(|t| t.split_whitespace().map(str::to_string).collect())
                        .unwrap_or_default();
                    h.unified = Some(Hierarchy {
                        version: Version::V2,
                        controllers,
                        mount_point: m.mount_point,
                        mount_root: m.root,
                    });
                }
                _ => {}
            }
        }
        h
    }

    /// The host's layout.
    pub fn layout(&self) -> Layout {
        let real_v1 = self
            .v1
            .iter()
            .any(|h| h.controllers.iter().any(|c| !c.starts_with("name=")));
        match (real_v1, self.unified.is_some()) {
            (true, true) => Layout::Hybrid,
            (true, false) => Layout::Legacy,
            (false, true) => Layout::Unified,
            (false, false) => Layout::None,
        }
    }

    /// The hierarchy serving controller `c`: a v1 hierarchy carrying it, else the unified
    /// hierarchy when its root lists it. v1 `blkio` is looked up as v2 `io` and vice versa;
    /// v1 `cpuacct` has no v2 counterpart (its data lives in v2 `cpu.stat`).
    pub fn for_controller(&self, c: Controller) -> Option<&Hierarchy> {
        let v1_name = match c {
            Controller::Io => "blkio",
            other => other.name(),
        };
        if let Some(h) = self.v1.iter().find(|h| h.has(v1_name)) {
            return Some(h);
        }
        let v2_name = match c {
            Controller::Blkio => "io",
            Controller::Cpuacct => return None,
            other => other.name(),
        };
        self.unified.as_ref().filter(|u| u.has(v2_name))
    }

    /// The unified hierarchy (for PSI files, which exist in every v2 cgroup whatever its
    /// controllers).
    pub fn unified(&self) -> Option<&Hierarchy> {
        self.unified.as_ref()
    }
}

/// A process's cgroup membership, from `/proc/<pid>/cgroup`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    /// `(controllers, path)` per v1 hierarchy line.
    v1: Vec<(String, String)>,
    /// The `0::` path.
    unified: Option<String>,
}

impl Membership {
    /// Parses `/proc/<pid>/cgroup`, pruning a trailing `/init.scope` from every path.
    pub fn parse(text: &str) -> Membership {
        let mut m = Membership::default();
        for l in mountinfo::parse_proc_cgroup(text) {
            let path = mountinfo::prune_init_scope(l.path).to_string();
            if l.id == 0 && l.controllers.is_empty() {
                m.unified = Some(path);
            } else {
                m.v1.push((l.controllers.to_string(), path));
            }
        }
        m
    }

    /// The path in hierarchy `h`.
    pub fn path_in(&self, h: &Hierarchy) -> Option<&str> {
        match h.version {
            Version::V2 => self.unified.as_deref(),
            Version::V1 => self
                .v1
                .iter()
                .find(|(ctrls, _)| {
                    let set: Vec<&str> = ctrls.split(',').collect();
                    h.controllers.iter().all(|c| set.contains(&c.as_str()))
                })
                .map(|(_, p)| p.as_str()),
        }
    }
}

/// One cgroup of one hierarchy: where a container's files are read.
#[derive(Clone, Debug)]
pub struct CgroupDir<'a> {
    /// The hierarchy.
    pub hierarchy: &'a Hierarchy,
    /// The cgroup path (`/lxc.payload.c1`).
    pub path: String,
}

impl<'a> CgroupDir<'a> {
    /// The cgroup of `membership` in `hierarchy`.
    pub fn of(hierarchy: &'a Hierarchy, membership: &Membership) -> Option<CgroupDir<'a>> {
        Some(CgroupDir {
            hierarchy,
            path: membership.path_in(hierarchy)?.to_string(),
        })
    }

    /// Whether this is a v2 cgroup.
    pub fn is_v2(&self) -> bool {
        self.hierarchy.version == Version::V2
    }

    /// Absolute host path of `file` in this cgroup.
    pub fn file(&self, file: &str) -> Option<String> {
        Some(format!("{}/{}", self.hierarchy.dir_of(&self.path)?, file))
    }

    /// Reads `file` of this cgroup.
    ///
    /// # Errors
    /// `NotFound` when the cgroup or file is gone or outside the mount; other I/O errors.
    pub fn read(&self, fs: &HostFs, file: &str) -> std::io::Result<String> {
        let p = self
            .file(file)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
        fs.read(&p)
    }

    /// This cgroup and its ancestors up to (and including) the mount root, nearest first.
    pub fn self_and_ancestors(&self) -> Vec<CgroupDir<'a>> {
        let mut out = Vec::new();
        let mut p = self.path.clone();
        loop {
            out.push(CgroupDir {
                hierarchy: self.hierarchy,
                path: p.clone(),
            });
            if p == "/" || p.is_empty() || p == self.hierarchy.mount_root {
                break;
            }
            p = match p.rfind('/') {
                Some(0) => "/".to_string(),
                Some(i) => p[..i].to_string(),
                None => break,
            };
        }
        out
    }

    /// Whether this is the root of its hierarchy (v2 roots have no limit files).
    pub fn is_root(&self) -> bool {
        self.path == "/" || self.path == self.hierarchy.mount_root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn discovers_hybrid() {
        let fs = HostFs::new("/nonexistent-root");
        let h = Hierarchies::from_mountinfo(&fs, HYBRID);
        assert_eq!(h.layout(), Layout::Hybrid);
        assert_eq!(h.v1.len(), 4);
        assert_eq!(
            h.for_controller(Controller::Memory).unwrap().mount_point,
            "/sys/fs/cgroup/memory"
        );
        assert!(h.for_controller(Controller::Cpuset).is_none());
        assert!(h.unified().is_some());
    }

    #[test]
    fn membership_and_paths() {
        let fs = HostFs::new("/nonexistent-root");
        let h = Hierarchies::from_mountinfo(&fs, HYBRID);
        let m = Membership::parse("4:memory:/lxc/c1/init.scope\n1:cpu:/lxc/c1\n0::/x\n");
        let mem = h.for_controller(Controller::Memory).unwrap();
        let d = CgroupDir::of(mem, &m).unwrap();
        assert_eq!(d.path, "/lxc/c1");
        assert_eq!(
            d.file("memory.max").unwrap(),
            "/sys/fs/cgroup/memory/lxc/c1/memory.max"
        );
        let anc: Vec<String> = d.self_and_ancestors().into_iter().map(|d| d.path).collect();
        assert_eq!(anc, vec!["/lxc/c1", "/lxc", "/"]);
        assert_eq!(CgroupDir::of(h.unified().unwrap(), &m).unwrap().path, "/x");
    }

    #[test]
    fn subtree_mounts() {
        let h = Hierarchy {
            version: Version::V2,
            controllers: vec![],
            mount_point: "/sys/fs/cgroup".into(),
            mount_root: "/lxc/c1".into(),
        };
        assert_eq!(h.dir_of("/lxc/c1/x").unwrap(), "/sys/fs/cgroup/x");
        assert_eq!(h.dir_of("/lxc/c1").unwrap(), "/sys/fs/cgroup");
        assert_eq!(h.dir_of("/lxc/c10"), None);
        assert_eq!(h.dir_of("/other"), None);
        let root = Hierarchy {
            mount_root: "/".into(),
            ..h
        };
        assert_eq!(root.dir_of("/a/../../etc"), None);
    }
}
