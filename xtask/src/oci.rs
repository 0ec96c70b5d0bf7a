//! An OCI image layout holding sdtrace for every architecture under one
//! name: an image index (what a registry calls a multi-arch manifest list)
//! pointing at one image per platform, packed as a tar archive. No registry
//! is reachable here, so this archive is the multi-arch image: containerd
//! imports it with every platform (`ctr images import --all-platforms`),
//! `skopeo copy --all oci-archive:FILE docker://REGISTRY/sdtrace:VERSION`
//! pushes it, and each node then pulls its own architecture under the one
//! tag the DaemonSet names.
//!
//! The layout is the one `docker buildx build --output type=oci` writes: a
//! top-level `index.json` naming (by annotations) one inner index, which
//! lists the per-platform manifests; every blob under `blobs/sha256/`.
//! Beside it a Docker `manifest.json` over the same blobs, so `docker
//! load` takes every platform under its own tag.
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::{arch::Arch, util};

/// One platform's image: its root file system as one uncompressed layer.
pub(crate) struct Platform {
    pub arch: Arch,
    pub layer: PathBuf,
}

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// Writes the layout under `dir` and packs it as `archive`, named `tag`
/// (`sdtrace:<version>`).
pub(crate) fn write_archive(
    dir: &Path,
    archive: &Path,
    tag: &str,
    version: &str,
    platforms: &[Platform],
) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("remove {}", dir.display()))?;
    }
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    let mut manifests = Vec::new();
    let mut docker = Vec::new();
    for p in platforms {
        let layer_digest = sha256_file(&p.layer)?;
        let layer_size = fs::metadata(&p.layer)?.len();
        fs::copy(&p.layer, blobs.join(&layer_digest))
            .with_context(|| format!("copy {}", p.layer.display()))?;
        let config = json!({
            "architecture": p.arch.deb(),
            "os": "linux",
            "config": {
                "Entrypoint": [super::image::BIN_IN_IMAGE],
                "Labels": {
                    "org.opencontainers.image.title": "sdtrace",
                    "org.opencontainers.image.version": version,
                },
            },
            "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_digest}")] },
        });
        let config = put(&blobs, &config)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": descriptor(CONFIG, &config),
            "layers": [{
                "mediaType": LAYER,
                "digest": format!("sha256:{layer_digest}"),
                "size": layer_size,
            }],
        });
        let manifest = put(&blobs, &manifest)?;
        let mut d = descriptor(MANIFEST, &manifest);
        d["platform"] = json!({ "architecture": p.arch.deb(), "os": "linux" });
        manifests.push(d);
        let mut tags = vec![format!("{tag}-{}", p.arch.deb())];
        if p.arch == Arch::host() {
            tags.push(tag.to_owned());
        }
        docker.push(json!({
            "Config": format!("blobs/sha256/{}", config.digest),
            "RepoTags": tags,
            "Layers": [format!("blobs/sha256/{layer_digest}")],
        }));
    }
    let inner = put(
        &blobs,
        &json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": manifests }),
    )?;
    let mut top = descriptor(INDEX, &inner);
    top["annotations"] = json!({
        "io.containerd.image.name": format!("docker.io/library/{tag}"),
        "org.opencontainers.image.ref.name": version,
    });
    let index = json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": [top] });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    // Docker's own archive format over the same blobs, which `docker load`
    // reads on every store: each platform as `<tag>-<arch>`, this
    // machine's also as `tag` (Docker keeps one platform per name).
    fs::write(dir.join("manifest.json"), serde_json::to_vec(&docker)?)?;
    util::run(
        Command::new("tar")
            .args(["--owner=0", "--group=0", "--numeric-owner", "--sort=name"])
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg(archive)
            .args(["oci-layout", "index.json", "manifest.json", "blobs"]),
    )
}

/// A blob written and described: its digest (hex) and size.
struct Blob {
    digest: String,
    size: usize,
}

fn put(blobs: &Path, value: &Value) -> Result<Blob> {
    let bytes = serde_json::to_vec(value)?;
    let tmp = blobs.join("tmp");
    fs::write(&tmp, &bytes)?;
    let digest = sha256_file(&tmp)?;
    fs::rename(&tmp, blobs.join(&digest))?;
    Ok(Blob {
        digest,
        size: bytes.len(),
    })
}

fn descriptor(media_type: &str, blob: &Blob) -> Value {
    json!({
        "mediaType": media_type,
        "digest": format!("sha256:{}", blob.digest),
        "size": blob.size,
    })
}

/// coreutils' `sha256sum` (no hashing crate in xtask for one use).
fn sha256_file(path: &Path) -> Result<String> {
    let out = util::output(Command::new("sha256sum").arg(path))?;
    out.split_whitespace()
        .next()
        .filter(|d| d.len() == 64)
        .map(str::to_owned)
        .with_context(|| format!("sha256sum said {out:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_names_both_platforms_and_every_blob_is_there() {
        let dir = std::env::temp_dir().join(format!("xtask-oci-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut platforms = Vec::new();
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let layer = dir.join(format!("{}.tar", arch.deb()));
            fs::write(&layer, format!("layer of {}", arch.deb())).unwrap();
            platforms.push(Platform { arch, layer });
        }
        let layout = dir.join("layout");
        let archive = dir.join("x.oci.tar");
        write_archive(&layout, &archive, "sdtrace:9.9.9", "9.9.9", &platforms).unwrap();
        assert!(archive.is_file());
        let blob = |digest: &str| -> Value {
            let hex = digest.strip_prefix("sha256:").unwrap();
            let bytes = fs::read(layout.join("blobs/sha256").join(hex)).unwrap();
            assert_eq!(
                sha256_file(&layout.join("blobs/sha256").join(hex)).unwrap(),
                hex
            );
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        let index: Value =
            serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
        let top = &index["manifests"][0];
        assert_eq!(
            top["annotations"]["io.containerd.image.name"],
            "docker.io/library/sdtrace:9.9.9"
        );
        let inner = blob(top["digest"].as_str().unwrap());
        let arches: Vec<&str> = inner["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap())
            .collect();
        assert_eq!(arches, ["amd64", "arm64"]);
        for m in inner["manifests"].as_array().unwrap() {
            let manifest = blob(m["digest"].as_str().unwrap());
            let config = blob(manifest["config"]["digest"].as_str().unwrap());
            assert_eq!(config["architecture"], m["platform"]["architecture"]);
            let _ = blob(manifest["layers"][0]["digest"].as_str().unwrap());
        }
        let docker: Value =
            serde_json::from_slice(&fs::read(layout.join("manifest.json")).unwrap()).unwrap();
        let tags: Vec<&Value> = docker
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["RepoTags"])
            .collect();
        assert_eq!(tags[1], &json!(["sdtrace:9.9.9-arm64"]));
        let arm64 = &docker[1];
        assert!(layout.join(arm64["Config"].as_str().unwrap()).is_file());
        fs::remove_dir_all(&dir).unwrap();
    }
}
