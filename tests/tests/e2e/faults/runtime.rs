//! The container runtime restarted, gone or hanging while sdtrace traces:
//! events keep flowing, names known stay known, names missing come back
//! once the runtime answers, and each loss and return is said once, not
//! once per event. The runtime is a dockerd of the test's own (the shared
//! one serves other tests), which keeps its containers running while it is
//! down (`--live-restore`).
use std::{cell::Cell, time::Instant};

use serde_json::Value;
use tests::{
    dockerd::Dockerd, e2e, images::busybox_image, require_program, unique_name, Container,
    EventExt, Session,
};

const IMAGE: &str = "sdt-fault-busybox:1";

/// Said when the runtime stops answering, and when it answers again.
const GONE: &str = "no container names from";
const BACK: &str = "answers again";

/// A dockerd of the test's own with the image, or why there is none.
fn engine(test: &str) -> Option<Dockerd> {
    require_program(test, "docker")?;
    let dockerd = require_program(test, "dockerd")?;
    let engine = Dockerd::start(&dockerd);
    busybox_image(&engine.client(), IMAGE);
    Some(engine)
}

/// A container that opens /etc/motd five times a second until removed.
fn looping(engine: &Dockerd, prefix: &str) -> Container {
    Container::run(
        &engine.client(),
        &unique_name(prefix),
        &[
            "--network",
            "none",
            IMAGE,
            "/bin/sh",
            "-c",
            "while :; do cat /etc/motd; sleep 0.2; done",
        ],
    )
}

/// sdtrace told to ask `engine`, showing containers' opens of /etc/motd.
fn trace(tracer: &tests::Tracer, engine: &Dockerd) -> Session {
    let sock = engine.sock().display().to_string();
    Session::start(
        tracer,
        &[
            "--docker-socket",
            &sock,
            "-c",
            "evt.type=openat and fd.name=/etc/motd and container.type=docker",
            "-p",
            "%container.id %container.name %proc.cmdline %fd.name",
        ],
    )
}

fn of<'a>(events: &'a [Value], c: &Container) -> impl Iterator<Item = &'a Value> + 'a {
    let short = c.full_id()[..12].to_owned();
    events
        .iter()
        .filter(move |e| e.str_field("container.id") == Some(short.as_str()))
}

