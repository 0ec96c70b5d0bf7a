//! The Linux x86_64 ABI values both sides read records by, named once: the
//! eBPF programs may not link libc, and userspace decodes records captured on
//! another machine (a capture file), so these are the ABI's, not the host
//! libc's.

/// Address families (`sa_family`, `sk_family`).
pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// `errno` of a non-blocking `connect` still under way.
pub const EINPROGRESS: i64 = 115;

/// `open(2)` flags.
pub const O_CREAT: u32 = 0o100;
pub const O_WRONLY: u32 = 0o1;
pub const O_TRUNC: u32 = 0o1000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_CLOEXEC: u32 = 0o2000000;
/// `SOCK_CLOEXEC` equals `O_CLOEXEC` on x86_64.
pub const SOCK_CLOEXEC: u32 = O_CLOEXEC;

/// `fcntl(2)` commands and the descriptor flag they set.
pub const F_DUPFD: u64 = 0;
pub const F_SETFD: u64 = 2;
pub const F_DUPFD_CLOEXEC: u64 = 1030;
pub const FD_CLOEXEC: u64 = 1;

/// A `#[repr(int)]` enum sent across the kernel/user boundary, with the
/// `TryFrom` that turns a raw value into it (a bad tag is an error, never
/// undefined behaviour).
///
/// ```
/// tracer_common::wire_enum! {
///     /// A colour.
///     #[derive(Clone, Copy, Debug, PartialEq, Eq)]
///     pub enum Colour: u8 { Red = 1, Green = 2 }
/// }
/// assert_eq!(Colour::try_from(2), Ok(Colour::Green));
/// assert_eq!(Colour::try_from(3), Err(3));
/// ```
#[macro_export]
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident: $repr:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:expr ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr($repr)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant = $value ),+
        }

        impl TryFrom<$repr> for $name {
            type Error = $repr;
            #[inline(always)]
            fn try_from(v: $repr) -> Result<Self, $repr> {
                $( if v == $value { return Ok(Self::$variant); } )+
                Err(v)
            }
        }
    };
}
