//! Puppet and minimgmt both managing one file, with different contents:
//! every Puppet run replaces minimgmt's file and minimgmt rewrites it at
//! once. Neither is a drift (both are daemons); it is one FLAP.
use serde_json::Value;
use tests::{
    converge::{
        fixtures,
        puppet::{self, PuppetFile},
        Converge, Daemon, DerivedExt,
    },
    e2e, TempDir,
};

use super::{assert_only_files_in, assert_well_formed, file_res, minimgmt_bin, require};

const RUNS: u32 = 3;

e2e!(
    puppet_and_minimgmt_fighting_over_a_file_flap_once,
    |tracer, test| {
        if !require(test, &["puppet"]) {
            return;
        }
        let dir = TempDir::new("converge-fight");
        let file = dir.path().join("limits.conf");
        let res = file_res(&file);
        let manifest = puppet::manifest(
            dir.path(),
            &[PuppetFile {
                path: &file,
                content: "max_open = 1024\n",
            }],
        );
        let run = Converge::start(&tracer, &["--daemon", "puppet", "--daemon", "minimgmt"]);
        let daemon = Daemon::spawn(
            "minimgmt",
            fixtures::minimgmt(&minimgmt_bin(), &file, "max_open = 65536\n", None),
        );
        daemon.wait_lines("minimgmt: converged", 1);
        for n in 1..=RUNS {
            puppet::apply(&manifest, n);
            // Its start-up write, then one repair per Puppet run.
            daemon.wait_lines("repaired content", 1 + usize::try_from(n).unwrap());
        }
        run.wait_for("the FLAP", |e| e.kind() == "FLAP" && e.resource() == res);
        let done = run.stop();
        drop(daemon);
        let all = done.describe();
        assert!(done.status.success(), "{all}");
        assert_well_formed(&done);
        let flaps = done.of("FLAP");
        assert_eq!(flaps.len(), 1, "one FLAP\n{all}");
        let flap = flaps[0];
        assert_eq!(flap.resource(), res, "{flap}");
        let mut writers: Vec<&str> = flap
            .get("writers")
            .and_then(Value::as_array)
            .map(|w| w.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        writers.sort_unstable();
        assert_eq!(writers, ["minimgmt", "puppet"], "{flap}");
        assert!(
            flap.get("count")
                .and_then(Value::as_u64)
                .is_some_and(|c| c >= 2),
            "{flap}"
        );
        assert!(
            flap.get("period_ms")
                .and_then(Value::as_f64)
                .is_some_and(|p| p > 0.0),
            "{flap}"
        );
        assert!(
            done.of("DRIFT").is_empty(),
            "daemons do not drift each other's files\n{all}"
        );
        let sum = done.summary(&res);
        assert_eq!(sum.get("flapping"), Some(&Value::Bool(true)), "{sum}");
        // Puppet's temporary file and lock directory are part of its change of
        // the file, even with minimgmt watching their directory.
        assert_only_files_in(&done, dir.path(), &[&res]);
    }
);
