//! The kernel/user boundary of sdtrace: the byte layouts of the records the eBPF
//! programs write into the ring buffer, the configuration userspace hands to the
//! programs at load time, and the per-syscall capture table both sides agree on.
//!
//! Everything here is `#[repr(C)]`, holds only integers and fixed arrays, and has
//! its size pinned by `const` assertions, so that a layout change on one side
//! fails to compile instead of silently misreading the other.
#![no_std]

pub mod abi;
pub mod arch;
pub mod syscall_names;
pub mod syscalls;

use core::mem::{offset_of, size_of};

/// Longest task name the kernel keeps (`TASK_COMM_LEN`).
pub const COMM_LEN: usize = 16;
/// Number of slots in the per-syscall tables (covers every x86_64 syscall number).
pub const SYSCALL_SLOTS: u32 = 512;
/// Upper bound for `--snaplen`: the buffer bytes copied from read/write-family calls.
pub const SNAPLEN_MAX: u32 = 16384;
/// Longest path or string the kernel copies for one argument.
pub const PATH_MAX: u32 = 4096;
/// Longest argument vector (NUL-separated) the kernel copies for an exec.
pub const ARGS_MAX: u32 = 4096;
/// Longest socket address the kernel copies.
pub const SOCKADDR_MAX: u32 = 128;
/// Captured items per syscall event at most.
pub const MAX_CAPTURES: usize = 3;
/// Size of the per-CPU scratch area a variable-size record is assembled in.
/// Twice the largest single copy, so a masked offset plus a bounded length
/// always stays inside (the verifier checks exactly that).
pub const SCRATCH_SIZE: usize = 65536;
/// Offsets into the scratch area are masked with this before each copy.
pub const SCRATCH_MASK: u32 = 32767;

wire_enum! {
    /// What a ring-buffer record describes; the `kind` field of [`EventHeader`].
    ///
    /// Sent as a `u16` and converted with `TryFrom`, never transmuted: a bad
    /// tag from the kernel is an error, not undefined behaviour.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum RecordKind: u16 {
        /// A completed syscall: header, [`SyscallArgs`], then captured items.
        Syscall = 1,
        /// `sched_process_fork`: header of the parent, then [`ForkPayload`].
        ProcFork = 2,
        /// `sched_process_exec`: header of the new image, then [`ExecPayload`]
        /// followed by the executable path and the NUL-separated arguments.
        ProcExec = 3,
        /// `sched_process_exit`: header, then [`ExitPayload`].
        ProcExit = 4,
    }
}

/// Set in [`EventHeader::flags`] when the entry hook was on but saw no entry for
/// this call (it started before sdtrace attached), so `latency_ns` is unknown.
pub const HDR_NO_LATENCY: u16 = 1;

/// Set in [`EventHeader::flags`] when the record has no return value: a
/// capture file's exit event that carried none (old libscap layouts).
pub const HDR_NO_RESULT: u16 = 2;

