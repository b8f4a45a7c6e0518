//! Set and map elements as netlink, from their typed keys and values: addresses, protocols,
//! ports and their concatenations, prefixes of interval sets (`10.244.0.0/14`), the ranges
//! `0-21845` of the endpoint maps; values are verdicts or data (`10.244.1.1 . 8080`).
//!
//! A range `a-b` of an interval map (keys of `numgen`, in network byte order as nft stores
//! them) is two kernel elements, as nft sends it: `a` carrying the value, and `b+1` flagged
//! as the interval's end. A prefix likewise: its first address, and the first address after
//! it; a prefix reaching the end of the address space (`0.0.0.0/0`, `128.0.0.0/1`) has no
//! address after it and is its first address alone, as nft sends it.

use std::net::IpAddr;

use super::Unsupported;
use super::expr::{LIST_ELEM, proto_number, verdict_data};
use super::wire::Attrs;
use crate::nft::ast::{Key, KeyData, Part, Value};
use crate::nft::transaction::{Family, Object, Op, TableId, Verb};

/// The bytes of one part: an address, a protocol or a port.
fn part(part: &Part, family: Family) -> Result<Vec<u8>, Unsupported> {
    match (part, family) {
        (Part::Addr(IpAddr::V4(v4)), Family::Ip) => Ok(v4.octets().to_vec()),
        (Part::Addr(IpAddr::V6(v6)), Family::Ip6) => Ok(v6.octets().to_vec()),
        (Part::Addr(ip), _) => Err(Unsupported::new(format!("{ip} in an {family} table"))),
        (Part::Proto(proto), _) => Ok(vec![proto_number(*proto)]),
        (Part::Port(port), _) => Ok(port.to_be_bytes().to_vec()),
    }
}

/// One part as it is, several concatenated with each padded to 4 bytes (the kernel's 32-bit
/// registers).
fn concat(parts: &[Part], family: Family) -> Result<Vec<u8>, Unsupported> {
    if let [one] = parts {
        return part(one, family);
    }
    let mut out = Vec::with_capacity(parts.len() * 4);
    for p in parts {
        out.extend(part(p, family)?);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }
    Ok(out)
}

/// A prefix of an interval set: its first address and the first address after it (`None`
/// when the prefix reaches the end of the address space).
type Bounds = (Vec<u8>, Option<Vec<u8>>);

fn prefix(net: &ipnet::IpNet, family: Family) -> Result<Bounds, Unsupported> {
    let net = net.trunc();
    match (net, family) {
        (ipnet::IpNet::V4(n), Family::Ip) => {
            let start = u32::from(n.network());
            let end = u32::from(n.broadcast()).checked_add(1);
            Ok((
                start.to_be_bytes().to_vec(),
                end.map(|e| e.to_be_bytes().to_vec()),
            ))
        }
        (ipnet::IpNet::V6(n), Family::Ip6) => {
            let start = u128::from(n.network());
            let end = u128::from(n.broadcast()).checked_add(1);
            Ok((
                start.to_be_bytes().to_vec(),
                end.map(|e| e.to_be_bytes().to_vec()),
            ))
        }
        _ => Err(Unsupported::new(format!("{net} in an {family} table"))),
    }
}

/// A range key `start-end`: start and exclusive end, as big-endian u32.
fn range(start: u32, end: u32) -> Result<([u8; 4], [u8; 4]), Unsupported> {
    let after = end
        .checked_add(1)
        .filter(|_| start <= end)
        .ok_or_else(|| Unsupported::new(format!("range {start}-{end}")))?;
    Ok((start.to_be_bytes(), after.to_be_bytes()))
}

/// `NFTA_SET_ELEM_FLAGS` value `NFT_SET_ELEM_INTERVAL_END`.
const INTERVAL_END: u32 = 1;

/// What an element maps to, encoded.
enum Encoded<'a> {
    Verdict(&'a crate::nft::ast::Verdict),
    Data(Vec<u8>),
}

/// One element of the list: key, optional flags, optional value.
fn element(elements: &mut Attrs, key: &[u8], flags: Option<u32>, value: Option<&Encoded<'_>>) {
    elements.nest(LIST_ELEM, |elem| {
        elem.nest(1, |k| {
            k.bytes(1, key);
        });
        if let Some(flags) = flags {
            elem.be32(3, flags);
        }
        match value {
            Some(Encoded::Verdict(verdict)) => verdict_data(elem, 2, verdict),
            Some(Encoded::Data(data)) => {
                elem.nest(2, |d| {
                    d.bytes(1, data);
                });
            }
            None => {}
        }
    });
}

