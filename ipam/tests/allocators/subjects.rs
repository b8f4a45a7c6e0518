//! The four allocators behind one trait, with small test ranges ("cases") and an oracle for
//! which values each case may hand out, written independently of the crate's own arithmetic.

use std::collections::BTreeSet;
use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::net::IpAddr;

use ipam::{AllocError, CidrAllocator, PodIpAllocator, PortAllocator, ServiceIpAllocator};
use ipnet::IpNet;

/// What the properties need from an allocator.
pub trait Subject: Send + 'static {
    /// The values handed out.
    type Value: Copy + Eq + Hash + Ord + Debug + Display + Send + 'static;
    fn next(&mut self) -> Result<Self::Value, AllocError>;
    fn take(&mut self, value: Self::Value) -> Result<(), AllocError>;
    fn give_back(&mut self, value: Self::Value) -> bool;
    fn holds(&self, value: Self::Value) -> bool;
    fn used(&self) -> u128;
    fn capacity(&self) -> u128;
    fn values(&self) -> Vec<Self::Value>;
    /// Whether `value` is in the static band (always false without one).
    fn in_static_band(&self, _value: Self::Value) -> bool {
        false
    }
    /// How many values the static band holds.
    fn static_len(&self) -> u128 {
        0
    }
}

impl Subject for ServiceIpAllocator {
    type Value = IpAddr;
    fn next(&mut self) -> Result<IpAddr, AllocError> {
        self.allocate_next()
    }
    fn take(&mut self, value: IpAddr) -> Result<(), AllocError> {
        self.allocate(value)
    }
    fn give_back(&mut self, value: IpAddr) -> bool {
        self.release(value)
    }
    fn holds(&self, value: IpAddr) -> bool {
        self.is_allocated(value)
    }
    fn used(&self) -> u128 {
        ServiceIpAllocator::used(self)
    }
    fn capacity(&self) -> u128 {
        self.size()
    }
    fn values(&self) -> Vec<IpAddr> {
        self.allocated().collect()
    }
    fn in_static_band(&self, value: IpAddr) -> bool {
        ServiceIpAllocator::in_static_band(self, value)
    }
    fn static_len(&self) -> u128 {
        self.static_band()
            .map_or(0, |(first, last)| numeric(last) - numeric(first) + 1)
    }
}

impl Subject for PortAllocator {
    type Value = u16;
    fn next(&mut self) -> Result<u16, AllocError> {
        self.allocate_next()
    }
    fn take(&mut self, value: u16) -> Result<(), AllocError> {
        self.allocate(value)
    }
    fn give_back(&mut self, value: u16) -> bool {
        self.release(value)
    }
    fn holds(&self, value: u16) -> bool {
        self.is_allocated(value)
    }
    fn used(&self) -> u128 {
        PortAllocator::used(self) as u128
    }
    fn capacity(&self) -> u128 {
        self.size() as u128
    }
    fn values(&self) -> Vec<u16> {
        self.allocated().collect()
    }
    fn in_static_band(&self, value: u16) -> bool {
        self.static_band().is_some_and(|band| band.contains(&value))
    }
    fn static_len(&self) -> u128 {
        self.static_band()
            .map_or(0, |band| u128::from(band.end() - band.start()) + 1)
    }
}

impl Subject for CidrAllocator {
    type Value = IpNet;
    fn next(&mut self) -> Result<IpNet, AllocError> {
        self.allocate_next()
    }
    fn take(&mut self, value: IpNet) -> Result<(), AllocError> {
        self.allocate(value)
    }
    fn give_back(&mut self, value: IpNet) -> bool {
        self.release(value)
    }
    fn holds(&self, value: IpNet) -> bool {
        self.is_allocated(value)
    }
    fn used(&self) -> u128 {
        CidrAllocator::used(self)
    }
    fn capacity(&self) -> u128 {
        self.size()
    }
    fn values(&self) -> Vec<IpNet> {
        self.allocated().collect()
    }
}

impl Subject for PodIpAllocator {
    type Value = IpAddr;
    fn next(&mut self) -> Result<IpAddr, AllocError> {
        self.allocate_next()
    }
    fn take(&mut self, value: IpAddr) -> Result<(), AllocError> {
        self.allocate(value)
    }
    fn give_back(&mut self, value: IpAddr) -> bool {
        self.release(value)
    }
    fn holds(&self, value: IpAddr) -> bool {
        self.is_allocated(value)
    }
    fn used(&self) -> u128 {
        PodIpAllocator::used(self)
    }
    fn capacity(&self) -> u128 {
        self.size()
    }
    fn values(&self) -> Vec<IpAddr> {
        self.allocated().collect()
    }
}

/// One allocator configuration: how to build it, the values tests may request (usable ones,
/// excluded ones, neighbours outside the range, the other family) and which are usable.
pub struct Case<A: Subject> {
    pub name: &'static str,
    pub build: fn(u64) -> A,
    pub universe: Vec<A::Value>,
    pub usable: fn(&A::Value) -> bool,
}

