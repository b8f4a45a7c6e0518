use std::net::IpAddr;

use super::*;
use crate::model::Protocol;
use crate::nft::ast::{DataType, Part, Selector, Stmt, Verdict};

const IP: TableId = TableId::main(Family::Ip);
const IP6: TableId = TableId::main(Family::Ip6);

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// `ADDR . tcp . PORT`.
fn service_key(addr: &str, port: u16) -> Key {
    Key::concat([
        Part::Addr(ip(addr)),
        Part::Proto(Protocol::Tcp),
        Part::Port(port),
    ])
}

fn goto(chain: &str) -> Value {
    Value::Verdict(Verdict::Goto(chain.into()))
}

fn jump(chain: &str) -> Rule {
    Rule::new([Stmt::Verdict(Verdict::Jump(chain.into()))])
}

fn map_spec() -> SetSpec {
    SetSpec {
        key_type: KeyType::of([
            DataType::Ipv4Addr,
            DataType::InetProto,
            DataType::InetService,
        ]),
        value_type: Some(ValueType::Verdict),
        flags: Vec::new(),
        timeout: None,
        comment: Some("dispatch".into()),
    }
}

#[test]
fn renders_one_line_per_operation() {
    let mut tx = Transaction::new();
    tx.add_table(IP);
    tx.add_chain(
        IP,
        "nat-prerouting",
        Some(BaseChain {
            kind: ChainType::Nat,
            hook: Hook::Prerouting,
            priority: priority::DSTNAT,
        }),
    );
    tx.add_chain(IP, "services", None);
    tx.add_rule(IP, "nat-prerouting", &jump("services"));
    tx.set(Verb::Add, IP, "service-ips", &map_spec());
    tx.element(
        Verb::Add,
        IP,
        "service-ips",
        &service_key("10.0.0.1", 80),
        Some(&goto("services")),
    );
    let gone = service_key("10.0.0.2", 80);
    tx.element(Verb::Delete, IP, "service-ips", &gone, None);
    tx.chain(Verb::Flush, IP, "services");
    tx.set(Verb::Delete, IP, "service-ips", &map_spec());
    assert_eq!(tx.error(), None);
    assert_eq!(tx.len(), 9);
    let expected = "\
add table ip switchyard
add chain ip switchyard nat-prerouting { type nat hook prerouting priority -100 ; policy accept ; }
add chain ip switchyard services
add rule ip switchyard nat-prerouting jump services
add map ip switchyard service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment \"dispatch\" ; }
add element ip switchyard service-ips { 10.0.0.1 . tcp . 80 : goto services }
delete element ip switchyard service-ips { 10.0.0.2 . tcp . 80 }
flush chain ip switchyard services
delete map ip switchyard service-ips
";
    assert_eq!(tx.to_string(), expected);
    assert_eq!(tx.render(), expected, "nothing to merge");
}

#[test]
fn dynamic_sets_render_flags_and_timeout() {
    let mut tx = Transaction::new();
    let spec = SetSpec {
        key_type: KeyType::of([DataType::Ipv6Addr]),
        value_type: None,
        flags: vec![SetFlag::Dynamic, SetFlag::Timeout],
        timeout: Some(Duration::from_secs(10800)),
        comment: None,
    };
    tx.set(Verb::Add, IP6, "affinity-X", &spec);
    assert_eq!(
        tx.render(),
        "add set ip6 switchyard affinity-X { type ipv6_addr ; flags dynamic,timeout ; timeout 10800s ; }\n"
    );
}

