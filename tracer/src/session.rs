//! One way to run a capture, for every mode: a [`Plan`] made once from the
//! command line, a [`Session`] opened from it (the kernel side attached and
//! the process table read after it, or a capture file opened), and
//! [`Session::run`], which drives the pipeline into the mode's sink until a
//! stop condition and returns a [`Report`] of what happened.

use std::path::PathBuf;

use crate::capture::{Capture, CaptureOptions, SyscallSwitch};
use crate::container::{
    cgroups::Mounts,
    meta::{MetaCache, Sockets},
    Containers,
};
use crate::event::clock::Clock;
use crate::filter::Filter;
use crate::k8s::PodCache;
use crate::output::{self, printer::Printer, stats::Stats, tally::Tally};
pub use crate::pipeline::Options;
use crate::pipeline::Pipeline;
pub use crate::remote::records::Agents;
use crate::remote::records::{self, Attachment};
use crate::run::{self, End};
use crate::scap::reader::ScapReader;
use crate::scap::sink::CaptureSink;
use crate::scap::writer::{CaptureInfo, Rotation, ScapWriter};
use crate::sink::Sink;
use crate::state::{ProcFs, ProcessTable, Users};
use tracer_common::arch::Arch;

/// Where a run's records come from.
pub enum Source {
    /// This machine's kernel.
    Live {
        capture: CaptureOptions,
        /// Where to ask the container runtimes.
        sockets: Sockets,
    },
    /// A capture file (`-r`): its state (processes, users, clock, every
    /// `/proc` answer) comes from the file, never from this machine.
    File(PathBuf),
    /// `sdtrace agent`s (`--agent`, `--cluster`): each node's records and
    /// state, as a capture file holds them, merged in time order.
    Agents(Agents),
}

/// `-w`: where matched events are written instead of printed.
pub struct Write {
    pub path: PathBuf,
    pub compress: bool,
    pub rotation: Rotation,
}

/// Asks the Kubernetes API about pods; told whether the filter or format
/// uses a field only the API server knows.
pub type PodSource = Box<dyn FnOnce(bool) -> PodCache>;

/// Everything a run is made from.
pub struct Plan {
    pub source: Source,
    pub filter: Option<Filter>,
    pub options: Options,
    /// `-w` (live only).
    pub write: Option<Write>,
    /// `--containers`: every event's container counted, a table at the end.
    pub tally: bool,
    pub pods: Option<PodSource>,
    /// The node every event happens on (the agent's).
    pub node: Option<String>,
    /// Mute, in the kernel, the cgroups the filter can never match.
    pub muting: bool,
    /// Keep every `/proc` and runtime answer for a reader elsewhere (the
    /// agent's records clients; `-w` does anyway).
    pub journal: bool,
}

impl Plan {
    /// A plan with nothing but its source, filter and options.
    pub fn new(source: Source, filter: Option<Filter>, options: Options) -> Self {
        Self {
            source,
            filter,
            options,
            write: None,
            tally: false,
            pods: None,
            node: None,
            muting: false,
            journal: false,
        }
    }
}

enum Input {
    Live(Box<Capture>),
    File {
        reader: Box<ScapReader>,
        path: PathBuf,
    },
    Agents(Box<Attachment>),
}

/// A capture ready to run.
pub struct Session {
    input: Input,
    pipe: Pipeline,
    options: Options,
}

/// What a run did.
pub struct Report {
    pub end: End,
    pub stats: Stats,
    /// Records the kernel could not write, per CPU (empty for a file).
    pub drops_per_cpu: Vec<u64>,
    /// Whether the events came live (from this machine's kernel, or
    /// agents'), not from a file.
    pub live: bool,
    /// A line per agent: its events and drops.
    pub agents: Vec<String>,
    /// An agent could not be reached, or its stream broke off: the view
    /// lacks that node's events from then on.
    pub agent_lost: bool,
    /// `-w`: the file written last, and how many events went to it.
    pub wrote: Option<(PathBuf, u64)>,
    /// `--containers`' table.
    pub containers: Option<String>,
    /// The mode's sink, for its last words and exit code.
    pub sink: Option<Box<dyn Sink>>,
}

