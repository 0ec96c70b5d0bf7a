//! The Docker engine the container tests run against: started in the
//! background when it is installed but not running (CI machines start
//! with nothing running), and left running for later commands.
use std::fs::File;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::util;

fn answers() -> bool {
    Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) fn ensure_dockerd() -> Result<()> {
    if answers() {
        return Ok(());
    }
    if !util::on_path("dockerd") {
        bail!("dockerd is not installed (cargo xtask setup installs docker.io)");
    }
    let log_path = util::target_dir().join("dockerd.log");
    std::fs::create_dir_all(util::target_dir())?;
    let log = File::create(&log_path).with_context(|| format!("create {}", log_path.display()))?;
    Command::new("dockerd")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("start dockerd")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if answers() {
            eprintln!("xtask: started dockerd (log: {})", log_path.display());
            return Ok(());
        }
        // Polling a daemon's start-up, not synchronising with an event.
        thread::sleep(Duration::from_millis(250));
    }
    bail!(
        "dockerd did not answer within 60 s; see {}",
        log_path.display()
    )
}
