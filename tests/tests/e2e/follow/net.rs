//! The network side of the follow tests: Docker's bridge gateway, a
//! virtual service address DNAT'd by the test's own iptables chains (the
//! way kube-proxy sends a ClusterIP to a pod), and whether Docker's
//! userland proxy serves a published port.
use std::{
    fs,
    path::Path,
    process::Command,
    time::{SystemTime, UNIX_EPOCH},
};

/// A short token unique to this run and call: container names, chain
/// names and the virtual address are made from it.
pub(super) fn token() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mixed = nanos ^ std::process::id().rotate_left(16) ^ N.fetch_add(1, Ordering::Relaxed);
    format!("{mixed:08x}")
}

/// A service address in 10.222.0.0/16 chosen from `token`, never a
/// network or broadcast address. Nothing routes there: only the test's DNAT
/// gives it a destination, and it is installed before any packet is sent.
pub(super) fn virtual_ip(token: &str) -> String {
    let n = u32::from_str_radix(token, 16).expect("tokens are hex");
    let (a, b) = (n % 254 + 1, (n >> 8) % 254 + 1);
    format!("10.222.{a}.{b}")
}

/// The gateway of Docker's default bridge (docker0's address, e.g.
/// 172.17.0.1). A connection to it and a published port is DNAT'd by
/// Docker's rule in the nat OUTPUT chain; one to 127.0.0.1 is not, and goes
/// through docker-proxy instead. Read from the bridge interface itself: a
/// first `dockerd` start on a new machine leaves the gateway out of the
/// network's IPAM config (`{"Subnet":"172.17.0.0/16"}`).
pub(super) fn bridge_gateway(docker: &Path) -> String {
    let docker_out = |args: &[&str]| {
        let out = Command::new(docker).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let bridge = docker_out(&[
        "network",
        "inspect",
        "bridge",
        "-f",
        "{{index .Options \"com.docker.network.bridge.name\"}}",
    ]);
    let bridge = if bridge.is_empty() {
        "docker0".to_owned()
    } else {
        bridge
    };
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", &bridge])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let gateway = text
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .unwrap_or_default()
        .to_owned();
    assert!(
        !gateway.is_empty(),
        "Docker's bridge {bridge} has no IPv4 address: {text}"
    );
    gateway
}

/// Whether a `docker-proxy` process serves `host_port` (dockerd runs one
/// per published port unless started with `--userland-proxy=false`).
pub(super) fn docker_proxy_serves(host_port: u16) -> bool {
    let wanted = host_port.to_string();
    let Ok(procs) = fs::read_dir("/proc") else {
        return false;
    };
    procs.flatten().any(|entry| {
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            return false;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_proxy = args.first().is_some_and(|a| a.ends_with(b"docker-proxy"));
        is_proxy
            && args
                .windows(2)
                .any(|w| w[0] == b"-host-port" && w[1] == wanted.as_bytes())
    })
}

/// The test's own chains in the nat table, removed with every jump to them
/// when the test ends, passed or not.
pub(super) struct NatChains {
    /// Jumped to from PREROUTING and OUTPUT: the DNAT rules.
    pub service: String,
    /// Jumped to from POSTROUTING: the MASQUERADE rules.
    masquerade: String,
    /// Each jump as `iptables -t nat -D` takes it back.
    jumps: Vec<Vec<String>>,
}

impl NatChains {
    /// Creates `SDTF<token>-SVC` and `SDTF<token>-MASQ` (iptables allows 28
    /// characters; these are 17).
    pub(super) fn create(token: &str) -> Self {
        let chains = Self {
            service: format!("SDTF{token}-SVC"),
            masquerade: format!("SDTF{token}-MASQ"),
            jumps: Vec::new(),
        };
        iptables(&["-N", &chains.service]);
        iptables(&["-N", &chains.masquerade]);
        chains
    }

    /// Sends TCP to `vip`:`port`, from a container (PREROUTING) or the host
    /// (OUTPUT), on to `to` (`ip:port`).
    pub(super) fn dnat(&mut self, vip: &str, port: u16, to: &str) {
        let port = port.to_string();
        let matches = ["-d", &format!("{vip}/32"), "-p", "tcp", "--dport", &port];
        let mut rule: Vec<&str> = vec!["-A", &self.service];
        rule.extend(matches);
        rule.extend(["-j", "DNAT", "--to-destination", to]);
        iptables(&rule);
        let service = self.service.clone();
        for hook in ["PREROUTING", "OUTPUT"] {
            let mut jump: Vec<&str> = vec![hook];
            jump.extend(matches);
            jump.extend(["-j", &service]);
            self.jump(&jump);
        }
    }

    /// Masquerades what [`NatChains::dnat`] sent on from `vip`:`port`, as
    /// kube-proxy's KUBE-MARK-MASQ does for hairpin traffic: a client and a
    /// server on the same bridge would otherwise answer each other directly,
    /// past the host's connection tracking, when the bridge does not call
    /// iptables (no br_netfilter).
    pub(super) fn masquerade(&mut self, vip: &str, port: u16) {
        let port = port.to_string();
        let vip = format!("{vip}/32");
        iptables(&[
            "-A",
            &self.masquerade,
            "-p",
            "tcp",
            "-m",
            "conntrack",
            "--ctstate",
            "DNAT",
            "--ctorigdst",
            &vip,
            "--ctorigdstport",
            &port,
            "-j",
            "MASQUERADE",
        ]);
        let masquerade = self.masquerade.clone();
        self.jump(&["POSTROUTING", "-j", &masquerade]);
    }

    /// Inserts `rule` (a built-in chain, then matches and the jump) at the
    /// top of that chain, ahead of Docker's own rules.
    fn jump(&mut self, rule: &[&str]) {
        let (chain, rest) = rule.split_first().expect("a chain");
        let mut insert = vec!["-I", chain];
        insert.extend(rest);
        iptables(&insert);
        let mut delete = vec!["-D".to_owned()];
        delete.extend(rule.iter().map(ToString::to_string));
        self.jumps.push(delete);
    }
}

impl Drop for NatChains {
    fn drop(&mut self) {
        for delete in &self.jumps {
            let _ = nat_command(delete).status();
        }
        for chain in [&self.service, &self.masquerade] {
            let _ = nat_command(&["-F".to_owned(), chain.clone()]).status();
            let _ = nat_command(&["-X".to_owned(), chain.clone()]).status();
        }
    }
}

fn nat_command(args: &[impl AsRef<std::ffi::OsStr>]) -> Command {
    let mut cmd = Command::new("iptables");
    // -w: wait for the xtables lock that dockerd may hold.
    cmd.args(["-w", "-t", "nat"]).args(args);
    cmd
}

fn iptables(args: &[&str]) {
    let out = nat_command(args).output().unwrap();
    assert!(
        out.status.success(),
        "iptables -t nat {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
