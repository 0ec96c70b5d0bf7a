//! x86_64 syscall numbers and names, generated from the kernel's `asm/unistd_64.h`.
//! The table is indexed by syscall number; gaps are empty strings.

/// One past the highest syscall number in [`SYSCALL_NAMES`].
pub const SYSCALL_COUNT: usize = 451;

/// Syscall names indexed by number (x86_64).
pub static SYSCALL_NAMES: [&str; SYSCALL_COUNT] = [
    "read",
    "write",
    "open",
    "close",
    "stat",
    "fstat",
    "lstat",
    "poll",
    "lseek",
    "mmap",
    "mprotect",
    "munmap",
    "brk",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "ioctl",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "access",
    "pipe",
    "select",
    "sched_yield",
    "mremap",
    "msync",
    "mincore",
    "madvise",
    "shmget",
    "shmat",
    "shmctl",
    "dup",
    "dup2",
    "pause",
    "nanosleep",
    "getitimer",
    "alarm",
    "setitimer",
    "getpid",
    "sendfile",
    "socket",
    "connect",
    "accept",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "shutdown",
    "bind",
    "listen",
    "getsockname",
    "getpeername",
    "socketpair",
    "setsockopt",
    "getsockopt",
    "clone",
    "fork",
    "vfork",
    "execve",
    "exit",
    "wait4",
    "kill",
    "uname",
    "semget",
    "semop",
    "semctl",
    "shmdt",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "fcntl",
    "flock",
    "fsync",
    "fdatasync",
    "truncate",
    "ftruncate",
    "getdents",
    "getcwd",
    "chdir",
    "fchdir",
    "rename",
    "mkdir",
    "rmdir",
    "creat",
    "link",
    "unlink",
    "symlink",
    "readlink",
    "chmod",
    "fchmod",
    "chown",
    "fchown",
    "lchown",
    "umask",
    "gettimeofday",
    "getrlimit",
    "getrusage",
    "sysinfo",
    "times",
    "ptrace",
    "getuid",
    "syslog",
    "getgid",
    "setuid",
    "setgid",
    "geteuid",
    "getegid",
    "setpgid",
    "getppid",
    "getpgrp",
    "setsid",
    "setreuid",
    "setregid",
    "getgroups",
    "setgroups",
    "setresuid",
    "getresuid",
    "setresgid",
    "getresgid",
    "getpgid",
    "setfsuid",
    "setfsgid",
    "getsid",
    "capget",
    "capset",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "rt_sigsuspend",
    "sigaltstack",
    "utime",
    "mknod",
    "uselib",
    "personality",
    "ustat",
    "statfs",
    "fstatfs",
    "sysfs",
    "getpriority",
    "setpriority",
    "sched_setparam",
    "sched_getparam",
    "sched_setscheduler",
    "sched_getscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_rr_get_interval",
    "mlock",
    "munlock",
    "mlockall",
    "munlockall",
    "vhangup",
    "modify_ldt",
    "pivot_root",
    "_sysctl",
    "prctl",
    "arch_prctl",
    "adjtimex",
    "setrlimit",
    "chroot",
    "sync",
    "acct",
    "settimeofday",
    "mount",
    "umount2",
    "swapon",
    "swapoff",
    "reboot",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "create_module",
    "init_module",
    "delete_module",
    "get_kernel_syms",
    "query_module",
    "quotactl",
    "nfsservctl",
    "getpmsg",
    "putpmsg",
    "afs_syscall",
    "tuxcall",
    "security",
    "gettid",
    "readahead",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "tkill",
    "time",
    "futex",
    "sched_setaffinity",
    "sched_getaffinity",
    "set_thread_area",
    "io_setup",
    "io_destroy",
    "io_getevents",
    "io_submit",
    "io_cancel",
    "get_thread_area",
    "lookup_dcookie",
    "epoll_create",
    "epoll_ctl_old",
    "epoll_wait_old",
    "remap_file_pages",
    "getdents64",
    "set_tid_address",
    "restart_syscall",
    "semtimedop",
    "fadvise64",
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timer_getoverrun",
    "timer_delete",
    "clock_settime",
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "exit_group",
    "epoll_wait",
    "epoll_ctl",
    "tgkill",
    "utimes",
    "vserver",
    "mbind",
    "set_mempolicy",
    "get_mempolicy",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
    "kexec_load",
    "waitid",
    "add_key",
    "request_key",
    "keyctl",
    "ioprio_set",
    "ioprio_get",
    "inotify_init",
    "inotify_add_watch",
    "inotify_rm_watch",
    "migrate_pages",
    "openat",
    "mkdirat",
    "mknodat",
    "fchownat",
    "futimesat",
    "newfstatat",
    "unlinkat",
    "renameat",
    "linkat",
    "symlinkat",
    "readlinkat",
    "fchmodat",
    "faccessat",
    "pselect6",
    "ppoll",
    "unshare",
    "set_robust_list",
    "get_robust_list",
    "splice",
    "tee",
    "sync_file_range",
    "vmsplice",
    "move_pages",
    "utimensat",
    "epoll_pwait",
    "signalfd",
    "timerfd_create",
    "eventfd",
    "fallocate",
    "timerfd_settime",
    "timerfd_gettime",
    "accept4",
    "signalfd4",
    "eventfd2",
    "epoll_create1",
    "dup3",
    "pipe2",
    "inotify_init1",
    "preadv",
    "pwritev",
    "rt_tgsigqueueinfo",
    "perf_event_open",
    "recvmmsg",
    "fanotify_init",
    "fanotify_mark",
    "prlimit64",
    "name_to_handle_at",
    "open_by_handle_at",
    "clock_adjtime",
    "syncfs",
    "sendmmsg",
    "setns",
    "getcpu",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "finit_module",
    "sched_setattr",
    "sched_getattr",
    "renameat2",
    "seccomp",
    "getrandom",
    "memfd_create",
    "kexec_file_load",
    "bpf",
    "execveat",
    "userfaultfd",
    "membarrier",
    "mlock2",
    "copy_file_range",
    "preadv2",
    "pwritev2",
    "pkey_mprotect",
    "pkey_alloc",
    "pkey_free",
    "statx",
    "io_pgetevents",
    "rseq",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "pidfd_send_signal",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "pidfd_open",
    "clone3",
    "close_range",
    "openat2",
    "pidfd_getfd",
    "faccessat2",
    "process_madvise",
    "epoll_pwait2",
    "mount_setattr",
    "quotactl_fd",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "memfd_secret",
    "process_mrelease",
    "futex_waitv",
    "set_mempolicy_home_node",
];

