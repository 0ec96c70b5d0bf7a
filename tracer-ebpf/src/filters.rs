//! Push-down checks: the parts of the user's filter the kernel can decide
//! exactly. Userspace derives the sets from the filter; a set is consulted
//! only when its `FILTER_*` bit is on. Small sets live in the read-only
//! config and are compared in place: on the path of every syscall of every
//! process, a hash lookup costs more than the syscall it filters.
use crate::maps::{cfg, CGROUP_FILTER, COMM_FILTER, MUTED_CGROUPS, TGID_FILTER};
use tracer_common::{
    KernelConfig, CGROUP_V1_TAG, COMM_LEN, FILTER_CGROUP, FILTER_COMM, FILTER_COMM_SMALL,
    FILTER_MUTED, FILTER_TGID, FILTER_TGID_SMALL, SMALL_SET,
};

#[inline(always)]
pub fn pass_tgid(c: &KernelConfig, filters: u32, tgid: u32) -> bool {
    if filters & FILTER_TGID_SMALL != 0 {
        let n = cfg(&c.ntgids) as usize;
        for i in 0..SMALL_SET {
            if i >= n {
                break;
            }
            if cfg(&c.tgids[i]) == tgid {
                return true;
            }
        }
        return false;
    }
    // SAFETY: only whether the key is present is used: the value is never
    // read, so another CPU changing or deleting it does not matter.
    filters & FILTER_TGID == 0 || unsafe { TGID_FILTER.get(&tgid) }.is_some()
}

/// Whether the task name passes; `comm` is NUL-padded as the kernel copies it.
#[inline(always)]
pub fn pass_comm(c: &KernelConfig, filters: u32, comm: &[u8; COMM_LEN]) -> bool {
    if filters & FILTER_COMM_SMALL != 0 {
        let lo = u64::from_ne_bytes([
            comm[0], comm[1], comm[2], comm[3], comm[4], comm[5], comm[6], comm[7],
        ]);
        let hi = u64::from_ne_bytes([
            comm[8], comm[9], comm[10], comm[11], comm[12], comm[13], comm[14], comm[15],
        ]);
        let n = cfg(&c.ncomms) as usize;
        for i in 0..SMALL_SET {
            if i >= n {
                break;
            }
            let entry = c.comms[i].as_ptr().cast::<u64>();
            // SAFETY: two words inside the 16-byte entry of a live config.
            // They are 8-byte aligned: `comms` is 64 bytes into
            // `KernelConfig` (asserted in tracer-common), and `CONFIG` starts
            // the object's .rodata, which the kernel loads as an 8-aligned map
            // value (the type itself only promises 4).
            let (elo, ehi) = unsafe {
                (
                    core::ptr::read_volatile(entry),
                    core::ptr::read_volatile(entry.add(1)),
                )
            };
            if elo == lo && ehi == hi {
                return true;
            }
        }
        return false;
    }
    // SAFETY: as in `pass_tgid`, only presence is used.
    filters & FILTER_COMM == 0 || unsafe { COMM_FILTER.get(comm) }.is_some()
}

/// The cgroup tests. A muted cgroup is keyed by the id userspace places
/// containers by: the v1 one where the thread has one, else the v2 one.
#[inline(always)]
pub fn pass_cgroup(filters: u32, v2: u64, v1: u64) -> bool {
    if filters & FILTER_MUTED != 0 {
        let key = if v1 != 0 { v1 | CGROUP_V1_TAG } else { v2 };
        // SAFETY: as in `pass_tgid`, only presence is used.
        if unsafe { MUTED_CGROUPS.get(&key) }.is_some() {
            return false;
        }
    }
    // SAFETY: as in `pass_tgid`, only presence is used (both lookups).
    filters & FILTER_CGROUP == 0
        || unsafe { CGROUP_FILTER.get(&v2) }.is_some()
        || (v1 != 0 && unsafe { CGROUP_FILTER.get(&(v1 | CGROUP_V1_TAG)) }.is_some())
}
