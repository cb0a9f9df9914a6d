//! `/proc/diskstats` for a container (Documentation/admin-guide/iostats.rst, proc(5)).
//!
//! Each line is `major minor name` and the host's number of counters (11 before Linux 4.18,
//! 15 with discards, 17 with flushes since 5.5); counters the cgroup cannot know are 0.
//!
//! | field (iostats.rst) | cgroup v2 `io.stat` | cgroup v1 blkio |
//! |---|---|---|
//! | 1 reads completed | `rios` | `Read` of `blkio.throttle.io_serviced_recursive` |
//! | 2 reads merged | 0 | `Read` of `blkio.io_merged_recursive` (CFQ) |
//! | 3 sectors read | `rbytes` / 512 | `Read` of `blkio.throttle.io_service_bytes_recursive` / 512 |
//! | 4 ms reading | 0 | (`blkio.io_service_time_recursive` + `blkio.io_wait_time_recursive`) `Read`, ns → ms (CFQ) |
//! | 5–8 writes | `wios`, 0, `wbytes` / 512, 0 | as reads, op `Write` |
//! | 9 I/Os in progress | 0 | 0 |
//! | 10 ms doing I/O | 0 | `Total` of `blkio.io_service_time_recursive`, ns → ms (CFQ) |
//! | 11 weighted ms | 0 | sum of fields 4, 8 and 15 (the kernel's definition since 5.0) |
//! | 12–15 discards | `dios`, 0, `dbytes` / 512, 0 | as reads, op `Discard` |
//! | 16–17 flushes | 0 | 0 |
//!
//! On v1 the CFQ-era files (`blkio.io_serviced_recursive`, `blkio.io_service_bytes_recursive`)
//! stand in for the throttle files when a kernel has no throttling; the merged and time files
//! only exist with CFQ (before Linux 5.0) and are used when present. Both v2 `io.stat` and the
//! v1 `*_recursive` files include the cgroup's descendants. On recent kernels (observed on
//! 6.18) the v1 throttle counters only count I/O to devices that have a throttle rule
//! somewhere in the hierarchy (the per-queue throttle state is only set up by the first
//! rule); until then they read `Total 0`. v1 files without a single device line therefore
//! mean "no counters", not "no I/O", and the host's file is served; device lines with zero
//! counters (throttling active, no I/O) give an empty file. v2 `io.stat` counts always.
//!
//! Device list: the devices the host's `/proc/diskstats` lists, in its order, then devices the
//! container used that the host does not list (a ramdisk, for instance), sorted by
//! `major:minor` and named after `/sys/dev/block/MAJ:MIN/uevent`'s `DEVNAME` (or the link's
//! last component; a `/` in a name becomes `!`, as the kernel prints it). Devices whose
//! container counters are all zero are omitted, as are unnamed devices. Upstream lxcfs only
//! reads the CFQ files (gone since Linux 5.0) and never reads `io.stat`, so it serves the host
//! file on every current kernel; it also only lists devices the host's file lists.
//!
//! No blkio/io cgroup, no counter file, or a malformed one: [`read`] fails and the host's file
//! is served.

use std::collections::BTreeMap;

use lxcfs_formats::cgroupfile::{nested_keyed, parse_devno};
use lxcfs_formats::diskstats::{self, field, Line};

use crate::cgroup::{CgroupDir, Controller};
use crate::container::Container;
use crate::error::{Error, Result};
use crate::hostfs::HostFs;
use crate::Lxcfs;

/// Bytes per diskstats sector (iostats.rst: sectors are always 512 bytes).
pub const SECTOR: u64 = 512;

/// A device number (`major`, `minor`).
pub type DevNo = (u32, u32);

