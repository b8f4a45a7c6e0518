use super::*;
use crate::model::Protocol;
use crate::nft::fixture::{ep, sticky, svc, table};

fn config() -> RuleConfig {
    RuleConfig {
        cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap_or_else(|_| IpNet::default())],
        service_cidrs: vec!["10.96.0.0/16".parse().unwrap_or_else(|_| IpNet::default())],
        node_ips: Vec::new(),
        masquerade_mark: 0x4000,
        masquerade_fully_random: false,
        pick: Pick::Random,
        shards: 4,
    }
}

/// Every table of `family` merged into one (static names repeat across shards; their
/// elements are united), for looking at one service's rules wherever its shard is.
fn merged(rules: &Ruleset, family: Family) -> Option<TableRules> {
    let mut out: Option<TableRules> = None;
    for (_, table) in rules.tables.iter().filter(|(id, _)| id.family == family) {
        let out = out.get_or_insert_with(TableRules::default);
        out.chains.extend(table.chains.clone());
        out.sets.extend(table.sets.clone());
        for (set, elements) in &table.elements {
            out.elements
                .entry(set.clone())
                .or_default()
                .extend(elements.clone());
        }
    }
    out
}

/// A chain's rules as nft prints them.
fn texts(chain: &ChainSpec) -> Vec<String> {
    chain.rules.iter().map(Rule::to_string).collect()
}

/// A set's elements as nft prints them.
fn element_texts(rules: &TableRules, set: &str) -> BTreeMap<String, Option<String>> {
    rules.elements[set]
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_ref().map(Value::to_string)))
        .collect()
}

fn chain_with_prefix<'a>(rules: &'a TableRules, prefix: &str) -> Vec<(&'a String, &'a ChainSpec)> {
    rules
        .chains
        .iter()
        .filter(|(n, _)| n.starts_with(prefix))
        .map(|(n, c)| (n, c.as_ref()))
        .collect()
}

#[test]
fn cluster_ip_picks_endpoints_with_numgen_and_masquerades_off_cluster() {
    let port = svc(
        "web",
        Protocol::Tcp,
        80,
        &["10.96.0.10"],
        vec![ep("10.244.1.1", 8080, false), ep("10.244.1.2", 8080, true)],
    );
    let rules = RuleBuilder::new(config()).build(&table(vec![port]));
    let v4 = merged(&rules, Family::Ip).unwrap_or_default();
    let services = chain_with_prefix(&v4, "service-");
    let (name, chain) = services
        .iter()
        .find(|(n, _)| n.ends_with("default/web/tcp/80"))
        .copied()
        .unwrap_or_else(|| panic!("no service chain in {:?}", v4.chains.keys()));
    let rules_text = texts(chain);
    assert_eq!(
        rules_text[0],
        "ip saddr != @cluster-cidrs jump mark-for-masquerade"
    );
    assert_eq!(
        rules_text[1],
        format!(
            "meta l4proto tcp dnat ip to numgen random mod 65536 map @{}",
            crate::nft::names::endpoints_map("default/web/tcp/80")
        )
    );
    assert_eq!(chain.rules.len(), 2);
    let map_name = crate::nft::names::endpoints_map("default/web/tcp/80");
    let map = &v4.sets[&map_name];
    assert_eq!(map.comment.as_deref(), Some("default/web/tcp/80"));
    assert_eq!(map.key_type.to_string(), "typeof numgen random mod 65536");
    assert_eq!(
        map.value_type.map(|v| v.to_string()).as_deref(),
        Some("ip daddr . tcp dport")
    );
    assert_eq!(map.flags, [crate::nft::ast::SetFlag::Interval]);
    // Two endpoints split the range in halves.
    let elements_text = element_texts(&v4, &map_name);
    let elements: Vec<(&String, &Option<String>)> = elements_text.iter().collect();
    let want = [
        ("0-32767".to_string(), Some("10.244.1.1 . 8080".to_string())),
        (
            "32768-65535".to_string(),
            Some("10.244.1.2 . 8080".to_string()),
        ),
    ];
    assert_eq!(
        elements,
        want.iter().map(|(k, v)| (k, v)).collect::<Vec<_>>()
    );
    let empty = RuleBuilder::new(config()).build(&table(vec![]));
    let static_chains = merged(&empty, Family::Ip).map_or(0, |f| f.chains.len());
    assert_eq!(
        v4.chains.len(),
        static_chains + 1,
        "one chain per service port, no endpoint chains"
    );
    let hairpin_text = element_texts(&v4, HAIRPIN_ENDPOINTS);
    let hairpin: Vec<&String> = hairpin_text.keys().collect();
    assert_eq!(
        hairpin,
        ["10.244.1.1 . 10.244.1.1", "10.244.1.2 . 10.244.1.2"]
    );
    assert_eq!(
        element_texts(&v4, SERVICE_IPS).get("10.96.0.10 . tcp . 80"),
        Some(&Some(format!("goto {name}")))
    );
    assert!(element_texts(&v4, CLUSTER_IPS).contains_key("10.96.0.10"));
    let v6 = merged(&rules, Family::Ip6).unwrap_or_default();
    assert!(
        chain_with_prefix(&v6, "service-").is_empty(),
        "single-stack"
    );
}

