//! `cargo xtask setup`: everything a fresh Debian machine with the image's stable
//! and nightly toolchains lacks to build, test and benchmark sdtrace. Each step
//! checks before it acts, so a warm run costs a few process spawns.
//!
//! - nightly's `rust-src` (the eBPF crate needs `-Z build-std=core`);
//! - bpf-linker 0.13.0 linked against the nightly toolchain's own libLLVM (the
//!   LLVM that `cargo +nightly` emits bitcode for), rebuilt when that library's
//!   file name changes;
//! - cargo-fuzz, built with the stable toolchain into the same cache, for the
//!   fuzz targets in `fuzz/` (which themselves build with nightly);
//! - the Debian packages the e2e tests and the benchmark run;
//! - arm64: the standard library for `aarch64-unknown-linux-gnu` (the
//!   default toolchain's), Debian's cross gcc and libc, and qemu for arm64
//!   guests and binaries. The host's dpkg is not given the arm64
//!   architecture: the kernel matrix fetches arm64 packages through an apt
//!   configuration of its own.
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{bail, Context, Result};

use crate::util;

const BPF_LINKER_VERSION: &str = "0.13.0";
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Debian packages and a command each provides (checked when dpkg is absent).
const PACKAGES: &[(&str, &str)] = &[
    ("strace", "strace"),
    ("linux-perf", "perf"),
    ("bpftrace", "bpftrace"),
    ("iproute2", "ss"),
    ("procps", "ps"),
    ("coreutils", "cat"),
    // Its reader is what the capture-file test compares against; no driver
    // is needed (recommends, which would bring the dkms module, are skipped).
    ("sysdig", "sysdig"),
    // A second reader of our captures (Wireshark's sysdig event dissector).
    // wireshark-common asks whether non-root users may capture; apt runs
    // with DEBIAN_FRONTEND=noninteractive, so it takes the default, no.
    ("tshark", "tshark"),
    // The capture-file test's workload connects with it (perl-base has IO::Socket).
    ("perl-base", "perl"),
    // The container tests: an engine, and a static busybox to build their
    // image from (no registry is reachable).
    ("docker.io", "dockerd"),
    ("busybox-static", "busybox"),
    // The CRI test runs a containerd of its own (docker.io pulls it in
    // today; named so the test does not depend on that) with runc.
    ("containerd", "containerd"),
    ("runc", "runc"),
    // The follow tests: curl is the client they follow, and they install
    // their own DNAT rules.
    ("curl", "curl"),
    ("iptables", "iptables"),
    // `ab`, the load of the benchmark's nginx row.
    ("apache2-utils", "ab"),
    // The live view's smoke test drives `sdtrace ui` in a tmux pane.
    ("tmux", "tmux"),
    // The kernel matrix boots Debian's kernels under emulation (TCG);
    // its initramfs holds sdtrace stripped of debug info (binutils' strip).
    ("qemu-system-x86", "qemu-system-x86_64"),
    ("binutils", "strip"),
    // arm64: the cross linker and C compiler (ring), its glibc, the arm64
    // guests' emulator, and user-mode emulation, which lists the cross
    // binaries' libraries and reads capture files with the arm64 sdtrace.
    ("gcc-aarch64-linux-gnu", "aarch64-linux-gnu-gcc"),
    ("libc6-dev-arm64-cross", "aarch64-linux-gnu-gcc"),
    ("qemu-system-arm", "qemu-system-aarch64"),
    ("qemu-user", "qemu-aarch64"),
    // The convergence tests run a real configuration-management agent:
    // Debian's Puppet 7 (`puppet apply` of a local manifest, no server),
    // whose file checks and temp-file-plus-rename writes the converge
    // mode must recognise.
    ("puppet-agent", "puppet"),
    // ... and the other shapes it is tested against, each started before
    // sdtrace attaches: a shell script around `inotifywait`, Ansible
    // (`ansible-playbook` on a local connection) and CFEngine 3 (`cf-agent`).
    ("inotify-tools", "inotifywait"),
    ("ansible-core", "ansible-playbook"),
    ("cfengine3", "cf-agent"),
];

pub(crate) fn setup() -> Result<()> {
    let start = Instant::now();
    let sysroot = nightly_sysroot()?;
    ensure_rust_src(&sysroot)?;
    ensure_bpf_linker(&sysroot)?;
    ensure_cargo_fuzz()?;
    ensure_packages()?;
    ensure_image_debs()?;
    ensure_rust_target("aarch64-unknown-linux-gnu")?;
    eprintln!("xtask: setup ok ({:.2} s)", start.elapsed().as_secs_f64());
    Ok(())
}