/// Syscall numbers by name, for the ones the decoder and the kernel side treat specially.
pub mod nr {
    pub const READ: u16 = 0;
    pub const WRITE: u16 = 1;
    pub const OPEN: u16 = 2;
    pub const CLOSE: u16 = 3;
    pub const STAT: u16 = 4;
    pub const FSTAT: u16 = 5;
    pub const LSTAT: u16 = 6;
    pub const POLL: u16 = 7;
    pub const LSEEK: u16 = 8;
    pub const MMAP: u16 = 9;
    pub const MPROTECT: u16 = 10;
    pub const MUNMAP: u16 = 11;
    pub const BRK: u16 = 12;
    pub const RT_SIGACTION: u16 = 13;
    pub const RT_SIGPROCMASK: u16 = 14;
    pub const RT_SIGRETURN: u16 = 15;
    pub const IOCTL: u16 = 16;
    pub const PREAD64: u16 = 17;
    pub const PWRITE64: u16 = 18;
    pub const READV: u16 = 19;
    pub const WRITEV: u16 = 20;
    pub const ACCESS: u16 = 21;
    pub const PIPE: u16 = 22;
    pub const SELECT: u16 = 23;
    pub const SCHED_YIELD: u16 = 24;
    pub const MREMAP: u16 = 25;
    pub const MSYNC: u16 = 26;
    pub const MINCORE: u16 = 27;
    pub const MADVISE: u16 = 28;
    pub const SHMGET: u16 = 29;
    pub const SHMAT: u16 = 30;
    pub const SHMCTL: u16 = 31;
    pub const DUP: u16 = 32;
    pub const DUP2: u16 = 33;
    pub const PAUSE: u16 = 34;
    pub const NANOSLEEP: u16 = 35;
    pub const GETITIMER: u16 = 36;
    pub const ALARM: u16 = 37;
    pub const SETITIMER: u16 = 38;
    pub const GETPID: u16 = 39;
    pub const SENDFILE: u16 = 40;
    pub const SOCKET: u16 = 41;
    pub const CONNECT: u16 = 42;
    pub const ACCEPT: u16 = 43;
    pub const SENDTO: u16 = 44;
    pub const RECVFROM: u16 = 45;
    pub const SENDMSG: u16 = 46;
    pub const RECVMSG: u16 = 47;
    pub const SHUTDOWN: u16 = 48;
    pub const BIND: u16 = 49;
    pub const LISTEN: u16 = 50;
    pub const GETSOCKNAME: u16 = 51;
    pub const GETPEERNAME: u16 = 52;
    pub const SOCKETPAIR: u16 = 53;
    pub const SETSOCKOPT: u16 = 54;
    pub const GETSOCKOPT: u16 = 55;
    pub const CLONE: u16 = 56;
    pub const FORK: u16 = 57;
    pub const VFORK: u16 = 58;
    pub const EXECVE: u16 = 59;
    pub const EXIT: u16 = 60;
    pub const WAIT4: u16 = 61;
    pub const KILL: u16 = 62;
    pub const UNAME: u16 = 63;
    pub const SEMGET: u16 = 64;
    pub const SEMOP: u16 = 65;
    pub const SEMCTL: u16 = 66;
    pub const SHMDT: u16 = 67;
    pub const MSGGET: u16 = 68;
    pub const MSGSND: u16 = 69;
    pub const MSGRCV: u16 = 70;
    pub const MSGCTL: u16 = 71;
    pub const FCNTL: u16 = 72;
    pub const FLOCK: u16 = 73;
    pub const FSYNC: u16 = 74;
    pub const FDATASYNC: u16 = 75;
    pub const TRUNCATE: u16 = 76;
    pub const FTRUNCATE: u16 = 77;
    pub const GETDENTS: u16 = 78;
    pub const GETCWD: u16 = 79;
    pub const CHDIR: u16 = 80;
    pub const FCHDIR: u16 = 81;
    pub const RENAME: u16 = 82;
    pub const MKDIR: u16 = 83;
    pub const RMDIR: u16 = 84;
    pub const CREAT: u16 = 85;
    pub const LINK: u16 = 86;
    pub const UNLINK: u16 = 87;
    pub const SYMLINK: u16 = 88;
    pub const READLINK: u16 = 89;
    pub const CHMOD: u16 = 90;
    pub const FCHMOD: u16 = 91;
    pub const CHOWN: u16 = 92;
    pub const FCHOWN: u16 = 93;
    pub const LCHOWN: u16 = 94;
    pub const UMASK: u16 = 95;
    pub const GETTIMEOFDAY: u16 = 96;
    pub const GETRLIMIT: u16 = 97;
    pub const GETRUSAGE: u16 = 98;
    pub const SYSINFO: u16 = 99;
    pub const TIMES: u16 = 100;
    pub const PTRACE: u16 = 101;
    pub const GETUID: u16 = 102;
    pub const SYSLOG: u16 = 103;
    pub const GETGID: u16 = 104;
    pub const SETUID: u16 = 105;
    pub const SETGID: u16 = 106;
    pub const GETEUID: u16 = 107;
    pub const GETEGID: u16 = 108;
    pub const SETPGID: u16 = 109;
    pub const GETPPID: u16 = 110;
    pub const GETPGRP: u16 = 111;
    pub const SETSID: u16 = 112;
    pub const SETREUID: u16 = 113;
    pub const SETREGID: u16 = 114;
    pub const GETGROUPS: u16 = 115;
    pub const SETGROUPS: u16 = 116;
    pub const SETRESUID: u16 = 117;
    pub const GETRESUID: u16 = 118;
    pub const SETRESGID: u16 = 119;
    pub const GETRESGID: u16 = 120;
    pub const GETPGID: u16 = 121;
    pub const SETFSUID: u16 = 122;
    pub const SETFSGID: u16 = 123;
    pub const GETSID: u16 = 124;
    pub const CAPGET: u16 = 125;
    pub const CAPSET: u16 = 126;
    pub const RT_SIGPENDING: u16 = 127;
    pub const RT_SIGTIMEDWAIT: u16 = 128;
    pub const RT_SIGQUEUEINFO: u16 = 129;
    pub const RT_SIGSUSPEND: u16 = 130;
    pub const SIGALTSTACK: u16 = 131;
    pub const UTIME: u16 = 132;
    pub const MKNOD: u16 = 133;
    pub const USELIB: u16 = 134;
    pub const PERSONALITY: u16 = 135;
    pub const USTAT: u16 = 136;
    pub const STATFS: u16 = 137;
    pub const FSTATFS: u16 = 138;
    pub const SYSFS: u16 = 139;
    pub const GETPRIORITY: u16 = 140;
    pub const SETPRIORITY: u16 = 141;
    pub const SCHED_SETPARAM: u16 = 142;
    pub const SCHED_GETPARAM: u16 = 143;
    pub const SCHED_SETSCHEDULER: u16 = 144;
    pub const SCHED_GETSCHEDULER: u16 = 145;
    pub const SCHED_GET_PRIORITY_MAX: u16 = 146;
    pub const SCHED_GET_PRIORITY_MIN: u16 = 147;
    pub const SCHED_RR_GET_INTERVAL: u16 = 148;
    pub const MLOCK: u16 = 149;
    pub const MUNLOCK: u16 = 150;
    pub const MLOCKALL: u16 = 151;
    pub const MUNLOCKALL: u16 = 152;
    pub const VHANGUP: u16 = 153;
    pub const MODIFY_LDT: u16 = 154;
    pub const PIVOT_ROOT: u16 = 155;
    pub const _SYSCTL: u16 = 156;
    pub const PRCTL: u16 = 157;
    pub const ARCH_PRCTL: u16 = 158;
    pub const ADJTIMEX: u16 = 159;
    pub const SETRLIMIT: u16 = 160;
    pub const CHROOT: u16 = 161;
    pub const SYNC: u16 = 162;
    pub const ACCT: u16 = 163;
    pub const SETTIMEOFDAY: u16 = 164;
    pub const MOUNT: u16 = 165;
    pub const UMOUNT2: u16 = 166;
    pub const SWAPON: u16 = 167;
    pub const SWAPOFF: u16 = 168;
    pub const REBOOT: u16 = 169;
    pub const SETHOSTNAME: u16 = 170;
    pub const SETDOMAINNAME: u16 = 171;
    pub const IOPL: u16 = 172;
    pub const IOPERM: u16 = 173;
    pub const CREATE_MODULE: u16 = 174;
    pub const INIT_MODULE: u16 = 175;
    pub const DELETE_MODULE: u16 = 176;
    pub const GET_KERNEL_SYMS: u16 = 177;
    pub const QUERY_MODULE: u16 = 178;
    pub const QUOTACTL: u16 = 179;
    pub const NFSSERVCTL: u16 = 180;
    pub const GETPMSG: u16 = 181;
    pub const PUTPMSG: u16 = 182;
    pub const AFS_SYSCALL: u16 = 183;
    pub const TUXCALL: u16 = 184;
    pub const SECURITY: u16 = 185;
    pub const GETTID: u16 = 186;
    pub const READAHEAD: u16 = 187;
    pub const SETXATTR: u16 = 188;
    pub const LSETXATTR: u16 = 189;
    pub const FSETXATTR: u16 = 190;
    pub const GETXATTR: u16 = 191;
    pub const LGETXATTR: u16 = 192;
    pub const FGETXATTR: u16 = 193;
    pub const LISTXATTR: u16 = 194;
    pub const LLISTXATTR: u16 = 195;
    pub const FLISTXATTR: u16 = 196;
    pub const REMOVEXATTR: u16 = 197;
    pub const LREMOVEXATTR: u16 = 198;
    pub const FREMOVEXATTR: u16 = 199;
    pub const TKILL: u16 = 200;
    pub const TIME: u16 = 201;
    pub const FUTEX: u16 = 202;
    pub const SCHED_SETAFFINITY: u16 = 203;
    pub const SCHED_GETAFFINITY: u16 = 204;
    pub const SET_THREAD_AREA: u16 = 205;
    pub const IO_SETUP: u16 = 206;
    pub const IO_DESTROY: u16 = 207;
    pub const IO_GETEVENTS: u16 = 208;
    pub const IO_SUBMIT: u16 = 209;
    pub const IO_CANCEL: u16 = 210;
    pub const GET_THREAD_AREA: u16 = 211;
    pub const LOOKUP_DCOOKIE: u16 = 212;
    pub const EPOLL_CREATE: u16 = 213;
    pub const EPOLL_CTL_OLD: u16 = 214;
    pub const EPOLL_WAIT_OLD: u16 = 215;
    pub const REMAP_FILE_PAGES: u16 = 216;
    pub const GETDENTS64: u16 = 217;
    pub const SET_TID_ADDRESS: u16 = 218;
    pub const RESTART_SYSCALL: u16 = 219;
    pub const SEMTIMEDOP: u16 = 220;
    pub const FADVISE64: u16 = 221;
    pub const TIMER_CREATE: u16 = 222;
    pub const TIMER_SETTIME: u16 = 223;
    pub const TIMER_GETTIME: u16 = 224;
    pub const TIMER_GETOVERRUN: u16 = 225;
    pub const TIMER_DELETE: u16 = 226;
    pub const CLOCK_SETTIME: u16 = 227;
    pub const CLOCK_GETTIME: u16 = 228;
    pub const CLOCK_GETRES: u16 = 229;
    pub const CLOCK_NANOSLEEP: u16 = 230;
    pub const EXIT_GROUP: u16 = 231;
    pub const EPOLL_WAIT: u16 = 232;
    pub const EPOLL_CTL: u16 = 233;
    pub const TGKILL: u16 = 234;
    pub const UTIMES: u16 = 235;
    pub const VSERVER: u16 = 236;
    pub const MBIND: u16 = 237;
    pub const SET_MEMPOLICY: u16 = 238;
    pub const GET_MEMPOLICY: u16 = 239;
    pub const MQ_OPEN: u16 = 240;
    pub const MQ_UNLINK: u16 = 241;
    pub const MQ_TIMEDSEND: u16 = 242;
    pub const MQ_TIMEDRECEIVE: u16 = 243;
    pub const MQ_NOTIFY: u16 = 244;
    pub const MQ_GETSETATTR: u16 = 245;
    pub const KEXEC_LOAD: u16 = 246;
    pub const WAITID: u16 = 247;
    pub const ADD_KEY: u16 = 248;
    pub const REQUEST_KEY: u16 = 249;
    pub const KEYCTL: u16 = 250;
    pub const IOPRIO_SET: u16 = 251;
    pub const IOPRIO_GET: u16 = 252;
    pub const INOTIFY_INIT: u16 = 253;
    pub const INOTIFY_ADD_WATCH: u16 = 254;
    pub const INOTIFY_RM_WATCH: u16 = 255;
    pub const MIGRATE_PAGES: u16 = 256;
    pub const OPENAT: u16 = 257;
    pub const MKDIRAT: u16 = 258;
    pub const MKNODAT: u16 = 259;
    pub const FCHOWNAT: u16 = 260;
    pub const FUTIMESAT: u16 = 261;
    pub const NEWFSTATAT: u16 = 262;
    pub const UNLINKAT: u16 = 263;
    pub const RENAMEAT: u16 = 264;
    pub const LINKAT: u16 = 265;
    pub const SYMLINKAT: u16 = 266;
    pub const READLINKAT: u16 = 267;
    pub const FCHMODAT: u16 = 268;
    pub const FACCESSAT: u16 = 269;
    pub const PSELECT6: u16 = 270;
    pub const PPOLL: u16 = 271;
    pub const UNSHARE: u16 = 272;
    pub const SET_ROBUST_LIST: u16 = 273;
    pub const GET_ROBUST_LIST: u16 = 274;
    pub const SPLICE: u16 = 275;
    pub const TEE: u16 = 276;
    pub const SYNC_FILE_RANGE: u16 = 277;
    pub const VMSPLICE: u16 = 278;
    pub const MOVE_PAGES: u16 = 279;
    pub const UTIMENSAT: u16 = 280;
    pub const EPOLL_PWAIT: u16 = 281;
    pub const SIGNALFD: u16 = 282;
    pub const TIMERFD_CREATE: u16 = 283;
    pub const EVENTFD: u16 = 284;
    pub const FALLOCATE: u16 = 285;
    pub const TIMERFD_SETTIME: u16 = 286;
    pub const TIMERFD_GETTIME: u16 = 287;
    pub const ACCEPT4: u16 = 288;
    pub const SIGNALFD4: u16 = 289;
    pub const EVENTFD2: u16 = 290;
    pub const EPOLL_CREATE1: u16 = 291;
    pub const DUP3: u16 = 292;
    pub const PIPE2: u16 = 293;
    pub const INOTIFY_INIT1: u16 = 294;
    pub const PREADV: u16 = 295;
    pub const PWRITEV: u16 = 296;
    pub const RT_TGSIGQUEUEINFO: u16 = 297;
    pub const PERF_EVENT_OPEN: u16 = 298;
    pub const RECVMMSG: u16 = 299;
    pub const FANOTIFY_INIT: u16 = 300;
    pub const FANOTIFY_MARK: u16 = 301;
    pub const PRLIMIT64: u16 = 302;
    pub const NAME_TO_HANDLE_AT: u16 = 303;
    pub const OPEN_BY_HANDLE_AT: u16 = 304;
    pub const CLOCK_ADJTIME: u16 = 305;
    pub const SYNCFS: u16 = 306;
    pub const SENDMMSG: u16 = 307;
    pub const SETNS: u16 = 308;
    pub const GETCPU: u16 = 309;
    pub const PROCESS_VM_READV: u16 = 310;
    pub const PROCESS_VM_WRITEV: u16 = 311;
    pub const KCMP: u16 = 312;
    pub const FINIT_MODULE: u16 = 313;
    pub const SCHED_SETATTR: u16 = 314;
    pub const SCHED_GETATTR: u16 = 315;
    pub const RENAMEAT2: u16 = 316;
    pub const SECCOMP: u16 = 317;
    pub const GETRANDOM: u16 = 318;
    pub const MEMFD_CREATE: u16 = 319;
    pub const KEXEC_FILE_LOAD: u16 = 320;
    pub const BPF: u16 = 321;
    pub const EXECVEAT: u16 = 322;
    pub const USERFAULTFD: u16 = 323;
    pub const MEMBARRIER: u16 = 324;
    pub const MLOCK2: u16 = 325;
    pub const COPY_FILE_RANGE: u16 = 326;
    pub const PREADV2: u16 = 327;
    pub const PWRITEV2: u16 = 328;
    pub const PKEY_MPROTECT: u16 = 329;
    pub const PKEY_ALLOC: u16 = 330;
    pub const PKEY_FREE: u16 = 331;
    pub const STATX: u16 = 332;
    pub const IO_PGETEVENTS: u16 = 333;
    pub const RSEQ: u16 = 334;
    pub const PIDFD_SEND_SIGNAL: u16 = 424;
    pub const IO_URING_SETUP: u16 = 425;
    pub const IO_URING_ENTER: u16 = 426;
    pub const IO_URING_REGISTER: u16 = 427;
    pub const OPEN_TREE: u16 = 428;
    pub const MOVE_MOUNT: u16 = 429;
    pub const FSOPEN: u16 = 430;
    pub const FSCONFIG: u16 = 431;
    pub const FSMOUNT: u16 = 432;
    pub const FSPICK: u16 = 433;
    pub const PIDFD_OPEN: u16 = 434;
    pub const CLONE3: u16 = 435;
    pub const CLOSE_RANGE: u16 = 436;
    pub const OPENAT2: u16 = 437;
    pub const PIDFD_GETFD: u16 = 438;
    pub const FACCESSAT2: u16 = 439;
    pub const PROCESS_MADVISE: u16 = 440;
    pub const EPOLL_PWAIT2: u16 = 441;
    pub const MOUNT_SETATTR: u16 = 442;
    pub const QUOTACTL_FD: u16 = 443;
    pub const LANDLOCK_CREATE_RULESET: u16 = 444;
    pub const LANDLOCK_ADD_RULE: u16 = 445;
    pub const LANDLOCK_RESTRICT_SELF: u16 = 446;
    pub const MEMFD_SECRET: u16 = 447;
    pub const PROCESS_MRELEASE: u16 = 448;
    pub const FUTEX_WAITV: u16 = 449;
    pub const SET_MEMPOLICY_HOME_NODE: u16 = 450;
}
