//! Container identity from the kernel's cgroup ids: a process moved into a
//! cgroup laid out as Docker lays them out (created after sdtrace started)
//! is in that container from its first syscall there, and a filter on the
//! container selects nothing else.
use std::{
    fs,
    path::PathBuf,
    process::{Command, Stdio},
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::Value;
use tests::{e2e, EventExt, Session};

/// The hierarchy sdtrace reads container cgroups from: the v1 memory
/// controller where v1 is mounted, else the unified hierarchy.
fn cgroup_root() -> PathBuf {
    let v1 = PathBuf::from("/sys/fs/cgroup/memory");
    if v1.join("cgroup.procs").is_file() {
        v1
    } else {
        PathBuf::from("/sys/fs/cgroup")
    }
}

/// A cgroup `docker/<id>` that is removed when the test ends.
struct DockerCgroup {
    dir: PathBuf,
    id: String,
}

impl DockerCgroup {
    fn create() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let id = format!("{nanos:016x}").repeat(4);
        let dir = cgroup_root().join("docker").join(&id);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        Self { dir, id }
    }
}

impl Drop for DockerCgroup {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.dir);
    }
}

e2e!(
    a_process_in_a_docker_cgroup_is_in_that_container,
    |tracer| {
        let cgroup = DockerCgroup::create();
        let short = &cgroup.id[..12];
        let session = Session::start(
            &tracer,
            &[
                "-c",
                &format!("container.id={short} and evt.type=openat"),
                "-p",
                "%container.id %container.full_id %container.type %proc.name %proc.pid %fd.name",
            ],
        );
        // The shell moves itself into the cgroup, then becomes cat.
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo $$ > {}/cgroup.procs && exec cat /etc/hostname",
                cgroup.dir.display()
            ))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let ev = session.wait_for("cat's open of /etc/hostname in the container", |e| {
            e.str_field("fd.name") == Some("/etc/hostname")
        });
        assert_eq!(
            ev.str_field("container.full_id"),
            Some(cgroup.id.as_str()),
            "{ev}"
        );
        assert_eq!(ev.str_field("container.type"), Some("docker"), "{ev}");
        assert_eq!(ev.str_field("proc.name"), Some("cat"), "{ev}");
        let done = session.stop();
        assert!(done.status.success());
        let others: Vec<&Value> = done
            .events
            .iter()
            .filter(|e| e.str_field("container.id") != Some(short))
            .collect();
        assert!(others.is_empty(), "only the container's events: {others:?}");
        // Its first open (the loader's) is already attributed.
        let first = done.events.first().expect("events");
        assert_eq!(first.str_field("proc.name"), Some("cat"), "{first}");
    }
);

e2e!(host_processes_are_in_no_container, |tracer| {
    let session = Session::start(
        &tracer,
        &[
            "-c",
            "evt.type=openat and proc.name=cat",
            "-p",
            "%container.id %container.type %fd.name",
        ],
    );
    let status = Command::new("cat")
        .arg("/etc/hostname")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let ev = session.wait_for("cat's open", |e| {
        e.str_field("fd.name") == Some("/etc/hostname")
    });
    assert_eq!(ev.str_field("container.id"), Some("host"), "{ev}");
    assert_eq!(ev.str_field("container.type"), Some("host"), "{ev}");
    session.stop();
});

/// A cgroup2 hierarchy: the host's, or one this test mounts (unmounted when
/// the test ends).
struct Cgroup2 {
    root: PathBuf,
    mounted: Option<tests::TempDir>,
}

impl Cgroup2 {
    fn get() -> Self {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let existing = mountinfo.lines().find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            right
                .starts_with("cgroup2 ")
                .then(|| PathBuf::from(mount_point))
        });
        if let Some(root) = existing {
            return Self {
                root,
                mounted: None,
            };
        }
        let dir = tests::TempDir::new("cgroup2");
        let status = Command::new("mount")
            .args(["-t", "cgroup2", "none"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount -t cgroup2");
        Self {
            root: dir.path().to_owned(),
            mounted: Some(dir),
        }
    }
}

impl Drop for Cgroup2 {
    fn drop(&mut self) {
        if self.mounted.is_some() {
            let _ = Command::new("umount").arg(&self.root).status();
        }
    }
}

