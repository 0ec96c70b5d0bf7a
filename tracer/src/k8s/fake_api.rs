//! A stand-in API server for unit tests: plain HTTP on loopback, answering
//! as the test says and keeping what it was asked. No cluster runs where
//! these tests do.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// One request as the test sees it.
#[derive(Clone, Debug)]
pub(crate) struct Asked {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// The `Authorization: Bearer` token, if any.
    pub bearer: Option<String>,
    pub body: Value,
}

impl Asked {
    /// The path without the query.
    pub(crate) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// The test's answer: a status and a JSON body.
pub(crate) type Answer = Arc<dyn Fn(&Asked) -> (u16, Value) + Send + Sync>;

pub(crate) struct FakeApi {
    pub url: String,
    asked: Arc<Mutex<Vec<Asked>>>,
}

impl FakeApi {
    /// Serves on the current runtime until it ends.
    pub(crate) async fn start(answer: Answer) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let asked = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&asked);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (record, answer) = (Arc::clone(&record), Arc::clone(&answer));
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (record, answer) = (Arc::clone(&record), Arc::clone(&answer));
                    async move {
                        let method = req.method().to_string();
                        let target = req.uri().to_string();
                        let bearer = req
                            .headers()
                            .get(hyper::header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.strip_prefix("Bearer "))
                            .map(str::to_owned);
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let asked = Asked {
                            method,
                            target,
                            bearer,
                            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        };
                        let (status, value) = answer(&asked);
                        record.lock().unwrap().push(asked);
                        let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service),
                );
            }
        });
        FakeApi { url, asked }
    }

    /// Every request so far.
    pub(crate) fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }

    /// A kubeconfig for this server in `dir`, its user `user`.
    pub(crate) fn kubeconfig(&self, dir: &Path, user: &str) -> PathBuf {
        write_kubeconfig(dir, &self.url, user)
    }
}

/// A kubeconfig in `dir` for the API server at `server`, its user `user`
/// (YAML flow: `{}`, `{token: abc}`).
pub(crate) fn write_kubeconfig(dir: &Path, server: &str, user: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: '{server}'}}\n\
             contexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n\
             users:\n- name: u\n  user: {user}\n"
        ),
    )
    .unwrap();
    path
}

/// The API server's refusal or absence, as a `Status` object.
pub(crate) fn status(code: u16, reason: &str, message: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Status", "status": "Failure",
        "message": message, "reason": reason, "code": code,
    })
}