/// One device's counters for a container, in diskstats units (counts, 512-byte sectors,
/// milliseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DevStat {
    /// Reads completed.
    pub reads: u64,
    /// Reads merged.
    pub reads_merged: u64,
    /// Sectors read.
    pub sectors_read: u64,
    /// Milliseconds spent reading.
    pub read_ms: u64,
    /// Writes completed.
    pub writes: u64,
    /// Writes merged.
    pub writes_merged: u64,
    /// Sectors written.
    pub sectors_written: u64,
    /// Milliseconds spent writing.
    pub write_ms: u64,
    /// Milliseconds spent doing I/O.
    pub io_ms: u64,
    /// Discards completed.
    pub discards: u64,
    /// Discards merged.
    pub discards_merged: u64,
    /// Sectors discarded.
    pub sectors_discarded: u64,
    /// Milliseconds spent discarding.
    pub discard_ms: u64,
}

impl DevStat {
    /// Whether every counter is zero (such devices are not listed).
    pub fn is_zero(&self) -> bool {
        *self == DevStat::default()
    }

    /// The first `n` diskstats counters (iostats.rst fields 1..=n); fields without a source
    /// (in flight, flushes, anything a future kernel adds) are 0.
    pub fn fields(&self, n: usize) -> Vec<u64> {
        let mut f = vec![0u64; n.max(17)];
        f[field::READS] = self.reads;
        f[field::READS_MERGED] = self.reads_merged;
        f[field::SECTORS_READ] = self.sectors_read;
        f[field::READ_MS] = self.read_ms;
        f[field::WRITES] = self.writes;
        f[field::WRITES_MERGED] = self.writes_merged;
        f[field::SECTORS_WRITTEN] = self.sectors_written;
        f[field::WRITE_MS] = self.write_ms;
        f[field::IN_FLIGHT] = 0;
        f[field::IO_MS] = self.io_ms;
        f[field::WEIGHTED_MS] = self
            .read_ms
            .saturating_add(self.write_ms)
            .saturating_add(self.discard_ms);
        f[field::DISCARDS] = self.discards;
        f[field::DISCARDS_MERGED] = self.discards_merged;
        f[field::SECTORS_DISCARDED] = self.sectors_discarded;
        f[field::DISCARD_MS] = self.discard_ms;
        f.truncate(n);
        f
    }
}

/// Per-device counters of a container.
pub type Stats = BTreeMap<DevNo, DevStat>;

/// Parses a v2 `io.stat` (cgroup-v2.rst "IO Interface Files"):
///
/// ```text
/// 8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0
/// ```
///
/// Lines without keys (devices without I/O) and keys other than `rbytes`, `wbytes`, `rios`,
/// `wios`, `dbytes`, `dios` (io.cost, io.latency debug keys) are ignored. `None` when a line
/// does not start with `MAJ:MIN` or a known key has a non-numeric value.
pub fn parse_io_stat(text: &str) -> Option<Stats> {
    let mut out = Stats::new();
    for l in nested_keyed(text) {
        let dev = parse_devno(l.name)?;
        let mut s = DevStat::default();
        for (k, v) in &l.fields {
            let slot = match *k {
                "rbytes" => &mut s.sectors_read,
                "wbytes" => &mut s.sectors_written,
                "dbytes" => &mut s.sectors_discarded,
                "rios" => &mut s.reads,
                "wios" => &mut s.writes,
                "dios" => &mut s.discards,
                _ => continue,
            };
            let n: u64 = v.parse().ok()?;
            *slot = if k.ends_with("bytes") { n / SECTOR } else { n };
        }
        let e = out.entry(dev).or_default();
        *e = add(e, &s);
    }
    Some(out)
}

fn add(a: &DevStat, b: &DevStat) -> DevStat {
    DevStat {
        reads: a.reads.saturating_add(b.reads),
        reads_merged: a.reads_merged.saturating_add(b.reads_merged),
        sectors_read: a.sectors_read.saturating_add(b.sectors_read),
        read_ms: a.read_ms.saturating_add(b.read_ms),
        writes: a.writes.saturating_add(b.writes),
        writes_merged: a.writes_merged.saturating_add(b.writes_merged),
        sectors_written: a.sectors_written.saturating_add(b.sectors_written),
        write_ms: a.write_ms.saturating_add(b.write_ms),
        io_ms: a.io_ms.saturating_add(b.io_ms),
        discards: a.discards.saturating_add(b.discards),
        discards_merged: a.discards_merged.saturating_add(b.discards_merged),
        sectors_discarded: a.sectors_discarded.saturating_add(b.sectors_discarded),
        discard_ms: a.discard_ms.saturating_add(b.discard_ms),
    }
}

