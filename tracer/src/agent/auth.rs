//! Who may subscribe, and what they may see. A client presents a bearer
//! token: the agent's own (the Secret mounted into its pod, which grants
//! everything), or, where the agent runs in a cluster, a token of the
//! client's own that Kubernetes reviews (`review`): RBAC then decides
//! whether it may watch this node, and whether it may see I/O buffers.

use std::path::Path;
#[cfg(feature = "k8s-api")]
use std::sync::OnceLock;

#[cfg(feature = "k8s-api")]
use super::review::{Refusal, Reviewer};

/// The token a client must present; none with `--no-auth`.
pub struct Token(Option<Vec<u8>>);

impl Token {
    /// The token in `path`, without the whitespace around it.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let token = text.trim_ascii();
        anyhow::ensure!(
            !token.is_empty(),
            "{}: the token file is empty",
            path.display()
        );
        Ok(Token(Some(token.to_vec())))
    }

    /// Every client is admitted.
    #[must_use]
    pub fn none() -> Self {
        Token(None)
    }
}

/// What an admitted client may see, and who it is, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub who: String,
    /// The data reads and writes carry (`evt.buffer`, `data=` in lines).
    pub buffers: bool,
}

/// Why a request is refused: its HTTP status and the words for the client
/// (and the agent's log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub why: String,
}

impl Refused {
    fn unauthorized(why: impl Into<String>) -> Self {
        Refused {
            status: 401,
            why: why.into(),
        }
    }
}

/// The door: the agent's token, and Kubernetes' review where there is one.
pub struct Gate {
    token: Token,
    #[cfg(feature = "k8s-api")]
    reviewer: OnceLock<Reviewer>,
}

impl Gate {
    #[must_use]
    pub fn new(token: Token) -> Self {
        Gate {
            token,
            #[cfg(feature = "k8s-api")]
            reviewer: OnceLock::new(),
        }
    }

    /// From now on, tokens other than the agent's go to `reviewer`.
    #[cfg(feature = "k8s-api")]
    pub fn review_with(&self, reviewer: Reviewer) {
        let _ = self.reviewer.set(reviewer);
    }

    /// Whether the agent admits anyone (`--no-auth`).
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.token.0.is_none()
    }

    /// Admits the request with this `Authorization` header, or says why not.
    pub async fn admit(&self, authorization: Option<&[u8]>) -> Result<Access, Refused> {
        let Some(expected) = self.token.0.as_deref() else {
            return Ok(Access {
                who: "anyone (--no-auth)".to_owned(),
                buffers: true,
            });
        };
        let Some(header) = authorization else {
            return Err(Refused::unauthorized("no bearer token"));
        };
        let presented = header
            .split_at_checked(7)
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"bearer "))
            .map(|(_, token)| token.trim_ascii())
            .ok_or_else(|| Refused::unauthorized("not a bearer token"))?;
        if same_bytes(presented, expected) {
            return Ok(Access {
                who: "the agent token's holder".to_owned(),
                buffers: true,
            });
        }
        self.reviewed(presented).await
    }

    #[cfg(feature = "k8s-api")]
    async fn reviewed(&self, presented: &[u8]) -> Result<Access, Refused> {
        let (Some(reviewer), Ok(token)) = (self.reviewer.get(), std::str::from_utf8(presented))
        else {
            return Err(Refused::unauthorized("a wrong bearer token"));
        };
        match reviewer.review(token).await {
            Ok(grant) => Ok(Access {
                who: format!("user {}", grant.user),
                buffers: grant.buffers,
            }),
            Err(Refusal::Unauthenticated(_)) => Err(Refused::unauthorized(
                "a wrong bearer token (neither the agent's nor one the API server authenticates)",
            )),
            Err(e @ Refusal::Forbidden { .. }) => Err(Refused {
                status: 403,
                why: e.to_string(),
            }),
            Err(e @ Refusal::Unavailable(_)) => Err(Refused {
                status: 503,
                why: format!("the token could not be reviewed: {e}"),
            }),
        }
    }

    #[cfg(not(feature = "k8s-api"))]
    async fn reviewed(&self, _: &[u8]) -> Result<Access, Refused> {
        Err(Refused::unauthorized("a wrong bearer token"))
    }
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell a caller how much of its guess was right.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(result: Result<Access, Refused>) -> (u16, String) {
        let refused = result.unwrap_err();
        (refused.status, refused.why)
    }

    #[tokio::test]
    async fn only_the_right_bearer_token_is_admitted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let gate = Gate::new(Token::from_file(&path).unwrap());
        for header in [&b"Bearer s3cret"[..], b"bearer s3cret"] {
            let access = gate.admit(Some(header)).await.unwrap();
            assert!(access.buffers, "the agent's token grants everything");
        }
        let unauthorized = |why: &str| (401, why.to_owned());
        assert_eq!(
            refusal(gate.admit(None).await),
            unauthorized("no bearer token")
        );
        for wrong in [&b"Bearer s3cre"[..], b"Bearer s3cretX"] {
            assert_eq!(
                refusal(gate.admit(Some(wrong)).await),
                unauthorized("a wrong bearer token"),
                "no reviewer: only the agent's token"
            );
        }
        assert_eq!(
            refusal(gate.admit(Some(b"Basic czNjcmV0")).await),
            unauthorized("not a bearer token")
        );
        let open = Gate::new(Token::none());
        assert!(open.is_open());
        assert!(open.admit(None).await.unwrap().buffers);
    }

    #[test]
    fn an_empty_token_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, " \n").unwrap();
        let err = Token::from_file(&path).err().unwrap().to_string();
        assert!(err.ends_with("the token file is empty"), "{err}");
        assert!(Token::from_file(&dir.path().join("missing")).is_err());
    }
}
