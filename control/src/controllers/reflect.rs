//! What every in-process controller runs per watched kind: a kube-runtime reflector (lists with
//! `any_semantic`, the default backoff) whose objects are cut down by a prune function before
//! they are cached, with each event handed on once the cache holds it; and the task guard that
//! stops a controller's watches with it.

use futures::{Stream, StreamExt};
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

/// Starts one reflector for `K`, cluster-wide: `prune` cuts each object down before it is
/// cached, `on_event` sees every event after the cache took it in. `part` names the
/// controller in the warning a failed watch logs (it is retried with backoff).
pub(crate) fn reflect<K>(
    client: &Client,
    part: &'static str,
    prune: fn(&mut K),
    mut on_event: impl FnMut(Event<K>) + Send + 'static,
) -> (Store<K>, impl Stream<Item = ()> + Send + 'static)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let api: Api<K> = Api::all(client.clone());
    let stream = watcher::watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(prune)
        .reflect(writer)
        .map(move |item| match item {
            Ok(event) => on_event(event),
            Err(error) => {
                tracing::warn!(kind = K::kind(&()).as_ref(), part, %error, "watch failed; retrying");
            }
        });
    (store, stream)
}

/// A task aborted when this guard drops (a controller's watch streams end with it).
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
