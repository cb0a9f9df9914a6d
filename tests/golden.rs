//! Golden-output tests over the fixture hosts in `tests/fixtures/{v1,hybrid,v2}` (written by
//! `tests/fixtures/generate.py`). No root, no FUSE: the library reads the fixture tree through
//! its rooted view exactly as the daemon reads `/`.
//!
//! Every scenario is checked twice: against its golden file (whole-file format, line order,
//! column layout; rewrite with `LXCFS_BLESS=1`) and by explicit assertions on the values that
//! matter, so a blessed golden file cannot hide a wrong number.

use lxcfs::Options;
use lxcfs_testkit::{assert_golden, meminfo_value, Fixture};

const LAYOUTS: [&str; 3] = ["v1", "hybrid", "v2"];
const SCENARIOS: [&str; 12] = [
    "limit256",
    "parent128",
    "nolimit",
    "swapzero",
    "overlimit",
    "shmem",
    "garbage",
    "missing",
    "noswapacct",
    "nohier",
    "memswparent",
    "nohiermemsw",
];
const HOST_MEMTOTAL: u64 = 1004360;
const HOST_SWAP: u64 = 65532;

/// Pids of scenario `i`: (init, child of init, setns'd process).
fn pids(i: usize) -> (u32, u32, u32) {
    let b = 1000 + 10 * i as u32;
    (b, b + 1, b + 2)
}

fn idx(name: &str) -> usize {
    SCENARIOS.iter().position(|s| *s == name).unwrap()
}

fn meminfo(f: &Fixture, scenario: &str) -> String {
    f.read(pids(idx(scenario)).0, "/proc/meminfo")
}

fn val(text: &str, key: &str) -> u64 {
    meminfo_value(text, key).unwrap_or_else(|| panic!("no {key} in:\n{text}"))
}

#[test]
fn golden_meminfo_and_swaps() {
    for layout in LAYOUTS {
        let f = Fixture::load(layout, Options::default());
        for (i, s) in SCENARIOS.iter().enumerate() {
            let (init, _, _) = pids(i);
            assert_golden(
                &format!("expected/{layout}/{s}/meminfo"),
                &f.read(init, "/proc/meminfo"),
            );
            assert_golden(
                &format!("expected/{layout}/{s}/swaps"),
                &f.read(init, "/proc/swaps"),
            );
        }
    }
}

#[test]
fn memtotal_is_the_minimum_limit_on_every_layout() {
    for layout in LAYOUTS {
        let f = Fixture::load(layout, Options::default());
        assert_eq!(
            val(&meminfo(&f, "limit256"), "MemTotal"),
            262144,
            "{layout}"
        );
        assert_eq!(
            val(&meminfo(&f, "parent128"), "MemTotal"),
            131072,
            "{layout}: parent limit"
        );
        assert_eq!(
            val(&meminfo(&f, "nolimit"), "MemTotal"),
            HOST_MEMTOTAL,
            "{layout}: no limit"
        );
        let m = meminfo(&f, "limit256");
        assert_eq!(val(&m, "MemFree"), 262144 - 65536, "{layout}");
        assert_eq!(
            val(&m, "Mapped"),
            3072,
            "{layout}: file_mapped/total_mapped_file"
        );
        assert_eq!(
            val(&m, "AnonHugePages"),
            2048,
            "{layout}: anon_thp/total_rss_huge"
        );
        assert_eq!(val(&m, "Dirty"), 1024, "{layout}: file_dirty/total_dirty");
        assert_eq!(
            val(&m, "CommitLimit"),
            557280,
            "{layout}: host-wide lines pass through"
        );
    }
}

#[test]
fn usage_above_limit_saturates() {
    for layout in LAYOUTS {
        let f = Fixture::load(layout, Options::default());
        let m = meminfo(&f, "overlimit");
        assert_eq!(val(&m, "MemTotal"), 65536, "{layout}");
        assert_eq!(val(&m, "MemFree"), 0, "{layout}");
        assert_eq!(val(&m, "MemAvailable"), 0, "{layout}");
        assert!(val(&m, "SwapFree") <= val(&m, "SwapTotal"), "{layout}");
    }
}

#[test]
fn shmem_is_not_available_memory() {
    for layout in LAYOUTS {
        let f = Fixture::load(layout, Options::default());
        let m = meminfo(&f, "shmem");
        assert_eq!(val(&m, "Shmem"), 32768, "{layout}");
        // free (256 - 40 MiB) plus only the file LRUs (4 MiB): tmpfs pages are not reclaimable.
        assert_eq!(val(&m, "MemAvailable"), (256 - 40 + 4) * 1024, "{layout}");
        assert!(
            val(&m, "MemAvailable") <= val(&m, "MemTotal") - 32768,
            "{layout}"
        );
    }
}