impl Report {
    /// The statistics line for stderr (and a line per agent under it).
    pub fn stats_line(&self) -> String {
        let mut text = self.stats.line(&self.drops_per_cpu);
        for line in &self.agents {
            text.push('\n');
            text.push_str(line);
        }
        text
    }

    /// `--stats-json`.
    pub fn write_stats_json(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.stats.write_json(path, &self.drops_per_cpu)
    }

    /// What the sink wants the user to know at the end.
    pub fn closing_words(&self) -> Option<String> {
        self.sink.as_deref().and_then(Sink::closing_words)
    }

    /// The exit code the sink asks for.
    pub fn exit_code(&self) -> Option<i32> {
        self.sink.as_deref().and_then(Sink::exit_code)
    }

    /// The run's failure after its output: an agent lost on the way.
    ///
    /// # Errors
    /// When an agent was lost.
    pub fn lost_agent(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.agent_lost,
            "an agent was lost (see above): its node's events stop there"
        );
        Ok(())
    }
}

impl Session {
    /// Attaches to the kernel (then reads the processes: one that starts
    /// in between is seen by both, never by neither), or opens the file.
    pub fn open(plan: Plan) -> anyhow::Result<Self> {
        let Plan {
            source,
            filter,
            options,
            write,
            tally,
            pods,
            node,
            muting,
            journal,
        } = plan;
        let (input, mut pipe) = match source {
            Source::Live { capture, sockets } => {
                // `evt.type=open` on arm64 would wait forever for nothing.
                if let Some(f) = &filter {
                    f.check_arch(Arch::HOST)
                        .map_err(|errors| anyhow::anyhow!("{errors}"))?;
                }
                let mut capture = Capture::start(&capture)?;
                let procfs = if write.is_some() || journal {
                    ProcFs::default().journaled()
                } else {
                    ProcFs::default()
                };
                let procs = ProcessTable::bootstrap(procfs)?;
                if let Some(hidden) = crate::state::hidden::check() {
                    eprintln!("{}", hidden.line());
                }
                let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
                let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
                let mut pipe =
                    Pipeline::new(procs, Users::parse(&passwd, &group), filter, &options);
                watch_containers(&mut pipe, &capture, sockets);
                if muting {
                    pipe.set_muter(capture.muter()?);
                }
                if let Some(w) = write {
                    let info = CaptureInfo {
                        sdtrace: env!("CARGO_PKG_VERSION").to_owned(),
                        arch: Arch::HOST,
                        clock: pipe.clock(),
                        passwd,
                        group,
                    };
                    let writer =
                        ScapWriter::create(&w.path, w.compress, w.rotation, info, pipe.procs())
                            .map_err(|e| anyhow::anyhow!("{}: {e}", w.path.display()))?;
                    pipe.set_writer(CaptureSink::new(writer));
                }
                (Input::Live(Box::new(capture)), pipe)
            }
            Source::File(path) => {
                let mut reader = ScapReader::open(&path)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                // An arm64 capture has no `open` either.
                if let Some(f) = &filter {
                    f.check_arch(reader.info.arch)
                        .map_err(|errors| anyhow::anyhow!("{errors}"))?;
                }
                let procs =
                    ProcessTable::restore(ProcFs::replaying(), std::mem::take(&mut reader.start));
                let users = Users::parse(&reader.info.passwd, &reader.info.group);
                let mut pipe = Pipeline::new(procs, users, filter, &options);
                pipe.set_clock(reader.info.clock);
                (
                    Input::File {
                        reader: Box::new(reader),
                        path,
                    },
                    pipe,
                )
            }
            Source::Agents(agents) => {
                let local = Clock::now();
                let (attachment, origins) = records::attach(&agents, &local)?;
                let mut pipe = Pipeline::of_origins(origins, filter, &options);
                pipe.set_clock(local);
                (Input::Agents(Box::new(attachment)), pipe)
            }
        };
        if tally {
            pipe.set_tally(Tally::default());
        }
        if let Some(pods) = pods {
            let wants = pipe.wants_pod();
            pipe.set_pods(pods(wants));
        }
        if let Some(node) = node {
            pipe.set_node(node);
        }
        Ok(Self {
            input,
            pipe,
            options,
        })
    }

