//! The generated rules against the real kernel: `nft` inside a network namespace each test
//! creates (and deletes on drop). Checks that the kernel accepts the scripts (`nft -c` and a
//! real apply), that a restarted proxy adopts and converges its tables without flushing them,
//! that nothing outside switchyard's tables is touched, and that `cleanup` leaves no trace.
//! Needs root and Debian's `nftables`.

mod nft_fixture;
#[allow(unused_imports)]
mod support;

use std::error::Error;
use std::sync::Arc;

use nft_fixture::{fixture, fixture_config, fixture_ports, table};
use proxy::model::Protocol;
use proxy::nft::ast::{Key, Part, Rule, Stmt, Verdict};
use proxy::nft::rules::{Pick, RuleConfig};
use proxy::nft::{FakeRunner, Family, NftRunner, Runner, Syncer, TableId, Verb};
use support::{Netns, require_root};

type TestResult = Result<(), Box<dyn Error>>;

fn nft(ns: &Netns, args: &[&str]) -> Result<String, Box<dyn Error>> {
    Ok(ns.exec("nft", args)?)
}

/// The handle of `family switchyard`, which changes if the table is ever recreated.
fn table_handle(ns: &Netns, family: &str) -> Result<u64, Box<dyn Error>> {
    let json: serde_json::Value =
        serde_json::from_str(&nft(ns, &["-j", "list", "tables", family])?)?;
    json["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item.get("table"))
        .find(|t| t["name"] == "switchyard")
        .and_then(|t| t["handle"].as_u64())
        .ok_or_else(|| format!("no {family} switchyard table").into())
}

fn runtime() -> Result<tokio::runtime::Runtime, Box<dyn Error>> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

#[test]
fn kernel_accepts_generated_and_golden_scripts() -> TestResult {
    if !require_root("kernel_accepts_generated_and_golden_scripts") {
        return Ok(());
    }
    let ns = Netns::new("nftok")?;
    let runner = Arc::new(NftRunner::new(Some(ns.name().to_owned())));
    let mut syncer = Syncer::new(fixture_config().rule_config(), runner.clone());
    let tx = syncer.plan(&fixture())?;
    runner.check(&tx)?;
    assert_eq!(
        nft(&ns, &["list", "ruleset"])?.trim(),
        "",
        "check applies nothing"
    );
    let outcome = syncer.sync(&fixture())?;
    assert!(outcome.full && outcome.ops > 100);
    // The kernel holds what the fake model holds.
    let fake = FakeRunner::new();
    Syncer::new(fixture_config().rule_config(), Arc::new(fake.clone())).sync(&fixture())?;
    for family in Family::ALL {
        assert_eq!(runner.list(family)?, fake.list(family)?, "{family}");
    }
    let listing = nft(&ns, &["list", "ruleset"])?;
    assert!(
        listing.contains("table ip switchyard-1 {") && listing.contains("table ip6 switchyard-0 {"),
        "{listing}"
    );
    assert!(
        listing.contains("meta l4proto tcp dnat ip to numgen random mod 65536 map @ep-"),
        "{listing}"
    );
    assert!(
        listing.contains("ct status dnat ip saddr . ip daddr @hairpin-endpoints"),
        "{listing}"
    );
    assert!(
        listing.contains("10.96.0.12 . tcp . 80 : goto reject-chain"),
        "{listing}"
    );
    assert!(
        listing.contains("198.51.100.13 . tcp . 443 : goto firewall-")
            && listing.contains("ip saddr @src-")
            && listing.contains("drop comment \"source not in loadBalancerSourceRanges\""),
        "{listing}"
    );
    // The golden files are loadable scripts too (the full dump into an empty namespace).
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/fixture.nft");
    let empty = Netns::new("nftgo")?;
    empty.exec("nft", &["-c", "-f", golden])?;
    empty.exec("nft", &["-f", golden])?;
    assert!(nft(&empty, &["list", "tables"])?.contains("table ip6 switchyard"));
    Ok(())
}

/// Changes of the fixture, one after another: an endpoint added to an affinity service, one
/// removed, a service gone, a new NodePort service with eTP Local, a service losing all its
/// endpoints, and back.
fn fixture_changes() -> Vec<proxy::model::ServiceTable> {
    let mut steps = Vec::new();
    let mut ports = fixture_ports();
    for port in ports.iter_mut().filter(|p| p.id.name == "sticky") {
        port.endpoints
            .push(nft_fixture::ep("10.244.3.11", 8080, false));
    }
    steps.push(table(ports.clone()));
    for port in ports.iter_mut().filter(|p| p.id.name == "sticky") {
        port.endpoints.retain(|e| e.ip.to_string() != "10.244.1.11");
    }
    steps.push(table(ports.clone()));
    ports.retain(|p| p.id.name != "kube-dns");
    steps.push(table(ports.clone()));
    let mut extra = nft_fixture::svc(
        "default",
        "extra",
        proxy::model::Protocol::Tcp,
        443,
        &["10.96.0.99", "fd00:96::99"],
        vec![
            nft_fixture::ep("10.244.1.99", 8443, true),
            nft_fixture::ep("10.244.2.99", 8443, false),
            nft_fixture::ep("fd01:2::99", 8443, true),
        ],
    );
    extra.node_port = Some(30443);
    extra.external_policy_local = true;
    extra.affinity_timeout = Some(std::time::Duration::from_secs(30));
    ports.push(extra.clone());
    steps.push(table(ports.clone()));
    for port in ports.iter_mut().filter(|p| p.id.name == "extra") {
        port.endpoints.clear();
    }
    steps.push(table(ports.clone()));
    steps.push(table(ports.clone()));
    for port in ports.iter_mut().filter(|p| p.id.name == "extra") {
        *port = extra.clone();
    }
    steps.push(table(ports.clone()));
    // New services with random picks: their endpoint maps are created by the incremental sync.
    let mut plain = nft_fixture::svc(
        "default",
        "plain",
        proxy::model::Protocol::Tcp,
        8000,
        &["10.96.0.98"],
        vec![
            nft_fixture::ep("10.244.1.98", 80, true),
            nft_fixture::ep("10.244.2.98", 80, false),
        ],
    );
    plain.node_port = Some(30098);
    plain.external_policy_local = true;
    ports.push(plain);
    ports.push(nft_fixture::svc(
        "default",
        "dns6",
        proxy::model::Protocol::Udp,
        53,
        &["fd00:96::53"],
        vec![nft_fixture::ep("fd01:2::53", 53, false)],
    ));
    steps.push(table(ports.clone()));
    ports.retain(|p| p.id.name != "plain");
    steps.push(table(ports.clone()));
    // loadBalancerSourceRanges: changed (elements of the source set only), removed (the
    // firewall chain and set go, the next sync deletes them), and back.
    let net = |text: &str| -> ipnet::IpNet { text.parse().unwrap_or_else(|e| panic!("{e}")) };
    let set_ranges = |ports: &mut Vec<proxy::model::ServicePort>,
                      ranges: Option<Vec<ipnet::IpNet>>| {
        for port in ports.iter_mut().filter(|p| p.id.name == "local") {
            port.source_ranges = ranges.clone();
        }
    };
    set_ranges(
        &mut ports,
        Some(vec![net("192.168.0.0/16"), net("10.1.2.3/32")]),
    );
    steps.push(table(ports.clone()));
    set_ranges(&mut ports, None);
    steps.push(table(ports.clone()));
    steps.push(table(ports.clone()));
    set_ranges(&mut ports, Some(Vec::new()));
    steps.push(table(ports));
    steps
}

/// One rule configuration synced in two namespaces of its own: through netlink (`a`) and through
/// `nft -f` only (`b`), so their listings can be compared.
struct BothPaths {
    ns_netlink: Netns,
    ns_nft: Netns,
    netlink: NftRunner,
    text: NftRunner,
    a: Syncer,
    b: Syncer,
}

impl BothPaths {
    fn new(tag: &str, config: RuleConfig) -> Result<BothPaths, Box<dyn Error>> {
        let (ns_netlink, ns_nft) = (Netns::new(tag)?, Netns::new(tag)?);
        let netlink = NftRunner::new(Some(ns_netlink.name().to_owned()));
        let text = NftRunner::nft_only(Some(ns_nft.name().to_owned()));
        let a = Syncer::new(config.clone(), Arc::new(netlink.clone()));
        let b = Syncer::new(config, Arc::new(text.clone()));
        Ok(BothPaths {
            ns_netlink,
            ns_nft,
            netlink,
            text,
            a,
            b,
        })
    }

    /// The netlink side's ruleset and the `nft -f` side's.
    fn listings(&self) -> Result<(String, String), Box<dyn Error>> {
        Ok((
            nft(&self.ns_netlink, &["list", "ruleset"])?,
            nft(&self.ns_nft, &["list", "ruleset"])?,
        ))
    }
}

#[test]
fn netlink_and_nft_paths_build_identical_tables() -> TestResult {
    if !require_root("netlink_and_nft_paths_build_identical_tables") {
        return Ok(());
    }
    let mut both = BothPaths::new("nftid", fixture_config().rule_config())?;
    both.a.sync(&fixture())?;
    both.b.sync(&fixture())?;
    assert_eq!(
        both.netlink.netlink_transactions(),
        1,
        "the full sync went through netlink"
    );
    let (got, want) = both.listings()?;
    assert_eq!(got, want, "full sync");
    let mut applied = 1;
    for (step, t) in fixture_changes().iter().enumerate() {
        let (x, y) = (both.a.sync(t)?, both.b.sync(t)?);
        assert_eq!(x.ops, y.ops, "step {step}");
        applied += u64::from(x.ops > 0);
        assert_eq!(
            both.netlink.netlink_transactions(),
            applied,
            "step {step} went through netlink"
        );
        let (got, want) = both.listings()?;
        assert_eq!(got, want, "step {step}");
    }
    assert!(applied >= 9, "{applied} syncs through netlink");
    assert_eq!(both.text.netlink_transactions(), 0);
    Ok(())
}

/// Shapes the fixture's configuration does not build, through both paths: round-robin
/// cascades (`numgen inc`), configured node IPs (`nodeport-ips`), and interval sets holding
/// prefixes that reach the end of the address space (`0.0.0.0/0`, `::/0`, `128.0.0.0/1`),
/// which netlink sends as their start alone.
#[test]
fn netlink_and_nft_paths_agree_on_other_configurations() -> TestResult {
    if !require_root("netlink_and_nft_paths_agree_on_other_configurations") {
        return Ok(());
    }
    let mut config = fixture_config().rule_config();
    config.cluster_cidrs = vec!["0.0.0.0/0".parse()?, "::/0".parse()?];
    config.service_cidrs = vec!["10.96.0.0/16".parse()?, "128.0.0.0/1".parse()?];
    config.node_ips = vec!["192.0.2.100".parse()?, "fd00::100".parse()?];
    config.pick = Pick::RoundRobin;
    let mut both = BothPaths::new("nftoc", config)?;
    both.a.sync(&fixture())?;
    both.b.sync(&fixture())?;
    assert_eq!(
        both.netlink.netlink_transactions(),
        1,
        "full sync through netlink"
    );
    let (listing, want) = both.listings()?;
    assert_eq!(listing, want, "full sync");
    for needle in [
        "0.0.0.0/0",
        "128.0.0.0/1",
        "numgen inc mod",
        "@nodeport-ips",
    ] {
        assert!(listing.contains(needle), "{needle} in\n{listing}");
    }
    for (step, t) in fixture_changes().iter().enumerate() {
        both.a.sync(t)?;
        both.b.sync(t)?;
        let (got, want) = both.listings()?;
        assert_eq!(got, want, "step {step}");
    }
    assert_eq!(both.text.netlink_transactions(), 0);
    Ok(())
}

#[test]
fn netlink_refusal_applies_nothing_and_names_the_operation() -> TestResult {
    if !require_root("netlink_refusal_applies_nothing_and_names_the_operation") {
        return Ok(());
    }
    let ns = Netns::new("nftnr")?;
    let runner = NftRunner::new(Some(ns.name().to_owned()));
    Syncer::new(fixture_config().rule_config(), Arc::new(runner.clone())).sync(&fixture())?;
    let before = nft(&ns, &["list", "ruleset"])?;
    let applied = runner.netlink_transactions();
    let mut tx = proxy::nft::Transaction::new();
    tx.add_chain(TableId::main(Family::Ip), "fresh-chain", None);
    let drop = Rule::new([Stmt::Verdict(Verdict::Drop)]);
    tx.add_rule(TableId::main(Family::Ip), "fresh-chain", &drop);
    let missing = Key::concat([
        Part::Addr([10, 96, 9, 9].into()),
        Part::Proto(Protocol::Tcp),
        Part::Port(9),
    ]);
    tx.element(
        Verb::Delete,
        TableId::shard(Family::Ip, 0),
        "service-ips",
        &missing,
        None,
    );
    let err = runner
        .run(&tx)
        .err()
        .ok_or("deleting a missing element must fail")?;
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("10.96.9.9 . tcp . 9"), "{err}");
    // Refused by netlink, then by nft (which gets every transaction netlink fails): both
    // all or nothing.
    assert_eq!(nft(&ns, &["list", "ruleset"])?, before, "all or nothing");
    assert_eq!(runner.netlink_transactions(), applied);
    Ok(())
}

