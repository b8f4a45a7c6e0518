use super::*;
use crate::model::Protocol;
use crate::nft::fake::FakeRunner;
use crate::nft::fixture::{ep, svc, table};
use crate::nft::rules::SERVICE_IPS;
use crate::nft::transaction::Object;

const MAIN: TableId = TableId::main(Family::Ip);

fn syncer(fake: &FakeRunner) -> Syncer {
    Syncer::new(RuleConfig::default(), Arc::new(fake.clone()))
}

fn two_services(web_endpoints: Vec<crate::model::Endpoint>) -> ServiceTable {
    table(vec![
        svc("web", Protocol::Tcp, 80, &["10.96.0.10"], web_endpoints),
        svc(
            "api",
            Protocol::Tcp,
            80,
            &["10.96.0.11"],
            vec![ep("10.244.3.1", 80, false)],
        ),
    ])
}

fn touches(tx: &Transaction, needle: &str) -> bool {
    tx.ops().iter().any(|op| match &op.object {
        Object::Chain { name, .. } => name.contains(needle),
        Object::Rule { chain, rule, .. } => {
            chain.contains(needle) || rule.to_string().contains(needle)
        }
        Object::Set { name, .. } => name.contains(needle),
        Object::Element {
            set, key, value, ..
        } => {
            set.contains(needle)
                || key.as_str().contains(needle)
                || value
                    .as_ref()
                    .is_some_and(|v| v.to_string().contains(needle))
        }
        Object::Table { .. } => false,
    })
}

#[test]
fn second_sync_of_same_table_does_nothing() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    let mut s = syncer(&fake);
    let t = two_services(vec![ep("10.244.1.1", 80, false)]);
    let first = s.sync(&t)?;
    assert!(first.full && first.ops > 0);
    let second = s.sync(&t)?;
    assert!(!second.full);
    assert_eq!(second.ops, 0);
    assert_eq!(
        fake.transactions().len(),
        1,
        "empty transactions are not run"
    );
    Ok(())
}

#[test]
fn endpoint_change_touches_only_that_service() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    let mut s = syncer(&fake);
    s.sync(&two_services(vec![ep("10.244.1.1", 80, false)]))?;
    let out = s.sync(&two_services(vec![
        ep("10.244.1.1", 80, false),
        ep("10.244.1.2", 80, false),
    ]))?;
    let tx = fake.last_transaction().unwrap_or_default();
    // flush + 2 pick rules for the service chain; the new endpoint's hairpin element.
    assert_eq!(out.ops, 4, "{tx}");
    let (web, api) = (
        crate::nft::names::endpoints_map("default/web/tcp/80"),
        crate::nft::names::endpoints_map("default/api/tcp/80"),
    );
    assert!(touches(&tx, &web), "{tx}");
    assert!(!touches(&tx, "default/api/") && !touches(&tx, &api), "{tx}");
    assert!(!touches(&tx, "10.96.0.11"), "{tx}");
    Ok(())
}

#[test]
fn removed_service_chain_is_flushed_then_deleted() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    let mut s = syncer(&fake);
    s.sync(&two_services(vec![ep("10.244.1.1", 80, false)]))?;
    let web_chain = |fake: &FakeRunner| -> Result<bool, SyncError> {
        Ok(fake
            .family_listing(Family::Ip)
            .chains
            .iter()
            .any(|c| c.starts_with("service-") && c.contains("default/web/")))
    };
    assert!(web_chain(&fake)?);
    // The service loses its last endpoint: its chain is flushed, and kept until the next sync.
    s.sync(&two_services(vec![]))?;
    let tx = fake.last_transaction().unwrap_or_default();
    let flushed = tx
        .ops()
        .iter()
        .filter(|op| op.verb == Verb::Flush)
        .filter(
            |op| matches!(&op.object, Object::Chain { name, .. } if name.contains("default/web/")),
        )
        .count();
    assert_eq!(flushed, 1, "{tx}");
    assert!(web_chain(&fake)?, "still there after the first sync");
    let hairpin = fake.elements(MAIN, "hairpin-endpoints").unwrap_or_default();
    assert!(
        !hairpin.contains_key("10.244.1.1 . 10.244.1.1"),
        "{hairpin:?}"
    );
    // The next sync (even with nothing else to do) deletes it, and its endpoint map.
    let out = s.sync(&two_services(vec![]))?;
    assert_eq!(out.ops, 2);
    assert!(!web_chain(&fake)?);
    assert!(
        !fake
            .family_listing(Family::Ip)
            .maps
            .iter()
            .any(|m| *m == crate::nft::names::endpoints_map("default/web/tcp/80"))
    );
    Ok(())
}

