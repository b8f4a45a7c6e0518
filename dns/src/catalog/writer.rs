//! [`TableWriter`]: keeps the [`NameTable`] of the newest snapshot up to date by applying only
//! what changed. The services, EndpointSlices and pods of two snapshots are compared with the
//! persistent maps' `diff`, which skips the subtrees both share, so a change costs work in
//! proportion to the objects it touches, not to the cluster.
//!
//! For every source that changed, the old fragment (made from the previous snapshot) and the new
//! one are compared; the names either one touches are merged again from all the sources that
//! have records there, in [`Source`] order. A fresh build is the same procedure from an empty
//! table, so an incremental table and a rebuilt one hold the same records in the same order.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use cluster_watch::{ClusterState, ObjectKey, SERVICE_NAME_LABEL};
use hickory_proto::rr::{Name, Record, RecordType};
use imbl::ordmap::DiffItem;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::encoded::EncodedZone;
use super::fragment::{Add, Fragment, Source, soa_record};
use super::{NameTable, Node, Nodes, PodsByIp, RecordSet, TableOptions};
use crate::PodRecords;

/// Builds [`NameTable`]s snapshot after snapshot, reusing everything that did not change.
#[derive(Debug)]
pub struct TableWriter {
    options: TableOptions,
    /// The snapshot `nodes` reflects; `None` before the first update.
    state: Option<ClusterState>,
    nodes: Nodes,
    /// Pods by address, kept only when autopath is on.
    pods_by_ip: PodsByIp,
}

/// What a name will hold after an update: how many sources make it exist and which ones have
/// records there.
#[derive(Debug, Default)]
struct Pending {
    refs: u32,
    sources: Vec<Source>,
}

impl TableWriter {
    /// A writer with an empty table.
    pub fn new(options: TableOptions) -> Self {
        TableWriter {
            options,
            state: None,
            nodes: Nodes::default(),
            pods_by_ip: PodsByIp::default(),
        }
    }

    /// The options tables are built with.
    pub fn options(&self) -> &TableOptions {
        &self.options
    }

    /// Brings the table to `state` and returns it. The returned table shares every unchanged
    /// shard with the previous one.
    ///
    /// Fragments are not kept between the two passes (on a first sync they would double the
    /// memory of the table for a moment): the merge pass makes them again, source by source,
    /// with the names of one source merged one after the other so each is made about once.
    pub fn update(&mut self, state: &ClusterState) -> NameTable {
        let old = self.state.take();
        self.index_pods(old.as_ref(), state);
        let sources = self.changed_sources(old.as_ref(), state);
        let mut pending: HashMap<Name, Pending> = HashMap::new();
        for source in sources {
            let before = match &old {
                Some(old) => Fragment::of(&source, old, &self.options),
                None => Fragment::default(),
            };
            let after = Fragment::of(&source, state, &self.options);
            if before == after {
                continue;
            }
            for name in before.names() {
                let entry = self.pending(&mut pending, name);
                entry.refs = entry.refs.saturating_sub(1);
            }
            for name in before.owners() {
                let entry = self.pending(&mut pending, name);
                entry.sources.retain(|s| *s != source);
            }
            for name in after.names() {
                self.pending(&mut pending, name).refs += 1;
            }
            for name in after.owners() {
                let entry = self.pending(&mut pending, name);
                if let Err(at) = entry.sources.binary_search(&source) {
                    entry.sources.insert(at, source.clone());
                }
            }
        }
        let mut order: Vec<(Name, Pending)> = pending.into_iter().collect();
        order.sort_by(|a, b| a.1.sources.first().cmp(&b.1.sources.first()));
        let mut recent = Recent::default();
        for (name, Pending { refs, mut sources }) in order {
            if refs == 0 {
                self.nodes.remove(&name);
                continue;
            }
            let mut merged = Vec::new();
            for source in &sources {
                for add in recent.adds_at(source, state, &self.options, &name) {
                    merge(&mut merged, add);
                }
            }
            let mut sets: Vec<RecordSet> = merged
                .into_iter()
                .map(|set| RecordSet::new(&name, set.rtype, set.records, set.additional))
                .collect();
            sets.shrink_to_fit();
            sources.shrink_to_fit();
            let node = Node {
                sets,
                refs,
                sources,
            };
            self.nodes.insert(&name, Arc::new(node));
        }
        self.state = Some(state.clone());
        let pod_zone = (self.options.pod_records != PodRecords::Disabled)
            .then(|| super::names::child(&self.options.zone, "pod"))
            .flatten();
        let soa = soa_record(&self.options, state.revision);
        NameTable {
            options: self.options.clone(),
            synced: state.synced,
            revision: state.revision,
            encoded: EncodedZone::new(&self.options, &soa, pod_zone.as_ref()),
            soa,
            nodes: self.nodes.clone(),
            pod_zone,
            pods_by_ip: self.pods_by_ip.clone(),
        }
    }

    /// Brings the Pod address index from `old` to `new` (only with autopath on).
    fn index_pods(&mut self, old: Option<&ClusterState>, new: &ClusterState) {
        if !self.options.autopath {
            return;
        }
        let Some(old) = old else {
            self.pods_by_ip = PodsByIp::default();
            for (key, pod) in &new.pods {
                self.pods_by_ip.insert(key, pod);
            }
            return;
        };
        for item in old.pods.diff(&new.pods) {
            match item {
                DiffItem::Add(key, pod) => self.pods_by_ip.insert(key, pod),
                DiffItem::Remove(key, pod) => self.pods_by_ip.remove(key, pod),
                DiffItem::Update { old, new } => {
                    self.pods_by_ip.remove(old.0, old.1);
                    self.pods_by_ip.insert(new.0, new.1);
                }
            }
        }
    }

