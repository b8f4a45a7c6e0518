use super::*;
use crate::test_support::{failure, ip, net};

#[test]
fn ipv4_service_space_excludes_network_and_broadcast() -> Result<(), AllocError> {
    let space = AddressSpace::new(net("10.96.0.0/28"), 1, "service CIDR")?;
    assert_eq!(space.len(), 14);
    assert_eq!(space.cidr_size(), 16);
    assert_eq!(space.at(0), ip("10.96.0.1"));
    assert_eq!(space.at(13), ip("10.96.0.14"));
    assert_eq!(space.offset_of(ip("10.96.0.0")), None);
    assert_eq!(space.offset_of(ip("10.96.0.15")), None);
    assert_eq!(space.offset_of(ip("10.96.0.14")), Some(13));
    assert_eq!(space.offset_of(ip("::a60:1")), None, "other family");
    assert_eq!(
        space.describe(),
        "10.96.0.0/28 (usable 10.96.0.1-10.96.0.14, 14 addresses)"
    );
    Ok(())
}

#[test]
fn ipv6_space_keeps_the_last_address() -> Result<(), AllocError> {
    let space = AddressSpace::new(net("fd00::/126"), 1, "service CIDR")?;
    assert_eq!(space.len(), 3);
    assert_eq!(space.at(2), ip("fd00::3"));
    assert_eq!(space.offset_of(ip("fd00::")), None);
    Ok(())
}

#[test]
fn whole_ipv6_space_fits_in_u128() -> Result<(), AllocError> {
    let space = AddressSpace::new(net("::/0"), 1, "service CIDR")?;
    assert_eq!(space.len(), u128::MAX);
    assert_eq!(space.cidr_size(), u128::MAX);
    assert_eq!(
        space.at(u128::MAX - 1),
        ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
    );
    let pods = AddressSpace::new(net("::/0"), 2, "pod CIDR")?;
    assert_eq!(pods.len(), u128::MAX - 1);
    Ok(())
}

#[test]
fn empty_spaces_are_invalid_with_the_reason() {
    for (cidr, skip) in [
        ("10.0.0.0/32", 1),
        ("10.0.0.0/31", 1),
        ("255.255.255.255/32", 1),
        ("0.0.0.0/32", 1),
        ("fd00::/128", 1),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 1),
        ("10.0.0.0/31", 2),
        ("fd00::/127", 2),
    ] {
        let err = failure(AddressSpace::new(net(cidr), skip, "test CIDR"));
        assert!(err.is_invalid_range(), "{cidr}: {err}");
        assert!(
            err.to_string().contains("no usable address"),
            "{cidr}: {err}"
        );
    }
}

#[test]
fn host_bits_are_refused_naming_the_network() {
    let err = failure(AddressSpace::new(net("10.96.0.1/12"), 1, "service CIDR"));
    assert_eq!(
        err.to_string(),
        "invalid range 10.96.0.1/12: service CIDR has host bits set; the network is 10.96.0.0/12"
    );
}
