//! Container metadata without waiting for it: the first event of a new
//! container asks a background thread, which asks the runtime's socket;
//! later events find the answer cached. Answers go through [`ProcFs`]'s
//! journal, so a capture file replays them where the live run used them.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::classify::{ContainerRef, Runtime};
use super::docker::{self, Meta};
use crate::state::ProcFs;

/// How long one question to a runtime may take.
const TIMEOUT: Duration = Duration::from_secs(2);

type Answers = Arc<Mutex<HashMap<String, Meta>>>;

#[derive(Debug, Default)]
pub struct MetaCache {
    /// Questions for the background thread: (socket, full id).
    ask: Option<mpsc::Sender<(PathBuf, String)>>,
    answers: Answers,
    /// Answers already handed out (and journaled).
    known: HashMap<String, Arc<Meta>>,
    asked: HashSet<String>,
    /// Containers whose runtime did not answer in time: not waited for again.
    given_up: HashSet<String>,
}

/// The socket of the runtime that created a container, as its API is
/// Docker's: Docker's own, or podman's compatible one.
fn socket(runtime: Runtime) -> Option<PathBuf> {
    let candidates: &[&str] = match runtime {
        Runtime::Docker => &["/var/run/docker.sock", "/run/docker.sock"],
        Runtime::Podman => &["/run/podman/podman.sock"],
        // containerd and CRI-O speak CRI (gRPC): not asked yet.
        Runtime::Containerd | Runtime::CriO => &[],
    };
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

impl MetaCache {
    /// A cache that asks runtimes (live runs); the default only replays.
    pub fn asking() -> Self {
        let (tx, rx) = mpsc::channel::<(PathBuf, String)>();
        let answers = Answers::default();
        let sink = Arc::clone(&answers);
        thread::Builder::new()
            .name("sdtrace-meta".into())
            .spawn(move || {
                for (sock, id) in rx {
                    match docker::inspect(&sock, &id, TIMEOUT) {
                        Ok(meta) => {
                            sink.lock()
                                .expect("no panics under the lock")
                                .insert(id, meta);
                        }
                        Err(e) => log::debug!("no metadata for container {id}: {e}"),
                    }
                }
            })
            .expect("spawn the metadata thread");
        Self {
            ask: Some(tx),
            answers,
            ..Self::default()
        }
    }

    /// Whether an answer about `c` may still come: its runtime can be asked
    /// and has not been given up on.
    pub fn may_answer(&self, c: &ContainerRef) -> bool {
        self.ask.is_some() && !self.given_up.contains(&c.id) && socket(c.runtime).is_some()
    }

    /// Stops waiting for an answer about `c` (events show it without one).
    pub fn give_up(&mut self, c: &ContainerRef) {
        self.given_up.insert(c.id.clone());
    }

    /// The container's metadata if known by now; never waits.
    pub fn get(&mut self, procfs: &ProcFs, c: &ContainerRef) -> Option<Arc<Meta>> {
        if let Some(m) = self.known.get(&c.id) {
            return Some(Arc::clone(m));
        }
        let meta = procfs.container_meta(&c.id, || {
            if let Some(m) = self.answers.lock().ok()?.get(&c.id) {
                return Some(m.clone());
            }
            if self.asked.insert(c.id.clone()) {
                if let (Some(ask), Some(sock)) = (&self.ask, socket(c.runtime)) {
                    let _ = ask.send((sock, c.id.clone()));
                }
            }
            None
        })?;
        let meta = Arc::new(meta);
        self.known.insert(c.id.clone(), Arc::clone(&meta));
        Some(meta)
    }
}
