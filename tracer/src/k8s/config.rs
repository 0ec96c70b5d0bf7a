//! Where the API server is, who sdtrace is to it, and which node's pods to
//! follow. Only explicit sources are used: `--kubeconfig`, `KUBECONFIG`, or
//! the service account of a pod (`KUBERNETES_SERVICE_HOST`). A developer's
//! `~/.kube/config` is not picked up on its own: it names some cluster,
//! not necessarily the one this machine is a node of.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

/// How to reach the API server.
#[derive(Debug)]
pub enum Source {
    /// A kubeconfig, read and parsed (`origin` names it in messages).
    Kubeconfig {
        config: Box<Kubeconfig>,
        origin: String,
    },
    /// The pod's service account token and CA, and the service's address.
    InCluster,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("kubeconfig {origin}: {source}")]
    Kubeconfig {
        origin: String,
        #[source]
        source: KubeconfigError,
    },
    #[error("in-cluster service account: {0}")]
    InCluster(#[source] kube::config::InClusterError),
}

/// The source the command line and environment name, if any.
pub fn source(kubeconfig: Option<&Path>) -> Result<Option<Source>, ConfigError> {
    source_from(kubeconfig, |name| {
        std::env::var_os(name).filter(|v| !v.is_empty())
    })
}

fn source_from(
    kubeconfig: Option<&Path>,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Option<Source>, ConfigError> {
    if let Some(path) = kubeconfig {
        let origin = path.display().to_string();
        return Kubeconfig::read_from(path)
            .map(|config| {
                Some(Source::Kubeconfig {
                    config: Box::new(config),
                    origin: origin.clone(),
                })
            })
            .map_err(|source| ConfigError::Kubeconfig { origin, source });
    }
    if let Some(list) = env("KUBECONFIG") {
        // KUBECONFIG may list several files, merged in order, as kubectl does.
        let origin = format!("$KUBECONFIG ({})", list.to_string_lossy());
        let mut merged: Option<Kubeconfig> = None;
        for path in std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()) {
            let read = Kubeconfig::read_from(&path).and_then(|c| match merged.take() {
                Some(m) => m.merge(c),
                None => Ok(c),
            });
            merged = Some(read.map_err(|source| ConfigError::Kubeconfig {
                origin: origin.clone(),
                source,
            })?);
        }
        return Ok(merged.map(|config| Source::Kubeconfig {
            config: Box::new(config),
            origin,
        }));
    }
    Ok(env("KUBERNETES_SERVICE_HOST").map(|_| Source::InCluster))
}

impl Source {
    /// The client configuration (reads the token and CA files it names).
    pub async fn client_config(self) -> Result<kube::Config, ConfigError> {
        match self {
            Source::Kubeconfig { config, origin } => {
                kube::Config::from_custom_kubeconfig(*config, &KubeConfigOptions::default())
                    .await
                    .map_err(|source| ConfigError::Kubeconfig { origin, source })
            }
            Source::InCluster => kube::Config::incluster().map_err(ConfigError::InCluster),
        }
    }

    /// What to call this source in messages.
    pub fn describe(&self) -> String {
        match self {
            Source::Kubeconfig { origin, .. } => format!("kubeconfig {origin}"),
            Source::InCluster => "the in-cluster service account".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    #[test]
    fn sources() {
        assert!(source_from(None, no_env).unwrap().is_none());
        let incluster = |n: &str| (n == "KUBERNETES_SERVICE_HOST").then(|| "10.96.0.1".into());
        assert!(matches!(
            source_from(None, incluster),
            Ok(Some(Source::InCluster))
        ));
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(
            &good,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:1'}\n\
             contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\nusers:\n- name: u\n  user: {}\n",
        )
        .unwrap();
        let Ok(Some(Source::Kubeconfig { config, .. })) = source_from(Some(&good), incluster)
        else {
            panic!("the flag's kubeconfig comes first");
        };
        assert_eq!(config.current_context.as_deref(), Some("x"));
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "clusters: [ {").unwrap();
        let err = source_from(Some(&bad), no_env).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("kubeconfig {}: ", bad.display())),
            "{err}"
        );
        // KUBECONFIG lists files to merge: contexts from one, users from another.
        let users = dir.path().join("users");
        std::fs::write(
            &users,
            "apiVersion: v1\nkind: Config\nusers:\n- name: v\n  user: {token: t}\n",
        )
        .unwrap();
        let list = std::env::join_paths([&good, &users]).unwrap();
        let from_env = |n: &str| (n == "KUBECONFIG").then(|| list.clone());
        let Ok(Some(Source::Kubeconfig { config, origin })) = source_from(None, from_env) else {
            panic!("KUBECONFIG names a source");
        };
        assert!(origin.starts_with("$KUBECONFIG"), "{origin}");
        let names: Vec<&str> = config.auth_infos.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["u", "v"]);
        let missing = dir.path().join("missing");
        let err = source_from(Some(&missing), no_env).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }
}
