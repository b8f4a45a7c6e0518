use super::*;
use crate::model::Protocol;
use crate::nft::ast::{DataType, KeyType, Part, Stmt, ValueType, Verdict};
use crate::nft::transaction::TableId;

const IP: TableId = TableId::main(Family::Ip);

fn map() -> SetSpec {
    SetSpec {
        key_type: KeyType::of([DataType::InetProto, DataType::InetService]),
        value_type: Some(ValueType::Verdict),
        flags: Vec::new(),
        timeout: None,
        comment: None,
    }
}

fn goto(chain: &str) -> Value {
    Value::Verdict(Verdict::Goto(chain.into()))
}

fn goto_rule(chain: &str) -> Rule {
    Rule::new([Stmt::Verdict(Verdict::Goto(chain.into()))])
}

/// `tcp . 80`.
fn key() -> Key {
    Key::concat([Part::Proto(Protocol::Tcp), Part::Port(80)])
}

fn base_tx() -> Transaction {
    let mut tx = Transaction::new();
    tx.add_table(IP);
    tx.add_chain(IP, "a", None);
    tx.add_chain(IP, "b", None);
    tx.add_rule(IP, "a", &goto_rule("b"));
    tx.set(Verb::Add, IP, "m", &map());
    tx.element(Verb::Add, IP, "m", &key(), Some(&goto("b")));
    tx
}

#[test]
fn applies_and_dumps_sorted_script() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    fake.run(&base_tx())?;
    let dump = fake.dump();
    assert_eq!(
        dump,
        "add table ip switchyard\n\
         add map ip switchyard m { type inet_proto . inet_service : verdict ; }\n\
         add chain ip switchyard a\n\
         add chain ip switchyard b\n\
         add rule ip switchyard a goto b\n\
         add element ip switchyard m { tcp . 80 : goto b }\n"
    );
    assert_eq!(fake.transactions().len(), 1);
    Ok(())
}

#[test]
fn failed_transaction_changes_nothing() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    fake.run(&base_tx())?;
    let before = fake.dump();
    let mut tx = Transaction::new();
    tx.add_chain(IP, "c", None);
    tx.add_rule(IP, "c", &goto_rule("missing"));
    let err = fake.run(&tx).err();
    assert!(matches!(&err, Some(e) if e.is_not_found()), "{err:?}");
    assert_eq!(fake.dump(), before);
    assert_eq!(
        fake.transactions().len(),
        1,
        "failed transactions are not recorded"
    );
    Ok(())
}

#[test]
fn enforces_kernel_rules_for_delete_and_elements() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    fake.run(&base_tx())?;
    // b is referenced by a's rule and by the map element.
    let mut tx = Transaction::new();
    tx.chain(Verb::Delete, IP, "b");
    assert!(fake.run(&tx).is_err_and(|e| e.is_busy()));
    // a has rules.
    let mut tx = Transaction::new();
    tx.chain(Verb::Delete, IP, "a");
    assert!(fake.run(&tx).is_err_and(|e| e.is_busy()));
    // Changing a map element's value with add.
    let mut tx = Transaction::new();
    tx.element(Verb::Add, IP, "m", &key(), Some(&goto("a")));
    assert!(fake.run(&tx).is_err_and(|e| e.is_exists()));
    // Flush then delete in order works.
    let mut tx = Transaction::new();
    tx.chain(Verb::Flush, IP, "a");
    tx.element(Verb::Delete, IP, "m", &key(), None);
    tx.chain(Verb::Delete, IP, "b");
    tx.chain(Verb::Delete, IP, "a");
    fake.run(&tx)?;
    let listing = fake.list(Family::Ip)?;
    assert_eq!(listing.keys().collect::<Vec<_>>(), [&IP]);
    assert_eq!(listing[&IP].chains, Vec::<String>::new());
    assert_eq!(listing[&IP].maps, ["m"]);
    assert!(fake.list(Family::Ip6)?.is_empty());
    Ok(())
}

#[test]
fn elements_must_fit_their_set_type() -> Result<(), SyncError> {
    let fake = FakeRunner::new();
    fake.run(&base_tx())?;
    let addr = Key::addr(crate::nft::fixture::ip("10.0.0.1"));
    let prefix = Key::prefix("10.0.0.0/8".parse().unwrap_or_default());
    let mut tx = Transaction::new();
    tx.set(
        Verb::Add,
        IP,
        "s",
        &SetSpec {
            key_type: KeyType::of([DataType::Ipv4Addr]),
            value_type: None,
            flags: Vec::new(),
            timeout: None,
            comment: None,
        },
    );
    tx.element(Verb::Add, IP, "s", &addr, None);
    fake.run(&tx)?;
    for (set, key, value) in [
        // An address in a protocol . port map.
        ("m", &addr, Some(goto("b"))),
        // A map element without its verdict.
        ("m", &key(), None),
        // A verdict in a set.
        ("s", &addr, Some(goto("b"))),
        // A prefix in a set without `flags interval`.
        ("s", &prefix, None),
    ] {
        let mut tx = Transaction::new();
        tx.element(Verb::Add, IP, set, key, value.as_ref());
        let err = fake.run(&tx).err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.to_string().contains("does not fit")),
            "{set} {key}: {err:?}"
        );
    }
    Ok(())
}
