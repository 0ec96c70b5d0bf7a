//! The configuration agents users run, each from a loop as cron or a timer
//! would (started before sdtrace attaches, in the tests): Debian's Puppet 7
//! (`puppet apply`), Ansible (`ansible-playbook` on a local connection) and
//! CFEngine 3 (`cf-agent -K`), each keeping one file's content, mode 0644
//! and owner root. The loop says `ready` on stderr after its first run.
use std::{
    fs,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::Command,
};

use super::puppet::{self, PuppetFile};

/// A shell running `run` (with `$1` = `arg`) once, saying `ready`, then
/// again and again; the runs' own output discarded.
fn run_loop(run: &str, arg: &Path) -> Command {
    let script = format!(
        "{run} >/dev/null 2>&1; echo ready >&2; while :; do {run} >/dev/null 2>&1; sleep 0.2; done"
    );
    let mut c = Command::new("sh");
    c.args(["-c", &script, "sh"]).arg(arg).process_group(0);
    c
}

/// `puppet apply` of a manifest keeping `file` as `content`, in a loop.
pub fn puppet_loop(dir: &Path, file: &Path, content: &str) -> Command {
    let manifest = puppet::manifest(
        dir,
        &[PuppetFile {
            path: file,
            content,
        }],
    );
    run_loop("puppet apply --color=false \"$1\"", &manifest)
}

/// `ansible-playbook` of a playbook copying `content` to `file`, in a loop.
pub fn ansible_loop(dir: &Path, file: &Path, content: &str) -> Command {
    let playbook = dir.join("play.yml");
    let content = content
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    fs::write(
        &playbook,
        format!(
            "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n    - copy:\n        dest: {}\n        content: \"{content}\"\n        mode: \"0644\"\n        owner: root\n",
            file.display()
        ),
    )
    .unwrap();
    run_loop(
        "ANSIBLE_NOCOLOR=1 ansible-playbook -i localhost, -c local \"$1\"",
        &playbook,
    )
}

/// `cf-agent -K` of a policy keeping `file` as `content` (one line), in a
/// loop.
pub fn cfengine_loop(dir: &Path, file: &Path, content: &str) -> Command {
    let line = content.trim_end_matches('\n');
    let policy: PathBuf = dir.join("policy.cf");
    fs::write(
        &policy,
        format!(
            r#"body common control
{{
  bundlesequence => {{ "keep" }};
}}
bundle agent keep
{{
  files:
    "{}"
      create => "true",
      edit_line => exact("{line}"),
      edit_defaults => replace,
      perms => root_644;
}}
bundle edit_line exact(line)
{{
  insert_lines:
    "$(line)";
}}
body edit_defaults replace
{{
  empty_file_before_editing => "true";
  edit_backup => "false";
}}
body perms root_644
{{
  mode => "644";
  owners => {{ "root" }};
  rxdirs => "false";
}}
"#,
            file.display()
        ),
    )
    .unwrap();
    run_loop("cf-agent -K -f \"$1\"", &policy)
}
