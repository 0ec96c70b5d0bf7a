//! `sdtrace cert`: a CA and the agents' certificate, written as files or
//! as the `kubernetes.io/tls` Secret the DaemonSet mounts (deploy/ runs
//! this in a Job, so one `kubectl apply` gives every cluster its own pair,
//! and cert-manager or an operator's own Secret can take its place).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::CertCli;
use crate::tls::issue::{issue, Issued};
use crate::tls::{AGENT_NAME, CA_KEY, CERT_KEY, KEY_KEY};

pub fn main(cli: &CertCli) -> anyhow::Result<ExitCode> {
    match (&cli.out, &cli.secret) {
        (Some(dir), _) => {
            let issued = issue(&cli.names, cli.days)?;
            write_files(dir, &issued, cli.force)?;
            println!(
                "sdtrace cert: wrote {} (clients' --agent-ca), {} and {} (names: {}; valid {} days)",
                dir.join(CA_KEY).display(),
                dir.join(CERT_KEY).display(),
                dir.join(KEY_KEY).display(),
                names(&cli.names),
                cli.days
            );
            Ok(ExitCode::SUCCESS)
        }
        (None, Some(secret)) => secret::main(cli, secret),
        (None, None) => anyhow::bail!("--out DIR or --secret NAMESPACE/NAME is needed"),
    }
}

fn names(extra: &[String]) -> String {
    std::iter::once(AGENT_NAME)
        .chain(
            extra
                .iter()
                .map(String::as_str)
                .filter(|n| *n != AGENT_NAME),
        )
        .collect::<Vec<_>>()
        .join(", ")
}

/// The three files; the key readable by its owner only, from its creation.
fn write_files(dir: &Path, issued: &Issued, force: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
    for (name, text, mode) in [
        (CA_KEY, &issued.ca, 0o644),
        (CERT_KEY, &issued.cert, 0o644),
        (KEY_KEY, &issued.key, 0o600),
    ] {
        let path = dir.join(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).mode(mode);
        if force {
            options.create(true).truncate(true);
        } else {
            options.create_new(true);
        }
        let mut file = options.open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!("{}: exists (--force to replace it)", path.display())
            } else {
                anyhow::anyhow!("{}: {e}", path.display())
            }
        })?;
        file.write_all(text.as_bytes())
            .with_context(|| path.display().to_string())?;
    }
    Ok(())
}

#[cfg(feature = "k8s-api")]
mod secret {
    use std::collections::BTreeMap;
    use std::process::ExitCode;

    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::ByteString;
    use kube::api::{ObjectMeta, PostParams};
    use kube::Api;

    use super::{issue, names, CertCli, Issued};
    use crate::error_line::with_causes as causes;
    use crate::remote::cluster;
    use crate::tls::{CA_KEY, CERT_KEY, KEY_KEY};

