//! The live view's link to the aggregation: the UI thread sends what to
//! show and reads the latest snapshot; the capture loop never waits on the
//! UI (it publishes by replacing one value, and polls commands without
//! blocking), so a slow terminal cannot make the kernel side drop events.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};

use super::table::{Snapshot, View};

/// What the UI asks of the aggregation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Show `view` of the events that match `filter` (the user's filter and
    /// the drill-down clauses, joined with `and`; already checked by the UI
    /// with `Filter::parse`). Its numbers start afresh.
    Show { view: View, filter: Option<String> },
    /// Stop (or resume) updating the snapshot; events keep flowing.
    Pause(bool),
}

/// The UI's end.
#[derive(Clone)]
pub struct UiEnd {
    latest: Arc<Mutex<Option<Snapshot>>>,
    commands: Sender<Command>,
}

/// The aggregation's end.
pub struct LoopEnd {
    latest: Arc<Mutex<Option<Snapshot>>>,
    commands: Receiver<Command>,
}

#[must_use]
pub fn link() -> (UiEnd, LoopEnd) {
    let latest = Arc::new(Mutex::new(None));
    let (tx, rx) = mpsc::channel();
    (
        UiEnd {
            latest: Arc::clone(&latest),
            commands: tx,
        },
        LoopEnd {
            latest,
            commands: rx,
        },
    )
}

impl UiEnd {
    /// The newest snapshot, if one came since the last call.
    #[must_use]
    pub fn take(&self) -> Option<Snapshot> {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Whether the loop is still there to hear it.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }
}

impl LoopEnd {
    /// Replaces the published snapshot (the UI only ever wants the newest).
    pub fn publish(&self, snapshot: Snapshot) {
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(snapshot);
    }

    /// The next command, without waiting; `Err(())` once the UI is gone.
    #[expect(
        clippy::result_unit_err,
        reason = "the only error is that the UI is gone; there is nothing to say"
    )]
    pub fn poll(&self) -> Result<Option<Command>, ()> {
        match self.commands.try_recv() {
            Ok(c) => Ok(Some(c)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(()),
        }
    }
}
