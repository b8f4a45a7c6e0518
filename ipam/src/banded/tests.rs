use super::*;

#[test]
fn service_band_matches_the_kubernetes_examples() {
    // Examples from the Kubernetes "Service ClusterIP allocation" page.
    assert_eq!(service_ip_static_band(1 << 8), 16, "/24");
    assert_eq!(service_ip_static_band(1 << 12), 256, "/20");
    assert_eq!(service_ip_static_band(1 << 16), 256, "/16");
    assert_eq!(service_ip_static_band(1 << 4), 16, "/28");
    assert_eq!(service_ip_static_band(1 << 9), 32, "/23");
    assert_eq!(service_ip_static_band(8), 0, "/29 is below 16 addresses");
    assert_eq!(service_ip_static_band(u128::MAX), 256, "IPv6 /0");
}

#[test]
fn node_port_band_matches_the_kubernetes_examples() {
    // Examples from the Kubernetes 1.27 NodePort static sub-range announcement.
    assert_eq!(node_port_static_band(2768), 86, "30000-32767");
    assert_eq!(node_port_static_band(16), 16, "30000-30015");
    assert_eq!(node_port_static_band(15), 0);
    assert_eq!(node_port_static_band(128), 16, "30000-30127");
    assert_eq!(node_port_static_band(4096), 128, "30000-34095");
    assert_eq!(node_port_static_band(8192), 128, "30000-38191");
}

#[test]
fn dynamic_picks_fill_the_upper_band_before_the_static_band() {
    let mut set = BandedSet::new(100, 20, Some(7));
    for _ in 0..80 {
        let offset = set.allocate_dynamic();
        assert!(
            offset.is_some_and(|o| o >= 20),
            "{offset:?}: static offset taken while the upper band had room"
        );
    }
    for _ in 0..20 {
        let offset = set.allocate_dynamic();
        assert!(offset.is_some_and(|o| o < 20), "{offset:?}");
    }
    assert_eq!(set.allocate_dynamic(), None);
    assert_eq!(set.set().used(), 100);
}

#[test]
fn band_larger_than_the_space_is_capped() {
    let mut set = BandedSet::new(14, 16, Some(1));
    assert_eq!(set.static_band(), 14);
    for _ in 0..14 {
        assert!(set.allocate_dynamic().is_some());
    }
    assert_eq!(set.allocate_dynamic(), None);
}

#[test]
fn same_seed_same_order() {
    let mut a = BandedSet::new(1000, 62, Some(42));
    let mut b = BandedSet::new(1000, 62, Some(42));
    for _ in 0..50 {
        assert_eq!(a.allocate_dynamic(), b.allocate_dynamic());
    }
}

#[test]
fn dynamic_start_is_spread_over_the_band() {
    // With a random start, 50 picks from an empty 10000-value band do not all land in the
    // lowest 1000 values (a sequential allocator would put them at 0..50).
    let mut set = BandedSet::new(10_000, 0, None);
    let high = (0..50)
        .filter_map(|_| set.allocate_dynamic())
        .filter(|offset| *offset >= 1000)
        .count();
    assert!(high > 0);
}
