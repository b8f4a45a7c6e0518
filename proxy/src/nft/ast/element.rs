//! Set and map elements: keys and values.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use ipnet::IpNet;

use super::Verdict;
use crate::model::Protocol;

/// One part of a key or data value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// An address.
    Addr(IpAddr),
    /// A protocol (`tcp`).
    Proto(Protocol),
    /// A port.
    Port(u16),
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Addr(ip) => write!(f, "{ip}"),
            Part::Proto(proto) => write!(f, "{proto}"),
            Part::Port(port) => write!(f, "{port}"),
        }
    }
}

fn write_parts(f: &mut fmt::Formatter<'_>, parts: &[Part]) -> fmt::Result {
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            f.write_str(" . ")?;
        }
        write!(f, "{part}")?;
    }
    Ok(())
}

/// What a key holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyData {
    /// One value or a concatenation (`10.0.0.1 . tcp . 80`).
    Concat(Vec<Part>),
    /// A prefix of an interval set (`10.244.0.0/16`).
    Prefix(IpNet),
    /// A range `START-END` (inclusive) of an interval map keyed by `numgen`.
    Range {
        /// First value.
        start: u32,
        /// Last value.
        end: u32,
    },
}

impl fmt::Display for KeyData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyData::Concat(parts) => write_parts(f, parts),
            KeyData::Prefix(net) => write!(f, "{net}"),
            KeyData::Range { start, end } => write!(f, "{start}-{end}"),
        }
    }
}

/// An element key. Keys compare, sort and hash by their nft text (kept beside the data), so
/// transactions list elements in the order an operator reading them expects and golden files
/// stay stable; the encoder reads [`Key::data`].
#[derive(Debug, Clone)]
pub struct Key {
    data: KeyData,
    text: Box<str>,
}

impl Key {
    /// A key of `data`.
    pub fn new(data: KeyData) -> Key {
        let text = data.to_string().into_boxed_str();
        Key { data, text }
    }

    /// A one-value or concatenated key.
    pub fn concat(parts: impl IntoIterator<Item = Part>) -> Key {
        Key::new(KeyData::Concat(parts.into_iter().collect()))
    }

    /// An address key.
    pub fn addr(ip: IpAddr) -> Key {
        Key::concat([Part::Addr(ip)])
    }

    /// A prefix key.
    pub fn prefix(net: IpNet) -> Key {
        Key::new(KeyData::Prefix(net))
    }

    /// A range key `start-end`.
    pub fn range(start: u32, end: u32) -> Key {
        Key::new(KeyData::Range { start, end })
    }

    /// What the key holds.
    pub fn data(&self) -> &KeyData {
        &self.data
    }

    /// The key as nft text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.text == other.text
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        self.text.cmp(&other.text)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The value of a map element.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// A verdict (`goto service-…`).
    Verdict(Verdict),
    /// Data (`10.244.1.1 . 8080`).
    Data(Vec<Part>),
}

impl Value {
    /// The chain a verdict value names.
    pub fn chain(&self) -> Option<&str> {
        match self {
            Value::Verdict(verdict) => verdict.chain(),
            Value::Data(_) => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Verdict(verdict) => write!(f, "{verdict}"),
            Value::Data(parts) => write_parts(f, parts),
        }
    }
}
