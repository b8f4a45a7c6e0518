//! Names of the per-service chains and sets: a readable part (`ns/name/proto/port`) that an
//! operator can grep for, prefixed with a short stable hash of the full identity so names stay
//! unique even when the readable part is truncated or sanitized.
//!
//! The hash is FNV-1a (64 bit), spelled out here so names never change between Rust releases
//! (std's hasher makes no such promise): a restarted proxy must compute the same names to adopt
//! the chains it left behind. This module only computes strings.

use std::fmt::Write as _;
use std::time::Duration;

use crate::model::{Endpoint, ServicePortId};

use super::transaction::MAX_NAME_LEN;

/// FNV-1a, 64 bit.
fn fnv1a(data: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in data {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// `chars` base32 characters (5 bits each, at most 12) of the hash of `identity`.
fn hash_chars(identity: &str, chars: u32) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let hash = fnv1a(identity.as_bytes());
    (0..chars.min(12))
        .map(|i| char::from(ALPHABET[((hash >> (59 - 5 * i)) & 31) as usize]))
        .collect()
}

/// Eight base32 characters (40 bits) of the hash of `identity`.
fn short_hash(identity: &str) -> String {
    hash_chars(identity, 8)
}

/// Keeps characters nft accepts in an unquoted name; anything else becomes `_` (and `:` of
/// IPv6 addresses becomes `.`).
fn sanitize(out: &mut String, text: &str) {
    out.extend(text.chars().map(|c| match c {
        'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' | '/' => c,
        ':' => '.',
        _ => '_',
    }));
}

fn build(prefix: &str, identity: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + 10 + identity.len());
    name.push_str(prefix);
    name.push('-');
    name.push_str(&short_hash(identity));
    name.push('-');
    sanitize(&mut name, identity);
    // Sanitized text is ASCII, so any byte index is a char boundary.
    name.truncate(MAX_NAME_LEN);
    name
}

/// The service shard (`0..shards`) a service's ports live in: a hash of `namespace/name`, so
/// every port of a service shares one table and a restarted proxy finds them where it left
/// them (as long as the shard count is unchanged; a full sync moves them otherwise).
pub fn shard_of(id: &ServicePortId, shards: u16) -> u16 {
    let identity = format!("{}/{}", id.namespace, id.name);
    // The remainder is below `shards`, which is a u16.
    (fnv1a(identity.as_bytes()) % u64::from(shards.max(1))) as u16
}

/// The readable identity of a service port: `ns/name/proto/port-name` (port number when the
/// port is unnamed).
pub fn port_identity(id: &ServicePortId, port: u16) -> String {
    let mut s = format!("{}/{}/{}/", id.namespace, id.name, id.protocol);
    if id.port_name.is_empty() {
        let _ = write!(s, "{port}");
    } else {
        s.push_str(&id.port_name);
    }
    s
}

/// The readable identity of one endpoint of a service port.
fn endpoint_identity(port_identity: &str, endpoint: &Endpoint) -> String {
    format!("{port_identity}__{}/{}", endpoint.ip, endpoint.port)
}

/// The chain that load-balances ClusterIP traffic of a service port.
pub fn service_chain(port_identity: &str) -> String {
    build("service", port_identity)
}

/// The chain for external traffic (NodePort, externalIPs, LB IPs) of a service port.
pub fn external_chain(port_identity: &str) -> String {
    build("external", port_identity)
}

/// The chain LB IP traffic of a service port with `loadBalancerSourceRanges` goes through:
/// sources in [`source_ranges_set`] go on to the external chain, the rest are dropped.
pub fn firewall_chain(port_identity: &str) -> String {
    build("firewall", port_identity)
}

/// The interval set of sources allowed to reach a service port's LB IPs (short like
/// [`endpoints_map`]; the readable identity is its comment).
pub fn source_ranges_set(port_identity: &str) -> String {
    format!("src-{}", hash_chars(port_identity, 12))
}