#[test]
fn swap_on_v2_is_the_swap_limit() {
    let f = Fixture::load("v2", Options::default());
    assert_eq!(val(&meminfo(&f, "limit256"), "SwapTotal"), 32768);
    assert_eq!(val(&meminfo(&f, "limit256"), "SwapFree"), 32768 - 1024);
    assert_eq!(
        val(&meminfo(&f, "nolimit"), "SwapTotal"),
        HOST_SWAP,
        "max: host swap"
    );
    assert_eq!(
        val(&meminfo(&f, "swapzero"), "SwapTotal"),
        0,
        "memory.swap.max = 0"
    );
    assert_eq!(
        val(&meminfo(&f, "noswapacct"), "SwapTotal"),
        0,
        "no swap accounting"
    );
    assert_eq!(
        val(&meminfo(&f, "overlimit"), "SwapFree"),
        0,
        "swap used above limit"
    );
    let swaps = f.read(pids(idx("limit256")).0, "/proc/swaps");
    let dev: Vec<&str> = swaps.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(dev, ["none", "virtual", "32768", "1024", "0"]);
    let swaps = f.read(pids(idx("swapzero")).0, "/proc/swaps");
    assert_eq!(
        swaps.lines().count(),
        1,
        "no device when the swap limit is 0"
    );
}

#[test]
fn swap_on_v1_is_the_ram_plus_swap_limit_capped_by_host_swap() {
    for layout in ["v1", "hybrid"] {
        let f = Fixture::load(layout, Options::default());
        // memsw limit 288 MiB > host swap: capped at the host's SwapTotal.
        let m = meminfo(&f, "limit256");
        assert_eq!(val(&m, "SwapTotal"), HOST_SWAP, "{layout}");
        assert_eq!(val(&m, "SwapFree"), HOST_SWAP - 1024, "{layout}");
        // swappiness 0 and no swap in use: no swap.
        assert_eq!(val(&meminfo(&f, "swapzero"), "SwapTotal"), 0, "{layout}");
        assert_eq!(val(&meminfo(&f, "noswapacct"), "SwapTotal"), 0, "{layout}");
        let m = meminfo(&f, "overlimit");
        assert_eq!(val(&m, "SwapTotal"), HOST_SWAP, "{layout}");
        assert_eq!(val(&m, "SwapFree"), HOST_SWAP - 40960, "{layout}");
    }
}

#[test]
fn a_parents_lower_swap_limit_holds() {
    // Memory 32 MiB in the cgroup and its parent; swap 24 MiB allowed by the cgroup itself,
    // 8 MiB by its parent. v1 reports the RAM+swap limit as swap: memory.stat's
    // hierarchical_memsw_limit, 40 MiB (the cgroup's own memsw limit would give 56 MiB);
    // v2 the parent's memory.swap.max.
    for (layout, swap) in [("v1", 40960), ("hybrid", 40960), ("v2", 8192)] {
        let f = Fixture::load(layout, Options::default());
        let m = meminfo(&f, "memswparent");
        assert_eq!(val(&m, "MemTotal"), 32768, "{layout}");
        assert_eq!(val(&m, "SwapTotal"), swap, "{layout}");
    }
}

#[test]
fn disable_swap_flag() {
    for layout in LAYOUTS {
        let f = Fixture::load(
            layout,
            Options {
                swap_off: true,
                ..Options::default()
            },
        );
        let (init, _, _) = pids(idx("limit256"));
        let m = f.read(init, "/proc/meminfo");
        assert_eq!(val(&m, "SwapTotal"), 0, "{layout}");
        assert_eq!(val(&m, "SwapFree"), 0, "{layout}");
        assert_eq!(f.read(init, "/proc/swaps").lines().count(), 1, "{layout}");
    }
}

#[test]
fn broken_cgroup_files_serve_the_host_file() {
    for layout in LAYOUTS {
        let f = Fixture::load(layout, Options::default());
        let host = f.host("/proc/meminfo");
        assert_eq!(meminfo(&f, "garbage"), host, "{layout}: garbage file");
        assert_eq!(meminfo(&f, "missing"), host, "{layout}: missing usage file");
        // A v1 memory.stat without its hierarchical limits, or only without the memsw one
        // while swap is accounted, is malformed; v2 has none.
        for s in ["nohier", "nohiermemsw"] {
            let m = meminfo(&f, s);
            if layout == "v2" {
                assert_eq!(val(&m, "MemTotal"), 262144, "{layout} {s}");
            } else {
                assert_eq!(m, host, "{layout}: {s}");
            }
        }
        let host_swaps = f.host("/proc/swaps");
        assert_eq!(
            f.read(pids(idx("garbage")).0, "/proc/swaps"),
            host_swaps,
            "{layout}"
        );
    }
}

