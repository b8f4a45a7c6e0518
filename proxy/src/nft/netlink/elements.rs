//! Set and map elements as netlink: keys parsed from the same text `nft` reads
//! (`10.0.0.1 . tcp . 80`, `tcp . 30080`, `10.244.1.1 . 10.244.1.1`, `fd00::1`, and the
//! ranges `0-21845` of the endpoint maps), values `goto CHAIN` / `jump CHAIN` / `drop` /
//! `accept` or data (`10.244.1.1 . 8080`).
//!
//! A range `a-b` of an interval map (keys of `numgen`, in network byte order as nft stores
//! them) is two kernel elements, as nft sends it: `a` carrying the value, and `b+1` flagged
//! as the interval's end.

use std::net::IpAddr;

use super::Unsupported;
use super::expr::{LIST_ELEM, proto_number, verdict_data};
use super::wire::Attrs;
use crate::nft::transaction::{Family, Object, Op, TableId};

/// The key bytes of one component: an address, a protocol name or a port.
fn component(text: &str, family: Family) -> Result<Vec<u8>, Unsupported> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return match (ip, family) {
            (IpAddr::V4(v4), Family::Ip) => Ok(v4.octets().to_vec()),
            (IpAddr::V6(v6), Family::Ip6) => Ok(v6.octets().to_vec()),
            _ => Err(Unsupported::new(format!("{text} in the other family"))),
        };
    }
    if let Some(proto) = proto_number(text) {
        return Ok(vec![proto]);
    }
    if let Ok(port) = text.parse::<u16>() {
        return Ok(port.to_be_bytes().to_vec());
    }
    Err(Unsupported::new(format!("element key component {text:?}")))
}

/// The key of an element: one component as it is, several concatenated with each padded
/// to 4 bytes (the kernel's 32-bit registers).
fn key(text: &str, family: Family) -> Result<Vec<u8>, Unsupported> {
    let parts: Vec<&str> = text.split(" . ").map(str::trim).collect();
    if parts.len() == 1 {
        return component(parts[0], family);
    }
    let mut out = Vec::with_capacity(parts.len() * 4);
    for part in parts {
        out.extend(component(part, family)?);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }
    Ok(out)
}

/// A range key `a-b` of a `numgen` interval map: start and exclusive end, as big-endian u32.
fn range(text: &str) -> Option<([u8; 4], [u8; 4])> {
    let (a, b) = text.split_once('-')?;
    let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    let end = b.checked_add(1)?;
    (a <= b).then(|| (a.to_be_bytes(), end.to_be_bytes()))
}

/// A prefix `10.244.0.0/14` of an interval set: its first address and the first address
/// after it (a prefix reaching the end of the address space has no such address and is
/// left to `nft`).
fn prefix(text: &str, family: Family) -> Result<(Vec<u8>, Vec<u8>), Unsupported> {
    let unsupported = || Unsupported::new(format!("prefix element {text:?}"));
    let net: ipnet::IpNet = text.parse().map_err(|_| unsupported())?;
    let net = net.trunc();
    let (start, end) = match (net, family) {
        (ipnet::IpNet::V4(n), Family::Ip) => {
            let start = u32::from(n.network());
            let size = 1u64 << (32 - u32::from(n.prefix_len()));
            let end = u32::try_from(u64::from(start) + size).map_err(|_| unsupported())?;
            (start.to_be_bytes().to_vec(), end.to_be_bytes().to_vec())
        }
        (ipnet::IpNet::V6(n), Family::Ip6) => {
            let start = u128::from(n.network());
            let bits = 128 - u32::from(n.prefix_len());
            let size = 1u128.checked_shl(bits).ok_or_else(unsupported)?;
            let end = start.checked_add(size).ok_or_else(unsupported)?;
            (start.to_be_bytes().to_vec(), end.to_be_bytes().to_vec())
        }
        _ => return Err(unsupported()),
    };
    Ok((start, end))
}

/// What a map element maps to.
enum Value<'a> {
    Verdict(i32, Option<&'a str>),
    Data(Vec<u8>),
}

/// The value of a map element: a verdict, or data (`addr . port`) laid out like a key.
fn value(text: &str, family: Family) -> Result<Value<'_>, Unsupported> {
    match verdict(text) {
        Ok((code, chain)) => Ok(Value::Verdict(code, chain)),
        Err(_) => key(text, family).map(Value::Data),
    }
}

