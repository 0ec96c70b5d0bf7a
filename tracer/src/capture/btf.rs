//! A minimal reader of the kernel's BTF (`/sys/kernel/btf/vmlinux`): enough to
//! find the byte offset of a struct member (through anonymous unions and
//! nested structs), the size of a type and the value of an enum constant.
//!
//! aya has no CO-RE relocations for Rust programs, so the eBPF side follows
//! kernel pointers with offsets found here at start-up. Offsets change between
//! kernels (`ns_common` changed layout in 6.18), so none is hard-coded.

use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error(
        "cannot read {path}: {source} (sdtrace needs a kernel with BTF, CONFIG_DEBUG_INFO_BTF=y)"
    )]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid BTF: {what}")]
    Malformed { path: String, what: &'static str },
    #[error("kernel BTF has no {0}")]
    Missing(String),
}

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

#[derive(Clone, Debug)]
struct Member {
    name: u32,
    ty: u32,
    bit_offset: u32,
}

#[derive(Clone, Debug)]
enum Kind {
    /// Struct or union with its members.
    Composite(Vec<Member>),
    /// Pointer, typedef and qualifiers: refer to another type.
    Ref,
    Array {
        nelems: u32,
    },
    Enum(Vec<(u32, i64)>),
    Other,
}

#[derive(Clone, Debug)]
struct Type {
    name: u32,
    kind_id: u32,
    size_or_type: u32,
    kind: Kind,
}

/// Parsed kernel BTF.
pub struct Btf {
    types: Vec<Type>,
    strings: Vec<u8>,
    by_name: HashMap<String, Vec<u32>>,
}

impl Btf {
    pub fn from_sys_fs() -> Result<Self, BtfError> {
        Self::from_file(Path::new("/sys/kernel/btf/vmlinux"))
    }

    pub fn from_file(path: &Path) -> Result<Self, BtfError> {
        let data = std::fs::read(path).map_err(|source| BtfError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&data).map_err(|what| BtfError::Malformed {
            path: path.display().to_string(),
            what,
        })
    }

    pub fn parse(data: &[u8]) -> Result<Self, &'static str> {
        let u32_at = |off: usize| -> Result<u32, &'static str> {
            data.get(off..off + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or("truncated")
        };
        if data.len() < 24 || u16::from_le_bytes([data[0], data[1]]) != 0xeb9f {
            return Err("bad magic");
        }
        let hdr_len = u32_at(4)? as usize;
        let type_off = hdr_len + u32_at(8)? as usize;
        let type_len = u32_at(12)? as usize;
        let str_off = hdr_len + u32_at(16)? as usize;
        let str_len = u32_at(20)? as usize;
        let strings = data
            .get(str_off..str_off + str_len)
            .ok_or("string section out of bounds")?
            .to_vec();

