//! The tracers the benchmark compares, and how each is started around the
//! workload: system-wide ones (sdtrace, bpftrace) run in the background until
//! they say they are attached; wrapping ones (strace, perf trace) run the
//! workload as their child.
use std::{
    ffi::OsString,
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::util;

const ATTACH_TIMEOUT: Duration = Duration::from_secs(60);
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
const BPFTRACE_READY: &str = "sdtrace-bench: attached";

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Tracer {
    None,
    SdtraceAll,
    /// All syscalls printed with `-pc`: each event's container looked up.
    SdtraceContainers,
    SdtraceNoMatch,
    /// A filter on another container: the workload's (host) cgroup is muted
    /// in the kernel after its first events.
    SdtraceOtherContainer,
    /// `sdtrace agent` and one `sdtrace --agent` client asking for every
    /// syscall: the events formatted by the agent, streamed over HTTP/2 on
    /// loopback, merged and printed by the client.
    SdtraceAgent,
    Strace,
    PerfTrace,
    Bpftrace,
}

pub(super) const ALL: [Tracer; 9] = [
    Tracer::None,
    Tracer::SdtraceAll,
    Tracer::SdtraceAgent,
    Tracer::SdtraceContainers,
    Tracer::SdtraceNoMatch,
    Tracer::SdtraceOtherContainer,
    Tracer::Strace,
    Tracer::PerfTrace,
    Tracer::Bpftrace,
];

impl Tracer {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::None => "no tracer",
            Self::SdtraceAll => "sdtrace, all syscalls, text > /dev/null",
            Self::SdtraceContainers => "sdtrace -pc (container of every event) > /dev/null",
            Self::SdtraceNoMatch => "sdtrace -c \"proc.name=nomatch_xyz\"",
            Self::SdtraceOtherContainer => "sdtrace -c \"container.name=nomatch_xyz\"",
            Self::SdtraceAgent => "sdtrace agent + an --agent client, all syscalls > /dev/null",
            Self::Strace => "strace -f -o /dev/null",
            Self::PerfTrace => "perf trace -o /dev/null",
            Self::Bpftrace => "bpftrace raw_syscalls:sys_exit printf",
        }
    }

    pub(super) fn is_sdtrace(self) -> bool {
        matches!(
            self,
            Self::SdtraceAll
                | Self::SdtraceContainers
                | Self::SdtraceNoMatch
                | Self::SdtraceOtherContainer
                | Self::SdtraceAgent
        )
    }

    /// Why this tracer cannot run here, if it cannot.
    pub(super) fn unavailable(self, sdtrace: &Path) -> Option<String> {
        let tool = match self {
            Self::None => return None,
            Self::SdtraceAll
            | Self::SdtraceContainers
            | Self::SdtraceNoMatch
            | Self::SdtraceOtherContainer
            | Self::SdtraceAgent => {
                return (!sdtrace.is_file()).then(|| format!("no binary at {}", sdtrace.display()))
            }
            Self::Strace => "strace",
            Self::PerfTrace => "perf",
            Self::Bpftrace => "bpftrace",
        };
        (!util::on_path(tool)).then(|| format!("`{tool}` is not installed"))
    }
}

/// One timed workload run under a tracer.
pub(super) struct Sample {
    pub loop_ns: u64,
    /// sdtrace's `--stats-json`, when the tracer is sdtrace.
    pub stats: Option<Value>,
    /// sdtrace's stderr lines mentioning drops.
    pub drop_lines: Vec<String>,
}

/// What to run: the workload binary and its arguments.
pub(super) struct Workload<'a> {
    pub bin: &'a Path,
    pub kind: &'a str,
    pub iterations: u64,
    pub rate: Option<f64>,
}

impl Workload<'_> {
    fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            self.bin.into(),
            self.kind.into(),
            self.iterations.to_string().into(),
        ];
        if let Some(rate) = self.rate {
            args.extend(["--rate".into(), format!("{rate:.0}").into()]);
        }
        args
    }
}