/// The verdict of a map value.
fn verdict(text: &str) -> Result<(i32, Option<&str>), Unsupported> {
    let mut words = text.split_whitespace();
    let parsed = match (words.next(), words.next(), words.next()) {
        (Some("goto"), Some(chain), None) => (-4, Some(chain)),
        (Some("jump"), Some(chain), None) => (-3, Some(chain)),
        (Some("drop"), None, None) => (0, None),
        (Some("accept"), None, None) => (1, None),
        _ => return Err(Unsupported::new(format!("map value {text:?}"))),
    };
    Ok(parsed)
}

/// `NFTA_SET_ELEM_FLAGS` value `NFT_SET_ELEM_INTERVAL_END`.
const INTERVAL_END: u32 = 1;

/// One element of the list: key, optional flags, optional value.
fn element(elements: &mut Attrs, key: &[u8], flags: Option<u32>, value: Option<&Value<'_>>) {
    elements.nest(LIST_ELEM, |elem| {
        elem.nest(1, |k| {
            k.bytes(1, key);
        });
        if let Some(flags) = flags {
            elem.be32(3, flags);
        }
        match value {
            Some(Value::Verdict(code, chain)) => verdict_data(elem, 2, *code, *chain),
            Some(Value::Data(data)) => {
                elem.nest(2, |d| {
                    d.bytes(1, data);
                });
            }
            None => {}
        }
    });
}

/// A `NEWSETELEM`/`DELSETELEM` body for `ops` (all elements of `set`).
pub(super) fn message(table: TableId, set: &str, ops: &[Op]) -> Result<Attrs, Unsupported> {
    let family = table.family;
    let mut elements = Attrs::default();
    for op in ops {
        let Object::Element {
            key: text,
            value: v,
            ..
        } = &op.object
        else {
            return Err(Unsupported::new("not an element"));
        };
        let value = match v {
            Some(v) if op.verb != crate::nft::transaction::Verb::Delete => Some(value(v, family)?),
            _ => None,
        };
        if let Some((start, end)) = range(text) {
            element(&mut elements, &start, None, value.as_ref());
            element(&mut elements, &end, Some(INTERVAL_END), None);
        } else if text.contains('/') {
            let (start, end) = prefix(text, family)?;
            element(&mut elements, &start, None, value.as_ref());
            element(&mut elements, &end, Some(INTERVAL_END), None);
        } else {
            element(&mut elements, &key(text, family)?, None, value.as_ref());
        }
    }
    let mut attrs = Attrs::default();
    attrs.str(1, &table.name()).str(2, set);
    let elements = elements.into_bytes();
    attrs.nest(3, |list| {
        list.raw(&elements);
    });
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_keys_pad_each_component() -> Result<(), Unsupported> {
        assert_eq!(
            key("10.0.0.1 . tcp . 80", Family::Ip)?,
            [10, 0, 0, 1, 6, 0, 0, 0, 0, 80, 0, 0]
        );
        assert_eq!(
            key("udp . 30053", Family::Ip)?,
            [17, 0, 0, 0, 0x75, 0x65, 0, 0]
        );
        assert_eq!(key("10.0.0.1", Family::Ip)?, [10, 0, 0, 1]);
        assert_eq!(key("fd00::1 . fd00::1", Family::Ip6)?.len(), 32);
        assert!(key("10.0.0.1", Family::Ip6).is_err());
        assert!(key("10.0.0.0/8", Family::Ip).is_err());
        assert_eq!(
            prefix("10.244.0.0/14", Family::Ip)?,
            (vec![10, 244, 0, 0], vec![10, 248, 0, 0])
        );
        assert!(prefix("0.0.0.0/0", Family::Ip).is_err());
        assert!(prefix("fd00::/8", Family::Ip).is_err());
        assert_eq!(prefix("fd00::/64", Family::Ip6)?.1[7], 1);
        Ok(())
    }

    #[test]
    fn ranges_are_start_and_exclusive_end_in_network_order() {
        assert_eq!(range("0-21845"), Some(([0, 0, 0, 0], [0, 0, 0x55, 0x56])));
        assert_eq!(
            range("43691-65535"),
            Some(([0, 0, 0xaa, 0xab], [0, 1, 0, 0]))
        );
        assert_eq!(range("5-4"), None);
        assert_eq!(range("10.0.0.1"), None);
        assert!(
            matches!(value("10.0.0.1 . 8080", Family::Ip), Ok(Value::Data(d)) if d == [10, 0, 0, 1, 0x1f, 0x90, 0, 0])
        );
    }

    #[test]
    fn values_are_verdicts() {
        assert_eq!(verdict("goto service-x"), Ok((-4, Some("service-x"))));
        assert_eq!(verdict("drop"), Ok((0, None)));
        assert!(verdict("10.0.0.1").is_err());
    }
}
