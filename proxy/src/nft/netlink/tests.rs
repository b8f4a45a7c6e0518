use super::*;
use crate::model::Protocol;
use crate::nft::ast::{Key, Part, Rule, Stmt, Value, Verdict};
use crate::nft::fake::FakeRunner;
use crate::nft::fixture::{ep, sticky, svc, table};
use crate::nft::rules::RuleConfig;
use crate::nft::sync::Syncer;
use crate::nft::transaction::{Family, TableId};

const IP: TableId = TableId::main(Family::Ip);
use std::sync::Arc;

fn config() -> RuleConfig {
    RuleConfig {
        cluster_cidrs: vec![
            "10.244.0.0/16".parse().unwrap_or_default(),
            "fd00:244::/48".parse().unwrap_or_default(),
        ],
        service_cidrs: vec![
            "10.96.0.0/16".parse().unwrap_or_default(),
            "fd00:96::/112".parse().unwrap_or_default(),
        ],
        masquerade_mark: 0x4000,
        ..RuleConfig::default()
    }
}

#[test]
fn full_and_incremental_syncs_encode() -> Result<(), crate::nft::SyncError> {
    let fake = FakeRunner::new();
    let mut syncer = Syncer::new(config(), Arc::new(fake.clone()));
    let mut web = svc(
        "web",
        Protocol::Tcp,
        80,
        &["10.96.0.10"],
        vec![ep("10.244.1.1", 8080, false)],
    );
    web.node_port = Some(30080);
    web.external_policy_local = true;
    let port = sticky(web.clone(), 600);
    syncer.sync(&table(vec![port.clone()]))?;
    let full = fake.last_transaction().unwrap_or_default();
    let encoded = encode(&full, 1).map_err(|e| panic!("{e}"));
    assert!(encoded.is_ok_and(|e| e.messages() > 0));

    let mut moved = port.clone();
    moved.endpoints.push(ep("10.244.1.2", 8080, true));
    syncer.sync(&table(vec![moved]))?;
    let partial = fake.last_transaction().unwrap_or_default();
    let encoded = encode(&partial, 1).map_err(|e| panic!("{e}: {partial}"));
    assert!(encoded.is_ok_and(|e| e.messages() > 0));

    // Removing the service: chains flushed, elements deleted, affinity sets left for later.
    syncer.sync(&table(vec![]))?;
    let removal = fake.last_transaction().unwrap_or_default();
    assert!(encode(&removal, 1).is_ok(), "{removal}");
    syncer.sync(&table(vec![]))?;
    let deletes = fake.last_transaction().unwrap_or_default();
    assert!(encode(&deletes, 1).is_ok(), "{deletes}");
    Ok(())
}

#[test]
fn failing_message_is_named() {
    let mut tx = Transaction::new();
    tx.add_chain(IP, "a", None);
    let goto = Value::Verdict(Verdict::Goto("a".into()));
    for addr in ["10.0.0.1", "10.0.0.2"] {
        let key = Key::concat([
            Part::Addr(crate::nft::fixture::ip(addr)),
            Part::Proto(Protocol::Tcp),
            Part::Port(80),
        ]);
        tx.element(Verb::Add, IP, "service-ips", &key, Some(&goto));
    }
    tx.add_rule(IP, "a", &Rule::new([Stmt::Verdict(Verdict::Drop)]));
    assert_eq!(describe(tx.ops(), 0), "add chain ip switchyard a");
    assert!(describe(tx.ops(), 1).starts_with("add element ip switchyard service-ips"));
    assert_eq!(describe(tx.ops(), 2), "add rule ip switchyard a drop");
    assert_eq!(describe(tx.ops(), 3), "batch");
}
