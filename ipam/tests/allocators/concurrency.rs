//! Several threads share one allocator behind a `std::sync::Mutex` (as the control plane does)
//! and allocate until it is full: together they must get every usable value exactly once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread;

use super::subjects::{self, Case, Subject};

const THREADS: usize = 4;

/// Fills an allocator of `case` from `THREADS` threads; returns how many values were handed out.
fn fill_concurrently<A: Subject>(case: &Case<A>) -> u128 {
    let alloc = (case.build)(99);
    let capacity = alloc.capacity();
    let shared = Arc::new(Mutex::new(alloc));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let mut mine = Vec::new();
                // Bounded: no thread can get more than the whole range.
                for _ in 0..=capacity {
                    let next = match shared.lock() {
                        Ok(mut alloc) => alloc.next(),
                        Err(poisoned) => panic!("allocator lock poisoned: {poisoned}"),
                    };
                    match next {
                        Ok(value) => mine.push(value),
                        Err(err) => {
                            assert!(err.is_full(), "unexpected error: {err}");
                            break;
                        }
                    }
                }
                mine
            })
        })
        .collect();
    let mut union = HashSet::new();
    let mut total = 0usize;
    for worker in workers {
        let mine = worker
            .join()
            .unwrap_or_else(|_| panic!("{}: a worker thread panicked", case.name));
        total += mine.len();
        for value in mine {
            assert!((case.usable)(&value), "{}: handed out {value}", case.name);
            assert!(
                union.insert(value),
                "{}: {value} handed out twice",
                case.name
            );
        }
    }
    assert_eq!(union.len(), total);
    assert_eq!(
        total as u128, capacity,
        "{}: union is not the whole range",
        case.name
    );
    let alloc = shared
        .lock()
        .unwrap_or_else(|poisoned| panic!("allocator lock poisoned: {poisoned}"));
    assert_eq!(alloc.used(), capacity);
    total as u128
}

#[test]
fn threads_fill_service_ipv4_without_duplicates() {
    assert_eq!(fill_concurrently(&subjects::service_ipv4()), 30);
}

#[test]
fn threads_fill_service_ipv6_without_duplicates() {
    assert_eq!(fill_concurrently(&subjects::service_ipv6_small()), 31);
}

#[test]
fn threads_fill_node_ports_without_duplicates() {
    assert_eq!(fill_concurrently(&subjects::node_ports()), 41);
}

#[test]
fn threads_fill_pod_cidrs_without_duplicates() {
    assert_eq!(fill_concurrently(&subjects::pod_cidrs()), 16);
}

#[test]
fn threads_fill_ipv6_pod_cidrs_without_duplicates() {
    assert_eq!(fill_concurrently(&subjects::pod_cidrs_ipv6()), 32);
}

#[test]
fn threads_fill_pod_ips_without_duplicates() {
    assert_eq!(fill_concurrently(&subjects::pod_ipv4()), 29);
}

#[test]
fn threads_fill_the_default_node_port_range() {
    let case = Case {
        name: "ports 30000-32767",
        build: |seed| {
            ipam::PortAllocator::with_seed(30000..=32767, seed)
                .unwrap_or_else(|e| panic!("default range refused: {e}"))
        },
        universe: Vec::new(),
        usable: |p| (30000..=32767).contains(p),
    };
    assert_eq!(fill_concurrently(&case), 2768);
}

#[test]
fn threads_fill_a_slash_20_service_range() {
    let case = Case {
        name: "service 10.100.0.0/20",
        build: |seed| {
            ipam::ServiceIpAllocator::with_seed(subjects::net("10.100.0.0/20"), seed)
                .unwrap_or_else(|e| panic!("range refused: {e}"))
        },
        universe: Vec::new(),
        usable: |ip| {
            subjects::net("10.100.0.0/20").contains(ip)
                && *ip != subjects::ip("10.100.0.0")
                && *ip != subjects::ip("10.100.15.255")
        },
    };
    assert_eq!(fill_concurrently(&case), 4094);
}