/// The directory holding the bpf-linker binary xtask installed.
pub(crate) fn bpf_linker_bin_dir() -> Result<PathBuf> {
    Ok(util::cache_dir()?.join("bpf-linker/bin"))
}

/// The directory holding the cargo-fuzz binary xtask installed.
pub(crate) fn cargo_fuzz_bin_dir() -> Result<PathBuf> {
    Ok(util::cache_dir()?.join("cargo-fuzz/bin"))
}

fn nightly_sysroot() -> Result<PathBuf> {
    let out = util::output(
        Command::new("rustc")
            .env_remove("RUSTUP_TOOLCHAIN")
            .args(["+nightly", "--print", "sysroot"]),
    )
    .context("the nightly toolchain is required (rustup toolchain install nightly)")?;
    Ok(PathBuf::from(out))
}

fn ensure_rust_src(sysroot: &Path) -> Result<()> {
    if sysroot
        .join("lib/rustlib/src/rust/library/core/Cargo.toml")
        .is_file()
    {
        return Ok(());
    }
    eprintln!("xtask: installing rust-src for nightly");
    util::run(Command::new("rustup").args([
        "component",
        "add",
        "rust-src",
        "--toolchain",
        "nightly",
    ]))
}

/// The default toolchain's standard library for `target` (what `cargo
/// build --target` cross-compiles against).
fn ensure_rust_target(target: &str) -> Result<()> {
    let libdir = util::output(Command::new("rustc").env_remove("RUSTUP_TOOLCHAIN").args([
        "--print",
        "target-libdir",
        "--target",
        target,
    ]))?;
    let has_std = fs::read_dir(&libdir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
    });
    if has_std {
        return Ok(());
    }
    eprintln!("xtask: installing the Rust standard library for {target}");
    util::run(
        Command::new("rustup")
            .env_remove("RUSTUP_TOOLCHAIN")
            .args(["target", "add", target]),
    )
}

/// The nightly's `libLLVM.so.*` file name, e.g. `libLLVM.so.22.1-rust-1.97.0-nightly`.
fn nightly_libllvm(sysroot: &Path) -> Result<String> {
    let lib = sysroot.join("lib");
    let mut names: Vec<String> = fs::read_dir(&lib)
        .with_context(|| format!("read {}", lib.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("libLLVM.so."))
        .collect();
    names.sort();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "no libLLVM.so.* in {}: the nightly toolchain is incomplete",
            lib.display()
        ),
        many => bail!("several libLLVM.so.* in {}: {many:?}", lib.display()),
    }
}

/// `22` from `libLLVM.so.22.1-rust-…`: bpf-linker's `llvm-22` feature.
fn llvm_major(libllvm: &str) -> Result<&str> {
    let rest = libllvm.trim_start_matches("libLLVM.so.");
    let major = rest
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or_default();
    if major.is_empty() {
        bail!("cannot read the LLVM major version from {libllvm}");
    }
    Ok(major)
}

