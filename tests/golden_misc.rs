//! Golden and value tests of `/proc/diskstats`, `/proc/loadavg`, `/proc/slabinfo` and
//! `/proc/pressure/*` over the fixture hosts (`tests/fixtures/gen_io.py` describes the IO
//! scenarios), plus the loadavg sampler over a generated host with 1000 containers.
//!
//! No root, no FUSE. Every golden file is backed by explicit assertions on the values that
//! matter, and every broken scenario (garbage, missing files, vanished cgroups or processes)
//! must serve the host's file rather than fail.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

use lxcfs::error::Error;
use lxcfs::proc::loadavg::{self, calc_load, format_load, EXP_1, EXP_15, EXP_5, FIXED_1};
use lxcfs::proc::pressure;
use lxcfs::Options;
use lxcfs_formats::cgroupfile::{is_valid_psi, nested_keyed};
use lxcfs_formats::diskstats::{self, field};
use lxcfs_testkit::{assert_golden, Fixture, TempDir};

const LAYOUTS: [&str; 3] = ["v1", "hybrid", "v2"];
const SCENARIOS: [&str; 7] = [
    "io-busy",
    "io-cfq",
    "io-idle",
    "io-inactive",
    "io-garbage",
    "io-missing",
    "io-vanished",
];
const BROKEN: [&str; 3] = ["io-garbage", "io-missing", "io-vanished"];
const RESOURCES: [(&str, pressure::Resource); 3] = [
    ("cpu", pressure::Resource::Cpu),
    ("io", pressure::Resource::Io),
    ("memory", pressure::Resource::Memory),
];
/// A host-namespace reader of the fixtures (its own cgroup has no task list).
const HOST_READER: u32 = 200;

/// The init of scenario `name` (gen_io.py: 8000 + 20 i).
fn init(name: &str) -> u32 {
    8000 + 20 * SCENARIOS.iter().position(|s| *s == name).unwrap() as u32
}

fn with_loadavg() -> Options {
    Options {
        loadavg: true,
        ..Options::default()
    }
}

fn lines_of(text: &str) -> Vec<diskstats::Line> {
    text.lines()
        .map(|l| diskstats::parse_line(l).unwrap_or_else(|| panic!("bad line {l:?}")))
        .collect()
}

fn dev<'a>(lines: &'a [diskstats::Line], name: &str) -> &'a diskstats::Line {
    lines
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
}

#[test]
fn golden_files() {
    for layout in LAYOUTS {
        let f = Fixture::load(layout, with_loadavg());
        for s in SCENARIOS {
            let pid = init(s);
            let g = |file: &str, text: &str| {
                assert_golden(&format!("expected/{layout}/{s}/{file}"), text)
            };
            g("diskstats", &f.read(pid, "/proc/diskstats"));
            g("slabinfo", &f.read(pid, "/proc/slabinfo"));
            for (r, _) in RESOURCES {
                g(
                    &format!("pressure-{r}"),
                    &f.read(pid, &format!("/proc/pressure/{r}")),
                );
            }
            // loadavg after three periods (the first read is checked in its own test).
            f.read(pid, "/proc/loadavg");
            for _ in 0..3 {
                loadavg::tick(&f.lx);
            }
            g("loadavg", &f.read(pid, "/proc/loadavg"));
        }
    }
}

