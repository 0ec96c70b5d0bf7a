//! Which node sdtrace runs on, as Kubernetes names it: asked with or
//! without the API client (the agent says it in every stream).

/// The node whose pods to follow: `--k8s-node`, else `NODE_NAME` (what a
/// DaemonSet usually sets from `spec.nodeName`), else `SDTRACE_NODE_NAME`,
/// else the hostname, which is the node name kubelet registers by default.
pub fn node_name(flag: Option<&str>) -> String {
    node_name_from(flag, |name| std::env::var(name).ok(), hostname)
}

fn node_name_from(
    flag: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
    hostname: impl FnOnce() -> String,
) -> String {
    flag.map(str::to_owned)
        .or_else(|| env("NODE_NAME"))
        .or_else(|| env("SDTRACE_NODE_NAME"))
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(hostname)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_name_order() {
        let env = |n: &str| (n == "SDTRACE_NODE_NAME").then(|| "from-env".to_owned());
        let host = || "host".to_owned();
        assert_eq!(node_name_from(Some("flag"), env, host), "flag");
        assert_eq!(node_name_from(None, env, host), "from-env");
        assert_eq!(node_name_from(None, |_| None, host), "host");
        let both = |n: &str| Some(n.to_lowercase());
        assert_eq!(node_name_from(None, both, host), "node_name");
    }
}
