//! A network namespace the test creates, joined to the host by a veth pair
//! with a /30 of its own: a second "node" on one machine, reachable from
//! the host only through that link. Removed when dropped.
use std::process::Command;

pub struct NetNs {
    pub name: String,
    /// The host's end of the link.
    pub host_ip: String,
    /// The namespace's end.
    pub ip: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl NetNs {
    /// `index` picks the /30 (10.231.<index>.0), so tests running at once
    /// each use their own.
    #[must_use]
    pub fn create(prefix: &str, index: u8) -> Self {
        let name = crate::unique_name(prefix);
        // Interface names are at most 15 bytes.
        let host_if = format!("sdt{index}h{}", std::process::id() % 10_000);
        let ns_if = format!("sdt{index}n{}", std::process::id() % 10_000);
        let (host_ip, ns_ip) = (format!("10.231.{index}.1"), format!("10.231.{index}.2"));
        ip(&["netns", "add", &name]);
        let ns = NetNs {
            name,
            host_ip: host_ip.clone(),
            ip: ns_ip.clone(),
        };
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if, "netns", &ns.name,
        ]);
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        ns.exec_ip(&["addr", "add", &format!("{ns_ip}/30"), "dev", &ns_if]);
        ns.exec_ip(&["link", "set", &ns_if, "up"]);
        ns.exec_ip(&["link", "set", "lo", "up"]);
        ns
    }

    fn exec_ip(&self, args: &[&str]) {
        let mut full = vec!["netns", "exec", &self.name, "ip"];
        full.extend_from_slice(args);
        ip(&full);
    }

    /// `program args…` run inside the namespace.
    #[must_use]
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the veth, and with it
        // the host's end.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
