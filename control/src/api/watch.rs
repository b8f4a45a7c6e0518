//! Watch streams: newline-delimited JSON events over a chunked response, one chunk per event.
//! From `resourceVersion=N` every later event is replayed in order, then live ones follow;
//! without it (or with `0`) the current objects come first as synthetic ADDED events. Label and
//! field selectors apply to events (an object that stops matching is sent as DELETED, one that
//! starts matching as ADDED). A resourceVersion older than the kept history yields a single
//! `ERROR` event carrying a 410 Expired Status, so clients re-list.
//!
//! A watch only reads; it ends on `timeoutSeconds`, on store shutdown, or when it falls too
//! far behind (ERROR 410 again) — it never drops an event silently.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::ApiState;
use super::legacy::{self, LegacyVersion};
use super::query::Params;
use super::table::{self, Include};
use crate::error::ApiError;
use crate::object::{Kind, Object};
use crate::store::{EventType, FeedError, WatchEvent};

/// What the watcher asked for.
pub(crate) struct WatchRequest {
    /// The kind watched.
    pub kind: Kind,
    /// The namespace (all when `None`).
    pub namespace: Option<String>,
    /// Parsed query parameters.
    pub params: Params,
    /// Render objects as one-row Tables.
    pub table: bool,
    /// The legacy version the path names, whose shape the objects get; `None` for the
    /// stored version.
    pub legacy: Option<LegacyVersion>,
}

impl WatchRequest {
    fn in_scope(&self, obj: &Object) -> bool {
        obj.kind() == self.kind
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| obj.namespace() == Some(ns))
    }

    fn object_json(&self, obj: &Object) -> Value {
        if self.table {
            let include = Include::parse(&self.params.include_object).unwrap_or(Include::Metadata);
            let mut t = table::build(
                self.kind,
                std::iter::once(obj),
                jiff::Timestamp::now(),
                include,
            );
            t["metadata"]["resourceVersion"] = obj.meta().resource_version.clone().into();
            legacy::table_objects(self.legacy, self.kind, &mut t);
            t
        } else {
            legacy::render(self.legacy, obj)
        }
    }

    fn line(&self, kind_of_change: &str, obj: &Object) -> Bytes {
        frame(&json!({"type": kind_of_change, "object": self.object_json(obj)}))
    }

    /// The event this watcher should see for `event`, if any.
    fn translate(&self, event: &WatchEvent) -> Option<Bytes> {
        if event.kind() != self.kind || !self.in_scope(&event.object) {
            return None;
        }
        let now = self.params.selects(&event.object);
        // Without a previous version (a create) "was visible" is irrelevant; keep the safe
        // default of true so a watcher never misses a DELETED.
        let before = event
            .previous
            .as_ref()
            .is_none_or(|p| self.params.selects(p));
        let kind_of_change = match event.kind_of_change {
            EventType::Added if now => EventType::Added,
            EventType::Added => return None,
            EventType::Modified => match (before, now) {
                (true, true) => EventType::Modified,
                (false, true) => EventType::Added,
                (true, false) => EventType::Deleted,
                (false, false) => return None,
            },
            EventType::Deleted if now || before => EventType::Deleted,
            EventType::Deleted => return None,
        };
        Some(self.line(kind_of_change.as_str(), &event.object))
    }

    /// A BOOKMARK at `revision`; `initial_end` marks the end of the initial events of a
    /// watch-list (`sendInitialEvents=true`).
    fn bookmark(&self, revision: u64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        frame(&json!({
            "type": "BOOKMARK",
            "object": {
                "kind": self.kind.name(),
                "apiVersion": legacy::api_version(self.legacy, self.kind),
                "metadata": metadata,
            },
        }))
    }
}

fn frame(value: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn error_line(error: &FeedError) -> Bytes {
    frame(&json!({"type": "ERROR", "object": ApiError::from(error.clone()).to_status_json()}))
}

/// Starts a watch response.
pub(crate) fn respond(state: &ApiState, request: WatchRequest) -> Response {
    let store = state.inner.store.clone();
    let api = state.clone();
    let bookmark_every = state.inner.bookmark_interval;
    let timeout = request
        .params
        .timeout_seconds
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(30 * 60));
    let stream = async_stream::stream! {
        let _guard = api.inner.metrics.watch_opened();
        let closing = store.closing();
        let deadline = tokio::time::Instant::now() + timeout;
        let from = request.params.revision();
        let initial = from == 0 || request.params.send_initial_events;
        let mut feed = if initial {
            // Synthetic ADDED events for the current state, then changes after it.
            let snapshot = store.snapshot();
            for (_, obj) in snapshot.scan(request.kind, request.namespace.as_deref(), None) {
                if request.params.selects(obj) {
                    yield request.line("ADDED", obj);
                }
            }
            match store.feed_from(snapshot.revision) {
                Ok(feed) => feed,
                Err(error) => {
                    yield frame(&json!({"type": "ERROR", "object": ApiError::from(error).to_status_json()}));
                    return;
                }
            }
        } else {
            match store.feed_from(from) {
                Ok(feed) => feed,
                Err(error) => {
                    yield frame(&json!({"type": "ERROR", "object": ApiError::from(error).to_status_json()}));
                    return;
                }
            }
        };
        // The replay is over once the feed has reached the revision current at the start.
        let replay_end = store.revision();
        let mut replay_marked = !request.params.bookmarks;
        let mut ticker = tokio::time::interval_at(
            tokio::time::Instant::now() + bookmark_every,
            bookmark_every,
        );
        loop {
            if !replay_marked && feed.seen() >= replay_end {
                replay_marked = true;
                yield request.bookmark(feed.seen(), initial && request.params.send_initial_events);
            }
            tokio::select! {
                biased;
                _ = closing.cancelled() => break,
                _ = tokio::time::sleep_until(deadline) => break,
                next = feed.next() => match next {
                    Ok(event) => {
                        if let Some(line) = request.translate(&event) {
                            yield line;
                        }
                    }
                    Err(FeedError::Closed) => break,
                    Err(error) => {
                        yield error_line(&error);
                        break;
                    }
                },
                _ = ticker.tick(), if request.params.bookmarks => {
                    yield request.bookmark(feed.seen(), false);
                }
            }
        }
    };
    let body = Body::from_stream(futures::StreamExt::map(stream, Ok::<Bytes, Infallible>));
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
