//! The cluster zone as an immutable [`NameTable`]: made from one `ClusterState` by the single
//! writer task, then only read. [`NameTable::answer`] is a pure function from a question to the
//! response sections; it does hash lookups and never locks, blocks or does I/O.
//!
//! All the work (owner names, reverse names, SRV sets, additional records, lower-casing) is done
//! off the query path: `fragment.rs` makes the records of one source (a Service, a Pod, the
//! apex), `writer.rs` applies the fragments that changed between two snapshots to the sharded
//! map of `nodes.rs`, so a new table shares every unchanged shard with the previous one; the
//! spelling rules live in `names.rs`; `encoded.rs` holds every record set in wire form, which
//! the UDP fast path copies and [`NameTable::answer`] decodes (only a set too large for a message
//! stays parsed).

mod encoded;
mod fragment;
mod names;
mod nodes;
mod pods_by_ip;
#[cfg(test)]
pub(crate) mod tests;
mod writer;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::ProtoError;
use hickory_proto::op::{Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::{DnsConfig, DnsError, PodRecords};

use encoded::EncodedZone;
pub(crate) use encoded::{EncodedAnswer, EncodedRecords};
use fragment::Source;
pub(crate) use names::is_reverse;
pub use writer::TableWriter;

use nodes::Nodes;
use pods_by_ip::PodsByIp;

/// How many CNAME hops inside the zone are followed before the chain is cut.
const MAX_CNAME_HOPS: usize = 8;

/// The settings a [`NameTable`] is built with, taken from a [`DnsConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    zone: Name,
    ttl: u32,
    pod_records: PodRecords,
    /// Whether Pods are indexed by address for autopath.
    autopath: bool,
}

impl TableOptions {
    /// Checks and takes the zone, TTL and pod mode of a configuration.
    ///
    /// # Errors
    /// `cluster_domain` is not a usable domain name or `ttl` is out of range.
    pub fn from_config(config: &DnsConfig) -> Result<Self, DnsError> {
        Ok(TableOptions {
            zone: config.validate()?,
            ttl: config.ttl,
            pod_records: config.pod_records,
            autopath: config.autopath,
        })
    }

    /// The cluster zone, lower-cased and fully qualified.
    pub fn zone(&self) -> &Name {
        &self.zone
    }
}

/// One owner name: its record sets, or none at all for an empty non-terminal.
#[derive(Debug, Default, Clone, PartialEq)]
struct Node {
    sets: Vec<RecordSet>,
    /// How many sources make this name exist (it is removed at zero).
    refs: u32,
    /// The sources with records here, in merge order.
    sources: Vec<Source>,
}

impl Node {
    fn set(&self, rtype: RecordType) -> Option<&RecordSet> {
        self.sets.iter().find(|s| s.rtype == rtype)
    }
}

/// The records of one type at one name, with the additional records that go with them (the
/// addresses of SRV targets).
#[derive(Debug, Clone, PartialEq)]
struct RecordSet {
    rtype: RecordType,
    data: SetData,
}

/// How a [`RecordSet`] holds its records.
#[derive(Debug, Clone, PartialEq)]
enum SetData {
    /// In wire form only: the UDP fast path copies the bytes and the general path decodes
    /// them. A parsed record takes a few hundred bytes in memory, its wire form a few dozen.
    Wire(EncodedRecords),
    /// Parsed, for the rare set that cannot be encoded (larger than a message).
    Parsed {
        records: Vec<Record>,
        additional: Vec<Record>,
    },
}

impl RecordSet {
    /// The set of `rtype` at `owner` holding `records` and `additional`, encoded when it can be.
    fn new(
        owner: &Name,
        rtype: RecordType,
        mut records: Vec<Record>,
        mut additional: Vec<Record>,
    ) -> Self {
        let data = match EncodedRecords::of_records(owner, &records, &additional) {
            Some(wire) => SetData::Wire(wire),
            None => {
                records.shrink_to_fit();
                additional.shrink_to_fit();
                SetData::Parsed {
                    records,
                    additional,
                }
            }
        };
        RecordSet { rtype, data }
    }

    /// The wire form, when the set has one.
    fn encoded(&self) -> Option<&EncodedRecords> {
        match &self.data {
            SetData::Wire(wire) => Some(wire),
            SetData::Parsed { .. } => None,
        }
    }

    /// Appends the set's records to `answers` and its additional records to `additional`; the
    /// records owned by the set's own name are given the spelling of `owner` (the same name,
    /// as the question spelled it).
    ///
    /// # Errors
    /// The wire form does not decode, which would be a bug in the encoder.
    fn append_to<'t>(
        &'t self,
        owner: &Name,
        answers: &mut Vec<Cow<'t, Record>>,
        additional: &mut Vec<Cow<'t, Record>>,
    ) -> Result<(), ProtoError> {
        match &self.data {
            SetData::Wire(wire) => {
                let (records, extra) = wire.decode(owner)?;
                answers.extend(records.into_iter().map(Cow::Owned));
                additional.extend(extra.into_iter().map(Cow::Owned));
            }
            SetData::Parsed {
                records,
                additional: extra,
            } => {
                push_spelled(answers, records, owner);
                additional.extend(extra.iter().map(Cow::Borrowed));
            }
        }
        Ok(())
    }
}

