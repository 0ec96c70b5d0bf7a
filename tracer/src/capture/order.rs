//! Putting records from all CPUs back in time order.
//!
//! The kernel writes each CPU's records in order, but a CPU's batch can reach
//! the ring buffer up to ~12 ms after another CPU's later records. Items are
//! queued per CPU and released by a k-way merge on timestamps once they are
//! older than a watermark no batch can still be behind: so a `close` on one
//! CPU is applied before a later `open` that reuses the fd on another, and
//! printed timestamps never go backwards.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::decode::{record_at, DecodeError};

/// One ring-buffer item (a record or a batch) and how far it is consumed.
struct Item {
    bytes: Vec<u8>,
    off: usize,
}

/// Records queued per CPU, merged by timestamp.
#[derive(Default)]
pub struct Reorder {
    queues: Vec<VecDeque<Item>>,
    /// (timestamp of the head record, cpu) for every non-empty queue.
    heads: BinaryHeap<Reverse<(u64, usize)>>,
    /// Records whose length was malformed (their item's rest is skipped).
    pub malformed: u64,
    /// The most bytes read from the ring buffer in one drain, since the
    /// loop last took it.
    pub backlog_peak: u64,
}

fn ts_cpu(record: &[u8]) -> (u64, usize) {
    let ts = record
        .get(0..8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
    let cpu = record
        .get(76..78)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
    (ts, usize::from(cpu))
}

impl Reorder {
    /// Queues a copy of one ring-buffer item.
    pub fn push(&mut self, item: &[u8]) {
        let first = match record_at(item, 0) {
            Ok((rec, _)) => rec,
            Err(_) => {
                self.malformed += 1;
                return;
            }
        };
        let (ts, cpu) = ts_cpu(first);
        if cpu >= self.queues.len() {
            self.queues.resize_with(cpu + 1, VecDeque::new);
        }
        let queue = &mut self.queues[cpu];
        if queue.is_empty() {
            self.heads.push(Reverse((ts, cpu)));
        }
        queue.push_back(Item {
            bytes: item.to_vec(),
            off: 0,
        });
    }

    /// Hands `f` every queued record with a timestamp up to `watermark`, oldest
    /// first, until `f` returns `Ok(true)` (stop). Returns whether it stopped.
    pub fn release<E>(
        &mut self,
        watermark: u64,
        mut f: impl FnMut(&[u8]) -> Result<bool, E>,
    ) -> Result<bool, E> {
        while let Some(&Reverse((ts, cpu))) = self.heads.peek() {
            if ts > watermark {
                break;
            }
            self.heads.pop();
            let queue = &mut self.queues[cpu];
            let Some(item) = queue.front_mut() else {
                continue;
            };
            let stop = match record_at(&item.bytes, item.off) {
                Ok((rec, next)) => {
                    let stop = f(rec)?;
                    item.off = next;
                    stop
                }
                Err(DecodeError::Short { .. } | DecodeError::Kind(_) | DecodeError::Capture(_)) => {
                    self.malformed += 1;
                    item.off = item.bytes.len();
                    false
                }
            };
            if item.off >= item.bytes.len() {
                queue.pop_front();
            }
            if let Some(next) = queue.front() {
                if let Ok((rec, _)) = record_at(&next.bytes, next.off) {
                    self.heads.push(Reverse((ts_cpu(rec).0, cpu)));
                }
            }
            if stop {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tests::syscall_record;

    fn rec(ts: u64, cpu: u16, nr: u16) -> Vec<u8> {
        let mut r = syscall_record(nr, 0, [0; 6], &[]);
        r[0..8].copy_from_slice(&ts.to_le_bytes());
        r[76..78].copy_from_slice(&cpu.to_le_bytes());
        r
    }

    fn nrs(order: &mut Reorder, watermark: u64) -> Vec<u16> {
        let mut out = Vec::new();
        order
            .release(watermark, |r| {
                out.push(u16::from_le_bytes([r[74], r[75]]));
                Ok::<bool, ()>(false)
            })
            .unwrap();
        out
    }

    #[test]
    fn merges_cpus_by_time_up_to_the_watermark() {
        let mut order = Reorder::default();
        // CPU 1's batch (times 10, 30) arrives before CPU 0's (20, 40).
        let mut batch1 = rec(10, 1, 1);
        batch1.extend(rec(30, 1, 3));
        let mut batch0 = rec(20, 0, 2);
        batch0.extend(rec(40, 0, 4));
        order.push(&batch1);
        order.push(&batch0);
        order.push(&rec(50, 1, 5));
        assert_eq!(nrs(&mut order, 35), [1, 2, 3]);
        assert_eq!(nrs(&mut order, u64::MAX), [4, 5]);
        assert!(nrs(&mut order, u64::MAX).is_empty());
    }

    #[test]
    fn stops_when_asked_and_resumes() {
        let mut order = Reorder::default();
        let mut batch = rec(1, 0, 1);
        batch.extend(rec(2, 0, 2));
        order.push(&batch);
        let mut seen = Vec::new();
        let stopped = order
            .release(u64::MAX, |r| {
                seen.push(r[74]);
                Ok::<bool, ()>(true)
            })
            .unwrap();
        assert!(stopped);
        assert_eq!(seen, [1]);
        assert_eq!(nrs(&mut order, u64::MAX), [2]);
    }

    #[test]
    fn malformed_items_are_counted_not_fatal() {
        let mut order = Reorder::default();
        order.push(&[1, 2, 3]);
        let mut bad = rec(5, 0, 7);
        bad[68..72].copy_from_slice(&9999u32.to_le_bytes());
        order.push(&bad);
        assert!(nrs(&mut order, u64::MAX).is_empty());
        assert_eq!(order.malformed, 2);
    }
}
