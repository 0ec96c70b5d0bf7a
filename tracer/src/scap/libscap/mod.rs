//! Captures libscap wrote (sysdig, Falco, the Sysdig agent): their state
//! blocks seed the process and fd tables, and their enter and exit events
//! become sdtrace's records, numbered as sysdig numbers them.

pub mod event;
pub mod params;
pub mod records;
pub mod tables;

use std::collections::{HashMap, VecDeque};

use records::{Converted, Converter, Thread};
use tables::FileTables;

use crate::decode::decode;
use crate::journal::{Answer, Snapshot};
use crate::scap::encode::events_of;
use crate::state::{FdInfo, Process};

/// The records of a libscap capture, as the events arrive.
pub struct Libscap {
    converter: Converter,
    ready: VecDeque<Converted>,
    /// The record last handed out.
    current: Option<Converted>,
    /// File events read so far (sysdig's numbering counts every one).
    events: u64,
}

/// The next record of a libscap capture.
pub struct Next<'a> {
    pub bytes: &'a [u8],
    /// The number the pipeline should give the record's first event.
    pub first_event: Option<u64>,
    /// `/proc` answers for threads the events met first.
    pub answers: Vec<Answer>,
}

impl Libscap {
    /// The reader and the process table the file starts from.
    pub fn start(tables: &FileTables) -> (Self, Vec<Process>) {
        let tgid_of: HashMap<u64, u64> = tables.threads.iter().map(|t| (t.tid, t.pid)).collect();
        let threads = tables
            .threads
            .iter()
            .map(|t| {
                let thread = Thread {
                    tgid: t.pid as u32,
                    comm: t.comm.clone(),
                    uid: t.uid,
                    gid: t.gid,
                };
                (t.tid, thread)
            })
            .collect();
        let mut by_pid: HashMap<u64, Snapshot> = HashMap::new();
        for t in &tables.threads {
            let snap = by_pid.entry(t.pid).or_default();
            snap.tids.push(t.tid as u32);
            if t.tid != t.pid && snap.tgid != 0 {
                continue;
            }
            snap.tgid = t.pid as u32;
            snap.ppid = tgid_of.get(&t.ptid).copied().unwrap_or(t.ptid) as u32;
            snap.comm.clone_from(&t.comm);
            snap.argv = std::iter::once(t.exe.clone())
                .chain(t.args.iter().cloned())
                .collect();
            snap.exepath.clone_from(&t.exepath);
            snap.cwd.clone_from(&t.cwd);
            snap.uid = t.uid;
            snap.gid = t.gid;
        }
        // Fd lists are a thread's; the process's threads share them.
        let mut fds: HashMap<u64, Vec<(i32, FdInfo)>> = HashMap::new();
        for (tid, list) in &tables.fds {
            let pid = tgid_of.get(tid).copied().unwrap_or(*tid);
            let entries = list.iter().map(|(fd, info)| (*fd as i32, info.clone()));
            fds.entry(pid).or_default().extend(entries);
        }
        let mut processes: Vec<Process> = by_pid
            .into_values()
            .map(|snap| {
                let own = fds.remove(&u64::from(snap.tgid)).unwrap_or_default();
                Process::described(snap, own)
            })
            .collect();
        processes.sort_by_key(|p| p.tgid);
        let reader = Self {
            converter: Converter::new(threads),
            ready: VecDeque::new(),
            current: None,
            events: 0,
        };
        (reader, processes)
    }

    /// Takes the file's next event.
    pub fn event(&mut self, ev: &event::Event<'_>) {
        self.events += 1;
        self.converter.event(ev, self.events, &mut self.ready);
    }

    /// Whether a record is ready.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The next record made, if any is ready.
    pub fn next_record(&mut self) -> Option<Next<'_>> {
        self.current = Some(self.ready.pop_front()?);
        let c = self.current.as_ref().expect("just set");
        let first_event = c.num.map(|num| {
            let events = decode(&c.bytes).map_or(1, |r| events_of(&r));
            num + 1 - events.max(1)
        });
        Some(Next {
            bytes: &c.bytes,
            first_event,
            answers: std::mem::take(&mut self.converter.answers),
        })
    }

    /// Events of kinds sdtrace does not decode, by name, with counts.
    pub fn skipped(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.converter.skipped.iter().map(|(k, v)| (*k, *v))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};

    use crate::journal::Journal;
    use crate::scap::reader::ScapReader;

    /// sysdig's captures of a curl run and of one IPv6 connection, in the
    /// oldest and newest block versions (see tests/data/sysdig).
    const CAPTURES: [&[u8]; 2] = [
        include_bytes!("../../../../tests/data/sysdig/curl_google.scap"),
        include_bytes!("../../../../tests/data/sysdig/single_ipv6_conn.scap"),
    ];

    fn records(bytes: Vec<u8>) -> Result<usize, String> {
        let mut reader = ScapReader::from_reader(Cursor::new(bytes)).map_err(|e| e.to_string())?;
        let journal = Journal::replaying();
        let mut n = 0;
        while let Some(item) = reader.next_item(&journal).map_err(|e| e.to_string())? {
            crate::decode::decode(item.bytes).map_err(|e| e.to_string())?;
            n += 1;
        }
        Ok(n)
    }

    #[test]
    fn damaged_sysdig_captures_give_errors_never_panics() {
        for capture in CAPTURES {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(capture)
                .read_to_end(&mut plain)
                .unwrap();
            let whole = records(plain.clone()).unwrap();
            assert!(whole >= 14, "{whole} records");
            mutate(&plain);
        }
    }

    fn mutate(plain: &[u8]) {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..300 {
            let mut bytes = plain.to_vec();
            for _ in 0..1 + next() % 8 {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = next() as u8;
            }
            let cut = (next() % 4 == 0).then(|| (next() % bytes.len() as u64) as usize);
            if let Some(cut) = cut {
                bytes.truncate(cut);
            }
            // An error or fewer records, never a panic.
            let _ = records(bytes);
        }
    }
}
