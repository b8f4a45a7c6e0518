//! The records one source contributes to the table: the zone apex, one Service (with its
//! EndpointSlices when headless), the `pod.<zone>` name, or one Pod. A [`Fragment`] is a pure
//! function of the snapshot, so the writer can make it again for the old and the new snapshot
//! and apply only the difference. Objects that cannot be published (bad names, unparsable
//! addresses) give an empty fragment with a debug log; generating never fails.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use cluster_watch::{ClusterState, ObjectKey};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record};
use k8s_openapi::api::core::v1::{Pod, Service};
use tracing::debug;

use super::TableOptions;
use super::names::{child, dashed, is_reverse, is_valid_label, reverse_name};
use crate::PodRecords;

/// The schema version of the Kubernetes DNS specification these records follow.
const SCHEMA_VERSION: &str = "1.1.0";

/// Who contributes records to the table. The order is the order records are merged in at a
/// name shared by several sources, so it is part of what the table looks like.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Source {
    /// SOA, NS, the NS host, `dns-version` and `svc.<zone>`.
    Apex,
    /// One Service by `namespace/name`.
    Service(Arc<ObjectKey>),
    /// `pod.<zone>` when pod records are on.
    PodZone,
    /// One Pod by `namespace/name` (verified pod records).
    Pod(Arc<ObjectKey>),
}

/// One record at one owner name, with the additional records that go with it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Add {
    pub(super) record: Record,
    pub(super) additional: Vec<Record>,
}

/// Everything one source puts in the table.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Fragment {
    /// Records grouped by owner name, each group in the order the records were made.
    groups: Vec<(Name, Vec<Add>)>,
    /// Every name this source makes exist: owners and their ancestors up to the zone apex,
    /// and names that exist without records. No duplicates.
    names: Vec<Name>,
    #[allow(clippy::struct_field_names)]
    group_index: HashMap<Name, usize>,
    seen: HashSet<Name>,
}

impl Fragment {
    /// Makes the fragment of `source` in `state`; empty when the source has nothing to publish.
    pub(super) fn of(source: &Source, state: &ClusterState, options: &TableOptions) -> Fragment {
        let mut builder = Builder::new(options);
        match source {
            Source::Apex => builder.apex(state.revision),
            Source::Service(key) => {
                if let Some(service) = state.services.get(&**key) {
                    builder.service(state, service);
                }
            }
            Source::PodZone => {
                if options.pod_records != PodRecords::Disabled {
                    builder.ensure(builder.pod_zone.clone());
                }
            }
            Source::Pod(key) => {
                if options.pod_records == PodRecords::Verified
                    && let Some(pod) = state.pods.get(&**key)
                {
                    builder.pod(pod);
                }
            }
        }
        let mut fragment = builder.out;
        fragment.group_index = HashMap::new();
        fragment.seen = HashSet::new();
        fragment
    }

    /// Every name the source makes exist.
    pub(super) fn names(&self) -> &[Name] {
        &self.names
    }

    /// The owner names the source has records at.
    pub(super) fn owners(&self) -> impl Iterator<Item = &Name> {
        self.groups.iter().map(|(name, _)| name)
    }

    /// The records at `name`, in the order they were made. Linear in the number of owners; the
    /// writer indexes large fragments itself.
    pub(super) fn at(&self, name: &Name) -> &[Add] {
        self.groups
            .iter()
            .find(|(owner, _)| owner == name)
            .map_or(&[], |(_, adds)| adds.as_slice())
    }

    /// The groups, for indexing.
    pub(super) fn groups(&self) -> &[(Name, Vec<Add>)] {
        &self.groups
    }