#[test]
fn removed_affinity_set_is_deleted_after_its_rules() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    let mut s = syncer(&fake);
    let sticky = |eps| {
        table(vec![crate::nft::fixture::sticky(
            svc("web", Protocol::Tcp, 80, &["10.96.0.10"], eps),
            60,
        )])
    };
    s.sync(&sticky(vec![
        ep("10.244.1.1", 80, false),
        ep("10.244.1.2", 80, false),
    ]))?;
    let sets = |fake: &FakeRunner| -> Result<usize, SyncError> {
        Ok(fake
            .family_listing(Family::Ip)
            .sets
            .iter()
            .filter(|n| n.starts_with("affinity-") && n.contains("10.244.1.2"))
            .count())
    };
    assert_eq!(sets(&fake)?, 1);
    s.sync(&sticky(vec![ep("10.244.1.1", 80, false)]))?;
    assert_eq!(
        sets(&fake)?,
        1,
        "the rewritten chain no longer names it; deleted next sync"
    );
    s.sync(&sticky(vec![ep("10.244.1.1", 80, false)]))?;
    assert_eq!(sets(&fake)?, 0);
    Ok(())
}

#[test]
fn service_removal_and_no_endpoint_transitions_move_map_elements() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    let mut s = syncer(&fake);
    s.sync(&two_services(vec![ep("10.244.1.1", 80, false)]))?;
    s.sync(&two_services(vec![]))?;
    let reject = fake
        .elements(MAIN, "no-endpoint-services")
        .unwrap_or_default();
    assert!(reject.contains_key("10.96.0.10 . tcp . 80"));
    let dispatch = fake.all_elements(Family::Ip, "service-ips");
    assert!(!dispatch.contains_key("10.96.0.10 . tcp . 80"));
    s.sync(&table(vec![]))?;
    s.sync(&table(vec![]))?;
    assert!(
        fake.elements(MAIN, "no-endpoint-services")
            .unwrap_or_default()
            .is_empty()
    );
    assert!(
        fake.elements(MAIN, "cluster-ips")
            .unwrap_or_default()
            .is_empty()
    );
    let chains = fake.family_listing(Family::Ip).chains;
    assert!(
        !chains
            .iter()
            .any(|c| c.starts_with("service-") || c.starts_with("external-")),
        "{chains:?}"
    );
    Ok(())
}

#[test]
fn restart_adopts_existing_tables_without_flushing_them() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    let t = two_services(vec![
        ep("10.244.1.1", 80, false),
        ep("10.244.1.2", 80, false),
    ]);
    syncer(&fake).sync(&t)?;
    let before = fake.dump();
    // A new process: full sync over the existing state, with one endpoint gone meanwhile.
    let mut restarted = syncer(&fake);
    let t2 = two_services(vec![ep("10.244.1.1", 80, false)]);
    let out = restarted.sync(&t2)?;
    assert!(out.full);
    let tx = fake.last_transaction().unwrap_or_default();
    assert!(
        !tx.ops().iter().any(|op| op.verb == Verb::Delete
            || matches!(op.object, Object::Table { .. } if op.verb == Verb::Flush)),
        "adoption never deletes or flushes the table: {tx}"
    );
    assert_ne!(fake.dump(), before);
    // Converges to what a fresh proxy would produce, once the leftovers are deleted.
    restarted.sync(&t2)?;
    let fresh = FakeRunner::new();
    syncer(&fresh).sync(&t2)?;
    assert_eq!(fake.dump(), fresh.dump());
    Ok(())
}