    pub(super) fn main(cli: &CertCli, secret: &str) -> anyhow::Result<ExitCode> {
        let (namespace, name) = secret
            .split_once('/')
            .filter(|(ns, n)| !ns.is_empty() && !n.is_empty() && !n.contains('/'))
            .ok_or_else(|| anyhow::anyhow!("--secret {secret:?}: expected NAMESPACE/NAME"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let said = runtime.block_on(put(cli, namespace, name))?;
        println!("sdtrace cert: {said}");
        Ok(ExitCode::SUCCESS)
    }

    fn object(namespace: &str, name: &str, issued: &Issued) -> Secret {
        let data: BTreeMap<String, ByteString> = [
            (CA_KEY, &issued.ca),
            (CERT_KEY, &issued.cert),
            (KEY_KEY, &issued.key),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), ByteString(v.as_bytes().to_vec())))
        .collect();
        Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(namespace.to_owned()),
                labels: Some(
                    [
                        ("app.kubernetes.io/name", "sdtrace-agent"),
                        ("app.kubernetes.io/part-of", "sdtrace"),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                ),
                ..ObjectMeta::default()
            },
            type_: Some("kubernetes.io/tls".to_owned()),
            data: Some(data),
            ..Secret::default()
        }
    }

    /// Creates the Secret, or (`--replace`) replaces it; what was done.
    async fn put(cli: &CertCli, namespace: &str, name: &str) -> anyhow::Result<String> {
        let client = cluster::client(cli.kubeconfig.as_deref())
            .await
            .map_err(|e| anyhow::anyhow!(causes(&e)))?;
        let api: Api<Secret> = Api::namespaced(client, namespace);
        let at = format!("Secret {namespace}/{name}");
        let existing = api
            .get_opt(name)
            .await
            .map_err(|e| anyhow::anyhow!("reading {at}: {}", causes(&e)))?;
        if existing.is_some() && !cli.replace {
            return Ok(format!(
                "{at} exists; left as it is (--replace issues a new pair)"
            ));
        }
        let mut secret = object(namespace, name, &issue(&cli.names, cli.days)?);
        let done = match existing {
            None => api
                .create(&PostParams::default(), &secret)
                .await
                .map(|_| "created"),
            Some(old) => {
                // Replacing what was read: a concurrent writer makes this
                // fail (409) rather than be overwritten unseen.
                secret.metadata.resource_version = old.metadata.resource_version;
                api.replace(name, &PostParams::default(), &secret)
                    .await
                    .map(|_| "replaced")
            }
        };
        match done {
            Ok(done) => Ok(format!(
                "{done} {at} (names: {}; valid {} days)",
                names(&cli.names),
                cli.days
            )),
            // Another Job's run created it first: theirs stands.
            Err(kube::Error::Api(e)) if e.code == 409 && !cli.replace => {
                Ok(format!("{at} was created meanwhile; left as it is"))
            }
            Err(e) => Err(anyhow::anyhow!("writing {at}: {}", causes(&e))),
        }
    }
}

#[cfg(not(feature = "k8s-api"))]
mod secret {
    use std::process::ExitCode;

    use super::CertCli;

