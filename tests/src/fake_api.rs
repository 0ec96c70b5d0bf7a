//! A stand-in Kubernetes API server for end-to-end tests (no cluster runs
//! here): plain HTTP/1.1 on loopback, one thread per connection. The test
//! answers the requests it cares about; every other list is empty and
//! every watch is held open, so a client's reflectors sit quietly.
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};

use serde_json::{json, Value};

/// A request as the test sees it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub body: Value,
}

/// The test's answer to a request, or `None` for the default.
pub type Answer = dyn Fn(&Request) -> Option<(u16, Value)> + Send + Sync;

pub struct FakeApi {
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeApi {
    #[must_use]
    pub fn start(answer: Arc<Answer>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake API server");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (answer, seen) = (Arc::clone(&answer), Arc::clone(&seen));
                thread::spawn(move || serve(stream, &*answer, &seen));
            }
        });
        FakeApi { url, requests }
    }

    /// The requests so far.
    #[must_use]
    pub fn requests(&self) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A kubeconfig naming this server, with no credentials, in `dir`.
    #[must_use]
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: '{}'}}\n\
                 contexts:\n- name: fake\n  context: {{cluster: fake, user: nobody}}\n\
                 current-context: fake\nusers:\n- name: nobody\n  user: {{}}\n",
                self.url
            ),
        )
        .expect("write the kubeconfig");
        path
    }
}

fn serve(stream: TcpStream, answer: &Answer, seen: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut words = line.split_whitespace();
        let (Some(method), Some(target)) = (words.next(), words.next()) else {
            return;
        };
        let (method, target) = (method.to_owned(), target.to_owned());
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = Request {
            method,
            target,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        };
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request.clone());
        if request.target.contains("watch=true") && answer(&request).is_none() {
            // Nothing ever changes: the watch stays open, empty.
            let _ = write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            );
            let _ = writer.flush();
            thread::sleep(Duration::from_secs(3600));
            return;
        }
        let (status, value) = answer(&request).unwrap_or_else(|| {
            if request.method == "GET" {
                let list = json!({"kind": "List", "apiVersion": "v1",
                    "metadata": {"resourceVersion": "1"}, "items": []});
                (200, list)
            } else {
                (
                    404,
                    json!({"kind": "Status", "status": "Failure", "code": 404}),
                )
            }
        });
        let text = value.to_string();
        if write!(
            writer,
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        )
        .is_err()
        {
            return;
        }
    }
}