#[test]
fn failed_transaction_forces_full_resync() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    let mut s = syncer(&fake);
    let t = two_services(vec![ep("10.244.1.1", 80, false)]);
    s.sync(&t)?;
    // Someone deletes a chain behind our back: the next partial sync that touches it fails.
    let mut sabotage = Transaction::new();
    for name in fake
        .family_listing(Family::Ip)
        .chains
        .iter()
        .filter(|c| c.starts_with("service-"))
    {
        let shard = fake.table_of_chain(Family::Ip, name).unwrap_or(MAIN);
        sabotage.chain(Verb::Flush, shard, name);
    }
    fake.run(&sabotage)?;
    let t2 = two_services(vec![ep("10.244.1.9", 80, false)]);
    // Partial sync deletes nothing missing, so it succeeds; force a conflicting state instead.
    s.request_full();
    assert!(s.needs_full());
    let out = s.sync(&t2)?;
    assert!(out.full);
    // Both service chains are whole again: the changed one and the one nothing changed in.
    let rules: Vec<String> = fake
        .family_listing(Family::Ip)
        .chains
        .iter()
        .filter(|c| c.starts_with("service-"))
        .flat_map(|c| fake.find_chain_rules(Family::Ip, c).unwrap_or_default())
        .collect();
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert!(rules.iter().all(|r| r.contains("map @ep-")), "{rules:?}");
    let web = fake
        .family_listing(Family::Ip)
        .sets
        .into_iter()
        .chain(fake.family_listing(Family::Ip).maps)
        .find(|n| *n == crate::nft::names::endpoints_map("default/web/tcp/80"))
        .unwrap_or_default();
    let elements = fake.all_elements(Family::Ip, &web);
    assert_eq!(
        elements.values().collect::<Vec<_>>(),
        [&Some("10.244.1.9 . 80".to_string())]
    );
    Ok(())
}

#[test]
fn udp_endpoint_removal_reports_stale_flows() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    let mut s = syncer(&fake);
    let dns = |eps| table(vec![svc("dns", Protocol::Udp, 53, &["10.96.0.53"], eps)]);
    s.sync(&dns(vec![
        ep("10.244.1.1", 53, false),
        ep("10.244.1.2", 53, false),
    ]))?;
    let out = s.sync(&dns(vec![ep("10.244.1.1", 53, false)]))?;
    assert_eq!(
        out.stale_flows,
        vec![StaleFlow::Service {
            service_ip: crate::nft::fixture::ip("10.96.0.53"),
            port: 53,
            endpoint: crate::nft::fixture::ip("10.244.1.2"),
        }]
    );
    Ok(())
}

#[test]
fn udp_service_getting_endpoints_clears_its_unanswered_flows() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    let mut s = syncer(&fake);
    let dns = |eps| table(vec![svc("dns", Protocol::Udp, 53, &["10.96.0.53"], eps)]);
    let first = s.sync(&dns(vec![ep("10.244.1.1", 53, false)]))?;
    assert!(first.stale_flows.is_empty(), "the first sync never guesses");
    s.sync(&dns(vec![]))?;
    let out = s.sync(&dns(vec![ep("10.244.1.2", 53, false)]))?;
    assert_eq!(
        out.stale_flows,
        vec![StaleFlow::ServicePort {
            service_ip: crate::nft::fixture::ip("10.96.0.53"),
            port: 53,
        }]
    );
    Ok(())
}

/// Where `key` of `set` is installed in `family`: (table, value) for every table holding it.
fn holders(
    fake: &FakeRunner,
    family: Family,
    set: &str,
    key: &str,
) -> Result<Vec<(TableId, Option<String>)>, SyncError> {
    Ok(fake
        .list(family)?
        .into_keys()
        .filter_map(|id| Some((id, fake.elements(id, set)?.get(key)?.clone())))
        .collect())
}

