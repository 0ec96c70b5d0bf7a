//! Who may subscribe: a client presents the bearer token the agent was
//! given (in Kubernetes, the Secret mounted into its pod).

use std::path::Path;

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

    /// Why a request with this `Authorization` header is refused, or `None`
    /// when it is admitted.
    #[must_use]
    pub fn refuses(&self, authorization: Option<&[u8]>) -> Option<&'static str> {
        let expected = self.0.as_deref()?;
        let Some(header) = authorization else {
            return Some("no bearer token");
        };
        let presented = header
            .split_at_checked(7)
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"bearer "))
            .map(|(_, token)| token.trim_ascii());
        match presented {
            None => Some("not a bearer token"),
            Some(token) if same_bytes(token, expected) => None,
            Some(_) => Some("a wrong bearer token"),
        }
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

    #[test]
    fn only_the_right_bearer_token_is_admitted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let token = Token::from_file(&path).unwrap();
        assert_eq!(token.refuses(Some(b"Bearer s3cret")), None);
        assert_eq!(token.refuses(Some(b"bearer s3cret")), None);
        assert_eq!(token.refuses(None), Some("no bearer token"));
        assert_eq!(
            token.refuses(Some(b"Bearer s3cre")),
            Some("a wrong bearer token")
        );
        assert_eq!(
            token.refuses(Some(b"Bearer s3cretX")),
            Some("a wrong bearer token")
        );
        assert_eq!(
            token.refuses(Some(b"Basic czNjcmV0")),
            Some("not a bearer token")
        );
        assert_eq!(Token::none().refuses(None), None);
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
