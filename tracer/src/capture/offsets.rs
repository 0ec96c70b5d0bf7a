//! Turns the kernel's BTF into the [`KernelOffsets`] the eBPF programs follow
//! pointers with, and picks the cgroup v1 hierarchy that identifies containers.

use std::path::PathBuf;

use tracer_common::KernelOffsets;

use super::btf::{Btf, BtfError};

/// Controllers tried, in order, for the v1 identity: the ones container
/// runtimes always create a cgroup in.
const V1_PREFERENCE: &[&str] = &[
    "memory", "pids", "cpu", "cpuacct", "blkio", "devices", "freezer", "cpuset",
];

/// Where the host's cgroup hierarchies are mounted.
#[derive(Clone, Debug, Default)]
pub struct CgroupMounts {
    /// The v2 (unified) mount, when there is one.
    pub v2: Option<PathBuf>,
    /// The v1 hierarchy chosen for identity: controller and mount point.
    pub v1: Option<(String, PathBuf)>,
}

impl CgroupMounts {
    /// Reads `/proc/self/mountinfo`.
    pub fn discover() -> Self {
        std::fs::read_to_string("/proc/self/mountinfo")
            .map(|s| Self::parse(&s))
            .unwrap_or_default()
    }

    pub fn parse(mountinfo: &str) -> Self {
        let mut out = CgroupMounts::default();
        let mut v1: Vec<(String, PathBuf)> = Vec::new();
        for line in mountinfo.lines() {
            // id parent major:minor root mount-point options [optional...] - fstype source super-options
            let mut halves = line.splitn(2, " - ");
            let (Some(left), Some(right)) = (halves.next(), halves.next()) else {
                continue;
            };
            let Some(mount_point) = left.split(' ').nth(4) else {
                continue;
            };
            let mut r = right.split(' ');
            let (Some(fstype), _, Some(opts)) = (r.next(), r.next(), r.next()) else {
                continue;
            };
            match fstype {
                "cgroup2" if out.v2.is_none() => out.v2 = Some(PathBuf::from(mount_point)),
                "cgroup" => {
                    for opt in opts.split(',') {
                        if V1_PREFERENCE.contains(&opt) {
                            v1.push((opt.to_owned(), PathBuf::from(mount_point)));
                        }
                    }
                }
                _ => {}
            }
        }
        out.v1 = V1_PREFERENCE
            .iter()
            .find_map(|want| v1.iter().find(|(c, _)| c == want).cloned());
        out
    }
}

/// Reads every offset the programs use. Only `task_struct.pid/tgid` are
/// essential; any other missing offset is marked and its feature degrades
/// (the value reads as 0) instead of stopping sdtrace.
pub fn kernel_offsets(btf: &Btf, mounts: &CgroupMounts) -> Result<KernelOffsets, BtfError> {
    let opt = |s: &str, p: &str| btf.offset(s, p).unwrap_or(KernelOffsets::MISSING);
    let mut o = KernelOffsets::zeroed();
    o.task_pid = btf.offset("task_struct", "pid")?;
    o.task_tgid = btf.offset("task_struct", "tgid")?;
    o.task_nsproxy = opt("task_struct", "nsproxy");
    o.task_thread_pid = opt("task_struct", "thread_pid");
    o.task_cgroups = opt("task_struct", "cgroups");
    o.task_mm = opt("task_struct", "mm");
    o.task_files = opt("task_struct", "files");
    o.task_exit_code = opt("task_struct", "exit_code");
    o.task_comm = opt("task_struct", "comm");
    o.nsproxy_mnt_ns = opt("nsproxy", "mnt_ns");
    o.nsproxy_net_ns = opt("nsproxy", "net_ns");
    o.mnt_ns_inum = opt("mnt_namespace", "ns.inum");
    o.net_inum = opt("net", "ns.inum");
    o.pid_ns_inum = opt("pid_namespace", "ns.inum");
    o.pid_level = opt("pid", "level");
    o.pid_numbers = opt("pid", "numbers");
    o.upid_size = btf.size_of("upid").unwrap_or(KernelOffsets::MISSING);
    o.upid_ns = opt("upid", "ns");
    o.css_set_subsys = opt("css_set", "subsys");
    o.css_cgroup = opt("cgroup_subsys_state", "cgroup");
    o.cgroup_kn = opt("cgroup", "kn");
    o.kernfs_node_id = opt("kernfs_node", "id");
    o.mm_arg_start = opt("mm_struct", "arg_start");
    o.mm_arg_end = opt("mm_struct", "arg_end");
    o.binprm_filename = opt("linux_binprm", "filename");
    o.files_fdt = opt("files_struct", "fdt");
    o.fdtable_fd = opt("fdtable", "fd");
    o.fdtable_max_fds = opt("fdtable", "max_fds");
    o.file_private_data = opt("file", "private_data");
    o.socket_sk = opt("socket", "sk");
    o.sk_family = opt("sock", "__sk_common.skc_family");
    o.sk_num = opt("sock", "__sk_common.skc_num");
    o.sk_dport = opt("sock", "__sk_common.skc_dport");
    o.sk_rcv_saddr = opt("sock", "__sk_common.skc_rcv_saddr");
    o.sk_daddr = opt("sock", "__sk_common.skc_daddr");
    o.sk_v6_rcv_saddr = opt("sock", "__sk_common.skc_v6_rcv_saddr");
    o.sk_v6_daddr = opt("sock", "__sk_common.skc_v6_daddr");
    o.sk_protocol = opt("sock", "sk_protocol");
    // An index within css_set.subsys[], or none: the programs index the
    // array with it unmasked.
    let subsys_len = btf.array_len("css_set", "subsys").ok();
    o.cgroup_v1_subsys = mounts
        .v1
        .as_ref()
        .and_then(|(ctrl, _)| btf.enum_value(&format!("{ctrl}_cgrp_id")))
        .and_then(|v| u32::try_from(v).ok())
        .filter(|&i| subsys_len.is_some_and(|len| i < len))
        .unwrap_or(KernelOffsets::MISSING);
    path_walk_offsets(&mut o, |s, p| btf.offset(s, p).ok());
    Ok(o)
}

