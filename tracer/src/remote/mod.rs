//! `sdtrace --agent HOST:PORT,...` and `sdtrace --cluster`: events from
//! `sdtrace agent`s instead of this machine's kernel. Each agent filters
//! and formats its node's events as asked; the client checks the request
//! first (a typo gets its caret here, before anything connects), opens a
//! stream to every agent (`connect`, `stream`), merges them in time order
//! (`merge`, by the wall-clock times the agents stamp, in `relay`'s loop),
//! labels each line with its node (`label`) and prints it (`print`).
//!
//! The modes that run here on the agents' records (`ui`, `top`) read them
//! through the session instead (`records`); `reach`, `connect`, `stream`,
//! `merge`, `relay`, `tally` and `records` are that source, below the
//! session, and the rest of this module the printing client above it.

#[cfg(feature = "k8s-api")]
pub mod cluster;
pub mod connect;
pub mod direct;
pub mod label;
pub mod merge;
pub mod print;
pub mod reach;
pub mod records;
pub mod relay;
pub mod stream;
pub mod tally;
pub mod transport;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail};

use crate::agent::protocol::{Mode, Subscribe};
use crate::cli::{Cli, ConvergeCli, FollowCli};
use crate::output::format::print_preset;
use crate::output::format::OutputFormat;

use self::connect::{attach_all, checked_filter, dials};
use self::label::Label;
use self::print::Limits;
use self::reach::Reach;

/// Options given that shape this machine's capture, which the agents run
/// with their own settings (`sdtrace agent -s ...`): said, not silently
/// dropped.
fn local_only(cli: &Cli) -> Vec<&'static str> {
    let given = [
        (cli.snaplen != 80, "-s"),
        (cli.buffer_size != 16 << 20, "--buffer-size"),
        (
            cli.print_ascii || cli.print_hex || cli.print_hex_ascii,
            "-A/-x/-X",
        ),
        (cli.kernel_paths, "--kernel-paths"),
        (cli.containers, "--containers"),
        (cli.stats_json.is_some(), "--stats-json"),
        (cli.cri.is_some(), "--cri"),
        (cli.docker_socket.is_some(), "--docker-socket"),
        (cli.k8s_node.is_some(), "--k8s-node"),
    ];
    named(&given)
}

/// The names of the options that were given.
fn named(given: &[(bool, &'static str)]) -> Vec<&'static str> {
    given.iter().filter(|(g, _)| *g).map(|(_, n)| *n).collect()
}

/// What to ask every agent for, checked here first.
fn subscription(cli: &Cli) -> anyhow::Result<Subscribe> {
    let filter = checked_filter(cli.filter_text(), &cli.reach)?;
    let print = cli.print.as_deref().map(print_preset);
    if let Some(format) = print {
        OutputFormat::parse(format).map_err(|e| anyhow!("{e}"))?;
    }
    Ok(Subscribe {
        filter,
        print: print.map(str::to_owned),
        json: cli.json,
        mode: None,
    })
}

/// One run against agents: where they are, what to ask them, how to
/// print what comes back, and when to stop.
struct Remote<'a> {
    reach: &'a Reach,
    kubeconfig: Option<&'a std::path::Path>,
    subscribe: Subscribe,
    label: Label,
    count: Option<u64>,
    duration: Option<f64>,
}

impl Remote<'_> {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let (dials, token) = dials(self.reach, self.kubeconfig).await?;
        let say = |line: &str| eprintln!("{line}");
        let (attached, lost) = attach_all(dials, token, self.subscribe, &say).await?;
        say("sdtrace: attached");
        let limits = Limits {
            count: self.count,
            duration: self
                .duration
                .map(|s| {
                    Duration::try_from_secs_f64(s).map_err(|_| anyhow!("-M {s}: not a duration"))
                })
                .transpose()?,
        };
        let stdout = std::io::BufWriter::new(std::io::stdout());
        print::run(attached, self.label, limits, lost, stdout, &say).await
    }

    fn run_blocking(self) -> anyhow::Result<ExitCode> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(self.run())
    }
}

