//! Name spelling rules of the cluster zone: label checks, the dashed forms of IP addresses used
//! as endpoint and pod labels, and reverse (`in-addr.arpa` / `ip6.arpa`) names. Pure functions;
//! they never look at the cluster state.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;

/// True for a label we publish: 1 to 63 ASCII letters, digits and dashes. Kubernetes object
/// names and namespaces are DNS-1123 labels, which always pass; anything else is skipped.
pub(crate) fn is_valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `parent` with one more label in front; the label is lower-cased.
pub(crate) fn child(parent: &Name, label: &str) -> Option<Name> {
    parent
        .prepend_label(label.to_ascii_lowercase().into_bytes())
        .ok()
}

/// The label spelling an address: `10-0-0-1` for IPv4, the compressed IPv6 text with `:`
/// replaced by `-` (`2001-db8--1`).
pub(crate) fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

/// The address a dashed label spells, if it spells one (the inverse of [`dashed`]). Both the
/// compressed and the full IPv6 forms are accepted, and no other separators.
pub(crate) fn parse_dashed(label: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(label).ok()?;
    if text.is_empty() || text.len() > 45 {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return None;
    }
    let dots = text.replace('-', ".");
    if let Ok(v4) = dots.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    text.replace('-', ":")
        .parse::<Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

/// The reverse-lookup name of an address: `4.3.2.1.in-addr.arpa.` or the 32 nibbles under
/// `ip6.arpa.`.
pub(crate) fn reverse_name(ip: IpAddr) -> Option<Name> {
    let mut text = String::with_capacity(72);
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            let _ = write!(text, "{d}.{c}.{b}.{a}.in-addr.arpa.");
        }
        IpAddr::V6(v6) => {
            for byte in v6.octets().iter().rev() {
                let _ = write!(text, "{:x}.{:x}.", byte & 0x0f, byte >> 4);
            }
            text.push_str("ip6.arpa.");
        }
    }
    Name::from_ascii(&text).ok()
}

/// True when `name` is under `in-addr.arpa.` or `ip6.arpa.`.
pub(crate) fn is_reverse(name: &Name) -> bool {
    let mut labels = name.iter().rev();
    let (Some(last), Some(second)) = (labels.next(), labels.next()) else {
        return false;
    };
    last.eq_ignore_ascii_case(b"arpa")
        && (second.eq_ignore_ascii_case(b"in-addr") || second.eq_ignore_ascii_case(b"ip6"))
}
