//! `/proc/<pid>/mountinfo` (proc(5) "mountinfo") and `/proc/<pid>/cgroup` (cgroups(7)).

/// The fields of one mountinfo line lxcfs needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Field 4: the root of the mount inside its filesystem (e.g. `/` or a cgroup path).
    pub root: String,
    /// Field 5: the mount point, relative to the reader's root.
    pub mount_point: String,
    /// Filesystem type after the ` - ` separator (`cgroup`, `cgroup2`, `fuse.lxcfs`).
    pub fstype: String,
    /// Mount source.
    pub source: String,
    /// Super-block options (`rw,memory`, `rw,nsdelegate`).
    pub super_options: String,
}

impl Mount {
    /// The super-block options as a list.
    pub fn super_option_list(&self) -> impl Iterator<Item = &str> {
        self.super_options.split(',')
    }
}

/// Undoes mountinfo's octal escapes (`\040` for space, `\011`, `\012`, `\134`).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let oct = std::str::from_utf8(oct).unwrap_or("");
                if let Ok(v) = u8::from_str_radix(oct, 8) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses one mountinfo line; `None` when malformed.
pub fn parse_line(line: &str) -> Option<Mount> {
    let (pre, post) = line.split_once(" - ")?;
    let pre: Vec<&str> = pre.split(' ').collect();
    if pre.len() < 6 {
        return None;
    }
    let mut post = post.split(' ');
    let fstype = post.next()?.to_string();
    let source = unescape(post.next()?);
    let super_options = post.next().unwrap_or("").to_string();
    Some(Mount {
        root: unescape(pre[3]),
        mount_point: unescape(pre[4]),
        fstype,
        source,
        super_options,
    })
}

/// Parses a whole mountinfo file, skipping malformed lines.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

/// One line of `/proc/<pid>/cgroup`: `hierarchy-ID:controller-list:cgroup-path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupLine<'a> {
    /// Hierarchy ID (0 for the unified hierarchy).
    pub id: u32,
    /// Controllers bound to the hierarchy (`cpu,cpuacct`, `name=systemd`; empty for v2).
    pub controllers: &'a str,
    /// Path of the process's cgroup, relative to the reader's cgroup namespace root.
    pub path: &'a str,
}

impl CgroupLine<'_> {
    /// Whether `controller` is one of this hierarchy's controllers.
    pub fn has_controller(&self, controller: &str) -> bool {
        self.controllers.split(',').any(|c| c == controller)
    }
}

/// Parses `/proc/<pid>/cgroup`, skipping malformed lines.
pub fn parse_proc_cgroup(text: &str) -> Vec<CgroupLine<'_>> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let id = it.next()?.parse().ok()?;
            let controllers = it.next()?;
            let path = it.next()?;
            if !path.starts_with('/') {
                return None;
            }
            Some(CgroupLine {
                id,
                controllers,
                path,
            })
        })
        .collect()
}

/// Drops a trailing `/init.scope` component (systemd puts a container's init there); a bare
/// `/init.scope` becomes `/`.
pub fn prune_init_scope(path: &str) -> &str {
    match path.strip_suffix("/init.scope") {
        Some("") => "/",
        Some(p) => p,
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let t = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                 41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:5 - cgroup2 cgroup2 rw\n\
                 50 1 0:40 / /mnt/a\\040b rw - tmpfs tmpfs rw\nbroken\n";
        let m = parse(t);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].mount_point, "/sys/fs/cgroup/memory");
        assert!(m[0].super_option_list().any(|o| o == "memory"));
        assert_eq!(m[1].fstype, "cgroup2");
        assert_eq!(m[2].mount_point, "/mnt/a b");
    }

    #[test]
    fn proc_cgroup() {
        let t = "4:memory:/lxc/c1\n2:cpu,cpuacct:/lxc/c1\n0::/lxc.payload.c1/init.scope\njunk\n";
        let l = parse_proc_cgroup(t);
        assert_eq!(l.len(), 3);
        assert!(l[1].has_controller("cpuacct"));
        assert!(!l[1].has_controller("cpuset"));
        assert_eq!(l[2].id, 0);
        assert_eq!(prune_init_scope(l[2].path), "/lxc.payload.c1");
        assert_eq!(prune_init_scope("/init.scope"), "/");
        assert_eq!(prune_init_scope("/a/b"), "/a/b");
    }

    #[test]
    fn unescape_odd_input() {
        assert_eq!(unescape("a\\04"), "a\\04");
        assert_eq!(unescape("\\"), "\\");
        assert_eq!(unescape("x\\134y"), "x\\y");
    }
}
