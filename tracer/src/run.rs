//! The loops that feed the pipeline. Live: drain the ring buffer every few
//! milliseconds and hand its records, in time order, to the pipeline; tell
//! the sinks how the loop is doing; stop cleanly on Ctrl-C, SIGTERM, `-n`,
//! `-M`, a closed stdout, or a sink that is done. And the same pipeline fed
//! from a capture file (`-r`).

use std::io;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};

use crate::capture::order::Reorder;
use crate::capture::Capture;
use crate::decode::decode;
use crate::output::{self, stats::Stats};
use crate::pipeline::{Options, Pipeline};
use crate::scap::reader::ScapReader;
use crate::sink::LoopStats;
use crate::sys::clock::boot_ns;

/// How long the loop sleeps when the ring buffer is empty. The kernel side
/// submits without wakeups (a wakeup per event costs more than the event),
/// so userspace polls; a few ms of buffering is far below the ring's capacity.
const POLL: Duration = Duration::from_millis(2);

/// Why the loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    Signal,
    /// The capture file was read to its end.
    EndOfFile,
    Count,
    Duration,
    /// stdout was closed by its reader.
    OutputClosed,
    /// The mode's sink finished on its own (`follow -- COMMAND`: the
    /// command exited and its traces are done).
    SinkDone,
    /// Every agent's stream ended.
    AgentsGone,
}

/// How often a sink is told the loop's statistics (a map read per CPU).
const LOOP_STATS_EVERY: Duration = Duration::from_millis(250);

