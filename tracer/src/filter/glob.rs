//! Shell-style globs over bytes, as `fnmatch(3)` without flags: `*` (any run,
//! `/` included), `?` (one byte), `[a-z]`, `[!a-z]`/`[^a-z]`, `\x` (a literal x).
//! Matching is linear-time backtracking on the last `*`, so no pattern can make
//! it blow up.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Byte(u8),
    Any,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(u8, u8)>,
    },
}

impl Tok {
    fn matches(&self, b: u8) -> bool {
        match self {
            Tok::Byte(x) => *x == b,
            Tok::Any => true,
            Tok::Star => false,
            Tok::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= b && b <= hi) != *negated
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Glob(Vec<Tok>);

impl Glob {
    pub(super) fn new(pattern: &[u8]) -> Glob {
        let mut toks = Vec::new();
        let mut i = 0;
        while i < pattern.len() {
            let b = pattern[i];
            i += 1;
            match b {
                b'*' => {
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                }
                b'?' => toks.push(Tok::Any),
                b'\\' if i < pattern.len() => {
                    toks.push(Tok::Byte(pattern[i]));
                    i += 1;
                }
                b'[' => match class(&pattern[i..]) {
                    Some((tok, used)) => {
                        toks.push(tok);
                        i += used;
                    }
                    // An unclosed `[` is an ordinary character.
                    None => toks.push(Tok::Byte(b'[')),
                },
                _ => toks.push(Tok::Byte(b)),
            }
        }
        Glob(toks)
    }

    pub(super) fn matches(&self, text: &[u8]) -> bool {
        let toks = &self.0;
        let (mut p, mut i) = (0, 0);
        // Where the last `*` was, and where in the text it is retried from.
        let mut retry: Option<(usize, usize)> = None;
        while i < text.len() {
            if p < toks.len() {
                if toks[p] == Tok::Star {
                    retry = Some((p, i));
                    p += 1;
                    continue;
                }
                if toks[p].matches(text[i]) {
                    p += 1;
                    i += 1;
                    continue;
                }
            }
            match retry {
                Some((star, from)) => {
                    p = star + 1;
                    i = from + 1;
                    retry = Some((star, from + 1));
                }
                None => return false,
            }
        }
        toks[p..].iter().all(|t| *t == Tok::Star)
    }
}

/// A bracket expression after its `[`: the token and the bytes it used.
fn class(rest: &[u8]) -> Option<(Tok, usize)> {
    let mut i = 0;
    let negated = matches!(rest.first(), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let b = *rest.get(i)?;
        if b == b']' && !first {
            return Some((Tok::Class { negated, ranges }, i + 1));
        }
        first = false;
        if rest.get(i + 1) == Some(&b'-') && rest.get(i + 2).is_some_and(|&hi| hi != b']') {
            ranges.push((b, rest[i + 2]));
            i += 3;
        } else {
            ranges.push((b, b));
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p.as_bytes()).matches(t.as_bytes())
    }

    #[test]
    fn globs() {
        assert!(m("*", ""));
        assert!(m("/etc/*", "/etc/passwd"));
        assert!(m("*/passwd", "/etc/passwd"));
        assert!(m("/e?c/p*d", "/etc/passwd"));
        assert!(!m("/e?c/p*x", "/etc/passwd"));
        assert!(m("*a*b*c", "xxaxxbxxbxc"));
        assert!(m("[a-c]at", "bat"));
        assert!(!m("[!a-c]at", "bat"));
        assert!(m("[]]x", "]x"));
        assert!(m("[abc", "[abc"));
        assert!(m("a\\*", "a*"));
        assert!(!m("a\\*", "ab"));
        assert!(!m("abc", "ab"));
        assert!(!m("ab", "abc"));
        let long = "a".repeat(5000);
        assert!(!m(&format!("{}b", "*a".repeat(50)), &long));
    }
}
