//! The fast path against the general one: for the catalog fixture and generated queries (names
//! of the table and near misses in random case, many types, flags, EDNS or not), whatever the
//! fast path answers parses to the same message as the hickory path's response.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_server::net::xfer::Protocol;
use proptest::prelude::*;

use super::respond;
use crate::catalog::tests::{names, table};
use crate::{DnsConfig, DnsHandler, NameTable, PodRecords, TableOptions};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// One generated query.
#[derive(Debug, Clone)]
struct Ask {
    id: u16,
    /// Header byte 2 (QR, opcode, AA, TC, RD) and byte 3 (RA, Z, AD, CD, rcode).
    flags: [u8; 2],
    name: String,
    qtype: u16,
    qclass: u16,
    /// EDNS payload, version, DO flag and whether an option (a cookie) is attached.
    edns: Option<(u16, u8, bool, bool)>,
    trailing: bool,
}

impl Ask {
    fn simple(name: &str, qtype: RecordType) -> Ask {
        Ask {
            id: 0x1234,
            flags: [0x01, 0],
            name: name.to_owned(),
            qtype: u16::from(qtype),
            qclass: 1,
            edns: None,
            trailing: false,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = self.id.to_be_bytes().to_vec();
        out.extend_from_slice(&self.flags);
        let additional = u16::from(self.edns.is_some());
        for count in [1, 0, 0, additional] {
            out.extend_from_slice(&u16::to_be_bytes(count));
        }
        for label in self.name.split('.').filter(|l| !l.is_empty()) {
            out.push(u8::try_from(label.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out.extend_from_slice(&self.qtype.to_be_bytes());
        out.extend_from_slice(&self.qclass.to_be_bytes());
        if let Some((payload, version, dnssec_ok, option)) = self.edns {
            out.extend_from_slice(&[0, 0, 41]);
            out.extend_from_slice(&payload.to_be_bytes());
            out.extend_from_slice(&[0, version, if dnssec_ok { 0x80 } else { 0 }, 0]);
            if option {
                // COOKIE with an 8-byte client cookie.
                out.extend_from_slice(&[0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
            } else {
                out.extend_from_slice(&[0, 0]);
            }
        }
        if self.trailing {
            out.push(0);
        }
        out
    }
}

/// The general path's response to `raw`; it never waits without upstreams.
fn general(handler: &DnsHandler, raw: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let src = SocketAddr::from(([127, 0, 0, 1], 5353));
    let mut future = pin!(handler.respond_to_bytes(raw, src, Protocol::Udp));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(response) => Ok(response),
        Poll::Pending => Err("the general path waited".to_owned()),
    }
}

/// Everything a parsed response says, names with their case.
fn rendered(bytes: &[u8]) -> Result<String, String> {
    let message = Message::from_vec(bytes).map_err(|e| e.to_string())?;
    Ok(format!("{message:?}"))
}

/// Compares the two paths on `ask`; true when the fast path answered it.
fn same_answer(table: &NameTable, handler: &DnsHandler, ask: &Ask) -> Result<bool, String> {
    let raw = ask.bytes();
    let mut fast = Vec::new();
    let Some(answered) = respond(table, &raw, false, &mut fast) else {
        return Ok(false);
    };
    let slow = general(handler, &raw)?.ok_or("the general path dropped the query")?;
    let (fast_text, slow_text) = (rendered(&fast)?, rendered(&slow)?);
    if fast_text != slow_text {
        return Err(format!(
            "{ask:?}\nfast:    {fast_text}\ngeneral: {slow_text}"
        ));
    }
    let message = Message::from_vec(&fast).map_err(|e| e.to_string())?;
    if message.metadata.response_code != answered.rcode || u16::from(answered.qtype) != ask.qtype {
        return Err(format!("{ask:?}: reported {answered:?}"));
    }
    Ok(true)
}

/// The table and a handler over a copy of it.
fn both(pods: PodRecords) -> Result<(NameTable, DnsHandler), Box<dyn std::error::Error>> {
    Ok((table(pods)?, DnsHandler::for_table(table(pods)?)))
}

#[test]
fn the_common_questions_take_the_fast_path() -> TestResult {
    let (table, handler) = both(PodRecords::Insecure)?;
    for (name, qtype) in [
        ("web.default.svc.cluster.local.", RecordType::A),
        ("WeB.DeFault.svc.Cluster.local.", RecordType::A),
        ("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV),
        ("_pg._tcp.db.default.svc.cluster.local.", RecordType::SRV),
        ("db.default.svc.cluster.local.", RecordType::A),
        ("missing.default.svc.cluster.local.", RecordType::A),
        ("web.default.svc.cluster.local.", RecordType::TXT),
        ("cluster.local.", RecordType::SOA),
        ("CLUSTER.local.", RecordType::NS),
        ("10.1.96.10.in-addr.arpa.", RecordType::PTR),
    ] {
        let ask = Ask::simple(name, qtype);
        assert!(same_answer(&table, &handler, &ask)?, "{ask:?} fell back");
        let edns = Ask {
            edns: Some((1232, 0, true, false)),
            ..ask
        };
        assert!(same_answer(&table, &handler, &edns)?, "{edns:?} fell back");
    }
    Ok(())
}

#[test]
fn the_rest_falls_back() -> TestResult {
    let (table, _) = both(PodRecords::Insecure)?;
    let web = Ask::simple("web.default.svc.cluster.local.", RecordType::A);
    let fallbacks = [
        Ask::simple("web.default.svc.cluster.local.", RecordType::ANY),
        Ask::simple("cluster.local.", RecordType::AXFR),
        Ask::simple("ext.default.svc.cluster.local.", RecordType::A),
        Ask::simple("10-0-0-1.default.pod.cluster.local.", RecordType::A),
        Ask::simple("example.com.", RecordType::A),
        Ask::simple("1.2.3.4.in-addr.arpa.", RecordType::PTR),
        Ask {
            qclass: 3,
            ..web.clone()
        },
        Ask {
            flags: [0x81, 0],
            ..web.clone()
        },
        Ask {
            flags: [0x10, 0],
            ..web.clone()
        },
        Ask {
            edns: Some((4096, 1, false, false)),
            ..web.clone()
        },
        Ask {
            edns: Some((4096, 0, false, true)),
            ..web.clone()
        },
        Ask {
            trailing: true,
            ..web.clone()
        },
    ];
    let mut out = Vec::new();
    for ask in fallbacks {
        assert_eq!(
            respond(&table, &ask.bytes(), false, &mut out),
            None,
            "{ask:?}"
        );
    }
    let options = TableOptions::from_config(&DnsConfig::default())?;
    let unsynced = NameTable::unsynced(options);
    assert_eq!(respond(&unsynced, &web.bytes(), false, &mut out), None);
    Ok(())
}

#[test]
fn recursion_available_follows_the_upstreams() -> TestResult {
    let (table, _) = both(PodRecords::Disabled)?;
    let ask = Ask::simple("web.default.svc.cluster.local.", RecordType::A);
    let mut out = Vec::new();
    respond(&table, &ask.bytes(), true, &mut out).ok_or("fell back")?;
    assert!(Message::from_vec(&out)?.metadata.recursion_available);
    respond(&table, &ask.bytes(), false, &mut out).ok_or("fell back")?;
    assert!(!Message::from_vec(&out)?.metadata.recursion_available);
    Ok(())
}

/// Names of the table, near misses and names elsewhere.
fn name(known: Vec<String>) -> impl Strategy<Value = String> {
    let known = proptest::sample::select(known);
    prop_oneof![
        4 => known.clone(),
        1 => known.clone().prop_map(|n| format!("x.{n}")),
        1 => known.prop_map(|n| n.split_once('.').map_or(n.clone(), |(_, rest)| rest.to_owned())),
        1 => "[a-z0-9-]{1,12}".prop_map(|l| format!("{l}.default.svc.cluster.local.")),
        1 => "[a-z0-9-]{1,12}".prop_map(|l| format!("{l}.default.pod.cluster.local.")),
        1 => (0u8..4, 0u8..20).prop_map(|(c, d)| format!("{d}.{c}.96.10.in-addr.arpa.")),
        1 => Just("cluster.local.".to_owned()),
        1 => Just("example.com.".to_owned()),
        1 => Just(".".to_owned()),
    ]
}

/// `name` with some letters upper-cased.
fn spelled(name: String) -> impl Strategy<Value = String> {
    let len = name.len();
    prop::collection::vec(any::<bool>(), len).prop_map(move |upper| {
        name.chars()
            .zip(upper)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

fn qtype() -> impl Strategy<Value = u16> {
    prop_oneof![
        8 => proptest::sample::select(vec![
            RecordType::A,
            RecordType::AAAA,
            RecordType::SRV,
            RecordType::PTR,
            RecordType::CNAME,
            RecordType::TXT,
            RecordType::NS,
            RecordType::SOA,
            RecordType::MX,
            RecordType::ANY,
            RecordType::AXFR,
            RecordType::IXFR,
            RecordType::OPT,
            RecordType::CAA,
        ]).prop_map(u16::from),
        1 => any::<u16>(),
    ]
}

fn ask(known: Vec<String>) -> impl Strategy<Value = Ask> {
    let edns = prop::option::weighted(
        0.5,
        (
            prop_oneof![Just(512u16), Just(1232), Just(4096), any::<u16>()],
            prop_oneof![8 => Just(0u8), 1 => any::<u8>()],
            any::<bool>(),
            prop::bool::weighted(0.1),
        ),
    );
    let flags = (
        prop_oneof![8 => 0u8..2, 1 => any::<u8>()],
        prop_oneof![4 => Just(0u8), 1 => any::<u8>()],
    );
    (
        any::<u16>(),
        flags,
        name(known).prop_flat_map(spelled),
        qtype(),
        prop_oneof![8 => Just(1u16), 1 => Just(255), 1 => any::<u16>()],
        edns,
        prop::bool::weighted(0.05),
    )
        .prop_map(|(id, (hi, lo), name, qtype, qclass, edns, trailing)| Ask {
            id,
            flags: [hi, lo],
            name,
            qtype,
            qclass,
            edns,
            trailing,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Whatever the fast path answers, the general path answers the same.
    #[test]
    fn the_fast_path_answers_as_the_general_path(
        mode in 0u8..3,
        asks in prop::collection::vec(ask(known_names()), 1..8),
    ) {
        let pods = match mode {
            0 => PodRecords::Disabled,
            1 => PodRecords::Insecure,
            _ => PodRecords::Verified,
        };
        let (table, handler) = both(pods).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for ask in &asks {
            same_answer(&table, &handler, ask).map_err(TestCaseError::fail)?;
        }
    }
}

/// The names of the fixture's table in every pod mode.
fn known_names() -> Vec<String> {
    let mut all = Vec::new();
    for pods in [PodRecords::Disabled, PodRecords::Verified] {
        if let Ok(table) = table(pods) {
            all.extend(names(&table));
        }
    }
    all.sort();
    all.dedup();
    all
}

#[test]
fn negative_answers_carry_the_soa() -> TestResult {
    let (table, _) = both(PodRecords::Disabled)?;
    let mut out = Vec::new();
    let ask = Ask::simple("missing.default.svc.cluster.local.", RecordType::A);
    respond(&table, &ask.bytes(), false, &mut out).ok_or("fell back")?;
    let message = Message::from_vec(&out)?;
    assert_eq!(message.metadata.response_code, ResponseCode::NXDomain);
    assert!(message.metadata.authoritative);
    assert_eq!(message.authorities.len(), 1);
    assert!(message.answers.is_empty());
    Ok(())
}