/// One device's values of a v1 blkio `MAJ:MIN Op value` file, by operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpValues {
    /// `Read`
    pub read: u64,
    /// `Write`
    pub write: u64,
    /// `Discard` (Linux 4.19+)
    pub discard: u64,
    /// `Total`
    pub total: u64,
}

/// Parses a v1 blkio recursive statistics file (cgroup-v1/blkio-controller.rst):
///
/// ```text
/// 7:0 Read 0
/// 7:0 Write 32
/// 7:0 Sync 32
/// 7:0 Async 0
/// 7:0 Discard 0
/// 7:0 Total 32
/// Total 32
/// ```
///
/// `Sync`/`Async` (another split of the same I/O) and the trailing `Total N` are skipped. `None`
/// when any other line is not `MAJ:MIN Op number`.
pub fn parse_blkio(text: &str) -> Option<BTreeMap<DevNo, OpValues>> {
    let mut out: BTreeMap<DevNo, OpValues> = BTreeMap::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        match t.as_slice() {
            [] => {}
            ["Total", v] => {
                v.parse::<u64>().ok()?;
            }
            [dev, op, v] => {
                let dev = parse_devno(dev)?;
                let v: u64 = v.parse().ok()?;
                let e = out.entry(dev).or_default();
                match *op {
                    "Read" => e.read = e.read.saturating_add(v),
                    "Write" => e.write = e.write.saturating_add(v),
                    "Discard" => e.discard = e.discard.saturating_add(v),
                    "Total" => e.total = e.total.saturating_add(v),
                    _ => {}
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

/// The v1 blkio files of one cgroup, as text (`None` for a file that does not exist).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V1Files {
    /// I/O counts per op (`blkio.throttle.io_serviced_recursive`, else the CFQ file).
    pub serviced: String,
    /// Bytes per op (`blkio.throttle.io_service_bytes_recursive`, else the CFQ file).
    pub service_bytes: String,
    /// `blkio.io_merged_recursive` (CFQ).
    pub merged: Option<String>,
    /// `blkio.io_service_time_recursive` in ns (CFQ).
    pub service_time: Option<String>,
    /// `blkio.io_wait_time_recursive` in ns (CFQ).
    pub wait_time: Option<String>,
}

const NS_PER_MS: u64 = 1_000_000;

/// Combines the v1 blkio files into per-device counters (see the module table).
///
/// # Errors
/// `Err(file name)` for the first file that does not parse.
pub fn from_v1(f: &V1Files) -> std::result::Result<Stats, &'static str> {
    let opt = |t: &Option<String>, name| match t {
        Some(t) => parse_blkio(t).ok_or(name),
        None => Ok(BTreeMap::new()),
    };
    let serviced = parse_blkio(&f.serviced).ok_or("io_serviced_recursive")?;
    let bytes = parse_blkio(&f.service_bytes).ok_or("io_service_bytes_recursive")?;
    let merged = opt(&f.merged, "blkio.io_merged_recursive")?;
    let svc = opt(&f.service_time, "blkio.io_service_time_recursive")?;
    let wait = opt(&f.wait_time, "blkio.io_wait_time_recursive")?;
    let mut out = Stats::new();
    let devs = serviced
        .keys()
        .chain(bytes.keys())
        .chain(merged.keys())
        .chain(svc.keys())
        .copied();
    for dev in devs {
        let get = |m: &BTreeMap<DevNo, OpValues>| m.get(&dev).copied().unwrap_or_default();
        let (n, b, m, s, w) = (
            get(&serviced),
            get(&bytes),
            get(&merged),
            get(&svc),
            get(&wait),
        );
        let ms = |a: u64, b: u64| a.saturating_add(b) / NS_PER_MS;
        out.insert(
            dev,
            DevStat {
                reads: n.read,
                reads_merged: m.read,
                sectors_read: b.read / SECTOR,
                read_ms: ms(s.read, w.read),
                writes: n.write,
                writes_merged: m.write,
                sectors_written: b.write / SECTOR,
                write_ms: ms(s.write, w.write),
                io_ms: s.total / NS_PER_MS,
                discards: n.discard,
                discards_merged: m.discard,
                sectors_discarded: b.discard / SECTOR,
                discard_ms: ms(s.discard, w.discard),
            },
        );
    }
    Ok(out)
}

/// Renders the container's diskstats. `host` is the host's `/proc/diskstats` (device order,
/// names and the number of counters per line; 17 when it is empty); `name` names devices the
/// host does not list (`None`: the device is left out).
pub fn render(host: &str, stats: &Stats, name: impl Fn(DevNo) -> Option<String>) -> String {
    let host_lines = diskstats::parse(host);
    let n = diskstats::field_count(host);
    let mut out = String::new();
    let mut emit = |major, minor, name: String, s: &DevStat| {
        out.push_str(&diskstats::render_line(&Line {
            major,
            minor,
            name,
            fields: s.fields(n),
        }));
    };
    let mut done = std::collections::BTreeSet::new();
    for l in &host_lines {
        let dev = (l.major, l.minor);
        if let Some(s) = stats.get(&dev).filter(|s| !s.is_zero()) {
            if done.insert(dev) {
                emit(l.major, l.minor, l.name.clone(), s);
            }
        }
    }
    for (dev, s) in stats {
        if s.is_zero() || done.contains(dev) {
            continue;
        }
        if let Some(nm) = name(*dev) {
            emit(dev.0, dev.1, nm, s);
        }
    }
    out
}

/// The kernel's name of block device `dev`: `DEVNAME` of `/sys/dev/block/MAJ:MIN/uevent`,
/// else the last component of that link's target; `/` becomes `!` as in the kernel's
/// diskstats (`cciss!c0d0`).
pub fn device_name(fs: &HostFs, dev: DevNo) -> Option<String> {
    let base = format!("/sys/dev/block/{}:{}", dev.0, dev.1);
    let name = fs
        .read(&format!("{base}/uevent"))
        .ok()
        .and_then(|t| diskstats::uevent_devname(&t).map(str::to_string))
        .or_else(|| {
            let target = fs.read_link(&base).ok()?;
            target.rsplit('/').next().map(str::to_string)
        })?;
    let name = name.replace('/', "!");
    (!name.is_empty() && !name.chars().any(char::is_whitespace)).then_some(name)
}

fn read_opt(lx: &Lxcfs, dir: &CgroupDir<'_>, file: &str) -> Result<Option<String>> {
    match dir.read(&lx.fs, file) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(dir.file(file).unwrap_or_default(), e)),
    }
}