/// The fixed start of every record.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct EventHeader {
    /// `bpf_ktime_get_boot_ns()` at the hook.
    pub ts_ns: u64,
    /// Time since the syscall's entry; 0 when the entry hook is not attached.
    pub latency_ns: u64,
    /// Syscall return value (0 for non-syscall records).
    pub ret: i64,
    /// cgroup v2 id of the task (`bpf_get_current_cgroup_id`; 1 = v2 root).
    pub cgroup_id: u64,
    /// kernfs id of the task's cgroup in the v1 hierarchy chosen at load time
    /// (0 when the host has no v1 hierarchy). Equals that directory's inode.
    pub cgroup_v1_id: u64,
    pub tgid: u32,
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    pub pid_ns: u32,
    pub mnt_ns: u32,
    pub net_ns: u32,
    /// Total length of the record in bytes, header included.
    pub len: u32,
    /// A [`RecordKind`].
    pub kind: u16,
    /// Syscall number (x86_64) for [`RecordKind::Syscall`].
    pub nr: u16,
    pub cpu: u16,
    /// `HDR_*` bits.
    pub flags: u16,
    /// Current task's name.
    pub comm: [u8; COMM_LEN],
}
const _: () = assert!(size_of::<EventHeader>() == 96);
const _: () = assert!(offset_of!(EventHeader, latency_ns) == 8);
const _: () = assert!(offset_of!(EventHeader, ret) == 16);
const _: () = assert!(offset_of!(EventHeader, cgroup_id) == 24);
const _: () = assert!(offset_of!(EventHeader, cgroup_v1_id) == 32);
const _: () = assert!(offset_of!(EventHeader, tgid) == 40);
const _: () = assert!(offset_of!(EventHeader, tid) == 44);
const _: () = assert!(offset_of!(EventHeader, uid) == 48);
const _: () = assert!(offset_of!(EventHeader, gid) == 52);
const _: () = assert!(offset_of!(EventHeader, pid_ns) == 56);
const _: () = assert!(offset_of!(EventHeader, mnt_ns) == 60);
const _: () = assert!(offset_of!(EventHeader, net_ns) == 64);
const _: () = assert!(offset_of!(EventHeader, len) == 68);
const _: () = assert!(offset_of!(EventHeader, kind) == 72);
const _: () = assert!(offset_of!(EventHeader, nr) == 74);
const _: () = assert!(offset_of!(EventHeader, cpu) == 76);
const _: () = assert!(offset_of!(EventHeader, flags) == 78);
const _: () = assert!(offset_of!(EventHeader, comm) == 80);

/// The six argument registers of a syscall, read at its exit.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct SyscallArgs {
    pub args: [u64; 6],
}
const _: () = assert!(size_of::<SyscallArgs>() == 48);

/// A syscall record without captured items: the common, fixed-size case that
/// the kernel reserves directly in the ring buffer.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct SyscallRecord {
    pub hdr: EventHeader,
    pub args: SyscallArgs,
}
const _: () = assert!(size_of::<SyscallRecord>() == 144);
const _: () = assert!(offset_of!(SyscallRecord, args) == 96);

/// Precedes each captured item of a syscall record.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct ItemHeader {
    /// Bytes of data that follow.
    pub len: u16,
    /// Index of the capture in the syscall's [`SyscallSpec`] that produced it.
    pub slot: u8,
    /// A [`CaptureKind`] as `u8`.
    pub kind: u8,
}
const _: () = assert!(size_of::<ItemHeader>() == 4);
const _: () = assert!(offset_of!(ItemHeader, slot) == 2);
const _: () = assert!(offset_of!(ItemHeader, kind) == 3);

/// Payload of [`RecordKind::ProcFork`].
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct ForkPayload {
    pub child_tid: u32,
    pub child_tgid: u32,
}
const _: () = assert!(size_of::<ForkPayload>() == 8);
const _: () = assert!(offset_of!(ForkPayload, child_tgid) == 4);

/// Payload of [`RecordKind::ProcExec`]; `exe_len` bytes of path and `args_len`
/// bytes of NUL-separated argv follow it.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct ExecPayload {
    /// The tid that called execve (differs from the header's tid when a
    /// non-leader thread exec'ed and took over the leader's pid).
    pub old_tid: u32,
    pub exe_len: u16,
    pub args_len: u16,
}
const _: () = assert!(size_of::<ExecPayload>() == 8);
const _: () = assert!(offset_of!(ExecPayload, exe_len) == 4);
const _: () = assert!(offset_of!(ExecPayload, args_len) == 6);

/// Payload of [`RecordKind::ProcExit`].
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct ExitPayload {
    /// `task->exit_code` (wait status encoding).
    pub exit_code: i32,
    pub _pad: u32,
}
const _: () = assert!(size_of::<ExitPayload>() == 8);

