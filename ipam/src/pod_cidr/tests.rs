use super::*;
use crate::test_support::{failure, net};

#[test]
fn slash_24s_of_a_slash_16_in_order_then_full() -> Result<(), AllocError> {
    let mut alloc = CidrAllocator::new(net("10.244.0.0/16"), 24)?;
    assert_eq!(alloc.size(), 256);
    assert_eq!(alloc.allocate_next()?, net("10.244.0.0/24"));
    assert_eq!(alloc.allocate_next()?, net("10.244.1.0/24"));
    for _ in 2..256 {
        alloc.allocate_next()?;
    }
    assert!(alloc.is_allocated(net("10.244.255.0/24")));
    let err = failure(alloc.allocate_next());
    assert_eq!(
        err.to_string(),
        "range /24 subnets of 10.244.0.0/16 (256 subnets) is full: every usable value is allocated"
    );
    Ok(())
}

#[test]
fn released_subnet_is_reused_only_after_the_others() -> Result<(), AllocError> {
    let mut alloc = CidrAllocator::new(net("10.244.0.0/22"), 24)?;
    let first = alloc.allocate_next()?;
    let second = alloc.allocate_next()?;
    assert!(alloc.release(first));
    assert_eq!(alloc.allocate_next()?, net("10.244.2.0/24"));
    assert_eq!(alloc.allocate_next()?, net("10.244.3.0/24"));
    assert_eq!(
        alloc.allocate_next()?,
        first,
        "wraps to the released subnet"
    );
    assert!(alloc.is_allocated(second));
    assert!(failure(alloc.allocate_next()).is_full());
    Ok(())
}

#[test]
fn ipv6_slash_64_node_ranges() -> Result<(), AllocError> {
    let mut alloc = CidrAllocator::new(net("fd00:10:244::/56"), 64)?;
    assert_eq!(alloc.size(), 256);
    assert_eq!(alloc.allocate_next()?, net("fd00:10:244::/64"));
    assert_eq!(alloc.allocate_next()?, net("fd00:10:244:1::/64"));
    alloc.allocate(net("fd00:10:244:ff::/64"))?;
    assert!(alloc.is_allocated(net("fd00:10:244:ff::/64")));
    Ok(())
}

#[test]
fn edge_prefixes() -> Result<(), AllocError> {
    let mut whole = CidrAllocator::new(net("10.0.0.0/24"), 24)?;
    assert_eq!(whole.allocate_next()?, net("10.0.0.0/24"));
    assert!(failure(whole.allocate_next()).is_full());

    let mut hosts = CidrAllocator::new(net("10.0.0.0/30"), 32)?;
    let got: Vec<IpNet> = (0..4)
        .map(|_| hosts.allocate_next())
        .collect::<Result<_, _>>()?;
    assert_eq!(got[3], net("10.0.0.3/32"));

    let mut v6 = CidrAllocator::new(net("fd00::/126"), 128)?;
    v6.allocate(net("fd00::3/128"))?;
    assert_eq!(v6.allocate_next()?, net("fd00::/128"));

    let mut all = CidrAllocator::new(net("::/0"), 16)?;
    assert_eq!(all.allocate_next()?, net("::/16"));
    all.allocate(net("ffff::/16"))?;
    assert_eq!(all.used(), 2);
    Ok(())
}

#[test]
fn bad_prefix_lengths_are_refused_with_a_reason() {
    let cases = [
        ("10.244.0.0/16", 8, "shorter than the cluster prefix /16"),
        ("10.244.0.0/16", 33, "longer than an IPv4 address (/32)"),
        ("fd00::/48", 129, "longer than an IPv6 address (/128)"),
        ("10.0.0.0/8", 25, "at most 16 are allowed"),
        (
            "10.244.0.1/16",
            24,
            "host bits set; the network is 10.244.0.0/16",
        ),
    ];
    for (cluster, prefix, reason) in cases {
        let err = failure(CidrAllocator::new(net(cluster), prefix));
        assert!(err.is_invalid_range(), "{cluster} /{prefix}: {err}");
        assert!(
            err.to_string().contains(reason),
            "{cluster} /{prefix}: {err}"
        );
    }
}

#[test]
fn requested_subnets_must_be_exact_subnets_of_the_cluster() -> Result<(), AllocError> {
    let mut alloc = CidrAllocator::new(net("10.244.0.0/16"), 24)?;
    for bad in [
        "10.245.0.0/24",
        "10.244.1.0/25",
        "10.244.1.0/23",
        "10.244.1.7/24",
        "fd00::/24",
    ] {
        let err = failure(alloc.allocate(net(bad)));
        assert!(err.is_out_of_range(), "{bad}: {err}");
        assert!(!alloc.release(net(bad)));
        assert!(!alloc.is_allocated(net(bad)));
    }
    alloc.allocate(net("10.244.7.0/24"))?;
    let err = failure(alloc.allocate(net("10.244.7.0/24")));
    assert_eq!(err.to_string(), "10.244.7.0/24 is already allocated");
    assert_eq!(
        alloc.allocated().collect::<Vec<_>>(),
        vec![net("10.244.7.0/24")]
    );
    Ok(())
}
