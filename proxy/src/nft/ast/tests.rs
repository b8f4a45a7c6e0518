use std::net::{IpAddr, SocketAddr};

use super::*;
use crate::model::Protocol;
use crate::nft::transaction::Family;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

#[test]
fn rules_print_as_nft_reads_them() {
    let f = Family::Ip;
    let rule = Rule::new([
        Stmt::Lookup {
            keys: vec![Selector::Saddr(f)],
            set: "affinity-x".into(),
            negate: false,
        },
        Stmt::Update {
            set: "affinity-x".into(),
            key: Selector::Saddr(f),
        },
        Stmt::L4proto(Protocol::Tcp),
        Stmt::Dnat(SocketAddr::new(ip("10.0.0.1"), 80)),
    ]);
    assert_eq!(
        rule.to_string(),
        "ip saddr @affinity-x update @affinity-x { ip saddr } meta l4proto tcp dnat to 10.0.0.1:80"
    );
    let v6 = Rule::new([
        Stmt::FibLocal(FibAddr::Daddr),
        Stmt::AddrNot {
            selector: Selector::Daddr(Family::Ip6),
            net: ipnet::IpNet::from(ip("::1")),
        },
        Stmt::Vmap {
            keys: vec![Selector::L4proto, Selector::Dport],
            map: "m".into(),
        },
    ]);
    assert_eq!(
        v6.to_string(),
        "fib daddr type local ip6 daddr != ::1 meta l4proto . th dport vmap @m"
    );
    let dnat6 = Rule::new([Stmt::Dnat(SocketAddr::new(ip("fd00::1"), 80))]);
    assert_eq!(dnat6.to_string(), "dnat to [fd00::1]:80");
    let marked = Rule::new([
        Stmt::MarkAnd {
            mask: 0x4000,
            value: 0,
        },
        Stmt::Verdict(Verdict::Return),
    ]);
    assert_eq!(
        marked.to_string(),
        "meta mark & 0x00004000 == 0x00000000 return"
    );
    let commented = Rule::new([Stmt::Reject]).comment("why");
    assert_eq!(commented.to_string(), "reject comment \"why\"");
    assert_eq!(commented.sets().count(), 0);
    assert_eq!(
        Rule::new([Stmt::Verdict(Verdict::Goto("c".into()))])
            .chains()
            .collect::<Vec<_>>(),
        ["c"]
    );
}

#[test]
fn keys_print_and_sort_as_text() {
    let a = Key::concat([
        Part::Addr(ip("10.0.0.10")),
        Part::Proto(Protocol::Tcp),
        Part::Port(80),
    ]);
    let b = Key::addr(ip("10.0.0.9"));
    assert_eq!(a.to_string(), "10.0.0.10 . tcp . 80");
    // Text order, as the golden files list elements.
    assert!(a < b);
    assert_eq!(Key::range(0, 21845).to_string(), "0-21845");
    let value = Value::Data(vec![Part::Addr(ip("fd00::1")), Part::Port(8080)]);
    assert_eq!(value.to_string(), "fd00::1 . 8080");
    assert_eq!(
        KeyType::of([DataType::Ipv4Addr, DataType::InetProto]).to_string(),
        "type ipv4_addr . inet_proto"
    );
    let endpoints = ValueType::DaddrDport {
        family: Family::Ip6,
        proto: Protocol::Udp,
    };
    assert_eq!(endpoints.to_string(), "ip6 daddr . udp dport");
}