    /// The clock the run's times are shown with.
    pub fn clock(&self) -> Clock {
        self.pipe.clock()
    }

    /// Whether the API server's answers about pods are asked for.
    pub fn pods_live(&self) -> bool {
        self.pipe.pods_live()
    }

    /// Reads `pid` from `/proc` now (a child sdtrace started itself: the
    /// kernel side leaves out sdtrace's own forks).
    pub fn load_process(&mut self, pid: u32) {
        self.pipe.load_process(pid);
    }

    /// The handle that changes which syscalls the kernel passes on while
    /// running; `None` for a file, or once taken.
    pub fn syscall_switch(&mut self, kernel_paths: bool) -> anyhow::Result<Option<SyscallSwitch>> {
        match &mut self.input {
            Input::Live(capture) => Ok(capture.syscall_switch(kernel_paths)?),
            Input::File { .. } | Input::Agents(_) => Ok(None),
        }
    }

    /// Runs until a stop condition (the file's end, `-n`, `-M`, Ctrl-C or
    /// SIGTERM, a closed stdout, or `sink` saying it is done), feeding every
    /// event to `sink` — when there is none, to the printer, unless `-w`
    /// writes them — then lets the sinks write what they hold and says what
    /// happened.
    pub fn run(mut self, sink: Option<Box<dyn Sink>>) -> anyhow::Result<Report> {
        match sink {
            Some(sink) => self.pipe.set_sink(sink),
            None if !self.pipe.writes() => self
                .pipe
                .set_sink(Box::new(Printer::new(self.options.format.clone()))),
            None => {}
        }
        let opts = &self.options;
        let pipe = &mut self.pipe;
        let mut agents = Vec::new();
        let mut agent_lost = false;
        let end = match &mut self.input {
            Input::Live(capture) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(run::run(capture, pipe, opts))?
            }
            Input::File { reader, path } => run::replay(reader, pipe, opts)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            Input::Agents(attachment) => {
                let (end, lines, lost) = attachment.run(pipe, opts)?;
                agents = lines;
                agent_lost = lost;
                end
            }
        };
        if end != End::OutputClosed {
            match pipe.finish_sinks().and_then(|()| pipe.flush()) {
                Err(e) if !output::is_broken_pipe(&e) => return Err(e.into()),
                _ => {}
            }
        }
        let wrote = match pipe.take_writer() {
            Some(w) => {
                let path = w.current_path();
                w.finish()
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                Some((path, pipe.stats().results))
            }
            None => None,
        };
        let containers = pipe.containers_table();
        let mut stats = pipe.take_stats();
        let (drops_per_cpu, live) = match &self.input {
            Input::Live(capture) => {
                run::count_kernel(capture, &mut stats);
                (capture.drops_per_cpu(), true)
            }
            Input::File { .. } => (Vec::new(), false),
            Input::Agents(_) => (Vec::new(), true),
        };
        stats.cgroups = pipe.cgroup_counts();
        Ok(Report {
            end,
            stats,
            drops_per_cpu,
            live,
            agents,
            agent_lost,
            wrote,
            containers,
            sink: pipe.take_sink(),
        })
    }
}

/// Events get their containers from the cgroup hierarchies the kernel side
/// reports ids from, and the containers' names from their runtimes.
fn watch_containers(pipe: &mut Pipeline, capture: &Capture, sockets: Sockets) {
    pipe.set_containers(Containers::new(Mounts {
        v2: capture.mounts.v2.clone(),
        v1: capture.mounts.v1.as_ref().map(|(_, path)| path.clone()),
    }));
    if let Some(cri) = sockets.cri.as_ref().filter(|p| !p.exists()) {
        eprintln!(
            "sdtrace: --cri {}: no such socket; containerd and CRI-O containers get no names",
            cri.display()
        );
    }
    pipe.set_metas(MetaCache::asking(sockets));
}

/// A filter from the command line, or a one-line error with its caret.
pub fn parse_filter(text: Option<&str>) -> anyhow::Result<Option<Filter>> {
    match text.filter(|t| !t.trim().is_empty()) {
        Some(text) => Filter::parse(text)
            .map(Some)
            .map_err(|errors| anyhow::anyhow!("{errors}")),
        None => Ok(None),
    }
}
