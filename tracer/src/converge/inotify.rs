//! What a daemon learnt from its inotify fd: the `struct inotify_event`
//! records its read() returned, and which path each watch descriptor
//! stands for (the return value of the `inotify_add_watch` that made it).

use std::collections::HashMap;

/// One `struct inotify_event`: `int wd; u32 mask; u32 cookie; u32 len;
/// char name[len]` (NUL-padded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub wd: i32,
    pub mask: u32,
    /// The entry of a watched directory the event is about; empty for the
    /// watched path itself.
    pub name: String,
}

const HEADER: usize = 16;
/// The kernel dropped events: the queue overflowed.
pub const IN_Q_OVERFLOW: u32 = 0x4000;
/// The watch was removed (explicitly, or its inode went away).
pub const IN_IGNORED: u32 = 0x8000;

/// The events in a read() buffer; a record cut short by the snap length
/// ends the list.
#[must_use]
pub fn parse(buf: &[u8]) -> Vec<Event> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(head) = buf.get(at..at + HEADER) {
        let word = |i: usize| u32::from_ne_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let len = word(12) as usize;
        let Some(name) = buf.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        out.push(Event {
            wd: word(0) as i32,
            mask: word(4),
            name: String::from_utf8_lossy(&name[..end]).into_owned(),
        });
        at += HEADER + len;
    }
    out
}

/// A process's inotify fd and a watch descriptor on it.
type WatchKey = (u32, i32, i32);

/// Which path each live watch descriptor names.
#[derive(Default)]
pub struct Watches {
    paths: HashMap<WatchKey, String>,
}

impl Watches {
    pub fn add(&mut self, pid: u32, ifd: i32, wd: i32, path: String) {
        self.paths.insert((pid, ifd, wd), path);
    }

    /// The path an event is about: the watched path, or the entry of a
    /// watched directory it names.
    #[must_use]
    pub fn path_of(&self, pid: u32, ifd: i32, ev: &Event) -> Option<String> {
        let base = self.paths.get(&(pid, ifd, ev.wd))?;
        Some(if ev.name.is_empty() {
            base.clone()
        } else if base == "/" {
            format!("/{}", ev.name)
        } else {
            format!("{base}/{}", ev.name)
        })
    }

    pub fn remove(&mut self, pid: u32, ifd: i32, wd: i32) {
        self.paths.remove(&(pid, ifd, wd));
    }

    /// Forgets an exited process's watches.
    pub fn forget(&mut self, pid: u32) {
        self.paths.retain(|(p, _, _), _| *p != pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(wd: i32, mask: u32, name: &str, padded: usize) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&wd.to_ne_bytes());
        v.extend_from_slice(&mask.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&(padded as u32).to_ne_bytes());
        let mut n = name.as_bytes().to_vec();
        n.resize(padded, 0);
        v.extend_from_slice(&n);
        v
    }

    #[test]
    fn reads_records_with_and_without_names() {
        let mut buf = record(1, 0x2, "", 0);
        buf.extend(record(2, 0x200, "app.conf", 16));
        let evs = parse(&buf);
        assert_eq!(
            evs,
            vec![
                Event {
                    wd: 1,
                    mask: 0x2,
                    name: String::new()
                },
                Event {
                    wd: 2,
                    mask: 0x200,
                    name: "app.conf".into()
                },
            ]
        );
    }

    #[test]
    fn a_record_cut_by_the_snap_length_ends_the_list() {
        let mut buf = record(1, 0x2, "", 0);
        buf.extend(record(2, 0x200, "app.conf", 16));
        for cut in 0..buf.len() {
            let n = parse(&buf[..cut]).len();
            assert!(n <= 1, "cut at {cut} gave {n}");
        }
        assert!(parse(&[0xff; 7]).is_empty());
    }

    #[test]
    fn watch_descriptors_name_paths_per_process_and_fd() {
        let mut w = Watches::default();
        w.add(10, 3, 1, "/etc/app".into());
        w.add(10, 3, 2, "/".into());
        let ev = |wd, name: &str| Event {
            wd,
            mask: 0,
            name: name.into(),
        };
        assert_eq!(w.path_of(10, 3, &ev(1, "")).as_deref(), Some("/etc/app"));
        assert_eq!(
            w.path_of(10, 3, &ev(1, "x.conf")).as_deref(),
            Some("/etc/app/x.conf")
        );
        assert_eq!(w.path_of(10, 3, &ev(2, "etc")).as_deref(), Some("/etc"));
        assert_eq!(w.path_of(11, 3, &ev(1, "")), None);
        w.forget(10);
        assert_eq!(w.path_of(10, 3, &ev(1, "")), None);
    }
}
