//! The question thread behind [`super::meta::MetaCache`]: asks runtimes
//! about one container at a time, and lives through a runtime that stops
//! answering.
//!
//! A runtime away (its socket gone, refusing, or silent past the timeout:
//! restarted, hung, stopped) is said once, then only probed every
//! [`RETRY`]: a hanging socket costs one timeout per probe, not one per new
//! container, and no event waits on it. When a probe is answered, that is
//! said once too, and every container asked meanwhile is asked again, so
//! their names come back.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::classify::Runtime;
use super::cri::Cri;
use super::docker::{self, Meta};
use super::meta::{cannot_tell, learn, Answers, Sockets, Source};

/// How long one question to a runtime may take.
pub(super) const TIMEOUT: Duration = Duration::from_secs(2);

/// How often a runtime that did not answer is tried again.
pub(super) const RETRY: Duration = Duration::from_secs(2);

/// A question: which runtime's container, and its full id.
pub(super) type Question = (Runtime, String);

/// Why a runtime gave no metadata.
enum Failure {
    /// It answered that it cannot tell (the container is gone): final.
    Refused(String),
    /// It did not answer: ask again once it does.
    Away(String),
}

pub(super) struct Asker {
    sockets: Sockets,
    cri: Option<Cri>,
    /// The socket each runtime was last found at: asked even once its file
    /// is gone (a stopped runtime removes it), so the loss is noticed and
    /// said, and the containers are asked again when it is back.
    seen: HashMap<Runtime, Source>,
    /// Runtimes away, by socket, with the containers to ask them again.
    away: HashMap<PathBuf, Vec<Question>>,
    /// Containers of a runtime whose socket was never found.
    unplaced: Vec<Question>,
    last_retry: Instant,
}

impl Asker {
    pub(super) fn new(sockets: Sockets) -> Self {
        Self {
            sockets,
            cri: None,
            seen: HashMap::new(),
            away: HashMap::new(),
            unplaced: Vec::new(),
            last_retry: Instant::now(),
        }
    }

    /// Answers questions into `sink` until the cache asking them is gone.
    pub(super) fn run(mut self, questions: &Receiver<Question>, sink: &Answers) {
        loop {
            match questions.recv_timeout(RETRY) {
                Ok((runtime, id)) => self.question(runtime, id, sink),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if self.last_retry.elapsed() >= RETRY {
                self.retry(sink);
                self.last_retry = Instant::now();
            }
        }
    }

    fn source(&mut self, runtime: Runtime) -> Option<Source> {
        match self.sockets.source(runtime) {
            Some(s) => {
                self.seen.insert(runtime, s.clone());
                Some(s)
            }
            None => self.seen.get(&runtime).cloned(),
        }
    }

    fn question(&mut self, runtime: Runtime, id: String, sink: &Answers) {
        let Some(source) = self.source(runtime) else {
            cannot_tell(sink, id.clone());
            self.unplaced.push((runtime, id));
            return;
        };
        if let Some(waiting) = self.away.get_mut(source.path()) {
            cannot_tell(sink, id.clone());
            waiting.push((runtime, id));
            return;
        }
        let answer = self.ask(&source, &id);
        self.record(&source, runtime, id, answer, sink);
    }

    /// Learns an answer, or notes the container as one its runtime cannot
    /// tell about (its events wait no longer) and, if the runtime is away,
    /// as one to ask again: the first such failure is said.
    fn record(
        &mut self,
        source: &Source,
        runtime: Runtime,
        id: String,
        answer: Result<Meta, Failure>,
        sink: &Answers,
    ) {
        match answer {
            Ok(meta) => learn(sink, id, meta),
            Err(Failure::Refused(e)) => {
                log::debug!("no metadata for container {id}: {e}");
                cannot_tell(sink, id);
            }
            Err(Failure::Away(e)) => {
                let path = source.path();
                let waiting = self.away.entry(path.to_owned()).or_insert_with(|| {
                    eprintln!(
                        "sdtrace: no container names from {} until it answers: {e}",
                        path.display()
                    );
                    Vec::new()
                });
                cannot_tell(sink, id.clone());
                waiting.push((runtime, id));
            }
        }
    }

    /// Places containers whose runtime's socket has appeared, and probes
    /// each runtime away with one of its containers.
    fn retry(&mut self, sink: &Answers) {
        for (runtime, id) in std::mem::take(&mut self.unplaced) {
            self.question(runtime, id, sink);
        }
        let paths: Vec<PathBuf> = self.away.keys().cloned().collect();
        for path in paths {
            let mut waiting = self.away.remove(&path).unwrap_or_default();
            let Some((runtime, id)) = waiting.pop() else {
                continue;
            };
            let Some(source) = self.source(runtime) else {
                waiting.push((runtime, id));
                self.away.insert(path, waiting);
                continue;
            };
            match self.ask(&source, &id) {
                Err(Failure::Away(_)) => {
                    waiting.push((runtime, id));
                    self.away.insert(path, waiting);
                }
                answer => {
                    eprintln!(
                        "sdtrace: {} answers again: container names are back",
                        path.display()
                    );
                    self.record(&source, runtime, id, answer, sink);
                    for (runtime, id) in waiting {
                        self.question(runtime, id, sink);
                    }
                }
            }
        }
    }

    fn ask(&mut self, source: &Source, id: &str) -> Result<Meta, Failure> {
        match source {
            Source::Docker(path) => docker::inspect(path, id, TIMEOUT).map_err(|e| {
                if e.is_unreachable() {
                    Failure::Away(e.to_string())
                } else {
                    Failure::Refused(e.to_string())
                }
            }),
            Source::Cri(path) => {
                let cri = match &mut self.cri {
                    Some(c) => c,
                    None => match Cri::new(TIMEOUT) {
                        Ok(c) => self.cri.insert(c),
                        Err(e) => return Err(Failure::Refused(e.to_string())),
                    },
                };
                cri.inspect(path, id).map_err(|e| {
                    if e.is_unreachable() {
                        Failure::Away(e.to_string())
                    } else {
                        Failure::Refused(e.to_string())
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    use super::*;

    /// A Docker socket answering one inspect with a container named `name`.
    fn answer_once(listener: UnixListener, name: &'static str) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = s.read(&mut request).unwrap();
            let body = format!(
                r#"{{"Name":"/{name}","Image":"sha256:1","Config":{{"Image":"busybox"}}}}"#
            );
            write!(
                s,
                "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}"
            )
            .unwrap();
        })
    }

    /// A runtime whose socket is gone: its container is not waited for,
    /// and is asked again, and named, once the socket answers.
    #[test]
    fn a_container_asked_while_its_runtime_is_away_is_named_once_it_is_back() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
        let mut asker = Asker::new(Sockets {
            cri: None,
            docker: Some(sock.clone()),
        });
        let sink = Answers::default();
        let id = "a".repeat(64);
        asker.question(Runtime::Docker, id.clone(), &sink);
        assert!(sink.lock().unwrap().unknown.contains(&id), "not waited for");
        assert_eq!(asker.away[&sock].len(), 1, "kept to ask again");

        // Still away: kept.
        asker.retry(&sink);
        assert_eq!(asker.away[&sock].len(), 1);

        let server = answer_once(UnixListener::bind(&sock).unwrap(), "web");
        asker.retry(&sink);
        server.join().unwrap();
        assert!(asker.away.is_empty());
        let learned = sink.lock().unwrap();
        assert_eq!(learned.metas[&id].1.name, "web");
        assert!(!learned.unknown.contains(&id));
    }
}
