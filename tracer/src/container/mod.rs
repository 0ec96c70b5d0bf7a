//! Containers: which one an event's process runs in, from the cgroup the
//! kernel reports for it.

mod asker;
pub mod cgroups;
pub mod classify;
#[cfg(feature = "cri")]
pub mod cri;
#[cfg(not(feature = "cri"))]
#[path = "cri_absent.rs"]
pub mod cri;
pub mod docker;
pub mod meta;

use std::collections::HashMap;
use std::sync::Arc;

use cgroups::{CgroupNames, Mounts};
use classify::{classify, ContainerRef};

use crate::fields::FieldId;
use crate::journal::Journal;

/// The fields that need [`Containers::place`].
pub const CONTAINER_FIELDS: [FieldId; 3] = [
    FieldId::ContainerId,
    FieldId::ContainerFullId,
    FieldId::ContainerType,
];

/// The fields that need a container's metadata as well.
pub const META_FIELDS: [FieldId; 13] = [
    FieldId::ContainerName,
    FieldId::ContainerImage,
    FieldId::ContainerImageRepository,
    FieldId::ContainerImageTag,
    FieldId::ContainerImageId,
    FieldId::ContainerPrivileged,
    FieldId::ContainerIp,
    FieldId::ContainerLabel,
    FieldId::ContainerMounts,
    FieldId::K8sPodName,
    FieldId::K8sNsName,
    FieldId::K8sPodUid,
    FieldId::K8sContainerName,
];

/// Whether a field's value is the same for every event of one cgroup,
/// once its container's metadata is known: what cgroup muting decides by.
pub fn decided_by_cgroup(id: FieldId) -> bool {
    CONTAINER_FIELDS.contains(&id) || META_FIELDS.contains(&id)
}

/// Where an event's process runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    Host,
    Container(Arc<ContainerRef>),
}

/// Event cgroup ids to containers, cached by id (one lookup per event) and
/// by cgroup path, and forgotten once their cgroup is removed: a node that
/// runs containers by the thousand a day must not keep every one.
#[derive(Debug, Default)]
pub struct Containers {
    names: CgroupNames,
    by_path: HashMap<Arc<str>, Option<Arc<ContainerRef>>>,
    by_id: HashMap<(u64, u64), Place>,
    /// Cgroups placed since the last sweep.
    placed_since_sweep: usize,
}

/// Cgroups placed between two sweeps for removed ones: each sweep costs a
/// `stat` per cached cgroup, so it runs as often as new ones come.
pub const SWEEP_EVERY: usize = 256;

/// A cgroup found removed by [`Containers::sweep`].
#[derive(Debug, PartialEq, Eq)]
pub struct Gone {
    /// As records carry them: (v2 id, v1 id).
    pub ids: (u64, u64),
    /// The container that ran in it, if one did.
    pub container: Option<Arc<ContainerRef>>,
}

impl Containers {
    pub fn new(mounts: Mounts) -> Self {
        Self {
            names: CgroupNames::new(mounts),
            by_path: HashMap::new(),
            by_id: HashMap::new(),
            placed_since_sweep: 0,
        }
    }

    /// Whether enough new cgroups came since the last sweep.
    #[must_use]
    pub fn sweep_due(&self) -> bool {
        self.placed_since_sweep >= SWEEP_EVERY
    }

    /// Forgets every cached cgroup that has been removed, and says which.
    pub fn sweep(&mut self) -> Vec<Gone> {
        self.placed_since_sweep = 0;
        let names = &self.names;
        let gone: Vec<(u64, u64)> = self
            .by_id
            .keys()
            .filter(|(v2, v1)| {
                if *v1 != 0 {
                    names.is_gone(*v1, true)
                } else {
                    names.is_gone(*v2, false)
                }
            })
            .copied()
            .collect();
        gone.into_iter()
            .map(|ids| {
                self.by_id.remove(&ids);
                let path = if ids.1 != 0 {
                    self.names.forget(ids.1, true)
                } else {
                    self.names.forget(ids.0, false)
                };
                let container = path.and_then(|p| self.by_path.remove(&p)).flatten();
                Gone { ids, container }
            })
            .collect()
    }

    /// How many cgroups are cached.
    #[must_use]
    pub fn cached(&self) -> usize {
        self.by_id.len()
    }

    /// Where a process with these cgroup ids runs; `None` when its cgroup
    /// is unknown (removed before it could be looked up). The v1 id, when
    /// the kernel side reported one, names the hierarchy runtimes always
    /// populate; otherwise the v2 id does.
    pub fn place(&mut self, journal: &Journal, cgroup_id: u64, cgroup_v1_id: u64) -> Option<Place> {
        if let Some(p) = self.by_id.get(&(cgroup_id, cgroup_v1_id)) {
            return Some(p.clone());
        }
        let path = if cgroup_v1_id != 0 {
            self.names.path(journal, cgroup_v1_id, true)?
        } else {
            self.names.path(journal, cgroup_id, false)?
        };
        let found = self
            .by_path
            .entry(path)
            .or_insert_with_key(|p| classify(p).map(Arc::new));
        let place = match found {
            Some(c) => Place::Container(Arc::clone(c)),
            None => Place::Host,
        };
        self.by_id.insert((cgroup_id, cgroup_v1_id), place.clone());
        self.placed_since_sweep += 1;
        Some(place)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn removed_cgroups_are_swept_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mounts = Mounts {
            v2: Some(root.to_path_buf()),
            v1: None,
        };
        let mut containers = Containers::new(mounts);
        let journal = Journal::off();
        let id = |n: usize| format!("{n:064x}");
        let mut ids = Vec::new();
        for n in 0..SWEEP_EVERY {
            let path = root.join(format!("docker/{}", id(n)));
            std::fs::create_dir_all(&path).unwrap();
            let ino = std::fs::metadata(&path).unwrap().ino();
            assert!(matches!(
                containers.place(&journal, ino, 0),
                Some(Place::Container(_))
            ));
            ids.push(ino);
        }
        assert!(containers.sweep_due());
        for n in 0..SWEEP_EVERY / 2 {
            std::fs::remove_dir(root.join(format!("docker/{}", id(n)))).unwrap();
        }
        let gone = containers.sweep();
        assert_eq!(gone.len(), SWEEP_EVERY / 2);
        let mut gone_containers: Vec<String> = gone
            .iter()
            .map(|g| g.container.as_ref().unwrap().id.clone())
            .collect();
        gone_containers.sort();
        let expected: Vec<String> = (0..SWEEP_EVERY / 2).map(id).collect();
        assert_eq!(gone_containers, expected);
        assert_eq!(containers.cached(), SWEEP_EVERY / 2);
        assert!(!containers.sweep_due());
        // The kept ones are still placed from the cache; nothing else goes.
        assert!(containers.sweep().is_empty());
        let kept = ids[SWEEP_EVERY - 1];
        assert!(matches!(
            containers.place(&journal, kept, 0),
            Some(Place::Container(_))
        ));
    }
}
