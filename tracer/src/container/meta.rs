//! Container metadata without waiting for it: the first event of a new
//! container asks a background thread, which asks the runtime's socket;
//! later events find the answer cached. Answers go through its origin's [`Journal`]
//! journal, so a capture file replays them where the live run used them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::asker::{Asker, Question, TIMEOUT};
use super::classify::{ContainerRef, Runtime};
use super::cri::Cri;
use super::docker::{self, Meta};
use crate::journal::Journal;

/// How long the event watcher waits before reconnecting to a runtime that
/// closed its stream (restarted) or is not up yet.
const RECONNECT: Duration = Duration::from_secs(2);

/// Answers learned from events but not yet used are dropped after this
/// long, once there are many: a busy host's containers that never ran a
/// traced syscall must not grow the map for the whole run.
const KEEP: Duration = Duration::from_secs(600);
const PRUNE_AT: usize = 1024;

/// What the background threads learned, for the pipeline to pick up.
#[derive(Debug, Default)]
pub(super) struct Learned {
    /// By full id, with when it was learned.
    pub(super) metas: HashMap<String, (Instant, Meta)>,
    /// Containers their runtime could not tell about: their events need not
    /// wait any longer.
    pub(super) unknown: HashSet<String>,
}

impl Learned {
    fn insert(&mut self, id: String, meta: Meta) {
        if self.metas.len() >= PRUNE_AT {
            self.metas.retain(|_, (at, _)| at.elapsed() < KEEP);
        }
        self.unknown.remove(&id);
        self.metas.insert(id, (Instant::now(), meta));
    }
}

pub(super) type Answers = Arc<Mutex<Learned>>;

/// Records what a thread learned about `id`.
pub(super) fn learn(sink: &Answers, id: String, meta: Meta) {
    sink.lock()
        .expect("no panics under the lock")
        .insert(id, meta);
}

/// Records that `id`'s runtime cannot tell about it (for now: an answer
/// learned later still counts), so its events need not wait.
pub(super) fn cannot_tell(sink: &Answers, id: String) {
    sink.lock()
        .expect("no panics under the lock")
        .unknown
        .insert(id);
}

/// A runtime's socket and the API it speaks there.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// The Docker Engine API: Docker's, or podman's compatible one.
    Docker(PathBuf),
    /// The Kubernetes CRI: containerd's, CRI-O's.
    Cri(PathBuf),
}

impl Source {
    pub fn path(&self) -> &Path {
        match self {
            Source::Docker(p) | Source::Cri(p) => p,
        }
    }
}

/// Where to find each runtime's socket.
#[derive(Clone, Debug, Default)]
pub struct Sockets {
    /// `--cri`: the CRI socket of containerd and CRI-O containers alike.
    pub cri: Option<PathBuf>,
    /// `--docker-socket`: the Docker Engine API socket of Docker containers.
    pub docker: Option<PathBuf>,
}

impl Sockets {
    /// The CRI sockets there are now: `--cri`'s, or containerd's and CRI-O's.
    fn cri_sockets(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for runtime in [Runtime::Containerd, Runtime::CriO] {
            if let Some(Source::Cri(path)) = self.source(runtime) {
                if !found.contains(&path) {
                    found.push(path);
                }
            }
        }
        found
    }

    /// The source that can name a container of `runtime`, when its socket is there.
    pub fn source(&self, runtime: Runtime) -> Option<Source> {
        let candidates: &[&str] = match runtime {
            // Named by the user: asked even while its file is missing (a
            // stopped engine removes it), so that is noticed and said.
            Runtime::Docker if self.docker.is_some() => {
                return self.docker.clone().map(Source::Docker);
            }
            Runtime::Docker => &["/var/run/docker.sock", "/run/docker.sock"],
            Runtime::Podman => &["/run/podman/podman.sock"],
            Runtime::Containerd | Runtime::CriO if self.cri.is_some() => {
                return self.cri.clone().filter(|p| p.exists()).map(Source::Cri);
            }
            Runtime::Containerd => &["/run/containerd/containerd.sock"],
            Runtime::CriO => &["/var/run/crio/crio.sock", "/run/crio/crio.sock"],
        };
        let path = candidates.iter().map(PathBuf::from).find(|p| p.exists())?;
        Some(match runtime {
            Runtime::Docker | Runtime::Podman => Source::Docker(path),
            Runtime::Containerd | Runtime::CriO => Source::Cri(path),
        })
    }
}