    /// Records `name` (and its ancestors, for names in the zone) as existing.
    fn touch(&mut self, name: &Name, zone: &Name) {
        if is_reverse(name) {
            // Reverse names are leaves on their own: their ancestors are not ours to publish.
            if self.seen.insert(name.clone()) {
                self.names.push(name.clone());
            }
            return;
        }
        let mut current = name.clone();
        while zone.zone_of(&current) {
            if !self.seen.insert(current.clone()) {
                return;
            }
            self.names.push(current.clone());
            if current == *zone {
                return;
            }
            let parent = current.base_name();
            if parent.is_root() {
                return;
            }
            current = parent;
        }
    }

    fn push(&mut self, name: Name, add: Add) {
        match self.group_index.get(&name) {
            Some(index) => {
                if let Some((_, adds)) = self.groups.get_mut(*index) {
                    adds.push(add);
                }
            }
            None => {
                self.group_index.insert(name.clone(), self.groups.len());
                self.groups.push((name, vec![add]));
            }
        }
    }
}

/// The SOA record of the zone at snapshot `revision`.
pub(super) fn soa_record(options: &TableOptions, revision: u64) -> Record {
    let zone = &options.zone;
    let ns_host = named(&named(zone, "dns"), "ns");
    // The serial follows the snapshot revision; 0 is avoided as some tools treat it as unset.
    let serial = u32::try_from(revision % u64::from(u32::MAX))
        .unwrap_or(1)
        .max(1);
    let soa = SOA::new(
        ns_host,
        named(zone, "hostmaster"),
        serial,
        7200,
        1800,
        86_400,
        options.ttl,
    );
    Record::from_rdata(zone.clone(), options.ttl, RData::SOA(soa))
}

/// `parent` with `label` in front, or `parent` itself if that is not a name.
fn named(parent: &Name, label: &str) -> Name {
    child(parent, label).unwrap_or_else(|| parent.clone())
}

/// A named service or endpoint port, as published in SRV records.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct NamedPort {
    name: String,
    protocol: String,
    port: u16,
}

struct Builder<'o> {
    options: &'o TableOptions,
    out: Fragment,
    svc_zone: Name,
    pod_zone: Name,
}

impl<'o> Builder<'o> {
    fn new(options: &'o TableOptions) -> Self {
        let zone = &options.zone;
        Builder {
            options,
            out: Fragment::default(),
            svc_zone: named(zone, "svc"),
            pod_zone: named(zone, "pod"),
        }
    }

    /// The apex records: SOA and NS, the NS host, `dns-version` TXT, and `svc.<zone>`.
    fn apex(&mut self, revision: u64) {
        let zone = self.options.zone.clone();
        let ttl = self.options.ttl;
        let ns_host = named(&named(&zone, "dns"), "ns");
        self.add(zone.clone(), soa_record(self.options, revision));
        let ns = Record::from_rdata(zone.clone(), ttl, RData::NS(NS(ns_host.clone())));
        self.add(zone.clone(), ns);
        self.ensure(ns_host);
        let version = named(&zone, "dns-version");
        let txt = TXT::new(vec![SCHEMA_VERSION.to_owned()]);
        self.add(
            version.clone(),
            Record::from_rdata(version, ttl, RData::TXT(txt)),
        );
        self.ensure(self.svc_zone.clone());
    }

    /// Makes `name` and every name between it and the zone apex exist.
    fn ensure(&mut self, name: Name) {
        self.out.touch(&name, &self.options.zone);
    }

    /// Adds one record at `name` (making the name and its ancestors exist). Names neither in
    /// the zone nor reverse names are not ours and are dropped.
    fn add(&mut self, name: Name, record: Record) {
        self.add_with_additional(name, record, &[]);
    }

    fn add_with_additional(&mut self, name: Name, record: Record, additional: &[Record]) {
        if !self.options.zone.zone_of(&name) && !is_reverse(&name) {
            return;
        }
        self.out.touch(&name, &self.options.zone);
        self.out.push(
            name,
            Add {
                record,
                additional: additional.to_vec(),
            },
        );
    }

