//! Runs a [`UserspaceProxy`] on its own thread inside a test's node namespace (with its own
//! tokio runtime) and lets the test feed service tables and read metrics and health. Also
//! builds service tables by hand, so tests drive the proxy directly, not through a store.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use proxy::health::Health;
use proxy::model::{Endpoint, Protocol, ServicePort, ServicePortId, ServiceTable};
use proxy::reflector::TableSnapshot;
use proxy::userspace::{UserspaceConfig, UserspaceProxy};
use tokio::sync::{mpsc as tokio_mpsc, watch};

use crate::support::Netns;

/// How long a test waits for the proxy to apply a table.
const APPLY_WAIT: Duration = Duration::from_secs(10);

enum Command {
    Metrics(mpsc::Sender<String>),
    Health(mpsc::Sender<Health>),
}

/// A userspace proxy running in a namespace; shut down (and joined) on drop.
pub struct ProxyNode {
    tables: watch::Sender<TableSnapshot>,
    commands: Option<tokio_mpsc::UnboundedSender<Command>>,
    thread: Option<JoinHandle<io::Result<io::Result<()>>>>,
}

impl ProxyNode {
    /// Starts the proxy in `ns` with `config`, serving `table`; returns once it listens.
    pub fn start(ns: &Netns, config: UserspaceConfig, table: ServiceTable) -> io::Result<Self> {
        let (tables, rx) = watch::channel(snapshot(table));
        let (commands, mut command_rx) = tokio_mpsc::unbounded_channel();
        let (started_tx, started_rx) = mpsc::channel();
        let thread = ns.spawn(move || -> io::Result<()> {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let proxy = match UserspaceProxy::start(config, rx).await {
                    Ok(proxy) => proxy,
                    Err(err) => {
                        let _ = started_tx.send(Err(err.to_string()));
                        return Ok(());
                    }
                };
                let _ = started_tx.send(Ok(()));
                while let Some(command) = command_rx.recv().await {
                    match command {
                        Command::Metrics(reply) => {
                            let _ = reply.send(proxy.metrics_text());
                        }
                        Command::Health(reply) => {
                            let _ = reply.send(proxy.health());
                        }
                    }
                }
                proxy.shutdown().await;
                Ok(())
            })
        });
        let node = ProxyNode {
            tables,
            commands: Some(commands),
            thread: Some(thread),
        };
        match started_rx.recv_timeout(APPLY_WAIT) {
            Ok(Ok(())) => Ok(node),
            Ok(Err(err)) => Err(io::Error::other(format!("proxy start failed: {err}"))),
            Err(err) => Err(io::Error::other(format!("proxy did not start: {err}"))),
        }
    }

    /// The proxy's metrics text.
    pub fn metrics(&self) -> io::Result<String> {
        let (tx, rx) = mpsc::channel();
        self.command(Command::Metrics(tx))?;
        rx.recv_timeout(APPLY_WAIT).map_err(io::Error::other)
    }

    /// The proxy's health.
    pub fn health(&self) -> io::Result<Health> {
        let (tx, rx) = mpsc::channel();
        self.command(Command::Health(tx))?;
        rx.recv_timeout(APPLY_WAIT).map_err(io::Error::other)
    }

    fn command(&self, command: Command) -> io::Result<()> {
        self.commands
            .as_ref()
            .ok_or_else(|| io::Error::other("proxy stopped"))?
            .send(command)
            .map_err(|_| io::Error::other("proxy thread is gone"))
    }

    /// Polls the metrics (bounded) until the first sample of `name` with `labels` satisfies
    /// `ok`; returns the last text either way (for the assertion message) and the value.
    pub fn wait_metric(
        &self,
        name: &str,
        labels: &[&str],
        ok: impl Fn(f64) -> bool,
    ) -> io::Result<(Option<f64>, String)> {
        let deadline = Instant::now() + APPLY_WAIT;
        loop {
            let text = self.metrics()?;
            let value = metric_with(&text, name, labels);
            if value.is_some_and(&ok) || Instant::now() >= deadline {
                return Ok((value, text));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Feeds a new table and waits until the proxy has applied it.
    pub fn apply(&self, table: ServiceTable) -> io::Result<()> {
        let before = metric(&self.metrics()?, "switchyard_userspace_syncs_total").unwrap_or(0.0);
        self.tables.send_replace(snapshot(table));
        let deadline = Instant::now() + APPLY_WAIT;
        while Instant::now() < deadline {
            let now = metric(&self.metrics()?, "switchyard_userspace_syncs_total").unwrap_or(0.0);
            if now > before {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(io::Error::other("proxy did not apply the table in time"))
    }

    /// Stops the proxy (closing listeners, removing its interface) and waits for it.
    pub fn stop(&mut self) -> io::Result<()> {
        self.commands.take();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| io::Error::other("proxy thread panicked"))??,
            None => Ok(()),
        }
    }
}

impl Drop for ProxyNode {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            eprintln!("proxy shutdown: {err}");
        }
    }
}

fn snapshot(table: ServiceTable) -> TableSnapshot {
    TableSnapshot {
        table: Arc::new(table),
        synced: true,
        last_event_at: Some(Instant::now()),
    }
}

/// The value of the first sample of `name` whose labels contain every `label="value"` given.
pub fn metric_with(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .find(|line| labels.iter().all(|l| line.contains(l)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// The value of the first sample of `name`.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    metric_with(text, name, &[])
}

/// A ready endpoint.
pub fn ready(addr: SocketAddr) -> Endpoint {
    Endpoint {
        ip: addr.ip(),
        port: addr.port(),
        ready: true,
        serving: true,
        terminating: false,
        node_name: None,
        is_local: true,
    }
}

/// A service port `default/<name>` on `cluster_ips:port` with these endpoints.
pub fn service(
    name: &str,
    protocol: Protocol,
    cluster_ips: &[IpAddr],
    port: u16,
    endpoints: Vec<Endpoint>,
) -> ServicePort {
    let mut endpoints = endpoints;
    endpoints.sort();
    ServicePort {
        id: ServicePortId {
            namespace: "default".into(),
            name: name.into(),
            port_name: String::new(),
            protocol,
        },
        port,
        cluster_ips: cluster_ips.to_vec(),
        node_port: None,
        external_ips: Vec::new(),
        load_balancer_ips: Vec::new(),
        source_ranges: None,
        affinity_timeout: None,
        external_policy_local: false,
        internal_policy_local: false,
        endpoints,
    }
}

/// A table of these ports (sorted by id, as the model keeps it).
pub fn table(ports: Vec<ServicePort>) -> ServiceTable {
    let mut ports: Vec<Arc<ServicePort>> = ports.into_iter().map(Arc::new).collect();
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    ServiceTable { ports }
}
