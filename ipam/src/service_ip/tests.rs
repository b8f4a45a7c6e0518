use std::collections::HashSet;
use std::net::IpAddr;

use super::*;
use crate::test_support::{failure, ip, net};

/// Allocates until full and returns what was handed out.
fn drain(alloc: &mut ServiceIpAllocator) -> Vec<IpAddr> {
    let mut out = Vec::new();
    while let Ok(ip) = alloc.allocate_next() {
        out.push(ip);
        assert!(out.len() <= 1 << 20, "allocator never reported full");
    }
    out
}

#[test]
fn kubernetes_ip_is_network_plus_one() -> Result<(), AllocError> {
    assert_eq!(
        ServiceIpAllocator::new(net("10.96.0.0/12"))?.kubernetes_ip(),
        ip("10.96.0.1")
    );
    assert_eq!(
        ServiceIpAllocator::new(net("fd00:10:96::/112"))?.kubernetes_ip(),
        ip("fd00:10:96::1")
    );
    Ok(())
}

#[test]
fn kubernetes_ip_is_allocated_like_any_static_request() -> Result<(), AllocError> {
    let mut alloc = ServiceIpAllocator::new(net("10.96.0.0/24"))?;
    let kubernetes = alloc.kubernetes_ip();
    assert!(!alloc.is_allocated(kubernetes));
    alloc.allocate(kubernetes)?;
    assert!(alloc.is_allocated(kubernetes));
    assert!(failure(alloc.allocate(kubernetes)).is_already_allocated());
    Ok(())
}

#[test]
fn ipv4_slash_28_hands_out_14_distinct_addresses_then_is_full() -> Result<(), AllocError> {
    let mut alloc = ServiceIpAllocator::with_seed(net("10.96.0.0/28"), 3)?;
    let got = drain(&mut alloc);
    let distinct: HashSet<IpAddr> = got.iter().copied().collect();
    assert_eq!(got.len(), 14);
    assert_eq!(distinct.len(), 14);
    assert!(
        !distinct.contains(&ip("10.96.0.0")),
        "network address handed out"
    );
    assert!(
        !distinct.contains(&ip("10.96.0.15")),
        "broadcast address handed out"
    );
    let err = failure(alloc.allocate_next());
    assert!(err.is_full());
    assert_eq!(
        err.to_string(),
        "range 10.96.0.0/28 (usable 10.96.0.1-10.96.0.14, 14 addresses) is full: every usable \
         value is allocated"
    );
    assert_eq!((alloc.used(), alloc.free(), alloc.size()), (14, 0, 14));
    Ok(())
}

#[test]
fn edge_prefixes() -> Result<(), AllocError> {
    for cidr in ["10.0.0.0/32", "10.0.0.0/31", "fd00::/128"] {
        let err = failure(ServiceIpAllocator::new(net(cidr)));
        assert!(err.is_invalid_range(), "{cidr}: {err}");
    }
    for (cidr, expected) in [
        ("10.0.0.0/30", vec!["10.0.0.1", "10.0.0.2"]),
        ("fd00::/127", vec!["fd00::1"]),
        ("fd00::/126", vec!["fd00::1", "fd00::2", "fd00::3"]),
    ] {
        let mut alloc = ServiceIpAllocator::new(net(cidr))?;
        let mut got = drain(&mut alloc);
        got.sort();
        let expected: Vec<IpAddr> = expected.into_iter().map(ip).collect();
        assert_eq!(got, expected, "{cidr}");
        assert!(failure(alloc.allocate_next()).is_full(), "{cidr}");
    }
    Ok(())
}

#[test]
fn out_of_range_covers_excluded_foreign_and_other_family() -> Result<(), AllocError> {
    let mut alloc = ServiceIpAllocator::new(net("10.96.0.0/24"))?;
    for bad in ["10.96.0.0", "10.96.0.255", "10.96.1.1", "fd00::1"] {
        let err = failure(alloc.allocate(ip(bad)));
        assert!(err.is_out_of_range(), "{bad}: {err}");
        assert!(!alloc.release(ip(bad)));
        assert!(!alloc.is_allocated(ip(bad)));
    }
    let err = failure(alloc.allocate(ip("10.96.0.0")));
    assert_eq!(
        err.to_string(),
        "10.96.0.0 is not in the range 10.96.0.0/24 (usable 10.96.0.1-10.96.0.254, 254 addresses)"
    );
    Ok(())
}

#[test]
fn release_frees_once() -> Result<(), AllocError> {
    let mut alloc = ServiceIpAllocator::new(net("10.96.0.0/24"))?;
    let taken = alloc.allocate_next()?;
    assert!(alloc.release(taken));
    assert!(!alloc.release(taken), "second release");
    assert!(!alloc.is_allocated(taken));
    alloc.allocate(taken)?;
    assert_eq!(alloc.used(), 1);
    Ok(())
}

#[test]
fn dynamic_allocation_avoids_the_static_band_until_the_rest_is_full() -> Result<(), AllocError> {
    // /24: static band is .1-.16 (16 addresses), dynamic band .17-.254 (238 addresses).
    let mut alloc = ServiceIpAllocator::with_seed(net("10.96.0.0/24"), 11)?;
    assert_eq!(
        alloc.static_band(),
        Some((ip("10.96.0.1"), ip("10.96.0.16")))
    );
    for _ in 0..238 {
        let got = alloc.allocate_next()?;
        assert!(
            !alloc.in_static_band(got),
            "{got} taken from the static band too early"
        );
    }
    // A user's static request still succeeds.
    alloc.allocate(ip("10.96.0.10"))?;
    for _ in 0..15 {
        let got = alloc.allocate_next()?;
        assert!(alloc.in_static_band(got));
    }
    assert!(failure(alloc.allocate_next()).is_full());
    Ok(())
}

#[test]
fn large_ipv4_range_has_a_256_address_static_band() -> Result<(), AllocError> {
    let alloc = ServiceIpAllocator::new(net("10.96.0.0/12"))?;
    assert_eq!(
        alloc.static_band(),
        Some((ip("10.96.0.1"), ip("10.96.1.0")))
    );
    assert_eq!(alloc.size(), (1 << 20) - 2);
    Ok(())
}

#[test]
fn ipv6_slash_64_allocates_without_a_bitmap() -> Result<(), AllocError> {
    let cidr = net("fd00:10:96::/64");
    let mut alloc = ServiceIpAllocator::new(cidr)?;
    assert_eq!(alloc.size(), (1u128 << 64) - 1);
    let mut seen = HashSet::new();
    for _ in 0..1000 {
        let got = alloc.allocate_next()?;
        assert!(cidr.contains(&got));
        assert!(!alloc.in_static_band(got));
        assert!(seen.insert(got), "{got} handed out twice");
    }
    assert_eq!(alloc.used(), 1000);
    let last = ip("fd00:10:96::ffff:ffff:ffff:ffff");
    alloc.allocate(last)?;
    assert!(alloc.is_allocated(last));
    assert_eq!(alloc.allocated().count(), 1001);
    Ok(())
}

#[test]
fn allocated_iterates_in_address_order() -> Result<(), AllocError> {
    let mut alloc = ServiceIpAllocator::new(net("10.96.0.0/24"))?;
    for text in ["10.96.0.200", "10.96.0.3", "10.96.0.77"] {
        alloc.allocate(ip(text))?;
    }
    let got: Vec<IpAddr> = alloc.allocated().collect();
    assert_eq!(
        got,
        vec![ip("10.96.0.3"), ip("10.96.0.77"), ip("10.96.0.200")]
    );
    Ok(())
}
