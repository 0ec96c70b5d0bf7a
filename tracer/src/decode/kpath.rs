//! The path of an fd's file as the kernel's dentry walk found it (a
//! `FilePath*` capture item): names leaf first, reversed into a path.

use tracer_common::{CaptureKind, PATH_WALK_DETACHED, PATH_WALK_ROOT, PATH_WALK_TRUNCATED};

use super::SyscallEvent;

/// Leads a path whose walk stopped before the namespace's root.
pub const TRUNCATED_PREFIX: &str = ".../";

/// The absolute path of the event's `FilePath*` item, whichever capture slot
/// carried it: as the file's mount namespace sees it, so a container's file
/// reads as inside the container. A walk that stopped early gives a path
/// starting with [`TRUNCATED_PREFIX`]; a file with no path (a pipe, a socket)
/// or a malformed item gives `None`.
pub fn kernel_path(ev: &SyscallEvent<'_>) -> Option<String> {
    let item = ev.items().find(|i| {
        matches!(
            i.kind,
            CaptureKind::FilePathArgFd | CaptureKind::FilePathRetFd
        )
    })?;
    parse(item.data)
}

/// Reads an item's bytes: a status byte, then NUL-terminated names leaf first.
pub fn parse(data: &[u8]) -> Option<String> {
    let (&status, names) = data.split_first()?;
    let mut names: Vec<&[u8]> = names.split(|&b| b == 0).collect();
    // What follows the last name's NUL (nothing, in a well-formed item).
    if names.last().is_some_and(|n| n.is_empty()) {
        names.pop();
    }
    // The kernel never names a dentry "" or with a '/' in it: a corrupt item.
    if names.iter().any(|n| n.is_empty() || n.contains(&b'/')) {
        return None;
    }
    let mut out = String::from(match status {
        PATH_WALK_ROOT => "/",
        // A disconnected tree's names lack their start, as a cut-off walk's.
        PATH_WALK_TRUNCATED | PATH_WALK_DETACHED if !names.is_empty() => TRUNCATED_PREFIX,
        _ => return None,
    });
    for (i, name) in names.iter().rev().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&String::from_utf8_lossy(name));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, tests::syscall_record, Body};
    use tracer_common::syscall_names::nr;

    fn path_of(items: &[(u8, CaptureKind, &[u8])]) -> Option<String> {
        let bytes = syscall_record(nr::FCHMOD, 0, [3, 0o600, 0, 0, 0, 0], items);
        let rec = decode(&bytes).unwrap();
        let Body::Syscall(ev) = rec.body else {
            panic!("not a syscall")
        };
        kernel_path(&ev)
    }

    #[test]
    fn names_are_reversed_into_an_absolute_path() {
        assert_eq!(parse(b"\0passwd\0etc\0").as_deref(), Some("/etc/passwd"));
        assert_eq!(parse(b"\0tmp\0").as_deref(), Some("/tmp"));
        // The namespace's root itself has no names.
        assert_eq!(parse(b"\0").as_deref(), Some("/"));
        // A last name without its NUL still counts.
        assert_eq!(parse(b"\0b\0a").as_deref(), Some("/a/b"));
        assert_eq!(
            parse("\0caf\u{e9}\0h\u{f4}me\0".as_bytes()).as_deref(),
            Some("/h\u{f4}me/caf\u{e9}")
        );
    }

    #[test]
    fn a_cut_off_walk_is_marked() {
        assert_eq!(parse(b"\x01c\0b\0").as_deref(), Some(".../b/c"));
        assert_eq!(parse(b"\x02c\0").as_deref(), Some(".../c"));
        assert_eq!(parse(b"\x01"), None, "no names: nothing to show");
    }

    #[test]
    fn pseudo_files_and_corrupt_items_have_no_path() {
        assert_eq!(parse(b"\x02"), None, "a pipe or socket");
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"\x07a\0"), None, "unknown status");
        assert_eq!(parse(b"\0a\0\0b\0"), None, "an empty name");
        assert_eq!(parse(b"\0a/b\0"), None, "a slash in a name");
        assert_eq!(parse(b"\0\0"), None, "an empty name");
    }

    #[test]
    fn found_by_kind_in_any_slot() {
        assert_eq!(
            path_of(&[(0, CaptureKind::FilePathArgFd, b"\0x\0tmp\0")]).as_deref(),
            Some("/tmp/x")
        );
        assert_eq!(
            path_of(&[
                (0, CaptureKind::UserStr, b"y"),
                (1, CaptureKind::BufferRet, b"\0z\0"),
                (2, CaptureKind::FilePathRetFd, b"\0y\0"),
            ])
            .as_deref(),
            Some("/y")
        );
        assert_eq!(path_of(&[(0, CaptureKind::UserStr, b"\0y\0")]), None);
        assert_eq!(path_of(&[]), None);
        assert_eq!(path_of(&[(0, CaptureKind::FilePathArgFd, b"")]), None);
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut seed = 0x9e37_79b9u64;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Mostly small bytes, so NULs, statuses and '/' occur.
                    (seed % 50) as u8
                })
                .collect();
            let _ = parse(&bytes);
        }
    }
}
