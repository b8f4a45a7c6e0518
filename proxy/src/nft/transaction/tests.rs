use super::*;

const IP: TableId = TableId::main(Family::Ip);
const IP6: TableId = TableId::main(Family::Ip6);

fn map_spec() -> SetSpec {
    SetSpec {
        key_type: "ipv4_addr . inet_proto . inet_service".into(),
        value_type: Some("verdict".into()),
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
    tx.add_rule(IP, "nat-prerouting", "jump services");
    tx.set(Verb::Add, IP, "service-ips", &map_spec());
    tx.element(
        Verb::Add,
        IP,
        "service-ips",
        "10.0.0.1 . tcp . 80",
        Some("goto services"),
    );
    tx.element(Verb::Delete, IP, "service-ips", "10.0.0.2 . tcp . 80", None);
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
        key_type: "ipv6_addr".into(),
        value_type: None,
        flags: vec!["dynamic", "timeout"],
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
    tx.add_rule(IP, "ok", "accept; drop");
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
fn rejects_invalid_verbs_text_and_names() {
    let cases: Vec<(Verb, Object)> = vec![
        (
            Verb::Flush,
            Object::Rule {
                table: IP,
                chain: "c".into(),
                rule: "accept".into(),
            },
        ),
        (
            Verb::Add,
            Object::Rule {
                table: IP,
                chain: "c".into(),
                rule: "accept\ndrop".into(),
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
        (
            Verb::Flush,
            Object::Element {
                table: IP,
                set: "s".into(),
                key: "1".into(),
                value: None,
            },
        ),
        (
            Verb::Add,
            Object::Element {
                table: IP,
                set: "s".into(),
                key: " ".into(),
                value: None,
            },
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
    for (key, chain) in [("10.0.0.1 . tcp . 80", "a"), ("10.0.0.2 . tcp . 80", "b")] {
        tx.element(
            Verb::Add,
            IP,
            "service-ips",
            key,
            Some(&format!("goto {chain}")),
        );
    }
    tx.element(Verb::Delete, IP, "service-ips", "10.0.0.3 . tcp . 80", None);
    tx.element(Verb::Delete, IP, "service-ips", "10.0.0.4 . tcp . 80", None);
    tx.element(
        Verb::Add,
        IP6,
        "service-ips",
        "fd00::1 . tcp . 80",
        Some("goto a"),
    );
    tx.set(Verb::Flush, IP, "service-ips", &spec);
    tx.element(Verb::Add, IP, "cluster-ips", "10.0.0.1", None);
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