wire_enum! {
    /// How the kernel copies one piece of a syscall's memory into the record.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum CaptureKind: u8 {
        None = 0,
        /// NUL-terminated user string at `args[arg]` (a path).
        UserStr = 1,
        /// User buffer at `args[arg]`, `min(ret, snaplen)` bytes when `ret > 0`.
        BufferRet = 2,
        /// User buffer at `args[arg]`, `min(args[aux], snaplen)` bytes.
        BufferArg = 3,
        /// Socket address at `args[arg]`, length in `args[aux]`.
        Sockaddr = 4,
        /// Socket address at `args[arg]`, length in the `int` that `args[aux]` points to.
        SockaddrLenPtr = 5,
        /// Two `int`s at `args[arg]` (pipe, socketpair).
        FdPair = 6,
        /// A NULL-terminated `char *argv[]` at `args[arg]`, copied NUL-separated.
        Argv = 7,
        /// `aux` bytes copied verbatim from `args[arg]` (a small struct).
        Bytes = 8,
        /// The 4-tuple of the socket whose fd is `args[arg]`, read from the kernel's sock.
        SockTupleArgFd = 9,
        /// The 4-tuple of the socket whose fd is the return value.
        SockTupleRetFd = 10,
        /// Data of an `iovec` array at `args[arg]` with `args[aux]` entries, `min(ret, snaplen)` bytes.
        IovecRet = 11,
        /// `struct msghdr` at `args[arg]`: its name (a sockaddr) then its iovec data up to `ret`.
        MsghdrRet = 12,
        /// The path of the file whose fd is `args[arg]`, read in the kernel by
        /// walking its dentry chain (see [`PATH_WALK_ROOT`] for the layout).
        FilePathArgFd = 13,
        /// The path of the file whose fd is the return value.
        FilePathRetFd = 14,
    }
}

/// The tail-call stages of a syscall record with captures. The `sys_exit`
/// hook writes the header and arguments into the scratch area, then each
/// capture runs in a program of its own (`STAGES[stage]`), which tail-calls
/// the next one; the last writes the record out. Verified one by one, the
/// stages cost the verifier the sum of their sizes, not the product of every
/// capture kind with every slot, which older kernels' verifiers refuse.
pub mod stage {
    use super::CaptureKind;

    /// Straight copies of user memory: strings, buffers, socket addresses,
    /// fd pairs, small structs.
    pub const COPY: u32 = 0;
    /// A `char *argv[]`: one string copy per entry.
    pub const ARGV: u32 = 1;
    /// A socket's 4-tuple, read from the kernel's `struct sock`.
    pub const TUPLE: u32 = 2;
    /// An iovec array's data.
    pub const IOVEC: u32 = 3;
    /// A `struct msghdr`'s address and data.
    pub const MSGHDR: u32 = 4;
    /// The path of an fd's file, by a dentry walk; always the last stage.
    pub const PATH: u32 = 5;
    /// Entries of the `STAGES` program array.
    pub const SLOTS: u32 = 6;

    /// The stages' program names in the object, indexed by stage, for the
    /// BTF tracepoint and the raw tracepoint (a tail call only reaches a
    /// program of its caller's type).
    pub const PROGRAMS: [(&str, &str); SLOTS as usize] = [
        ("stage_copy_btf", "stage_copy_raw"),
        ("stage_argv_btf", "stage_argv_raw"),
        ("stage_tuple_btf", "stage_tuple_raw"),
        ("stage_iovec_btf", "stage_iovec_raw"),
        ("stage_msghdr_btf", "stage_msghdr_raw"),
        ("stage_path_btf", "stage_path_raw"),
    ];

    /// The stage that runs a capture of `kind`; `None` for no capture.
    #[inline(always)]
    pub fn of(kind: CaptureKind) -> Option<u32> {
        Some(match kind {
            CaptureKind::None => return None,
            CaptureKind::UserStr
            | CaptureKind::BufferRet
            | CaptureKind::BufferArg
            | CaptureKind::Sockaddr
            | CaptureKind::SockaddrLenPtr
            | CaptureKind::FdPair
            | CaptureKind::Bytes => COPY,
            CaptureKind::Argv => ARGV,
            CaptureKind::SockTupleArgFd | CaptureKind::SockTupleRetFd => TUPLE,
            CaptureKind::IovecRet => IOVEC,
            CaptureKind::MsghdrRet => MSGHDR,
            CaptureKind::FilePathArgFd | CaptureKind::FilePathRetFd => PATH,
        })
    }
}

