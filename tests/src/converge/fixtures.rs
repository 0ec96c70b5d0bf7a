//! The system resources `minimgmt` manages in the tests: a Debian package
//! built here (`sdt-hello`, one file under `/usr/share/sdt-hello/`) and an
//! init-style service (`/etc/init.d/sdt-demo`, a sleeping process with a
//! pidfile in `/run`). Their names are fixed (dpkg and `/etc/init.d` have no
//! temp dirs), so the guards remove any leftover before and everything
//! after a test.
use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

pub const PACKAGE: &str = "sdt-hello";
pub const SERVICE: &str = "sdt-demo";
pub const INIT_SCRIPT: &str = "/etc/init.d/sdt-demo";
pub const PIDFILE: &str = "/run/sdt-demo.pid";

/// The service: `start` leaves a `sleep` running in the background with its
/// pid in the pidfile, `stop` kills it and removes the pidfile, `status`
/// says whether it runs.
const SCRIPT: &str = r#"#!/bin/sh
# sdt-demo: the service of sdtrace's convergence tests, a sleeping process.
# Functions, not "$0 stop; $0 start", as Debian's scripts do: one exec of
# the script is one action on the service.
PIDFILE=/run/sdt-demo.pid
running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
do_start() {
    running && return 0
    sleep 2147483647 </dev/null >/dev/null 2>&1 &
    echo $! > "$PIDFILE"
}
do_stop() {
    if [ -f "$PIDFILE" ]; then
        kill "$(cat "$PIDFILE")" 2>/dev/null
        rm -f "$PIDFILE"
    fi
}
case "$1" in
start) do_start ;;
stop) do_stop ;;
restart) do_stop; do_start ;;
status) running ;;
*)
    echo "usage: $0 start|stop|restart|status" >&2
    exit 2
    ;;
esac
"#;

/// Runs a command to completion with its output discarded; whether it succeeded.
fn quietly(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `sdt-hello_1.0_all.deb` built in `dir` with `dpkg-deb --build`.
pub fn build_deb(dir: &Path) -> PathBuf {
    let root = dir.join("pkgroot");
    fs::create_dir_all(root.join("DEBIAN")).unwrap();
    fs::create_dir_all(root.join("usr/share/sdt-hello")).unwrap();
    fs::write(
        root.join("usr/share/sdt-hello/hello.txt"),
        "hello from sdtrace's convergence tests\n",
    )
    .unwrap();
    fs::write(
        root.join("DEBIAN/control"),
        "Package: sdt-hello\nVersion: 1.0\nArchitecture: all\n\
         Maintainer: sdtrace tests <sdtrace@localhost>\n\
         Description: a package for sdtrace's convergence tests\n",
    )
    .unwrap();
    let deb = dir.join("sdt-hello_1.0_all.deb");
    let out = Command::new("dpkg-deb")
        .arg("--root-owner-group")
        .arg("--build")
        .arg(&root)
        .arg(&deb)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dpkg-deb --build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    deb
}

/// Whether dpkg has the package installed.
pub fn package_installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PACKAGE])
        .output()
        .is_ok_and(|o| o.stdout == b"install ok installed")
}

/// The package absent now and purged when the guard drops.
pub struct Package;

impl Package {
    pub fn absent() -> Self {
        quietly(Command::new("dpkg").args(["-P", PACKAGE]));
        assert!(!package_installed(), "{PACKAGE} is still installed");
        Self
    }
}

impl Drop for Package {
    fn drop(&mut self) {
        quietly(Command::new("dpkg").args(["-P", PACKAGE]));
    }
}

/// The init script installed and the service stopped; stopped and removed
/// when the guard drops.
pub struct Service;

impl Service {
    pub fn install() -> Self {
        if Path::new(INIT_SCRIPT).exists() {
            quietly(Command::new(INIT_SCRIPT).arg("stop"));
        }
        fs::write(INIT_SCRIPT, SCRIPT).unwrap();
        fs::set_permissions(INIT_SCRIPT, fs::Permissions::from_mode(0o755)).unwrap();
        let _ = fs::remove_file(PIDFILE);
        Self
    }

    pub fn running() -> bool {
        quietly(Command::new(INIT_SCRIPT).arg("status"))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        quietly(Command::new(INIT_SCRIPT).arg("stop"));
        let _ = fs::remove_file(INIT_SCRIPT);
        let _ = fs::remove_file(PIDFILE);
    }
}

/// The `minimgmt` command line managing `file` (with `content`, mode 0644)
/// and, when `deb` is given, the package and the service.
pub fn minimgmt(bin: &Path, file: &Path, content: &str, deb: Option<&Path>) -> Command {
    let mut command = Command::new(bin);
    command
        .arg("--file")
        .arg(file)
        .args(["--content", content, "--mode", "644"]);
    if let Some(deb) = deb {
        command.args(["--pkg", PACKAGE, "--deb"]).arg(deb).args([
            "--svc",
            SERVICE,
            "--pidfile",
            PIDFILE,
        ]);
    }
    command
}
