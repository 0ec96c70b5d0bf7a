//! A daemon sdtrace attaches to after it started, given one outside change
//! at a time, each awaited until the daemon put it back: the test knows
//! every drift it made (the changer's pid, what it did) and that one repair
//! answered each, and checks sdtrace's DRIFT and CONVERGE lines against
//! that table line for line, and its summary against the counts.
use std::{
    fs,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{Converge, DerivedExt, Finished};

/// How long a daemon may take to put one change back (a puppet or ansible
/// run included).
const REPAIR_TIMEOUT: Duration = Duration::from_secs(90);

/// One change from outside every daemon's tree.
pub struct Change {
    pub what: &'static str,
    /// `sh -c` script; `$1` is the managed file. Ends in `exec` where a
    /// program makes the change, so the changer's pid is the shell's.
    pub script: &'static str,
    /// The resource it changes (`None`: the managed file).
    pub resource: Option<&'static str>,
    /// An op its DRIFT line shows.
    pub op: &'static str,
}

/// The file changes every daemon shape is given.
pub const APPEND: Change = Change {
    what: "an append",
    script: "echo 'debug = 1' >> \"$1\"",
    resource: None,
    op: "write",
};
pub const REWRITE: Change = Change {
    what: "a truncate-and-write",
    script: "printf 'listen = 9090\\n' > \"$1\"",
    resource: None,
    op: "truncate",
};
pub const RENAME_OVER: Change = Change {
    what: "an editor-style rename over",
    script: "printf 'listen = 7070\\n' > \"$1.swp\" && exec mv \"$1.swp\" \"$1\"",
    resource: None,
    op: "rename",
};
pub const CHMOD: Change = Change {
    what: "a chmod",
    script: "exec chmod 600 \"$1\"",
    resource: None,
    op: "chmod",
};
pub const CHOWN: Change = Change {
    what: "a chown",
    script: "exec chown 65534 \"$1\"",
    resource: None,
    op: "chown",
};
pub const DELETE: Change = Change {
    what: "a delete",
    script: "exec rm \"$1\"",
    resource: None,
    op: "unlink",
};

/// What the managed file is when the daemon has put it right.
pub struct Desired<'a> {
    pub path: &'a Path,
    pub content: &'a str,
    /// Whether the daemon manages the owner (root) too.
    pub owner: bool,
}

