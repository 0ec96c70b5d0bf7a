//! One direction of a connection, as the kernel's connection tracking
//! keys it: protocol, source and destination.

use std::fmt;
use std::net::SocketAddr;

/// IP protocol numbers of the flows followed.
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// IP protocol number ([`TCP`], [`UDP`]).
    pub proto: u8,
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

impl Flow {
    /// The other direction of the same flow.
    #[must_use]
    pub fn reversed(self) -> Flow {
        Flow {
            proto: self.proto,
            src: self.dst,
            dst: self.src,
        }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}", self.src, self.dst)
    }
}