#[derive(Debug, Default)]
pub struct MetaCache {
    sockets: Sockets,
    /// Questions for the background thread.
    ask: Option<mpsc::Sender<Question>>,
    answers: Answers,
    /// Answers already handed out (and journaled).
    known: HashMap<String, Arc<Meta>>,
    asked: HashSet<String>,
    /// Containers whose runtime did not answer in time: not waited for again.
    given_up: HashSet<String>,
}

impl MetaCache {
    /// A cache that asks runtimes (live runs); the default only replays.
    /// Besides answering questions, it follows Docker's event stream, so a
    /// container's metadata is usually known before its first event needs it.
    pub fn asking(sockets: Sockets) -> Self {
        let (tx, rx) = mpsc::channel::<Question>();
        let answers = Answers::default();
        let sink = Arc::clone(&answers);
        let asker = Asker::new(sockets.clone());
        thread::Builder::new()
            .name("sdtrace-meta".into())
            .spawn(move || asker.run(&rx, &sink))
            .expect("spawn the metadata thread");
        let sink = Arc::clone(&answers);
        let docker = sockets.clone();
        thread::Builder::new()
            .name("sdtrace-docker-events".into())
            .spawn(move || follow_docker(&docker, &sink))
            .expect("spawn the Docker events thread");
        for path in sockets.cri_sockets() {
            let sink = Arc::clone(&answers);
            thread::Builder::new()
                .name("sdtrace-cri-events".into())
                .spawn(move || follow_cri(&path, &sink))
                .expect("spawn the CRI events thread");
        }
        Self {
            sockets,
            ask: Some(tx),
            answers,
            ..Self::default()
        }
    }

    /// Whether an answer about `c` may still come: none came yet, its
    /// runtime can be asked, has not said it cannot tell, and has not been
    /// given up on. (Cheapest checks first: this runs for every event whose
    /// output needs a container's metadata.)
    pub fn may_answer(&self, c: &ContainerRef) -> bool {
        self.ask.is_some()
            && !self.known.contains_key(&c.id)
            && !self.given_up.contains(&c.id)
            && self
                .answers
                .lock()
                .is_ok_and(|a| !a.unknown.contains(&c.id))
            && self.sockets.source(c.runtime).is_some()
    }

    /// Forgets container `id` (its cgroup was removed).
    pub fn forget(&mut self, id: &str) {
        self.known.remove(id);
        self.asked.remove(id);
        self.given_up.remove(id);
    }

    /// Stops waiting for an answer about `c` (events show it without one).
    pub fn give_up(&mut self, c: &ContainerRef) {
        self.given_up.insert(c.id.clone());
    }

    /// The container's metadata if known by now; never waits.
    pub fn get(&mut self, journal: &Journal, c: &ContainerRef) -> Option<Arc<Meta>> {
        if let Some(m) = self.known.get(&c.id) {
            return Some(Arc::clone(m));
        }
        let meta = journal.container_meta(&c.id, || {
            // Taken out: from now on `known` holds it.
            if let Some((_, m)) = self.answers.lock().ok()?.metas.remove(&c.id) {
                return Some(m);
            }
            // Asked once: the question thread asks again by itself while
            // the runtime is away or its socket not there yet.
            if self.asked.insert(c.id.clone()) {
                if let Some(ask) = &self.ask {
                    let _ = ask.send((c.runtime, c.id.clone()));
                }
            }
            None
        })?;
        let meta = Arc::new(meta);
        self.known.insert(c.id.clone(), Arc::clone(&meta));
        Some(meta)
    }
}

