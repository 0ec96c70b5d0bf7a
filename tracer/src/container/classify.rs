//! Which container, if any, a cgroup path belongs to: the runtime and the
//! container's full id, from the names runtimes and their cgroup drivers
//! give the directories they create.
//!
//! The innermost match wins, so a container nested in another (a pod in a
//! kind node, docker-in-docker) is reported as the inner one.

use std::fmt;

/// The runtime that named a container's cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runtime {
    Docker,
    /// containerd, through the Kubernetes CRI or on its own.
    Containerd,
    CriO,
    Podman,
}

impl Runtime {
    /// sysdig's `container.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Podman => "podman",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container as its cgroup path names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerRef {
    pub runtime: Runtime,
    /// The 64 hex digit id.
    pub id: String,
}

impl ContainerRef {
    /// The id as sysdig shows `container.id`: its first 12 characters.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}

fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The container one path component names, with the component's context
/// (the components before it) deciding between runtimes that share a form.
fn component(parent: &[&str], name: &str) -> Option<ContainerRef> {
    let r = |runtime, id: &str| {
        is_id(id).then(|| ContainerRef {
            runtime,
            id: id.to_owned(),
        })
    };
    // systemd driver: `<prefix>-<id>.scope`.
    if let Some(scope) = name.strip_suffix(".scope") {
        for (prefix, runtime) in [
            ("docker-", Runtime::Docker),
            ("cri-containerd-", Runtime::Containerd),
            ("crio-", Runtime::CriO),
            ("libpod-", Runtime::Podman),
        ] {
            if let Some(id) = scope.strip_prefix(prefix) {
                return r(runtime, id);
            }
        }
        return None;
    }
    // containerd's systemd cgroup under its own service: `kubepods-...:cri-containerd:<id>`.
    if let Some((_, id)) = name.rsplit_once(":cri-containerd:") {
        return r(Runtime::Containerd, id);
    }
    // cgroupfs driver: a bare id under the runtime's parent directory.
    if let Some(id) = name.strip_prefix("crio-") {
        return r(Runtime::CriO, id);
    }
    if let Some(id) = name.strip_prefix("libpod-") {
        return r(Runtime::Podman, id);
    }
    if !is_id(name) {
        return None;
    }
    // The nearest ancestor that is a runtime's parent directory decides.
    let runtime = parent.iter().rev().find_map(|p| match *p {
        "docker" => Some(Runtime::Docker),
        // A bare id in a pod's cgroup is the CRI runtime's; CRI-O prefixes
        // its own (above), so this is containerd (or docker through
        // dockershim, which the path cannot tell apart).
        p if p.starts_with("kubepods") => Some(Runtime::Containerd),
        "libpod_parent" | "machine.slice" => Some(Runtime::Podman),
        _ => None,
    })?;
    r(runtime, name)
}

/// The innermost container `path` belongs to; `None` for the host.
pub fn classify(path: &str) -> Option<ContainerRef> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    (0..parts.len())
        .rev()
        .find_map(|i| component(&parts[..i], parts[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3f5bd6e0e1b9e9f4c2a7a0d5e58c8f2b1d3e4f5a6b7c8d9e0f1a2b3c4d5e6f70";
    const B: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// Every layout issue 4 names, as the host's cgroupfs shows it.
    #[test]
    fn fixture_table() {
        let d = Some(Runtime::Docker);
        let c = Some(Runtime::Containerd);
        let o = Some(Runtime::CriO);
        let p = Some(Runtime::Podman);
        let table: &[(String, Option<Runtime>, &str)] = &[
            // Docker, cgroupfs driver, v1 and v2.
            (format!("/docker/{A}"), d, A),
            (format!("/memory/docker/{A}"), d, A),
            // Docker, systemd driver.
            (format!("/system.slice/docker-{A}.scope"), d, A),
            // Kubernetes + containerd, cgroupfs driver, each QoS class.
            (format!("/kubepods/besteffort/pod1b2c-33/{A}"), c, A),
            (format!("/kubepods/burstable/pod1b2c-33/{A}"), c, A),
            (format!("/kubepods/pod1b2c-33/{A}"), c, A),
            // Kubernetes + containerd, systemd driver.
            (
                format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c_33.slice/cri-containerd-{A}.scope"),
                c,
                A,
            ),
            (
                format!("/kubepods.slice/kubepods-pod1b2c_33.slice/cri-containerd-{A}.scope"),
                c,
                A,
            ),
            // containerd's own systemd layout.
            (
                format!("/system.slice/containerd.service/kubepods-besteffort-pod1b2c_33.slice:cri-containerd:{A}"),
                c,
                A,
            ),
            // CRI-O, systemd and cgroupfs drivers.
            (
                format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c_33.slice/crio-{A}.scope"),
                o,
                A,
            ),
            (format!("/kubepods/besteffort/pod1b2c-33/crio-{A}"), o, A),
            // podman / libpod.
            (format!("/machine.slice/libpod-{A}.scope"), p, A),
            (format!("/machine.slice/libpod-{A}.scope/container"), p, A),
            (format!("/libpod_parent/libpod-{A}"), p, A),
            (format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{A}.scope"), p, A),
            // Nested: a kind node (a docker container) running a pod.
            (
                format!("/docker/{B}/kubepods/besteffort/pod1b2c-33/{A}"),
                c,
                A,
            ),
            (format!("/system.slice/docker-{B}.scope/docker/{A}"), d, A),
        ];
        for (path, runtime, id) in table {
            let got = classify(path);
            assert_eq!(got.as_ref().map(|c| c.runtime), *runtime, "{path}");
            assert_eq!(got.as_ref().map(|c| c.id.as_str()), Some(*id), "{path}");
        }
    }

    #[test]
    fn host_paths_are_no_container() {
        for path in [
            "/",
            "",
            "/user.slice/user-0.slice/session-3.scope",
            "/system.slice/sshd.service",
            "/system.slice/docker.service",
            "/system.slice/containerd.service",
            "/kubepods/besteffort/pod1b2c-33",
            "/docker",
            // A scope of the right form whose id is not one.
            "/system.slice/docker-notanid.scope",
            "/system.slice/docker-3F5BD6E0E1B9E9F4C2A7A0D5E58C8F2B1D3E4F5A6B7C8D9E0F1A2B3C4D5E6F70.scope",
        ] {
            assert_eq!(classify(path), None, "{path}");
        }
    }

    #[test]
    fn short_id_is_sysdigs() {
        let c = classify(&format!("/docker/{A}")).unwrap();
        assert_eq!(c.short_id(), "3f5bd6e0e1b9");
        assert_eq!(c.runtime.to_string(), "docker");
    }
}
