//! `sdtrace`: wires the command line to the capture pipeline.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::{FromArgMatches, Parser};

use tracer::capture::{CaptureOptions, KernelFilter};
use tracer::cli::{modes, Cli, ConvergeCli, EchoCli, FollowCli, SpyCli, TopCli, UiCli};
use tracer::container::meta::Sockets;
use tracer::fields::FieldId;
use tracer::filter::Filter;
use tracer::follow;
use tracer::k8s::{self, PodCache};
use tracer::output::Format;
use tracer::scap::writer::Rotation;
use tracer::session::{self, Options, Plan, Session, Source, Write};
use tracer::summary;

fn main() -> ExitCode {
    tracer::logger::init();
    let args: Vec<OsString> = std::env::args_os().collect();
    // The modes, by their first word, each with its own options.
    let rest = |name: &str| std::iter::once(OsString::from(name)).chain(args[2..].iter().cloned());
    match args.get(1).and_then(|a| a.to_str()) {
        Some("follow") => {
            let cli = FollowCli::parse_from(rest("sdtrace follow"));
            return report(follow::cli::main(&cli));
        }
        Some("converge") => {
            let cli = ConvergeCli::parse_from(rest("sdtrace converge"));
            return report(tracer::converge::cli::main(&cli));
        }
        Some("top") => {
            let cli = TopCli::parse_from(rest("sdtrace top"));
            return report(summary::top::main(&cli));
        }
        Some("spy") => {
            let cli = SpyCli::parse_from(rest("sdtrace spy"));
            return report(summary::spy::main(&cli));
        }
        Some("echo") => {
            let cli = EchoCli::parse_from(rest("sdtrace echo"));
            return report(summary::echo::main(&cli));
        }
        Some("agent") => {
            let cli = tracer::cli::AgentCli::parse_from(rest("sdtrace agent"));
            return report(tracer::agent::main(&cli));
        }
        Some("cert") => {
            let cli = tracer::cli::CertCli::parse_from(rest("sdtrace cert"));
            return report(tracer::cert::main(&cli));
        }
        Some("check") => {
            let cli = tracer::cli::CheckCli::parse_from(rest("sdtrace check"));
            return report(tracer::check::main(&cli));
        }
        Some("ui") => {
            let cli = UiCli::parse_from(rest("sdtrace ui"));
            return report(tracer::ui::cli::main(&cli));
        }
        _ => {}
    }
    if args.get(1).and_then(|a| a.to_str()) == Some("help") {
        let mode = args.get(2).and_then(|a| a.to_str());
        return report(modes::help(mode).map(|()| ExitCode::SUCCESS));
    }
    let matches = modes::main_command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if cli.verbose {
        tracer::logger::verbose();
    }
    report(real_main(&cli))
}

fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            // Filter errors carry their own prefix and caret lines.
            let text = format!("{e:#}");
            if text.starts_with("sdtrace:") {
                eprintln!("{text}");
            } else {
                eprintln!("sdtrace: {text}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The kernel's share of the filter.
fn kernel_filter(filter: Option<&Filter>) -> KernelFilter {
    let Some(f) = filter else {
        return KernelFilter::default();
    };
    let p = f.pushdown();
    KernelFilter {
        syscalls: p.syscalls.map(|s| s.numbers()),
        tgids: p.tgids,
        comms: p.comms,
        cgroups: p.cgroups,
        muting: f
            .fields()
            .any(|f| tracer::container::decided_by_cgroup(f.id)),
    }
}

fn real_main(cli: &Cli) -> anyhow::Result<ExitCode> {
    if let Some(what) = &cli.generate {
        modes::generate(what, &mut std::io::stdout().lock())?;
        return Ok(ExitCode::SUCCESS);
    }
    if cli.list_fields {
        print!("{}", tracer::fields::listing());
        return Ok(ExitCode::SUCCESS);
    }
    if cli.reach.is_remote() {
        return tracer::remote::main(cli);
    }
    // A bad filter or format is refused before anything is loaded.
    let filter = session::parse_filter(cli.filter_text().as_deref())?;
    let format =
        Format::from_options(cli.print.as_deref(), cli.json).map_err(anyhow::Error::msg)?;
    let uses = |id: FieldId| filter.as_ref().is_some_and(|f| f.uses(id)) || format.uses(id);
    let latency = uses(FieldId::EvtLatency);
    let kernel_paths = cli.kernel_paths || uses(FieldId::FdKname);
    let opts = Options {
        buffers: cli.buffer_mode(),
        format,
        count: cli.count,
        duration: cli.duration.map(Duration::from_secs_f64),
        stats_interval: (cli.stats_interval > 0).then(|| Duration::from_secs(cli.stats_interval)),
        latency,
    };
    let mut plan = match &cli.read {
        Some(path) => Plan::new(Source::File(path.clone()), filter, opts),
        None => {
            let kernel = kernel_filter(filter.as_ref());
            let muting = kernel.muting;
            let capture = CaptureOptions {
                buffer_size: cli.buffer_size,
                snaplen: cli.snaplen,
                // A capture file keeps enter times, as sysdig's do.
                latency: latency || cli.write.is_some(),
                filter: kernel,
                hook: cli.syscall_hook,
                kernel_paths,
            };
            let mut plan = Plan::new(
                Source::Live {
                    capture,
                    sockets: Sockets {
                        cri: cli.cri.clone(),
                        docker: cli.docker_socket.clone(),
                    },
                },
                filter,
                opts,
            );
            plan.muting = muting;
            plan.write = cli.write.as_ref().map(|path| Write {
                path: path.clone(),
                compress: cli.compress,
                rotation: Rotation {
                    bytes: cli.file_size_mb.map(|mb| mb.saturating_mul(1_000_000)),
                    seconds: cli.file_seconds,
                    files: cli.file_limit,
                },
            });
            let pods_cli = PodOptions {
                kubeconfig: cli.kubeconfig.clone(),
                node: cli.k8s_node.clone(),
                writing: cli.write.is_some(),
            };
            plan.pods = Some(Box::new(move |wanted| pod_cache(&pods_cli, wanted)));
            plan
        }
    };
    plan.tally = cli.containers;
    let report = Session::open(plan)?.run(None)?;
    if let Some((path, n)) = &report.wrote {
        eprintln!("sdtrace: wrote {n} events to {}", path.display());
    }
    if let Some(table) = &report.containers {
        eprint!("{table}");
    }
    // Reading a file says how it went only when asked to.
    if report.live || cli.stats_interval > 0 || cli.stats_json.is_some() {
        eprintln!("{}", report.stats_line());
    }
    if let Some(path) = &cli.stats_json {
        report.write_stats_json(path)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What the Kubernetes API client is made from.
struct PodOptions {
    kubeconfig: Option<std::path::PathBuf>,
    node: Option<String>,
    /// A capture file is written: its reader may want the pods' fields.
    writing: bool,
}

/// A build without the Kubernetes API client (`k8s-api` feature).
#[cfg(not(feature = "k8s-api"))]
fn pod_cache(cli: &PodOptions, fields: bool) -> PodCache {
    if fields || cli.kubeconfig.is_some() {
        eprintln!(
            "{}",
            k8s::unavailable_line("sdtrace was built without the Kubernetes API client")
        );
    }
    PodCache::off()
}

/// The Kubernetes API, asked when a field needs it or a capture file is
/// written (its reader may want those fields). A source that cannot be
/// used is said once, when it matters, and tracing goes on without it.
#[cfg(feature = "k8s-api")]
fn pod_cache(cli: &PodOptions, fields: bool) -> PodCache {
    match k8s::config::source(cli.kubeconfig.as_deref()) {
        Ok(Some(source)) if fields || cli.writing => PodCache::live(k8s::reflect::start(
            source,
            k8s::node::node_name(cli.node.as_deref()),
            std::sync::Arc::new(|line: &str| eprintln!("{line}")),
        )),
        Ok(Some(_)) => PodCache::off(),
        Ok(None) => {
            if fields {
                eprintln!(
                    "{}",
                    k8s::unavailable_line(
                        "no Kubernetes API server is configured (--kubeconfig, KUBECONFIG \
                         or an in-cluster service account)"
                    )
                );
            }
            PodCache::off()
        }
        Err(e) => {
            if fields || cli.kubeconfig.is_some() {
                eprintln!("{}", k8s::unavailable_line(&e.to_string()));
            }
            PodCache::off()
        }
    }
}
