//! Properties of [`pick`]: never a non-usable or already-tried endpoint, round-robin and random
//! spread, least-connections, and ClientIP affinity stickiness and expiry.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

fn pool(n: usize) -> Pool {
    Pool::new(
        (0..n)
            .map(|i| Backend {
                addr: SocketAddr::from(([10, 0, 0, i as u8 + 1], 8080)),
                active: Arc::new(AtomicU64::new(0)),
            })
            .collect(),
    )
}

fn client(i: u8) -> IpAddr {
    IpAddr::from([192, 168, 0, i])
}

const POLICIES: [LbPolicy; 3] = [
    LbPolicy::RoundRobin,
    LbPolicy::Random,
    LbPolicy::LeastConnections,
];

proptest! {
    #[test]
    fn never_picks_outside_pool_or_tried(
        n in 0usize..8,
        tried_mask in 0u8..=255,
        policy in 0usize..3,
        affinity in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let pool = pool(n);
        let tried: Vec<SocketAddr> = pool.backends().iter().enumerate()
            .filter(|(i, _)| tried_mask & (1 << i) != 0).map(|(_, b)| b.addr).collect();
        let table = AffinityTable::new(Duration::from_secs(10));
        let state = PickState {
            pool: &pool, policy: POLICIES[policy],
            affinity: affinity.then_some(&table), tried: &tried,
        };
        let mut rng = StdRng::seed_from_u64(seed);
        let now = Instant::now();
        for c in 0..20u8 {
            let got = pick(&state, client(c), now, &mut rng);
            match got {
                Some(b) => {
                    prop_assert!(pool.backends().iter().any(|p| p.addr == b.addr));
                    prop_assert!(!tried.contains(&b.addr));
                }
                None => prop_assert_eq!(tried.len(), n),
            }
        }
    }

    #[test]
    fn round_robin_is_exactly_even(n in 1usize..10, rounds in 1usize..20) {
        let pool = pool(n);
        let state = PickState { pool: &pool, policy: LbPolicy::RoundRobin, affinity: None, tried: &[] };
        let mut rng = StdRng::seed_from_u64(1);
        let mut counts: HashMap<SocketAddr, usize> = HashMap::new();
        for i in 0..n * rounds {
            let b = pick(&state, client((i % 200) as u8), Instant::now(), &mut rng);
            *counts.entry(b.map(|b| b.addr).ok_or_else(|| TestCaseError::fail("none"))?).or_default() += 1;
        }
        prop_assert_eq!(counts.len(), n);
        prop_assert!(counts.values().all(|c| *c == rounds));
    }

    #[test]
    fn random_spreads_within_bounds(n in 2usize..6, seed in any::<u64>()) {
        // 600 picks per endpoint: a share outside [1/2, 3/2] of the mean is ~10 sigma away.
        let pool = pool(n);
        let state = PickState { pool: &pool, policy: LbPolicy::Random, affinity: None, tried: &[] };
        let mut rng = StdRng::seed_from_u64(seed);
        let mut counts: HashMap<SocketAddr, usize> = HashMap::new();
        for _ in 0..600 * n {
            let b = pick(&state, client(1), Instant::now(), &mut rng)
                .ok_or_else(|| TestCaseError::fail("none"))?;
            *counts.entry(b.addr).or_default() += 1;
        }
        prop_assert_eq!(counts.len(), n);
        for c in counts.values() {
            prop_assert!((300..=900).contains(c), "count {} outside [300, 900]", c);
        }
    }

    #[test]
    fn least_connections_picks_a_minimum(loads in proptest::collection::vec(0u64..5, 1..8)) {
        let pool = pool(loads.len());
        for (b, load) in pool.backends().iter().zip(&loads) {
            b.active.store(*load, Ordering::Relaxed);
        }
        let state = PickState { pool: &pool, policy: LbPolicy::LeastConnections, affinity: None, tried: &[] };
        let mut rng = StdRng::seed_from_u64(7);
        let min = loads.iter().copied().min().unwrap_or(0);
        for _ in 0..loads.len() {
            let b = pick(&state, client(1), Instant::now(), &mut rng)
                .ok_or_else(|| TestCaseError::fail("none"))?;
            prop_assert_eq!(b.active.load(Ordering::Relaxed), min);
        }
    }

    #[test]
    fn affinity_pins_each_client_until_timeout(
        n in 2usize..6,
        clients in 1u8..20,
        steps in proptest::collection::vec((0u8..20, 0u64..=10), 1..60),
        policy in 0usize..3,
        seed in any::<u64>(),
    ) {
        let timeout = Duration::from_secs(10);
        let pool = pool(n);
        let table = AffinityTable::new(timeout);
        let state = PickState { pool: &pool, policy: POLICIES[policy], affinity: Some(&table), tried: &[] };
        let mut rng = StdRng::seed_from_u64(seed);
        let start = Instant::now();
        let mut now = start;
        let mut last: HashMap<IpAddr, (SocketAddr, Instant)> = HashMap::new();
        for (c, advance) in steps {
            now += Duration::from_secs(advance);
            let ip = client(c % clients);
            let b = pick(&state, ip, now, &mut rng).ok_or_else(|| TestCaseError::fail("none"))?;
            if let Some((addr, used)) = last.get(&ip)
                && now.duration_since(*used) <= timeout
            {
                prop_assert_eq!(b.addr, *addr, "client {} moved within the timeout", ip);
            }
            last.insert(ip, (b.addr, now));
        }
    }
}

#[test]
fn affinity_moves_when_the_endpoint_leaves_or_fails() {
    let table = AffinityTable::new(Duration::from_secs(60));
    let full = pool(3);
    let now = Instant::now();
    let mut rng = StdRng::seed_from_u64(3);
    let state = PickState {
        pool: &full,
        policy: LbPolicy::RoundRobin,
        affinity: Some(&table),
        tried: &[],
    };
    let first = pick(&state, client(9), now, &mut rng).map(|b| b.addr);
    let Some(first) = first else {
        panic!("no endpoint picked from a full pool");
    };
    // The pinned endpoint failed: the retry must go elsewhere and re-pin.
    let tried = [first];
    let retry = PickState {
        tried: &tried,
        ..state
    };
    let second = pick(&retry, client(9), now, &mut rng).map(|b| b.addr);
    assert!(second.is_some_and(|a| a != first));
    assert_eq!(table.lookup(client(9), now), second);
    // The endpoint leaves the pool: pins to it are dropped and the client lands elsewhere.
    let Some(second) = second else { return };
    let live = full
        .backends()
        .iter()
        .map(|b| b.addr)
        .filter(|a| *a != second)
        .collect();
    table.retain_endpoints(&live);
    assert_eq!(table.lookup(client(9), now), None);
    let smaller = Pool::new(
        full.backends()
            .iter()
            .filter(|b| b.addr != second)
            .cloned()
            .collect(),
    );
    let state = PickState {
        pool: &smaller,
        ..state
    };
    let third = pick(&state, client(9), now, &mut rng).map(|b| b.addr);
    assert!(third.is_some_and(|a| a != second));
    // Expiry drops the pin after the timeout.
    assert_eq!(table.expire(now + Duration::from_secs(61)), 0);
}

#[test]
fn parses_policy_names() {
    assert_eq!("random".parse::<LbPolicy>(), Ok(LbPolicy::Random));
    assert_eq!(
        "least-connections".parse::<LbPolicy>(),
        Ok(LbPolicy::LeastConnections)
    );
    assert!(
        "fastest"
            .parse::<LbPolicy>()
            .is_err_and(|e| e.contains("fastest"))
    );
}