        // Type ids start at 1; id 0 is `void`.
        let mut types = vec![Type {
            name: 0,
            kind_id: 0,
            size_or_type: 0,
            kind: Kind::Other,
        }];
        let mut off = type_off;
        let end = type_off + type_len;
        while off < end {
            let name = u32_at(off)?;
            let info = u32_at(off + 4)?;
            let size_or_type = u32_at(off + 8)?;
            off += 12;
            let vlen = (info & 0xffff) as usize;
            let kind_id = (info >> 24) & 0x1f;
            let kind_flag = info >> 31 == 1;
            let kind = match kind_id {
                KIND_INT => {
                    off += 4;
                    Kind::Other
                }
                KIND_PTR | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
                | KIND_TYPE_TAG => Kind::Ref,
                KIND_ARRAY => {
                    let nelems = u32_at(off + 8)?;
                    off += 12;
                    Kind::Array { nelems }
                }
                KIND_STRUCT | KIND_UNION => {
                    let mut members = Vec::with_capacity(vlen);
                    for _ in 0..vlen {
                        let raw = u32_at(off + 8)?;
                        members.push(Member {
                            name: u32_at(off)?,
                            ty: u32_at(off + 4)?,
                            bit_offset: if kind_flag { raw & 0x00ff_ffff } else { raw },
                        });
                        off += 12;
                    }
                    Kind::Composite(members)
                }
                KIND_ENUM => {
                    let mut values = Vec::with_capacity(vlen);
                    for _ in 0..vlen {
                        values.push((u32_at(off)?, u32_at(off + 4)? as i32 as i64));
                        off += 8;
                    }
                    Kind::Enum(values)
                }
                KIND_ENUM64 => {
                    let mut values = Vec::with_capacity(vlen);
                    for _ in 0..vlen {
                        let lo = u32_at(off + 4)? as u64;
                        let hi = u32_at(off + 8)? as u64;
                        values.push((u32_at(off)?, (hi << 32 | lo) as i64));
                        off += 12;
                    }
                    Kind::Enum(values)
                }
                KIND_FUNC_PROTO => {
                    off += 8 * vlen;
                    Kind::Other
                }
                KIND_VAR | KIND_DECL_TAG => {
                    off += 4;
                    Kind::Other
                }
                KIND_DATASEC => {
                    off += 12 * vlen;
                    Kind::Other
                }
                KIND_FWD | KIND_FUNC | KIND_FLOAT => Kind::Other,
                _ => return Err("unknown type kind"),
            };
            types.push(Type {
                name,
                kind_id,
                size_or_type,
                kind,
            });
        }
        let mut btf = Btf {
            types,
            strings,
            by_name: HashMap::new(),
        };
        for id in 1..btf.types.len() as u32 {
            let name = btf.str_at(btf.types[id as usize].name);
            if !name.is_empty() {
                btf.by_name.entry(name.to_owned()).or_default().push(id);
            }
        }
        Ok(btf)
    }

    fn str_at(&self, off: u32) -> &str {
        let rest = self.strings.get(off as usize..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).unwrap_or_default()
    }

    fn ty(&self, id: u32) -> Option<&Type> {
        self.types.get(id as usize)
    }

    /// Follows typedefs and qualifiers (not pointers) to the underlying type.
    fn strip(&self, mut id: u32) -> u32 {
        for _ in 0..32 {
            match self.ty(id) {
                Some(t) if matches!(t.kind, Kind::Ref) && t.kind_id != KIND_PTR => {
                    id = t.size_or_type
                }
                _ => break,
            }
        }
        id
    }

    fn composite(&self, name: &str) -> Option<u32> {
        self.by_name
            .get(name)?
            .iter()
            .copied()
            .find(|&id| matches!(self.ty(id), Some(t) if t.kind_id == KIND_STRUCT || t.kind_id == KIND_UNION))
    }

    /// Finds `name` among the members of composite `id`, descending into
    /// anonymous structs and unions. Returns (bit offset, member type).
    fn member(&self, id: u32, name: &str) -> Option<(u32, u32)> {
        let Kind::Composite(members) = &self.ty(self.strip(id))?.kind else {
            return None;
        };
        for m in members {
            if m.name == 0 {
                if let Some((off, ty)) = self.member(m.ty, name) {
                    return Some((m.bit_offset + off, ty));
                }
            } else if self.str_at(m.name) == name {
                return Some((m.bit_offset, m.ty));
            }
        }
        None
    }

    /// Byte offset of `path` (members separated by dots, e.g. `ns.inum`)
    /// inside struct `strukt`.
    pub fn offset(&self, strukt: &str, path: &str) -> Result<u32, BtfError> {
        let missing = || BtfError::Missing(format!("{strukt}.{path}"));
        let mut id = self.composite(strukt).ok_or_else(missing)?;
        let mut bits = 0;
        for part in path.split('.') {
            let (off, ty) = self.member(id, part).ok_or_else(missing)?;
            bits += off;
            id = ty;
        }
        if bits % 8 != 0 {
            return Err(missing());
        }
        Ok(bits / 8)
    }

    /// Size in bytes of struct or union `name`.
    pub fn size_of(&self, name: &str) -> Result<u32, BtfError> {
        let id = self
            .composite(name)
            .ok_or_else(|| BtfError::Missing(name.to_owned()))?;
        Ok(self.types[id as usize].size_or_type)
    }

    /// Number of elements of the array member `path` of `strukt`.
    pub fn array_len(&self, strukt: &str, path: &str) -> Result<u32, BtfError> {
        let missing = || BtfError::Missing(format!("{strukt}.{path}[]"));
        let id = self.composite(strukt).ok_or_else(missing)?;
        let (_, ty) = self.member(id, path).ok_or_else(missing)?;
        match self.ty(self.strip(ty)).map(|t| &t.kind) {
            Some(Kind::Array { nelems, .. }) => Ok(*nelems),
            _ => Err(missing()),
        }
    }

    /// Value of the enum constant `name` (from any enum).
    pub fn enum_value(&self, name: &str) -> Option<i64> {
        self.types.iter().find_map(|t| match &t.kind {
            Kind::Enum(values) => values
                .iter()
                .find(|(n, _)| self.str_at(*n) == name)
                .map(|&(_, v)| v),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel() -> Option<Btf> {
        match Btf::from_sys_fs() {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("SKIP: no kernel BTF here: {e}");
                None
            }
        }
    }

    #[test]
    fn finds_task_struct_members() {
        let Some(btf) = kernel() else { return };
        // `pid` and `tgid` are adjacent pid_t members in every kernel.
        let pid = btf.offset("task_struct", "pid").unwrap();
        let tgid = btf.offset("task_struct", "tgid").unwrap();
        assert_eq!(tgid, pid + 4);
        // Reached through an anonymous union in sock_common.
        let num = btf.offset("sock_common", "skc_num").unwrap();
        let dport = btf.offset("sock_common", "skc_dport").unwrap();
        assert_eq!(num, dport + 2);
        assert!(btf.offset("mnt_namespace", "ns.inum").is_ok());
        assert!(btf.size_of("upid").unwrap() >= 12);
        assert!(btf.array_len("css_set", "subsys").unwrap() > 0);
    }

    #[test]
    fn enum_constants() {
        let Some(btf) = kernel() else { return };
        assert!(btf.enum_value("cpu_cgrp_id").is_some());
        assert!(btf.enum_value("no_such_constant_xyz").is_none());
    }

    #[test]
    fn rejects_garbage() {
        assert!(Btf::parse(b"not btf at all, not even close").is_err());
        assert!(Btf::parse(&[
            0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        ])
        .is_err());
    }
}