#[test]
fn diskstats_lists_used_devices_in_host_order_then_by_number() {
    for layout in LAYOUTS {
        let f = Fixture::load(layout, Options::default());
        let out = f.read(init("io-busy"), "/proc/diskstats");
        let l = lines_of(&out);
        let names: Vec<&str> = l.iter().map(|l| l.name.as_str()).collect();
        // zram0 (all zero), vda1 (no I/O) and 9:9 (no sysfs name) are left out; ram0 and sdb
        // are not in the host's file.
        assert_eq!(names, ["loop0", "vda", "ram0", "sdb"], "{layout}:\n{out}");
        assert!(
            l.iter().all(|l| l.fields.len() == 17),
            "{layout}: host has 17 counters"
        );
        let vda = dev(&l, "vda");
        assert_eq!((vda.major, vda.minor), (254, 0));
        assert_eq!(vda.fields[field::READS], 120, "{layout}");
        assert_eq!(vda.fields[field::SECTORS_READ], 8192, "{layout}: 4 MiB");
        assert_eq!(vda.fields[field::WRITES], 40, "{layout}");
        assert_eq!(vda.fields[field::SECTORS_WRITTEN], 4096, "{layout}: 2 MiB");
        assert_eq!(vda.fields[field::IN_FLIGHT], 0);
        let ram0 = dev(&l, "ram0");
        assert_eq!((ram0.major, ram0.minor), (1, 0));
        assert_eq!(
            ram0.fields[field::SECTORS_WRITTEN],
            32768,
            "{layout}: 16 MiB"
        );
        let sdb = dev(&l, "sdb");
        assert_eq!(sdb.fields[field::DISCARDS], 2, "{layout}");
        assert_eq!(sdb.fields[field::SECTORS_DISCARDED], 2048, "{layout}");
        assert_eq!(dev(&l, "loop0").fields[field::SECTORS_READ], 24);
        assert_ne!(out, f.host("/proc/diskstats"));
    }
}

#[test]
fn diskstats_uses_cfq_merges_and_times_on_v1() {
    for layout in ["v1", "hybrid"] {
        let f = Fixture::load(layout, Options::default());
        let l = lines_of(&f.read(init("io-cfq"), "/proc/diskstats"));
        let vda = dev(&l, "vda");
        assert_eq!(vda.fields[field::READS_MERGED], 2, "{layout}");
        assert_eq!(vda.fields[field::WRITES_MERGED], 5, "{layout}");
        // service + wait time, ns -> ms
        assert_eq!(vda.fields[field::READ_MS], 5, "{layout}");
        assert_eq!(vda.fields[field::WRITE_MS], 18, "{layout}");
        assert_eq!(vda.fields[field::DISCARD_MS], 1, "{layout}");
        assert_eq!(vda.fields[field::IO_MS], 21, "{layout}: service time Total");
        assert_eq!(vda.fields[field::WEIGHTED_MS], 24, "{layout}");
        assert_eq!(vda.fields[field::SECTORS_DISCARDED], 16, "{layout}");
        assert_eq!(dev(&l, "sdb").fields[field::WRITE_MS], 4, "{layout}");
    }
    // v2 io.stat has counts and bytes only.
    let f = Fixture::load("v2", Options::default());
    let l = lines_of(&f.read(init("io-cfq"), "/proc/diskstats"));
    let vda = dev(&l, "vda");
    assert_eq!(vda.fields[field::READS], 10);
    assert_eq!(vda.fields[field::DISCARDS], 1);
    assert_eq!(vda.fields[field::READS_MERGED], 0);
    assert_eq!(vda.fields[field::WRITE_MS], 0);
    assert_eq!(dev(&l, "sdb").fields[field::SECTORS_WRITTEN], 56);
}

#[test]
fn diskstats_of_a_container_without_io_is_empty() {
    for layout in LAYOUTS {
        let f = Fixture::load(layout, Options::default());
        assert_eq!(f.read(init("io-idle"), "/proc/diskstats"), "", "{layout}");
    }
}

#[test]
fn v1_files_without_device_lines_are_no_data() {
    // Modern v1 kernels keep no throttle counters until a rule exists: `Total 0` alone says
    // nothing about the container's I/O, so the host's file is served; an empty io.stat is
    // authoritative.
    for layout in ["v1", "hybrid"] {
        let f = Fixture::load(layout, Options::default());
        assert_eq!(
            f.read(init("io-inactive"), "/proc/diskstats"),
            f.host("/proc/diskstats"),
            "{layout}"
        );
    }
    let f = Fixture::load("v2", Options::default());
    assert_eq!(f.read(init("io-inactive"), "/proc/diskstats"), "");
}