/// The response to one question (records decoded from the table's wire form, or borrowed from
/// the rare set kept parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<'t> {
    /// The response code.
    pub rcode: ResponseCode,
    /// The answer section.
    pub answers: Vec<Cow<'t, Record>>,
    /// The authority section (the zone SOA on negative answers).
    pub authority: Vec<Cow<'t, Record>>,
    /// The additional section (addresses of SRV targets).
    pub additional: Vec<Cow<'t, Record>>,
}

impl Answer<'_> {
    /// The name the answer's CNAME chain ends at without records for it: the target of the
    /// last answer record when that is a CNAME of a NOERROR answer (an ExternalName outside
    /// the zone, for one). The table has nothing more for that name.
    pub fn dangling_cname(&self) -> Option<&Name> {
        if self.rcode != ResponseCode::NoError {
            return None;
        }
        match &self.answers.last()?.data {
            RData::CNAME(target) => Some(&target.0),
            _ => None,
        }
    }

    fn empty(rcode: ResponseCode) -> Self {
        Answer {
            rcode,
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
        }
    }
}

/// Every name of the cluster zone (and the reverse names of cluster addresses) at one moment.
#[derive(Debug)]
pub struct NameTable {
    options: TableOptions,
    synced: bool,
    revision: u64,
    soa: Record,
    nodes: Nodes,
    /// `pod.<zone>`, for the insecure pod mode.
    pod_zone: Option<Name>,
    /// The table-wide parts of the wire-form answers.
    encoded: EncodedZone,
    /// Pods by address (only with autopath on).
    pods_by_ip: PodsByIp,
}

impl NameTable {
    /// The table of a cluster that has not been listed yet: every in-zone question gets
    /// SERVFAIL until a synced snapshot arrives.
    pub fn unsynced(options: TableOptions) -> Self {
        NameTable::build(&cluster_watch::ClusterState::default(), options)
    }

    /// Builds the table of one snapshot from scratch.
    pub fn build(state: &cluster_watch::ClusterState, options: TableOptions) -> NameTable {
        TableWriter::new(options).update(state)
    }

    /// True once built from a snapshot whose first full list is done.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// The snapshot revision the table was built from.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// How many owner names the table holds (including empty non-terminals).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the table holds no name at all.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The cluster zone.
    pub fn zone(&self) -> &Name {
        &self.options.zone
    }

    /// The TTL of every record the table holds.
    pub fn ttl(&self) -> u32 {
        self.options.ttl
    }

    /// The namespace of the Pod whose address is `ip`, when autopath is on and such a Pod
    /// exists (host-network Pods excepted).
    pub fn pod_namespace(&self, ip: IpAddr) -> Option<&str> {
        self.pods_by_ip.namespace_of(ip)
    }

    /// True when this table, not the upstreams, must answer `name`: it is in the cluster zone,
    /// or it is a reverse name of a cluster address (before the first sync: any reverse name,
    /// so that no false NXDOMAIN comes from upstream).
    pub fn is_authoritative(&self, name: &Name) -> bool {
        self.options.zone.zone_of(name)
            || (is_reverse(name) && (!self.synced || self.nodes.contains_key(name)))
    }

