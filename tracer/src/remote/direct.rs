//! `--agent HOST:PORT,...`: agents reached over TCP, in TLS unless
//! `--insecure`.

use crate::agent::protocol::DEFAULT_PORT;

use super::connect::Dial;
use super::stream::Connect;
use super::transport::Transport;

#[derive(Debug, thiserror::Error)]
pub enum AgentListError {
    #[error("--agent {0:?}: expected HOST or HOST:PORT")]
    Bad(String),
    #[error("--agent {0:?}: {1:?} is not a port")]
    Port(String, String),
}

/// `host:port` with the port defaulting to the agents'; an IPv6 address
/// in brackets (`[::1]:7373`, `[::1]`) as in a URL.
pub fn address(text: &str) -> Result<String, AgentListError> {
    let bad = || AgentListError::Bad(text.to_owned());
    let text = text.trim();
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty()
        || host.contains(['[', ']', '/', ' '])
        || (!text.starts_with('[') && host.contains(':'))
    {
        return Err(bad());
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| AgentListError::Port(text.to_owned(), p.to_owned()))?,
        None => DEFAULT_PORT,
    };
    Ok(if text.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// One dial per `--agent` entry, each secured by `transport`.
pub fn dials(agents: &[String], transport: &Transport) -> Result<Vec<Dial>, AgentListError> {
    agents
        .iter()
        .filter(|a| !a.trim().is_empty())
        .map(|a| {
            let addr = address(a)?;
            let to = addr.clone();
            let origin = format!("{}://{addr}", transport.scheme());
            let transport = transport.clone();
            let connect: Connect = Box::pin(async move {
                let socket = tokio::net::TcpStream::connect(&to).await?;
                // Frames are small and a mark should leave at once.
                socket.set_nodelay(true)?;
                let host = to.rsplit_once(':').map_or(to.as_str(), |(host, _)| host);
                transport.over(Box::new(socket), host).await
            });
            Ok(Dial {
                agent: addr.clone(),
                origin,
                node: None,
                connect,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_default_to_the_agents_port() {
        assert_eq!(address("node-1").unwrap(), "node-1:7373");
        assert_eq!(address(" 10.0.0.2:9000 ").unwrap(), "10.0.0.2:9000");
        assert_eq!(address("[::1]").unwrap(), "[::1]:7373");
        assert_eq!(address("[fe80::1]:80").unwrap(), "[fe80::1]:80");
        for bad in [
            "", ":80", "::1", "[::1", "[::1]x", "h:0", "h:http", "h:70000",
        ] {
            assert!(address(bad).is_err(), "{bad:?}");
        }
    }
}