#[test]
fn a_shared_external_address_is_answered_by_one_shard_and_moves_when_its_winner_goes()
-> Result<(), SyncError> {
    let config = RuleConfig::default();
    // Two services in different shards that both claim 192.0.2.1:80.
    let shard = |name: &str| {
        let port = svc(name, Protocol::Tcp, 80, &["10.96.0.1"], vec![]);
        config.shard_table(Family::Ip, &port.id)
    };
    let names: Vec<String> = (0..64).map(|i| format!("s{i:02}")).collect();
    let first = names.first().cloned().unwrap_or_default();
    let Some(second) = names.iter().find(|n| shard(n) != shard(&first)).cloned() else {
        panic!("64 names all hash to one of 8 shards");
    };
    let port = |name: &str, last: u8| {
        let mut p = svc(
            name,
            Protocol::Tcp,
            80,
            &[&format!("10.96.0.{last}")],
            vec![ep(&format!("10.244.0.{last}"), 80, false)],
        );
        p.external_ips = vec![crate::nft::fixture::ip("192.0.2.1")];
        p
    };
    let both = table(vec![port(&first, 1), port(&second, 2)]);
    let key = "192.0.2.1 . tcp . 80";

    let fake = FakeRunner::new();
    let mut s = Syncer::new(config.clone(), Arc::new(fake.clone()));
    s.sync(&both)?;
    let held = holders(&fake, Family::Ip, SERVICE_IPS, key)?;
    assert_eq!(held.len(), 1, "one table answers for the address: {held:?}");
    assert_eq!(
        held[0].0,
        shard(&first),
        "the first service in name order wins"
    );

    // The winner goes: the runner-up's shard takes the address in the same transaction.
    let only_second = table(vec![port(&second, 2)]);
    let out = s.sync(&only_second)?;
    assert!(!out.full);
    let held = holders(&fake, Family::Ip, SERVICE_IPS, key)?;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].0, shard(&second));
    assert!(
        held[0]
            .1
            .as_deref()
            .is_some_and(|v| v.contains(&format!("default/{second}/"))),
        "{held:?}"
    );

    // The winner comes back: the address returns to it and leaves the runner-up.
    s.sync(&both)?;
    s.sync(&both)?;
    let held = holders(&fake, Family::Ip, SERVICE_IPS, key)?;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].0, shard(&first));
    let fresh = FakeRunner::new();
    Syncer::new(config, Arc::new(fresh.clone())).sync(&both)?;
    assert_eq!(fake.dump(), fresh.dump());
    Ok(())
}

mod convergence {
    use super::*;
    use proptest::prelude::*;

    /// A small random service: which of 4 endpoints it has, affinity, NodePort, and an
    /// externalIP that services may share (conflicting claims).
    #[derive(Debug, Clone)]
    struct Spec {
        endpoints: Vec<bool>,
        affinity: bool,
        node_port: bool,
        shared_external_ip: bool,
        udp: bool,
        /// 0: no LB IP; 1: an LB IP open to all; 2, 3, 4: with one, two or no valid
        /// source ranges.
        lb: u8,
    }

    fn spec() -> impl Strategy<Value = Option<Spec>> {
        proptest::option::of(
            (
                proptest::collection::vec(any::<bool>(), 4),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                0u8..5,
            )
                .prop_map(
                    |(endpoints, affinity, node_port, shared_external_ip, udp, lb)| Spec {
                        endpoints,
                        affinity,
                        node_port,
                        shared_external_ip,
                        udp,
                        lb,
                    },
                ),
        )
    }