    /// The answer to `query` when this table must give it ([`NameTable::is_authoritative`]),
    /// `None` when it goes to the upstreams. One lookup serves both decisions.
    pub fn answer_if_authoritative(&self, query: &Query) -> Option<Answer<'_>> {
        let name = query.name();
        if self.options.zone.zone_of(name) || (is_reverse(name) && !self.synced) {
            return Some(self.answer(query));
        }
        if !is_reverse(name) {
            return None;
        }
        let node = self.nodes.get(name)?;
        Some(self.answer_with(query, || Some(node)))
    }

    /// Answers one question from the table. Owner names equal to the question keep its
    /// spelling (case); every other name is lower-case.
    pub fn answer(&self, query: &Query) -> Answer<'_> {
        self.answer_with(query, || self.nodes.get(query.name()))
    }

    /// [`NameTable::answer`] with the lookup of the question name supplied by the caller.
    fn answer_with<'t>(
        &'t self,
        query: &Query,
        lookup: impl FnOnce() -> Option<&'t Arc<Node>>,
    ) -> Answer<'t> {
        let qtype = query.query_type();
        if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) {
            return Answer::empty(ResponseCode::Refused);
        }
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return Answer::empty(ResponseCode::Refused);
        }
        if !self.synced {
            return Answer::empty(ResponseCode::ServFail);
        }
        let qname = query.name();
        let mut answer = Answer::empty(ResponseCode::NoError);
        let Some(node) = lookup() else {
            if let Some(dynamic) = self.pod_answer(qname, qtype) {
                return dynamic;
            }
            return self.negative(answer, ResponseCode::NXDomain);
        };
        let own = node.set(qtype);
        let filled = if qtype == RecordType::ANY {
            node.sets.iter().try_for_each(|set| {
                set.append_to(qname, &mut answer.answers, &mut answer.additional)
            })
        } else if let Some(set) = own.or_else(|| node.set(RecordType::CNAME)) {
            set.append_to(qname, &mut answer.answers, &mut answer.additional)
        } else {
            return self.negative(answer, ResponseCode::NoError);
        };
        if let Err(error) = filled {
            tracing::error!(name = %qname, %qtype, %error, "a record set of the table does not decode");
            return Answer::empty(ResponseCode::ServFail);
        }
        match (qtype, own) {
            (RecordType::ANY, _) => self.finish(answer),
            (_, Some(_)) => answer,
            (_, None) => self.follow_cname(answer, qtype),
        }
    }

    /// Adds the records an in-zone CNAME target holds, hop by hop, after the CNAME record
    /// `answer` ends with; an out-of-zone target ends the chain (the handler resolves it
    /// upstream), a missing in-zone target makes the answer NXDOMAIN, a target already in the
    /// chain (a loop) ends it.
    fn follow_cname<'t>(&'t self, mut answer: Answer<'t>, qtype: RecordType) -> Answer<'t> {
        for _ in 0..MAX_CNAME_HOPS {
            let Some(RData::CNAME(target)) = answer.answers.last().map(|r| &r.data) else {
                break;
            };
            let target = target.0.to_lowercase();
            if !self.options.zone.zone_of(&target) {
                break;
            }
            if answer.answers.iter().any(|r| r.name == target) {
                // A loop: the chain already holds the target's records; it ends here.
                break;
            }
            let Some(node) = self.nodes.get(&target) else {
                return self.negative(answer, ResponseCode::NXDomain);
            };
            let (set, last) = match (node.set(qtype), node.set(RecordType::CNAME)) {
                (Some(set), _) => (set, true),
                (None, Some(next)) => (next, false),
                (None, None) => return self.negative(answer, ResponseCode::NoError),
            };
            if let Err(error) = set.append_to(&target, &mut answer.answers, &mut answer.additional)
            {
                tracing::error!(name = %target, %error, "a record set of the table does not decode");
                return Answer::empty(ResponseCode::ServFail);
            }
            if last {
                break;
            }
        }
        answer
    }

    /// NODATA (NOERROR) or NXDOMAIN, with the SOA in the authority section.
    fn negative<'t>(&'t self, mut answer: Answer<'t>, rcode: ResponseCode) -> Answer<'t> {
        answer.rcode = rcode;
        answer.authority.push(Cow::Borrowed(&self.soa));
        answer
    }

    fn finish<'t>(&'t self, answer: Answer<'t>) -> Answer<'t> {
        if answer.answers.is_empty() {
            return self.negative(answer, ResponseCode::NoError);
        }
        answer
    }

    /// Insecure pod names, made up on demand: `<dashed-ip>.<ns>.pod.<zone>` answers the address
    /// it spells and `<ns>.pod.<zone>` exists without records. `None` when the name is not of
    /// that shape (the caller answers NXDOMAIN).
    fn pod_answer(&self, qname: &Name, qtype: RecordType) -> Option<Answer<'_>> {
        let pod_zone = self.pod_zone.as_ref()?;
        if self.options.pod_records != PodRecords::Insecure || !pod_zone.zone_of(qname) {
            return None;
        }
        let depth = qname.num_labels().checked_sub(pod_zone.num_labels())?;
        let mut labels = qname.iter();
        match depth {
            1 => {
                let namespace = labels.next()?;
                let namespace = std::str::from_utf8(namespace).ok()?;
                names::is_valid_label(namespace).then(|| {
                    self.negative(Answer::empty(ResponseCode::NoError), ResponseCode::NoError)
                })
            }
            2 => {
                let ip = names::parse_dashed(labels.next()?)?;
                let namespace = std::str::from_utf8(labels.next()?).ok()?;
                if !names::is_valid_label(namespace) {
                    return None;
                }
                let data = match (ip, qtype) {
                    (IpAddr::V4(v4), RecordType::A | RecordType::ANY) => RData::A(A(v4)),
                    (IpAddr::V6(v6), RecordType::AAAA | RecordType::ANY) => RData::AAAA(AAAA(v6)),
                    _ => {
                        return Some(self.negative(
                            Answer::empty(ResponseCode::NoError),
                            ResponseCode::NoError,
                        ));
                    }
                };
                let mut answer = Answer::empty(ResponseCode::NoError);
                answer.answers.push(Cow::Owned(Record::from_rdata(
                    qname.clone(),
                    self.options.ttl,
                    data,
                )));
                Some(answer)
            }
            _ => None,
        }
    }
}

/// Appends `records`, giving those owned by the question name the question's spelling.
fn push_spelled<'t>(out: &mut Vec<Cow<'t, Record>>, records: &'t [Record], qname: &Name) {
    out.reserve(records.len());
    for record in records {
        if record.name.eq_case(qname) || record.name != *qname {
            out.push(Cow::Borrowed(record));
        } else {
            let mut spelled = record.clone();
            spelled.name = qname.clone();
            out.push(Cow::Owned(spelled));
        }
    }
}