#[test]
fn vanished_reader_gets_the_host_file() {
    for layout in LAYOUTS {
        let f = Fixture::load(layout, Options::default());
        assert_eq!(
            f.read(999_999, "/proc/meminfo"),
            f.host("/proc/meminfo"),
            "{layout}"
        );
    }
}

#[test]
fn every_process_of_a_container_sees_its_init_cgroup() {
    for layout in LAYOUTS {
        let f = Fixture::load(layout, Options::default());
        let i = idx("limit256");
        let (init, child, joined) = pids(i);
        let expected = f.read(init, "/proc/meminfo");
        assert_eq!(
            val(&f.read(child, "/proc/meminfo"), "MemTotal"),
            262144,
            "{layout}: child"
        );
        assert_eq!(
            val(&f.read(joined, "/proc/meminfo"), "MemTotal"),
            val(&expected, "MemTotal"),
            "{layout}: a process that joined with setns"
        );
        // A host-namespace reader uses its own cgroup.
        assert_eq!(
            val(&f.read(200, "/proc/meminfo"), "MemTotal"),
            524288,
            "{layout}: host reader"
        );
    }
}

#[test]
fn virtualization_off_serves_host_files() {
    let f = Fixture::load("v2", Options::default());
    f.lx.set_virtualization(false);
    assert_eq!(meminfo(&f, "limit256"), f.host("/proc/meminfo"));
    f.lx.set_virtualization(true);
    assert_eq!(val(&meminfo(&f, "limit256"), "MemTotal"), 262144);
}

#[test]
fn meminfo_keeps_host_order_and_columns() {
    let f = Fixture::load("v2", Options::default());
    let host = f.host("/proc/meminfo");
    let ours = meminfo(&f, "limit256");
    let keys = |t: &str| {
        t.lines()
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&ours), keys(&host));
    for (a, b) in ours.lines().zip(host.lines()) {
        assert_eq!(a.len(), b.len(), "column layout kept:\n{a}\n{b}");
    }
}

#[test]
fn root_only_host_files_stay_root_only() {
    use std::os::unix::fs::PermissionsExt;
    let t = lxcfs_testkit::TempDir::new("perm");
    let cpu = t.path().join("sys/devices/system/cpu");
    std::fs::create_dir_all(&cpu).unwrap();
    std::fs::create_dir_all(t.path().join("proc/self")).unwrap();
    std::fs::write(t.path().join("proc/self/mountinfo"), "").unwrap();
    std::fs::write(cpu.join("secret"), "s\n").unwrap();
    std::fs::set_permissions(cpu.join("secret"), std::fs::Permissions::from_mode(0o400)).unwrap();
    std::fs::write(cpu.join("public"), "p\n").unwrap();
    std::fs::set_permissions(cpu.join("public"), std::fs::Permissions::from_mode(0o444)).unwrap();
    let lx = lxcfs::Lxcfs::new(t.path(), Options::default());
    let secret = "/sys/devices/system/cpu/secret";
    assert!(matches!(
        lx.open(1000, secret, libc::O_RDONLY),
        Err(lxcfs::error::Error::Access)
    ));
    assert!(lx.open(0, secret, libc::O_RDONLY).is_ok());
    assert!(lx
        .open(1000, "/sys/devices/system/cpu/public", libc::O_RDONLY)
        .is_ok());
    // A mirrored file's answer depends on the caller and the host file's mode: the host must
    // ask every time. A generated file's does not: the host may keep it.
    let independent = lxcfs_abi::open_flags::CALLER_INDEPENDENT;
    let public = lx.open(1000, "/sys/devices/system/cpu/public", libc::O_RDONLY);
    assert_eq!(public.unwrap().flags & independent, 0);
    let meminfo = lx.open(1000, "/proc/meminfo", libc::O_RDONLY).unwrap();
    assert_eq!(meminfo.flags & independent, independent);
}

