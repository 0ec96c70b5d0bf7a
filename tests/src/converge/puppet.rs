//! Puppet as the tests run it: `puppet apply` of a local manifest (Debian's
//! `puppet-agent`, Puppet 7), no server. A run takes about 1.5 s here, nearly
//! all of it Ruby loading Puppet and Facter.
use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::watch;

/// A file resource of a manifest. `${facts['sdt_run']}` in `content` is the
/// run number [`apply`] passes, so content can differ on every run.
pub struct PuppetFile<'a> {
    pub path: &'a Path,
    pub content: &'a str,
}

/// Writes `site.pp` in `dir`, managing `files` (mode 0644, owner root each).
pub fn manifest(dir: &Path, files: &[PuppetFile]) -> PathBuf {
    let mut text = String::new();
    for f in files {
        let content = f.content.replace('\\', "\\\\").replace('\n', "\\n");
        writeln!(
            text,
            "file {{ '{}':\n  ensure  => file,\n  content => \"{content}\",\n  mode    => '0644',\n  owner   => 'root',\n}}",
            f.path.display()
        )
        .unwrap();
    }
    let path = dir.join("site.pp");
    fs::write(&path, text).unwrap();
    path
}

/// `puppet apply MANIFEST` as run `run` (the fact `sdt_run`), to completion;
/// panics with its output when it fails.
pub fn apply(manifest: &Path, run: u32) {
    let out = Command::new("puppet")
        .args(["apply", "--color=false"])
        .arg(manifest)
        .env("FACTER_sdt_run", run.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn puppet: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    watch::echo(&format!("[puppet {run}]"), &text);
    assert!(
        out.status.success(),
        "puppet apply {}: {}",
        manifest.display(),
        watch::excerpt(&text.lines().collect::<Vec<_>>())
    );
}

/// `runs` runs of `puppet apply MANIFEST` from one shell loop, as cron or a
/// systemd timer would start them: run `i` has the fact `sdt_run=i`.
pub fn apply_loop(manifest: &Path, runs: u32) {
    let script = format!(
        "for i in $(seq 1 {runs}); do FACTER_sdt_run=$i puppet apply --color=false \"$1\" || exit 1; done"
    );
    let out = Command::new("sh")
        .args(["-c", &script, "sh"])
        .arg(manifest)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn sh: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    watch::echo("[puppet loop]", &text);
    assert!(
        out.status.success(),
        "puppet apply loop {}: {}",
        manifest.display(),
        watch::excerpt(&text.lines().collect::<Vec<_>>())
    );
}