    fn build(specs: &[Option<Spec>]) -> ServiceTable {
        let ports = specs
            .iter()
            .enumerate()
            .filter_map(|(i, spec)| {
                let spec = spec.as_ref()?;
                let eps = spec
                    .endpoints
                    .iter()
                    .enumerate()
                    .filter(|(_, on)| **on)
                    .map(|(j, _)| ep(&format!("10.244.{i}.{j}"), 80, j % 2 == 0))
                    .collect();
                let protocol = if spec.udp {
                    Protocol::Udp
                } else {
                    Protocol::Tcp
                };
                let cluster_ip = format!("10.96.0.{i}");
                let mut port = svc(&format!("s{i}"), protocol, 80, &[&cluster_ip], eps);
                if spec.affinity {
                    port.affinity_timeout = Some(std::time::Duration::from_secs(60 + i as u64));
                }
                if spec.node_port {
                    port.node_port = Some(30000 + i as u16);
                }
                if spec.shared_external_ip {
                    port.external_ips = vec![crate::nft::fixture::ip("192.0.2.1")];
                }
                if spec.lb > 0 {
                    port.load_balancer_ips =
                        vec![crate::nft::fixture::ip(&format!("198.51.100.{i}"))];
                }
                port.source_ranges = match spec.lb {
                    2 => Some(vec![net("10.0.0.0/8")]),
                    3 => Some(vec![net("10.0.0.0/8"), net("192.168.0.0/16")]),
                    4 => Some(Vec::new()),
                    _ => None,
                };
                Some(port)
            })
            .collect();
        table(ports)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn partial_syncs_converge_to_a_fresh_full_sync(
            steps in proptest::collection::vec(
                (proptest::collection::vec(spec(), 5), any::<bool>()),
                1..6,
            )
        ) {
            let fake = FakeRunner::new();
            let mut s = syncer(&fake);
            for (i, (specs, settle)) in steps.iter().enumerate() {
                let t = build(specs);
                s.sync(&t).map_err(|e| TestCaseError::fail(e.to_string()))?;
                // Without the settling pass the next change meets objects flushed but not yet
                // deleted (a service coming back before its leftovers are gone).
                if !settle && i + 1 < steps.len() {
                    continue;
                }
                // One more pass deletes what the change flushed.
                s.sync(&t).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let fresh = FakeRunner::new();
                syncer(&fresh).sync(&t).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(fake.dump(), fresh.dump());
                // Whatever the shards, one table answers for the shared address: the first
                // claimant's (ports are in id order) among the TCP ports with endpoints.
                let held = holders(&fake, Family::Ip, SERVICE_IPS, "192.0.2.1 . tcp . 80")
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let tcp_claimant = t
                    .ports
                    .iter()
                    .find(|p| {
                        !p.external_ips.is_empty()
                            && p.id.protocol == Protocol::Tcp
                            && !p.endpoints.is_empty()
                    });
                prop_assert!(held.len() <= 1, "{:?}", held);
                prop_assert_eq!(
                    held.first().map(|(id, _)| *id),
                    tcp_claimant.map(|p| RuleConfig::default().shard_table(Family::Ip, &p.id))
                );
            }
        }
    }
}

#[test]
fn a_new_shard_count_moves_services_and_drops_unused_shards_in_one_transaction()
-> Result<(), SyncError> {
    let fake = FakeRunner::new();
    let t = two_services(vec![ep("10.244.1.1", 80, false)]);
    let with = |shards| RuleConfig {
        shards,
        ..RuleConfig::default()
    };
    Syncer::new(with(16), Arc::new(fake.clone())).sync(&t)?;
    let shard_tables = |fake: &FakeRunner| -> Result<usize, SyncError> {
        Ok(fake
            .list(Family::Ip)?
            .keys()
            .filter(|id| id.shard.is_some())
            .count())
    };
    assert_eq!(shard_tables(&fake)?, 16);
    // Restarted with fewer shards: one full sync converges to what a fresh proxy builds.
    let mut fewer = Syncer::new(with(3), Arc::new(fake.clone()));
    assert!(fewer.sync(&t)?.full);
    let tx = fake.last_transaction().unwrap_or_default();
    let deleted_tables = tx
        .ops()
        .iter()
        .filter(|op| op.verb == Verb::Delete && matches!(op.object, Object::Table { .. }))
        .count();
    assert_eq!(
        deleted_tables,
        2 * 13,
        "shards 3..16 of both families: {tx}"
    );
    assert_eq!(shard_tables(&fake)?, 3);
    fewer.sync(&t)?;
    let fresh = FakeRunner::new();
    Syncer::new(with(3), Arc::new(fresh.clone())).sync(&t)?;
    assert_eq!(fake.dump(), fresh.dump());
    Ok(())
}

