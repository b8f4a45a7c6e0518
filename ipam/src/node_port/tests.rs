use std::collections::HashSet;

use super::*;
use crate::test_support::failure;

#[test]
fn default_range_band_is_30000_to_30085() -> Result<(), AllocError> {
    let alloc = PortAllocator::new(30000..=32767)?;
    assert_eq!(alloc.static_band(), Some(30000..=30085));
    assert_eq!(alloc.size(), 2768);
    Ok(())
}

#[test]
fn dynamic_ports_avoid_the_static_band_until_the_rest_is_full() -> Result<(), AllocError> {
    let mut alloc = PortAllocator::with_seed(30000..=32767, 5)?;
    let mut seen = HashSet::new();
    for _ in 0..(2768 - 86) {
        let port = alloc.allocate_next()?;
        assert!(port >= 30086, "{port} taken from the static band too early");
        assert!(seen.insert(port));
    }
    for _ in 0..86 {
        let port = alloc.allocate_next()?;
        assert!(port <= 30085);
        assert!(seen.insert(port));
    }
    let err = failure(alloc.allocate_next());
    assert_eq!(
        err.to_string(),
        "range 30000-32767 (2768 ports) is full: every usable value is allocated"
    );
    assert_eq!(alloc.free(), 0);
    Ok(())
}

#[test]
fn tiny_range_has_no_static_band() -> Result<(), AllocError> {
    let mut alloc = PortAllocator::new(30000..=30009)?;
    assert_eq!(alloc.static_band(), None);
    let mut got: Vec<u16> = (0..10)
        .map(|_| alloc.allocate_next())
        .collect::<Result<_, _>>()?;
    got.sort_unstable();
    assert_eq!(got, (30000..=30009).collect::<Vec<_>>());
    assert!(failure(alloc.allocate_next()).is_full());
    Ok(())
}

#[test]
fn single_port_range_and_top_of_u16() -> Result<(), AllocError> {
    let mut alloc = PortAllocator::new(65535..=65535)?;
    assert_eq!(alloc.allocate_next()?, 65535);
    assert!(failure(alloc.allocate_next()).is_full());
    assert!(alloc.release(65535));
    assert_eq!(alloc.allocated().collect::<Vec<_>>(), Vec::<u16>::new());
    Ok(())
}

#[test]
fn invalid_ranges_are_refused_with_a_reason() {
    #[allow(clippy::reversed_empty_ranges)]
    let err = failure(PortAllocator::new(32767..=30000));
    assert!(err.is_invalid_range());
    assert!(err.to_string().contains("32767-30000"), "{err}");
    let err = failure(PortAllocator::new(0..=100));
    assert!(err.to_string().contains("port 0"), "{err}");
}

#[test]
fn requested_ports_are_checked() -> Result<(), AllocError> {
    let mut alloc = PortAllocator::new(30000..=32767)?;
    alloc.allocate(30080)?;
    assert!(alloc.is_allocated(30080));
    let err = failure(alloc.allocate(30080));
    assert_eq!(err.to_string(), "30080 is already allocated");
    for bad in [29999, 32768, 80] {
        let err = failure(alloc.allocate(bad));
        assert!(err.is_out_of_range(), "{bad}: {err}");
        assert!(!alloc.release(bad));
    }
    assert_eq!(
        failure(alloc.allocate(80)).to_string(),
        "80 is not in the range 30000-32767 (2768 ports)"
    );
    assert!(alloc.release(30080));
    assert!(!alloc.release(30080));
    Ok(())
}