/// Appends the kernel elements of one key (two for an interval).
fn key(
    elements: &mut Attrs,
    key: &Key,
    family: Family,
    value: Option<&Encoded<'_>>,
) -> Result<(), Unsupported> {
    match key.data() {
        KeyData::Concat(parts) => element(elements, &concat(parts, family)?, None, value),
        KeyData::Prefix(net) => {
            let (start, end) = prefix(net, family)?;
            element(elements, &start, None, value);
            if let Some(end) = end {
                element(elements, &end, Some(INTERVAL_END), None);
            }
        }
        KeyData::Range { start, end } => {
            let (start, end) = range(*start, *end)?;
            element(elements, &start, None, value);
            element(elements, &end, Some(INTERVAL_END), None);
        }
    }
    Ok(())
}

/// A `NEWSETELEM`/`DELSETELEM` body for `ops` (all elements of `set`).
pub(super) fn message(table: TableId, set: &str, ops: &[Op]) -> Result<Attrs, Unsupported> {
    let family = table.family;
    let mut elements = Attrs::default();
    for op in ops {
        let Object::Element {
            key: k, value: v, ..
        } = &op.object
        else {
            return Err(Unsupported::new("not an element"));
        };
        let value = match v {
            Some(Value::Verdict(verdict)) if op.verb != Verb::Delete => {
                Some(Encoded::Verdict(verdict))
            }
            Some(Value::Data(parts)) if op.verb != Verb::Delete => {
                Some(Encoded::Data(concat(parts, family)?))
            }
            _ => None,
        };
        key(&mut elements, k, family, value.as_ref())?;
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
    use crate::model::Protocol;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn concatenated_keys_pad_each_part() -> Result<(), Unsupported> {
        let service = [
            Part::Addr(ip("10.0.0.1")),
            Part::Proto(Protocol::Tcp),
            Part::Port(80),
        ];
        assert_eq!(
            concat(&service, Family::Ip)?,
            [10, 0, 0, 1, 6, 0, 0, 0, 0, 80, 0, 0]
        );
        assert_eq!(
            concat(&[Part::Proto(Protocol::Udp), Part::Port(30053)], Family::Ip)?,
            [17, 0, 0, 0, 0x75, 0x65, 0, 0]
        );
        assert_eq!(
            concat(&[Part::Addr(ip("10.0.0.1"))], Family::Ip)?,
            [10, 0, 0, 1]
        );
        let pair = [Part::Addr(ip("fd00::1")), Part::Addr(ip("fd00::1"))];
        assert_eq!(concat(&pair, Family::Ip6)?.len(), 32);
        assert!(concat(&[Part::Addr(ip("10.0.0.1"))], Family::Ip6).is_err());
        let net = |text: &str| text.parse::<ipnet::IpNet>().unwrap_or_default();
        assert_eq!(
            prefix(&net("10.244.0.0/14"), Family::Ip)?,
            (vec![10, 244, 0, 0], Some(vec![10, 248, 0, 0]))
        );
        // To the end of the address space: the start alone, as nft sends it.
        assert_eq!(
            prefix(&net("0.0.0.0/0"), Family::Ip)?,
            (vec![0, 0, 0, 0], None)
        );
        assert_eq!(prefix(&net("128.0.0.0/1"), Family::Ip)?.1, None);
        assert_eq!(prefix(&net("::/0"), Family::Ip6)?.1, None);
        assert!(prefix(&net("fd00::/8"), Family::Ip).is_err());
        assert_eq!(
            prefix(&net("fd00::/64"), Family::Ip6)?.1.map(|end| end[7]),
            Some(1)
        );
        Ok(())
    }

    #[test]
    fn ranges_are_start_and_exclusive_end_in_network_order() {
        assert_eq!(range(0, 21845), Ok(([0, 0, 0, 0], [0, 0, 0x55, 0x56])));
        assert_eq!(range(43691, 65535), Ok(([0, 0, 0xaa, 0xab], [0, 1, 0, 0])));
        assert!(range(5, 4).is_err());
        assert!(range(0, u32::MAX).is_err());
        let data = [Part::Addr(ip("10.0.0.1")), Part::Port(8080)];
        assert_eq!(
            concat(&data, Family::Ip),
            Ok(vec![10, 0, 0, 1, 0x1f, 0x90, 0, 0])
        );
    }
}