#[test]
fn broken_scenarios_serve_host_files() {
    for layout in LAYOUTS {
        let f = Fixture::load(layout, with_loadavg());
        for s in BROKEN {
            let pid = init(s);
            for file in ["diskstats", "slabinfo", "loadavg"] {
                let p = format!("/proc/{file}");
                assert_eq!(f.read(pid, &p), f.host(&p), "{layout} {s} {file}");
            }
            for (r, _) in RESOURCES {
                let p = format!("/proc/pressure/{r}");
                assert_eq!(f.read(pid, &p), f.host(&p), "{layout} {s} {r}");
            }
        }
        // A reader that vanished.
        for file in ["diskstats", "loadavg", "slabinfo", "pressure/cpu"] {
            let p = format!("/proc/{file}");
            assert_eq!(
                f.read(999_999, &p),
                f.host(&p),
                "{layout} vanished reader {file}"
            );
        }
        assert!(f.lx.loadavg.is_empty(), "{layout}: nothing tracked");
    }
}

#[test]
fn pressure_comes_from_the_unified_hierarchy() {
    for layout in ["hybrid", "v2"] {
        let f = Fixture::load(layout, Options::default());
        let unified = if layout == "v2" {
            "/sys/fs/cgroup"
        } else {
            "/sys/fs/cgroup/unified"
        };
        for (s, cg) in [("io-busy", "/lxc/io-busy"), ("io-cfq", "/lxc/io-cfq/inner")] {
            for (r, _) in RESOURCES {
                let ours = f.read(init(s), &format!("/proc/pressure/{r}"));
                assert_eq!(
                    ours,
                    f.host(&format!("{unified}{cg}/{r}.pressure")),
                    "{layout} {s} {r}"
                );
                assert!(is_valid_psi(&ours));
                assert_ne!(ours, f.host(&format!("/proc/pressure/{r}")));
            }
        }
        let io = f.read(init("io-busy"), "/proc/pressure/io");
        let some = nested_keyed(&io)
            .into_iter()
            .find(|l| l.name == "some")
            .and_then(|l| l.get_u64("total"));
        assert_eq!(some, Some(991822 / 2), "{layout}: io is virtualized too");
    }
    // v1: no unified hierarchy, the host's files.
    let f = Fixture::load("v1", Options::default());
    for (r, _) in RESOURCES {
        let p = format!("/proc/pressure/{r}");
        assert_eq!(f.read(init("io-busy"), &p), f.host(&p), "v1 {r}");
    }
}

#[test]
fn slabinfo_is_per_cgroup_only_where_the_kernel_lists_it() {
    for layout in ["v1", "hybrid"] {
        let f = Fixture::load(layout, Options::default());
        let ours = f.read(init("io-busy"), "/proc/slabinfo");
        assert!(ours.starts_with("slabinfo - version: 2.1\n"), "{ours}");
        assert_eq!(
            ours.lines().count(),
            4,
            "{layout}: two caches of the cgroup"
        );
        assert!(ours.contains("\ndentry               252 "), "{ours}");
        // empty memory.kmem.slabinfo (modern kernels): the host's file
        assert_eq!(
            f.read(init("io-cfq"), "/proc/slabinfo"),
            f.host("/proc/slabinfo")
        );
        assert_eq!(
            f.read(init("io-idle"), "/proc/slabinfo"),
            f.host("/proc/slabinfo")
        );
    }
    let f = Fixture::load("v2", Options::default());
    for s in SCENARIOS {
        assert_eq!(
            f.read(init(s), "/proc/slabinfo"),
            f.host("/proc/slabinfo"),
            "v2 {s}"
        );
    }
}

#[test]
fn loadavg_needs_the_flag() {
    for layout in LAYOUTS {
        let f = Fixture::load(layout, Options::default());
        assert_eq!(
            f.read(init("io-busy"), "/proc/loadavg"),
            f.host("/proc/loadavg")
        );
        loadavg::tick(&f.lx);
        assert!(f.lx.loadavg.is_empty());
    }
}

