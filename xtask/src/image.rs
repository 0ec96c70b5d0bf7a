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

use crate::{
    arch::Arch,
    build::{self, build},
    docker, oci,
    setup::setup,
    util,
};

/// Where the binary sits inside the image; also its entrypoint.
pub(crate) const BIN_IN_IMAGE: &str = "/usr/bin/sdtrace";

/// The name services the image's glibc consults: local files, then DNS
/// (Kubernetes and Docker mount `/etc/hosts` and `/etc/resolv.conf`).
const NSSWITCH: &str = "passwd: files\ngroup: files\nhosts: files dns\n";

pub(crate) fn image() -> Result<()> {
    setup()?;
    build()?;
    build::build_for(Arch::Aarch64)?;
    docker::ensure_dockerd()?;
    let version = version()?;
    // The tag deploy/40-daemonset.yaml runs.
    let tag = format!("sdtrace:{version}");
    let work = util::target_dir().join("image");
    let mut layers = Vec::new();
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let rootfs = work.join(format!("rootfs-{}", arch.deb()));
        if rootfs.exists() {
            fs::remove_dir_all(&rootfs).with_context(|| format!("remove {}", rootfs.display()))?;
        }
        populate(&rootfs, &arch.sdtrace_bin(), arch)?;
        let tarball = work.join(format!("rootfs-{}.tar", arch.deb()));
        util::run(
            Command::new("tar")
                .args(["--owner=0", "--group=0", "--numeric-owner", "--sort=name"])
                .arg("--mtime=@0")
                .arg("-C")
                .arg(&rootfs)
                .arg("-cf")
                .arg(&tarball)
                .arg("."),
        )?;
        layers.push(oci::Platform {
            arch,
            layer: tarball,
        });
    }
    let archive = work.join(format!("sdtrace-{version}.oci.tar"));
    oci::write_archive(&work.join("oci"), &archive, &tag, &version, &layers)?;
    // Every platform into the engine, each under `<tag>-<arch>`, this
    // machine's also as `tag` (the one deploy/40-daemonset.yaml runs).
    util::run(Command::new("docker").arg("load").arg("-i").arg(&archive))?;
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let arch_tag = format!("{tag}-{}", arch.deb());
        let platform = util::output(Command::new("docker").args([
            "image",
            "inspect",
            "-f",
            "{{.Os}}/{{.Architecture}}",
            &arch_tag,
        ]))?;
        if platform != format!("linux/{}", arch.deb()) {
            bail!("{arch_tag} is {platform}, not linux/{}", arch.deb());
        }
        let rootfs = work.join(format!("rootfs-{}", arch.deb()));
        let said = if arch == Arch::host() {
            // A missing library shows up only when the binary first runs.
            util::output(Command::new("docker").args(["run", "--rm", &tag, "--version"]))
                .with_context(|| format!("the image {tag} does not run sdtrace"))?
        } else {
            // This engine cannot run it; qemu's user mode runs the image's
            // own root instead, which proves its loader and libraries.
            util::output(
                Command::new(format!("qemu-{}", arch.name()))
                    .arg("-L")
                    .arg(&rootfs)
                    .arg(rootfs.join(BIN_IN_IMAGE.trim_start_matches('/')))
                    .arg("--version"),
            )
            .with_context(|| format!("the {} root does not run sdtrace", arch.deb()))?
        };
        eprintln!("xtask: built image {arch_tag} ({platform}: {said})");
    }
    eprintln!(
        "xtask: both architectures under one name: {} (an OCI image index; \
         `ctr -n k8s.io images import --all-platforms` or `skopeo copy --all oci-archive:...` \
         takes it to a node or a registry)",
        archive.display()
    );
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
fn populate(rootfs: &Path, bin: &Path, arch: Arch) -> Result<()> {
    let bin_dest = rootfs.join(BIN_IN_IMAGE.trim_start_matches('/'));
    create_parent(&bin_dest)?;
    if util::on_path(&arch.strip()) {
        util::run(
            Command::new(arch.strip())
                .arg("--strip-debug")
                .arg("-o")
                .arg(&bin_dest)
                .arg(bin),
        )?;
    } else {
        fs::copy(bin, &bin_dest).with_context(|| format!("copy {}", bin.display()))?;
    }
    for (lib, inside) in shared_libraries(bin, arch)? {
        let dest = rootfs.join(inside.strip_prefix("/").unwrap_or(&inside));
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

/// The files `bin`'s dependencies resolve to, the dynamic loader included,
/// each with the path it has inside an image or guest; the vDSO has no
/// file and is skipped. The host's own binaries ask `ldd`; another
/// architecture's ask its loader under qemu's user-mode emulation, in the
/// cross toolchain's root (`/usr/aarch64-linux-gnu`), whose `/lib/...`
/// paths are the ones inside.
pub(crate) fn shared_libraries(bin: &Path, arch: Arch) -> Result<Vec<(PathBuf, PathBuf)>> {
    let (listing, root) = match arch.cross_lib_dir() {
        None => (util::output(Command::new("ldd").arg(bin))?, None),
        Some(lib) => {
            let root = lib.parent().expect("/usr/<triple>/lib").to_path_buf();
            let qemu = format!("qemu-{}", arch.name());
            let loader = lib.join(arch.loader());
            let listing = util::output(
                Command::new(&qemu)
                    .arg("-L")
                    .arg(&root)
                    .arg(&loader)
                    .arg("--list")
                    .arg(bin),
            )
            .with_context(|| {
                format!(
                    "list {}'s libraries ({qemu} comes with qemu-user)",
                    bin.display()
                )
            })?;
            (listing, Some(root))
        }
    };
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
    Ok(libs
        .into_iter()
        .map(|path| match &root {
            None => (path.clone(), path),
            // The loader's line names its file in the root already.
            Some(root) => match path.strip_prefix(root) {
                Ok(inside) => (path.clone(), Path::new("/").join(inside)),
                Err(_) => (root.join(path.strip_prefix("/").unwrap_or(&path)), path),
            },
        })
        .collect())
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
