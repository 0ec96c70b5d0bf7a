//! `/proc` mounted `hidepid=2,gid=<a group sdtrace is not in>` and sdtrace
//! without CAP_SYS_PTRACE: other users' processes are invisible to it
//! there. Their syscalls still come (the kernel reports them); what sdtrace
//! would have read of them from `/proc` is lost, and it says so once.
use std::{
    fs,
    os::unix::fs::PermissionsExt,
    process::{Command, Stdio},
};

use tests::{e2e, require_program, EventExt, Session, TempDir, Tracer};

/// The user the workload runs as: not sdtrace's.
const NOBODY: &str = "--reuid=65534";

/// Says what is lost.
const SAID: &str = "hidepid=";

/// `setpriv` running a command as nobody, no groups.
fn as_nobody(program: &std::path::Path) -> Command {
    let mut c = Command::new("setpriv");
    c.args([NOBODY, "--regid=65534", "--clear-groups", "--"])
        .arg(program);
    c
}

// A process of another user holds a file open from before sdtrace started
// and reads it; a second one starts after and opens the file.
e2e!(
    hidden_processes_still_give_events_and_the_loss_is_said_once,
    |tracer, test| {
        if require_program(test, "setpriv").is_none() || require_program(test, "unshare").is_none()
        {
            return;
        }
        let dir = TempDir::new("hidepid");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.path().join("seen.txt");
        fs::write(&file, "read by nobody\n").unwrap();
        let file = file.display().to_string();
        // Copies nobody may run, whatever the build tree's permissions.
        let hold_fd = dir.path().join("hold-fd");
        fs::copy(env!("CARGO_BIN_EXE_hold-fd"), &hold_fd).unwrap();
        // sdtrace in a mount namespace of its own, whose /proc hides other
        // users' processes, without the capability that sees through it.
        let wrapper = dir.path().join("sdtrace-hidepid");
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec unshare -m --propagation private sh -c \
             'mount -t proc -o hidepid=2,gid=65533 proc /proc && \
             exec setpriv --bounding-set=-sys_ptrace --inh-caps=-sys_ptrace -- \"$0\" \"$@\"' \
             {} \"$@\"\n",
                tracer.bin.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
        let hidden = Tracer { bin: wrapper };

        let mut command = as_nobody(&hold_fd);
        command.arg(&file);
        let holder = tests::holder::Holder::start(command);
        let pid = holder.pid();

        let session = Session::start(
            &hidden,
            &[
                "-c",
                &format!(
                    "(evt.type=read and proc.pid={pid}) or (evt.type=openat and fd.name={file})"
                ),
                "-p",
                "%evt.type %proc.pid %proc.name %proc.cmdline %user.uid %fd.name",
            ],
        );
        holder.read();
        let read = session.wait_for(&format!("the hidden process's read (pid {pid})"), |e| {
            e.evt_type() == Some("read") && e.pid() == Some(pid)
        });
        // The test hid it: sdtrace could not read its command line, nor
        // name the file it opened before.
        assert_eq!(read.str_field("proc.cmdline"), None, "hidden: {read}");
        assert_eq!(read.str_field("fd.name"), None, "hidden: {read}");
        assert_eq!(
            read.str_field("proc.name"),
            Some("hold-fd"),
            "the kernel's comm: {read}"
        );

        let status = as_nobody(&tests::which("cat"))
            .arg(&file)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let open = session.wait_for("the open by nobody's cat, started after sdtrace", |e| {
            e.evt_type() == Some("openat") && e.str_field("fd.name") == Some(file.as_str())
        });
        let done = session.stop();
        assert!(done.status.success(), "{:?}", done.status);
        let said: Vec<&String> = done.stderr.iter().filter(|l| l.contains(SAID)).collect();
        eprintln!("hidepid=2, no CAP_SYS_PTRACE: read {read}\nopen {open}\nsaid {said:?}");
        assert_eq!(said.len(), 1, "said once what is lost: {:?}", done.stderr);
        // Started after sdtrace: known from its exec record, /proc or not.
        assert_eq!(
            open.str_field("proc.cmdline"),
            Some(format!("cat {file}").as_str()),
            "{open}"
        );
    }
);