#[test]
fn loadavg_first_read_then_kernel_averages() {
    for layout in LAYOUTS {
        let f = Fixture::load(layout, with_loadavg());
        let busy = init("io-busy");
        // R: 3 (one of them a host process in the cgroup), D: 1, S: 3; the exited task is not
        // counted. The newest task is the host process (invisible in the container); the next
        // one is pid 6 of the container, but pid 1 of a nested namespace, whose ancestry a
        // fixture tree cannot show (no namespaces to walk), so it is not counted; the next is
        // pid 5 of the container, in the container's own namespace.
        assert_eq!(
            f.read(busy, "/proc/loadavg"),
            "0.00 0.00 0.00 3/7 5\n",
            "{layout}"
        );
        assert_eq!(f.lx.loadavg.len(), 1);
        // Every process of the container shares its init's figures (no new tracking).
        assert_eq!(f.read(busy + 1, "/proc/loadavg"), "0.00 0.00 0.00 3/7 5\n");
        assert_eq!(f.lx.loadavg.len(), 1);
        let mut avg = [0u64; 3];
        for n in 1..=4 {
            loadavg::tick(&f.lx);
            for (a, e) in avg.iter_mut().zip([EXP_1, EXP_5, EXP_15]) {
                *a = calc_load(*a, e, 4 * FIXED_1);
            }
            let want = format!(
                "{} {} {} 3/7 5\n",
                format_load(avg[0]),
                format_load(avg[1]),
                format_load(avg[2])
            );
            assert_eq!(f.read(busy, "/proc/loadavg"), want, "{layout} tick {n}");
        }
        assert_eq!(f.read(busy, "/proc/loadavg"), "1.14 0.26 0.09 3/7 5\n");
        // The fallback path (cgroup.procs + /proc/<pid>/task) and an idle container.
        assert_eq!(
            f.read(init("io-cfq"), "/proc/loadavg"),
            "0.00 0.00 0.00 2/3 3\n",
            "{layout}"
        );
        assert_eq!(
            f.read(init("io-idle"), "/proc/loadavg"),
            "0.00 0.00 0.00 0/1 1\n",
            "{layout}"
        );
        loadavg::tick(&f.lx);
        assert!(f
            .read(init("io-idle"), "/proc/loadavg")
            .starts_with("0.00 0.00 0.00 0/1 1"));
        assert!(f
            .read(init("io-cfq"), "/proc/loadavg")
            .starts_with("0.16 0.03 0.01 2/3 3"));
        // A host reader in a cgroup without a task list gets the host's file.
        assert_eq!(
            f.read(HOST_READER, "/proc/loadavg"),
            f.host("/proc/loadavg"),
            "{layout}"
        );
        assert_eq!(f.lx.loadavg.len(), 3);
    }
}