fn read_v1(lx: &Lxcfs, dir: &CgroupDir<'_>) -> Result<Stats> {
    let pair = |a: &str, b: &str| -> Result<Option<(String, String)>> {
        Ok(match (read_opt(lx, dir, a)?, read_opt(lx, dir, b)?) {
            (Some(x), Some(y)) => Some((x, y)),
            _ => None,
        })
    };
    let (serviced, service_bytes) = match pair(
        "blkio.throttle.io_serviced_recursive",
        "blkio.throttle.io_service_bytes_recursive",
    )? {
        Some(p) => p,
        None => pair(
            "blkio.io_serviced_recursive",
            "blkio.io_service_bytes_recursive",
        )?
        .ok_or_else(|| {
            Error::io(
                dir.file("blkio.throttle.io_serviced_recursive")
                    .unwrap_or_default(),
                std::io::ErrorKind::NotFound.into(),
            )
        })?,
    };
    let files = V1Files {
        serviced,
        service_bytes,
        merged: read_opt(lx, dir, "blkio.io_merged_recursive")?,
        service_time: read_opt(lx, dir, "blkio.io_service_time_recursive")?,
        wait_time: read_opt(lx, dir, "blkio.io_wait_time_recursive")?,
    };
    let stats = from_v1(&files).map_err(|what| Error::Malformed {
        path: dir.hierarchy.dir_of(&dir.path).unwrap_or_default(),
        what,
    })?;
    if stats.is_empty() {
        // Not a single device line: the kernel keeps no counters for this cgroup (modern
        // kernels without any throttle rule), which says nothing about its I/O.
        return Err(Error::io(
            dir.file("blkio.throttle.io_serviced_recursive")
                .unwrap_or_default(),
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no per-device counters (blkio throttling inactive)",
            ),
        ));
    }
    Ok(stats)
}

