//! Muting cgroups in the kernel. The filter's container part is decided in
//! userspace, once a cgroup's container (and its metadata) is known; a
//! cgroup for which it is false for every possible event is put in the
//! kernel's `MUTED_CGROUPS` map, and its later syscalls cost the kernel
//! one lookup instead of a record. Undecided cgroups keep passing, so a new
//! container that matches is traced from its first syscall.
use aya::maps::{HashMap, MapData};
use tracer_common::CGROUP_V1_TAG;

pub struct CgroupMuter {
    map: HashMap<MapData, u64, u8>,
    /// cgroups muted so far.
    pub muted: u64,
    /// Muted cgroups taken out of the map once removed.
    pub evicted: u64,
}

impl CgroupMuter {
    pub(super) fn new(map: HashMap<MapData, u64, u8>) -> Self {
        Self {
            map,
            muted: 0,
            evicted: 0,
        }
    }

    /// Mutes the cgroup of a record with these ids: the v1 one when the
    /// kernel reported one (it is what containers are placed by), else v2.
    pub fn mute(&mut self, cgroup_id: u64, cgroup_v1_id: u64) {
        let key = key(cgroup_id, cgroup_v1_id);
        // A failed insert leaves the cgroup unmuted: userspace still
        // filters its events, exactly, at their usual cost.
        match self.map.insert(key, 1, 0) {
            Ok(()) => self.muted += 1,
            Err(e) => log::debug!("muting cgroup {key:#x}: {e}"),
        }
    }

    /// Takes a removed cgroup out of the map: its id may be a new cgroup's
    /// one day (ids are inode numbers), and its entry is room another needs.
    pub fn forget(&mut self, cgroup_id: u64, cgroup_v1_id: u64) {
        let key = key(cgroup_id, cgroup_v1_id);
        if self.map.remove(&key).is_ok() {
            self.evicted += 1;
        }
    }

    /// Cgroups in the kernel's map now.
    #[must_use]
    pub fn in_kernel(&self) -> usize {
        self.map.keys().filter(Result::is_ok).count()
    }
}

fn key(cgroup_id: u64, cgroup_v1_id: u64) -> u64 {
    if cgroup_v1_id != 0 {
        cgroup_v1_id | CGROUP_V1_TAG
    } else {
        cgroup_id
    }
}