/// The interval map from `numgen random mod 65536` to the endpoint (`addr . port`) that
/// ClusterIP traffic of a service port goes to.
///
/// Map names are short on purpose (`ep-` and 60 bits of hash; the readable identity is the
/// map's comment): the kernel finds a set by name with a walk over all of the table's sets
/// that measures each name, so at 10k services a full sync spent most of its time in that
/// walk, and halving the name length halved it.
pub fn endpoints_map(port_identity: &str) -> String {
    format!("ep-{}", hash_chars(port_identity, 12))
}

/// [`endpoints_map`] for external traffic, when its endpoints differ (a Local policy).
pub fn external_endpoints_map(port_identity: &str) -> String {
    format!("xep-{}", hash_chars(port_identity, 12))
}

/// The dynamic set remembering clients pinned to one endpoint. The timeout is part of the hash:
/// a set's timeout cannot be changed in place, so a new timeout means a new set.
pub fn affinity_set(port_identity: &str, endpoint: &Endpoint, timeout: Duration) -> String {
    let identity = endpoint_identity(port_identity, endpoint);
    let mut name = build("affinity", &format!("{identity}@{}", timeout.as_secs()));
    // Keep the readable part free of the timeout so the name reads as the endpoint it pins to.
    let readable_start = "affinity-".len() + 9;
    name.truncate(readable_start);
    sanitize(&mut name, &identity);
    name.truncate(MAX_NAME_LEN);
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;
    use std::net::IpAddr;

    fn id(ns: &str, name: &str, port_name: &str) -> ServicePortId {
        ServicePortId {
            namespace: ns.into(),
            name: name.into(),
            port_name: port_name.into(),
            protocol: Protocol::Tcp,
        }
    }

    fn ep(ip: &str) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            port: 8080,
            ready: true,
            serving: true,
            terminating: false,
            node_name: None,
            is_local: false,
        }
    }

    #[test]
    fn names_are_readable_stable_and_distinct() {
        let a = port_identity(&id("default", "web", "http"), 80);
        assert_eq!(a, "default/web/tcp/http");
        let chain = service_chain(&a);
        assert!(chain.starts_with("service-"), "{chain}");
        assert!(chain.ends_with("-default/web/tcp/http"), "{chain}");
        assert_eq!(chain, service_chain(&a), "deterministic");
        assert_ne!(service_chain(&a), external_chain(&a));
        let b = port_identity(&id("default", "web", ""), 80);
        assert_eq!(b, "default/web/tcp/80");
        assert_ne!(short_hash(&a), short_hash(&b));
    }

    #[test]
    fn ipv6_endpoints_are_sanitized_and_long_names_truncated() {
        let p = port_identity(&id("ns", "svc", "p"), 1);
        let timeout = Duration::from_secs(10);
        let set = affinity_set(&p, &ep("fd00::1"), timeout);
        assert!(set.ends_with("__fd00..1/8080"), "{set}");
        let long = port_identity(&id(&"n".repeat(63), &"s".repeat(63), &"p".repeat(15)), 1);
        let e = ep("fd00:1111:2222:3333:4444:5555:6666:7777");
        let chain = affinity_set(&long, &e, timeout);
        assert!(chain.len() <= MAX_NAME_LEN);
        let other = affinity_set(
            &long,
            &ep("fd00:1111:2222:3333:4444:5555:6666:7778"),
            timeout,
        );
        assert_ne!(chain, other, "hash keeps truncated names unique");
    }

    #[test]
    fn affinity_set_changes_with_timeout() {
        let p = port_identity(&id("ns", "svc", "p"), 1);
        let a = affinity_set(&p, &ep("10.0.0.1"), Duration::from_secs(10));
        let b = affinity_set(&p, &ep("10.0.0.1"), Duration::from_secs(20));
        assert_ne!(a, b);
        assert!(
            a.starts_with("affinity-") && a.ends_with("__10.0.0.1/8080"),
            "{a}"
        );
    }
}