    /// The entry of `name` in `pending`, starting from what the table holds now.
    fn pending<'p>(&self, pending: &'p mut HashMap<Name, Pending>, name: &Name) -> &'p mut Pending {
        pending.entry(name.clone()).or_insert_with(|| {
            self.nodes
                .get(name)
                .map(|node| Pending {
                    refs: node.refs,
                    sources: node.sources.clone(),
                })
                .unwrap_or_default()
        })
    }

    /// The sources whose fragments may differ between `old` and `new` (all of them on the first
    /// update). The apex is always among them: its SOA serial follows the revision.
    fn changed_sources(&self, old: Option<&ClusterState>, new: &ClusterState) -> BTreeSet<Source> {
        let mut sources = BTreeSet::from([Source::Apex]);
        let pods = self.options.pod_records == PodRecords::Verified;
        let Some(old) = old else {
            sources.extend(new.services.keys().map(|k| service(k.clone())));
            if self.options.pod_records != PodRecords::Disabled {
                sources.insert(Source::PodZone);
            }
            if pods {
                sources.extend(new.pods.keys().map(|k| Source::Pod(Arc::new(k.clone()))));
            }
            return sources;
        };
        for item in old.services.diff(&new.services) {
            sources.insert(service(diff_key(&item).clone()));
        }
        for item in old.endpoint_slices.diff(&new.endpoint_slices) {
            let slices = match item {
                DiffItem::Add(_, slice) | DiffItem::Remove(_, slice) => [Some(slice), None],
                DiffItem::Update { old, new } => [Some(old.1), Some(new.1)],
            };
            for slice in slices.into_iter().flatten() {
                if let Some(key) = owning_service(slice) {
                    sources.insert(service(key));
                }
            }
        }
        if pods {
            for item in old.pods.diff(&new.pods) {
                sources.insert(Source::Pod(Arc::new(diff_key(&item).clone())));
            }
        }
        sources
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

fn service(key: ObjectKey) -> Source {
    Source::Service(Arc::new(key))
}

fn diff_key<'a, V>(item: &DiffItem<'a, 'a, ObjectKey, V>) -> &'a ObjectKey {
    match item {
        DiffItem::Add(key, _) | DiffItem::Remove(key, _) => key,
        DiffItem::Update { new, .. } => new.0,
    }
}

/// The Service an EndpointSlice belongs to, by its `kubernetes.io/service-name` label.
fn owning_service(slice: &EndpointSlice) -> Option<ObjectKey> {
    let namespace = slice.metadata.namespace.as_deref()?;
    let name = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some(ObjectKey::new(namespace, name.as_str()))
}

/// The fragments made last in the merge pass, with an owner index for large ones (headless
/// services with many endpoints). Names are merged grouped by their first source, so the source
/// asked for is nearly always the newest one here.
#[derive(Default)]
struct Recent {
    fragments: Vec<(Source, Fragment, HashMap<Name, usize>)>,
}

impl Recent {
    /// How many fragments are kept (a name shared by several sources needs them all).
    const KEEP: usize = 4;
    /// Fragments with more owners than this get an index.
    const LINEAR: usize = 8;

    /// The records `source` has at `name` in `state`.
    fn adds_at(
        &mut self,
        source: &Source,
        state: &ClusterState,
        options: &TableOptions,
        name: &Name,
    ) -> &[Add] {
        let position = match self.fragments.iter().position(|(s, _, _)| s == source) {
            Some(position) => position,
            None => {
                if self.fragments.len() >= Self::KEEP {
                    self.fragments.remove(0);
                }
                let fragment = Fragment::of(source, state, options);
                let index = if fragment.groups().len() > Self::LINEAR {
                    fragment
                        .groups()
                        .iter()
                        .enumerate()
                        .map(|(i, (owner, _))| (owner.clone(), i))
                        .collect()
                } else {
                    HashMap::new()
                };
                self.fragments.push((source.clone(), fragment, index));
                self.fragments.len() - 1
            }
        };
        let Some((_, fragment, index)) = self.fragments.get(position) else {
            return &[];
        };
        if index.is_empty() {
            return fragment.at(name);
        }
        index
            .get(name)
            .and_then(|i| fragment.groups().get(*i))
            .map_or(&[], |(_, adds)| adds.as_slice())
    }
}

/// The records of one type at one name while the writer collects them.
struct MergedSet {
    rtype: RecordType,
    records: Vec<Record>,
    additional: Vec<Record>,
}

/// Adds one record to the sets of a name, skipping records and additional records it holds.
fn merge(sets: &mut Vec<MergedSet>, add: &Add) {
    let rtype = add.record.record_type();
    let index = match sets.iter().position(|s| s.rtype == rtype) {
        Some(index) => index,
        None => {
            sets.push(MergedSet {
                rtype,
                records: Vec::new(),
                additional: Vec::new(),
            });
            sets.len() - 1
        }
    };
    let Some(set) = sets.get_mut(index) else {
        return;
    };
    if !set.records.contains(&add.record) {
        set.records.push(add.record.clone());
    }
    for extra in &add.additional {
        if !set.additional.contains(extra) {
            set.additional.push(extra.clone());
        }
    }
}