/// The offsets of the kernel's dentry walk (`FilePath*` captures). The walk
/// needs every one of them: when one is missing, all are marked missing and
/// the walk yields nothing (the programs check the first).
fn path_walk_offsets(o: &mut KernelOffsets, find: impl Fn(&str, &str) -> Option<u32>) {
    let found = [
        find("file", "f_path.dentry"),
        find("file", "f_path.mnt"),
        find("dentry", "d_parent"),
        find("dentry", "d_name.name"),
        find("vfsmount", "mnt_root"),
        find("mount", "mnt"),
        find("mount", "mnt_parent"),
        find("mount", "mnt_mountpoint"),
    ];
    let v = |i: usize| {
        if found.iter().all(Option::is_some) {
            found[i].unwrap_or(KernelOffsets::MISSING)
        } else {
            KernelOffsets::MISSING
        }
    };
    o.file_path_dentry = v(0);
    o.file_path_mnt = v(1);
    o.dentry_parent = v(2);
    o.dentry_name = v(3);
    o.vfsmount_root = v(4);
    o.mount_mnt = v(5);
    o.mount_parent = v(6);
    o.mount_mountpoint = v(7);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO_V1: &str = "\
30 23 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
34 30 0:30 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
";
    const MOUNTINFO_V2: &str = "\
25 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn hybrid_host_prefers_memory_hierarchy() {
        let m = CgroupMounts::parse(MOUNTINFO_V1);
        assert_eq!(
            m.v1,
            Some(("memory".into(), PathBuf::from("/sys/fs/cgroup/memory")))
        );
        assert_eq!(m.v2, Some(PathBuf::from("/sys/fs/cgroup/unified")));
    }

    #[test]
    fn pure_v2_host_has_no_v1_identity() {
        let m = CgroupMounts::parse(MOUNTINFO_V2);
        assert_eq!(m.v1, None);
        assert_eq!(m.v2, Some(PathBuf::from("/sys/fs/cgroup")));
    }

    #[test]
    fn one_missing_walk_offset_disables_the_walk() {
        let mut o = KernelOffsets::zeroed();
        path_walk_offsets(&mut o, |s, p| Some(s.len() as u32 + p.len() as u32));
        assert_eq!(o.file_path_dentry, 4 + 13);
        assert_eq!(o.mount_mnt, 5 + 3);
        path_walk_offsets(&mut o, |s, p| {
            ((s, p) != ("mount", "mnt_mountpoint")).then_some(8)
        });
        for v in [
            o.file_path_dentry,
            o.file_path_mnt,
            o.dentry_parent,
            o.dentry_name,
        ] {
            assert_eq!(v, KernelOffsets::MISSING);
        }
        for v in [
            o.vfsmount_root,
            o.mount_mnt,
            o.mount_parent,
            o.mount_mountpoint,
        ] {
            assert_eq!(v, KernelOffsets::MISSING);
        }
    }

    #[test]
    fn real_kernel_offsets_resolve() {
        let Ok(btf) = Btf::from_sys_fs() else {
            eprintln!("SKIP: no kernel BTF");
            return;
        };
        let o = kernel_offsets(&btf, &CgroupMounts::parse(MOUNTINFO_V1)).unwrap();
        for (name, v) in [
            ("task_nsproxy", o.task_nsproxy),
            ("mnt_ns_inum", o.mnt_ns_inum),
            ("pid_numbers", o.pid_numbers),
            ("kernfs_node_id", o.kernfs_node_id),
            ("mm_arg_start", o.mm_arg_start),
            ("sk_num", o.sk_num),
            ("file_private_data", o.file_private_data),
            ("cgroup_v1_subsys", o.cgroup_v1_subsys),
            ("file_path_dentry", o.file_path_dentry),
            ("dentry_name", o.dentry_name),
            ("mount_mountpoint", o.mount_mountpoint),
        ] {
            assert_ne!(v, KernelOffsets::MISSING, "{name} not found in BTF");
        }
    }
}
