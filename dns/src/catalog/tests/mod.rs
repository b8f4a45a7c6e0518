//! Unit tests of the name table: spelling rules and answers over the shared fixture.

use std::net::IpAddr;
use std::sync::Arc;

use cluster_watch::{ClusterState, ObjectKey};
use hickory_proto::op::{Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

mod incremental;

use super::names::{dashed, is_reverse, parse_dashed, reverse_name};
use super::{Answer, NameTable, TableOptions};
use crate::{DnsConfig, PodRecords};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fixture {
    services: Vec<Service>,
    endpoint_slices: Vec<EndpointSlice>,
    pods: Vec<Pod>,
}

fn key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> ObjectKey {
    ObjectKey::new(
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// The snapshot of `tests/fixtures/cluster.json`, synced at revision 7.
pub(crate) fn fixture() -> Result<ClusterState, serde_json::Error> {
    let fixture: Fixture =
        serde_json::from_str(include_str!("../../../tests/fixtures/cluster.json"))?;
    let mut state = ClusterState {
        synced: true,
        revision: 7,
        ..ClusterState::default()
    };
    for s in fixture.services {
        state.services.insert(key(&s.metadata), Arc::new(s));
    }
    for s in fixture.endpoint_slices {
        state.endpoint_slices.insert(key(&s.metadata), Arc::new(s));
    }
    for p in fixture.pods {
        state.pods.insert(key(&p.metadata), Arc::new(p));
    }
    Ok(state)
}

/// The table of the fixture with pod records in mode `pods`.
pub(crate) fn table(pods: PodRecords) -> Result<NameTable, Box<dyn std::error::Error>> {
    let config = DnsConfig {
        pod_records: pods,
        ..DnsConfig::default()
    };
    Ok(NameTable::build(
        &fixture()?,
        TableOptions::from_config(&config)?,
    ))
}

/// Every name `table` holds, as `a.b.c.`.
pub(crate) fn names(table: &NameTable) -> Vec<String> {
    let mut names: Vec<String> = table.nodes.iter().map(|(name, _)| name).collect();
    names.sort();
    names
}

fn ask<'t>(
    table: &'t NameTable,
    name: &str,
    qtype: RecordType,
) -> Result<Answer<'t>, Box<dyn std::error::Error>> {
    Ok(table.answer(&Query::query(Name::from_ascii(name)?, qtype)))
}

/// The answer section as sorted `owner type data` lines.
fn lines(records: &[std::borrow::Cow<'_, hickory_proto::rr::Record>]) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect();
    out.sort();
    out
}

#[test]
fn dashed_forms_round_trip() {
    let cases: [(&str, &str); 4] = [
        ("172.0.0.2", "172-0-0-2"),
        ("5678:abcd::1", "5678-abcd--1"),
        ("::1", "--1"),
        ("fd00:1::5", "fd00-1--5"),
    ];
    for (ip, label) in cases {
        let ip: IpAddr = ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(dashed(ip), label);
        assert_eq!(parse_dashed(label.as_bytes()), Some(ip), "{label}");
    }
    for bad in ["", "10-0-0", "10.0.0.1", "1-2-3-4-5", "zz-1", "10-0-0-256"] {
        assert_eq!(parse_dashed(bad.as_bytes()), None, "{bad}");
    }
}

proptest::proptest! {
    /// Every address survives the trip through its dashed label.
    #[test]
    fn every_address_round_trips_through_its_label(bits in proptest::prelude::any::<u128>(), v4 in proptest::prelude::any::<bool>()) {
        let ip = if v4 {
            IpAddr::from(std::net::Ipv4Addr::from((bits & 0xffff_ffff) as u32))
        } else {
            IpAddr::from(std::net::Ipv6Addr::from(bits))
        };
        let label = dashed(ip);
        proptest::prop_assert!(label.len() <= 63);
        proptest::prop_assert_eq!(parse_dashed(label.as_bytes()), Some(ip));
    }
}

#[test]
fn reverse_names_are_nibbles_and_octets() -> TestResult {
    let v4 = reverse_name("10.96.0.10".parse()?).map(|n| n.to_ascii());
    assert_eq!(v4.as_deref(), Some("10.0.96.10.in-addr.arpa."));
    let v6 = reverse_name("fd00::20".parse()?).map(|n| n.to_ascii());
    assert_eq!(
        v6.as_deref(),
        Some("0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.")
    );
    assert!(is_reverse(&Name::from_ascii("1.0.0.10.IN-ADDR.ARPA.")?));
    assert!(!is_reverse(&Name::from_ascii("arpa.")?));
    assert!(!is_reverse(&Name::from_ascii(
        "web.default.svc.cluster.local."
    )?));
    Ok(())
}

/// (name, type, rcode, sorted answer lines, authority has SOA, sorted additional lines)
type Case = (
    &'static str,
    RecordType,
    ResponseCode,
    &'static [&'static str],
    bool,
    &'static [&'static str],
);

