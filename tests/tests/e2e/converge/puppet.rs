//! Debian's Puppet 7 applying a local manifest (`puppet apply`), run after
//! run from a shell loop as cron or a timer would run it: what it changes
//! is a CONVERGE caused by its schedule, what it manages and finds right is
//! a CHECK; what it only reads (facter's /etc/passwd, /etc/fstab, ...) is
//! nothing.
//! Puppet checks a file with lstat (`newfstatat(..., AT_SYMLINK_NOFOLLOW)`),
//! reads it, and writes a new one as `<path><YYYYMMDD>-<pid>-<rand>` (next
//! to a `.lock` directory) renamed over the old; a mode alone it fixes with
//! `chmod(path)`.
use std::{
    fs,
    process::{Command, Stdio},
    time::Instant,
};

use serde_json::Value;
use tests::{
    converge::{
        puppet::{self, PuppetFile},
        Converge, DerivedExt,
    },
    e2e, TempDir,
};

use super::{assert_well_formed, count, file_res, on, require};

const RUNS: u32 = 3;

e2e!(
    puppet_runs_converge_on_schedule_and_check_what_is_right,
    |tracer, test| {
        if !require(test, &["puppet"]) {
            return;
        }
        let dir = TempDir::new("converge-puppet");
        let changes = dir.path().join("changes.conf");
        let checks = dir.path().join("checks.conf");
        // Wrong at first: the first run puts it right (which shows puppet
        // manages it), the later ones find it right. Written right before
        // tracing starts, so nothing outside writes it meanwhile.
        fs::write(&checks, "not yet right\n").unwrap();
        let manifest = puppet::manifest(
            dir.path(),
            &[
                PuppetFile {
                    path: &changes,
                    content: "managed by puppet, run ${facts['sdt_run']}\n",
                },
                PuppetFile {
                    path: &checks,
                    content: "already right\n",
                },
            ],
        );
        let (changes_res, checks_res) = (file_res(&changes), file_res(&checks));
        let run = Converge::start(&tracer, &["--daemon", "puppet"]);
        let started = Instant::now();
        puppet::apply_loop(&manifest, RUNS);
        eprintln!(
            "{RUNS} puppet apply runs took {:.2} s",
            started.elapsed().as_secs_f64()
        );
        let n = usize::try_from(RUNS).unwrap();
        run.wait_n(
            "puppet's CONVERGE of the changing file, once a run",
            n,
            |e| e.kind() == "CONVERGE" && e.resource() == changes_res,
        );
        run.wait_n(
            "puppet's CHECK of the file that is right, once a run after the first",
            n - 1,
            |e| e.kind() == "CHECK" && e.resource() == checks_res,
        );
        let done = run.stop();
        let all = done.describe();
        assert!(done.status.success(), "{all}");
        assert_well_formed(&done);

        let converges = on(&done, "CONVERGE", &changes_res);
        assert_eq!(converges.len(), n, "one CONVERGE a run\n{all}");
        for c in &converges {
            assert_eq!(c.cause_str("kind"), Some("scheduled"), "{c}");
            assert_eq!(
                c.get("daemon").and_then(Value::as_str),
                Some("puppet"),
                "{c}"
            );
            assert_eq!(c.actor_comm(), "puppet", "{c}");
            assert!(
                c.get("ttc_ms").is_some_and(Value::is_null),
                "no drift, no ttc: {c}"
            );
        }
        assert!(
            converges[0].has_op("create") || converges[0].has_op("write"),
            "{}",
            converges[0]
        );
        assert!(
            converges[1..]
                .iter()
                .all(|c| c.has_op("rename") || c.has_op("write")),
            "{all}"
        );
        let checks_seen = on(&done, "CHECK", &checks_res);
        assert_eq!(
            checks_seen.len(),
            n - 1,
            "one CHECK a run after the first\n{all}"
        );
        let first = on(&done, "CONVERGE", &checks_res);
        assert_eq!(first.len(), 1, "the first run puts it right\n{all}");
        assert_eq!(
            first[0].cause_str("kind"),
            Some("scheduled"),
            "{}",
            first[0]
        );
        assert!(
            done.of("DRIFT").is_empty(),
            "nothing outside changed anything\n{all}"
        );
        assert!(done.of("FLAP").is_empty(), "{all}");
        let sum = done.summary(&changes_res);
        assert_eq!(count(sum, "converges"), u64::from(RUNS), "{sum}");
        assert_eq!(count(sum, "drifts"), 0, "{sum}");
        // `last_cause` describes the cause ("drift #12 via inotify",
        // "scheduled run"): its kind comes first.
        assert!(
            sum.get("last_cause")
                .and_then(Value::as_str)
                .is_some_and(|c| c.starts_with("scheduled")),
            "{sum}"
        );
        let sum = done.summary(&checks_res);
        assert_eq!(count(sum, "checks"), u64::from(RUNS - 1), "{sum}");
        assert_eq!(count(sum, "converges"), 1, "{sum}");

        // Puppet's temp files, its lock directories, its own state
        // (/var/cache/puppet, /etc/puppet, its Ruby code) and the files facter
        // reads are no resources: the manifest's two files are the only files.
        let dir_prefix = format!("file:{}/", dir.path().display());
        let strays: Vec<&Value> = done
            .events
            .iter()
            .filter(|e| e.resource().starts_with("file:"))
            .filter(|e| e.resource() != changes_res && e.resource() != checks_res)
            .collect();
        assert!(
            strays.is_empty(),
            "files that are not the manifest's ({} in the manifest's dir):\n{}",
            strays
                .iter()
                .filter(|e| e.resource().starts_with(&dir_prefix))
                .count(),
            strays
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
);

// A change from outside between two runs is a DRIFT; the next run
// repairs it, noticed by that run's look at the file (`via poll`), not by a
// watch.
e2e!(puppet_repairs_a_drift_on_its_next_run, |tracer, test| {
    if !require(test, &["puppet"]) {
        return;
    }
    let dir = TempDir::new("converge-puppet-drift");
    let file = dir.path().join("motd");
    let res = file_res(&file);
    let manifest = puppet::manifest(
        dir.path(),
        &[PuppetFile {
            path: &file,
            content: "welcome\n",
        }],
    );
    let run = Converge::start(&tracer, &["--daemon", "puppet"]);
    puppet::apply(&manifest, 1);
    run.wait_for("the first run's CONVERGE", |e| {
        e.kind() == "CONVERGE" && e.resource() == res
    });
    let mut changer = Command::new("sh")
        .args(["-c", "echo 'maintenance tonight' >> \"$1\"", "sh"])
        .arg(&file)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = u64::from(changer.id());
    assert!(changer.wait().unwrap().success());
    let drift = run.wait_for("the DRIFT between the runs", |e| {
        e.kind() == "DRIFT" && e.resource() == res
    });
    puppet::apply(&manifest, 2);
    let repair = run.wait_for("the second run's CONVERGE", |e| {
        e.kind() == "CONVERGE" && e.resource() == res && e.cause_id() == drift.id()
    });
    let done = run.stop();
    let all = done.describe();
    assert_well_formed(&done);
    assert_eq!(drift.actor_pid(), Some(pid), "{drift}");
    assert!(drift.has_op("write"), "{drift}");
    assert_eq!(
        drift.get("daemon").and_then(Value::as_str),
        Some("puppet"),
        "{drift}"
    );
    assert_eq!(repair.cause_str("kind"), Some("drift"), "{repair}");
    assert_eq!(repair.cause_str("via"), Some("poll"), "{repair}");
    assert!(
        repair
            .get("ttc_ms")
            .and_then(Value::as_f64)
            .is_some_and(|t| t > 0.0),
        "{repair}"
    );
    assert_eq!(done.of("DRIFT").len(), 1, "{all}");
    assert_eq!(on(&done, "CONVERGE", &res).len(), 2, "{all}");
});
