//! Push-down checks: the parts of the user's filter the kernel can decide
//! exactly. Userspace derives the sets from the filter; a set is consulted
//! only when its `FILTER_*` bit is on.
use crate::maps::{CGROUP_FILTER, COMM_FILTER, TGID_FILTER};
use tracer_common::{CGROUP_V1_TAG, COMM_LEN, FILTER_CGROUP, FILTER_COMM, FILTER_TGID, KernelConfig};

#[inline(always)]
pub fn pass_tgid(cfg: &KernelConfig, tgid: u32) -> bool {
    cfg.filters & FILTER_TGID == 0 || unsafe { TGID_FILTER.get(&tgid) }.is_some()
}

#[inline(always)]
pub fn pass_comm(cfg: &KernelConfig, comm: &[u8; COMM_LEN]) -> bool {
    cfg.filters & FILTER_COMM == 0 || unsafe { COMM_FILTER.get(comm) }.is_some()
}

#[inline(always)]
pub fn pass_cgroup(cfg: &KernelConfig, v2: u64, v1: u64) -> bool {
    cfg.filters & FILTER_CGROUP == 0
        || unsafe { CGROUP_FILTER.get(&v2) }.is_some()
        || (v1 != 0 && unsafe { CGROUP_FILTER.get(&(v1 | CGROUP_V1_TAG)) }.is_some())
}
