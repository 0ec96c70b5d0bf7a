//! What each source outside the kernel answers: `/proc` about a process,
//! an fd, a socket table; cgroupfs about a cgroup; a container runtime
//! about a container; the Kubernetes API server about a pod. Plain data,
//! as capture files store it (the JSON of these types is the file format).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One answer from outside the kernel, as a capture file stores it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Answer {
    /// The process list; `None` when the root could not be listed.
    Pids(Option<Vec<u32>>),
    Process {
        pid: u32,
        snap: Option<Snapshot>,
    },
    Fd {
        pid: u32,
        fd: i32,
        link: Option<(String, u32)>,
    },
    /// The text of each socket table file that could be read.
    Net {
        pid: u32,
        files: Vec<(String, String)>,
    },
    /// The path of a cgroup by the id the kernel reports (v1: in the
    /// hierarchy sdtrace identifies containers by).
    Cgroup {
        id: u64,
        v1: bool,
        path: Option<String>,
    },
    /// A container's metadata, once its runtime had answered.
    ContainerMeta {
        id: String,
        meta: ContainerMeta,
    },
    /// What the Kubernetes API server said about a pod (by uid, or
    /// `namespace/name`), each time that changed.
    PodInfo {
        key: String,
        info: PodInfo,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Query {
    Pids,
    Process(u32),
    Fd(u32, i32),
    Net(u32),
    Cgroup(u64, bool),
    ContainerMeta(String),
    PodInfo(String),
}

impl Answer {
    pub(crate) fn query(&self) -> Query {
        match self {
            Answer::Pids(_) => Query::Pids,
            Answer::Process { pid, .. } => Query::Process(*pid),
            Answer::Fd { pid, fd, .. } => Query::Fd(*pid, *fd),
            Answer::Net { pid, .. } => Query::Net(*pid),
            Answer::Cgroup { id, v1, .. } => Query::Cgroup(*id, *v1),
            Answer::ContainerMeta { id, .. } => Query::ContainerMeta(id.clone()),
            Answer::PodInfo { key, .. } => Query::PodInfo(key.clone()),
        }
    }
}

/// What bootstrap or a lazy fill learns about one process.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Snapshot {
    pub tgid: u32,
    pub ppid: u32,
    pub comm: String,
    /// Full argv, argv[0] included; empty for kernel threads.
    pub argv: Vec<String>,
    pub exepath: String,
    pub cwd: String,
    pub tty: u32,
    pub uid: u32,
    pub gid: u32,
    pub start_ns: u64,
    pub pid_ns: u64,
    pub mnt_ns: u64,
    pub net_ns: u64,
    pub tids: Vec<u32>,
    /// (fd, readlink target, fdinfo flags).
    pub fds: Vec<(i32, String, u32)>,
}

/// What sdtrace shows of a container beyond its id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerMeta {
    pub name: String,
    /// The image as the container was created from it (`nginx:1.25`).
    pub image: String,
    /// `sha256:...`
    pub image_id: String,
    pub privileged: bool,
    pub ip: String,
    pub labels: BTreeMap<String, String>,
    /// Absent from captures written before mounts were asked for.
    #[serde(default)]
    pub mounts: Vec<MountInfo>,
}

/// One mount of a container, as sysdig's `container.mounts` lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountInfo {
    /// The host side.
    pub source: String,
    /// Where the container sees it.
    pub dest: String,
    /// The options given at creation (Docker's `Mode`: `z`, `ro`, ...).
    pub mode: String,
    pub rw: bool,
    /// `rprivate`, `rslave`, `rshared`, ...
    pub propagation: String,
}

/// What the API server says about one pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInfo {
    pub labels: BTreeMap<String, String>,
    pub ip: String,
    pub ns_labels: BTreeMap<String, String>,
    /// The ReplicaSet that controls the pod ("" for none).
    pub rs: String,
    /// The Deployment that controls that ReplicaSet ("" for none).
    pub deployment: String,
    /// Services in the pod's namespace whose selector matches its labels, sorted.
    pub services: Vec<String>,
    pub node: String,
}