#[test]
fn no_endpoints_go_to_the_reject_maps() {
    let mut port = svc("empty", Protocol::Tcp, 80, &["10.96.0.12"], vec![]);
    port.node_port = Some(30081);
    let rules = RuleBuilder::new(config()).build(&table(vec![port]));
    let v4 = merged(&rules, Family::Ip).unwrap_or_default();
    assert!(chain_with_prefix(&v4, "service-").is_empty());
    let verdict = Some(format!("goto {REJECT_CHAIN}"));
    assert_eq!(
        element_texts(&v4, NO_ENDPOINT_SERVICES).get("10.96.0.12 . tcp . 80"),
        Some(&verdict)
    );
    assert_eq!(
        element_texts(&v4, NO_ENDPOINT_NODEPORTS).get("tcp . 30081"),
        Some(&verdict)
    );
    assert!(v4.elements[SERVICE_IPS].is_empty());
}

#[test]
fn affinity_checks_sets_before_random_pick() {
    let port = sticky(
        svc(
            "sticky",
            Protocol::Tcp,
            80,
            &["10.96.0.11"],
            vec![ep("10.244.1.1", 80, false), ep("10.244.1.2", 80, false)],
        ),
        600,
    );
    let rules = RuleBuilder::new(config()).build(&table(vec![port]));
    let v4 = merged(&rules, Family::Ip).unwrap_or_default();
    let (_, chain) = chain_with_prefix(&v4, "service-")[0];
    let rules_text = texts(chain);
    for (rule, endpoint) in rules_text[1..3]
        .iter()
        .zip(["10.244.1.1:80", "10.244.1.2:80"])
    {
        assert!(rule.starts_with("ip saddr @affinity-"), "{rule}");
        assert!(rule.contains(" update @affinity-"), "{rule}");
        assert!(rule.ends_with(&format!("dnat to {endpoint}")), "{rule}");
    }
    assert!(rules_text[3].starts_with("numgen random mod 2 == 0 update @affinity-"));
    assert!(rules_text[3].ends_with("meta l4proto tcp dnat to 10.244.1.1:80"));
    assert!(rules_text[4].starts_with("update @affinity-"));
    let sets: Vec<_> = v4
        .sets
        .iter()
        .filter(|(n, _)| n.starts_with("affinity-"))
        .collect();
    assert_eq!(sets.len(), 2);
    assert!(
        sets.iter()
            .all(|(_, s)| s.is_dynamic() && s.timeout == Some(std::time::Duration::from_secs(600)))
    );
}

