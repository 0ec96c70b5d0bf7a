//! Containers: which one an event's process runs in, from the cgroup the
//! kernel reports for it.

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
/// by cgroup path.
#[derive(Debug, Default)]
pub struct Containers {
    names: CgroupNames,
    by_path: HashMap<Arc<str>, Option<Arc<ContainerRef>>>,
    by_id: HashMap<(u64, u64), Place>,
}

impl Containers {
    pub fn new(mounts: Mounts) -> Self {
        Self {
            names: CgroupNames::new(mounts),
            by_path: HashMap::new(),
            by_id: HashMap::new(),
        }
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
        Some(place)
    }
}
