//! `cargo xtask image`: the release sdtrace as a container image in the local
//! Docker engine, tagged `sdtrace:<tracer's version>` as deploy/40-daemonset.yaml
//! expects, for `kind load docker-image` (no registry involved).
//!
//! sdtrace links glibc dynamically, so the image is the binary plus exactly
//! the libraries `ldd` names and the dynamic loader, over an empty root
//! (no shell, no package manager). glibc 2.34 and later build the `files` and
//! `dns` name services into libc.so.6, so `host:port` still resolves without
//! dlopen()ing NSS modules. The root is packed with `tar` and loaded with
//! `docker import`, which needs neither a Dockerfile nor BuildKit.
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

use crate::{build::build, docker, setup::setup, util};

/// Where the binary sits inside the image; also its entrypoint.
const BIN_IN_IMAGE: &str = "/usr/bin/sdtrace";

/// The name services the image's glibc consults: local files, then DNS
/// (Kubernetes and Docker mount `/etc/hosts` and `/etc/resolv.conf`).
const NSSWITCH: &str = "passwd: files\ngroup: files\nhosts: files dns\n";

pub(crate) fn image() -> Result<()> {
    setup()?;
    build()?;
    docker::ensure_dockerd()?;
    let version = version()?;
    // The tag deploy/40-daemonset.yaml runs.
    let tag = format!("sdtrace:{version}");
    let work = util::target_dir().join("image");
    let rootfs = work.join("rootfs");
    if rootfs.exists() {
        fs::remove_dir_all(&rootfs).with_context(|| format!("remove {}", rootfs.display()))?;
    }
    populate(&rootfs, &util::sdtrace_bin())?;

    let tarball = work.join("rootfs.tar");
    util::run(
        Command::new("tar")
            .args(["--owner=0", "--group=0", "--numeric-owner", "-C"])
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tarball)
            .arg("."),
    )?;
    util::run(
        Command::new("docker")
            .arg("import")
            .args(["--change", &format!(r#"ENTRYPOINT ["{BIN_IN_IMAGE}"]"#)])
            .args([
                "--change",
                &format!(
                    "LABEL org.opencontainers.image.title=sdtrace \
                     org.opencontainers.image.version={version}"
                ),
            ])
            .arg(&tarball)
            .arg(&tag),
    )?;
    // A missing library shows up only when the binary first runs.
    let said = util::output(Command::new("docker").args(["run", "--rm", &tag, "--version"]))
        .with_context(|| format!("the image {tag} does not run sdtrace"))?;
    eprintln!("xtask: built image {tag} ({said})");
    Ok(())
}

/// The tracer crate's version, as cargo reads it.
fn version() -> Result<String> {
    let metadata =
        util::output(util::cargo().args(["metadata", "--no-deps", "--format-version", "1"]))?;
    let metadata: serde_json::Value =
        serde_json::from_str(&metadata).context("parse cargo metadata")?;
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "tracer")
        .and_then(|p| p["version"].as_str())
        .map(str::to_owned)
        .context("cargo metadata lists no tracer package with a version")
}

/// Lays out the image's root: the binary (debug info stripped, symbols kept
/// for backtraces), its shared libraries at the paths the loader looks in,
/// and an nsswitch.conf.
fn populate(rootfs: &Path, bin: &Path) -> Result<()> {
    let bin_dest = rootfs.join(BIN_IN_IMAGE.trim_start_matches('/'));
    create_parent(&bin_dest)?;
    if util::on_path("strip") {
        util::run(
            Command::new("strip")
                .arg("--strip-debug")
                .arg("-o")
                .arg(&bin_dest)
                .arg(bin),
        )?;
    } else {
        fs::copy(bin, &bin_dest).with_context(|| format!("copy {}", bin.display()))?;
    }
    for lib in shared_libraries(bin)? {
        let dest = rootfs.join(lib.strip_prefix("/").unwrap_or(&lib));
        create_parent(&dest)?;
        // fs::copy follows symlinks: the image gets the library itself
        // under the name the loader asks for.
        fs::copy(&lib, &dest).with_context(|| format!("copy {}", lib.display()))?;
    }
    let etc = rootfs.join("etc");
    fs::create_dir_all(&etc)?;
    fs::write(etc.join("nsswitch.conf"), NSSWITCH)?;
    Ok(())
}

/// The files `ldd` resolves `bin`'s dependencies to, the dynamic loader
/// included; the vDSO has no file and is skipped.
pub(crate) fn shared_libraries(bin: &Path) -> Result<Vec<PathBuf>> {
    let listing = util::output(Command::new("ldd").arg(bin))?;
    if let Some(missing) = listing.lines().find(|l| l.contains("not found")) {
        bail!(
            "{} needs a library this machine lacks: {}",
            bin.display(),
            missing.trim()
        );
    }
    let libs = parse_ldd(&listing);
    if libs.is_empty() {
        bail!("ldd names no libraries for {}: {listing}", bin.display());
    }
    Ok(libs)
}

/// `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` gives the path after
/// `=>`; the loader's line, `/lib64/ld-linux-x86-64.so.2 (0x...)`, is its own
/// path.
fn parse_ldd(listing: &str) -> Vec<PathBuf> {
    listing
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = line.split_once("=>").map_or(line, |(_, to)| to.trim());
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn create_parent(path: &Path) -> Result<()> {
    let parent = path.parent().expect("a path inside the image root");
    fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_listing() {
        let listing = "\tlinux-vdso.so.1 (0x00007fa5a134f000)\n\
            \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007fa5a131d000)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fa5a001e000)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007fa5a1351000)\n";
        assert_eq!(
            parse_ldd(listing),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2",
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn ldd_not_found_is_skipped() {
        // shared_libraries() refuses such a listing before parsing it.
        assert!(parse_ldd("\tlibfoo.so.1 => not found\n").is_empty());
    }
}