#[test]
fn loadavg_keeps_unread_cgroups_and_survives_a_reload() {
    let f = Fixture::load("v2", with_loadavg());
    let busy = init("io-busy");
    f.read(busy, "/proc/loadavg");
    f.read(init("io-idle"), "/proc/loadavg");
    loadavg::tick(&f.lx);
    loadavg::tick(&f.lx);
    let before = f.read(busy, "/proc/loadavg");
    assert!(before.starts_with("0.62 0.13 0.04 3/7 5"), "{before}");

    // Reload: the records carry the averages and the last-pid candidates (two records per
    // cgroup) into a fresh library.
    let saved = lxcfs::state::export(&f.lx);
    let g = Fixture::load("v2", with_loadavg());
    assert_eq!(lxcfs::state::import(&g.lx, &saved), 4);
    assert_eq!(g.read(busy, "/proc/loadavg"), before);
    // A tick before the first read after the reload keeps the last pid.
    let k = Fixture::load("v2", with_loadavg());
    assert_eq!(lxcfs::state::import(&k.lx, &saved), 4);
    loadavg::tick(&k.lx);
    let after = k.read(busy, "/proc/loadavg");
    assert!(after.starts_with("0.89 0.20 0.06 3/7 5"), "{after}");
    // A record of another version is refused.
    let text = String::from_utf8(saved)
        .unwrap()
        .replace("loadavg 1 ", "loadavg 9 ");
    let h = Fixture::load("v2", with_loadavg());
    assert_eq!(lxcfs::state::import(&h.lx, text.as_bytes()), 0);

    // Cgroups nobody reads stay tracked (an occasional `uptime` sees the 15-minute
    // average): forty ticks, over three minutes of load history, without a read.
    for _ in 0..40 {
        let r = loadavg::tick_pass(&f.lx);
        assert_eq!((r.sampled, r.untracked), (2, 0));
    }
    assert_eq!(
        f.lx.loadavg.tracked(),
        ["/sys/fs/cgroup/lxc/io-busy", "/sys/fs/cgroup/lxc/io-idle"]
    );
    let later = f.read(busy, "/proc/loadavg");
    // Four active tasks (three running, one in D): 4 · (1 − e^(−42·5/60)) and so on.
    assert!(later.starts_with("3.88 2.03 0.82 3/7 5"), "{later}");
}

