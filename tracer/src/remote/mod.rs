//! `sdtrace --agent HOST:PORT,...` and `sdtrace --cluster`: events from
//! `sdtrace agent`s instead of this machine's kernel. Each agent filters
//! and formats its node's events as asked; the client checks the request
//! first (a typo gets its caret here, before anything connects), opens a
//! stream to every agent (`stream`), merges them in time order (`merge`,
//! by the wall-clock times the agents stamp), labels each line with its
//! node (`label`) and prints it (`relay`).

#[cfg(feature = "k8s-api")]
pub mod cluster;
pub mod direct;
pub mod label;
pub mod merge;
pub mod records;
pub mod relay;
pub mod stream;
pub mod tally;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tokio::task::JoinSet;

use crate::agent::protocol::{Mode, Subscribe};
use crate::cli::{Cli, ConvergeCli, FollowCli, Reach};
use crate::filter::Filter;
use crate::output::format::print_preset;
use crate::output::format::OutputFormat;

use self::label::Label;
use self::relay::Limits;
use self::stream::{Attached, Connect, StreamError};

/// How long an agent has to take the connection, accept the subscription
/// and say hello. A port-forward goes through the API server and the
/// node's kubelet, each a round trip or two; an agent that has not
/// answered in this long is treated as unreachable, and the rest start.
pub const ATTACH_WITHIN: Duration = Duration::from_secs(15);

/// One agent to reach.
pub struct Dial {
    /// How the user knows it: HOST:PORT, or its pod and node.
    pub agent: String,
    /// The HTTP authority to ask it as.
    pub authority: String,
    /// The node it should say it traces, when known beforehand.
    pub node: Option<String>,
    pub connect: Connect,
}

pub use crate::error_line::with_causes as causes;

/// The filter, narrowed to `--namespace`'s pods.
fn filter_text(filter: Option<String>, namespace: Option<&str>) -> Option<String> {
    let Some(ns) = namespace else {
        return filter;
    };
    let quoted = format!("\"{}\"", ns.replace('\\', "\\\\").replace('"', "\\\""));
    Some(match filter {
        Some(f) => format!("({f}) and k8s.ns.name={quoted}"),
        None => format!("k8s.ns.name={quoted}"),
    })
}

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
        (cli.k8s_node.is_some(), "--k8s-node"),
    ];
    named(&given)
}

/// The names of the options that were given.
fn named(given: &[(bool, &'static str)]) -> Vec<&'static str> {
    given.iter().filter(|(g, _)| *g).map(|(_, n)| *n).collect()
}

/// The filter, narrowed to `--namespace`, checked here first: a typo gets
/// its caret before anything connects.
fn checked_filter(filter: Option<String>, reach: &Reach) -> anyhow::Result<Option<String>> {
    let filter = filter_text(filter, reach.namespace.as_deref());
    if let Some(text) = &filter {
        if let Err(errors) = Filter::parse(text) {
            bail!("{errors}");
        }
    }
    Ok(filter)
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

/// The token the user gave: `--token-file`, else `$SDTRACE_TOKEN`.
fn given_token(reach: &Reach) -> anyhow::Result<Option<String>> {
    if let Some(path) = &reach.token_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--token-file {}", path.display()))?;
        let token = text.trim();
        if token.is_empty() {
            bail!("--token-file {}: the file is empty", path.display());
        }
        return Ok(Some(token.to_owned()));
    }
    Ok(std::env::var("SDTRACE_TOKEN")
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty()))
}

#[cfg(feature = "k8s-api")]
async fn cluster_dials(
    reach: &Reach,
    kubeconfig: Option<&std::path::Path>,
    token: Option<String>,
) -> anyhow::Result<(Vec<Dial>, Option<String>)> {
    let (dials, token) = cluster::dials(reach, kubeconfig, token)
        .await
        .map_err(|e| anyhow!(causes(&e)))?;
    Ok((dials, Some(token)))
}

#[cfg(not(feature = "k8s-api"))]
async fn cluster_dials(
    _: &Reach,
    _: Option<&std::path::Path>,
    _: Option<String>,
) -> anyhow::Result<(Vec<Dial>, Option<String>)> {
    bail!("--cluster needs the Kubernetes API client, which this sdtrace was built without; use --agent HOST:PORT")
}

/// Every agent `reach` names (through the API server for `--cluster`),
/// and the token to show them.
async fn dials(
    reach: &Reach,
    kubeconfig: Option<&std::path::Path>,
) -> anyhow::Result<(Vec<Dial>, Option<String>)> {
    let token = given_token(reach)?;
    let (dials, token) = if reach.cluster {
        cluster_dials(reach, kubeconfig, token).await?
    } else {
        (direct::dials(&reach.agents)?, token)
    };
    if dials.is_empty() {
        bail!("--agent names no agent");
    }
    Ok((dials, token))
}

/// Every agent's stream, opened at once; the ones that cannot be reached
/// are said on stderr and left out. A refusal of the token or the filter
/// ends everything: every agent would refuse it alike.
pub async fn attach_all(
    dials: Vec<Dial>,
    token: Option<String>,
    subscribe: Subscribe,
    say: &dyn Fn(&str),
) -> anyhow::Result<(Vec<Attached>, bool)> {
    let request = Arc::new((token, subscribe));
    let mut pending = JoinSet::new();
    let total = dials.len();
    for (i, dial) in dials.into_iter().enumerate() {
        let request = Arc::clone(&request);
        pending.spawn(async move {
            let (token, subscribe) = &*request;
            let attached = tokio::time::timeout(
                ATTACH_WITHIN,
                stream::attach(
                    &dial.agent,
                    dial.connect,
                    &dial.authority,
                    token.as_deref(),
                    subscribe,
                ),
            )
            .await;
            (i, dial.agent, dial.node, attached)
        });
    }
    let mut slots: Vec<Option<Attached>> = (0..total).map(|_| None).collect();
    let mut lost = false;
    while let Some(done) = pending.join_next().await {
        let (i, agent, node, attached) = done.context("an agent's connection task")?;
        match attached {
            Ok(Ok(a)) => {
                if let Some(node) = node.filter(|n| *n != a.node) {
                    say(&format!(
                        "sdtrace: agent {agent} says it traces node {}, not {node}",
                        a.node
                    ));
                }
                slots[i] = Some(a);
            }
            Ok(Err(e)) if e.is_refusal() => {
                return Err(match e {
                    // The agent's own words, carets and all.
                    StreamError::Refused(text) => anyhow!(text),
                    e => anyhow!(causes(&e)),
                });
            }
            Ok(Err(e)) => {
                say(&format!("sdtrace: {}", causes(&e)));
                lost = true;
            }
            Err(_) => {
                say(&format!(
                    "sdtrace: agent {agent} did not answer within {} s",
                    ATTACH_WITHIN.as_secs()
                ));
                lost = true;
            }
        }
    }
    let attached: Vec<Attached> = slots.into_iter().flatten().collect();
    if attached.is_empty() {
        bail!("no agent could be reached ({total} tried)",);
    }
    Ok((attached, lost))
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
        relay::run(attached, self.label, limits, lost, stdout, &say).await
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
