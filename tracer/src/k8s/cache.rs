//! The event path's view of the API: each pod's answer, taken from what the
//! reflector thread published and kept until that changes. Never waits.
//! Every answer it hands out goes through its origin's [`Journal`], so a
//! capture file replays it at the record where the live run first used it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[cfg(feature = "k8s-api")]
use super::reflect::{Shared, Status};
use super::PodInfo;
use crate::journal::Journal;

#[derive(Debug, Default)]
enum Mode {
    /// Answers come only from a capture file's journal.
    #[default]
    Replay,
    /// A live run with no API server to ask.
    Off,
    #[cfg(feature = "k8s-api")]
    Live(Arc<Shared>),
}

#[derive(Debug)]
struct Known {
    /// The reflector's generation this answer was checked against.
    generation: u64,
    info: Option<Arc<PodInfo>>,
}

/// Pod answers by pod key (see [`super::pod_key`]).
#[derive(Debug, Default)]
pub struct PodCache {
    mode: Mode,
    known: HashMap<String, Known>,
    /// Pods not waited for again after the pipeline held their events once.
    given_up: HashSet<String>,
}

impl PodCache {
    /// A cache fed by a reflector thread.
    #[cfg(feature = "k8s-api")]
    pub fn live(shared: Arc<Shared>) -> Self {
        Self {
            mode: Mode::Live(shared),
            ..Self::default()
        }
    }

    /// A live run's cache when no API server is used: never answers.
    pub fn off() -> Self {
        Self {
            mode: Mode::Off,
            ..Self::default()
        }
    }

    /// Whether an API server is asked.
    #[must_use]
    pub fn is_live(&self) -> bool {
        match self.mode {
            Mode::Replay | Mode::Off => false,
            #[cfg(feature = "k8s-api")]
            Mode::Live(_) => true,
        }
    }

    /// The pod's answer as known by now; never waits.
    pub fn get(&mut self, journal: &Journal, key: &str) -> Option<Arc<PodInfo>> {
        let generation = match &self.mode {
            Mode::Off => return None,
            // A replay looks every time: the journal may hold a newer
            // answer from this record on.
            Mode::Replay => u64::MAX,
            #[cfg(feature = "k8s-api")]
            Mode::Live(shared) => {
                // Read before looking, so a change made meanwhile is seen next time.
                let g = shared.generation();
                if let Some(k) = self.known.get(key).filter(|k| k.generation == g) {
                    return k.info.clone();
                }
                g
            }
        };
        let previous = self.known.get(key).and_then(|k| k.info.clone());
        // A new answer only when it differs from the one handed out, so the
        // journal holds each pod's answers once per change.
        let fresh = journal.pod_info(key, || {
            let now = self.ask(key)?;
            (previous.as_deref() != Some(&now)).then_some(now)
        });
        let info = fresh.map(Arc::new).or(previous);
        match self.known.get_mut(key) {
            Some(k) => {
                k.generation = generation;
                k.info.clone_from(&info);
            }
            None => {
                self.known.insert(
                    key.to_owned(),
                    Known {
                        generation,
                        info: info.clone(),
                    },
                );
            }
        }
        info
    }

    /// What the reflector has about the pod now.
    fn ask(&self, key: &str) -> Option<PodInfo> {
        match &self.mode {
            #[cfg(feature = "k8s-api")]
            Mode::Live(shared) => shared.lookup(key),
            _ => {
                let _ = key;
                None
            }
        }
    }

    /// Whether an answer about the pod may still come soon: the API server
    /// is being listed or watched, and the pod was not given up on.
    pub fn may_answer(&self, key: &str) -> bool {
        let asking = match &self.mode {
            #[cfg(feature = "k8s-api")]
            Mode::Live(s) => s.status() != Status::Unreachable,
            _ => false,
        };
        asking && !self.given_up.contains(key)
    }

    /// Stops waiting for the pod (its events show without an answer).
    pub fn give_up(&mut self, key: &str) {
        self.given_up.insert(key.to_owned());
    }
}