#[test]
fn external_traffic_policy_local_keeps_only_local_endpoints() {
    let mut port = svc(
        "local",
        Protocol::Tcp,
        443,
        &["10.96.0.20"],
        vec![ep("10.244.1.1", 443, true), ep("10.244.2.1", 443, false)],
    );
    port.external_policy_local = true;
    port.node_port = Some(30443);
    port.external_ips = vec![crate::nft::fixture::ip("192.0.2.10")];
    let rules = RuleBuilder::new(config()).build(&table(vec![port.clone()]));
    let v4 = merged(&rules, Family::Ip).unwrap_or_default();
    let (_, external) = chain_with_prefix(&v4, "external-")[0];
    assert!(
        !texts(external)
            .iter()
            .any(|r| r == "jump mark-for-masquerade"),
        "source kept"
    );
    let last = texts(external).last().cloned().unwrap_or_default();
    assert!(
        last.ends_with(&format!(
            "map @{}",
            crate::nft::names::external_endpoints_map("default/local/tcp/443")
        )),
        "{last}"
    );
    let local_only_text = element_texts(
        &v4,
        &crate::nft::names::external_endpoints_map("default/local/tcp/443"),
    );
    let local_only: Vec<&Option<String>> = local_only_text.values().collect();
    assert_eq!(local_only, [&Some("10.244.1.1 . 443".to_string())]);
    // No local endpoint: external traffic is dropped, ClusterIP still served.
    port.endpoints = vec![ep("10.244.2.1", 443, false)];
    let rules = RuleBuilder::new(config()).build(&table(vec![port]));
    let v4 = merged(&rules, Family::Ip).unwrap_or_default();
    let (_, external) = chain_with_prefix(&v4, "external-")[0];
    assert!(
        texts(external)
            .last()
            .is_some_and(|r| r.starts_with("drop"))
    );
    assert!(v4.elements[NO_ENDPOINT_SERVICES].is_empty());
}

#[test]
fn unchanged_services_are_not_regenerated() {
    let port = svc(
        "web",
        Protocol::Tcp,
        80,
        &["10.96.0.10"],
        vec![ep("10.244.1.1", 80, false)],
    );
    let t = table(vec![port]);
    let mut builder = RuleBuilder::new(config());
    let a = builder.build(&t);
    let b = builder.build(&t);
    let chain = |r: &Ruleset| {
        merged(r, Family::Ip).and_then(|f| {
            f.chains
                .iter()
                .find(|(n, _)| n.starts_with("service-"))
                .map(|(_, c)| c.clone())
        })
    };
    match (chain(&a), chain(&b)) {
        (Some(x), Some(y)) => assert!(Arc::ptr_eq(&x, &y), "cached chain reused"),
        other => panic!("missing chains: {other:?}"),
    }
}

#[test]
fn round_robin_cascades_on_per_rule_counters() {
    let port = svc(
        "rr",
        Protocol::Tcp,
        80,
        &["10.96.0.13"],
        vec![
            ep("10.244.1.1", 80, false),
            ep("10.244.1.2", 80, false),
            ep("10.244.1.3", 80, false),
        ],
    );
    let mut cfg = config();
    cfg.pick = Pick::RoundRobin;
    let rules = RuleBuilder::new(cfg).build(&table(vec![port]));
    let v4 = merged(&rules, Family::Ip).unwrap_or_default();
    let (_, chain) = chain_with_prefix(&v4, "service-")[0];
    assert_eq!(
        texts(chain)[1..],
        [
            "numgen inc mod 3 == 0 meta l4proto tcp dnat to 10.244.1.1:80",
            "numgen inc mod 2 == 0 meta l4proto tcp dnat to 10.244.1.2:80",
            "meta l4proto tcp dnat to 10.244.1.3:80",
        ]
    );
}

#[test]
fn masquerade_keeps_client_ports_unless_fully_random_is_asked_for() {
    let last_rule = |config: RuleConfig| {
        let rules = RuleBuilder::new(config).build(&table(vec![]));
        let v4 = merged(&rules, Family::Ip).unwrap_or_default();
        v4.chains
            .get("masquerading")
            .and_then(|chain| texts(chain).pop())
    };
    assert_eq!(last_rule(config()).as_deref(), Some("masquerade"));
    let random = RuleConfig {
        masquerade_fully_random: true,
        ..config()
    };
    assert_eq!(
        last_rule(random).as_deref(),
        Some("masquerade fully-random")
    );
}

mod incremental {
    use std::collections::BTreeSet;

    use super::*;
    use proptest::prelude::*;

    /// One slot's service: which of 3 endpoints it has, a NodePort, UDP instead of TCP (a new
    /// id), and a shared externalIP.
    type Spec = (u8, bool, bool, bool);