#[test]
fn restart_adopts_tables_without_flushing_and_converges() -> TestResult {
    if !require_root("restart_adopts_tables_without_flushing_and_converges") {
        return Ok(());
    }
    let ns = Netns::new("nftad")?;
    let runner = Arc::new(NftRunner::new(Some(ns.name().to_owned())));
    Syncer::new(fixture_config().rule_config(), runner.clone()).sync(&fixture())?;
    let handle = table_handle(&ns, "ip")?;
    // A client pinned by affinity: the data path's dynamic set entry must survive a restart.
    let (shard, affinity) = runner
        .list(Family::Ip)?
        .into_iter()
        .flat_map(|(id, listing)| listing.sets.into_iter().map(move |s| (id.name(), s)))
        .find(|(_, s)| s.starts_with("affinity-") && s.contains("10.244.2.11"))
        .ok_or("fixture has an affinity set for 10.244.2.11")?;
    let affinity = affinity.as_str();
    nft(
        &ns,
        &["add", "element", "ip", &shard, affinity, "{ 10.1.1.7 }"],
    )?;

    // The restarted proxy sees a table where kube-dns is gone and sticky lost an endpoint.
    let mut ports = fixture_ports();
    ports.retain(|p| p.id.name != "kube-dns");
    for port in ports.iter_mut().filter(|p| p.id.name == "sticky") {
        port.endpoints.retain(|e| e.ip.to_string() != "10.244.1.11");
    }
    let changed = table(ports);
    let mut restarted = Syncer::new(fixture_config().rule_config(), runner.clone());
    let tx = restarted.plan(&changed)?;
    assert!(
        !tx.ops().iter().any(|op| op.verb == Verb::Delete),
        "adoption deletes nothing on its first pass"
    );
    restarted.sync(&changed)?;
    assert_eq!(table_handle(&ns, "ip")?, handle, "table never recreated");
    let elements = nft(&ns, &["list", "set", "ip", &shard, affinity])?;
    assert!(
        elements.contains("10.1.1.7"),
        "affinity survived: {elements}"
    );
    // The second pass deletes the leftovers; the result equals a fresh proxy's.
    let second = restarted.sync(&changed)?;
    assert!(!second.full && second.ops > 0);
    let fake = FakeRunner::new();
    Syncer::new(fixture_config().rule_config(), Arc::new(fake.clone())).sync(&changed)?;
    for family in Family::ALL {
        assert_eq!(runner.list(family)?, fake.list(family)?, "{family}");
    }
    let listing = nft(&ns, &["list", "ruleset"])?;
    assert!(!listing.contains("kube-dns"), "{listing}");
    assert!(!listing.contains("10.244.1.11"), "{listing}");
    Ok(())
}

