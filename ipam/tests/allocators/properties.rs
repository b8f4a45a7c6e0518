//! Model-based properties: random sequences of `allocate_next`, `allocate` and `release`
//! against a `HashSet` model. The allocator must never hand out a value twice, never hand out
//! an unusable value, report full exactly when the model holds every usable value, pick from
//! the static band only when the upper band is full, and always hold exactly the model's set.

use std::collections::HashSet;

use proptest::prelude::*;
use proptest::sample::Index;

use super::subjects::{self, Case, Subject};

#[derive(Debug, Clone)]
enum Op {
    Next,
    Allocate(Index),
    Release(Index),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => Just(Op::Next),
        2 => any::<Index>().prop_map(Op::Allocate),
        2 => any::<Index>().prop_map(Op::Release),
    ];
    proptest::collection::vec(op, 0..250)
}

/// Runs `ops` on a fresh allocator of `case` and checks it against the model after each step.
fn check<A: Subject>(case: &Case<A>, seed: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut alloc = (case.build)(seed);
    let mut model: HashSet<A::Value> = HashSet::new();
    let capacity = alloc.capacity();
    let static_len = alloc.static_len();
    for op in ops {
        match op {
            Op::Next => match alloc.next() {
                Ok(value) => {
                    prop_assert!((case.usable)(&value), "{}: handed out {value}", case.name);
                    prop_assert!(
                        model.insert(value),
                        "{}: {value} handed out twice",
                        case.name
                    );
                    if alloc.in_static_band(value) {
                        let upper = model.iter().filter(|v| !alloc.in_static_band(**v)).count();
                        prop_assert_eq!(
                            upper as u128,
                            capacity - static_len,
                            "{}: static {} picked while the upper band had room",
                            case.name,
                            value
                        );
                    }
                }
                Err(err) => {
                    prop_assert!(err.is_full(), "{}: {err}", case.name);
                    prop_assert_eq!(model.len() as u128, capacity, "{}: {}", case.name, err);
                }
            },
            Op::Allocate(index) => {
                let value = *index.get(&case.universe);
                let result = alloc.take(value);
                if !(case.usable)(&value) {
                    prop_assert!(
                        result.as_ref().is_err_and(|e| e.is_out_of_range()),
                        "{}: allocate({value}) gave {result:?}",
                        case.name
                    );
                } else if model.contains(&value) {
                    prop_assert!(
                        result.as_ref().is_err_and(|e| e.is_already_allocated()),
                        "{}: allocate({value}) gave {result:?}",
                        case.name
                    );
                } else {
                    prop_assert!(
                        result.is_ok(),
                        "{}: allocate({value}) gave {result:?}",
                        case.name
                    );
                    model.insert(value);
                }
            }
            Op::Release(index) => {
                let value = *index.get(&case.universe);
                prop_assert_eq!(
                    alloc.give_back(value),
                    model.remove(&value),
                    "{}",
                    case.name
                );
                prop_assert!(!alloc.holds(value));
            }
        }
        prop_assert_eq!(alloc.used(), model.len() as u128, "{}", case.name);
    }
    let mut expected: Vec<A::Value> = model.iter().copied().collect();
    expected.sort();
    prop_assert_eq!(alloc.values(), expected, "{}", case.name);
    for value in &case.universe {
        prop_assert_eq!(alloc.holds(*value), model.contains(value), "{}", case.name);
    }
    Ok(())
}

/// For sequential allocators: `allocate_next` returns the first usable, free value of the
/// (address-ordered) universe after the last one it returned, wrapping round once.
fn check_sequential<A: Subject>(case: &Case<A>, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut alloc = (case.build)(0);
    let usable: Vec<A::Value> = case.universe.iter().copied().filter(case.usable).collect();
    prop_assert_eq!(
        usable.len() as u128,
        alloc.capacity(),
        "universe must cover the range"
    );
    let mut model: HashSet<A::Value> = HashSet::new();
    let mut start = 0usize;
    for op in ops {
        match op {
            Op::Next => {
                let expected = (0..usable.len())
                    .map(|i| usable[(start + i) % usable.len()])
                    .find(|v| !model.contains(v));
                match (alloc.next(), expected) {
                    (Ok(got), Some(want)) => {
                        prop_assert_eq!(got, want, "{}", case.name);
                        model.insert(got);
                        let index = usable.iter().position(|v| *v == got);
                        start = index.map_or(0, |i| i + 1);
                    }
                    (Err(err), None) => prop_assert!(err.is_full()),
                    (got, want) => prop_assert!(false, "{}: got {got:?}, want {want:?}", case.name),
                }
            }
            Op::Allocate(index) => {
                let value = *index.get(&case.universe);
                if alloc.take(value).is_ok() {
                    model.insert(value);
                }
            }
            Op::Release(index) => {
                let value = *index.get(&case.universe);
                alloc.give_back(value);
                model.remove(&value);
            }
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn service_ipv4_matches_model(seed in any::<u64>(), ops in ops()) {
        check(&subjects::service_ipv4(), seed, &ops)?;
    }

    #[test]
    fn service_ipv6_matches_model(seed in any::<u64>(), ops in ops()) {
        check(&subjects::service_ipv6_small(), seed, &ops)?;
    }

    #[test]
    fn service_ipv6_slash_64_matches_model(seed in any::<u64>(), ops in ops()) {
        check(&subjects::service_ipv6_slash_64(), seed, &ops)?;
    }

    #[test]
    fn node_ports_match_model(seed in any::<u64>(), ops in ops()) {
        check(&subjects::node_ports(), seed, &ops)?;
    }

    #[test]
    fn pod_cidrs_match_model(ops in ops()) {
        check(&subjects::pod_cidrs(), 0, &ops)?;
    }

    #[test]
    fn pod_cidrs_ipv6_match_model(ops in ops()) {
        check(&subjects::pod_cidrs_ipv6(), 0, &ops)?;
    }

    #[test]
    fn pod_ipv4_matches_model(ops in ops()) {
        check(&subjects::pod_ipv4(), 0, &ops)?;
    }

    #[test]
    fn pod_ipv6_slash_64_matches_model(ops in ops()) {
        check(&subjects::pod_ipv6_slash_64(), 0, &ops)?;
    }

    /// Pod IPs come in address order from just after the last one handed out, wrapping.
    #[test]
    fn pod_ips_follow_the_last_handed_out(ops in ops()) {
        check_sequential(&subjects::pod_ipv4(), &ops)?;
    }

    /// Pod CIDRs come in address order from just after the last one handed out, wrapping.
    #[test]
    fn pod_cidrs_follow_the_last_handed_out(ops in ops()) {
        check_sequential(&subjects::pod_cidrs(), &ops)?;
    }

    /// Release then allocate of the same value round-trips, and nothing else changes.
    #[test]
    fn release_allocate_round_trip(
        seed in any::<u64>(),
        fill in 0usize..31,
        pick in any::<Index>(),
    ) {
        let case = subjects::service_ipv4();
        let mut alloc = (case.build)(seed);
        let mut taken = Vec::new();
        for _ in 0..=fill {
            match alloc.next() {
                Ok(value) => taken.push(value),
                Err(err) => prop_assert!(err.is_full()),
            }
        }
        let value = *pick.get(&taken);
        let before = alloc.values();
        prop_assert!(alloc.give_back(value));
        prop_assert!(!alloc.holds(value));
        prop_assert!(alloc.take(value).is_ok());
        prop_assert_eq!(alloc.values(), before);
    }
}