/// When a capture applies, by the syscall's result.
pub const WHEN_ALWAYS: u8 = 0;
/// Only when the call failed (`ret < 0`): e.g. execve, whose argument memory is
/// gone after a successful exec.
pub const WHEN_FAILED: u8 = 1;
/// Only when the call succeeded (`ret >= 0`).
pub const WHEN_OK: u8 = 2;
/// Also when the call failed with `-EINPROGRESS` (non-blocking connect).
pub const WHEN_OK_OR_INPROGRESS: u8 = 3;

/// One capture of a syscall: which argument, how to copy it.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Capture {
    /// A [`CaptureKind`] as `u8`.
    pub kind: u8,
    pub arg: u8,
    pub aux: u8,
    /// `WHEN_*`.
    pub when: u8,
}
const _: () = assert!(size_of::<Capture>() == 4);
const _: () = assert!(offset_of!(Capture, arg) == 1);
const _: () = assert!(offset_of!(Capture, aux) == 2);
const _: () = assert!(offset_of!(Capture, when) == 3);

/// Set in [`SyscallSpec::flags`]: the kernel forwards this syscall (push-down).
pub const SPEC_PASS: u8 = 1;

/// The kernel's per-syscall entry, indexed by the architecture's native
/// syscall number.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct SyscallSpec {
    /// `SPEC_*` bits.
    pub flags: u8,
    /// Number of used entries in `caps`.
    pub ncap: u8,
    /// The syscall's canonical (x86_64) number, which the record carries
    /// ([`arch`]): the native number itself on x86_64.
    pub nr: u16,
    pub caps: [Capture; MAX_CAPTURES],
}
const _: () = assert!(size_of::<SyscallSpec>() == 16);
const _: () = assert!(offset_of!(SyscallSpec, ncap) == 1);
const _: () = assert!(offset_of!(SyscallSpec, nr) == 2);
const _: () = assert!(offset_of!(SyscallSpec, caps) == 4);

/// The socket 4-tuple the kernel reads from a `struct sock` (a [`CaptureKind::SockTupleArgFd`] item).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct SockTuple {
    /// `AF_INET`, `AF_INET6`, `AF_UNIX`, ... (0 when the fd is not a socket).
    pub family: u16,
    /// Local port, host byte order.
    pub lport: u16,
    /// Remote port, host byte order.
    pub rport: u16,
    /// `sk_protocol` (IPPROTO_TCP, IPPROTO_UDP, ...).
    pub protocol: u16,
    /// Local address (IPv4 in the first 4 bytes).
    pub laddr: [u8; 16],
    /// Remote address (IPv4 in the first 4 bytes).
    pub raddr: [u8; 16],
}
const _: () = assert!(size_of::<SockTuple>() == 40);
const _: () = assert!(offset_of!(SockTuple, lport) == 2);
const _: () = assert!(offset_of!(SockTuple, rport) == 4);
const _: () = assert!(offset_of!(SockTuple, protocol) == 6);
const _: () = assert!(offset_of!(SockTuple, laddr) == 8);
const _: () = assert!(offset_of!(SockTuple, raddr) == 24);

/// Steps a kernel path walk takes at most: each copies one name or crosses
/// from a mount to the one it is mounted on. A deeper path ends
/// [`PATH_WALK_TRUNCATED`].
pub const PATH_WALK_STEPS: u32 = 24;
/// Bytes of one name the walk copies at most, its NUL included (`NAME_MAX` + 1).
pub const PATH_NAME_MAX: u32 = 256;

// A `FilePath*` item is one status byte, then the path's names leaf first,
// each followed by a NUL: `b"\0passwd\0etc\0"` (status 0, `passwd`, `etc`)
// is `/etc/passwd`. The status says how the walk ended:

