//! Where the binary is and whether this machine can run it. A missing
//! capability skips the test with a message on stderr, or fails it when
//! `CI=true`, where silence would hide a broken pipeline.
use std::{
    env, fs,
    io::Write,
    path::{Path, PathBuf},
};

/// A runnable sdtrace on a machine that can load its programs.
#[derive(Clone, Debug)]
pub struct Tracer {
    pub bin: PathBuf,
}

/// The sdtrace binary: `$SDTRACE_BIN`, else the workspace's `target/release/sdtrace`.
pub fn binary_path() -> PathBuf {
    env::var_os("SDTRACE_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/sdtrace"),
        PathBuf::from,
    )
}

/// `name` resolved on `PATH`, so a spawned child makes exactly one `execve`
/// (a bare name makes one per `PATH` entry until one succeeds).
pub fn which(name: &str) -> PathBuf {
    env::var_os("PATH")
        .iter()
        .flat_map(env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH"))
}

fn in_ci() -> bool {
    env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Skips (returns `None` after saying why) or, under CI, panics.
pub fn unavailable<T>(test: &str, why: &str) -> Option<T> {
    assert!(
        !in_ci(),
        "{test}: {why} (CI=true, so this fails instead of skipping)"
    );
    // Straight to fd 2: the test harness captures `eprintln!` of passing tests,
    // and a skip must be seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    None
}

/// Another program a test compares against (e.g. `sysdig`), found on `PATH`.
pub fn require_program(test: &str, name: &str) -> Option<PathBuf> {
    let found = env::var_os("PATH")
        .iter()
        .flat_map(env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    match found {
        Some(p) => Some(p),
        None => unavailable(
            test,
            &format!("`{name}` is not installed (`cargo xtask setup` installs it)"),
        ),
    }
}

/// A Docker engine that answers, through the `docker` client.
pub fn require_docker(test: &str) -> Option<PathBuf> {
    let docker = require_program(test, "docker")?;
    let up = std::process::Command::new(&docker)
        .arg("info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if up {
        Some(docker)
    } else {
        unavailable(
            test,
            "the Docker engine does not answer (`cargo xtask test` starts dockerd)",
        )
    }
}

/// The binary, for tests that need no privileges (e.g. filter errors).
pub fn require_binary(test: &str) -> Option<PathBuf> {
    let bin = binary_path();
    if bin.is_file() {
        Some(bin)
    } else {
        unavailable(
            test,
            &format!(
                "no sdtrace binary at {} (run `cargo xtask build` or set SDTRACE_BIN)",
                bin.display()
            ),
        )
    }
}

/// The binary plus every capability loading the eBPF programs needs.
pub fn require_tracer(test: &str) -> Option<Tracer> {
    let bin = require_binary(test)?;
    if let Err(why) = capabilities() {
        return unavailable(test, &why);
    }
    Some(Tracer { bin })
}

/// Why this process cannot load sdtrace's programs, if it cannot.
fn capabilities() -> Result<(), String> {
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    let status = fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("read /proc/self/status: {e}"))?;
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or("no CapEff line in /proc/self/status")?;
    let has = |cap: u32| eff & (1 << cap) != 0;
    if !(has(CAP_SYS_ADMIN) || has(CAP_BPF) && has(CAP_PERFMON)) {
        return Err("not root (needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)".into());
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Err("the kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing)".into());
    }
    bpf_map_create().map_err(|e| format!("the bpf() syscall is not usable: {e}"))
}

/// Creates and closes a one-slot array map: the cheapest proof that `bpf()` works.
fn bpf_map_create() -> std::io::Result<()> {
    const BPF_MAP_CREATE: libc::c_long = 0;
    const BPF_MAP_TYPE_ARRAY: u32 = 2;
    // map_type, key_size, value_size, max_entries; the rest of `union bpf_attr` zero.
    let mut attr = [0u32; 32];
    attr[..4].copy_from_slice(&[BPF_MAP_TYPE_ARRAY, 4, 4, 1]);
    // SAFETY: attr is a valid, zero-padded `bpf_attr` for BPF_MAP_CREATE and
    // outlives the call; the size passed is its size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_CREATE,
            attr.as_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a descriptor this function just received and owns.
    unsafe { libc::close(i32::try_from(fd).expect("fds fit in i32")) };
    Ok(())
}