fn ensure_bpf_linker(sysroot: &Path) -> Result<()> {
    let libllvm = nightly_libllvm(sysroot)?;
    let major = llvm_major(&libllvm)?;
    let cache = util::cache_dir()?;
    let root = cache.join("bpf-linker");
    let stamp_path = root.join("stamp");
    let stamp = format!("bpf-linker {BPF_LINKER_VERSION} llvm-{major} {libllvm}\n");
    if root.join("bin/bpf-linker").is_file()
        && fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp)
    {
        return Ok(());
    }

    // bpf-linker's build finds LLVM as `$LLVM_PREFIX/lib/libLLVM.so`; the
    // toolchain ships it only under its versioned name, so link one in.
    let prefix = cache.join("llvm");
    fs::create_dir_all(prefix.join("lib"))?;
    let link = prefix.join("lib/libLLVM.so");
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(sysroot.join("lib").join(&libllvm), &link)
        .with_context(|| format!("symlink {}", link.display()))?;

    eprintln!("xtask: building bpf-linker {BPF_LINKER_VERSION} against nightly's {libllvm} (about a minute)");
    let start = Instant::now();
    let mut cmd = util::cargo();
    cmd.env("LLVM_PREFIX", &prefix)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        // The runpath lets bpf-linker find the nightly libLLVM without rustup's
        // LD_LIBRARY_PATH, so the binary also runs on its own.
        .env(
            "RUSTFLAGS",
            format!("-C link-arg=-Wl,-rpath,{}", sysroot.join("lib").display()),
        )
        .args([
            "+nightly",
            "install",
            "bpf-linker",
            "--locked",
            "--force",
            "--no-default-features",
        ])
        .args(["--version", BPF_LINKER_VERSION, "--features"])
        .arg(format!("llvm-{major}"))
        .arg("--root")
        .arg(&root);
    util::run(&mut cmd)?;
    fs::write(&stamp_path, stamp)?;
    eprintln!(
        "xtask: bpf-linker built in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn ensure_cargo_fuzz() -> Result<()> {
    let root = util::cache_dir()?.join("cargo-fuzz");
    let stamp_path = root.join("stamp");
    let stamp = format!("cargo-fuzz {CARGO_FUZZ_VERSION}\n");
    if root.join("bin/cargo-fuzz").is_file()
        && fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp)
    {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION} (about a minute)");
    let start = Instant::now();
    fs::create_dir_all(&root)?;
    let mut cmd = util::cargo();
    cmd.env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .args(["install", "cargo-fuzz", "--locked", "--force"])
        .args(["--version", CARGO_FUZZ_VERSION])
        .arg("--root")
        .arg(&root);
    util::run(&mut cmd)?;
    fs::write(&stamp_path, stamp)?;
    eprintln!(
        "xtask: cargo-fuzz installed in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn ensure_packages() -> Result<()> {
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    let apt = |args: &[&str]| -> Command {
        // Through `env` so the variable survives sudo's environment reset.
        let mut cmd = Command::new(if util::is_root() { "env" } else { "sudo" });
        if !util::is_root() {
            cmd.args(["-n", "env"]);
        }
        cmd.args(["DEBIAN_FRONTEND=noninteractive", "apt-get"])
            .args(args);
        cmd
    };
    if !util::on_path("apt-get") || !(util::is_root() || util::on_path("sudo")) {
        let msg = format!(
            "missing packages {missing:?}, and no way to install them here (need apt-get and root or sudo)"
        );
        if util::in_ci() {
            bail!(msg);
        }
        eprintln!("xtask: warning: {msg}; the benchmark will skip the tools they provide");
        return Ok(());
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    util::run(&mut apt(&["update", "-q"]))?;
    let mut install = apt(&["install", "-y", "-q", "--no-install-recommends"]);
    install.args(&missing);
    util::run(&mut install)
}

/// Packages the container tests build images from, downloaded and never
/// installed (installing nginx would start it on the host). bookworm's
/// nginx-light is a transitional package: `nginx` holds the binary.
const IMAGE_DEBS: &[&str] = &["nginx"];

/// Where [`IMAGE_DEBS`] are kept; the tests find them through `SDTRACE_DEBS`.
pub(crate) fn debs_dir() -> Result<PathBuf> {
    Ok(util::cache_dir()?.join("debs"))
}

fn ensure_image_debs() -> Result<()> {
    let dir = debs_dir()?;
    std::fs::create_dir_all(&dir)?;
    let have = |name: &str| {
        std::fs::read_dir(&dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let file = e.file_name();
                let file = file.to_string_lossy();
                file.starts_with(&format!("{name}_")) && file.ends_with(".deb")
            })
        })
    };
    let missing: Vec<&str> = IMAGE_DEBS.iter().copied().filter(|d| !have(d)).collect();
    if missing.is_empty() || !util::on_path("apt-get") {
        return Ok(());
    }
    let download = || {
        Command::new("apt-get")
            .arg("download")
            .args(&missing)
            .current_dir(&dir)
            .status()
            .is_ok_and(|s| s.success())
    };
    // A fresh machine may have no package lists yet.
    if !download() {
        util::run(Command::new("apt-get").args(["update", "-q"]))?;
        if !download() {
            bail!("apt-get download {} failed", missing.join(" "));
        }
    }
    Ok(())
}

/// The packages of [`PACKAGES`] not installed, by `dpkg-query` (one spawn) or,
/// without dpkg, by looking for the command each provides.
fn missing_packages() -> Vec<&'static str> {
    let names: Vec<&str> = PACKAGES.iter().map(|(p, _)| *p).collect();
    let query = Command::new("dpkg-query")
        .args(["-W", "-f", "${Package} ${db:Status-Status}\n"])
        .args(&names)
        .output();
    match query {
        Ok(out) => {
            let listed = String::from_utf8_lossy(&out.stdout);
            names
                .into_iter()
                .filter(|p| !listed.lines().any(|l| l == format!("{p} installed")))
                .collect()
        }
        Err(_) => PACKAGES
            .iter()
            .filter(|(_, cmd)| !util::on_path(cmd))
            .map(|(p, _)| *p)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::llvm_major;

    #[test]
    fn llvm_major_from_library_name() {
        assert_eq!(
            llvm_major("libLLVM.so.22.1-rust-1.97.0-nightly").unwrap(),
            "22"
        );
        assert_eq!(
            llvm_major("libLLVM.so.19-rust-1.84.0-nightly").unwrap(),
            "19"
        );
        assert!(llvm_major("libLLVM.so.rust").is_err());
    }
}
