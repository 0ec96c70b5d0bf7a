//! A container's metadata from the Docker Engine API on its local socket
//! (`GET /containers/<id>/json`), also what podman's Docker-compatible
//! socket answers.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What sdtrace shows of a container beyond its id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub name: String,
    /// The image as the container was created from it (`nginx:1.25`).
    pub image: String,
    /// `sha256:...`
    pub image_id: String,
    pub privileged: bool,
    pub ip: String,
    pub labels: BTreeMap<String, String>,
}

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
}

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach {0}: {1}")]
    Connect(String, #[source] std::io::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the runtime answered {0}")]
    Status(String),
    #[error("unreadable answer: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspect {
    name: String,
    image: String,
    config: Config,
    host_config: Option<HostConfig>,
    network_settings: Option<Network>,
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
    s.take(16 << 20).read_to_end(&mut answer)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from a real Docker 20.10 answer.
    const INSPECT: &str = r#"{"Id":"133afc6249c960f504889f7f5164c89acd009717fdae773d58a7cf46abc8b6af",
      "Name":"/web","Image":"sha256:1364943cd069e10d89c1b9f90e77b48db7fa9579eebf449c49094697fa7afb9a",
      "HostConfig":{"Privileged":false},
      "Config":{"Image":"registry.local:5000/team/nginx:1.25","Labels":{"io.kubernetes.pod.name":"mypod"}},
      "NetworkSettings":{"IPAddress":"172.17.0.2"}}"#;

    #[test]
    fn inspect_answer() {
        let m = parse_inspect(INSPECT.as_bytes()).unwrap();
        assert_eq!(m.name, "web");
        assert_eq!(m.image_parts(), ("registry.local:5000/team/nginx", "1.25"));
        assert_eq!(m.ip, "172.17.0.2");
        assert!(!m.privileged);
        assert_eq!(m.labels["io.kubernetes.pod.name"], "mypod");
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