pub fn numeric(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

pub fn ip(text: &str) -> IpAddr {
    text.parse()
        .unwrap_or_else(|e| panic!("test IP {text:?} does not parse: {e}"))
}

pub fn net(text: &str) -> IpNet {
    text.parse()
        .unwrap_or_else(|e| panic!("test CIDR {text:?} does not parse: {e}"))
}

/// Consecutive addresses from `first`, `count` of them.
fn ips_from(first: &str, count: u128) -> impl Iterator<Item = IpAddr> {
    let start = ip(first);
    let base = numeric(start);
    (0..count).map(move |i| match start {
        IpAddr::V4(_) => IpAddr::V4(((base + i) as u32).into()),
        IpAddr::V6(_) => IpAddr::V6((base + i).into()),
    })
}

/// The whole of a small range, its neighbours and one address of the other family.
fn ip_universe(parts: &[(&str, u128)], foreign: &str) -> Vec<IpAddr> {
    let mut all: BTreeSet<IpAddr> = parts
        .iter()
        .flat_map(|(first, count)| ips_from(first, *count))
        .collect();
    all.insert(ip(foreign));
    all.into_iter().collect()
}

fn unwrap_built<A>(result: Result<A, AllocError>) -> A {
    result.unwrap_or_else(|e| panic!("test range refused: {e}"))
}

pub fn service_ipv4() -> Case<ServiceIpAllocator> {
    Case {
        name: "service 10.96.0.0/27",
        build: |seed| unwrap_built(ServiceIpAllocator::with_seed(net("10.96.0.0/27"), seed)),
        universe: ip_universe(&[("10.95.255.250", 46)], "fd00::5"),
        usable: |v| (numeric(ip("10.96.0.1"))..=numeric(ip("10.96.0.30"))).contains(&numeric(*v)),
    }
}

pub fn service_ipv6_small() -> Case<ServiceIpAllocator> {
    Case {
        name: "service fd00::/123",
        build: |seed| unwrap_built(ServiceIpAllocator::with_seed(net("fd00::/123"), seed)),
        universe: ip_universe(
            &[("fcff:ffff:ffff:ffff:ffff:ffff:ffff:fffc", 40)],
            "10.96.0.5",
        ),
        usable: |v| (numeric(ip("fd00::1"))..=numeric(ip("fd00::1f"))).contains(&numeric(*v)),
    }
}

pub fn service_ipv6_slash_64() -> Case<ServiceIpAllocator> {
    Case {
        name: "service fd00:96::/64",
        build: |seed| unwrap_built(ServiceIpAllocator::with_seed(net("fd00:96::/64"), seed)),
        universe: ip_universe(
            &[
                ("fd00:96::", 300),
                ("fd00:96::ffff:ffff:ffff:ffd0", 48),
                ("fd00:96:0:1::", 4),
            ],
            "10.96.0.5",
        ),
        usable: |v| net("fd00:96::/64").contains(v) && *v != ip("fd00:96::"),
    }
}

pub fn node_ports() -> Case<PortAllocator> {
    Case {
        name: "ports 30000-30040",
        build: |seed| unwrap_built(PortAllocator::with_seed(30000..=30040, seed)),
        universe: (29990..=30050).chain([0, 1, 65535]).collect(),
        usable: |p| (30000..=30040).contains(p),
    }
}

pub fn pod_cidrs() -> Case<CidrAllocator> {
    let mut universe: Vec<IpNet> = (0u32..28)
        .map(|i| {
            let third = (250 + i) % 256;
            let second = if 250 + i >= 256 { 244 } else { 243 };
            net(&format!("10.{second}.{third}.0/24"))
        })
        .collect();
    universe.extend(
        [
            "10.244.1.0/25",
            "10.244.2.0/23",
            "10.244.3.9/24",
            "10.244.0.0/20",
            "fd00::/24",
        ]
        .map(net),
    );
    Case {
        name: "/24s of 10.244.0.0/20",
        build: |_| unwrap_built(CidrAllocator::new(net("10.244.0.0/20"), 24)),
        universe,
        usable: |n| n.prefix_len() == 24 && n.trunc() == *n && net("10.244.0.0/20").contains(n),
    }
}

pub fn pod_ipv4() -> Case<PodIpAllocator> {
    Case {
        name: "pods 10.244.1.0/27",
        build: |_| unwrap_built(PodIpAllocator::new(net("10.244.1.0/27"))),
        universe: ip_universe(&[("10.244.0.250", 48)], "fd00::2"),
        usable: |v| (numeric(ip("10.244.1.2"))..=numeric(ip("10.244.1.30"))).contains(&numeric(*v)),
    }
}

pub fn pod_ipv6_slash_64() -> Case<PodIpAllocator> {
    Case {
        name: "pods fd00:244:1::/64",
        build: |_| unwrap_built(PodIpAllocator::new(net("fd00:244:1::/64"))),
        universe: ip_universe(
            &[
                ("fd00:244:1::", 200),
                ("fd00:244:1:0:ffff:ffff:ffff:fff0", 16),
                ("fd00:244:0:ffff:ffff:ffff:ffff:fffe", 2),
            ],
            "10.244.1.2",
        ),
        usable: |v| {
            net("fd00:244:1::/64").contains(v)
                && *v != ip("fd00:244:1::")
                && *v != ip("fd00:244:1::1")
        },
    }
}

pub fn pod_cidrs_ipv6() -> Case<CidrAllocator> {
    let mut universe: Vec<IpNet> = (0u32..40)
        .map(|i| net(&format!("fd00:244:0:{:x}::/64", 0xf0 + i)))
        .collect();
    universe.extend(
        [
            "fd00:244:0:100::/63",
            "fd00:244:0:1ff::1/64",
            "10.244.0.0/24",
        ]
        .map(net),
    );
    Case {
        name: "/64s of fd00:244:0:100::/59",
        build: |_| unwrap_built(CidrAllocator::new(net("fd00:244:0:100::/59"), 64)),
        universe,
        usable: |n| {
            n.prefix_len() == 64 && n.trunc() == *n && net("fd00:244:0:100::/59").contains(n)
        },
    }
}