/// Runs `work` once under `tracer` and returns the loop's own timing.
pub(super) fn sample(
    tracer: Tracer,
    sdtrace: &Path,
    extra_sdtrace_args: &[&str],
    work: &Workload,
) -> Result<Sample> {
    match tracer {
        Tracer::None => Ok(Sample {
            loop_ns: run_loop(&[], work)?,
            stats: None,
            drop_lines: vec![],
        }),
        Tracer::Strace => wrapped(&["strace", "-f", "-o", "/dev/null"], work),
        Tracer::PerfTrace => wrapped(&["perf", "trace", "-o", "/dev/null", "--"], work),
        Tracer::Bpftrace => {
            let script = format!(
                "BEGIN {{ printf(\"{BPFTRACE_READY}\\n\"); }} \
                 tracepoint:raw_syscalls:sys_exit {{ printf(\"%d %s %d\\n\", pid, comm, args->ret); }}"
            );
            let mut cmd = Command::new("bpftrace");
            cmd.args(["-e", &script]);
            // bpftrace writes its ready line and its events to stdout: the
            // reader drains them after the ready line, as /dev/null would.
            let bg = Background::start(cmd, Ready::Stdout(BPFTRACE_READY))?;
            let loop_ns = run_loop(&[], work);
            bg.stop()?;
            Ok(Sample {
                loop_ns: loop_ns?,
                stats: None,
                drop_lines: vec![],
            })
        }
        Tracer::SdtraceAgent => agent_sample(sdtrace, work),
        Tracer::SdtraceAll
        | Tracer::SdtraceContainers
        | Tracer::SdtraceNoMatch
        | Tracer::SdtraceOtherContainer => {
            let dir = std::env::temp_dir().join(format!("sdtrace-bench-{}", std::process::id()));
            fs::create_dir_all(&dir)?;
            let stats_path = dir.join("stats.json");
            let _ = fs::remove_file(&stats_path);
            let mut cmd = Command::new(sdtrace);
            cmd.arg("--stats-json")
                .arg(&stats_path)
                .args(extra_sdtrace_args);
            if tracer == Tracer::SdtraceNoMatch {
                cmd.args(["-c", "proc.name=nomatch_xyz"]);
            }
            if tracer == Tracer::SdtraceOtherContainer {
                cmd.args(["-c", "container.name=nomatch_xyz"]);
            }
            if tracer == Tracer::SdtraceContainers {
                cmd.args(["-p", "c"]);
            }
            let bg = Background::start(cmd, Ready::Stderr("sdtrace: attached"))?;
            let loop_ns = run_loop(&[], work);
            let stderr = bg.stop()?;
            let text = fs::read_to_string(&stats_path)
                .with_context(|| format!("sdtrace wrote no {}", stats_path.display()))?;
            let stats: Value =
                serde_json::from_str(&text).with_context(|| format!("bad stats JSON {text:?}"))?;
            let drop_lines = stderr
                .into_iter()
                .filter(|l| l.to_ascii_lowercase().contains("drop"))
                .collect();
            Ok(Sample {
                loop_ns: loop_ns?,
                stats: Some(stats),
                drop_lines,
            })
        }
    }
}

/// Where the benchmark's agent listens.
const AGENT_ADDRESS: &str = "127.0.0.1:7391";

/// The loop under an agent with one client reading everything.
fn agent_sample(sdtrace: &Path, work: &Workload) -> Result<Sample> {
    let agent = Agent::start(sdtrace)?;
    let loop_ns = run_loop(&[], work);
    let (stats, stderr) = agent.stop()?;
    Ok(Sample {
        loop_ns: loop_ns?,
        stats: Some(stats),
        drop_lines: stderr
            .into_iter()
            .filter(|l| l.to_ascii_lowercase().contains("drop"))
            .collect(),
    })
}

/// `sdtrace agent` and one `sdtrace --agent` client reading every syscall,
/// in TLS as agents serve (certificates from `sdtrace cert`), running until
/// [`Agent::stop`].
pub(super) struct Agent {
    agent: Background,
    client: Background,
    certs: PathBuf,
}

