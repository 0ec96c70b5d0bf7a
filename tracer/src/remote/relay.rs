//! The attached streams, through the merge, to a [`Consumer`] (stdout, or
//! a records client's pipeline): until every agent is gone, the consumer
//! has had enough (`-n`, a closed stdout, the mode ended), `-M` is up, or
//! Ctrl-C or SIGTERM comes; then what the merge still holds goes too, and
//! there is a line per agent.

use std::io;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use super::connect::causes;
use super::merge::{Merge, Released};
use super::stream::{Attached, Message, Said};
use super::tally::Tally;

/// Frames in flight from the readers to the merge. When printing falls
/// behind, the readers wait, the connections' windows fill, and the
/// agents drop our events and say so in their marks: a slow client is
/// told, rather than growing without bound.
const IN_FLIGHT: usize = 4096;

/// Frames taken at once before the merge is asked what may go.
const BATCH: usize = 256;

/// Why the consumer stopped before the merge ran out.
#[derive(Debug)]
pub enum Halt {
    /// `-n` results are out.
    Enough,
    /// Nobody reads stdout any more: a normal end (`| head`).
    Closed,
    /// The mode's sink ended on its own (the live view was closed).
    Done,
    Failed(io::Error),
}

/// Where released events go.
pub trait Consumer {
    /// The events let out of the merge, in time order; `tallies[r.stream]`
    /// is each one's agent.
    fn take(&mut self, released: Vec<Released>, tallies: &[Tally]) -> Result<(), Halt>;
    /// Once a turn, after [`Consumer::take`]: every stream has promised
    /// nothing older than `bound` (agents' wall-clock ns) will follow.
    fn turn(&mut self, _bound: Option<u64>) -> Result<(), Halt> {
        Ok(())
    }
}

/// How a relay ended.
pub struct Relayed {
    /// Why the consumer stopped early, if it did.
    pub halted: Option<Halt>,
    /// Whether an agent was lost on the way (or before).
    pub lost: bool,
    /// Whether every agent's stream ended.
    pub ended: bool,
    /// A line per agent: its events and drops.
    pub summaries: Vec<String>,
}

/// The streams' state as their frames come in.
struct Streams<'s> {
    merge: Merge,
    /// Where the lines about the agents go (stderr, in sdtrace).
    say: &'s dyn Fn(&str),
    tallies: Vec<Tally>,
    /// Whether an agent was lost (its stream broke off without a bye).
    lost: bool,
}

impl Streams<'_> {
    /// A frame that arrived at `now`.
    fn take(&mut self, message: Message, now: Instant) {
        let i = message.stream;
        let why = match message.said {
            Said::Event { ts, line } => {
                self.tallies[i].events += 1;
                self.merge.event(i, ts, line, now);
                return;
            }
            Said::Mark {
                ts,
                kernel_drops,
                queue_drops,
            } => {
                self.merge.mark(i, ts, now);
                for line in self.tallies[i].mark(kernel_drops, queue_drops, now) {
                    (self.say)(&line);
                }
                return;
            }
            Said::Bye(reason) => format!("the agent ended the stream: {reason}"),
            Said::Closed => {
                self.lost = true;
                "the agent's stream closed without a bye".to_owned()
            }
            Said::Failed(e) => {
                self.lost = true;
                format!("disconnected: {}", causes(&e))
            }
        };
        (self.say)(&format!("sdtrace: {}: {why}", self.tallies[i].node));
        self.merge.end(i);
    }
}

/// Feeds `consumer` until the end (or `duration`), saying what happens to
/// the agents through `say` (`lost_before`: one was lost at attach time).
pub async fn relay(
    attached: Vec<Attached>,
    duration: Option<Duration>,
    lost_before: bool,
    consumer: &mut impl Consumer,
    say: &dyn Fn(&str),
) -> anyhow::Result<Relayed> {
    let start = Instant::now();
    let (to_merge, mut from_streams) = mpsc::channel(IN_FLIGHT);
    let mut streams = Streams {
        merge: Merge::new(attached.len(), start),
        say,
        tallies: attached.iter().map(|a| Tally::new(&a.node)).collect(),
        lost: lost_before,
    };
    for (i, stream) in attached.into_iter().enumerate() {
        tokio::spawn(stream.pump(i, to_merge.clone()));
    }
    drop(to_merge);
    let mut sigterm = signal(SignalKind::terminate())?;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let deadline = duration.map(|d| tokio::time::Instant::from_std(start + d));

    let halted = loop {
        let now = Instant::now();
        let taken = consumer
            .take(streams.merge.ready(now), &streams.tallies)
            .and_then(|()| consumer.turn(streams.merge.bound(now)));
        if let Err(h) = taken {
            break Some(h);
        }
        if streams.merge.is_done() {
            break None;
        }
        let wake = streams
            .merge
            .wake_at(now)
            .map(tokio::time::Instant::from_std);
        tokio::select! {
            biased;
            _ = &mut ctrl_c => break None,
            _ = sigterm.recv() => break None,
            () = sleep_until(deadline) => break None,
            () = sleep_until(wake) => {}
            message = from_streams.recv() => {
                let Some(message) = message else {
                    // Every reader is gone: each said its last word first.
                    for i in 0..streams.tallies.len() {
                        streams.merge.end(i);
                    }
                    continue;
                };
                let now = Instant::now();
                streams.take(message, now);
                for _ in 1..BATCH {
                    match from_streams.try_recv() {
                        Ok(message) => streams.take(message, now),
                        Err(_) => break,
                    }
                }
            }
        }
    };
    let ended = halted.is_none() && streams.merge.is_done();
    let halted = match halted {
        None => consumer
            .take(streams.merge.drain(), &streams.tallies)
            .and_then(|()| consumer.turn(None))
            .err(),
        some => some,
    };
    Ok(Relayed {
        halted,
        lost: streams.lost,
        ended,
        summaries: streams.tallies.iter().map(Tally::summary).collect(),
    })
}

/// Sleeps until `at`, or forever when there is none.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