#[test]
fn first_error_sticks_and_later_ops_are_ignored() {
    let mut tx = Transaction::new();
    tx.add_chain(IP, "ok", None);
    tx.add_chain(IP, "bad name", None);
    tx.add_rule(IP, "ok", &jump("ok"));
    assert_eq!(tx.len(), 1);
    match tx.error() {
        Some(InvalidOp::Name { kind, name, .. }) => {
            assert_eq!(*kind, "chain");
            assert_eq!(name, "bad name");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn rejects_invalid_verbs_rules_keys_and_names() {
    let rule = |rule: Rule| Object::Rule {
        table: IP,
        chain: "c".into(),
        rule,
    };
    let element = |key: Key, value: Option<Value>| Object::Element {
        table: IP,
        set: "s".into(),
        key,
        value,
    };
    let accept = Rule::new([Stmt::Verdict(Verdict::Accept)]);
    let v6_lookup = Rule::new([Stmt::Lookup {
        keys: vec![Selector::Saddr(Family::Ip6)],
        set: "s".into(),
        negate: false,
    }]);
    let endpoint_map_without_value = SetSpec {
        key_type: KeyType::NumgenRandom { modulus: 65536 },
        value_type: None,
        flags: vec![SetFlag::Interval],
        timeout: None,
        comment: None,
    };
    let cases: Vec<(Verb, Object)> = vec![
        (Verb::Flush, rule(accept.clone())),
        (Verb::Add, rule(accept.clone().comment("a\nb"))),
        (Verb::Add, rule(accept.clone().comment("say \"hi\""))),
        (Verb::Add, rule(accept.comment("c".repeat(300)))),
        (Verb::Add, rule(Rule::default())),
        (Verb::Add, rule(v6_lookup)),
        (Verb::Add, rule(jump("9lives"))),
        (
            Verb::Add,
            rule(Rule::new([Stmt::Numgen {
                mode: crate::nft::ast::NumgenMode::Inc,
                modulus: 2,
                value: 2,
            }])),
        ),
        (
            Verb::Add,
            Object::Set {
                table: IP,
                name: "m".into(),
                spec: endpoint_map_without_value,
            },
        ),
        (
            Verb::Add,
            Object::Chain {
                table: IP,
                name: "x".repeat(MAX_NAME_LEN + 1),
                base: None,
            },
        ),
        (
            Verb::Add,
            Object::Chain {
                table: IP,
                name: "9lives".into(),
                base: None,
            },
        ),
        (Verb::Flush, element(Key::addr(ip("10.0.0.1")), None)),
        (Verb::Add, element(Key::concat([]), None)),
        (Verb::Add, element(Key::range(5, 4), None)),
        (
            Verb::Add,
            element(Key::addr(ip("10.0.0.1")), Some(Value::Data(Vec::new()))),
        ),
        (
            Verb::Add,
            element(Key::addr(ip("10.0.0.1")), Some(goto("bad name"))),
        ),
    ];
    for (verb, object) in cases {
        let mut tx = Transaction::new();
        tx.push(verb, object.clone());
        assert!(
            tx.error().is_some(),
            "{verb:?} {object:?} should be invalid"
        );
        assert!(tx.is_empty());
    }
}

#[test]
fn render_merges_runs_of_element_operations() {
    let mut tx = Transaction::new();
    let spec = map_spec();
    for (addr, chain) in [("10.0.0.1", "a"), ("10.0.0.2", "b")] {
        let key = service_key(addr, 80);
        tx.element(Verb::Add, IP, "service-ips", &key, Some(&goto(chain)));
    }
    for addr in ["10.0.0.3", "10.0.0.4"] {
        tx.element(
            Verb::Delete,
            IP,
            "service-ips",
            &service_key(addr, 80),
            None,
        );
    }
    let v6 = service_key("fd00::1", 80);
    tx.element(Verb::Add, IP6, "service-ips", &v6, Some(&goto("a")));
    tx.set(Verb::Flush, IP, "service-ips", &spec);
    let cluster_ip = Key::addr(ip("10.0.0.1"));
    tx.element(Verb::Add, IP, "cluster-ips", &cluster_ip, None);
    assert_eq!(tx.to_string().lines().count(), 7);
    assert_eq!(
        tx.render(),
        "\
add element ip switchyard service-ips { 10.0.0.1 . tcp . 80 : goto a, 10.0.0.2 . tcp . 80 : goto b }
delete element ip switchyard service-ips { 10.0.0.3 . tcp . 80, 10.0.0.4 . tcp . 80 }
add element ip6 switchyard service-ips { fd00::1 . tcp . 80 : goto a }
flush map ip switchyard service-ips
add element ip switchyard cluster-ips { 10.0.0.1 }
"
    );
}

#[test]
fn table_names_round_trip_and_foreign_names_are_not_ours() {
    for id in [
        TableId::main(Family::Ip),
        TableId::shard(Family::Ip6, 0),
        TableId::shard(Family::Ip, 255),
    ] {
        assert_eq!(TableId::parse(id.family, &id.name()), Some(id));
    }
    assert_eq!(
        TableId::shard(Family::Ip6, 3).to_string(),
        "ip6 switchyard-3"
    );
    for foreign in [
        "filter",
        "switchyard-",
        "switchyard-01",
        "switchyard-256",
        "switchyard-x",
        "switchyardx",
        "switchyard--1",
    ] {
        assert_eq!(TableId::parse(Family::Ip, foreign), None, "{foreign}");
    }
}
