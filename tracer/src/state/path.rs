//! Lexical path arithmetic for cwd and dirfd-relative resolution. The kernel
//! resolves symlinks; we only see strings, so `..` is taken lexically, as
//! sysdig does.

/// `path` with `.`, `..` and repeated slashes removed. Absolute paths stay
/// absolute and `..` never climbs above `/`; a relative path stays relative.
#[must_use]
pub fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            name => parts.push(name),
        }
    }
    let mut out = String::with_capacity(path.len());
    if absolute {
        out.push('/');
    }
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// `path` resolved against the directory `base` (a cwd or a dirfd's path),
/// then normalised. An absolute `path` ignores `base`; an unknown (empty)
/// `base` leaves a relative `path` relative.
#[must_use]
pub fn resolve(base: &str, path: &str) -> String {
    if path.starts_with('/') || base.is_empty() {
        return normalize(path);
    }
    let mut joined = String::with_capacity(base.len() + 1 + path.len());
    joined.push_str(base);
    joined.push('/');
    joined.push_str(path);
    normalize(&joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize("/a/b/../c/./d//e/"), "/a/c/d/e");
        assert_eq!(normalize("/../.."), "/");
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize("a/../../b"), "../b");
        assert_eq!(normalize("./a"), "a");
        assert_eq!(normalize("."), ".");
        assert_eq!(normalize("../../x/.."), "../..");
    }

    #[test]
    fn resolves_against_base() {
        assert_eq!(
            resolve("/home/u", "src/../Cargo.toml"),
            "/home/u/Cargo.toml"
        );
        assert_eq!(resolve("/home/u", "../../.."), "/");
        assert_eq!(resolve("/home/u", "/etc/passwd"), "/etc/passwd");
        assert_eq!(resolve("/", "tmp"), "/tmp");
        assert_eq!(resolve("", "rel/x"), "rel/x");
    }
}