#[test]
fn answers_follow_the_specification() -> TestResult {
    let t = table(PodRecords::Disabled)?;
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("cluster.local.", RecordType::SOA, ResponseCode::NoError, &["cluster.local. SOA ns.dns.cluster.local. hostmaster.cluster.local. 7 7200 1800 86400 5"], false, &[]),
        ("cluster.local.", RecordType::NS, ResponseCode::NoError, &["cluster.local. NS ns.dns.cluster.local."], false, &[]),
        ("dns-version.cluster.local.", RecordType::TXT, ResponseCode::NoError, &["dns-version.cluster.local. TXT 1.1.0"], false, &[]),
        ("web.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["web.default.svc.cluster.local. A 10.96.0.10"], false, &[]),
        ("web.default.svc.cluster.local.", RecordType::AAAA, ResponseCode::NoError, &[], true, &[]),
        ("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV, ResponseCode::NoError, &["_http._tcp.web.default.svc.cluster.local. SRV 0 100 80 web.default.svc.cluster.local."], false, &["web.default.svc.cluster.local. A 10.96.0.10"]),
        ("_dns._udp.web.default.svc.cluster.local.", RecordType::SRV, ResponseCode::NoError, &["_dns._udp.web.default.svc.cluster.local. SRV 0 100 53 web.default.svc.cluster.local."], false, &["web.default.svc.cluster.local. A 10.96.0.10"]),
        ("web.default.svc.cluster.local.", RecordType::SRV, ResponseCode::NoError, &["web.default.svc.cluster.local. SRV 0 100 53 web.default.svc.cluster.local.", "web.default.svc.cluster.local. SRV 0 100 80 web.default.svc.cluster.local."], false, &["web.default.svc.cluster.local. A 10.96.0.10"]),
        ("_dns._tcp.web.default.svc.cluster.local.", RecordType::SRV, ResponseCode::NXDomain, &[], true, &[]),
        ("_tcp.web.default.svc.cluster.local.", RecordType::SRV, ResponseCode::NoError, &[], true, &[]),
        ("svc.cluster.local.", RecordType::A, ResponseCode::NoError, &[], true, &[]),
        ("default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &[], true, &[]),
        ("nope.default.svc.cluster.local.", RecordType::A, ResponseCode::NXDomain, &[], true, &[]),
        ("web.nope.svc.cluster.local.", RecordType::A, ResponseCode::NXDomain, &[], true, &[]),
        ("web.other.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["web.other.svc.cluster.local. A 10.96.1.10"], false, &[]),
        ("dual.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["dual.default.svc.cluster.local. A 10.96.0.20"], false, &[]),
        ("dual.default.svc.cluster.local.", RecordType::AAAA, ResponseCode::NoError, &["dual.default.svc.cluster.local. AAAA fd00::20"], false, &[]),
        ("_http._tcp.dual.default.svc.cluster.local.", RecordType::SRV, ResponseCode::NoError, &["_http._tcp.dual.default.svc.cluster.local. SRV 0 100 8080 dual.default.svc.cluster.local."], false, &["dual.default.svc.cluster.local. A 10.96.0.20", "dual.default.svc.cluster.local. AAAA fd00::20"]),
        ("v6only.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &[], true, &[]),
        ("v6only.default.svc.cluster.local.", RecordType::AAAA, ResponseCode::NoError, &["v6only.default.svc.cluster.local. AAAA fd00::30"], false, &[]),
        ("db.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["db.default.svc.cluster.local. A 10.0.0.1", "db.default.svc.cluster.local. A 10.0.0.2"], false, &[]),
        ("db-0.db.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["db-0.db.default.svc.cluster.local. A 10.0.0.1"], false, &[]),
        ("10-0-0-2.db.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["10-0-0-2.db.default.svc.cluster.local. A 10.0.0.2"], false, &[]),
        ("10-0-0-3.db.default.svc.cluster.local.", RecordType::A, ResponseCode::NXDomain, &[], true, &[]),
        ("_pg._tcp.db.default.svc.cluster.local.", RecordType::SRV, ResponseCode::NoError, &["_pg._tcp.db.default.svc.cluster.local. SRV 0 50 5432 10-0-0-2.db.default.svc.cluster.local.", "_pg._tcp.db.default.svc.cluster.local. SRV 0 50 5432 db-0.db.default.svc.cluster.local."], false, &["10-0-0-2.db.default.svc.cluster.local. A 10.0.0.2", "db-0.db.default.svc.cluster.local. A 10.0.0.1"]),
        ("fd00-1--5.db6.default.svc.cluster.local.", RecordType::AAAA, ResponseCode::NoError, &["fd00-1--5.db6.default.svc.cluster.local. AAAA fd00:1::5"], false, &[]),
        ("db6.default.svc.cluster.local.", RecordType::AAAA, ResponseCode::NoError, &["db6.default.svc.cluster.local. AAAA fd00:1::5"], false, &[]),
        ("warming.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["warming.default.svc.cluster.local. A 10.0.1.1"], false, &[]),
        ("etcd-0.warming.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["etcd-0.warming.default.svc.cluster.local. A 10.0.1.1"], false, &[]),
        ("cold.default.svc.cluster.local.", RecordType::A, ResponseCode::NXDomain, &[], true, &[]),
        ("_peer._tcp.cold.default.svc.cluster.local.", RecordType::SRV, ResponseCode::NXDomain, &[], true, &[]),
        ("ext.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["ext.default.svc.cluster.local. CNAME www.example.org."], false, &[]),
        ("alias.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["alias.default.svc.cluster.local. CNAME web.default.svc.cluster.local.", "web.default.svc.cluster.local. A 10.96.0.10"], false, &[]),
        ("alias.default.svc.cluster.local.", RecordType::CNAME, ResponseCode::NoError, &["alias.default.svc.cluster.local. CNAME web.default.svc.cluster.local."], false, &[]),
        ("alias.default.svc.cluster.local.", RecordType::AAAA, ResponseCode::NoError, &["alias.default.svc.cluster.local. CNAME web.default.svc.cluster.local."], true, &[]),
        ("10.0.96.10.in-addr.arpa.", RecordType::PTR, ResponseCode::NoError, &["10.0.96.10.in-addr.arpa. PTR web.default.svc.cluster.local."], false, &[]),
        ("1.0.0.10.in-addr.arpa.", RecordType::PTR, ResponseCode::NoError, &["1.0.0.10.in-addr.arpa. PTR db-0.db.default.svc.cluster.local."], false, &[]),
        ("2.0.0.10.in-addr.arpa.", RecordType::PTR, ResponseCode::NoError, &["2.0.0.10.in-addr.arpa. PTR 10-0-0-2.db.default.svc.cluster.local."], false, &[]),
        ("0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", RecordType::PTR, ResponseCode::NoError, &["0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. PTR v6only.default.svc.cluster.local."], false, &[]),
        ("10-244-0-5.default.pod.cluster.local.", RecordType::A, ResponseCode::NXDomain, &[], true, &[]),
    ];
    for (name, qtype, rcode, answers, soa, additional) in cases {
        let got = ask(&t, name, qtype)?;
        assert_eq!(got.rcode, rcode, "{name} {qtype}");
        assert_eq!(
            lines(&got.answers),
            answers.to_vec(),
            "{name} {qtype} answers"
        );
        let has_soa = got
            .authority
            .iter()
            .any(|r| r.record_type() == RecordType::SOA);
        assert_eq!(has_soa, soa, "{name} {qtype} authority");
        assert_eq!(
            lines(&got.additional),
            additional.to_vec(),
            "{name} {qtype} additional"
        );
        assert!(
            got.answers.iter().chain(&got.authority).all(|r| r.ttl == 5),
            "{name} ttl"
        );
    }
    Ok(())
}

#[test]
fn answers_keep_the_question_spelling() -> TestResult {
    let t = table(PodRecords::Disabled)?;
    let got = ask(&t, "WeB.Default.SVC.cluster.LOCAL.", RecordType::A)?;
    assert_eq!(got.rcode, ResponseCode::NoError);
    assert_eq!(got.answers.len(), 1);
    assert!(
        got.answers[0]
            .name
            .eq_case(&Name::from_ascii("WeB.Default.SVC.cluster.LOCAL.")?)
    );
    let lower = ask(&t, "web.default.svc.cluster.local.", RecordType::A)?;
    assert!(
        lower.answers[0]
            .name
            .eq_case(&Name::from_ascii("web.default.svc.cluster.local.")?)
    );
    Ok(())
}

#[test]
fn pod_records_follow_the_mode() -> TestResult {
    let insecure = table(PodRecords::Insecure)?;
    let got = ask(
        &insecure,
        "1-2-3-4.anything.pod.cluster.local.",
        RecordType::A,
    )?;
    assert_eq!(
        lines(&got.answers),
        vec!["1-2-3-4.anything.pod.cluster.local. A 1.2.3.4"]
    );
    let got = ask(
        &insecure,
        "fd00-244--9.default.pod.cluster.local.",
        RecordType::AAAA,
    )?;
    assert_eq!(
        lines(&got.answers),
        vec!["fd00-244--9.default.pod.cluster.local. AAAA fd00:244::9"]
    );
    let got = ask(
        &insecure,
        "1-2-3-4.anything.pod.cluster.local.",
        RecordType::AAAA,
    )?;
    assert_eq!(
        (got.rcode, got.answers.len(), got.authority.len()),
        (ResponseCode::NoError, 0, 1)
    );
    let got = ask(
        &insecure,
        "not-an-ip.default.pod.cluster.local.",
        RecordType::A,
    )?;
    assert_eq!(got.rcode, ResponseCode::NXDomain);
    let got = ask(&insecure, "default.pod.cluster.local.", RecordType::A)?;
    assert_eq!((got.rcode, got.answers.len()), (ResponseCode::NoError, 0));

    let verified = table(PodRecords::Verified)?;
    let got = ask(
        &verified,
        "10-244-0-5.default.pod.cluster.local.",
        RecordType::A,
    )?;
    assert_eq!(
        lines(&got.answers),
        vec!["10-244-0-5.default.pod.cluster.local. A 10.244.0.5"]
    );
    let got = ask(
        &verified,
        "fd00-244--5.default.pod.cluster.local.",
        RecordType::AAAA,
    )?;
    assert_eq!(got.answers.len(), 1);
    let got = ask(
        &verified,
        "10-244-0-5.other.pod.cluster.local.",
        RecordType::A,
    )?;
    assert_eq!(got.rcode, ResponseCode::NXDomain, "wrong namespace");
    let got = ask(
        &verified,
        "1-2-3-4.default.pod.cluster.local.",
        RecordType::A,
    )?;
    assert_eq!(got.rcode, ResponseCode::NXDomain, "no such pod");
    Ok(())
}

#[test]
fn refusals_and_unsynced_tables() -> TestResult {
    let t = table(PodRecords::Disabled)?;
    assert_eq!(
        ask(&t, "cluster.local.", RecordType::AXFR)?.rcode,
        ResponseCode::Refused
    );
    assert_eq!(
        ask(&t, "cluster.local.", RecordType::IXFR)?.rcode,
        ResponseCode::Refused
    );
    let mut chaos = Query::query(
        Name::from_ascii("web.default.svc.cluster.local.")?,
        RecordType::A,
    );
    chaos.set_query_class(DNSClass::CH);
    assert_eq!(t.answer(&chaos).rcode, ResponseCode::Refused);

    let mut state = fixture()?;
    state.synced = false;
    let unsynced = NameTable::build(&state, TableOptions::from_config(&DnsConfig::default())?);
    assert!(!unsynced.synced());
    assert_eq!(
        ask(&unsynced, "web.default.svc.cluster.local.", RecordType::A)?.rcode,
        ResponseCode::ServFail
    );
    assert!(unsynced.is_authoritative(&Name::from_ascii("9.9.9.9.in-addr.arpa.")?));
    assert!(
        !t.is_authoritative(&Name::from_ascii("9.9.9.9.in-addr.arpa.")?),
        "unknown reverse names go upstream"
    );
    assert!(t.is_authoritative(&Name::from_ascii("10.0.96.10.in-addr.arpa.")?));
    assert!(!t.is_authoritative(&Name::from_ascii("example.org.")?));
    Ok(())
}

#[test]
fn any_returns_every_set() -> TestResult {
    let t = table(PodRecords::Disabled)?;
    let got = ask(&t, "cluster.local.", RecordType::ANY)?;
    let types: Vec<RecordType> = got.answers.iter().map(|r| r.record_type()).collect();
    assert!(types.contains(&RecordType::SOA) && types.contains(&RecordType::NS));
    match got
        .answers
        .iter()
        .find(|r| r.record_type() == RecordType::SOA)
        .map(|r| &r.data)
    {
        Some(RData::SOA(soa)) => assert_eq!(soa.minimum, 5),
        other => panic!("no SOA in {other:?}"),
    }
    Ok(())
}

#[test]
fn only_relevant_changes_rebuild_the_table() -> TestResult {
    let disabled = TableOptions::from_config(&DnsConfig::default())?;
    let verified = TableOptions::from_config(&DnsConfig {
        pod_records: PodRecords::Verified,
        ..DnsConfig::default()
    })?;
    let old = fixture()?;
    let mut same = old.clone();
    same.revision += 1;
    assert!(
        !disabled.affected_by(&old, &same),
        "a clone with a new revision changes nothing"
    );

    let mut pods_only = old.clone();
    pods_only.pods.remove(&ObjectKey::new("default", "client"));
    assert!(
        !disabled.affected_by(&old, &pods_only),
        "pods do not matter without pod records"
    );
    assert!(
        verified.affected_by(&old, &pods_only),
        "verified pod records follow pods"
    );

    let mut service_gone = old.clone();
    service_gone
        .services
        .remove(&ObjectKey::new("default", "web"));
    assert!(disabled.affected_by(&old, &service_gone));
    let mut slice_gone = old.clone();
    slice_gone
        .endpoint_slices
        .remove(&ObjectKey::new("default", "db-abc"));
    assert!(disabled.affected_by(&old, &slice_gone));
    let mut unsynced = old.clone();
    unsynced.synced = false;
    assert!(disabled.affected_by(&old, &unsynced));
    Ok(())
}

#[test]
fn one_lookup_answers_as_the_two_step_path() -> TestResult {
    let synced = table(PodRecords::Insecure)?;
    let mut state = fixture()?;
    state.synced = false;
    let unsynced = NameTable::build(&state, TableOptions::from_config(&DnsConfig::default())?);
    let names = [
        "web.default.svc.cluster.local.",
        "nope.default.svc.cluster.local.",
        "10.0.96.10.in-addr.arpa.",
        "9.9.9.9.in-addr.arpa.",
        "example.org.",
        "1-2-3-4.default.pod.cluster.local.",
    ];
    for t in [&synced, &unsynced] {
        for name in names {
            for qtype in [RecordType::A, RecordType::PTR] {
                let query = Query::query(Name::from_ascii(name)?, qtype);
                let fused = t.answer_if_authoritative(&query);
                let two_step = t.is_authoritative(query.name()).then(|| t.answer(&query));
                assert_eq!(fused, two_step, "{name} {qtype}");
            }
        }
    }
    Ok(())
}

#[test]
fn record_sets_decode_to_what_was_stored_and_a_set_too_large_to_encode_stays_parsed() -> TestResult
{
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::A;

    use super::RecordSet;

    let owner = Name::from_ascii("big.default.svc.cluster.local.")?;
    let spelled = Name::from_ascii("BiG.default.svc.cluster.local.")?;
    let records: Vec<Record> = (0..5000u32)
        .map(|i| {
            Record::from_rdata(
                owner.clone(),
                5,
                RData::A(A::from(std::net::Ipv4Addr::from(0x0a00_0000 + i))),
            )
        })
        .collect();
    for (count, wire) in [(3, true), (5000, false)] {
        let stored = records.get(..count).ok_or("fixture")?;
        let set = RecordSet::new(&owner, RecordType::A, stored.to_vec(), Vec::new());
        assert_eq!(set.encoded().is_some(), wire, "{count} records");
        let (mut answers, mut additional) = (Vec::new(), Vec::new());
        set.append_to(&spelled, &mut answers, &mut additional)?;
        assert!(additional.is_empty());
        assert_eq!(answers.len(), count);
        for (got, want) in answers.iter().zip(stored) {
            assert!(
                got.name.eq_case(&spelled),
                "{count} records: owner spelled as asked"
            );
            assert_eq!((got.ttl, &got.data), (want.ttl, &want.data));
        }
    }
    Ok(())
}

#[test]
fn cname_chains_end_at_loops_and_name_what_they_leave_the_table_for() -> TestResult {
    let mut state = fixture()?;
    for (name, target) in [
        ("ping", "pong.default.svc.cluster.local"),
        ("pong", "ping.default.svc.cluster.local"),
    ] {
        let service: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "default", "name": name},
            "spec": {"type": "ExternalName", "externalName": target}
        }))?;
        state
            .services
            .insert(key(&service.metadata), Arc::new(service));
    }
    let table = NameTable::build(&state, TableOptions::from_config(&DnsConfig::default())?);
    // A loop: each CNAME once, then the chain ends at a name the table holds.
    let looped = ask(&table, "ping.default.svc.cluster.local.", RecordType::A)?;
    assert_eq!(looped.answers.len(), 2, "{:?}", lines(&looped.answers));
    let target = looped.dangling_cname().map(ToString::to_string);
    assert_eq!(target.as_deref(), Some("ping.default.svc.cluster.local."));
    // An ExternalName outside the zone: the chain leaves the table for its target.
    let ext = ask(&table, "ext.default.svc.cluster.local.", RecordType::A)?;
    let target = ext.dangling_cname().map(ToString::to_string);
    assert_eq!(target.as_deref(), Some("www.example.org."));
    // A chain that ends in records, and a negative answer, leave nothing dangling.
    let alias = ask(&table, "alias.default.svc.cluster.local.", RecordType::A)?;
    assert_eq!(alias.answers.len(), 2);
    assert_eq!(alias.dangling_cname(), None);
    let nx = ask(&table, "nope.default.svc.cluster.local.", RecordType::A)?;
    assert_eq!(nx.dangling_cname(), None);
    Ok(())
}