/// It reached the root of the file's mount namespace (a mount that is its own
/// parent): the names make an absolute path, as a process of that namespace
/// (a container's, for one) sees it.
pub const PATH_WALK_ROOT: u8 = 0;
/// It stopped early ([`PATH_WALK_STEPS`], or a failed read): the leading
/// names are missing.
pub const PATH_WALK_TRUNCATED: u8 = 1;
/// It reached a dentry that is its own parent without being a mount's root:
/// a pipe, socket or anonymous inode (no names), or a disconnected tree.
pub const PATH_WALK_DETACHED: u8 = 2;

/// Identity of a task that changes only on setns/unshare/cgroup migration, so
/// the kernel caches it per thread instead of walking pointers on every event.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct TaskIdentity {
    pub pid_ns: u32,
    pub mnt_ns: u32,
    pub net_ns: u32,
    pub _pad: u32,
    pub cgroup_v1_id: u64,
}
const _: () = assert!(size_of::<TaskIdentity>() == 24);
const _: () = assert!(offset_of!(TaskIdentity, mnt_ns) == 4);
const _: () = assert!(offset_of!(TaskIdentity, net_ns) == 8);
const _: () = assert!(offset_of!(TaskIdentity, cgroup_v1_id) == 16);

/// Field offsets of kernel structs, read from `/sys/kernel/btf/vmlinux` at
/// start-up (aya has no CO-RE relocations for Rust programs) and handed to the
/// programs as a read-only global. `u32::MAX` marks an offset not found.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct KernelOffsets {
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_nsproxy: u32,
    pub task_thread_pid: u32,
    pub task_cgroups: u32,
    pub task_mm: u32,
    pub task_files: u32,
    pub task_exit_code: u32,
    pub task_comm: u32,
    pub nsproxy_mnt_ns: u32,
    pub nsproxy_net_ns: u32,
    pub mnt_ns_inum: u32,
    pub net_inum: u32,
    pub pid_ns_inum: u32,
    pub pid_level: u32,
    pub pid_numbers: u32,
    pub upid_size: u32,
    pub upid_ns: u32,
    pub css_set_subsys: u32,
    pub css_cgroup: u32,
    pub cgroup_kn: u32,
    pub kernfs_node_id: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    pub binprm_filename: u32,
    pub files_fdt: u32,
    pub fdtable_fd: u32,
    pub fdtable_max_fds: u32,
    pub file_private_data: u32,
    pub socket_sk: u32,
    pub sk_family: u32,
    pub sk_num: u32,
    pub sk_dport: u32,
    pub sk_rcv_saddr: u32,
    pub sk_daddr: u32,
    pub sk_v6_rcv_saddr: u32,
    pub sk_v6_daddr: u32,
    pub sk_protocol: u32,
    /// Index into `css_set->subsys[]` of the v1 controller whose hierarchy
    /// identifies containers; `u32::MAX` when there is none.
    pub cgroup_v1_subsys: u32,
    // The dentry walk of `FilePath*` captures. Userspace marks all of them
    // missing when one is, and the walk then yields nothing.
    pub file_path_dentry: u32,
    pub file_path_mnt: u32,
    pub dentry_parent: u32,
    pub dentry_name: u32,
    pub vfsmount_root: u32,
    /// Offset of the `struct vfsmount` inside its `struct mount`.
    pub mount_mnt: u32,
    pub mount_parent: u32,
    pub mount_mountpoint: u32,
}

// 47 u32 fields, no padding: the kernel side reads them by field, userspace
// writes the struct whole into .rodata.
const _: () = assert!(size_of::<KernelOffsets>() == 47 * 4);
const _: () = assert!(offset_of!(KernelOffsets, cgroup_v1_subsys) == 38 * 4);
const _: () = assert!(offset_of!(KernelOffsets, mount_mountpoint) == 46 * 4);

