//! A container's metadata from the Docker Engine API on its local socket
//! (`GET /containers/<id>/json`), also what podman's Docker-compatible
//! socket answers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::BufRead;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

pub use crate::journal::{ContainerMeta as Meta, MountInfo};

impl Meta {
    /// `repo` and `tag` of `image` (`latest` when none is given).
    pub fn image_parts(&self) -> (&str, &str) {
        let image = self.image.split('@').next().unwrap_or("");
        // A ':' after the last '/' separates the tag; one before it is a registry port.
        match image.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, tag),
            _ => (image, "latest"),
        }
    }

    /// sysdig's `container.mounts`: `source:dest:mode:rw:propagation` per
    /// mount, comma-separated.
    pub fn mounts_text(&self) -> String {
        let mut out = String::new();
        for (i, m) in self.mounts.iter().enumerate() {
            let sep = if i > 0 { "," } else { "" };
            let _ = write!(
                out,
                "{sep}{}:{}:{}:{}:{}",
                m.source, m.dest, m.mode, m.rw, m.propagation
            );
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach {0}: {1}")]
    Connect(String, #[source] std::io::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the runtime answered {0}")]
    Status(String),
    #[error("unreadable answer: {0}")]
    Json(#[from] serde_json::Error),
}

impl DockerError {
    /// Whether the engine itself is away (its socket gone, refusing, or
    /// silent past the timeout), rather than unable to tell about one
    /// container: what is worth a line and asking again later.
    pub fn is_unreachable(&self) -> bool {
        match self {
            DockerError::Connect(..) | DockerError::Timeout(_) => true,
            DockerError::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ),
            DockerError::Status(_) | DockerError::Json(_) => false,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspect {
    name: String,
    image: String,
    config: Config,
    host_config: Option<HostConfig>,
    network_settings: Option<Network>,
    mounts: Option<Vec<DockerMount>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerMount {
    #[serde(default)]
    source: String,
    #[serde(default)]
    destination: String,
    #[serde(default)]
    mode: String,
    #[serde(rename = "RW", default)]
    rw: bool,
    #[serde(default)]
    propagation: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Config {
    image: String,
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HostConfig {
    privileged: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Network {
    #[serde(rename = "IPAddress")]
    ip_address: Option<String>,
}

/// Parses `GET /containers/<id>/json`'s body.
pub fn parse_inspect(body: &[u8]) -> Result<Meta, serde_json::Error> {
    let i: Inspect = serde_json::from_slice(body)?;
    Ok(Meta {
        name: i.name.trim_start_matches('/').to_owned(),
        image: i.config.image,
        image_id: i.image,
        privileged: i.host_config.is_some_and(|h| h.privileged),
        ip: i
            .network_settings
            .and_then(|n| n.ip_address)
            .unwrap_or_default(),
        labels: i.config.labels.unwrap_or_default(),
        mounts: i
            .mounts
            .unwrap_or_default()
            .into_iter()
            .map(|m| MountInfo {
                source: m.source,
                dest: m.destination,
                mode: m.mode,
                rw: m.rw,
                propagation: m.propagation,
            })
            .collect(),
    })
}

/// Asks the engine at `socket` about container `id`.
pub fn inspect(socket: &Path, id: &str, timeout: Duration) -> Result<Meta, DockerError> {
    let mut s = UnixStream::connect(socket)
        .map_err(|e| DockerError::Connect(socket.display().to_string(), e))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    // HTTP/1.0: the engine closes the connection after the body, which is
    // then neither chunked nor needs a length.
    write!(
        s,
        "GET /containers/{id}/json HTTP/1.0\r\nHost: docker\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    s.take(16 << 20)
        .read_to_end(&mut answer)
        .map_err(|e| timed_out(e, timeout))?;
    if answer.is_empty() {
        // Closed without a word: an engine on its way down.
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
    }
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| DockerError::Status("no HTTP header".into()))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let status = head.lines().next().unwrap_or("");
    if status.split(' ').nth(1) != Some("200") {
        return Err(DockerError::Status(status.to_owned()));
    }
    Ok(parse_inspect(&answer[split + 4..])?)
}

/// A read past its timeout says so in words (the OS says "Resource
/// temporarily unavailable").
fn timed_out(e: std::io::Error, timeout: Duration) -> DockerError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            DockerError::Timeout(timeout)
        }
        _ => e.into(),
    }
}

/// One line of the engine's `/events` stream.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Event {
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(default)]
    action: String,
    actor: Option<Actor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Actor {
    #[serde(rename = "ID")]
    id: String,
}

/// The container a line of `/events` announces as created or started.
pub fn parse_event(line: &[u8]) -> Option<String> {
    let e: Event = serde_json::from_slice(line).ok()?;
    (e.kind == "container" && matches!(e.action.as_str(), "create" | "start"))
        .then_some(e.actor?.id)
}

/// Follows the engine's `/events` at `socket`, calling `seen` with the id of
/// each container created or started, until the engine closes the stream.
/// The answer's head must come within `timeout` (a socket that accepts and
/// never answers would hold the follower forever); the stream may then be
/// quiet for as long as no container starts.
pub fn watch(
    socket: &Path,
    timeout: Duration,
    mut seen: impl FnMut(String),
) -> Result<(), DockerError> {
    let mut s = UnixStream::connect(socket)
        .map_err(|e| DockerError::Connect(socket.display().to_string(), e))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let stream = s.try_clone()?;
    // filters={"type":["container"],"event":["create","start"]}
    write!(
        s,
        "GET /events?filters=%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A\
         %5B%22create%22%2C%22start%22%5D%7D HTTP/1.0\r\nHost: docker\r\n\r\n"
    )?;
    // HTTP/1.0 again: the body is the events, one JSON object a line, until
    // the engine closes the connection (no chunk framing to undo).
    let mut lines = std::io::BufReader::new(s).split(b'\n');
    let status = lines
        .next()
        .transpose()
        .map_err(|e| timed_out(e, timeout))?
        .unwrap_or_default();
    let status = String::from_utf8_lossy(&status);
    if status.split(' ').nth(1) != Some("200") {
        return Err(DockerError::Status(status.trim_end().to_owned()));
    }
    for line in lines.by_ref() {
        if line?.trim_ascii().is_empty() {
            break;
        }
    }
    stream.set_read_timeout(None)?;
    for line in lines {
        if let Some(id) = parse_event(&line?) {
            seen(id);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from a real Docker 20.10 answer.
    const INSPECT: &str = r#"{"Id":"133afc6249c960f504889f7f5164c89acd009717fdae773d58a7cf46abc8b6af",
      "Name":"/web","Image":"sha256:1364943cd069e10d89c1b9f90e77b48db7fa9579eebf449c49094697fa7afb9a",
      "HostConfig":{"Privileged":false},
      "Config":{"Image":"registry.local:5000/team/nginx:1.25","Labels":{"io.kubernetes.pod.name":"mypod"}},
      "NetworkSettings":{"IPAddress":"172.17.0.2"},
      "Mounts":[{"Type":"bind","Source":"/srv/www","Destination":"/usr/share/nginx/html","Mode":"ro","RW":false,"Propagation":"rprivate"},
        {"Type":"volume","Name":"cache","Source":"/var/lib/docker/volumes/cache/_data","Destination":"/cache","Driver":"local","Mode":"z","RW":true,"Propagation":""}]}"#;

    #[test]
    fn events() {
        // Docker 20.10's lines for `docker run`, trimmed.
        let create = br#"{"status":"create","id":"4f5a","from":"busybox","Type":"container","Action":"create","Actor":{"ID":"4f5a","Attributes":{"name":"web"}},"scope":"local","time":1700000000}"#;
        let attach = br#"{"Type":"container","Action":"attach","Actor":{"ID":"4f5a"}}"#;
        let net = br#"{"Type":"network","Action":"connect","Actor":{"ID":"9abc"}}"#;
        assert_eq!(parse_event(create).as_deref(), Some("4f5a"));
        assert_eq!(parse_event(attach), None);
        assert_eq!(parse_event(net), None);
        assert_eq!(parse_event(b"{\"Type\":"), None);
    }

    #[test]
    fn inspect_answer() {
        let m = parse_inspect(INSPECT.as_bytes()).unwrap();
        assert_eq!(m.name, "web");
        assert_eq!(m.image_parts(), ("registry.local:5000/team/nginx", "1.25"));
        assert_eq!(m.ip, "172.17.0.2");
        assert!(!m.privileged);
        assert_eq!(m.labels["io.kubernetes.pod.name"], "mypod");
        assert_eq!(
            m.mounts_text(),
            "/srv/www:/usr/share/nginx/html:ro:false:rprivate,\
             /var/lib/docker/volumes/cache/_data:/cache:z:true:"
        );
        let bare = Meta {
            image: "registry.local:5000/busybox".into(),
            ..Meta::default()
        };
        assert_eq!(
            bare.image_parts(),
            ("registry.local:5000/busybox", "latest")
        );
    }
}
