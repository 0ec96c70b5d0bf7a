//! `sdtrace follow`'s command line, and the run it makes.

use std::process::{Command, ExitCode};
use std::time::Duration;

use crate::capture::{CaptureOptions, KernelFilter, SyscallHook};
use crate::cli::FollowCli;
use crate::session::Options;
use crate::session::{self, Plan, Session, Source};

use super::trace::{NoTranslations, Translations};
use super::{seeds::Seeds, translations, Follower};

/// Every syscall is captured (a request's server is not known before it
/// accepts), and only the traces are printed.
pub fn main(cli: &FollowCli) -> anyhow::Result<ExitCode> {
    if cli.reach.is_remote() {
        return crate::remote::follow(cli);
    }
    let filter = session::parse_filter(cli.filter.as_deref())?;
    let seeds = Seeds {
        pids: cli.pids.clone(),
        comms: cli.comms.clone(),
        conns: cli.conns.clone(),
    };
    if seeds.is_empty() && cli.command.is_empty() {
        anyhow::bail!(
            "follow: say whose requests to follow: --pid PID, --comm NAME, --conn ADDR:PORT or -- COMMAND"
        );
    }
    let opts = Options {
        count: cli.count,
        duration: cli.duration.map(Duration::from_secs_f64),
        stats_interval: (cli.stats_interval > 0).then(|| Duration::from_secs(cli.stats_interval)),
        ..Options::default()
    };
    let capture = CaptureOptions {
        buffer_size: cli.live.buffer_size,
        snaplen: cli.snaplen,
        latency: false,
        filter: KernelFilter::default(),
        hook: SyscallHook::Auto,
        kernel_paths: false,
    };
    let (source, translations): (_, Box<dyn Translations>) = match &cli.read {
        Some(path) => (Source::File(path.clone()), Box::new(NoTranslations)),
        None => (
            Source::Live {
                capture,
                sockets: cli.live.sockets(),
            },
            translations(),
        ),
    };
    let mut session = Session::open(Plan::new(source, filter, opts))?;
    let mut follower = Follower::new(seeds, translations, cli.json);
    if let Some((program, args)) = cli.command.split_first() {
        let child = Command::new(program)
            .args(args)
            .spawn()
            .map_err(|e| anyhow::anyhow!("follow: cannot start {program}: {e}"))?;
        // The kernel side leaves out sdtrace's own forks: the child is
        // read from /proc now (it has exec'd), its later events come as any.
        session.load_process(child.id());
        follower.seeds.pids.push(child.id());
        follower.set_command(child);
    }
    let report = session.run(Some(Box::new(follower)))?;
    eprintln!("{}", report.stats_line());
    if let Some(line) = report.closing_words() {
        eprintln!("{line}");
    }
    Ok(match report.exit_code() {
        Some(0) | None => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
    })
}