/// Says which options the agents' own settings replace.
fn say_ignored(ignored: &[&str]) {
    if !ignored.is_empty() {
        eprintln!(
            "sdtrace: ignored with --agent and --cluster (the agents capture with their own settings): {}",
            ignored.join(", ")
        );
    }
}

/// `sdtrace --agent ...` / `sdtrace --cluster`.
pub fn main(cli: &Cli) -> anyhow::Result<ExitCode> {
    if cli.read.is_some() || cli.write.is_some() {
        bail!("--agent and --cluster read the agents' events: -r and -w are for this machine's");
    }
    let subscribe = subscription(cli)?;
    say_ignored(&local_only(cli));
    Remote {
        reach: &cli.reach,
        kubeconfig: cli.kubeconfig.as_deref(),
        label: Label::of(subscribe.print.is_some(), subscribe.json),
        subscribe,
        count: cli.count,
        duration: cli.duration,
    }
    .run_blocking()
}

/// `sdtrace follow --agent ... | --cluster`: every agent follows the seeds'
/// requests on its node; the traces come merged, each line with its node.
pub fn follow(cli: &FollowCli) -> anyhow::Result<ExitCode> {
    if !cli.command.is_empty() {
        bail!("follow -- COMMAND runs the command here; with --agent or --cluster, say whose requests to follow with --pid, --comm or --conn");
    }
    let mode = Mode::Follow {
        pids: cli.pids.clone(),
        comms: cli.comms.clone(),
        conns: cli.conns.clone(),
    };
    let given = [
        (cli.snaplen != 80, "-s"),
        (cli.live.buffer_size != 16 << 20, "--buffer-size"),
        (cli.live.cri.is_some(), "--cri"),
        (cli.live.docker_socket.is_some(), "--docker-socket"),
    ];
    let limits = (cli.count, cli.duration);
    run_mode(
        &cli.reach,
        mode,
        cli.filter.clone(),
        cli.json,
        &given,
        limits,
    )
}

/// `sdtrace converge --agent ... | --cluster`: every agent watches its
/// node's config daemons; their events come merged, each with its node,
/// and each node's summary when its agent stops.
pub fn converge(cli: &ConvergeCli) -> anyhow::Result<ExitCode> {
    if cli.common.read.is_some() {
        bail!("converge: -r reads a capture file here; --agent and --cluster read the agents'");
    }
    let mode = Mode::Converge {
        daemons: cli.daemons.clone(),
        pids: cli.pids.clone(),
    };
    let given = [
        (cli.snaplen != 1024, "-s"),
        (cli.common.live.buffer_size != 16 << 20, "--buffer-size"),
        (cli.common.live.cri.is_some(), "--cri"),
        (cli.common.live.docker_socket.is_some(), "--docker-socket"),
    ];
    let limits = (cli.count, cli.common.duration);
    let filter = cli.common.filter.clone();
    run_mode(&cli.reach, mode, filter, cli.json, &given, limits)
}

/// A mode every agent runs, its output merged. `given`: which of the
/// local-capture options were given; `limits`: `-n` and `-M`.
fn run_mode(
    reach: &Reach,
    mode: Mode,
    filter: Option<String>,
    json: bool,
    given: &[(bool, &'static str)],
    (count, duration): (Option<u64>, Option<f64>),
) -> anyhow::Result<ExitCode> {
    say_ignored(&named(given));
    Remote {
        reach,
        kubeconfig: None,
        subscribe: Subscribe {
            filter: checked_filter(filter, reach)?,
            print: None,
            json,
            mode: Some(mode),
        },
        label: Label::of(false, json),
        count,
        duration,
    }
    .run_blocking()
}

#[cfg(test)]
mod tests;
