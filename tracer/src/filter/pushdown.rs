//! What part of a filter the kernel can test, exactly and never lossily.
//!
//! The probes can only test a conjunction of set memberships, one per
//! dimension: the syscall number, the tgid, the task name (comm) and the
//! cgroup v2 id. So for
//! each dimension we compute an over-approximation of the filter's projection
//! onto it, walking the tree in negation normal form (a polarity flag flips
//! under `not`; De Morgan swaps `and` and `or`):
//!
//! - a leaf on `evt.type` is evaluated against every event type (a finite
//!   universe: each number's one name, and `procexit`), so any operator,
//!   negated or not, with transformers or not, gives the exact set;
//! - a leaf on `proc.pid`, `proc.name` or `cgroup.id` that says "equals one of these" gives
//!   those values; anything else on an infinite universe (`!=`, `<`, globs,
//!   transformers) gives "all";
//! - a leaf that compares with another field (`val(...)`), and a leaf on any
//!   other field, gives "all";
//! - `and` intersects, `or` unions.
//!
//! Negating a leaf is exact because these dimensions are present on every
//! record (`not proc.pid != 5` is `proc.pid = 5`). An event the filter accepts
//! is therefore always admitted; the property test in `tests` checks it.

use std::collections::BTreeSet;

use tracer_common::{COMM_LEN, SYSCALL_SLOTS};

use super::check::PROCEXIT;
use super::compile::{Leaf, Node, NumOp, Rhs, Source, Test};
use crate::fields::{syscall_name, FieldArg, FieldId, Value};

const WORDS: usize = SYSCALL_SLOTS as usize / 64;

/// A set of syscall numbers below [`SYSCALL_SLOTS`], as the kernel's bitmap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SyscallSet {
    bits: [u64; WORDS],
}

impl SyscallSet {
    pub fn contains(&self, nr: u32) -> bool {
        nr < SYSCALL_SLOTS && self.bits[nr as usize / 64] & (1 << (nr % 64)) != 0
    }

    /// Numbers at or past [`SYSCALL_SLOTS`] are ignored.
    pub fn insert(&mut self, nr: u32) {
        if nr < SYSCALL_SLOTS {
            self.bits[nr as usize / 64] |= 1 << (nr % 64);
        }
    }

    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..SYSCALL_SLOTS).filter(|&nr| self.contains(nr))
    }

    /// The numbers, as the capture's kernel filter takes them.
    pub fn numbers(&self) -> std::collections::BTreeSet<u16> {
        self.iter().filter_map(|n| u16::try_from(n).ok()).collect()
    }

    /// The bitmap as the kernel's map holds it: bit `nr % 64` of word `nr / 64`.
    pub fn words(&self) -> &[u64; WORDS] {
        &self.bits
    }

    fn full() -> SyscallSet {
        SyscallSet {
            bits: [u64::MAX; WORDS],
        }
    }

    fn and(self, other: SyscallSet) -> SyscallSet {
        SyscallSet {
            bits: std::array::from_fn(|i| self.bits[i] & other.bits[i]),
        }
    }

    fn or(self, other: SyscallSet) -> SyscallSet {
        SyscallSet {
            bits: std::array::from_fn(|i| self.bits[i] | other.bits[i]),
        }
    }
}

/// Who a record is from, as the kernel's push-down sees it.
#[derive(Clone, Copy, Debug)]
pub struct TaskKey<'a> {
    pub tgid: u32,
    /// The task name without its NUL padding.
    pub comm: &'a [u8],
    /// cgroup v2 id.
    pub cgroup: u64,
}

/// What the kernel may drop before userspace sees it. `None` means "all".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushDown {
    /// Syscall numbers that can match.
    pub syscalls: Option<SyscallSet>,
    /// Whether `procexit` records can match. The caller forwards process
    /// lifecycle records regardless, to keep its process table right.
    pub procexit: bool,
    /// Tgids (`proc.pid`) that can match.
    pub tgids: Option<BTreeSet<u32>>,
    /// Task names (`proc.name`, at most `COMM_LEN - 1` bytes, no NUL) that can match.
    pub comms: Option<BTreeSet<Vec<u8>>>,
    /// cgroup v2 ids (`cgroup.id`) that can match.
    pub cgroups: Option<BTreeSet<u64>>,
}

impl PushDown {
    /// A push-down that drops nothing.
    pub fn all() -> PushDown {
        PushDown {
            syscalls: None,
            procexit: true,
            tgids: None,
            comms: None,
            cgroups: None,
        }
    }

    /// Whether the kernel keeps a syscall record; `comm` without its NUL padding.
    pub fn admits_syscall(&self, nr: u32, task: &TaskKey<'_>) -> bool {
        self.syscalls.is_none_or(|s| s.contains(nr)) && self.admits_task(task)
    }

    /// Whether the kernel keeps a `procexit` record.
    pub fn admits_procexit(&self, task: &TaskKey<'_>) -> bool {
        self.procexit && self.admits_task(task)
    }