impl KernelOffsets {
    pub const MISSING: u32 = u32::MAX;
    pub const fn zeroed() -> Self {
        Self {
            task_pid: 0,
            task_tgid: 0,
            task_nsproxy: 0,
            task_thread_pid: 0,
            task_cgroups: 0,
            task_mm: 0,
            task_files: 0,
            task_exit_code: 0,
            task_comm: 0,
            nsproxy_mnt_ns: 0,
            nsproxy_net_ns: 0,
            mnt_ns_inum: 0,
            net_inum: 0,
            pid_ns_inum: 0,
            pid_level: 0,
            pid_numbers: 0,
            upid_size: 0,
            upid_ns: 0,
            css_set_subsys: 0,
            css_cgroup: 0,
            cgroup_kn: 0,
            kernfs_node_id: 0,
            mm_arg_start: 0,
            mm_arg_end: 0,
            binprm_filename: 0,
            files_fdt: 0,
            fdtable_fd: 0,
            fdtable_max_fds: 0,
            file_private_data: 0,
            socket_sk: 0,
            sk_family: 0,
            sk_num: 0,
            sk_dport: 0,
            sk_rcv_saddr: 0,
            sk_daddr: 0,
            sk_v6_rcv_saddr: 0,
            sk_v6_daddr: 0,
            sk_protocol: 0,
            cgroup_v1_subsys: Self::MISSING,
            file_path_dentry: Self::MISSING,
            file_path_mnt: Self::MISSING,
            dentry_parent: Self::MISSING,
            dentry_name: Self::MISSING,
            vfsmount_root: Self::MISSING,
            mount_mnt: Self::MISSING,
            mount_parent: Self::MISSING,
            mount_mountpoint: Self::MISSING,
        }
    }
}

/// Settings fixed at load time (a read-only global, so the verifier prunes the
/// branches a setting turns off).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct KernelConfig {
    /// sdtrace's own tgid: its syscalls are dropped in the kernel.
    pub self_tgid: u32,
    /// `FILTER_*` bits: which push-down sets are in force.
    pub filters: u32,
    /// Bytes of I/O buffers to copy (`--snaplen`), at most [`SNAPLEN_MAX`].
    pub snaplen: u32,
    /// Non-zero when the entry hook is attached and latency is measured.
    pub latency: u32,
    /// Bytes of fixed-size records gathered per CPU before one ring-buffer
    /// write; 0 writes every record on its own.
    pub batch_bytes: u32,
    /// A batch older than this (µs) is written at the next record or tick.
    pub batch_age_us: u32,
    /// Entries used in `tgids` (with `FILTER_TGID_SMALL`).
    pub ntgids: u32,
    /// Entries used in `comms` (with `FILTER_COMM_SMALL`).
    pub ncomms: u32,
    /// A small tgid set, compared in place: cheaper than a hash lookup on
    /// every syscall of every process.
    pub tgids: [u32; SMALL_SET],
    /// A small task-name set (NUL-padded), compared as two words each.
    pub comms: [[u8; COMM_LEN]; SMALL_SET],
}

const _: () = assert!(size_of::<KernelConfig>() == 8 * 4 + SMALL_SET * 4 + SMALL_SET * COMM_LEN);
const _: () = assert!(offset_of!(KernelConfig, tgids) == 32);
const _: () = assert!(offset_of!(KernelConfig, comms) == 32 + SMALL_SET * 4);

/// Largest per-CPU batch, in bytes.
pub const BATCH_MAX: u32 = 16384;

/// Layout of one CPU's slot in the `BATCH` map, which userspace mmaps to see
/// which batches wait: bytes used (u32) at 0, the first record's time (u64)
/// at 16, then the data area of twice [`BATCH_MAX`].
pub const BATCH_USED_AT: usize = 0;
pub const BATCH_FIRST_TS_AT: usize = 16;
pub const BATCH_SLOT_BYTES: usize = 24 + 2 * BATCH_MAX as usize;

/// `BPF_F_MMAPABLE`: an array map userspace can mmap.
pub const BPF_F_MMAPABLE: u32 = 1 << 10;

/// Sets up to this size are kept in [`KernelConfig`] itself; larger ones go
/// to hash maps.
pub const SMALL_SET: usize = 8;

