//! Folding one `ClusterState` into a [`NameTable`]: every record, reverse name, SRV set and
//! additional section is made here, once per snapshot, so that answering is only lookups.
//! Objects that cannot be published (bad names, unparsable addresses) are skipped with a debug
//! log; building never fails.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use control::watch::ClusterState;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record};
use k8s_openapi::api::core::v1::{Pod, Service};
use tracing::debug;

use super::names::{child, dashed, is_valid_label, reverse_name};
use super::{NameTable, Node, RecordSet, TableOptions};
use crate::PodRecords;

/// The schema version of the Kubernetes DNS specification these records follow.
const SCHEMA_VERSION: &str = "1.1.0";

impl NameTable {
    /// Builds the table of one snapshot.
    pub fn build(state: &ClusterState, options: TableOptions) -> NameTable {
        let mut builder = Builder::new(&options, state.revision);
        for service in state.services.values() {
            builder.service(state, service);
        }
        if options.pod_records != PodRecords::Disabled {
            builder.ensure(builder.pod_zone.clone());
        }
        if options.pod_records == PodRecords::Verified {
            for pod in state.pods.values() {
                builder.pod(pod);
            }
        }
        let Builder {
            nodes,
            soa,
            pod_zone,
            ..
        } = builder;
        NameTable {
            synced: state.synced,
            revision: state.revision,
            soa,
            nodes,
            pod_zone: (options.pod_records != PodRecords::Disabled).then_some(pod_zone),
            options,
        }
    }
}

impl TableOptions {
    /// True when going from snapshot `old` to `new` can change the table: the services, the
    /// EndpointSlices, the sync flag, or (with verified pod records) the pods differ. Unchanged
    /// persistent maps share their root, so this is a few pointer comparisons; a relist that
    /// rebuilt a map counts as a change.
    pub fn affected_by(&self, old: &ClusterState, new: &ClusterState) -> bool {
        old.synced != new.synced
            || !old.services.ptr_eq(&new.services)
            || !old.endpoint_slices.ptr_eq(&new.endpoint_slices)
            || (self.pod_records == PodRecords::Verified && !old.pods.ptr_eq(&new.pods))
    }
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
    nodes: HashMap<Name, Node>,
    soa: Record,
    svc_zone: Name,
    pod_zone: Name,
}

impl<'o> Builder<'o> {
    /// Starts a table with the apex records: SOA and NS, the NS host, `dns-version` TXT, and
    /// `svc.<zone>`.
    fn new(options: &'o TableOptions, revision: u64) -> Self {
        let zone = &options.zone;
        let ttl = options.ttl;
        let named =
            |parent: &Name, label: &str| child(parent, label).unwrap_or_else(|| parent.clone());
        let ns_host = named(&named(zone, "dns"), "ns");
        // The serial follows the snapshot revision; 0 is avoided as some tools treat it as unset.
        let serial = u32::try_from(revision % u64::from(u32::MAX))
            .unwrap_or(1)
            .max(1);
        let soa = SOA::new(
            ns_host.clone(),
            named(zone, "hostmaster"),
            serial,
            7200,
            1800,
            86_400,
            ttl,
        );
        let mut builder = Builder {
            options,
            nodes: HashMap::new(),
            soa: Record::from_rdata(zone.clone(), ttl, RData::SOA(soa)),
            svc_zone: named(zone, "svc"),
            pod_zone: named(zone, "pod"),
        };
        builder.add(zone.clone(), builder.soa.clone());
        let ns = Record::from_rdata(zone.clone(), ttl, RData::NS(NS(ns_host.clone())));
        builder.add(zone.clone(), ns);
        builder.ensure(ns_host);
        let version = named(zone, "dns-version");
        let txt = TXT::new(vec![SCHEMA_VERSION.to_owned()]);
        builder.add(
            version.clone(),
            Record::from_rdata(version, ttl, RData::TXT(txt)),
        );
        builder.ensure(builder.svc_zone.clone());
        builder
    }

    /// Makes `name` and every name between it and the zone apex exist.
    fn ensure(&mut self, name: Name) {
        let mut current = name;
        while self.options.zone.zone_of(&current) || super::names::is_reverse(&current) {
            if self.nodes.contains_key(&current) {
                return;
            }
            let parent = current.base_name();
            let at_apex = current == self.options.zone;
            self.nodes.insert(current, Node::default());
            if at_apex || parent.is_root() {
                return;
            }
            current = parent;
        }
    }

    /// Adds one record at `name` (creating the name and its ancestors), skipping duplicates.
    fn add(&mut self, name: Name, record: Record) {
        self.add_with_additional(name, record, &[]);
    }

    fn add_with_additional(&mut self, name: Name, record: Record, additional: &[Record]) {
        if !self.nodes.contains_key(&name) {
            // Reverse names are leaves on their own: their ancestors are not ours to publish.
            if super::names::is_reverse(&name) {
                self.nodes.insert(name.clone(), Node::default());
            } else {
                self.ensure(name.clone());
            }
        }
        let Some(node) = self.nodes.get_mut(&name) else {
            return;
        };
        let rtype = record.record_type();
        let index = match node.sets.iter().position(|s| s.rtype == rtype) {
            Some(index) => index,
            None => {
                node.sets.push(RecordSet {
                    rtype,
                    records: Vec::new(),
                    additional: Vec::new(),
                });
                node.sets.len() - 1
            }
        };
        let set = &mut node.sets[index];
        if !set.records.contains(&record) {
            set.records.push(record);
        }
        for extra in additional {
            if !set.additional.contains(extra) {
                set.additional.push(extra.clone());
            }
        }
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
        let Some(status) = pod.status.as_ref() else {
            return;
        };
        let ips: BTreeSet<IpAddr> = status
            .pod_ips
            .iter()
            .flatten()
            .map(|p| p.ip.as_str())
            .chain(status.pod_ip.as_deref())
            .filter_map(|ip| ip.parse().ok())
            .collect();
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