#[test]
fn renders_are_kept_per_container_on_fixture_trees() {
    // Fixture trees have no pidfds: a kept render is served after the init's start time and
    // namespace were checked. The render that resolved the init itself is not kept.
    let opts = Options {
        cache_ttl: std::time::Duration::from_secs(600),
        ..Options::default()
    };
    for layout in LAYOUTS {
        let f = Fixture::load(layout, opts);
        let (a, a_child, _) = pids(idx("limit256"));
        let (b, _, _) = pids(idx("parent128"));
        let first = f.lx.serve(a_child, "/proc/meminfo").unwrap();
        // After the init was resolved and before the kept render began.
        let between = std::time::Instant::now();
        let second = f.lx.serve(a_child, "/proc/meminfo").unwrap();
        let third = f.lx.serve(a, "/proc/meminfo").unwrap();
        assert!(!std::sync::Arc::ptr_eq(&first, &second), "{layout}");
        assert!(
            std::sync::Arc::ptr_eq(&second, &third),
            "{layout}: same container"
        );
        assert_eq!(first, second, "{layout}");
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        assert_eq!(val(&text(&third), "MemTotal"), 262144, "{layout}");
        let other = f.lx.serve(b, "/proc/meminfo").unwrap();
        assert_eq!(
            val(&text(&other), "MemTotal"),
            131072,
            "{layout}: other container"
        );
        // Of two renders made at once, the one that began first does not replace the other.
        let ns = f.lx.resolver.pidns_of(&f.lx.fs, a).unwrap();
        let ttl = opts.cache_ttl;
        let stale: std::sync::Arc<[u8]> = b"stale"[..].into();
        f.lx.resolver
            .keep_rendered(&f.lx.fs, ns, "/proc/meminfo", between, stale, ttl);
        let kept = f.lx.resolver.rendered(&f.lx.fs, ns, "/proc/meminfo", ttl);
        assert!(
            kept.is_some_and(|k| std::sync::Arc::ptr_eq(&k, &third)),
            "{layout}"
        );
        // A caller in the daemon's own namespace is served for its own cgroup, never from
        // the cache.
        let host_a = f.lx.serve(1, "/proc/meminfo").unwrap();
        let host_b = f.lx.serve(1, "/proc/meminfo").unwrap();
        assert!(
            !std::sync::Arc::ptr_eq(&host_a, &host_b),
            "{layout}: host reader"
        );
    }
}

#[test]
fn views_join_one_containers_processes_and_keep_everyone_else_apart() {
    // The view is what the host keeps an open file's renders under: the processes of one
    // container (its init, a child, a process that joined it with setns) share one; other
    // containers and host readers each have their own.
    for layout in LAYOUTS {
        let f = Fixture::load(layout, Options::default());
        let view = |tid: u32| f.lx.view(tid).unwrap();
        let mut containers = Vec::new();
        for i in 0..SCENARIOS.len() {
            let (init, child, joined) = pids(i);
            let v = view(init);
            assert_eq!(v & lxcfs::HOST_VIEW, 0, "{layout}: a container's view");
            assert_eq!(
                v >> 32,
                u64::from(init),
                "{layout}: the view names the init"
            );
            assert_eq!(view(child), v, "{layout}: the init's child");
            assert_eq!(
                view(joined),
                v,
                "{layout}: a process that joined with setns"
            );
            let (_, served) =
                f.lx.serve_view_with(child, "/proc/meminfo", |b| b.len())
                    .unwrap();
            assert_eq!(served, v, "{layout}: a read reports the reader's view");
            containers.push(v);
        }
        containers.sort_unstable();
        containers.dedup();
        assert_eq!(
            containers.len(),
            SCENARIOS.len(),
            "{layout}: one view per container"
        );
        // Host processes (the setns'd processes' parents, the host reader): one view per set
        // of cgroups, never a container's.
        let hosts: Vec<u32> = (0..SCENARIOS.len())
            .map(|i| pids(i).2 + 1)
            .chain([200])
            .collect();
        let cgroups = |p: u32| f.host(&format!("/proc/{p}/cgroup"));
        for &a in &hosts {
            assert_ne!(view(a) & lxcfs::HOST_VIEW, 0, "{layout}: host reader {a}");
            for &b in &hosts {
                let same = cgroups(a) == cgroups(b);
                assert_eq!(
                    view(a) == view(b),
                    same,
                    "{layout}: host readers {a} and {b}"
                );
            }
        }
        assert!(
            hosts
                .iter()
                .any(|&a| hosts.iter().any(|&b| a != b && view(a) == view(b)))
                && hosts.iter().any(|&a| view(a) != view(200)),
            "{layout}: the fixture has host readers in the same and in other cgroups"
        );
        assert!(
            f.lx.view(999_999).is_err(),
            "{layout}: a thread that is gone"
        );
    }
}
