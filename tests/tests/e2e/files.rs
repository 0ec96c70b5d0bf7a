//! File events: an `openat` names the path it opened, and a `read` on a
//! descriptor opened before sdtrace started still names its file; `fd.kname`
//! is the path the kernel's dentry walk finds (a renamed file's new name, a
//! dirfd-relative open's absolute path, a container's file inside it).
use std::{
    fs,
    io::{BufRead, BufReader, Lines, Write},
    process::{Child, ChildStdout, Command, Stdio},
};

use tests::{e2e, which, EventExt, Session, TempDir};

e2e!(openat_by_cat_names_the_marker_file, |tracer| {
    let dir = TempDir::new("openat");
    let marker = dir.path().join(format!("marker-{}", dir.token()));
    fs::write(&marker, "marker\n").unwrap();
    let marker = marker.to_str().unwrap().to_owned();

    let session = Session::start(&tracer, &["-c", "evt.type=openat and proc.name=cat"]);
    let cat = Command::new(which("cat"))
        .arg(&marker)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = cat.id();
    let out = cat.wait_with_output().unwrap();
    assert!(out.status.success());

    let ev = session.wait_for(&format!("openat of {marker} by cat pid {pid}"), |e| {
        e.evt_type() == Some("openat")
            && e.pid() == Some(pid)
            && e.str_field("fd.name") == Some(marker.as_str())
    });
    assert_eq!(ev.str_field("proc.name"), Some("cat"), "{ev}");
    assert!(
        ev.int_field("fd.num").is_some_and(|fd| fd >= 0),
        "openat succeeded, so fd.num is its fd: {ev}"
    );
    let done = session.stop();
    assert!(
        done.status.success(),
        "sdtrace exits 0 on SIGINT: {:?}",
        done.status
    );
    assert!(done.stats().matched >= 1);
});

e2e!(read_on_fd_opened_before_start_names_the_file, |tracer| {
    let dir = TempDir::new("preopened");
    let path = dir.path().join("preopened.txt");
    fs::write(&path, "opened before sdtrace started\n").unwrap();
    let path = path.to_str().unwrap().to_owned();

    let mut hold_fd = Command::new(env!("CARGO_BIN_EXE_hold-fd"));
    hold_fd.arg(&path);
    let holder = tests::holder::Holder::start(hold_fd);
    let pid = holder.pid();

    let filter = format!("evt.type=read and proc.pid={pid}");
    let session = Session::start(&tracer, &["-c", &filter]);
    holder.read();

    let ev = session.wait_for(&format!("read of {path} by pid {pid}"), |e| {
        e.evt_type() == Some("read")
            && e.pid() == Some(pid)
            && e.str_field("fd.name") == Some(path.as_str())
    });
    assert_eq!(ev.str_field("fd.type"), Some("file"), "{ev}");
    assert!(session.stop().status.success());
});

/// `fd-paths <mode> <dir>`, started and waiting for its go.
fn fd_paths(mode: &str, dir: &std::path::Path) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fd-paths"))
        .arg(mode)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready", "fd-paths {mode}");
    (child, lines)
}

/// Lets `fd-paths` go and waits for it to finish its calls.
fn go(child: &mut Child, lines: &mut Lines<BufReader<ChildStdout>>) {
    writeln!(child.stdin.take().unwrap(), "go").unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "done");
    assert!(child.wait().unwrap().success());
}

e2e!(fchmod_after_rename_names_the_new_path, |tracer| {
    let dir = TempDir::new("kname-rename");
    let (mut child, mut lines) = fd_paths("rename", dir.path());
    let pid = child.id();
    let session = Session::start(
        &tracer,
        &[
            "-c",
            &format!("proc.pid={pid} and evt.type=fchmod"),
            "-p",
            "%evt.type %proc.pid %fd.kname",
        ],
    );
    go(&mut child, &mut lines);
    let after = dir.path().join("after");
    let after = after.to_str().unwrap();
    let ev = session.wait_for(&format!("fchmod of {after} by pid {pid}"), |e| {
        e.evt_type() == Some("fchmod") && e.pid() == Some(pid)
    });
    assert_eq!(
        ev.str_field("fd.kname"),
        Some(after),
        "the file was opened as before, renamed, then fchmod'ed: {ev}"
    );
    assert!(session.stop().status.success());
});

e2e!(
    dirfd_relative_open_through_a_symlink_has_its_real_absolute_path,
    |tracer| {
        let dir = TempDir::new("kname-dirfd");
        let (mut child, mut lines) = fd_paths("dirfd", dir.path());
        let pid = child.id();
        // Using fd.kname turns kernel paths on for opens and writes too.
        let session = Session::start(
            &tracer,
            &[
                "-c",
                &format!("proc.pid={pid} and evt.type in (openat, fsync)"),
                "-p",
                "%evt.type %proc.pid %fd.num %fd.name %fd.kname",
            ],
        );
        go(&mut child, &mut lines);
        let real = dir.path().join("sub/rel");
        let real = real.to_str().unwrap();
        let open = session.wait_for(&format!("openat of rel by pid {pid}"), |e| {
            e.evt_type() == Some("openat") && e.str_field("fd.kname") == Some(real)
        });
        // The dirfd was opened as DIR/link; the kernel resolved the symlink, and
        // the fd table keeps the kernel's path rather than DIR/link/rel.
        assert_eq!(open.str_field("fd.name"), Some(real), "{open}");
        let sync = session.wait_for(&format!("fsync of {real} by pid {pid}"), |e| {
            e.evt_type() == Some("fsync")
        });
        assert_eq!(sync.str_field("fd.kname"), Some(real), "{sync}");
        assert_eq!(sync.str_field("fd.name"), Some(real), "{sync}");
        assert_eq!(sync.int_field("fd.num"), open.int_field("fd.num"), "{sync}");
        assert!(session.stop().status.success());
    }
);

// A container's file reads as the container sees it: the walk stops at
// the root of the container's mount namespace, past the overlay's root
// and the bind mount Docker puts on /etc/hostname.
e2e!(
    container_file_kname_is_relative_to_the_container_root,
    |tracer, test| {
        let Some(docker) = tests::require_docker(test) else {
            return;
        };
        let image = "sdtrace-e2e-busybox:1";
        tests::images::busybox_image(&docker, image);
        let name = tests::unique_name("sdtrace-kname");
        let session = Session::start(
            &tracer,
            &[
                "-c",
                &format!("container.name={name} and evt.type=openat and proc.name=cat"),
                "-p",
                "%container.name %proc.name %fd.name %fd.kname",
            ],
        );
        let status = Command::new(&docker)
            .args(["run", "--rm", "--name", &name])
            .args([image, "/bin/cat", "/etc/motd", "/etc/hostname"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "docker run");
        for path in ["/etc/motd", "/etc/hostname"] {
            let file = path.rsplit('/').next().unwrap();
            let ev = session.wait_for(&format!("cat's open of {path} in the container"), |e| {
                e.str_field("fd.kname").is_some_and(|k| k.ends_with(file))
            });
            assert_eq!(ev.str_field("fd.kname"), Some(path), "{ev}");
            assert_eq!(ev.str_field("fd.name"), Some(path), "{ev}");
        }
        assert!(session.stop().status.success());
    }
);
