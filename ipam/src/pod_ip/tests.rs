use super::*;
use crate::test_support::{failure, ip, net};

#[test]
fn slash_24_skips_network_gateway_and_broadcast() -> Result<(), AllocError> {
    let mut alloc = PodIpAllocator::new(net("10.244.1.0/24"))?;
    assert_eq!(alloc.gateway(), ip("10.244.1.1"));
    assert_eq!(alloc.size(), 253);
    assert_eq!(alloc.allocate_next()?, ip("10.244.1.2"));
    for _ in 1..253 {
        alloc.allocate_next()?;
    }
    assert!(alloc.is_allocated(ip("10.244.1.254")));
    assert!(!alloc.is_allocated(ip("10.244.1.255")));
    let err = failure(alloc.allocate_next());
    assert!(err.is_full());
    assert!(
        err.to_string()
            .contains("10.244.1.2-10.244.1.254, 253 addresses"),
        "{err}"
    );
    for reserved in ["10.244.1.0", "10.244.1.1", "10.244.1.255"] {
        assert!(failure(alloc.allocate(ip(reserved))).is_out_of_range());
    }
    Ok(())
}

#[test]
fn released_ip_is_not_reused_immediately() -> Result<(), AllocError> {
    let mut alloc = PodIpAllocator::new(net("10.244.1.0/29"))?;
    let a = alloc.allocate_next()?;
    let b = alloc.allocate_next()?;
    assert!(alloc.release(a));
    assert!(!alloc.release(a));
    assert_eq!(alloc.allocate_next()?, ip("10.244.1.4"));
    assert_eq!(alloc.allocate_next()?, ip("10.244.1.5"));
    assert_eq!(alloc.allocate_next()?, ip("10.244.1.6"));
    assert_eq!(
        alloc.allocate_next()?,
        a,
        "wraps round to the released IP last"
    );
    assert!(alloc.is_allocated(b));
    assert!(failure(alloc.allocate_next()).is_full());
    Ok(())
}

#[test]
fn edge_prefixes() -> Result<(), AllocError> {
    for cidr in ["10.0.0.0/32", "10.0.0.0/31", "fd00::/128", "fd00::/127"] {
        let err = failure(PodIpAllocator::new(net(cidr)));
        assert!(err.is_invalid_range(), "{cidr}: {err}");
    }
    let mut v4 = PodIpAllocator::new(net("10.0.0.0/30"))?;
    assert_eq!(v4.allocate_next()?, ip("10.0.0.2"));
    assert!(failure(v4.allocate_next()).is_full());

    let mut v6 = PodIpAllocator::new(net("fd00::/126"))?;
    assert_eq!(v6.gateway(), ip("fd00::1"));
    assert_eq!(v6.allocate_next()?, ip("fd00::2"));
    assert_eq!(v6.allocate_next()?, ip("fd00::3"));
    assert!(failure(v6.allocate_next()).is_full());
    Ok(())
}

#[test]
fn ipv6_slash_64_is_sequential_and_sparse() -> Result<(), AllocError> {
    let mut alloc = PodIpAllocator::new(net("fd00:10:244:1::/64"))?;
    assert_eq!(alloc.size(), (1u128 << 64) - 2);
    assert_eq!(alloc.allocate_next()?, ip("fd00:10:244:1::2"));
    assert_eq!(alloc.allocate_next()?, ip("fd00:10:244:1::3"));
    let top = ip("fd00:10:244:1:ffff:ffff:ffff:ffff");
    alloc.allocate(top)?;
    assert!(failure(alloc.allocate(top)).is_already_allocated());
    assert!(failure(alloc.allocate(ip("10.0.0.2"))).is_out_of_range());
    assert_eq!(alloc.used(), 3);
    assert_eq!(alloc.allocated().last(), Some(top));
    Ok(())
}

#[test]
fn sequence_wraps_at_the_top_of_the_range() -> Result<(), AllocError> {
    let mut alloc = PodIpAllocator::new(net("10.0.0.0/29"))?;
    // Usable .2-.6: after handing out all five the position wraps to the bottom.
    for _ in 0..5 {
        alloc.allocate_next()?;
    }
    assert!(alloc.release(ip("10.0.0.3")));
    assert_eq!(alloc.allocate_next()?, ip("10.0.0.3"));
    Ok(())
}
