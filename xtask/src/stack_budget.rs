//! The BPF stack budget, checked on the built object without a kernel.
//!
//! Every LTS kernel users run (5.10 to 6.12) refuses a program whose deepest
//! chain of bpf-to-bpf calls uses more than 512 bytes of stack, each frame
//! rounded up to 32 bytes (`check_max_stack_depth`). Only some recent kernel
//! builds lift that for tracing programs, so a machine that accepts the
//! object proves nothing: this reads the ELF, finds each function's frame
//! (its deepest `r10 - N` access, or pointer into the stack handed to a
//! helper) and the calls between functions, and fails above [`BUDGET`],
//! naming the chain and each frame.
use std::collections::BTreeMap;
use std::fmt;

use anyhow::{bail, Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SectionKind, SymbolKind};

/// The verifier's limit is 512; the margin leaves room for a compiler that
/// spills a little more than today's.
pub(crate) const BUDGET: u32 = 448;

/// The verifier's per-frame rounding (kernels before 6.8 round every frame,
/// even an empty one, up to 32 bytes; later ones round JITed frames to 16).
pub(crate) fn rounded(depth: u32) -> u32 {
    depth.max(1).div_ceil(32) * 32
}

/// One function of the object: a program or a subprogram.
#[derive(Debug, Clone)]
pub(crate) struct Function {
    pub name: String,
    /// Deepest byte below the frame pointer it touches.
    pub frame: u32,
    /// Indexes into [`Analysis::functions`] of the functions it calls.
    pub calls: Vec<usize>,
    /// Whether the function ends in a `bpf_tail_call` (its stack is then
    /// limited to 256 bytes per frame when it also makes calls).
    pub tail_calls: bool,
    /// Program section (`tp_btf/sys_exit`, …); `None` for a subprogram.
    pub program: Option<String>,
}

/// The functions of an object and the calls between them.
pub(crate) struct Analysis {
    pub functions: Vec<Function>,
}

/// A program's deepest call chain.
pub(crate) struct Chain<'a> {
    pub frames: Vec<&'a Function>,
}

/// With both bpf-to-bpf calls and tail calls in a chain, the x86 JIT
/// limits every frame to this (the stack is carried across the tail call).
pub(crate) const TAIL_CALL_FRAME: u32 = 256;

impl Chain<'_> {
    /// Whether the chain has calls and a tail call, and a frame over `limit`.
    fn mixes_calls_and_tail_calls_over(&self, limit: u32) -> bool {
        self.frames.len() > 1
            && self.frames.iter().any(|f| f.tail_calls)
            && self.frames.iter().any(|f| f.frame > limit)
    }

    /// Stack the verifier counts for the chain.
    pub(crate) fn total(&self) -> u32 {
        self.frames.iter().map(|f| rounded(f.frame)).sum()
    }
}

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .frames
            .iter()
            .map(|fr| format!("{} {} ({})", fr.name, rounded(fr.frame), fr.frame))
            .collect();
        write!(f, "{} = {} bytes", parts.join(" + "), self.total())
    }
}

const INSN: u64 = 8;
const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_ST: u8 = 0x02;
const CLASS_STX: u8 = 0x03;
const CLASS_ALU: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_ALU64: u8 = 0x07;
const OP_CALL: u8 = 0x80;
const OP_ADD: u8 = 0x00;
const OP_SUB: u8 = 0x10;
const OP_MOV: u8 = 0xb0;
const SRC_X: u8 = 0x08;
const LD_IMM64: u8 = 0x18;
const PSEUDO_CALL: u8 = 1;
const HELPER_TAIL_CALL: i32 = 12;
const FP: u8 = 10;

/// One decoded instruction.
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    dst: u8,
    src: u8,
    off: i16,
    imm: i32,
}

