//! A Docker container a test runs, removed when the test ends, passed or
//! not, and what the test asks Docker about it (id, bridge address,
//! published port).
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

pub struct Container {
    docker: PathBuf,
    name: String,
}

impl Container {
    /// `docker run -d --name <name> <args>` after removing a leftover of the
    /// same name.
    pub fn run(docker: &Path, name: &str, args: &[&str]) -> Self {
        let container = Self {
            docker: docker.to_owned(),
            name: name.to_owned(),
        };
        container.remove();
        let status = Command::new(docker)
            .args(["run", "-d", "--name", name])
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "docker run {name}");
        container
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A Go template of `docker inspect`, evaluated for this container.
    pub fn inspect(&self, format: &str) -> String {
        let out = Command::new(&self.docker)
            .args(["inspect", "-f", format, &self.name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker inspect -f {format:?} {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn full_id(&self) -> String {
        self.inspect("{{.Id}}")
    }

    /// Its address on Docker's default bridge.
    pub fn ip(&self) -> String {
        self.inspect("{{.NetworkSettings.IPAddress}}")
    }

    /// The host port Docker published `container_port`/tcp on (`-p
    /// <container_port>` lets Docker pick a free one).
    pub fn host_port(&self, container_port: u16) -> u16 {
        let port = self.inspect(&format!(
            "{{{{(index (index .NetworkSettings.Ports \"{container_port}/tcp\") 0).HostPort}}}}"
        ));
        port.parse()
            .unwrap_or_else(|e| panic!("{}: host port {port:?}: {e}", self.name))
    }

    /// `docker exec` in the container; whether it succeeded.
    pub fn exec(&self, cmd: &[&str]) -> bool {
        self.exec_command(cmd)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The `docker exec` command line, for a test to run its own way.
    pub fn exec_command(&self, cmd: &[&str]) -> Command {
        let mut command = Command::new(&self.docker);
        command.args(["exec", &self.name]).args(cmd);
        command
    }

    fn remove(&self) {
        let _ = Command::new(&self.docker)
            .args(["rm", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.remove();
    }
}
