use std::net::SocketAddr;

use super::*;
use crate::model::Protocol;
use crate::nft::ast::{Rule, Selector, Stmt, Verdict};
use crate::nft::fixture::{ep, ip, sticky, svc, table};
use crate::nft::rules::{Pick, RuleBuilder, RuleConfig, Ruleset};

/// Rulesets covering every shape the generator builds: random picks through maps, cascades
/// (round-robin, affinity), NodePorts, external policies, pod and service CIDRs, node IPs and
/// source ranges, in both families.
fn rulesets() -> Vec<Ruleset> {
    let mut web = svc(
        "web",
        Protocol::Tcp,
        80,
        &["10.96.0.10", "fd00:96::10"],
        vec![
            ep("10.244.1.1", 8080, true),
            ep("10.244.2.1", 8080, false),
            ep("fd00:244::1", 8080, true),
        ],
    );
    web.node_port = Some(30080);
    web.external_ips = vec![ip("192.0.2.1")];
    web.load_balancer_ips = vec![ip("192.0.2.2")];
    web.source_ranges = Some(vec!["203.0.113.0/24".parse().unwrap_or_default()]);
    let mut local = web.clone();
    local.id.name = "local".into();
    local.external_policy_local = true;
    let dns = sticky(
        svc(
            "dns",
            Protocol::Udp,
            53,
            &["10.96.0.53"],
            vec![ep("10.244.1.53", 53, true), ep("10.244.2.53", 53, false)],
        ),
        600,
    );
    let empty = svc("empty", Protocol::Sctp, 9, &["10.96.0.9"], vec![]);
    let services = table(vec![web, local, dns, empty]);
    let plain = RuleConfig::default();
    let full = RuleConfig {
        cluster_cidrs: vec![
            "10.244.0.0/16".parse().unwrap_or_default(),
            "fd00:244::/48".parse().unwrap_or_default(),
        ],
        service_cidrs: vec!["10.96.0.0/16".parse().unwrap_or_default()],
        node_ips: vec![ip("192.0.2.100"), ip("fd00::100")],
        pick: Pick::RoundRobin,
        ..RuleConfig::default()
    };
    [plain, full]
        .into_iter()
        .map(|config| RuleBuilder::new(config).build(&services))
        .collect()
}

/// Every rule the generator builds, with its table's family.
fn generated_rules() -> Vec<(Family, Rule)> {
    let mut rules = Vec::new();
    for ruleset in rulesets() {
        for (id, table) in &ruleset.tables {
            for chain in table.chains.values() {
                rules.extend(chain.rules.iter().map(|r| (id.family, r.clone())));
            }
        }
    }
    rules
}

fn bytes(family: Family, rule: &Rule) -> Result<(Vec<u8>, Option<Vec<u8>>), Unsupported> {
    encode_rule(family, rule).map(|(exprs, userdata)| (exprs.into_bytes(), userdata))
}

#[test]
fn every_rule_the_generator_builds_encodes() {
    let rules = generated_rules();
    assert!(rules.len() > 40, "{} rules", rules.len());
    for (family, rule) in &rules {
        assert!(bytes(*family, rule).is_ok(), "{family} {rule}");
    }
    let shapes: Vec<String> = rules.iter().map(|(_, r)| r.to_string()).collect();
    for needle in [
        "dnat ip to numgen random mod 65536 map @",
        "numgen inc mod 2 == 0",
        "update @affinity-",
        "ip6 daddr != ::1",
        "@nodeport-ips",
        "ip saddr != @cluster-cidrs",
        "dnat to [fd00:244::1]:8080",
    ] {
        assert!(shapes.iter().any(|s| s.contains(needle)), "{needle}");
    }
}

/// Concatenations use the registers nft picks (`nft --debug=netlink`): 128-bit register
/// names where a word starts one, 32-bit names elsewhere.
#[test]
fn concatenations_use_nfts_registers() {
    assert_eq!(
        [0, 1, 2, 4, 5].map(concat_register),
        [REG_1, 9, 10, REG_2, 13]
    );
    assert_eq!(
        prefix_bytes(Family::Ip, ip("127.0.0.0"), 8),
        Some(vec![127])
    );
    assert_eq!(
        prefix_bytes(Family::Ip6, ip("::1"), 128).map(|b| b.len()),
        Some(16)
    );
    assert_eq!(prefix_bytes(Family::Ip, ip("10.96.0.0"), 12), None);
    assert_eq!(prefix_bytes(Family::Ip, ip("10.96.0.1"), 16), None);
    assert_eq!(prefix_bytes(Family::Ip6, ip("10.96.0.0"), 16), None);
}

#[test]
fn other_families_and_unaligned_prefixes_are_unsupported() {
    let v4 = SocketAddr::new(ip("10.0.0.1"), 80);
    for (family, rule) in [
        (Family::Ip6, Rule::new([Stmt::Dnat(v4)])),
        (
            Family::Ip6,
            Rule::new([Stmt::Lookup {
                keys: vec![Selector::Saddr(Family::Ip)],
                set: "s".into(),
                negate: false,
            }]),
        ),
        (
            Family::Ip,
            Rule::new([Stmt::AddrNot {
                selector: Selector::Daddr(Family::Ip),
                net: "10.96.0.0/12".parse().unwrap_or_default(),
            }]),
        ),
        (
            Family::Ip,
            Rule::new([Stmt::Verdict(Verdict::Drop)]).comment("c".repeat(300)),
        ),
        (Family::Ip, Rule::default()),
    ] {
        assert!(bytes(family, &rule).is_err(), "{rule}");
    }
}