impl Agent {
    pub(super) fn start(sdtrace: &Path) -> Result<Self> {
        let certs = std::env::temp_dir().join(format!("sdtrace-bench-tls-{}", std::process::id()));
        let made = Command::new(sdtrace)
            .args(["cert", "--force", "--out"])
            .arg(&certs)
            .output()
            .context("sdtrace cert")?;
        anyhow::ensure!(
            made.status.success(),
            "sdtrace cert: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let mut agent = Command::new(sdtrace);
        agent
            .args([
                "agent",
                "--no-auth",
                "--listen",
                AGENT_ADDRESS,
                "--tls-cert",
            ])
            .arg(certs.join("tls.crt"))
            .arg("--tls-key")
            .arg(certs.join("tls.key"));
        let agent = Background::start(agent, Ready::Stderr("sdtrace: attached"))?;
        let mut client = Command::new(sdtrace);
        client
            .args([
                "--agent",
                AGENT_ADDRESS,
                "--agent-server-name",
                "sdtrace-agent",
                "--agent-ca",
            ])
            .arg(certs.join("ca.crt"));
        match Background::start(client, Ready::Stderr("sdtrace: attached")) {
            Ok(client) => Ok(Self {
                agent,
                client,
                certs,
            }),
            Err(e) => {
                // Left running, the agent would hold the port for the next run.
                let _ = agent.stop();
                let _ = fs::remove_dir_all(&certs);
                Err(e)
            }
        }
    }

    pub(super) fn agent_pid(&self) -> u32 {
        self.agent.pid()
    }

    pub(super) fn client_pid(&self) -> u32 {
        self.client.pid()
    }

    /// Stops the client, then the agent, and returns what the agent's last
    /// line counted (`events`, `sent`, kernel `dropped`, `queue_drops`
    /// from slow clients) with the agent's stderr.
    pub(super) fn stop(self) -> Result<(Value, Vec<String>)> {
        let client = self.client.stop();
        let stderr = self.agent.stop();
        let _ = fs::remove_dir_all(&self.certs);
        client?;
        let stderr = stderr?;
        let last = stderr
            .iter()
            .rev()
            .find(|l| l.contains(" dropped by the kernel "))
            .with_context(|| format!("the agent's last line: {stderr:?}"))?;
        let stats = serde_json::json!({
            "events": count_before(last, " events,"),
            "sent": count_before(last, " sent to clients"),
            "dropped": count_before(last, " dropped by the kernel"),
            "queue_drops": count_before(last, " dropped from slow clients"),
        });
        Ok((stats, stderr))
    }
}

/// The number written just before `phrase` in `line`:
/// `count_before("sdtrace agent: 12 events, ...", " events,")` is 12.
fn count_before(line: &str, phrase: &str) -> Option<u64> {
    let before = &line[..line.find(phrase)?];
    before.split_whitespace().next_back()?.parse().ok()
}

fn wrapped(prefix: &[&str], work: &Workload) -> Result<Sample> {
    let prefix: Vec<OsString> = prefix.iter().map(Into::into).collect();
    Ok(Sample {
        loop_ns: run_loop(&prefix, work)?,
        stats: None,
        drop_lines: vec![],
    })
}

/// Runs the workload (under `prefix`, if any) and parses the ns it prints.
pub(super) fn run_loop(prefix: &[OsString], work: &Workload) -> Result<u64> {
    let argv: Vec<OsString> = prefix.iter().cloned().chain(work.args()).collect();
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null());
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {}", util::describe(&cmd)))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "{} failed: {}: {}",
            util::describe(&cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    stdout
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .with_context(|| {
            format!(
                "no elapsed ns in the output of {}: {stdout:?}",
                util::describe(&cmd)
            )
        })
}

pub(super) enum Ready {
    Stdout(&'static str),
    Stderr(&'static str),
    /// Ready on stderr; stdout is kept in this file.
    StderrStdoutTo(&'static str, PathBuf),
}

/// A system-wide tracer running until [`Background::stop`].
pub(super) struct Background {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<thread::JoinHandle<()>>,
    what: String,
}

impl Background {
    /// Spawns `cmd` and waits until it prints its ready line.
    pub(super) fn start(mut cmd: Command, ready: Ready) -> Result<Self> {
        let what = util::describe(&cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(match &ready {
                Ready::Stdout(_) => Stdio::piped(),
                Ready::Stderr(_) => Stdio::null(),
                Ready::StderrStdoutTo(_, path) => Stdio::from(
                    fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?,
                ),
            })
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let (tx, rx) = mpsc::channel();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        {
            let pipe = child.stderr.take().expect("stderr is piped");
            let lines = Arc::clone(&stderr);
            let marker = match &ready {
                Ready::Stderr(m) | Ready::StderrStdoutTo(m, _) => Some(*m),
                Ready::Stdout(_) => None,
            };
            let tx = tx.clone();
            readers.push(thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if marker.is_some_and(|m| line.trim_end() == m) {
                        let _ = tx.send(());
                    }
                    lines
                        .lock()
                        .expect("no reader panics holding the lock")
                        .push(line);
                }
            }));
        }
        if let (Ready::Stdout(marker), Some(pipe)) = (ready, child.stdout.take()) {
            readers.push(thread::spawn(move || {
                let mut reader = BufReader::with_capacity(1 << 16, pipe);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line.trim_end() == marker {
                        let _ = tx.send(());
                        break;
                    }
                    line.clear();
                }
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
            }));
        } else {
            drop(tx);
        }

        let bg = Self {
            child,
            stderr,
            readers,
            what,
        };
        let why = match rx.recv_timeout(ATTACH_TIMEOUT) {
            Ok(()) => return Ok(bg),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                format!("no ready line within {ATTACH_TIMEOUT:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => "exited before its ready line".to_owned(),
        };
        let what = bg.what.clone();
        let detail = match bg.stop() {
            Ok(stderr) => stderr.join(" / "),
            Err(e) => format!("{e:#}"),
        };
        bail!("{what}: {why}: {detail}")
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGINT, wait, and return its stderr lines; an unclean exit is an error.
    pub(super) fn stop(mut self) -> Result<Vec<String>> {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pids fit in pid_t");
        // SAFETY: kill has no memory-safety preconditions; pid is our child.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                bail!(
                    "{} did not exit within {EXIT_TIMEOUT:?} of SIGINT",
                    self.what
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let stderr = std::mem::take(&mut *self.stderr.lock().expect("readers are done"));
        if !status.success() {
            bail!("{} exited with {status}: {}", self.what, stderr.join(" / "));
        }
        Ok(stderr)
    }
}
