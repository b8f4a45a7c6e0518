//! The watch history: one event per committed change, numbered by resourceVersion with no
//! gaps, kept in memory (and in the database) for the newest `watch_history` revisions.
//!
//! The log only records what was committed; it never decides who sees which event.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::json;

use super::StoreError;
use crate::object::{Kind, Object};

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    /// The object was created.
    Added,
    /// The object was changed.
    Modified,
    /// The object was deleted.
    Deleted,
}

impl EventType {
    /// The wire name: `ADDED`, `MODIFIED`, `DELETED`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }

    fn parse(text: &str) -> Option<EventType> {
        match text {
            "ADDED" => Some(EventType::Added),
            "MODIFIED" => Some(EventType::Modified),
            "DELETED" => Some(EventType::Deleted),
            _ => None,
        }
    }
}

/// One committed change.
#[derive(Debug, Clone)]
pub(crate) struct WatchEvent {
    /// The resourceVersion of the change (also in `object.metadata.resourceVersion`).
    pub revision: u64,
    /// What happened.
    pub kind_of_change: EventType,
    /// The object after the change (for DELETED: as it was, with the deletion's revision).
    pub object: Arc<Object>,
    /// The object before the change; used to tell selector watchers that an object started
    /// or stopped matching. After a restart it is a stand-in: the new object carrying the old
    /// labels, which is all a selector looks at (names and namespaces never change).
    pub previous: Option<Arc<Object>>,
}

impl WatchEvent {
    /// The object's kind.
    pub(crate) fn kind(&self) -> Kind {
        self.object.kind()
    }

    /// The record stored in the database: `{"type": ..., "object": ...}` plus, when there was
    /// a previous version, its labels as `previousLabels`.
    pub(crate) fn to_record(&self) -> Vec<u8> {
        let mut record =
            json!({"type": self.kind_of_change.as_str(), "object": self.object.to_json()});
        if let Some(previous) = &self.previous {
            record["previousLabels"] =
                serde_json::to_value(previous.meta().labels.clone().unwrap_or_default())
                    .unwrap_or_default();
        }
        serde_json::to_vec(&record).unwrap_or_default()
    }

    /// Decodes a stored record.
    pub(crate) fn from_record(revision: u64, bytes: &[u8]) -> Result<WatchEvent, StoreError> {
        let mut value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| StoreError::internal(format!("event {revision}: {e}")))?;
        let kind_of_change = value
            .get("type")
            .and_then(|t| t.as_str())
            .and_then(EventType::parse)
            .ok_or_else(|| StoreError::internal(format!("event {revision}: bad type")))?;
        let object = value
            .get_mut("object")
            .map(serde_json::Value::take)
            .unwrap_or_default();
        let kind = Kind::from_type_meta(
            object["apiVersion"].as_str().unwrap_or_default(),
            object["kind"].as_str().unwrap_or_default(),
        )
        .ok_or_else(|| StoreError::internal(format!("event {revision}: unknown kind")))?;
        let object = Arc::new(
            Object::from_json(kind, object)
                .map_err(|e| StoreError::internal(format!("event {revision}: {}", e.message)))?,
        );
        let previous = match value.get_mut("previousLabels").map(serde_json::Value::take) {
            Some(labels) => {
                let labels = serde_json::from_value(labels)
                    .map_err(|e| StoreError::internal(format!("event {revision}: labels: {e}")))?;
                let mut stand_in = Object::clone(&object);
                stand_in.meta_mut().labels = Some(labels);
                Some(Arc::new(stand_in))
            }
            None => None,
        };
        Ok(WatchEvent {
            revision,
            kind_of_change,
            object,
            previous,
        })
    }
}

/// The newest events, oldest first, with consecutive revisions.
#[derive(Debug, Default)]
pub(crate) struct EventLog {
    events: VecDeque<Arc<WatchEvent>>,
    capacity: usize,
}

impl EventLog {
    /// An empty log keeping at most `capacity` events.
    pub(crate) fn new(capacity: usize) -> EventLog {
        EventLog {
            events: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Appends an event (revisions must increase by one), dropping the oldest beyond capacity.
    pub(crate) fn push(&mut self, event: Arc<WatchEvent>) {
        if let Some(last) = self.events.back()
            && event.revision != last.revision + 1
        {
            // A gap would make resumption unsound: keep only what is contiguous.
            tracing::error!(
                last = last.revision,
                next = event.revision,
                "watch history gap; dropping older history"
            );
            self.events.clear();
        }
        self.events.push_back(event);
        while self.events.len() > self.capacity {
            self.events.pop_front();
        }
    }

    /// The revision of the oldest kept event.
    pub(crate) fn oldest(&self) -> Option<u64> {
        self.events.front().map(|e| e.revision)
    }

    /// Number of kept events.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// Every kept event with a revision greater than `after`, or `None` when some of them are
    /// no longer kept (the caller must answer 410 Expired). `current` is the store's revision.
    pub(crate) fn since(&self, after: u64, current: u64) -> Option<Vec<Arc<WatchEvent>>> {
        if after >= current {
            return Some(Vec::new());
        }
        let oldest = self.oldest()?;
        if oldest > after + 1 {
            return None;
        }
        let skip = usize::try_from(after + 1 - oldest).ok()?;
        Some(self.events.iter().skip(skip).cloned().collect())
    }
}