impl KernelConfig {
    pub const fn zeroed() -> Self {
        Self {
            self_tgid: 0,
            filters: 0,
            snaplen: 0,
            latency: 0,
            batch_bytes: 0,
            batch_age_us: 0,
            ntgids: 0,
            ncomms: 0,
            tgids: [0; SMALL_SET],
            comms: [[0; COMM_LEN]; SMALL_SET],
        }
    }
}

/// Push-down: only tgids in the `TGID_FILTER` map pass.
pub const FILTER_TGID: u32 = 1;
/// Push-down: only task names in the `COMM_FILTER` map pass.
pub const FILTER_COMM: u32 = 2;
/// Push-down: only cgroup ids in the `CGROUP_FILTER` map pass.
pub const FILTER_CGROUP: u32 = 4;
/// Push-down: only tgids in `KernelConfig::tgids` pass.
pub const FILTER_TGID_SMALL: u32 = 8;
/// Push-down: only task names in `KernelConfig::comms` pass.
pub const FILTER_COMM_SMALL: u32 = 16;

/// Push-down: cgroups in the `MUTED_CGROUPS` map are dropped. Userspace
/// mutes a cgroup once the filter is false for every event its container
/// (or the host) can have, e.g. `container.name = web` for any other one.
pub const FILTER_MUTED: u32 = 32;

/// Marks a v1 cgroup id in the kernel's cgroup push-down set, so it cannot
/// collide with a v2 id (both are inode numbers, of different file systems).
pub const CGROUP_V1_TAG: u64 = 1 << 63;

/// Indexes of the per-CPU counters in the `COUNTERS` map.
pub const COUNTER_DROPS: u32 = 0;
/// Records written without some of their captures because a tail call to a
/// capture stage failed (a stage missing from `STAGES`): never expected,
/// counted so that it cannot pass unseen.
pub const COUNTER_STAGE_MISSES: u32 = 1;
pub const COUNTER_SLOTS: u32 = 2;

/// For a little-endian word holding a NUL byte: a mask of the bytes up to
/// and including the first NUL; `None` when the word has no NUL. Used to
/// clear the stale bytes the kernel leaves after a task name's NUL. The
/// lowest bit the "has zero byte" trick sets is always exact (only bits above
/// it can be false positives).
#[inline(always)]
pub fn keep_through_nul(w: u64) -> Option<u64> {
    let z = w.wrapping_sub(0x0101_0101_0101_0101) & !w & 0x8080_8080_8080_8080;
    if z == 0 {
        return None;
    }
    let lowest = z & z.wrapping_neg();
    Some((lowest << 1).wrapping_sub(1))
}

#[cfg(test)]
mod tests {
    use super::keep_through_nul;

    fn word(b: &[u8; 8]) -> u64 {
        u64::from_le_bytes(*b)
    }

    #[test]
    fn masks_through_the_first_nul() {
        assert_eq!(
            keep_through_nul(word(b"cat\0bash")).map(|m| word(b"cat\0bash") & m),
            Some(word(b"cat\0\0\0\0\0"))
        );
        assert_eq!(keep_through_nul(word(b"\0abcdefg")), Some(0xff));
        assert_eq!(keep_through_nul(word(b"abcdefg\0")), Some(u64::MAX));
        assert_eq!(keep_through_nul(word(b"abcdefgh")), None);
        // A 0x01 byte after the NUL (a borrow case) does not move the mask.
        assert_eq!(keep_through_nul(word(b"ab\0\x01cdef")), Some(0x00ff_ffff));
    }
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // Each type is repr(C), made only of integers and integer arrays, with
    // no implicit padding (checked by the size assertions above), so any
    // bytes are a valid value.
    // SAFETY: as above.
    unsafe impl aya::Pod for KernelOffsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for KernelConfig {}
    // SAFETY: as above.
    unsafe impl aya::Pod for SyscallSpec {}
    // SAFETY: as above.
    unsafe impl aya::Pod for TaskIdentity {}
}
