//! An agent's side and a client's, over loopback: what is trusted, what
//! is refused and how it is said, and a rotated pair taking effect.

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::client::{server_name, ClientTls, Trust};
use super::issue::issue;
use super::server::ServerTls;
use super::AGENT_NAME;

fn write_pair(dir: &Path, names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let issued = issue(&names, 30).unwrap();
    std::fs::write(dir.join("tls.crt"), &issued.cert).unwrap();
    std::fs::write(dir.join("tls.key"), &issued.key).unwrap();
    issued.ca
}

fn trusting(ca: &str) -> ClientTls {
    ClientTls::new(&Trust::Pem {
        bytes: ca.as_bytes().to_vec(),
        origin: "ca.crt".to_owned(),
    })
    .unwrap()
}

/// An agent's side on loopback that answers each connection's first line
/// with "ok"; its address.
async fn tls_echo(tls: ServerTls) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = tls.acceptor();
            tokio::spawn(async move {
                if let Ok(mut stream) = acceptor.accept(socket).await {
                    let mut byte = [0u8; 1];
                    let _ = stream.read_exact(&mut byte).await;
                    let _ = stream.write_all(b"ok").await;
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
    address
}

async fn exchange(client: &ClientTls, address: &str, name: &str) -> std::io::Result<String> {
    let socket = TcpStream::connect(address).await?;
    let mut stream = client.connect(socket, &server_name(name).unwrap()).await?;
    stream.write_all(b"x").await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}

#[tokio::test]
async fn a_client_trusting_the_ca_reaches_the_agent_by_each_name_it_carries() {
    let dir = tempfile::tempdir().unwrap();
    let ca = write_pair(dir.path(), &["127.0.0.1", "node-1.example"]);
    let tls =
        ServerTls::from_files(&dir.path().join("tls.crt"), &dir.path().join("tls.key")).unwrap();
    let address = tls_echo(tls).await;
    let client = trusting(&ca);
    for name in [AGENT_NAME, "127.0.0.1", "node-1.example"] {
        assert_eq!(
            exchange(&client, &address, name).await.unwrap(),
            "ok",
            "{name}"
        );
    }

    let wrong = exchange(&client, &address, "node-2.example")
        .await
        .unwrap_err();
    assert_eq!(
        wrong.to_string(),
        "TLS: the agent's certificate does not name node-2.example (--agent-server-name names the one it carries)"
    );
    let other_ca = issue(&[], 1).unwrap().ca;
    let untrusted = exchange(&trusting(&other_ca), &address, AGENT_NAME)
        .await
        .unwrap_err();
    assert_eq!(
        untrusted.to_string(),
        "TLS: the agent's certificate is not signed by a CA in ca.crt (--agent-ca names the agents' CA)"
    );
}

#[tokio::test]
async fn a_cleartext_agent_is_said_to_be_one() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut hello = [0u8; 64];
        let _ = socket.read(&mut hello).await;
        let _ = socket
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
    });
    let client = trusting(&issue(&[], 1).unwrap().ca);
    let e = exchange(&client, &address, AGENT_NAME).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "TLS: the agent did not answer in TLS (an agent run with --insecure needs --insecure here too)"
    );
}

#[test]
fn a_key_of_another_certificate_or_a_missing_file_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), &[]);
    let other = tempfile::tempdir().unwrap();
    write_pair(other.path(), &[]);
    let cert = dir.path().join("tls.crt");
    let e = ServerTls::from_files(&cert, &other.path().join("tls.key"))
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .ends_with(": the key is not the certificate's"),
        "{e}"
    );
    let e = ServerTls::from_files(&cert, &dir.path().join("missing"))
        .err()
        .unwrap();
    assert!(e.to_string().contains("missing: No such file"), "{e}");
    let e = ServerTls::from_files(&dir.path().join("tls.key"), &dir.path().join("tls.key"))
        .err()
        .unwrap();
    assert!(
        e.to_string().ends_with("tls.key: no PEM certificate in it"),
        "{e}"
    );
}

#[tokio::test]
async fn a_rotated_pair_serves_new_connections_and_a_half_written_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let first_ca = write_pair(dir.path(), &[]);
    let tls =
        ServerTls::from_files(&dir.path().join("tls.crt"), &dir.path().join("tls.key")).unwrap();
    let address = tls_echo(tls).await;
    let first = trusting(&first_ca);
    assert_eq!(exchange(&first, &address, AGENT_NAME).await.unwrap(), "ok");

    // The certificate of a new pair, its key not yet: the old pair serves.
    let next = issue(&[], 30).unwrap();
    std::fs::write(dir.path().join("tls.crt"), &next.cert).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(exchange(&first, &address, AGENT_NAME).await.unwrap(), "ok");

    std::fs::write(dir.path().join("tls.key"), &next.key).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = trusting(&next.ca);
    assert_eq!(exchange(&second, &address, AGENT_NAME).await.unwrap(), "ok");
    // A new client of the old CA (an old one resumes its TLS session).
    let stale = trusting(&first_ca);
    assert!(exchange(&stale, &address, AGENT_NAME).await.is_err());
}