#[test]
fn a_service_lives_in_one_shard_and_node_wide_sets_in_the_main_table() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    let mut s = syncer(&fake);
    s.sync(&two_services(vec![ep("10.244.1.1", 80, false)]))?;
    let web = fake
        .family_listing(Family::Ip)
        .chains
        .into_iter()
        .find(|c| c.starts_with("service-") && c.contains("default/web/"))
        .unwrap_or_default();
    let shard = fake.table_of_chain(Family::Ip, &web);
    assert!(shard.is_some_and(|id| id.shard.is_some()), "{shard:?}");
    let dispatch = shard
        .and_then(|id| fake.elements(id, "service-ips"))
        .unwrap_or_default();
    assert_eq!(
        dispatch.get("10.96.0.10 . tcp . 80"),
        Some(&Some(format!("goto {web}")))
    );
    assert!(
        fake.elements(MAIN, "cluster-ips")
            .unwrap_or_default()
            .contains_key("10.96.0.10")
    );
    assert_eq!(fake.elements(MAIN, "service-ips"), None);
    Ok(())
}

fn net(text: &str) -> ipnet::IpNet {
    text.parse().unwrap_or_default()
}

fn lb_service(ranges: Option<Vec<ipnet::IpNet>>) -> ServiceTable {
    let mut port = svc(
        "lb",
        Protocol::Tcp,
        80,
        &["10.96.0.20"],
        vec![ep("10.244.1.1", 80, false)],
    );
    port.node_port = Some(30020);
    port.load_balancer_ips = vec![crate::nft::fixture::ip("198.51.100.20")];
    port.source_ranges = ranges;
    table(vec![port])
}

#[test]
fn source_ranges_changes_are_element_updates_and_removal_reopens_the_lb_ip() -> Result<(), SyncError>
{
    let fake = FakeRunner::new();
    let mut s = syncer(&fake);
    let identity = "default/lb/tcp/80";
    let set = crate::nft::names::source_ranges_set(identity);
    let firewall = crate::nft::names::firewall_chain(identity);
    s.sync(&lb_service(Some(vec![net("10.0.0.0/8")])))?;
    let dump = fake.dump();
    assert!(
        dump.contains(&format!("198.51.100.20 . tcp . 80 : goto {firewall}")),
        "{dump}"
    );
    assert!(dump.contains("10.0.0.0/8"), "{dump}");
    // ClusterIP and NodePort skip the check.
    assert!(
        !dump.contains(&format!("10.96.0.20 . tcp . 80 : goto {firewall}")),
        "{dump}"
    );
    assert!(
        !dump.contains(&format!("tcp . 30020 : goto {firewall}")),
        "{dump}"
    );

    s.sync(&lb_service(Some(vec![net("192.168.0.0/16")])))?;
    let tx = fake.last_transaction().unwrap_or_default();
    let elements_only = tx
        .ops()
        .iter()
        .all(|op| matches!(&op.object, Object::Element { set: name, .. } if *name == set));
    assert!(elements_only && tx.ops().len() == 2, "{tx}");
    let dump = fake.dump();
    assert!(
        dump.contains("192.168.0.0/16") && !dump.contains("10.0.0.0/8"),
        "{dump}"
    );

    s.sync(&lb_service(None))?;
    s.sync(&lb_service(None))?;
    let dump = fake.dump();
    assert!(!dump.contains(&firewall) && !dump.contains(&set), "{dump}");
    let fresh = FakeRunner::new();
    syncer(&fresh).sync(&lb_service(None))?;
    assert_eq!(dump, fresh.dump());
    Ok(())
}
