//! What every live mode sets up the same way: the kernel side attached, the
//! process table read after it, and the pipeline that knows each event's
//! container; and the loop that runs it.

use std::path::{Path, PathBuf};

use crate::capture::{Capture, CaptureOptions};
use crate::container::{
    cgroups::Mounts,
    meta::{MetaCache, Sockets},
    Containers,
};
use crate::filter::Filter;
use crate::run::{self, End, Options, Pipeline};
use crate::scap::reader::ScapReader;
use crate::state::{ProcFs, ProcessTable, Users};

pub struct Live {
    pub capture: Capture,
    pub pipe: Pipeline,
    /// `/etc/passwd` and `/etc/group` as read at the start.
    pub passwd: String,
    pub group: String,
}

/// Attaches with `capture`, then reads the processes (a process that
/// starts in between is seen by both, never by neither). `journaled`: what
/// is read from /proc is kept for a capture file.
pub fn start(
    capture: &CaptureOptions,
    journaled: bool,
    filter: Option<Filter>,
    opts: &Options,
    cri: Option<&PathBuf>,
) -> anyhow::Result<Live> {
    let capture = Capture::start(capture)?;
    let procfs = if journaled {
        ProcFs::default().journaled()
    } else {
        ProcFs::default()
    };
    let procs = ProcessTable::bootstrap(procfs)?;
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let mut pipe = Pipeline::new(procs, Users::parse(&passwd, &group), filter, opts);
    watch_containers(&mut pipe, &capture, cri);
    Ok(Live {
        capture,
        pipe,
        passwd,
        group,
    })
}

/// Events get their containers from the cgroup hierarchies the kernel side
/// reports ids from, and the containers' names from their runtimes.
fn watch_containers(pipe: &mut Pipeline, capture: &Capture, cri: Option<&PathBuf>) {
    pipe.containers = Containers::new(Mounts {
        v2: capture.mounts.v2.clone(),
        v1: capture.mounts.v1.as_ref().map(|(_, path)| path.clone()),
    });
    if let Some(cri) = cri.filter(|p| !p.exists()) {
        eprintln!(
            "sdtrace: --cri {}: no such socket; containerd and CRI-O containers get no names",
            cri.display()
        );
    }
    pipe.metas = MetaCache::asking(Sockets { cri: cri.cloned() });
}

impl Live {
    /// Runs the capture loop until a stop condition.
    pub fn run(&mut self, opts: &Options) -> anyhow::Result<End> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(run::run(&mut self.capture, &mut self.pipe, opts))
    }
}

/// `-r`: the pipeline fed from a capture file; its state (processes,
/// users, clock, every `/proc` answer) comes from the file, never from
/// this machine.
pub fn open_capture(
    path: &Path,
    filter: Option<Filter>,
    opts: &Options,
) -> anyhow::Result<(ScapReader, Pipeline)> {
    let mut reader =
        ScapReader::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let procs = ProcessTable::restore(ProcFs::replaying(), std::mem::take(&mut reader.start));
    let users = Users::parse(&reader.info.passwd, &reader.info.group);
    let mut pipe = Pipeline::new(procs, users, filter, opts);
    pipe.clock = reader.info.clock;
    Ok((reader, pipe))
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