#[test]
fn psi_triggers_name_the_container_file() {
    let opts = Options {
        psi_poll: true,
        ..Options::default()
    };
    for layout in ["hybrid", "v2"] {
        let f = Fixture::load(layout, opts);
        let (file, text) = pressure::trigger(
            &f.lx,
            init("io-busy"),
            "/proc/pressure/cpu",
            b"some 150000 1000000\0",
        )
        .unwrap();
        let unified = if layout == "v2" { "" } else { "/unified" };
        assert_eq!(
            file,
            format!("/sys/fs/cgroup{unified}/lxc/io-busy/cpu.pressure")
        );
        assert_eq!(text, "some 150000 2000000", "window forced to 2 s");
        let (file, text) = pressure::trigger(
            &f.lx,
            init("io-cfq"),
            "/proc/pressure/io",
            b"full 20000 4000000\n",
        )
        .unwrap();
        assert!(file.ends_with("/lxc/io-cfq/inner/io.pressure"), "{file}");
        assert_eq!(text, "full 20000 4000000");
        for bad in [
            &b"some 0 2000000"[..],
            b"sometimes 1 2",
            b"",
            b"\xff\xfe",
            b"full 3000000 2000000",
        ] {
            assert!(
                matches!(
                    pressure::trigger(&f.lx, init("io-busy"), "/proc/pressure/cpu", bad),
                    Err(Error::Invalid)
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            pressure::trigger(&f.lx, init("io-busy"), "/proc/meminfo", b"some 1 2000000"),
            Err(Error::Invalid)
        ));
        assert!(matches!(
            pressure::trigger(
                &f.lx,
                init("io-missing"),
                "/proc/pressure/cpu",
                b"some 1 2000000"
            ),
            Err(Error::NotFound)
        ));
        assert!(matches!(
            pressure::trigger(&f.lx, 999_999, "/proc/pressure/cpu", b"some 1 2000000"),
            Err(Error::ProcessGone(_))
        ));
        // Without --enable-psi-poll: EINVAL.
        let g = Fixture::load(layout, Options::default());
        assert!(matches!(
            pressure::trigger(
                &g.lx,
                init("io-busy"),
                "/proc/pressure/cpu",
                b"some 1 2000000"
            ),
            Err(Error::Invalid)
        ));
    }
    let f = Fixture::load("v1", opts);
    assert!(matches!(
        pressure::trigger(
            &f.lx,
            init("io-busy"),
            "/proc/pressure/cpu",
            b"some 1 2000000"
        ),
        Err(Error::NotFound)
    ));
}

const HOST_NS: u64 = 4026531836;

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn link(root: &Path, rel: &str, target: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    symlink(target, p).unwrap();
}

/// A process or thread of the generated host.
/// A task of the generated host; `cg` (its cgroup and pid namespace) only for processes that
/// readers resolve, threads only need `stat` and `status`.
fn task(root: &Path, tid: u32, nspid: &[u32], state: char, start: u64, cg: Option<(&str, u64)>) {
    let nspid: Vec<String> = nspid.iter().map(u32::to_string).collect();
    if let Some((cg, ns)) = cg {
        link(root, &format!("proc/{tid}/ns/pid"), &format!("pid:[{ns}]"));
        put(root, &format!("proc/{tid}/cgroup"), &format!("0::{cg}\n"));
    }
    put(
        root,
        &format!("proc/{tid}/status"),
        &format!(
            "Name:\tw\nState:\t{state}\nTgid:\t{tid}\nPPid:\t1\nNSpid:\t{}\n",
            nspid.join("\t")
        ),
    );
    put(
        root,
        &format!("proc/{tid}/stat"),
        &format!("{tid} (w) {state} 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {start} 0 0\n"),
    );
}

/// A cgroup2 host with `n` containers: each has its init in `c<k>/init.scope` and three
/// threads (one running) in `c<k>/work`. Returns each container's init pid.
fn many_containers(root: &Path, n: u32) -> Vec<u32> {
    put(
        root,
        "proc/self/mountinfo",
        "25 22 0:22 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n",
    );
    link(root, "proc/self/ns/pid", &format!("pid:[{HOST_NS}]"));
    put(root, "proc/loadavg", "0.00 0.00 0.00 1/100 1\n");
    put(
        root,
        "proc/diskstats",
        "   8       0 sda 1 0 8 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
    );
    put(
        root,
        "sys/fs/cgroup/cgroup.controllers",
        "cpu io memory pids\n",
    );
    (0..n)
        .map(|k| {
            let base = 100_000 + 10 * k;
            let ns = 4_026_600_000 + u64::from(k);
            let cg = format!("/bench/c{k}");
            let init_cg = format!("{cg}/init.scope");
            task(root, base, &[base, 1], 'S', 100, Some((&init_cg, ns)));
            for t in 1..=3 {
                let state = if t == 1 { 'R' } else { 'S' };
                task(
                    root,
                    base + t,
                    &[base + t, 1 + t],
                    state,
                    100 + u64::from(t),
                    None,
                );
                // The last pid a reader sees must be in its own namespace.
                link(
                    root,
                    &format!("proc/{}/ns/pid", base + t),
                    &format!("pid:[{ns}]"),
                );
            }
            let d = format!("sys/fs/cgroup{cg}");
            put(root, &format!("{d}/cgroup.threads"), "");
            put(
                root,
                &format!("{d}/init.scope/cgroup.threads"),
                &format!("{base}\n"),
            );
            put(
                root,
                &format!("{d}/work/cgroup.threads"),
                &format!("{}\n{}\n{}\n", base + 1, base + 2, base + 3),
            );
            base
        })
        .collect()
}

#[test]
fn tick_over_1000_containers_is_bounded() {
    let tmp = TempDir::new("loadavg-1000");
    let t0 = Instant::now();
    let inits = many_containers(tmp.path(), 1000);
    let built = t0.elapsed();
    let lx = lxcfs::Lxcfs::new(tmp.path(), with_loadavg());
    let t0 = Instant::now();
    for &p in &inits {
        let text = String::from_utf8(lx.read(p, "/proc/loadavg").unwrap()).unwrap();
        assert_eq!(text, "0.00 0.00 0.00 1/4 4\n", "container of {p}");
    }
    let first_reads = t0.elapsed();
    assert_eq!(lx.loadavg.len(), 1000);
    let mut ticks = Vec::new();
    for _ in 0..3 {
        let t0 = Instant::now();
        let r = loadavg::tick_pass(&lx);
        ticks.push(t0.elapsed());
        assert_eq!(r.sampled, 1000);
        assert_eq!(r.tasks, 4000, "each thread read once");
        assert_eq!(r.dirs, 3000);
    }
    let worst = *ticks.iter().max().unwrap();
    println!(
        "loadavg: 1000 containers built in {built:?}, first reads {first_reads:?}, \
         ticks {ticks:?} (worst {worst:?})"
    );
    assert!(worst < Duration::from_secs(3), "a tick took {worst:?}");
    let text = String::from_utf8(lx.read(inits[7], "/proc/loadavg").unwrap()).unwrap();
    assert_eq!(text, "0.22 0.05 0.02 1/4 4\n");

    // A container whose cgroup vanished is untracked at the next tick; the others stay.
    std::fs::remove_dir_all(tmp.path().join("sys/fs/cgroup/bench/c7")).unwrap();
    let r = loadavg::tick_pass(&lx);
    assert_eq!((r.sampled, r.untracked), (999, 1));
    assert!(!lx
        .loadavg
        .tracked()
        .contains(&"/sys/fs/cgroup/bench/c7".to_string()));
    // Reading it again: its cgroup is gone, so the host's file.
    let text = String::from_utf8(lx.read(inits[7], "/proc/loadavg").unwrap()).unwrap();
    assert_eq!(text, "0.00 0.00 0.00 1/100 1\n");
}

#[test]
fn diskstats_needs_the_io_controller_and_loadavg_needs_no_controller() {
    let tmp = TempDir::new("io-controllers");
    let inits = many_containers(tmp.path(), 2);
    let host = std::fs::read_to_string(tmp.path().join("proc/diskstats")).unwrap();
    put(
        tmp.path(),
        "sys/fs/cgroup/bench/c0/io.stat",
        "8:0 rbytes=1024 wbytes=0 rios=2 wios=0 dbytes=0 dios=0\n",
    );
    let lx = lxcfs::Lxcfs::new(tmp.path(), with_loadavg());
    let read = |pid: u32, p: &str| String::from_utf8(lx.read(pid, p).unwrap()).unwrap();
    assert_eq!(
        read(inits[0], "/proc/diskstats"),
        "   8       0 sda 2 0 2 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    );
    // c1 has no io.stat: the host's file.
    assert_eq!(read(inits[1], "/proc/diskstats"), host);
    // The io controller is not available at the root: io.stat files are not used.
    put(tmp.path(), "sys/fs/cgroup/cgroup.controllers", "memory\n");
    let lx = lxcfs::Lxcfs::new(tmp.path(), with_loadavg());
    let read = |pid: u32, p: &str| String::from_utf8(lx.read(pid, p).unwrap()).unwrap();
    assert_eq!(read(inits[0], "/proc/diskstats"), host);
    // Thread lists exist in every cgroup2 cgroup: loadavg works without the cpu controller.
    assert_eq!(read(inits[0], "/proc/loadavg"), "0.00 0.00 0.00 1/4 4\n");
    // No PSI files in this tree and no host PSI: empty content, not an error.
    assert_eq!(read(inits[0], "/proc/pressure/io"), "");
}

#[test]
fn loadavg_untracks_a_cgroup_with_no_thread_left() {
    // As upstream drops a node whose cgroup has no pids: the container stopped, its cgroup
    // stays behind empty.
    let tmp = TempDir::new("loadavg-empty");
    let inits = many_containers(tmp.path(), 2);
    let lx = lxcfs::Lxcfs::new(tmp.path(), with_loadavg());
    for &p in &inits {
        lx.read(p, "/proc/loadavg").unwrap();
    }
    let r = loadavg::tick_pass(&lx);
    assert_eq!((r.sampled, r.untracked), (2, 0));
    for sub in ["", "/init.scope", "/work"] {
        put(
            tmp.path(),
            &format!("sys/fs/cgroup/bench/c1{sub}/cgroup.threads"),
            "",
        );
    }
    let r = loadavg::tick_pass(&lx);
    assert_eq!((r.sampled, r.untracked), (1, 1), "c1 is empty");
    assert_eq!(lx.loadavg.tracked(), ["/sys/fs/cgroup/bench/c0"]);
}