fn read_v2(lx: &Lxcfs, dir: &CgroupDir<'_>) -> Result<Stats> {
    let path = dir.file("io.stat").unwrap_or_default();
    let text = dir
        .read(&lx.fs, "io.stat")
        .map_err(|e| Error::io(path.clone(), e))?;
    parse_io_stat(&text).ok_or(Error::Malformed {
        path,
        what: "not an io.stat file",
    })
}

/// The container's per-device counters from its blkio (v1) or io (v2) cgroup.
///
/// # Errors
/// [`Error::NoController`], [`Error::Io`] for missing files, [`Error::Malformed`].
pub fn gather(lx: &Lxcfs, c: &Container) -> Result<Stats> {
    let dir = super::cgroup(lx, c, Controller::Blkio)?;
    if dir.is_root() {
        // The root cgroup's counters are the host's own (v2 has no io.stat there at all).
        return Err(Error::NoController("blkio/io below the root"));
    }
    if dir.is_v2() {
        read_v2(lx, &dir)
    } else {
        read_v1(lx, &dir)
    }
}

/// Renders `/proc/diskstats` for container `c`; see the module documentation.
///
/// # Errors
/// See [`gather`]; the caller serves the host file.
pub fn read(lx: &Lxcfs, c: &Container) -> Result<String> {
    let stats = gather(lx, c)?;
    // Without the host's file the device order is numeric and lines carry 17 counters.
    let host = lx.fs.read("/proc/diskstats").unwrap_or_default();
    Ok(render(&host, &stats, |d| device_name(&lx.fs, d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST17: &str = "\
 254       0 vda 169355 18308 16672802 173156 15510 77425 8305712 22605 0 21160 199352 37181 46 3894912 3518 1134 71
 254       1 vda1 1 0 8 0 0 0 0 0 0 0 0 0 0 0 0 0 0
   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
";

    #[test]
    fn io_stat_to_sectors() {
        let s = parse_io_stat(
            "1:0 rbytes=0 wbytes=8388608 rios=0 wios=8 dbytes=1024 dios=1\n1:1 \n\
             8:0 rbytes=512 wbytes=0 rios=1 wios=0 dbytes=0 dios=0 cost.vrate=100.00\n",
        )
        .unwrap();
        assert_eq!(s[&(1, 0)].sectors_written, 16384);
        assert_eq!(s[&(1, 0)].writes, 8);
        assert_eq!(s[&(1, 0)].sectors_discarded, 2);
        assert_eq!(s[&(1, 0)].discards, 1);
        assert!(s[&(1, 1)].is_zero());
        assert_eq!(s[&(8, 0)].sectors_read, 1);
        assert_eq!(parse_io_stat("").unwrap().len(), 0);
        assert_eq!(parse_io_stat("garbage here\n"), None);
        assert_eq!(parse_io_stat("8:0 rbytes=lots\n"), None);
    }

    #[test]
    fn blkio_files() {
        let t = "7:0 Read 1\n7:0 Write 32\n7:0 Sync 32\n7:0 Async 0\n7:0 Discard 2\n7:0 Total 35\nTotal 35\n";
        let m = parse_blkio(t).unwrap();
        assert_eq!(
            m[&(7, 0)],
            OpValues {
                read: 1,
                write: 32,
                discard: 2,
                total: 35
            }
        );
        assert_eq!(parse_blkio("Total 0\n").unwrap().len(), 0);
        assert_eq!(parse_blkio("").unwrap().len(), 0);
        assert_eq!(parse_blkio("7:0 Read x\n"), None);
        assert_eq!(parse_blkio("lots of garbage\n"), None);
        assert_eq!(parse_blkio("x:y Read 1\n"), None);
    }

    #[test]
    fn v1_counts_bytes_merges_and_times() {
        let f = V1Files {
            serviced: "8:0 Read 10\n8:0 Write 20\n8:0 Discard 1\n8:0 Total 31\nTotal 31\n".into(),
            service_bytes: "8:0 Read 5120\n8:0 Write 1048576\n8:0 Discard 4096\nTotal 0\n".into(),
            merged: Some("8:0 Read 2\n8:0 Write 3\n".into()),
            service_time: Some("8:0 Read 4000000\n8:0 Write 6000000\n8:0 Total 10000000\n".into()),
            wait_time: Some("8:0 Read 1000000\n8:0 Write 2500000\n".into()),
        };
        let s = from_v1(&f).unwrap()[&(8, 0)];
        assert_eq!((s.reads, s.writes, s.discards), (10, 20, 1));
        assert_eq!(
            (s.sectors_read, s.sectors_written, s.sectors_discarded),
            (10, 2048, 8)
        );
        assert_eq!((s.reads_merged, s.writes_merged), (2, 3));
        assert_eq!((s.read_ms, s.write_ms, s.io_ms), (5, 8, 10));
        assert_eq!(s.fields(17)[field::WEIGHTED_MS], 13);
        let bad = V1Files {
            merged: Some("nonsense\n".into()),
            ..f
        };
        assert!(from_v1(&bad).is_err());
    }

    #[test]
    fn host_order_then_numeric_order_and_zero_lines_dropped() {
        let mut st = Stats::new();
        let w = |n| DevStat {
            writes: n,
            sectors_written: n * 8,
            ..DevStat::default()
        };
        st.insert((8, 16), w(3));
        st.insert((1, 0), w(2));
        st.insert((254, 0), w(1));
        st.insert((7, 0), DevStat::default());
        st.insert((9, 9), w(4));
        let name = |d: DevNo| match d {
            (1, 0) => Some("ram0".to_string()),
            (8, 16) => Some("sdb".to_string()),
            _ => None,
        };
        let out = render(HOST17, &st, name);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                " 254       0 vda 0 0 0 0 1 0 8 0 0 0 0 0 0 0 0 0 0",
                "   1       0 ram0 0 0 0 0 2 0 16 0 0 0 0 0 0 0 0 0 0",
                "   8      16 sdb 0 0 0 0 3 0 24 0 0 0 0 0 0 0 0 0 0",
            ]
        );
    }

    #[test]
    fn column_count_follows_the_host() {
        let mut st = Stats::new();
        st.insert(
            (8, 0),
            DevStat {
                reads: 1,
                discards: 5,
                ..DevStat::default()
            },
        );
        let name = |_| Some("sda".to_string());
        for (host, n) in [
            ("   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n", 11),
            ("   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n", 15),
            (
                "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
                17,
            ),
            (
                "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n",
                19,
            ),
            ("", 17),
        ] {
            let out = render(host, &st, name);
            let l = diskstats::parse_line(out.trim_end()).unwrap();
            assert_eq!(l.fields.len(), n, "{out}");
            assert_eq!(l.fields[0], 1);
            if n >= 15 {
                assert_eq!(l.fields[field::DISCARDS], 5);
            }
        }
    }

    #[test]
    fn nothing_used_renders_nothing() {
        assert_eq!(render(HOST17, &Stats::new(), |_| None), "");
    }
}
