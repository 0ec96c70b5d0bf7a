//! Cgroup ids, as the kernel puts them in each event, back to paths: the id
//! of a cgroup is its directory's inode number in the cgroup filesystem.
//!
//! A miss rescans the hierarchy, so a container started after sdtrace is
//! found at its first event. Each id's answer is asked of the [`Journal`] once,
//! so a capture file replays the same answers.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::journal::Journal;

/// Deeper than any runtime nests its cgroups; bounds a walk of a hostile tree.
const MAX_DEPTH: usize = 32;

/// Where the hierarchies are mounted: the v2 (unified) one, and the v1 one
/// whose ids the kernel side reports.
#[derive(Clone, Debug, Default)]
pub struct Mounts {
    pub v2: Option<PathBuf>,
    pub v1: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub struct CgroupNames {
    mounts: Mounts,
    /// Answers given, by (id, v1).
    known: HashMap<(u64, bool), Option<Arc<str>>>,
    /// The last walk of each hierarchy: inode to path.
    scanned: [HashMap<u64, String>; 2],
}

impl CgroupNames {
    pub fn new(mounts: Mounts) -> Self {
        Self {
            mounts,
            ..Self::default()
        }
    }

    /// The path of cgroup `id` (relative to its hierarchy's root, `/` for
    /// the root), or `None` when no such cgroup exists (any more).
    pub fn path(&mut self, journal: &Journal, id: u64, v1: bool) -> Option<Arc<str>> {
        if let Some(known) = self.known.get(&(id, v1)) {
            return known.clone();
        }
        let path = journal
            .cgroup_path(id, v1, || self.live_path(id, v1))
            .map(Arc::from);
        // A replay without the answer yet is asked earlier than the live run
        // asked (say a -r format needs containers where the -w filter did
        // not): the answer comes with a later record, so a miss is not kept.
        if path.is_some() || !journal.is_replay() {
            self.known.insert((id, v1), path.clone());
        }
        path
    }

    /// Whether cgroup `id`, whose path was answered, is gone from its
    /// hierarchy (its directory removed, or the path now another cgroup's).
    /// A cgroup never answered, or one of a hierarchy not mounted here, is
    /// not said to be gone.
    pub fn is_gone(&self, id: u64, v1: bool) -> bool {
        let Some(Some(path)) = self.known.get(&(id, v1)) else {
            return false;
        };
        let root = if v1 { &self.mounts.v1 } else { &self.mounts.v2 };
        let Some(root) = root else {
            return false;
        };
        match std::fs::metadata(root.join(path.trim_start_matches('/'))) {
            Ok(meta) => meta.ino() != id,
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        }
    }

    /// Drops what is known of cgroup `id`; its path, if it is asked again.
    pub fn forget(&mut self, id: u64, v1: bool) -> Option<Arc<str>> {
        self.scanned[usize::from(v1)].remove(&id);
        self.known.remove(&(id, v1)).flatten()
    }

    fn live_path(&mut self, id: u64, v1: bool) -> Option<String> {
        let slot = usize::from(v1);
        if let Some(p) = self.scanned[slot].get(&id) {
            return Some(p.clone());
        }
        let root = if v1 {
            self.mounts.v1.clone()
        } else {
            self.mounts.v2.clone()
        }?;
        self.scanned[slot] = scan(&root);
        self.scanned[slot].get(&id).cloned()
    }
}

/// Every directory under `root`, by inode.
pub fn scan(root: &Path) -> HashMap<u64, String> {
    let mut out = HashMap::new();
    let mut stack = vec![(root.to_path_buf(), String::from("/"), 0usize)];
    while let Some((dir, rel, depth)) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&dir) else {
            continue;
        };
        out.insert(meta.ino(), rel.clone());
        if depth >= MAX_DEPTH {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let name = e.file_name().to_string_lossy().into_owned();
                let child = if rel == "/" {
                    format!("/{name}")
                } else {
                    format!("{rel}/{name}")
                };
                stack.push((e.path(), child, depth + 1));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_inodes_and_new_cgroups_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("docker/abc")).unwrap();
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        let journal = Journal::recording();
        let mut names = CgroupNames::new(Mounts {
            v2: None,
            v1: Some(root.to_path_buf()),
        });
        assert_eq!(names.path(&journal, ino(root), true).as_deref(), Some("/"));
        assert_eq!(
            names
                .path(&journal, ino(&root.join("docker/abc")), true)
                .as_deref(),
            Some("/docker/abc")
        );
        // Created after the first walk: found by the walk its miss starts.
        std::fs::create_dir(root.join("docker/later")).unwrap();
        let later = ino(&root.join("docker/later"));
        assert_eq!(
            names.path(&journal, later, true).as_deref(),
            Some("/docker/later")
        );
        assert_eq!(names.path(&journal, 1, false), None, "no v2 mount");

        // A replay gives the same answers without any cgroupfs.
        let replay = Journal::replaying();
        replay.replay(journal.take());
        let mut again = CgroupNames::new(Mounts::default());
        assert_eq!(
            again.path(&replay, later, true).as_deref(),
            Some("/docker/later")
        );
        assert_eq!(again.path(&replay, ino(root), true).as_deref(), Some("/"));

        // Asked before the record that carries the answer: found after it.
        let live = Journal::recording();
        let abc = ino(&root.join("docker/abc"));
        let mut names = CgroupNames::new(Mounts {
            v2: None,
            v1: Some(root.to_path_buf()),
        });
        names.path(&live, abc, true);
        let replay = Journal::replaying();
        let mut early = CgroupNames::new(Mounts::default());
        assert_eq!(early.path(&replay, abc, true), None);
        replay.replay(live.take());
        assert_eq!(
            early.path(&replay, abc, true).as_deref(),
            Some("/docker/abc")
        );
    }
}