    fn address(&self, name: &Name, ip: IpAddr) -> Record {
        let data = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        Record::from_rdata(name.clone(), self.options.ttl, data)
    }

    fn srv(&self, owner: &Name, port: u16, weight: u16, target: &Name) -> Record {
        let data = RData::SRV(SRV::new(0, weight, port, target.clone()));
        Record::from_rdata(owner.clone(), self.options.ttl, data)
    }

    fn ptr(&mut self, ip: IpAddr, target: &Name) {
        if let Some(reverse) = reverse_name(ip) {
            let record = Record::from_rdata(
                reverse.clone(),
                self.options.ttl,
                RData::PTR(PTR(target.clone())),
            );
            self.add(reverse, record);
        }
    }

    /// `_<port>._<proto>.<name>` for a named port.
    fn srv_owner(name: &Name, port: &NamedPort) -> Option<Name> {
        let proto = child(name, &format!("_{}", port.protocol))?;
        child(&proto, &format!("_{}", port.name))
    }

    fn service(&mut self, state: &ClusterState, service: &Service) {
        let (Some(namespace), Some(name)) = (
            service.metadata.namespace.as_deref(),
            service.metadata.name.as_deref(),
        ) else {
            return;
        };
        if !is_valid_label(namespace) || !is_valid_label(name) {
            debug!(
                namespace,
                name, "service name is not a DNS label; not published"
            );
            return;
        }
        let Some(owner) = child(&self.svc_zone, namespace).and_then(|ns| child(&ns, name)) else {
            return;
        };
        let Some(spec) = service.spec.as_ref() else {
            return;
        };
        if spec.type_.as_deref() == Some("ExternalName") {
            self.external_name(owner, spec.external_name.as_deref());
            return;
        }
        if spec.cluster_ip.as_deref() == Some("None") {
            let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
            self.headless(state, namespace, name, owner, publish_not_ready);
            return;
        }
        let ips: BTreeSet<IpAddr> = spec
            .cluster_ips
            .iter()
            .flatten()
            .chain(spec.cluster_ip.iter())
            .filter_map(|ip| ip.parse().ok())
            .collect();
        if ips.is_empty() {
            debug!(
                namespace,
                name, "service has no cluster IP yet; not published"
            );
            return;
        }
        let addresses: Vec<Record> = ips.iter().map(|ip| self.address(&owner, *ip)).collect();
        for (ip, record) in ips.iter().zip(&addresses) {
            self.add(owner.clone(), record.clone());
            self.ptr(*ip, &owner);
        }
        let ports: BTreeSet<NamedPort> = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| named_port(p.name.as_deref(), p.protocol.as_deref(), Some(p.port)))
            .collect();
        for port in &ports {
            let record = self.srv(&owner, port.port, 100, &owner);
            self.add_with_additional(owner.clone(), record.clone(), &addresses);
            if let Some(srv_owner) = Self::srv_owner(&owner, port) {
                let mut record = record;
                record.name = srv_owner.clone();
                self.add_with_additional(srv_owner, record, &addresses);
            }
        }
    }

    fn external_name(&mut self, owner: Name, external: Option<&str>) {
        let Some(external) = external.map(str::trim).filter(|e| !e.is_empty()) else {
            return;
        };
        let Ok(mut target) = Name::from_ascii(external) else {
            debug!(%owner, external, "externalName is not a domain name; not published");
            return;
        };
        target.set_fqdn(true);
        let record = Record::from_rdata(
            owner.clone(),
            self.options.ttl,
            RData::CNAME(CNAME(target.to_lowercase())),
        );
        self.add(owner, record);
    }

    fn headless(
        &mut self,
        state: &ClusterState,
        namespace: &str,
        name: &str,
        owner: Name,
        publish_not_ready: bool,
    ) {
        // hostname label -> addresses, and the named ports, over every slice of the service.
        let mut hosts: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
        let mut ports: BTreeSet<NamedPort> = BTreeSet::new();
        for slice in state.slices_for_service(namespace, name) {
            if !matches!(slice.address_type.as_str(), "IPv4" | "IPv6") {
                continue;
            }
            let mut any_ready = false;
            for endpoint in &slice.endpoints {
                let ready = endpoint
                    .conditions
                    .as_ref()
                    .and_then(|c| c.ready)
                    .unwrap_or(true);
                if !ready && !publish_not_ready {
                    continue;
                }
                for text in &endpoint.addresses {
                    let Ok(ip) = text.parse::<IpAddr>() else {
                        debug!(namespace, name, address = %text, "endpoint address is not an IP");
                        continue;
                    };
                    let host = endpoint
                        .hostname
                        .as_deref()
                        .filter(|h| is_valid_label(h))
                        .map(str::to_ascii_lowercase)
                        .unwrap_or_else(|| dashed(ip));
                    hosts.entry(host).or_default().insert(ip);
                    any_ready = true;
                }
            }
            if any_ready {
                ports.extend(
                    slice.ports.iter().flatten().filter_map(|p| {
                        named_port(p.name.as_deref(), p.protocol.as_deref(), p.port)
                    }),
                );
            }
        }
        // With no ready endpoint the name does not exist (NXDOMAIN), as the specification says.
        if hosts.is_empty() {
            return;
        }
        let weight = u16::try_from((100 / hosts.len()).max(1)).unwrap_or(1);
        for (host, ips) in &hosts {
            let Some(host_name) = child(&owner, host) else {
                continue;
            };
            let addresses: Vec<Record> =
                ips.iter().map(|ip| self.address(&host_name, *ip)).collect();
            for (ip, record) in ips.iter().zip(&addresses) {
                self.add(host_name.clone(), record.clone());
                self.add(owner.clone(), self.address(&owner, *ip));
                self.ptr(*ip, &host_name);
            }
            for port in &ports {
                let record = self.srv(&owner, port.port, weight, &host_name);
                self.add_with_additional(owner.clone(), record.clone(), &addresses);
                if let Some(srv_owner) = Self::srv_owner(&owner, port) {
                    let mut record = record;
                    record.name = srv_owner.clone();
                    self.add_with_additional(srv_owner, record, &addresses);
                }
            }
        }
    }

    fn pod(&mut self, pod: &Pod) {
        let Some(namespace) = pod
            .metadata
            .namespace
            .as_deref()
            .filter(|n| is_valid_label(n))
        else {
            return;
        };
        let ips = pod_ips(pod);
        let Some(ns_name) = child(&self.pod_zone, namespace) else {
            return;
        };
        for ip in ips {
            if let Some(owner) = child(&ns_name, &dashed(ip)) {
                let record = self.address(&owner, ip);
                self.add(owner, record);
            }
        }
    }
}

/// Every address of `pod` (`status.podIPs` and `status.podIP`), parsed; unparsable ones are
/// skipped.
pub(super) fn pod_ips(pod: &Pod) -> BTreeSet<IpAddr> {
    let Some(status) = pod.status.as_ref() else {
        return BTreeSet::new();
    };
    status
        .pod_ips
        .iter()
        .flatten()
        .map(|p| p.ip.as_str())
        .chain(status.pod_ip.as_deref())
        .filter_map(|ip| ip.parse().ok())
        .collect()
}

/// A port that gets SRV records: named, with a DNS-label name and a valid number.
fn named_port(name: Option<&str>, protocol: Option<&str>, port: Option<i32>) -> Option<NamedPort> {
    let name = name.filter(|n| is_valid_label(n))?;
    let port = u16::try_from(port?).ok().filter(|p| *p != 0)?;
    let protocol = protocol.unwrap_or("TCP").to_ascii_lowercase();
    if !is_valid_label(&protocol) {
        return None;
    }
    Some(NamedPort {
        name: name.to_ascii_lowercase(),
        protocol,
        port,
    })
}