fn decode(bytes: &[u8]) -> Vec<Insn> {
    bytes
        .chunks_exact(INSN as usize)
        .map(|b| Insn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect()
}

/// What a function's code says: its frame, where its calls go (instruction
/// index of the call, and the relative target encoded in it), tail calls.
struct Scan {
    frame: u32,
    calls: Vec<(usize, i64)>,
    tail_calls: bool,
}

/// Tracks which registers hold `r10 + k`, straight through the code: the
/// compiler forms a stack pointer right before the access or helper call that
/// uses it, so no control-flow merge is needed to see every one.
fn scan(insns: &[Insn]) -> Scan {
    let mut fp_rel: [Option<i64>; 11] = [None; 11];
    fp_rel[FP as usize] = Some(0);
    let mut deepest: i64 = 0;
    let mut calls = Vec::new();
    let mut tail_calls = false;
    let mut touch = |k: i64| deepest = deepest.max(-k);
    let mut i = 0;
    while i < insns.len() {
        let n = insns[i];
        let class = n.code & 0x07;
        let (dst, src) = (usize::from(n.dst.min(10)), usize::from(n.src.min(10)));
        match class {
            CLASS_LDX => {
                if let Some(k) = fp_rel[src] {
                    touch(k + i64::from(n.off));
                }
                if dst != FP as usize {
                    fp_rel[dst] = None;
                }
            }
            CLASS_ST | CLASS_STX => {
                if let Some(k) = fp_rel[dst] {
                    touch(k + i64::from(n.off));
                }
            }
            CLASS_ALU64 | CLASS_ALU => {
                let op = n.code & 0xf0;
                let x = n.code & SRC_X != 0;
                let next = match (class, op, x) {
                    (CLASS_ALU64, OP_MOV, true) => fp_rel[src],
                    (CLASS_ALU64, OP_ADD, false) => fp_rel[dst].map(|k| k + i64::from(n.imm)),
                    (CLASS_ALU64, OP_SUB, false) => fp_rel[dst].map(|k| k - i64::from(n.imm)),
                    _ => None,
                };
                if let Some(k) = next {
                    touch(k);
                }
                if dst != FP as usize {
                    fp_rel[dst] = next;
                }
            }
            CLASS_JMP if n.code & 0xf0 == OP_CALL => {
                if n.src == PSEUDO_CALL {
                    calls.push((i, i64::from(n.imm)));
                } else if n.src == 0 && n.imm == HELPER_TAIL_CALL {
                    tail_calls = true;
                }
                for r in fp_rel.iter_mut().take(6) {
                    *r = None;
                }
            }
            CLASS_LD => {
                fp_rel[dst] = None;
                if n.code == LD_IMM64 {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    Scan {
        frame: u32::try_from(deepest).unwrap_or(u32::MAX),
        calls,
        tail_calls,
    }
}

/// Reads the object's functions (every `STT_FUNC` symbol of an executable
/// section) and resolves its bpf-to-bpf calls, through the call's relocation
/// when it crosses sections (the target is the symbol plus `imm + 1`
/// instructions, as libbpf reads it) and by the relative offset otherwise.
pub(crate) fn analyse(elf: &[u8]) -> Result<Analysis> {
    let file = object::File::parse(elf).context("the eBPF object is not a readable ELF file")?;
    // (section index, offset) -> function index.
    let mut at: BTreeMap<(usize, u64), usize> = BTreeMap::new();
    let mut spans = Vec::new();
    for sym in file.symbols() {
        if sym.kind() != SymbolKind::Text {
            continue;
        }
        let Some(index) = sym.section_index() else {
            continue;
        };
        let section = file.section_by_index(index)?;
        if section.kind() != SectionKind::Text {
            continue;
        }
        let name = sym.name().unwrap_or("?").to_owned();
        let program =
            (section.name()? != ".text").then(|| section.name().unwrap_or("?").to_owned());
        let size = if sym.size() > 0 {
            sym.size()
        } else {
            section.size() - sym.address()
        };
        at.insert((index.0, sym.address()), spans.len());
        spans.push((index, sym.address(), size, name, program));
    }
    let mut functions = Vec::new();
    for (index, start, size, name, program) in &spans {
        let section = file.section_by_index(*index)?;
        let data = section.data()?;
        let code = data
            .get(*start as usize..(*start + *size) as usize)
            .with_context(|| format!("function {name} lies outside its section"))?;
        let s = scan(&decode(code));
        let relocs: BTreeMap<u64, RelocationTarget> = section
            .relocations()
            .map(|(offset, r)| (offset, r.target()))
            .collect();
        let mut calls = Vec::new();
        for (i, imm) in s.calls {
            let insn_at = start + i as u64 * INSN;
            let target = match relocs.get(&insn_at) {
                Some(RelocationTarget::Symbol(sym)) => {
                    let sym = file.symbol_by_index(*sym)?;
                    let sec = sym
                        .section_index()
                        .context("a call to an undefined symbol")?;
                    let to = sym.address() as i64 + (imm + 1) * INSN as i64;
                    (
                        sec.0,
                        u64::try_from(to).context("a call before its section")?,
                    )
                }
                Some(_) => bail!("{name}: a call with an unexpected relocation"),
                None => {
                    let to = insn_at as i64 + (imm + 1) * INSN as i64;
                    (
                        index.0,
                        u64::try_from(to).context("a call before its section")?,
                    )
                }
            };
            let callee = *at.get(&target).with_context(|| {
                format!("{name}: a call to {target:?}, where no function starts")
            })?;
            if !calls.contains(&callee) {
                calls.push(callee);
            }
        }
        functions.push(Function {
            name: name.clone(),
            frame: s.frame,
            calls,
            tail_calls: s.tail_calls,
            program: program.clone(),
        });
    }
    Ok(Analysis { functions })
}

impl Analysis {
    /// Each program with its deepest chain, deepest first.
    pub(crate) fn chains(&self) -> Result<Vec<Chain<'_>>> {
        let mut out = Vec::new();
        for (i, f) in self.functions.iter().enumerate() {
            if f.program.is_some() {
                let path = self.deepest(i, &mut Vec::new())?;
                out.push(Chain {
                    frames: path.into_iter().map(|j| &self.functions[j]).collect(),
                });
            }
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.total()));
        Ok(out)
    }

    fn deepest(&self, i: usize, stack: &mut Vec<usize>) -> Result<Vec<usize>> {
        if stack.contains(&i) {
            bail!(
                "{} calls itself (the verifier refuses recursion)",
                self.functions[i].name
            );
        }
        stack.push(i);
        let mut best: Vec<usize> = Vec::new();
        let mut best_total = 0;
        for &c in &self.functions[i].calls {
            let path = self.deepest(c, stack)?;
            let total: u32 = path.iter().map(|&j| rounded(self.functions[j].frame)).sum();
            if total > best_total {
                (best, best_total) = (path, total);
            }
        }
        stack.pop();
        best.insert(0, i);
        Ok(best)
    }
}

/// Prints every program's deepest chain and fails when one is over [`BUDGET`].
pub(crate) fn check(elf: &[u8]) -> Result<()> {
    let analysis = analyse(elf)?;
    let chains = analysis.chains()?;
    let over: Vec<&Chain> = chains
        .iter()
        .filter(|c| c.total() > BUDGET || c.mixes_calls_and_tail_calls_over(TAIL_CALL_FRAME))
        .collect();
    for c in &chains {
        let program = c.frames[0].program.as_deref().unwrap_or("?");
        eprintln!("xtask: stack {program}: {c}");
    }
    if !over.is_empty() {
        let lines: Vec<String> = over
            .iter()
            .map(|c| format!("{}: {c}", c.frames[0].program.as_deref().unwrap_or("?")))
            .collect();
        bail!(
            "eBPF stack over the {BUDGET}-byte budget (kernels refuse chains over 512, \
             or frames over {TAIL_CALL_FRAME} in a chain that also tail-calls):\n  {}",
            lines.join("\n  ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    #[test]
    fn frames_round_as_the_verifier_does() {
        assert_eq!(rounded(0), 32);
        assert_eq!(rounded(8), 32);
        assert_eq!(rounded(216), 224);
        assert_eq!(rounded(272), 288);
        // The chain the issue quotes: 216+272+56 -> "576. Too large".
        assert_eq!(rounded(216) + rounded(272) + rounded(56), 576);
    }

    #[test]
    fn direct_and_derived_stack_accesses_count() {
        let s = scan(&[
            // *(u64 *)(r10 - 16) = r1
            insn(0x7b, 10, 1, -16, 0),
            // r2 = r10; r2 += -120  (a buffer handed to a helper)
            insn(0xbf, 2, 10, 0, 0),
            insn(0x07, 2, 0, 0, -120),
            // call bpf_probe_read_kernel
            insn(0x85, 0, 0, 0, 113),
            // r2 is clobbered by the call: this is not the stack
            insn(0x79, 3, 2, -400, 0),
            insn(0x95, 0, 0, 0, 0),
        ]);
        assert_eq!(s.frame, 120);
        assert!(s.calls.is_empty());
    }

    #[test]
    fn a_copied_stack_pointer_keeps_its_offset() {
        let s = scan(&[
            insn(0xbf, 6, 10, 0, 0),
            insn(0x07, 6, 0, 0, -64),
            insn(0xbf, 7, 6, 0, 0),
            // *(u64 *)(r7 - 8): 72 below the frame pointer
            insn(0x7b, 7, 1, -8, 0),
            insn(0x95, 0, 0, 0, 0),
        ]);
        assert_eq!(s.frame, 72);
    }

    #[test]
    fn calls_and_tail_calls_are_seen() {
        let s = scan(&[
            insn(0x85, 0, PSEUDO_CALL, 0, 3),
            // ld_imm64 takes two slots; the second is not an instruction.
            insn(0x18, 1, 0, 0, 0),
            insn(0x00, 0, 0, 0, 0),
            insn(0x85, 0, 0, 0, HELPER_TAIL_CALL),
            insn(0x95, 0, 0, 0, 0),
        ]);
        assert_eq!(s.calls, vec![(0, 3)]);
        assert!(s.tail_calls);
    }

    #[test]
    fn the_deepest_chain_is_the_sum_of_rounded_frames() {
        let f = |name: &str, frame, calls: Vec<usize>, program: bool| Function {
            name: name.into(),
            frame,
            calls,
            tail_calls: false,
            program: program.then(|| format!("tp_btf/{name}")),
        };
        let a = Analysis {
            functions: vec![
                f("sys_exit", 216, vec![1, 2], true),
                f("small", 8, vec![], false),
                f("write_tuple", 272, vec![3], false),
                f("leaf", 56, vec![], false),
            ],
        };
        let chains = a.chains().unwrap();
        assert_eq!(chains.len(), 1);
        assert_eq!(chains[0].total(), 576);
        let names: Vec<&str> = chains[0].frames.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["sys_exit", "write_tuple", "leaf"]);
        assert!(chains[0].to_string().contains("write_tuple 288 (272)"));
    }
}
