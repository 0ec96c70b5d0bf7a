//! Containers created and destroyed by the thousand, as a CI node or a
//! batch cluster makes them all day: sdtrace mutes each in the kernel once
//! its filter can never match it, and forgets each (and takes it out of
//! the kernel's map) once its cgroup is removed, so its memory and the
//! kernel's map stay flat however many come and go.
use std::{
    process::{Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    thread,
};

use tests::{e2e, Session};

const CONTAINERS: usize = 1_000;
/// `docker run`s at once: each waits on runc and containerd-shim far more
/// than on a CPU.
const AT_ONCE: usize = 4;
/// Containers before the first RSS sample: caches and allocator warmed.
const WARM: usize = 200;

/// sdtrace's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// `count` containers, each running `sh -c true` and removed, `AT_ONCE` at a time.
fn churn(docker: &std::path::Path, image: &str, count: usize) {
    let next = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..AT_ONCE {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    let status = Command::new(docker)
                        .args([
                            "run",
                            "--rm",
                            "--network",
                            "none",
                            image,
                            "/bin/sh",
                            "-c",
                            "true",
                        ])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .expect("docker run");
                    assert!(status.success(), "docker run {image}");
                }
            });
        }
    });
}

e2e!(
    a_thousand_containers_come_and_go_and_memory_stays_flat,
    |tracer, test| {
        let Some(docker) = tests::require_docker(test) else {
            return;
        };
        let image = "sdtrace-e2e-busybox:1";
        tests::images::busybox_image(&docker, image);
        // Matches none of them: each is muted once Docker has named it.
        let session = Session::start(&tracer, &["-c", "container.name=nomatch_xyz"]);
        churn(&docker, image, WARM);
        let warm = rss_kib(session.pid());
        churn(&docker, image, CONTAINERS - WARM);
        let after = rss_kib(session.pid());
        let done = session.stop();
        assert!(done.status.success(), "{:?}", done.status);
        assert!(done.events.is_empty(), "nothing matches: {:?}", done.events);
        let stats = &done.stats().raw;
        let count = |k: &str| {
            stats[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k} in {stats}"))
        };
        let (muted, removed, now, cached) = (
            count("muted_cgroups"),
            count("muted_cgroups_removed"),
            count("muted_cgroups_now"),
            count("cgroups_cached"),
        );
        eprintln!(
            "{CONTAINERS} containers: RSS {warm} KiB after {WARM}, {after} KiB after all; \
             {muted} cgroups muted, {removed} taken out once removed, {now} in the kernel's map \
             at the end, {cached} cached"
        );
        // Each container's cgroup muted once Docker named it (one that ended
        // before its name came may have made no event worth deciding on).
        assert!(muted >= (CONTAINERS as u64) * 9 / 10, "muted {muted}");
        // What is left is at most one sweep's worth: the rest were removed.
        let sweep = 256 + 64;
        assert!(now <= sweep, "{now} cgroups still muted in the kernel");
        assert!(
            muted - removed <= sweep,
            "{muted} muted, {removed} taken out"
        );
        assert!(cached <= sweep, "{cached} cgroups cached");
        // 800 containers more cost no more than a few MiB (allocator noise);
        // kept, each would cost its tables' entries forever.
        assert!(
            after <= warm + 4 * 1024,
            "RSS grew from {warm} KiB to {after} KiB over {} containers",
            CONTAINERS - WARM
        );
    }
);
