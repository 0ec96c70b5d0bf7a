//! The end-to-end harness: find the sdtrace binary, decide whether this machine
//! can load eBPF programs (skip loudly, or fail under `CI=true`), run sdtrace
//! with `-j`, and wait — with a deadline, never a sleep — for the JSON event a
//! test caused; build the container images the tests run, and remove their
//! containers when they end. Also the helper binaries the tests and `cargo
//! xtask bench` run: `syscall-loop` (a timed loop of cheap syscalls),
//! `hold-fd` and `fd-paths`; and for the convergence tests, `minimgmt` (a
//! small mgmt-like daemon) with the package, service and Puppet runs it is
//! tested with. And the deploy/ manifests, typed (`deploy`); and a tmux
//! pane to drive `sdtrace ui` in as a person would (`tmux`).
pub mod agent;
pub mod container;
pub mod converge;
pub mod daemon;
pub mod deploy;
pub mod dockerd;
pub mod env;
pub mod event;
pub mod fake_api;
pub mod holder;
pub mod images;
pub mod json_run;
pub mod netns;
pub mod recorder;
pub mod session;
pub mod sysdig;
pub mod tmp;
pub mod tmpfs;
pub mod tmux;
pub mod watch;

pub use container::Container;
pub use env::{require_binary, require_docker, require_program, require_tracer, which, Tracer};
pub use event::EventExt;
pub use recorder::Recorder;
pub use session::{Finished, Session, Stats};
pub use tmp::{unique_name, TempDir};

/// An end-to-end test that needs a [`Tracer`], in the spirit of ripgrep's
/// `rgtest!`: `e2e!(name, |tracer| { … })` defines `#[test] fn name()`
/// whose body gets the tracer, or returns after [`require_tracer`] said why
/// it cannot have one (and fails under `CI=true`).
/// `e2e!(name, |tracer, test| { … })` also gives the body the test's name,
/// for its other `require_*` calls. Attributes (`#[cfg]`, comments as docs)
/// go first.
#[macro_export]
macro_rules! e2e {
    ($(#[$attr:meta])* $name:ident, |$tracer:ident $(, $test:ident)?| $body:block) => {
        $(#[$attr])*
        #[test]
        fn $name() {
            let name: &'static str = stringify!($name);
            let Some($tracer) = $crate::require_tracer(name) else {
                return;
            };
            $(let $test = name;)?
            $body
        }
    };
}
