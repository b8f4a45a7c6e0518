//! Restart: the store rebuilds each allocator by calling `allocate(value)` for every value found
//! in stored objects. The rebuilt allocator must hold exactly the same values, report each
//! duplicate as `AlreadyAllocated` naming the value, and never hand out a rebuilt value again.

use std::collections::HashSet;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;

use ipam::AllocError;

use super::subjects::{self, Case, Subject};

/// Allocates `count` values (some released again), rebuilds a fresh allocator from them in a
/// shuffled order, and compares.
fn rebuild_matches<A: Subject>(case: &Case<A>, count: usize) -> Result<(), AllocError> {
    let mut original = (case.build)(1);
    let mut handed = Vec::new();
    for _ in 0..count {
        handed.push(original.next()?);
    }
    // Leave holes, as deleted objects do.
    for value in handed.iter().step_by(3) {
        assert!(original.give_back(*value));
    }
    let mut stored = original.values();
    stored.shuffle(&mut SmallRng::seed_from_u64(7));

    let mut rebuilt = (case.build)(2);
    for value in &stored {
        rebuilt.take(*value)?;
    }
    assert_eq!(rebuilt.used(), original.used(), "{}", case.name);
    assert_eq!(rebuilt.values(), original.values(), "{}", case.name);
    for value in &handed {
        assert_eq!(
            rebuilt.holds(*value),
            original.holds(*value),
            "{}: {value}",
            case.name
        );
    }

    // A second object claiming a stored value is a duplicate, reported by value.
    for value in &stored {
        let err = match rebuilt.take(*value) {
            Ok(()) => panic!("{}: duplicate {value} accepted", case.name),
            Err(err) => err,
        };
        assert!(err.is_already_allocated(), "{}: {err}", case.name);
        assert_eq!(err.to_string(), format!("{value} is already allocated"));
    }

    // New allocations after the rebuild never collide with stored values.
    let stored: HashSet<A::Value> = stored.into_iter().collect();
    let free = rebuilt.capacity() - rebuilt.used();
    for _ in 0..free.min(64) {
        let value = rebuilt.next()?;
        assert!(
            !stored.contains(&value),
            "{}: {value} handed out again",
            case.name
        );
    }
    Ok(())
}

#[test]
fn rebuild_service_ipv4() -> Result<(), AllocError> {
    rebuild_matches(&subjects::service_ipv4(), 25)
}

#[test]
fn rebuild_service_ipv6_slash_64() -> Result<(), AllocError> {
    rebuild_matches(&subjects::service_ipv6_slash_64(), 500)
}

#[test]
fn rebuild_node_ports() -> Result<(), AllocError> {
    rebuild_matches(&subjects::node_ports(), 41)
}

#[test]
fn rebuild_pod_cidrs() -> Result<(), AllocError> {
    rebuild_matches(&subjects::pod_cidrs(), 16)
}

#[test]
fn rebuild_pod_cidrs_ipv6() -> Result<(), AllocError> {
    rebuild_matches(&subjects::pod_cidrs_ipv6(), 30)
}

#[test]
fn rebuild_pod_ipv4() -> Result<(), AllocError> {
    rebuild_matches(&subjects::pod_ipv4(), 20)
}

#[test]
fn rebuild_pod_ipv6_slash_64() -> Result<(), AllocError> {
    rebuild_matches(&subjects::pod_ipv6_slash_64(), 300)
}

#[test]
fn rebuild_a_large_service_range() -> Result<(), AllocError> {
    let case = Case {
        name: "service 10.96.0.0/16",
        build: |seed| {
            ipam::ServiceIpAllocator::with_seed(subjects::net("10.96.0.0/16"), seed)
                .unwrap_or_else(|e| panic!("range refused: {e}"))
        },
        universe: Vec::new(),
        usable: |_| true,
    };
    rebuild_matches(&case, 20_000)
}
