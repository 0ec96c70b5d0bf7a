//! The journal of every answer a run got from outside the kernel: `/proc`,
//! cgroupfs, container runtimes, the Kubernetes API server.
//!
//! Live, a journal can record the answers as they are given: `-w` writes
//! them beside the records that used them, and an agent sends them to its
//! records clients. Replaying (a capture file, an agent's node), it gives
//! them back instead of asking, each query's in the order given, so
//! processes, fds, containers and pods resolve exactly as they did live,
//! whatever the reading machine holds. Each origin of records owns one,
//! shared with the `/proc` reader of its process table.

mod answer;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

pub(crate) use answer::Query;
pub use answer::{Answer, ContainerMeta, MountInfo, PodInfo, Snapshot};

/// The answers of one origin.
#[derive(Debug, Default)]
pub struct Journal {
    /// Replaying: the answers not yet asked for, each query's in order.
    replay: Option<RefCell<HashMap<Query, VecDeque<Answer>>>>,
    /// Recording: what was given.
    recording: Option<RefCell<Recording>>,
}

/// What a recording journal keeps.
#[derive(Debug, Default)]
struct Recording {
    /// Answers not yet taken, oldest first.
    given: Vec<Answer>,
    /// The latest answer about each cgroup, container and pod. Caches keep
    /// these and never ask again, so a reader that starts later (a rotated
    /// file, an agent's new client) needs them again; what processes and
    /// fds were is in the process table it starts from.
    lasting: HashMap<Query, Answer>,
}

impl Journal {
    /// Asks the live sources and keeps nothing.
    #[must_use]
    pub fn off() -> Self {
        Self::default()
    }

    /// Asks the live sources and keeps every answer.
    #[must_use]
    pub fn recording() -> Self {
        Self {
            recording: Some(RefCell::default()),
            ..Self::default()
        }
    }

    /// Never asks: gives back what [`Journal::replay`] queued; a query
    /// with no answer left finds nothing.
    #[must_use]
    pub fn replaying() -> Self {
        Self {
            replay: Some(RefCell::default()),
            ..Self::default()
        }
    }

    #[must_use]
    pub fn is_replay(&self) -> bool {
        self.replay.is_some()
    }

    /// Queues answers for a replaying journal; a live one ignores them.
    pub fn replay(&self, answers: impl IntoIterator<Item = Answer>) {
        if let Some(replay) = &self.replay {
            let mut replay = replay.borrow_mut();
            for a in answers {
                replay.entry(a.query()).or_default().push_back(a);
            }
        }
    }

    /// The answers given since the last call, oldest first.
    pub fn take(&self) -> Vec<Answer> {
        self.recording
            .as_ref()
            .map(|r| std::mem::take(&mut r.borrow_mut().given))
            .unwrap_or_default()
    }

    /// The latest answer about every cgroup, container and pod asked about
    /// so far (recording only): what a reader starting now needs besides
    /// the process table.
    pub fn lasting(&self) -> Vec<Answer> {
        self.recording
            .as_ref()
            .map(|r| r.borrow().lasting.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The next queued answer to `query` on a replay (`Some(None)`: none
    /// is left); `None` live, where the source is to be asked.
    pub(crate) fn replayed(&self, query: Query) -> Option<Option<Answer>> {
        let replay = self.replay.as_ref()?;
        Some(
            replay
                .borrow_mut()
                .get_mut(&query)
                .and_then(VecDeque::pop_front),
        )
    }

    /// Keeps `answer`, when recording.
    pub(crate) fn record(&self, answer: &Answer) {
        let Some(recording) = &self.recording else {
            return;
        };
        let mut r = recording.borrow_mut();
        if matches!(
            answer,
            Answer::Cgroup { .. } | Answer::ContainerMeta { .. } | Answer::PodInfo { .. }
        ) {
            r.lasting.insert(answer.query(), answer.clone());
        }
        r.given.push(answer.clone());
    }

    /// The path of cgroup `id`: the queued answer on a replay, else what
    /// `live` finds in this machine's cgroupfs; recorded.
    pub fn cgroup_path(
        &self,
        id: u64,
        v1: bool,
        live: impl FnOnce() -> Option<String>,
    ) -> Option<String> {
        let path = match self.replayed(Query::Cgroup(id, v1)) {
            Some(Some(Answer::Cgroup { path, .. })) => path,
            Some(_) => None,
            None => live(),
        };
        self.record(&Answer::Cgroup {
            id,
            v1,
            path: path.clone(),
        });
        path
    }

    /// Container `id`'s metadata: on a replay, once the journal has it;
    /// live, whenever `live` (which never waits) has it, recorded once.
    pub fn container_meta(
        &self,
        id: &str,
        live: impl FnOnce() -> Option<ContainerMeta>,
    ) -> Option<ContainerMeta> {
        let meta = match self.replayed(Query::ContainerMeta(id.to_owned())) {
            Some(Some(Answer::ContainerMeta { meta, .. })) => Some(meta),
            Some(_) => None,
            None => live(),
        };
        if let Some(meta) = &meta {
            self.record(&Answer::ContainerMeta {
                id: id.to_owned(),
                meta: meta.clone(),
            });
        }
        meta
    }

    /// A newer answer about pod `key`: on a replay, the journal's next one
    /// once the capture reached it; live, what `live` (which never waits)
    /// returns, recorded.
    pub fn pod_info(&self, key: &str, live: impl FnOnce() -> Option<PodInfo>) -> Option<PodInfo> {
        let info = match self.replayed(Query::PodInfo(key.to_owned())) {
            Some(Some(Answer::PodInfo { info, .. })) => Some(info),
            Some(_) => None,
            None => live(),
        };
        if let Some(info) = &info {
            self.record(&Answer::PodInfo {
                key: key.to_owned(),
                info: info.clone(),
            });
        }
        info
    }
}