fn said(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

// dockerd restarted under a running container: that container's events
// keep its name throughout, and a container started by the new dockerd is
// named too.
e2e!(
    the_runtime_restarted_keeps_old_names_and_names_new_containers,
    |tracer, test| {
        let Some(mut engine) = engine(test) else {
            return;
        };
        let old = looping(&engine, "sdt-fault-old");
        let session = trace(&tracer, &engine);
        session.wait_for("the old container's open, named", |e| {
            e.str_field("container.name") == Some(old.name())
        });
        engine.restart();
        // exec goes through the restarted daemon into the container it
        // kept running.
        let exec = old
            .exec_command(&["cat", "/etc/motd", "after-restart"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&exec.stdout).contains("hello"),
            "docker exec after the restart: {}",
            String::from_utf8_lossy(&exec.stderr)
        );
        let after = session.wait_for("the old container's open after the restart", |e| {
            e.str_field("proc.cmdline")
                .is_some_and(|c| c.contains("after-restart"))
        });
        assert_eq!(
            after.str_field("container.name"),
            Some(old.name()),
            "{after}"
        );
        let new = looping(&engine, "sdt-fault-new");
        session.wait_for("the new container's open, named", |e| {
            e.str_field("container.name") == Some(new.name())
        });
        let done = session.stop();
        assert!(done.status.success(), "{:?}", done.status);
        let (old_events, old_named) = of(&done.events, &old).fold((0, 0), |(n, named), e| {
            (
                n + 1,
                named + usize::from(e.str_field("container.name") == Some(old.name())),
            )
        });
        let (new_events, new_named) = of(&done.events, &new).fold((0, 0), |(n, named), e| {
            (
                n + 1,
                named + usize::from(e.str_field("container.name") == Some(new.name())),
            )
        });
        eprintln!(
            "dockerd restarted: old container {old_named} of {old_events} events named, \
             new one {new_named} of {new_events}"
        );
        assert_eq!(old_named, old_events, "the old container keeps its name");
        assert!(said(&done.stderr, GONE) <= 1, "{:?}", done.stderr);
    }
);

/// The runtime away while sdtrace starts on one of its containers: its
/// events come unnamed, one line says why; once `back` brings it back,
/// its events are named again and one line says so.
fn away_then_back(
    tracer: &tests::Tracer,
    engine: &mut Dockerd,
    away: impl FnOnce(&mut Dockerd),
    back: impl FnOnce(&mut Dockerd),
    what: &str,
) {
    let c = looping(engine, "sdt-fault-away");
    let short = c.full_id()[..12].to_owned();
    away(engine);
    let session = trace(tracer, engine);
    let first = session.wait_for("the container's open while its runtime is away", |e| {
        e.str_field("container.id") == Some(short.as_str())
    });
    assert_eq!(first.str_field("container.name"), None, "{first}");
    session.wait_said(GONE);
    // A few more of its events while it is still away: flowing, unnamed.
    let seen = Cell::new(0);
    session.wait_for("more of its opens while the runtime is away", |e| {
        seen.set(seen.get() + usize::from(e.str_field("container.id") == Some(short.as_str())));
        seen.get() >= 5
    });
    let returned = Instant::now();
    back(engine);
    session.wait_for("the container's open, named again", |e| {
        e.str_field("container.name") == Some(c.name())
    });
    let named_after = returned.elapsed();
    session.wait_said(BACK);
    let done = session.stop();
    assert!(done.status.success(), "{:?}", done.status);
    let unnamed = of(&done.events, &c)
        .filter(|e| e.str_field("container.name").is_none())
        .count();
    let named = of(&done.events, &c).count() - unnamed;
    eprintln!(
        "runtime {what}: {unnamed} events unnamed while away, {named} named once back \
         (first named {:.1} s after it returned); lines: {:?}",
        named_after.as_secs_f64(),
        done.stderr
            .iter()
            .filter(|l| l.contains(GONE) || l.contains(BACK))
            .collect::<Vec<_>>()
    );
    assert!(unnamed >= 5, "events flowed while the runtime was away");
    assert_eq!(said(&done.stderr, GONE), 1, "said once: {:?}", done.stderr);
    assert_eq!(said(&done.stderr, BACK), 1, "said once: {:?}", done.stderr);
    // Once named again, no event of it loses its name.
    let first_named = of(&done.events, &c)
        .position(|e| e.str_field("container.name").is_some())
        .expect("a named event");
    assert!(
        of(&done.events, &c)
            .skip(first_named)
            .all(|e| e.str_field("container.name") == Some(c.name())),
        "named from then on"
    );
}

// dockerd stopped (its socket removed) while its container runs on, then
// started again.
e2e!(
    the_runtime_gone_then_back_names_its_containers_again,
    |tracer, test| {
        let Some(mut engine) = engine(test) else {
            return;
        };
        away_then_back(
            &tracer,
            &mut engine,
            |e| {
                e.stop();
                assert!(!e.sock().exists(), "a stopped dockerd removes its socket");
            },
            Dockerd::restart,
            "stopped (socket gone)",
        );
    }
);

// dockerd frozen (SIGSTOP): its socket takes connections and never
// answers; then it is continued.
e2e!(
    the_runtime_hanging_then_back_names_its_containers_again,
    |tracer, test| {
        let Some(mut engine) = engine(test) else {
            return;
        };
        away_then_back(
            &tracer,
            &mut engine,
            Dockerd::freeze,
            Dockerd::thaw,
            "frozen (no answer)",
        );
    }
);