    fn port(slot: usize, (endpoints, node_port, udp, shared): Spec) -> ServicePort {
        let eps = (0..3)
            .filter(|j| endpoints & (1 << j) != 0)
            .map(|j| ep(&format!("10.244.{slot}.{j}"), 80, j == 0))
            .collect();
        let protocol = if udp { Protocol::Udp } else { Protocol::Tcp };
        let mut port = svc(
            &format!("s{slot}"),
            protocol,
            80,
            &[&format!("10.96.0.{slot}")],
            eps,
        );
        port.node_port = node_port.then_some(30000 + slot as u16);
        if shared {
            port.external_ips = vec![crate::nft::fixture::ip("192.0.2.1")];
        }
        port
    }

    /// The next table: a slot whose spec did not change keeps the previous table's `Arc` when
    /// `share` says so, else gets an equal port in a new allocation (both happen in practice).
    fn next_table(
        previous: &[(Option<Spec>, Option<Arc<ServicePort>>)],
        specs: &[(Option<Spec>, bool)],
    ) -> Vec<(Option<Spec>, Option<Arc<ServicePort>>)> {
        specs
            .iter()
            .enumerate()
            .map(|(slot, (spec, share))| {
                let kept = previous
                    .get(slot)
                    .filter(|(before, _)| *share && before == spec)
                    .and_then(|(_, arc)| arc.clone());
                let arc = kept.or_else(|| spec.map(|spec| Arc::new(port(slot, spec))));
                (*spec, arc)
            })
            .collect()
    }

    fn service_table(slots: &[(Option<Spec>, Option<Arc<ServicePort>>)]) -> ServiceTable {
        let mut ports: Vec<Arc<ServicePort>> =
            slots.iter().filter_map(|(_, arc)| arc.clone()).collect();
        ports.sort_by(|a, b| a.id.cmp(&b.id));
        ServiceTable { ports }
    }

    type Diff = Vec<(ServicePortId, Option<Fragments>, Option<Fragments>)>;

    /// The reference: every port of either table regenerated, kept where its rules differ.
    fn full_diff(before: &ServiceTable, after: &ServiceTable) -> Diff {
        let ids: BTreeSet<&ServicePortId> = before
            .ports
            .iter()
            .chain(&after.ports)
            .map(|p| &p.id)
            .collect();
        ids.into_iter()
            .filter_map(|id| {
                let old = before.get(id).map(|p| place(&config(), p));
                let new = after.get(id).map(|p| place(&config(), p));
                (old != new).then(|| (id.clone(), old, new))
            })
            .collect()
    }

    fn spec() -> impl Strategy<Value = (Option<Spec>, bool)> {
        (
            proptest::option::of((0u8..8, any::<bool>(), any::<bool>(), any::<bool>())),
            any::<bool>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn incremental_updates_match_a_full_rebuild_diff(
            steps in proptest::collection::vec(proptest::collection::vec(spec(), 6), 1..8)
        ) {
            let mut builder = RuleBuilder::new(config());
            let mut slots = Vec::new();
            let mut before = ServiceTable::default();
            for specs in &steps {
                slots = next_table(&slots, specs);
                let after = service_table(&slots);
                let changes: Diff = builder
                    .update(&after)
                    .into_iter()
                    .map(|c| (c.id, c.old, c.new))
                    .collect();
                prop_assert_eq!(&changes, &full_diff(&before, &after));
                prop_assert_eq!(
                    builder.assemble(&after),
                    RuleBuilder::new(config()).build(&after)
                );
                prop_assert_eq!(
                    builder.cache.keys().collect::<Vec<_>>(),
                    after.ports.iter().map(|p| &p.id).collect::<Vec<_>>()
                );
                before = after;
            }
        }
    }

    #[test]
    fn a_table_out_of_id_order_is_read_as_if_sorted() {
        let a = Arc::new(port(1, (1, false, false, false)));
        let b = Arc::new(port(2, (3, true, false, false)));
        let mut builder = RuleBuilder::new(config());
        let unsorted = ServiceTable {
            ports: vec![b.clone(), a.clone()],
        };
        let changes: Vec<ServicePortId> = builder
            .update(&unsorted)
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(changes, [a.id.clone(), b.id.clone()]);
        let sorted = ServiceTable { ports: vec![a, b] };
        assert!(builder.update(&sorted).is_empty());
    }
}