/// Docker's `/events`, for as long as sdtrace runs: each container created
/// or started is inspected at once, on this thread (the question thread may
/// be busy), and its answer waits in `sink` for the container's first event.
/// At `create` it has its name, image, labels and mounts; at `start` also
/// its IP, so the later answer replaces the earlier one if no event used it.
/// A Docker that starts after sdtrace is followed from then on.
fn follow_docker(sockets: &Sockets, sink: &Answers) {
    loop {
        let Some(Source::Docker(sock)) = sockets.source(Runtime::Docker) else {
            thread::sleep(RECONNECT);
            continue;
        };
        let sock = sock.as_path();
        let result = docker::watch(sock, TIMEOUT, |id| {
            if let Ok(meta) = docker::inspect(sock, &id, TIMEOUT) {
                learn(sink, id, meta);
            }
        });
        if let Err(e) = result {
            log::debug!("Docker events from {}: {e}", sock.display());
        }
        thread::sleep(RECONNECT);
    }
}

/// A CRI runtime's container events, as [`follow_docker`] does Docker's.
/// A runtime without the call is not asked again: its containers' first
/// events ask instead.
fn follow_cri(sock: &Path, sink: &Answers) {
    let Ok(mut cri) = Cri::new(TIMEOUT) else {
        return;
    };
    loop {
        let result = cri.follow(sock, |id, meta| learn(sink, id, meta));
        match result {
            Err(e) if e.is_unimplemented() => {
                log::debug!("{} has no container events: {e}", sock.display());
                return;
            }
            Err(e) => log::debug!("CRI events from {}: {e}", sock.display()),
            Ok(()) => {}
        }
        thread::sleep(RECONNECT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn containerd(id: char) -> ContainerRef {
        ContainerRef {
            runtime: Runtime::Containerd,
            id: id.to_string().repeat(64),
        }
    }

    /// Events wait while an answer may come, and no longer once the runtime
    /// said it cannot tell or an answer was picked up.
    #[test]
    fn waiting_ends_with_an_answer_or_a_refusal() {
        let sock = tempfile::NamedTempFile::new().unwrap();
        let (tx, _rx) = mpsc::channel();
        let mut cache = MetaCache {
            sockets: Sockets {
                cri: Some(sock.path().to_path_buf()),
                docker: None,
            },
            ask: Some(tx),
            ..MetaCache::default()
        };
        let journal = Journal::off();
        let (a, b) = (containerd('a'), containerd('b'));
        assert!(cache.may_answer(&a) && cache.may_answer(&b));
        assert!(cache.get(&journal, &a).is_none(), "nothing learned yet");

        cache.answers.lock().unwrap().unknown.insert(b.id.clone());
        assert!(!cache.may_answer(&b), "the runtime could not tell");

        let meta = Meta {
            name: "web".into(),
            ..Meta::default()
        };
        learn(&cache.answers, a.id.clone(), meta);
        assert!(cache.may_answer(&a), "learned, not yet picked up");
        assert_eq!(cache.get(&journal, &a).unwrap().name, "web");
        assert!(!cache.may_answer(&a));
        assert!(cache.answers.lock().unwrap().metas.is_empty(), "taken out");

        // No socket: nothing to wait for.
        cache.sockets.cri = Some("/nonexistent/sdtrace.sock".into());
        assert!(!cache.may_answer(&containerd('c')));
    }

    #[test]
    fn old_unused_answers_are_pruned() {
        let mut learned = Learned::default();
        let old = Instant::now().checked_sub(KEEP * 2).unwrap();
        for i in 0..PRUNE_AT {
            learned.metas.insert(i.to_string(), (old, Meta::default()));
        }
        learned.unknown.insert("new".into());
        learned.insert("new".into(), Meta::default());
        assert_eq!(learned.metas.len(), 1);
        assert!(learned.unknown.is_empty());
    }
}
