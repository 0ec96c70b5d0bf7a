//! Daemons not written for sdtrace, as users run them: a shell script
//! around `inotifywait` that repairs with child commands, and a Python
//! daemon that polls with `os.stat`. Each keeps one file's content, mode
//! 0644 and owner root, says on stderr what it repaired, and says `ready`
//! once it has put the file right the first time.
use std::{fs, os::unix::process::CommandExt, path::Path, process::Command};

/// The shell daemon: `bash keep.sh FILE CONTENT`. The watching is done by
/// its `inotifywait -m` child on the file's directory; the repairs by the
/// script (`printf >`) and its `chmod`/`chown` children; the checks by
/// `cat` and `stat` children.
const SHELL: &str = r#"#!/bin/bash
f="$1"; want="$2"
repair() {
    if [ ! -e "$f" ] || [ "$(cat "$f")" != "$want" ]; then
        printf '%s\n' "$want" > "$f"
        echo "repaired content" >&2
    fi
    if [ "$(stat -c %a "$f")" != 644 ]; then
        chmod 644 "$f"
        echo "repaired mode" >&2
    fi
    if [ "$(stat -c %u "$f")" != 0 ]; then
        chown 0 "$f"
        echo "repaired owner" >&2
    fi
}
repair
name=$(basename "$f")
inotifywait -m -q -e modify,attrib,move,create,delete --format '%f' "$(dirname "$f")" |
while read -r changed; do
    [ "$changed" = "$name" ] && repair
done &
# Ready once the watch is in place.
sleep 0.5
echo ready >&2
wait
"#;

/// The polling daemon: `python3 keep.py FILE CONTENT`, one `os.stat` of
/// the file every 100 ms; the content is read back only when the stat
/// changed.
const PYTHON: &str = r#"import os, sys, time
path, want = sys.argv[1], (sys.argv[2] + "\n").encode()
seen = None
def say(what):
    sys.stderr.write(what + "\n")
    sys.stderr.flush()
def once():
    global seen
    try:
        st = os.stat(path)
    except FileNotFoundError:
        with open(path, "wb") as f:
            f.write(want)
        say("repaired content")
        seen = None
        return
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    if key != seen:
        with open(path, "rb") as f:
            if f.read() != want:
                with open(path, "wb") as w:
                    w.write(want)
                say("repaired content")
                st = os.stat(path)
        seen = (st.st_ino, st.st_size, st.st_mtime_ns)
    if st.st_mode & 0o7777 != 0o644:
        os.chmod(path, 0o644)
        say("repaired mode")
    if st.st_uid != 0:
        os.chown(path, 0, -1)
        say("repaired owner")
once()
say("ready")
while True:
    time.sleep(0.1)
    once()
"#;

/// Debian's Python, not a version manager's shim earlier on `PATH`.
pub const PYTHON3: &str = "/usr/bin/python3";

/// `bash keep.sh FILE LINE` (the script written into `dir`), keeping
/// `file` as `content`, one line.
pub fn shell_daemon(dir: &Path, file: &Path, content: &str) -> Command {
    let script = dir.join("keep.sh");
    fs::write(&script, SHELL).unwrap();
    let mut c = Command::new("bash");
    c.arg(&script)
        .arg(file)
        .arg(content.trim_end_matches('\n'))
        .process_group(0);
    c
}

/// `python3 keep.py FILE LINE` (the script written into `dir`), keeping
/// `file` as `content`, one line.
pub fn python_daemon(dir: &Path, file: &Path, content: &str) -> Command {
    let script = dir.join("keep.py");
    fs::write(&script, PYTHON).unwrap();
    let mut c = Command::new(PYTHON3);
    c.arg("-u")
        .arg(&script)
        .arg(file)
        .arg(content.trim_end_matches('\n'))
        .process_group(0);
    c
}

/// The process group a daemon started in a group of its own leads, killed
/// whole when dropped: its children (`inotifywait`, a loop's subshell, an
/// agent's run) outlive a kill of the daemon alone.
pub struct Group(pub u32);

impl Drop for Group {
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.0) {
            // SAFETY: a signal to a process group this test started.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}
