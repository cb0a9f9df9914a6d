//! The cgroup the reader processes run in: a v1 cgroup with a memory limit and a cpuset (and
//! its own cpu and cpuacct groups, so that every file lxcfs virtualizes has a container cgroup
//! to read). Removed on drop.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Prefix of every cgroup the benchmark creates (`lxcfs-bench-<harness pid>`).
pub const PREFIX: &str = "lxcfs-bench-";

/// Controllers the reader cgroup is created in; the first two are required.
const CONTROLLERS: &[(&str, bool)] = &[
    ("memory", true),
    ("cpuset", true),
    ("cpu", false),
    ("cpuacct", false),
];

/// The mount point of the v1 hierarchy carrying `controller`, from `/proc/self/mountinfo`.
pub fn v1_mount(controller: &str) -> Option<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    lxcfs_formats::mountinfo::parse(&mi)
        .into_iter()
        .find_map(|m| {
            (m.fstype == "cgroup" && m.super_option_list().any(|o| o == controller))
                .then(|| PathBuf::from(m.mount_point))
        })
}

/// A v1 cgroup `/<name>` in the memory, cpuset, cpu and cpuacct hierarchies.
#[derive(Debug)]
pub struct BenchCgroup {
    /// The cgroup path (`/lxcfs-bench-1234`).
    pub path: String,
    /// The directory in each hierarchy (one per distinct mount).
    pub dirs: Vec<PathBuf>,
}

impl BenchCgroup {
    /// Creates `/<name>` with `memory.limit_in_bytes = memory_limit` and `cpuset.cpus =
    /// cpus` (`cpuset.mems` copied from the root).
    ///
    /// # Errors
    /// When the memory or cpuset hierarchy is not mounted (cgroup v1 is required) or a
    /// directory or limit cannot be written. Whatever was created is removed again.
    pub fn create(name: &str, memory_limit: u64, cpus: &str) -> io::Result<BenchCgroup> {
        let mut cg = BenchCgroup {
            path: format!("/{name}"),
            dirs: Vec::new(),
        };
        for (controller, required) in CONTROLLERS {
            let Some(root) = v1_mount(controller) else {
                if *required {
                    return Err(io::Error::other(format!(
                        "cgroup v1 controller {controller} is not mounted (the benchmark needs \
                         the v1 memory and cpuset hierarchies)"
                    )));
                }
                continue;
            };
            let dir = root.join(name);
            if cg.dirs.contains(&dir) {
                continue; // co-mounted controllers (cpu,cpuacct) share one directory
            }
            std::fs::create_dir(&dir)
                .map_err(|e| io::Error::new(e.kind(), format!("mkdir {}: {e}", dir.display())))?;
            cg.dirs.push(dir.clone());
            if *controller == "cpuset" {
                let mems = std::fs::read_to_string(root.join("cpuset.mems"))?;
                write(&dir.join("cpuset.cpus"), cpus)?;
                write(&dir.join("cpuset.mems"), mems.trim())?;
            }
            if *controller == "memory" {
                write(
                    &dir.join("memory.limit_in_bytes"),
                    &memory_limit.to_string(),
                )?;
            }
        }
        Ok(cg)
    }

    /// The `cgroup.procs` file of every hierarchy, to move a process in by writing `0`.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Reads `file` in the hierarchy of `controller` (`memory.limit_in_bytes`).
    pub fn get(&self, controller: &str, file: &str) -> Option<String> {
        let root = v1_mount(controller)?;
        let dir = self.dirs.iter().find(|d| d.starts_with(&root))?;
        std::fs::read_to_string(dir.join(file))
            .ok()
            .map(|s| s.trim().to_string())
    }
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    std::fs::write(path, value).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("write {value:?} to {}: {e}", path.display()),
        )
    })
}

/// Moves the tasks left in `dir` to its hierarchy's root and removes it (retrying while
/// exiting tasks still hold it).
pub fn remove(dir: &Path) {
    if !dir.exists() {
        return;
    }
    if let (Some(root), Ok(procs)) = (
        dir.parent(),
        std::fs::read_to_string(dir.join("cgroup.procs")),
    ) {
        for pid in procs.split_whitespace() {
            let _ = std::fs::write(root.join("cgroup.procs"), pid);
        }
    }
    for _ in 0..100 {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("lxcfs-bench: could not remove cgroup {}", dir.display());
}

/// Removes `lxcfs-bench-<pid>` cgroups left behind by harness processes that no longer run.
pub fn remove_stale() {
    for (controller, _) in CONTROLLERS {
        let Some(root) = v1_mount(controller) else {
            continue;
        };
        let Ok(rd) = std::fs::read_dir(&root) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix(PREFIX)
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                remove(&e.path());
            }
        }
    }
}

impl Drop for BenchCgroup {
    fn drop(&mut self) {
        for d in &self.dirs {
            remove(d);
        }
    }
}
