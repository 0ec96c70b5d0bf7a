//! A stand-in for a Kubernetes API server on 127.0.0.1, plain HTTP, serving
//! the list and watch responses in `tests/fixtures/k8s/`. It answers what a
//! kube-rs watcher asks: `GET <collection>` lists and `GET
//! <collection>?watch=true&resourceVersion=N` streams, chunked, the recorded
//! events newer than N, then keeps the stream open as a quiet server would.
//! Pods are served only to a request that selects them by node
//! (`fieldSelector=spec.nodeName=<node>`), and only that node's. A request
//! that accepts `as=PartialObjectMetadata` (kube's metadata watcher) gets
//! only the objects' metadata, as the API server sends it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

pub(crate) struct FakeApiServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    /// Path and query.
    pub target: String,
    /// Whether it asked for metadata only.
    pub metadata_only: bool,
}

/// `object` as a PartialObjectMetadata: its metadata alone.
fn metadata_of(object: &Value) -> Value {
    serde_json::json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
        "metadata": object["metadata"].clone()})
}

/// The fixture files' stem for a collection path.
fn resource(path: &str) -> Option<&'static str> {
    Some(match path {
        "/api/v1/pods" => "pods",
        "/api/v1/namespaces" => "namespaces",
        "/apis/apps/v1/replicasets" => "replicasets",
        "/api/v1/services" => "services",
        _ => return None,
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(target: &str) -> Vec<(String, String)> {
    let Some((_, q)) = target.split_once('?') else {
        return Vec::new();
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Whether an object is on `node` (objects without a node always are).
fn on_node(object: &Value, node: Option<&str>) -> bool {
    match (node, object.pointer("/spec/nodeName")) {
        (Some(node), Some(n)) => n == node,
        _ => true,
    }
}

fn resource_version(object: &Value) -> u64 {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn status_body(code: u16, reason: &str, message: &str) -> String {
    serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code})
    .to_string()
}

fn serve(mut stream: TcpStream, fixtures: &Path, hold: Duration, requests: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the connection"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    // The rest of the head; a GET has no body.
    let mut header = String::new();
    let mut metadata_only = false;
    while reader.read_line(&mut header).unwrap_or(0) > 2 {
        let lower = header.to_ascii_lowercase();
        metadata_only |= lower.starts_with("accept:") && lower.contains("as=partialobjectmetadata");
        header.clear();
    }
    let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    requests.lock().unwrap().push(Request {
        target: target.clone(),
        metadata_only,
    });
    let path = target.split('?').next().unwrap_or("");
    let Some(name) = resource(path) else {
        let body = status_body(
            404,
            "NotFound",
            &format!("the server could not find {path}"),
        );
        return respond(&mut stream, "404 Not Found", &body);
    };
    let params = query(&target);
    let param = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let node = if name == "pods" {
        match param("fieldSelector").and_then(|s| s.strip_prefix("spec.nodeName=")) {
            Some(node) => Some(node.to_owned()),
            None => {
                let body = status_body(
                    400,
                    "BadRequest",
                    "this test server lists only one node's pods",
                );
                return respond(&mut stream, "400 Bad Request", &body);
            }
        }
    } else {
        None
    };
    if matches!(param("watch"), Some("true" | "1")) {
        let since: u64 = param("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let text = std::fs::read_to_string(fixtures.join(format!("{name}-watch.jsonl")))
            .expect("watch fixture");
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        for event in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(event).expect("watch fixture line");
            let object = &v["object"];
            if resource_version(object) <= since || !on_node(object, node.as_deref()) {
                continue;
            }
            let chunk = if metadata_only {
                let mut v = v.clone();
                v["object"] = metadata_of(object);
                format!("{v}\n")
            } else {
                format!("{event}\n")
            };
            let _ = write!(stream, "{:x}\r\n{chunk}\r\n", chunk.len());
            let _ = stream.flush();
        }
        // A real server keeps a watch open until its timeout.
        thread::sleep(hold);
        let _ = write!(stream, "0\r\n\r\n");
        return;
    }
    let text =
        std::fs::read_to_string(fixtures.join(format!("{name}-list.json"))).expect("list fixture");
    let mut list: Value = serde_json::from_str(&text).expect("list fixture JSON");
    if let Some(items) = list["items"].as_array_mut() {
        items.retain(|o| on_node(o, node.as_deref()));
        if metadata_only {
            for item in items.iter_mut() {
                *item = metadata_of(item);
            }
        }
    }
    if metadata_only {
        list["kind"] = "PartialObjectMetadataList".into();
        list["apiVersion"] = "meta.k8s.io/v1".into();
    }
    respond(&mut stream, "200 OK", &list.to_string());
}

impl FakeApiServer {
    /// Serves `fixtures`; each watch stays open for `hold`.
    pub(crate) fn start(fixtures: &Path, hold: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        let fixtures = fixtures.to_path_buf();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, fixtures) = (Arc::clone(&log), fixtures.clone());
                thread::spawn(move || serve(stream, &fixtures, hold, &log));
            }
        });
        Self { addr, requests }
    }

    /// Every request so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Writes a kubeconfig for this server into `dir`.
    pub(crate) fn kubeconfig(&self, dir: &Path) -> PathBuf {
        write_kubeconfig(dir, &format!("http://{}", self.addr))
    }
}

/// A kubeconfig naming `server`, with a token as most clusters' users have.
pub(crate) fn write_kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\n\
             contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n\
             current-context: test\nusers:\n- name: test\n  user:\n    token: test-token\n"
        ),
    )
    .expect("write the kubeconfig");
    path
}
