//! Container images built here, since no registry is reachable: a root
//! file system assembled from Debian binaries, `docker import`ed.
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::TempDir;

/// Debian's static busybox as `/bin/busybox`, with `applets` linked to it.
fn add_busybox(root: &Path, applets: &[&str]) {
    let bin = root.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy(crate::which("busybox"), bin.join("busybox")).unwrap();
    for applet in applets {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
}

/// `docker import` of `root` as `tag`, with Dockerfile-like `changes`
/// (`CMD ["/bin/sleep","60"]`).
fn import(docker: &Path, root: &Path, tag: &str, changes: &[&str]) {
    let tarball = root.with_extension("tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(root)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success(), "tar");
    let status = Command::new(docker)
        .arg("import")
        .args(changes.iter().flat_map(|c| ["--change", c]))
        .arg(&tarball)
        .arg(tag)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let _ = fs::remove_file(&tarball);
    assert!(status.success(), "docker import");
}

/// busybox (`sh`, `cat`, `sleep`, and `wget` to ask a server for a page)
/// and a file to read (`/etc/motd`).
pub fn busybox_image(docker: &Path, tag: &str) {
    busybox_image_with(docker, tag, &[]);
}

/// [`busybox_image`] with `docker import --change` lines (a CRI pod's
/// sandbox image needs a command that waits).
pub fn busybox_image_with(docker: &Path, tag: &str, changes: &[&str]) {
    let root = TempDir::new("image");
    add_busybox(root.path(), &["sh", "cat", "sleep", "wget"]);
    fs::create_dir_all(root.path().join("etc")).unwrap();
    fs::write(root.path().join("etc/motd"), "hello from the container\n").unwrap();
    import(docker, root.path(), tag, changes);
}

/// The downloaded Debian package `name` (`cargo xtask setup` fetches it
/// into `$SDTRACE_DEBS`); `None` when it is not there.
pub fn downloaded_deb(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("SDTRACE_DEBS")?;
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.starts_with(&format!("{name}_")) && f.ends_with(".deb"))
        })
}

/// [`busybox_image`] plus `binary` as `/bin/<its name>`, with the shared
/// libraries it loads (a test's own helper, built for the host).
pub fn busybox_image_with_binary(docker: &Path, tag: &str, binary: &Path) {
    let root = TempDir::new("image");
    add_busybox(root.path(), &["sh", "cat", "sleep", "mkdir"]);
    let name = binary.file_name().expect("a binary has a name");
    fs::copy(binary, root.path().join("bin").join(name)).unwrap();
    add_libraries(root.path(), binary);
    fs::create_dir_all(root.path().join("tmp")).unwrap();
    import(docker, root.path(), tag, &[]);
}

/// Copies the shared libraries `binary` loads (as the host's `ldd` finds
/// them) to the same paths under `root`.
fn add_libraries(root: &Path, binary: &Path) {
    let out = Command::new("ldd").arg(binary).output().unwrap();
    assert!(out.status.success(), "ldd {}", binary.display());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO has no file.
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let dest = root.join(path.trim_start_matches('/'));
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(path, &dest).unwrap_or_else(|e| panic!("copy {path}: {e}"));
    }
}

/// The configuration [`nginx_image`] runs with: one worker, as root,
/// serving `/www` on port 80 in the foreground, with `http_extra` added to
/// its `http` block (a test mounts its own variant over
/// `/etc/nginx/nginx.conf`).
pub fn nginx_conf(http_extra: &str) -> String {
    format!(
        "user root;\n\
         worker_processes 1;\n\
         error_log stderr;\n\
         pid /run/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   default_type text/html;\n\
         \x20   {http_extra}\n\
         \x20   server {{ listen 80; root /www; }}\n\
         }}\n"
    )
}

/// nginx from Debian's `nginx` package (bookworm's nginx-light is only a
/// transitional package), with its libraries, busybox (`wget` to ask it
/// for a page) and a configuration that serves `/www` on port 80 in the
/// foreground. `None` when the package was not downloaded.
pub fn nginx_image(docker: &Path, tag: &str) -> Option<()> {
    let deb = downloaded_deb("nginx")?;
    let root = TempDir::new("nginx-image");
    let r = root.path();
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(r)
        .status()
        .unwrap();
    assert!(status.success(), "dpkg-deb -x {}", deb.display());
    add_libraries(r, &r.join("usr/sbin/nginx"));
    add_busybox(r, &["sh", "wget", "sleep"]);
    for dir in [
        "etc/nginx",
        "var/log/nginx",
        "var/lib/nginx",
        "run",
        "tmp",
        "www",
    ] {
        fs::create_dir_all(r.join(dir)).unwrap();
    }
    fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(r.join("etc/group"), "root:x:0:\n").unwrap();
    fs::write(r.join("etc/nginx/nginx.conf"), nginx_conf("")).unwrap();
    fs::write(
        r.join("www/index.html"),
        "<p>served from the container</p>\n",
    )
    .unwrap();
    import(docker, r, tag, &[]);
    Some(())
}