#[test]
fn cleanup_removes_only_switchyard_tables() -> TestResult {
    if !require_root("cleanup_removes_only_switchyard_tables") {
        return Ok(());
    }
    let ns = Netns::new("nftcl")?;
    // Someone else's table, which switchyard must never touch.
    nft(&ns, &["add", "table", "inet", "other"])?;
    nft(
        &ns,
        &[
            "add",
            "chain",
            "inet",
            "other",
            "keep",
            "{ type filter hook input priority 0 ; }",
        ],
    )?;
    let runner = Arc::new(NftRunner::new(Some(ns.name().to_owned())));
    Syncer::new(fixture_config().rule_config(), runner).sync(&fixture())?;
    let rt = runtime()?;
    rt.block_on(proxy::nft::cleanup(Some(ns.name())))?;
    let left = nft(&ns, &["list", "ruleset"])?;
    assert!(!left.contains("switchyard"), "{left}");
    assert!(
        left.contains("table inet other") && left.contains("chain keep"),
        "{left}"
    );
    // Idempotent: nothing to remove is fine.
    rt.block_on(proxy::nft::cleanup(Some(ns.name())))?;
    nft(&ns, &["delete", "table", "inet", "other"])?;
    assert_eq!(nft(&ns, &["list", "ruleset"])?.trim(), "");
    Ok(())
}