// cgroup v2, as most nodes run: a filter on a cgroup's id is pushed into
// the kernel and selects exactly the process in that cgroup, while a busy
// process elsewhere costs nothing in userspace.
e2e!(cgroup_v2_filter_selects_exactly_its_process, |tracer| {
    use std::os::unix::fs::MetadataExt;
    let v2 = Cgroup2::get();
    let leaf = v2.root.join(tests::unique_name("sdtrace-test"));
    fs::create_dir(&leaf).unwrap();
    let id = fs::metadata(&leaf).unwrap().ino();
    let session = Session::start(
        &tracer,
        &[
            "-c",
            &format!("cgroup.id={id}"),
            "-p",
            "*%cgroup.id %proc.name %proc.pid %fd.name",
        ],
    );
    // Busy elsewhere: 200 000 syscalls only the cgroup test can drop.
    let busy = Command::new(env!("CARGO_BIN_EXE_syscall-loop"))
        .args(["getppid", "200000"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(busy.success());
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec cat /etc/hostname",
            leaf.display()
        ))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = i64::from(child.id());
    assert!(child.wait().unwrap().success());
    session.wait_for("cat's open in the cgroup", |e| {
        e.str_field("fd.name") == Some("/etc/hostname")
    });
    let done = session.stop();
    let _ = fs::remove_dir(&leaf);
    assert!(done.status.success());
    assert!(
        done.events
            .iter()
            .all(|e| e.int_field("cgroup.id") == Some(id as i64)
                && e.int_field("proc.pid") == Some(pid)),
        "only the process in the cgroup: {:?}",
        done.events
    );
    let seen = done.stats().events;
    assert!(
        seen < 20_000,
        "the kernel dropped the busy process's 200 000 syscalls, {seen} reached userspace"
    );
});

// A real Docker container: its events carry the name, image and the
// Kubernetes labels the runtime reports, and a filter on the name selects
// its events and nothing else.
e2e!(
    docker_container_has_its_name_image_and_pod,
    |tracer, test| {
        let Some(docker) = tests::require_docker(test) else {
            return;
        };
        let image = "sdtrace-e2e-busybox:1";
        tests::images::busybox_image(&docker, image);
        let name = tests::unique_name("sdtrace-web");
        let session = Session::start(
            &tracer,
            &[
                "-c",
                &format!("container.name={name} and evt.type=openat"),
                "-p",
                "%container.name %container.id %container.image %container.image.repository \
             %container.image.tag %container.type %k8s.pod.name %k8s.ns.name %proc.name %fd.name",
            ],
        );
        // No pause: the container's first events wait for Docker's answer.
        let status = Command::new(&docker)
            .args(["run", "--rm", "--name", &name])
            .args(["--label", "io.kubernetes.pod.name=web-0"])
            .args(["--label", "io.kubernetes.pod.namespace=shop"])
            .args([image, "/bin/cat", "/etc/motd"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "docker run");
        let ev = session.wait_for("cat's open of /etc/motd in the container", |e| {
            e.str_field("fd.name") == Some("/etc/motd")
        });
        assert_eq!(ev.str_field("container.name"), Some(name.as_str()), "{ev}");
        assert_eq!(ev.str_field("container.image"), Some(image), "{ev}");
        assert_eq!(
            ev.str_field("container.image.repository"),
            Some("sdtrace-e2e-busybox"),
            "{ev}"
        );
        assert_eq!(ev.str_field("container.image.tag"), Some("1"), "{ev}");
        assert_eq!(ev.str_field("container.type"), Some("docker"), "{ev}");
        assert_eq!(ev.str_field("k8s.pod.name"), Some("web-0"), "{ev}");
        assert_eq!(ev.str_field("k8s.ns.name"), Some("shop"), "{ev}");
        assert_eq!(ev.str_field("proc.name"), Some("cat"), "{ev}");
        let done = session.stop();
        assert!(done.status.success());
        assert!(
            done.events
                .iter()
                .all(|e| e.str_field("container.name") == Some(name.as_str())),
            "only the container's events: {:?}",
            done.events
        );
        // Its very first opens (runc setting it up, inside its cgroup) already
        // carry the name: they waited for the runtime's answer.
        let first = done.events.first().expect("events");
        assert_ne!(
            first.str_field("proc.name"),
            Some("cat"),
            "runc's opens come first: {first}"
        );
    }
);
