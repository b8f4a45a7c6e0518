//! Set and map types: what `add set` / `add map` declare.

use std::fmt;

use crate::model::Protocol;
use crate::nft::transaction::Family;

/// A data type of a set key (or of one part of a concatenated key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `ipv4_addr`.
    Ipv4Addr,
    /// `ipv6_addr`.
    Ipv6Addr,
    /// `inet_proto`.
    InetProto,
    /// `inet_service`.
    InetService,
}

impl DataType {
    /// The address type of `family`.
    pub fn addr(family: Family) -> DataType {
        match family {
            Family::Ip => DataType::Ipv4Addr,
            Family::Ip6 => DataType::Ipv6Addr,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataType::Ipv4Addr => "ipv4_addr",
            DataType::Ipv6Addr => "ipv6_addr",
            DataType::InetProto => "inet_proto",
            DataType::InetService => "inet_service",
        })
    }
}

/// The key of a set or map.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `type A [. B …]`: data types, concatenated.
    Type(Vec<DataType>),
    /// `typeof numgen random mod N`: an endpoint map's draw.
    NumgenRandom {
        /// The modulus.
        modulus: u32,
    },
}

impl KeyType {
    /// `type A [. B …]`.
    pub fn of(types: impl IntoIterator<Item = DataType>) -> KeyType {
        KeyType::Type(types.into_iter().collect())
    }
}

impl fmt::Display for KeyType {
    /// The declaration: `type ipv4_addr . inet_proto` or `typeof numgen random mod 65536`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::Type(types) => {
                f.write_str("type ")?;
                for (i, t) in types.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" . ")?;
                    }
                    write!(f, "{t}")?;
                }
                Ok(())
            }
            KeyType::NumgenRandom { modulus } => write!(f, "typeof numgen random mod {modulus}"),
        }
    }
}

/// The value of a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `verdict`.
    Verdict,
    /// `ip daddr . tcp dport` (with a `typeof` key): an endpoint's address and port.
    DaddrDport {
        /// The address family.
        family: Family,
        /// The protocol the port belongs to.
        proto: Protocol,
    },
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueType::Verdict => f.write_str("verdict"),
            ValueType::DaddrDport { family, proto } => write!(f, "{family} daddr . {proto} dport"),
        }
    }
}

/// A set flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetFlag {
    /// `interval`: elements are ranges or prefixes.
    Interval,
    /// `dynamic`: the data path adds elements.
    Dynamic,
    /// `timeout`: elements expire.
    Timeout,
}

impl fmt::Display for SetFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SetFlag::Interval => "interval",
            SetFlag::Dynamic => "dynamic",
            SetFlag::Timeout => "timeout",
        })
    }
}