#[test]
fn restart_with_another_shard_count_moves_services_and_drops_old_shards() -> TestResult {
    if !require_root("restart_with_another_shard_count_moves_services_and_drops_old_shards") {
        return Ok(());
    }
    let ns = Netns::new("nftsh")?;
    let runner = Arc::new(NftRunner::new(Some(ns.name().to_owned())));
    let with = |shards| {
        let mut config = fixture_config();
        config.shards = shards;
        config.rule_config()
    };
    Syncer::new(with(5), runner.clone()).sync(&fixture())?;
    assert!(nft(&ns, &["list", "tables"])?.contains("table ip6 switchyard-4"));
    let mut restarted = Syncer::new(with(1), runner.clone());
    assert!(restarted.sync(&fixture())?.full);
    restarted.sync(&fixture())?;
    let tables = nft(&ns, &["list", "tables"])?;
    for family in ["ip", "ip6"] {
        assert!(
            tables.contains(&format!("table {family} switchyard-0\n")),
            "{tables}"
        );
        for gone in 1..5 {
            assert!(
                !tables.contains(&format!("table {family} switchyard-{gone}\n")),
                "{tables}"
            );
        }
    }
    let fake = FakeRunner::new();
    Syncer::new(with(1), Arc::new(fake.clone())).sync(&fixture())?;
    for family in Family::ALL {
        assert_eq!(runner.list(family)?, fake.list(family)?, "{family}");
    }
    Ok(())
}
