//! Golden tests of the generated ruleset through `FakeRunner`: the full state for the fixture
//! and the transaction of a one-service change, compared with `tests/golden/*.nft`.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p proxy --test nft_golden`.

mod nft_fixture;

use std::path::PathBuf;
use std::sync::Arc;

use nft_fixture::{ep, fixture, fixture_config, fixture_ports, table};
use proxy::nft::{FakeRunner, Object, SyncError, Syncer, Transaction, Verb};

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("writing {path:?}: {e}"));
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("reading {path:?}: {e} (run with UPDATE_GOLDEN=1 to create it)")
    });
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(5)
            .map(|(i, (e, a))| format!("line {}:\n  golden: {e}\n  actual: {a}", i + 1))
            .collect();
        panic!(
            "{name} differs from the golden file ({} vs {} lines); first differences:\n{}\n\
             rerun with UPDATE_GOLDEN=1 if the change is intended",
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

fn syncer(fake: &FakeRunner) -> Syncer {
    Syncer::new(fixture_config().rule_config(), Arc::new(fake.clone()))
}

#[test]
fn full_ruleset_matches_golden() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    let outcome = syncer(&fake).sync(&fixture())?;
    assert!(outcome.full);
    let dump = fake.dump();
    golden("fixture.nft", &dump);
    // A few properties that must hold whatever the golden file says.
    assert!(dump.contains("add table ip switchyard\n"));
    assert!(dump.contains("add table ip6 switchyard\n"));
    assert!(dump.contains("{ 10.96.0.12 . tcp . 80 : goto reject-chain }"));
    assert!(dump.contains("{ tcp . 30081 : goto reject-chain }"));
    assert!(dump.contains("flags dynamic,timeout ; timeout 10800s ;"));
    assert!(dump.contains("{ 0-65535 : fd00:244:1::10 . 8080 }"));
    assert!(dump.contains("{ 0-32767 : 10.244.1.53 . 53 }"));
    assert!(dump.contains("meta l4proto udp dnat ip to numgen random mod 65536 map @ep-"));
    Ok(())
}

#[test]
fn one_service_change_transaction_matches_golden() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    let mut s = syncer(&fake);
    s.sync(&fixture())?;
    let mut ports = fixture_ports();
    let sticky = ports
        .iter_mut()
        .find(|p| p.id.name == "sticky")
        .unwrap_or_else(|| panic!("fixture has sticky"));
    sticky.endpoints.push(ep("10.244.3.11", 8080, false));
    let outcome = s.sync(&table(ports))?;
    assert!(!outcome.full);
    let tx = fake.last_transaction().unwrap_or_default();
    golden("fixture-add-endpoint.nft", &tx.to_string());
    assert_only_touches(&tx, "default/sticky/");
    // Service chain: flush + masquerade + 3 affinity checks + 3 pick rules; new endpoint:
    // its affinity set and its hairpin element.
    assert_eq!(outcome.ops, 10, "{tx}");
    Ok(())
}

#[test]
fn removing_a_service_touches_only_its_objects() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    let mut s = syncer(&fake);
    s.sync(&fixture())?;
    let ports: Vec<_> = fixture_ports()
        .into_iter()
        .filter(|p| p.id.name != "kube-dns")
        .collect();
    s.sync(&table(ports.clone()))?;
    let tx = fake.last_transaction().unwrap_or_default();
    golden("fixture-remove-service.nft", &tx.to_string());
    assert_only_touches(&tx, "kube-system/kube-dns/");
    // Next sync deletes the flushed chains and nothing else.
    s.sync(&table(ports))?;
    let tx = fake.last_transaction().unwrap_or_default();
    assert!(tx.ops().iter().all(|op| op.verb == Verb::Delete), "{tx}");
    assert_only_touches(&tx, "kube-system/kube-dns/");
    Ok(())
}

/// Every chain or set operation names `needle` (endpoint maps: in their comment); element
/// operations are about its addresses.
fn assert_only_touches(tx: &Transaction, needle: &str) {
    for op in tx.ops() {
        let ok = match &op.object {
            Object::Chain { name, .. } => name.contains(needle),
            // Endpoint maps have short names and carry the identity as their comment.
            Object::Set { name, spec, .. } => {
                name.contains(needle) || spec.comment.as_deref().is_some_and(|c| c.contains(needle))
            }
            Object::Rule { chain, .. } => chain.contains(needle),
            Object::Element { value, key, .. } => {
                value
                    .as_ref()
                    .is_none_or(|v| v.to_string().contains(needle))
                    || key.as_str().starts_with("10.96.0.53")
            }
            Object::Table { .. } => false,
        };
        assert!(ok, "operation outside {needle}: {op:?}\n{tx}");
    }
}