    pub(super) fn main(_: &CertCli, _: &str) -> anyhow::Result<ExitCode> {
        anyhow::bail!("--secret needs the Kubernetes API client, which this sdtrace was built without; use --out DIR")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::client::{ClientTls, Trust};
    use clap::Parser;

    #[test]
    fn files_are_written_once_with_the_key_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("tls");
        let cli = CertCli::parse_from(["sdtrace cert", "--out", out.to_str().unwrap()]);
        assert_eq!(main(&cli).unwrap(), ExitCode::SUCCESS);
        let mode = |name: &str| {
            std::fs::metadata(out.join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(
            (mode(CA_KEY), mode(CERT_KEY), mode(KEY_KEY)),
            (0o644, 0o644, 0o600)
        );
        let ca = std::fs::read(out.join(CA_KEY)).unwrap();
        ClientTls::new(&Trust::Pem {
            bytes: ca.clone(),
            origin: "ca.crt".into(),
        })
        .unwrap();

        let again = main(&cli).unwrap_err().to_string();
        assert!(
            again.ends_with("ca.crt: exists (--force to replace it)"),
            "{again}"
        );
        let forced =
            CertCli::parse_from(["sdtrace cert", "--out", out.to_str().unwrap(), "--force"]);
        main(&forced).unwrap();
        assert_ne!(std::fs::read(out.join(CA_KEY)).unwrap(), ca, "a new CA");
    }

    #[test]
    fn names_always_start_with_the_agents_own() {
        assert_eq!(names(&[]), AGENT_NAME);
        assert_eq!(
            names(&["n1".into(), AGENT_NAME.into(), "10.0.0.5".into()]),
            "sdtrace-agent, n1, 10.0.0.5"
        );
    }
}

/// `--secret` against a fake API server holding at most that one Secret:
/// created when missing, left alone when present, replaced on `--replace`
/// with the resourceVersion it was read at.
#[cfg(all(test, feature = "k8s-api"))]
mod secret_tests {
    use std::sync::{Arc, Mutex};

    use clap::Parser;
    use serde_json::{json, Value};

    use super::*;
    use crate::k8s::fake_api::{status, Asked, FakeApi};

    const PATH: &str = "/api/v1/namespaces/sdtrace/secrets";

    /// The one Secret the fake holds, as the API server would keep it.
    fn answer(held: &Mutex<Option<Value>>, asked: &Asked) -> (u16, Value) {
        let mut held = held.lock().unwrap();
        let stored = |mut secret: Value, version: &str| {
            secret["metadata"]["resourceVersion"] = json!(version);
            secret
        };
        match (asked.method.as_str(), asked.path().strip_prefix(PATH)) {
            ("GET", Some("/sdtrace-agent-tls")) => match &*held {
                Some(s) => (200, s.clone()),
                None => (404, status(404, "NotFound", "secrets not found")),
            },
            ("POST", Some("")) => {
                *held = Some(stored(asked.body.clone(), "1"));
                (201, held.clone().unwrap())
            }
            ("PUT", Some("/sdtrace-agent-tls")) => {
                let now = &held.as_ref().unwrap()["metadata"]["resourceVersion"];
                if asked.body["metadata"]["resourceVersion"] != *now {
                    return (409, status(409, "Conflict", "the object has been modified"));
                }
                *held = Some(stored(asked.body.clone(), "2"));
                (200, held.clone().unwrap())
            }
            _ => (404, status(404, "NotFound", "")),
        }
    }

    /// The fake on a runtime of its own (`main` blocks on its own); what it
    /// holds.
    fn fake_api_thread() -> (FakeApi, Arc<Mutex<Option<Value>>>) {
        let held = Arc::new(Mutex::new(None));
        let shared = Arc::clone(&held);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let answer = move |asked: &Asked| answer(&shared, asked);
                tx.send(FakeApi::start(Arc::new(answer)).await).unwrap();
                std::future::pending::<()>().await;
            });
        });
        (rx.recv().unwrap(), held)
    }

    #[test]
    fn the_secret_is_created_once_and_replaced_when_asked() {
        let (server, held) = fake_api_thread();
        let dir = tempfile::tempdir().unwrap();
        let config = server.kubeconfig(dir.path(), "{}");
        let config = config.to_str().unwrap();
        let run = |extra: &'static [&'static str]| {
            let mut args = vec!["sdtrace cert", "--secret", "sdtrace/sdtrace-agent-tls"];
            args.extend_from_slice(&["--kubeconfig", config, "--name", "n1"]);
            args.extend_from_slice(extra);
            main(&CertCli::parse_from(args)).map_err(|e| e.to_string())
        };
        run(&[]).unwrap();
        let first = held.lock().unwrap().clone().unwrap();
        assert_eq!(first["type"], "kubernetes.io/tls");
        let data = &first["data"];
        for key in [CA_KEY, CERT_KEY, KEY_KEY] {
            assert!(
                data[key].as_str().is_some_and(|v| !v.is_empty()),
                "{key} in {first}"
            );
        }
        run(&[]).unwrap();
        assert_eq!(held.lock().unwrap().as_ref(), Some(&first), "left as it is");
        run(&["--replace"]).unwrap();
        let replaced = held.lock().unwrap().clone().unwrap();
        assert_ne!(replaced["data"][CA_KEY], first["data"][CA_KEY]);
        let asked: Vec<String> = server
            .asked()
            .iter()
            .map(|a| format!("{} {}", a.method, a.path()))
            .collect();
        assert_eq!(
            asked,
            [
                format!("GET {PATH}/sdtrace-agent-tls"),
                format!("POST {PATH}"),
                format!("GET {PATH}/sdtrace-agent-tls"),
                format!("GET {PATH}/sdtrace-agent-tls"),
                format!("PUT {PATH}/sdtrace-agent-tls"),
            ]
        );
    }
}