/// Runs until a stop condition; returns why it stopped.
pub async fn run(
    capture: &mut Capture,
    pipe: &mut Pipeline,
    opts: &Options,
) -> anyhow::Result<End> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let started = Instant::now();
    let mut last_stats = Instant::now();
    let mut last_loop_stats = Instant::now();
    let mut order = Reorder::default();
    eprintln!("sdtrace: attached");
    loop {
        match drain(capture, &mut order, pipe, opts.count, settled()) {
            Ok(Some(end)) => return Ok(end),
            Ok(None) => {}
            Err(e) if output::is_broken_pipe(&e) => return Ok(End::OutputClosed),
            Err(e) => return Err(e.into()),
        }
        if pipe.sink_done() {
            return last_drain(capture, &mut order, pipe, opts.count, End::SinkDone).await;
        }
        if opts.duration.is_some_and(|d| started.elapsed() >= d) {
            return last_drain(capture, &mut order, pipe, opts.count, End::Duration).await;
        }
        if last_loop_stats.elapsed() >= LOOP_STATS_EVERY {
            last_loop_stats = Instant::now();
            let counted = pipe.stats_mut();
            count_kernel(capture, counted);
            let stats = LoopStats {
                drops_per_cpu: capture.drops_per_cpu(),
                events: counted.events,
                decode_errors: counted.decode_errors + order.malformed,
                kernel_misses: counted.kernel_misses,
                ring_backlog_peak: std::mem::take(&mut order.backlog_peak),
                ring_size: u64::from(capture.ring_size),
            };
            pipe.loop_stats(&stats);
        }
        if let Some(every) = opts.stats_interval {
            if last_stats.elapsed() >= every {
                last_stats = Instant::now();
                let counted = pipe.stats_mut();
                count_kernel(capture, counted);
                counted.decode_errors += std::mem::take(&mut order.malformed);
                eprintln!("{}", counted.line(&capture.drops_per_cpu()));
            }
        }
        tokio::select! {
            _ = sigint.recv() => return last_drain(capture, &mut order, pipe, opts.count, End::Signal).await,
            _ = sigterm.recv() => return last_drain(capture, &mut order, pipe, opts.count, End::Signal).await,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Brings the kernel's own counters into `stats`: program runs it skipped,
/// and records written without their captures.
pub fn count_kernel(capture: &Capture, stats: &mut Stats) {
    stats.kernel_misses = capture.kernel_misses();
    stats.stage_misses = capture.stage_misses();
}

/// How long the kernel may hold a record in a per-CPU batch (until a quiet
/// CPU's batch is flushed, plus a poll, with margin): records are released
/// in time order once they are this old. Before stopping, syscalls under way
/// get this long to return, then every batch is flushed, so nothing already
/// captured is lost.
const BATCH_LINGER: Duration = Duration::from_millis(25);

/// Records at or before this kernel time can no longer be overtaken.
fn settled() -> u64 {
    boot_ns().saturating_sub(BATCH_LINGER.as_nanos() as u64)
}

/// Waits for the kernel's batches to be written, then handles what is left.
async fn last_drain(
    capture: &mut Capture,
    order: &mut Reorder,
    pipe: &mut Pipeline,
    count: Option<u64>,
    end: End,
) -> anyhow::Result<End> {
    tokio::time::sleep(BATCH_LINGER).await;
    capture.flush_all();
    let result = drain(capture, order, pipe, count, u64::MAX);
    pipe.stats_mut().decode_errors += std::mem::take(&mut order.malformed);
    match result {
        Ok(Some(e)) => Ok(e),
        Ok(None) => Ok(end),
        Err(e) if output::is_broken_pipe(&e) => Ok(End::OutputClosed),
        Err(e) => Err(e.into()),
    }
}

/// Queues everything in the ring buffer, then handles, in time order, what
/// is older than `watermark`; stops early at the `-n` limit.
fn drain(
    capture: &mut Capture,
    order: &mut Reorder,
    pipe: &mut Pipeline,
    count: Option<u64>,
    watermark: u64,
) -> io::Result<Option<End>> {
    capture.flush_waiting();
    let mut backlog = 0;
    while let Some(item) = capture.ring.next() {
        backlog += item.len() as u64;
        order.push(&item);
    }
    order.backlog_peak = order.backlog_peak.max(backlog);
    // The last drain lets nothing wait any longer.
    if pipe.release_held(watermark == u64::MAX, count)? {
        pipe.flush()?;
        return Ok(Some(End::Count));
    }
    let mut reached = order.release(watermark, |record| {
        let printed = pipe.handle(record)?;
        Ok::<bool, io::Error>(printed && count.is_some_and(|n| pipe.stats().results >= n))
    })?;
    if !reached && watermark != u64::MAX && pipe.write_ready(Some(watermark))? {
        reached = count.is_some_and(|n| pipe.stats().results >= n);
    }
    if watermark == u64::MAX && !reached {
        reached = pipe.release_held(true, count)?;
    }
    pipe.flush()?;
    Ok(reached.then_some(End::Count))
}

/// `-r`: handles every record of a capture file, in order; stops at `-n`
/// or once `-M` seconds of capture time have been read. A corrupt or
/// truncated file is read up to its last good block, then the error says
/// where it stops.
pub fn replay(reader: &mut ScapReader, pipe: &mut Pipeline, opts: &Options) -> anyhow::Result<End> {
    let mut first_ts = None;
    let result = loop {
        let item = match reader.next_item(pipe.journal()) {
            Ok(Some(item)) => item,
            Ok(None) => break Ok(End::EndOfFile),
            Err(e) => break Err(anyhow::anyhow!("{e} (after {} records)", reader.records)),
        };
        match item.first_event {
            Some(n) => pipe.number_from(n),
            None => pipe.skip_events(item.internal_events),
        }
        let (bytes, shown) = (item.bytes, item.shown);
        if let (Some(limit), Ok(rec)) = (opts.duration, decode(bytes)) {
            let start = *first_ts.get_or_insert(rec.hdr.ts_ns);
            if rec.hdr.ts_ns.saturating_sub(start) > limit.as_nanos() as u64 {
                break Ok(End::Duration);
            }
        }
        match pipe.handle_record(bytes, shown) {
            Ok(printed) if printed && opts.count.is_some_and(|n| pipe.stats().results >= n) => {
                break Ok(End::Count)
            }
            Ok(_) => {}
            Err(e) if output::is_broken_pipe(&e) => return Ok(End::OutputClosed),
            Err(e) => return Err(e.into()),
        }
    };
    let undecoded = reader.undecoded();
    if !undecoded.is_empty() {
        let total: u64 = undecoded.iter().map(|(_, n)| n).sum();
        let kinds: Vec<String> = undecoded.iter().map(|(k, n)| format!("{k} {n}")).collect();
        eprintln!(
            "sdtrace: {total} events of kinds sdtrace does not decode were not shown: {}",
            kinds.join(", ")
        );
    }
    match pipe.flush() {
        Err(e) if output::is_broken_pipe(&e) => Ok(End::OutputClosed),
        Err(e) => Err(e.into()),
        Ok(()) => result,
    }
}
