//! A Docker engine of the test's own, for tests that stop, restart or
//! freeze it: the machine's shared dockerd serves other tests and must not
//! be touched. Everything it keeps is under one temp dir (data and exec
//! roots, pid file, socket); it has a bridge of its own (with
//! `--bridge=none`, dockerd deletes the host's `docker0`, the shared
//! daemon's) and no iptables rules, keeps
//! its containers running while it is down (`--live-restore`), and stores
//! images as plain copies (vfs: no overlay mounts to undo). On drop its
//! containers are removed, the daemon and the containerd it started are
//! stopped, and what is still mounted under its dir is unmounted.
use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::{
    session::{signal, wait_deadline},
    TempDir,
};

/// How long the daemon may take to answer after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Dockerd {
    dockerd: PathBuf,
    child: Option<Child>,
    frozen: bool,
    dir: TempDir,
    /// Its own bridge, deleted on drop.
    bridge: String,
}

/// `ip ARGS`, which must succeed.
fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {}", args.join(" "));
}

impl Dockerd {
    /// Starts `dockerd` on its own dirs and waits until it answers.
    pub fn start(dockerd: &Path) -> Self {
        let dir = TempDir::new("dockerd");
        let d = dir.path();
        fs::write(d.join("daemon.json"), "{}\n").unwrap();
        // A client bound to this daemon, so helpers that take a `docker`
        // binary (images, Container) drive it unchanged.
        let client = d.join("docker");
        fs::write(
            &client,
            format!(
                "#!/bin/sh\nexec {} -H unix://{} \"$@\"\n",
                crate::which("docker").display(),
                d.join("docker.sock").display()
            ),
        )
        .unwrap();
        fs::set_permissions(&client, fs::Permissions::from_mode(0o755)).unwrap();
        // Unique per process (interface names are at most 15 bytes); an
        // address no test network uses.
        let bridge = format!("sdtd{}", std::process::id() % 100_000);
        let _ = Command::new("ip")
            .args(["link", "del", &bridge])
            .stderr(Stdio::null())
            .status();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", "10.231.254.1/24", "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        let mut me = Self {
            dockerd: dockerd.to_owned(),
            child: None,
            frozen: false,
            dir,
            bridge,
        };
        me.spawn();
        me
    }

    /// The daemon's API socket.
    pub fn sock(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// A `docker` that talks to this daemon.
    pub fn client(&self) -> PathBuf {
        self.dir.path().join("docker")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    fn spawn(&mut self) {
        if let Err(why) = self.try_spawn() {
            panic!("{why}");
        }
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let d = self.dir.path();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("dockerd.log"))
            .unwrap();
        let child = Command::new(&self.dockerd)
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("root"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock().display()))
            .arg(format!("--bridge={}", self.bridge))
            .args([
                "--iptables=false",
                "--ip-masq=false",
                "--storage-driver=vfs",
                "--live-restore",
                // Apart from the shared daemon's, should both use one
                // system containerd.
                "--containerd-namespace=sdtrace-faults",
                "--containerd-plugins-namespace=sdtrace-faults-plugins",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start {}: {e}", self.dockerd.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        while !self.answers() {
            if Instant::now() >= deadline {
                return Err(format!(
                    "the test's dockerd did not answer in {READY_TIMEOUT:?}: {}",
                    self.log()
                ));
            }
            // Polling a daemon's start, not synchronising with an event.
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// Whether `docker version` gets the daemon's answer.
    fn answers(&self) -> bool {
        Command::new(self.client())
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stops the daemon (SIGTERM, as a service manager does) and waits for
    /// it to exit; its containers keep running and its socket is gone.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.frozen {
            self.thaw();
        }
        signal(child.id(), libc::SIGTERM);
        if wait_deadline(&mut child, Duration::from_secs(30)).is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the daemon again on the same dirs and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Freezes the daemon (SIGSTOP): its socket is there and takes
    /// connections, but nothing answers.
    pub fn freeze(&mut self) {
        let child = self.child.as_ref().expect("a running dockerd");
        signal(child.id(), libc::SIGSTOP);
        self.frozen = true;
    }

    pub fn thaw(&mut self) {
        let child = self.child.as_ref().expect("a running dockerd");
        signal(child.id(), libc::SIGCONT);
        self.frozen = false;
    }

    /// The containerd this daemon started, if it still runs.
    fn containerd_pid(&self) -> Option<u32> {
        let pid = fs::read_to_string(self.dir.path().join("exec/containerd/containerd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if self.frozen {
            self.thaw();
        }
        if self.child.is_none() {
            // Not a panic in a drop: a daemon that will not start leaves
            // only its containers' shims behind.
            let _ = self.try_spawn();
        }
        // Its containers, while it can still remove them.
        if let Ok(out) = Command::new(self.client()).args(["ps", "-aq"]).output() {
            let ids = String::from_utf8_lossy(&out.stdout);
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let _ = Command::new(self.client())
                    .args(["rm", "-f"])
                    .args(&ids)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let containerd = self.containerd_pid();
        self.stop();
        if let Some(pid) = containerd.filter(|_| self.containerd_pid().is_some()) {
            signal(pid, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.containerd_pid().is_some() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        crate::tmpfs::unmount_all_under(self.dir.path());
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}