impl Desired<'_> {
    /// Whether the file is as the daemon keeps it (content, mode 0644,
    /// owner root when managed).
    pub fn holds(&self) -> bool {
        let Ok(meta) = fs::symlink_metadata(self.path) else {
            return false;
        };
        meta.permissions().mode() & 0o7777 == 0o644
            && (!self.owner || meta.uid() == 0)
            && fs::read_to_string(self.path).is_ok_and(|c| c == self.content)
    }

    /// Waits until the file holds, or panics saying `after` what.
    pub fn wait(&self, after: &str, extra: impl Fn() -> bool) {
        let started = Instant::now();
        while !(self.holds() && extra()) {
            assert!(
                started.elapsed() < REPAIR_TIMEOUT,
                "the daemon did not put {} back after {after} within {REPAIR_TIMEOUT:?}",
                self.path.display()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One change made.
pub struct Row {
    pub change: &'static Change,
    /// The changer's pid.
    pub pid: u64,
    pub resource: String,
    /// How many repairs the daemon said it made after it: a fast daemon
    /// can put a truncate back before the write that follows it, and then
    /// the write is a second drift it repairs again.
    pub repairs: usize,
}

/// The changes made, in order.
pub struct Made {
    pub rows: Vec<Row>,
}

/// Makes each of `changes` from a shell outside every daemon's tree,
/// waiting after each until `repaired` says the daemon put things back
/// (and a little more, so the repair's syscalls have gone quiet).
/// `repairs_said`: how many repairs the daemon has said it made so far,
/// for a daemon that says so (one per change otherwise).
pub fn make(
    changes: &[&'static Change],
    file: &Path,
    file_res: &str,
    repaired: impl Fn(&Change) -> bool,
    repairs_said: Option<&dyn Fn() -> usize>,
) -> Made {
    let mut rows = Vec::new();
    for &change in changes {
        let said = repairs_said.map(|n| n());
        let pid = outside(change.script, file);
        let started = Instant::now();
        while !repaired(change) {
            assert!(
                started.elapsed() < REPAIR_TIMEOUT,
                "no repair after {} within {REPAIR_TIMEOUT:?}",
                change.what
            );
            thread::sleep(Duration::from_millis(20));
        }
        // The repair's last syscalls, then quiet (an operation ends after
        // 100 ms without one).
        thread::sleep(Duration::from_millis(400));
        let resource = change.resource.unwrap_or(file_res).to_owned();
        let repairs = match (said, repairs_said) {
            (Some(before), Some(n)) => n() - before,
            _ => 1,
        };
        assert!(
            repairs >= 1,
            "the daemon said no repair after {}",
            change.what
        );
        rows.push(Row {
            change,
            pid,
            resource,
            repairs,
        });
    }
    Made { rows }
}

/// Runs `script` with `file` as `$1` from a shell that is the test's
/// child (outside every daemon's tree); its pid once it succeeded.
pub fn outside(script: &str, file: &Path) -> u64 {
    let mut child = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = u64::from(child.id());
    let status = child.wait().unwrap();
    assert!(status.success(), "sh -c {script:?}: {status}");
    pid
}

/// What the test expects of a repair's cause beyond the drift it answers.
pub struct Expect<'a> {
    /// The daemon's name in sdtrace's lines.
    pub daemon: &'a str,
    /// The `via` the repair of each change may say.
    pub vias: &'a dyn Fn(&Change) -> &'a [&'a str],
    /// CONVERGEs that answer no drift but are expected (a service restarted
    /// because its file was repaired): their cause kinds.
    pub other_causes: &'a [&'a str],
}

/// Waits until sdtrace has reported a DRIFT and its repair for each change
/// made, stops it, and checks its report against `made`, line for line.
pub fn check(run: Converge, made: &Made, expect: &Expect<'_>) -> Finished {
    for row in &made.rows {
        let drifts = run.wait_n(
            &format!("the DRIFT of {}", row.change.what),
            row.repairs,
            |e| {
                e.kind() == "DRIFT"
                    && e.resource() == row.resource
                    && e.actor_pid() == Some(row.pid)
            },
        );
        for drift in drifts {
            run.wait_for(&format!("the CONVERGE after {}", row.change.what), |e| {
                e.kind() == "CONVERGE" && e.cause_id() == drift.id()
            });
        }
    }
    let done = run.stop();
    assert!(done.status.success(), "{}", done.describe());
    let table = table(&done);
    let fail = |why: String| -> ! {
        panic!(
            "{why}\nexpected, in order:\n{}\nsdtrace's DRIFT and CONVERGE lines:\n{table}\n{}",
            made.rows
                .iter()
                .map(|r| format!(
                    "  {} × DRIFT {} by pid {} ({}, {}), each then one CONVERGE of it caused by that drift",
                    r.repairs, r.resource, r.pid, r.change.what, r.change.op
                ))
                .collect::<Vec<_>>()
                .join("\n"),
            done.describe()
        )
    };

    // Recall and precision of the drifts: one per repair the daemon made,
    // by the change's changer, in order, and no other.
    let drifts = done.of("DRIFT");
    let expected: usize = made.rows.iter().map(|r| r.repairs).sum();
    if drifts.len() != expected {
        fail(format!(
            "{} DRIFT lines for {} changes the daemon repaired {expected} times",
            drifts.len(),
            made.rows.len()
        ));
    }
    let per_drift: Vec<&Row> = made
        .rows
        .iter()
        .flat_map(|r| std::iter::repeat_n(r, r.repairs))
        .collect();
    for (row, d) in per_drift.iter().zip(&drifts) {
        let right = d.resource() == row.resource
            && d.actor_pid() == Some(row.pid)
            && d.get("daemon").and_then(Value::as_str) == Some(expect.daemon);
        if !right {
            fail(format!("{}: not its DRIFT: {d}", row.change.what));
        }
    }
    for row in &made.rows {
        let ops_seen = drifts
            .iter()
            .filter(|d| d.actor_pid() == Some(row.pid))
            .any(|d| d.has_op(row.change.op));
        if !ops_seen {
            fail(format!(
                "{}: no DRIFT shows {}",
                row.change.what, row.change.op
            ));
        }
    }
    // Each drift repaired once, caused by it; every other CONVERGE is of
    // an expected kind.
    for (row, d) in per_drift.iter().zip(&drifts) {
        let (change, resource) = (row.change, &row.resource);
        let repairs: Vec<&Value> = done
            .of("CONVERGE")
            .into_iter()
            .filter(|c| c.cause_id() == d.id() && c.cause_str("kind") == Some("drift"))
            .collect();
        if repairs.len() != 1 {
            fail(format!(
                "{}: {} CONVERGE lines caused by its drift",
                change.what,
                repairs.len()
            ));
        }
        let c = repairs[0];
        let via = c.cause_str("via").unwrap_or("");
        let vias = (expect.vias)(change);
        if c.resource() != resource
            || c.get("daemon").and_then(Value::as_str) != Some(expect.daemon)
            || !vias.contains(&via)
            || !c
                .get("ttc_ms")
                .and_then(Value::as_f64)
                .is_some_and(|t| t > 0.0)
        {
            fail(format!(
                "{}: its repair is wrong (via one of {vias:?}): {c}",
                change.what
            ));
        }
    }
    for c in done.of("CONVERGE") {
        let kind = c.cause_str("kind").unwrap_or("");
        let answers = kind == "drift" && drifts.iter().any(|d| d.id() == c.cause_id());
        if !answers && !expect.other_causes.contains(&kind) {
            fail(format!("a CONVERGE no change explains: {c}"));
        }
    }
    for e in done.events.iter().filter(|e| e.kind() == "CONVERGE") {
        assert_ne!(e.cause_str("kind"), Some("startup"), "started before: {e}");
    }

    // The summary agrees.
    let mut resources: Vec<&str> = made.rows.iter().map(|r| r.resource.as_str()).collect();
    resources.sort_unstable();
    resources.dedup();
    for r in resources {
        let n = per_drift.iter().filter(|x| x.resource == r).count() as u64;
        let sum = done.summary(r);
        let get = |k: &str| sum.get(k).and_then(Value::as_u64);
        let repairs = done
            .of("CONVERGE")
            .into_iter()
            .filter(|c| c.resource() == r)
            .count() as u64;
        if get("drifts") != Some(n) || get("converges") != Some(repairs) {
            fail(format!("the summary of {r} disagrees: {sum}"));
        }
    }
    done
}

/// sdtrace's DRIFT and CONVERGE lines, one per line, for a failure's message.
fn table(done: &Finished) -> String {
    done.events
        .iter()
        .filter(|e| matches!(e.kind(), "DRIFT" | "CONVERGE"))
        .map(|e| {
            format!(
                "  #{} {} {} {}[{}] {} cause={}",
                e.id().unwrap_or(0),
                e.kind(),
                e.resource(),
                e.actor_comm(),
                e.actor_pid().unwrap_or(0),
                e.get("ops").map(ToString::to_string).unwrap_or_default(),
                e.get("cause").map(ToString::to_string).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