    fn admits_task(&self, task: &TaskKey<'_>) -> bool {
        self.tgids.as_ref().is_none_or(|t| t.contains(&task.tgid))
            && self.comms.as_ref().is_none_or(|c| c.contains(task.comm))
            && self
                .cgroups
                .as_ref()
                .is_none_or(|c| c.contains(&task.cgroup))
    }

    fn and(self, other: PushDown) -> PushDown {
        PushDown {
            syscalls: meet(self.syscalls, other.syscalls, SyscallSet::and),
            procexit: self.procexit && other.procexit,
            tgids: meet(self.tgids, other.tgids, |a, b| {
                a.intersection(&b).copied().collect()
            }),
            comms: meet(self.comms, other.comms, |a, b| {
                a.intersection(&b).cloned().collect()
            }),
            cgroups: meet(self.cgroups, other.cgroups, |a, b| {
                a.intersection(&b).copied().collect()
            }),
        }
    }

    fn or(self, other: PushDown) -> PushDown {
        PushDown {
            syscalls: join(self.syscalls, other.syscalls, SyscallSet::or),
            procexit: self.procexit || other.procexit,
            tgids: join(self.tgids, other.tgids, |mut a, b| {
                a.extend(b);
                a
            }),
            comms: join(self.comms, other.comms, |mut a, b| {
                a.extend(b);
                a
            }),
            cgroups: join(self.cgroups, other.cgroups, |mut a, b| {
                a.extend(b);
                a
            }),
        }
    }

    /// `Some(full set)` says the same as `None`; keep one spelling.
    fn normalized(mut self) -> PushDown {
        if self.syscalls == Some(SyscallSet::full()) && self.procexit {
            self.syscalls = None;
        }
        self
    }
}

/// Intersection, `None` being the universe.
fn meet<T>(a: Option<T>, b: Option<T>, f: impl FnOnce(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Union, `None` being the universe.
fn join<T>(a: Option<T>, b: Option<T>, f: impl FnOnce(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        _ => None,
    }
}

/// The values an "equals one of these" numeric test admits, as `T` (numbers
/// that do not fit can match nothing); `None` for any other test.
fn equal_numbers<T: TryFrom<i128> + Ord>(test: &Test) -> Option<BTreeSet<T>> {
    let fits = |n: &i128| T::try_from(*n).ok();
    match test {
        Test::Num(NumOp::Eq, n) => Some(fits(n).into_iter().collect()),
        Test::NumIn(list) => Some(list.iter().filter_map(fits).collect()),
        _ => None,
    }
}

pub(crate) fn pushdown(root: &Node) -> PushDown {
    project(root, true).normalized()
}

fn project(node: &Node, positive: bool) -> PushDown {
    match node {
        Node::Not(inner) => project(inner, !positive),
        Node::And(items) | Node::Or(items) => {
            let intersect = matches!(node, Node::And(_)) == positive;
            let mut parts = items.iter().map(|n| project(n, positive));
            let first = parts.next().unwrap_or_else(PushDown::all);
            parts.fold(
                first,
                |acc, p| if intersect { acc.and(p) } else { acc.or(p) },
            )
        }
        Node::Leaf(leaf) => project_leaf(leaf, positive),
    }
}

fn project_leaf(leaf: &Leaf, positive: bool) -> PushDown {
    let mut out = PushDown::all();
    // A comparison with another field of the event is undecidable here.
    let Rhs::Literal(test) = &leaf.rhs else {
        return out;
    };
    if leaf.lhs.field.arg != FieldArg::None || leaf.source != Source::One {
        return out;
    }
    // Transformers change the values a test sees: only the finite universe
    // of event types can still be enumerated through them.
    let plain = leaf.lhs.transformers.is_empty();
    // The leaf, with its polarity, says "the value is one of these".
    let says_equal = positive != leaf.negate && plain;
    let passes = |value: Value<'_>| leaf.passes_value(value) == Some(positive);
    match leaf.lhs.field.id {
        FieldId::EvtType => {
            // Every number has exactly one name, the decoder's: the table's,
            // or `syscall_<nr>`. So every leaf is decided number by number.
            let mut set = SyscallSet::default();
            for nr in 0..SYSCALL_SLOTS {
                if passes(Value::Str(syscall_name(nr))) {
                    set.insert(nr);
                }
            }
            out.syscalls = Some(set);
            out.procexit = passes(Value::Str(PROCEXIT.into()));
        }
        FieldId::ProcPid if says_equal => out.tgids = equal_numbers(test),
        FieldId::CgroupId if says_equal => out.cgroups = equal_numbers(test),
        FieldId::ProcName if says_equal => {
            // A comm holds at most COMM_LEN - 1 bytes and no NUL: longer names match nothing.
            let comm =
                |name: &[u8]| (name.len() < COMM_LEN && !name.contains(&0)).then(|| name.to_vec());
            out.comms = match test {
                Test::TextEq(name) => Some(comm(name).into_iter().collect()),
                Test::TextIn(names) => Some(names.iter().filter_map(|n| comm(n)).collect()),
                _ => None,
            };
        }
        _ => {}
    }
    out
}
