//! The redb layout: `objects` (`<Kind>/<namespace>/<name>` → object JSON), `events`
//! (resourceVersion → `{"type","object"}` JSON) and `meta` (`revision` → u64).
//!
//! One call of [`Database::commit`] is one redb transaction with immediate durability: the
//! objects, the events and the revision counter of a whole batch land together or not at all.
//! This module knows nothing of admission, validation or HTTP.

use std::path::Path;
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::StoreError;
use super::log::{EventLog, EventType, WatchEvent};
use super::snapshot::Snapshot;
use crate::object::{Kind, Object};

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Scratch space the writer fills and empties to test whether the disk takes writes again.
const PROBE: TableDefinition<&str, &[u8]> = TableDefinition::new("probe");
const REVISION: &str = "revision";

/// The open database file.
pub(crate) struct Database {
    db: redb::Database,
    history: usize,
}

/// What was stored, loaded at open.
pub(crate) struct Loaded {
    /// Every object at the stored revision.
    pub snapshot: Snapshot,
    /// The kept watch history.
    pub log: EventLog,
}

/// The database key of an object.
fn object_key(kind: Kind, namespace: &str, name: &str) -> String {
    format!("{}/{namespace}/{name}", kind.name())
}

impl Database {
    /// Opens or creates the file, creating the tables.
    pub(crate) fn open(path: &Path, history: usize) -> Result<Database, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::db("create data dir", e))?;
        }
        let db = redb::Database::create(path).map_err(|e| StoreError::db("open", e))?;
        let txn = db.begin_write().map_err(|e| StoreError::db("open", e))?;
        {
            txn.open_table(OBJECTS)
                .map_err(|e| StoreError::db("create tables", e))?;
            txn.open_table(EVENTS)
                .map_err(|e| StoreError::db("create tables", e))?;
            txn.open_table(META)
                .map_err(|e| StoreError::db("create tables", e))?;
        }
        txn.commit()
            .map_err(|e| StoreError::db("create tables", e))?;
        Ok(Database { db, history })
    }

    /// The revision stored in the `meta` table.
    pub(crate) fn revision(&self) -> Result<u64, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| StoreError::db("read revision", e))?;
        let meta = txn
            .open_table(META)
            .map_err(|e| StoreError::db("read revision", e))?;
        Ok(meta
            .get(REVISION)
            .map_err(|e| StoreError::db("read revision", e))?
            .map(|v| v.value())
            .unwrap_or(0))
    }

    /// Commits `bytes` of scratch data durably, then removes it again: succeeds only when the
    /// disk takes a write of that size. Objects, events and the revision are not touched.
    pub(crate) fn probe(&self, bytes: usize) -> Result<(), StoreError> {
        let filler = vec![0u8; bytes];
        for fill in [true, false] {
            let mut txn = self
                .db
                .begin_write()
                .map_err(|e| StoreError::db("probe", e))?;
            txn.set_durability(redb::Durability::Immediate)
                .map_err(|e| StoreError::db("probe", e))?;
            {
                let mut probe = txn
                    .open_table(PROBE)
                    .map_err(|e| StoreError::db("probe", e))?;
                if fill {
                    probe
                        .insert("probe", filler.as_slice())
                        .map_err(|e| StoreError::db("probe", e))?;
                } else {
                    probe
                        .remove("probe")
                        .map_err(|e| StoreError::db("probe", e))?;
                }
            }
            txn.commit().map_err(|e| StoreError::db("probe", e))?;
        }
        Ok(())
    }

    /// Reads every object, the revision and the kept events.
    pub(crate) fn load(&self) -> Result<Loaded, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| StoreError::db("load", e))?;
        let meta = txn
            .open_table(META)
            .map_err(|e| StoreError::db("load meta", e))?;
        let revision = meta
            .get(REVISION)
            .map_err(|e| StoreError::db("load meta", e))?
            .map(|v| v.value())
            .unwrap_or(0);
        let mut snapshot = Snapshot::default();
        snapshot.revision = revision;
        let objects = txn
            .open_table(OBJECTS)
            .map_err(|e| StoreError::db("load objects", e))?;
        for entry in objects
            .iter()
            .map_err(|e| StoreError::db("load objects", e))?
        {
            let (key, value) = entry.map_err(|e| StoreError::db("load objects", e))?;
            let key = key.value();
            let corrupt = |reason: String| StoreError::Corrupt {
                key: key.to_string(),
                reason,
            };
            let kind_name = key.split('/').next().unwrap_or_default();
            let kind = Kind::ALL
                .into_iter()
                .find(|k| k.name() == kind_name)
                .ok_or_else(|| corrupt("unknown kind".to_string()))?;
            let json: serde_json::Value =
                serde_json::from_slice(value.value()).map_err(|e| corrupt(e.to_string()))?;
            let obj = Object::from_json(kind, json).map_err(|e| corrupt(e.message))?;
            snapshot.put(Arc::new(obj));
        }
        let mut log = EventLog::new(self.history);
        let events = txn
            .open_table(EVENTS)
            .map_err(|e| StoreError::db("load events", e))?;
        let first = revision.saturating_sub(self.history as u64) + 1;
        for entry in events
            .range(first..)
            .map_err(|e| StoreError::db("load events", e))?
        {
            let (key, value) = entry.map_err(|e| StoreError::db("load events", e))?;
            let rv = key.value();
            let event =
                WatchEvent::from_record(rv, value.value()).map_err(|e| StoreError::Corrupt {
                    key: format!("event {rv}"),
                    reason: e.to_string(),
                })?;
            log.push(Arc::new(event));
        }
        Ok(Loaded { snapshot, log })
    }

    /// Writes one batch of committed events (in revision order) and the new revision in one
    /// durable transaction, and trims the history.
    pub(crate) fn commit(
        &self,
        events: &[Arc<WatchEvent>],
        revision: u64,
    ) -> Result<(), StoreError> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| StoreError::db("begin", e))?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(|e| StoreError::db("begin", e))?;
        {
            let mut objects = txn
                .open_table(OBJECTS)
                .map_err(|e| StoreError::db("commit", e))?;
            let mut log = txn
                .open_table(EVENTS)
                .map_err(|e| StoreError::db("commit", e))?;
            let mut meta = txn
                .open_table(META)
                .map_err(|e| StoreError::db("commit", e))?;
            for event in events {
                let obj = &event.object;
                let key = object_key(obj.kind(), obj.namespace().unwrap_or_default(), obj.name());
                match event.kind_of_change {
                    EventType::Deleted => {
                        objects
                            .remove(key.as_str())
                            .map_err(|e| StoreError::db("commit", e))?;
                    }
                    EventType::Added | EventType::Modified => {
                        let bytes = serde_json::to_vec(&obj.to_json())
                            .map_err(|e| StoreError::db("encode", e))?;
                        objects
                            .insert(key.as_str(), bytes.as_slice())
                            .map_err(|e| StoreError::db("commit", e))?;
                    }
                }
                log.insert(event.revision, event.to_record().as_slice())
                    .map_err(|e| StoreError::db("commit", e))?;
            }
            meta.insert(REVISION, revision)
                .map_err(|e| StoreError::db("commit", e))?;
            let keep_from = revision.saturating_sub(self.history as u64) + 1;
            log.retain_in(..keep_from, |_, _| false)
                .map_err(|e| StoreError::db("trim history", e))?;
        }
        txn.commit().map_err(|e| StoreError::db("commit", e))
    }
}
