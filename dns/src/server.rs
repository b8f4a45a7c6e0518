//! The running nameserver: binds UDP and TCP on one port, runs the single writer task that
//! brings the [`NameTable`] to every published `ClusterState` (incrementally, through a
//! [`TableWriter`]), and serves: TCP with hickory's server, UDP with our own loop around the
//! same hickory handler (`udp.rs`).
//!
//! The writer is the only code that builds tables; the socket tasks only read them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use cluster_watch::ClusterState;
use hickory_proto::rr::Name;
use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::acl::RecursionAcl;
use crate::forward::Forwarder;
use crate::metrics::Metrics;
use crate::udp::RateLimiter;
use crate::{DnsConfig, DnsError, DnsHandler, NameTable, TableOptions, TableWriter};

/// A TCP connection that sends no request for this long is closed.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses queued per TCP connection (pipelined queries).
const TCP_RESPONSE_BUFFER: usize = 64;
/// Client networks tracked by response-rate limiting at once; clients beyond them share one
/// bucket until idle entries are swept.
const RRL_TABLE_ENTRIES: usize = 65_536;
/// Attempts at finding a port free for both UDP and TCP when port 0 is asked for.
const PORT_ATTEMPTS: usize = 16;

/// A running cluster nameserver.
pub struct DnsServer {
    local_addr: SocketAddr,
    server: Server<DnsHandler>,
    table: Arc<ArcSwap<NameTable>>,
    forwarder: Option<Arc<Forwarder>>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    writer: JoinHandle<()>,
    udp: JoinHandle<()>,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("local_addr", &self.local_addr)
            .field("ready", &self.ready())
            .finish_non_exhaustive()
    }
}

impl DnsServer {
    /// Validates `config`, binds UDP and TCP on `config.listen` (the same port for both) and
    /// starts serving the snapshots published on `clusters`. Until a snapshot with `synced`
    /// arrives, in-zone questions get SERVFAIL.
    ///
    /// # Errors
    /// An invalid configuration field, or a socket that cannot be bound.
    pub async fn start(
        config: DnsConfig,
        mut clusters: watch::Receiver<Arc<ClusterState>>,
    ) -> Result<DnsServer, DnsError> {
        let options = TableOptions::from_config(&config)?;
        let (udp, tcp) = bind(config.listen).await?;
        let local_addr = udp.local_addr().map_err(|source| DnsError::Bind {
            protocol: "udp",
            addr: config.listen,
            source,
        })?;

        let metrics = Arc::new(Metrics::default());
        let first = clusters.borrow_and_update().clone();
        let mut tables = TableWriter::new(options);
        let table = tables.update(&first);
        metrics.table_built(table.len(), table.revision());
        let table = Arc::new(ArcSwap::from_pointee(table));
        let forwarder = (!config.upstreams.is_empty()).then(|| {
            Arc::new(Forwarder::new(
                config.upstreams.clone(),
                config.cache_entries,
                config.max_upstream_inflight,
                metrics.clone(),
            ))
        });

        let stop = CancellationToken::new();
        let writer = tokio::spawn(write_tables(
            clusters,
            tables,
            table.clone(),
            metrics.clone(),
            stop.clone(),
            first,
        ));
        let mut handler = DnsHandler::new(
            table.clone(),
            forwarder.clone(),
            RecursionAcl::new(&config.recursion_clients),
            metrics.clone(),
        );
        if config.autopath {
            let host_search = config
                .autopath_search
                .iter()
                .filter_map(|d| Name::from_ascii(d).ok())
                .map(|mut n| {
                    n.set_fqdn(true);
                    n
                })
                .collect();
            handler = handler.with_autopath(host_search);
        }
        let limiter = (config.rrl_responses_per_second > 0).then(|| {
            RateLimiter::new(
                config.rrl_responses_per_second,
                RRL_TABLE_ENTRIES,
                metrics.clone(),
            )
        });
        let udp_task = tokio::spawn(crate::udp::serve(
            udp,
            handler.clone(),
            limiter,
            stop.clone(),
        ));
        let mut server = Server::new(handler);
        server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
        info!(
            %local_addr,
            zone = %config.cluster_domain,
            upstreams = ?config.upstreams,
            recursion_clients = ?config.recursion_clients,
            max_upstream_inflight = config.max_upstream_inflight,
            rrl_responses_per_second = config.rrl_responses_per_second,
            "dns server listening"
        );
        Ok(DnsServer {
            local_addr,
            server,
            table,
            forwarder,
            metrics,
            stop,
            writer,
            udp: udp_task,
        })
    }

    /// The address served (UDP and TCP share the port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// All metrics in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let cached = self.forwarder.as_ref().map_or(0, |f| f.cached());
        self.metrics.render(cached, self.ready())
    }

    /// True once a table built from a synced snapshot is being served.
    pub fn ready(&self) -> bool {
        self.table.load().synced()
    }

    /// Stops accepting requests, waits for the socket tasks to end and stops the writer.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Err(err) = self.server.shutdown_gracefully().await {
            warn!(%err, "dns server stopped with an error");
        }
        if let Err(err) = (&mut self.writer).await {
            warn!(%err, "dns table writer ended abnormally");
        }
        if let Err(err) = (&mut self.udp).await {
            warn!(%err, "dns udp loop ended abnormally");
        }
        info!(local_addr = %self.local_addr, "dns server stopped");
    }
}

impl Drop for DnsServer {
    /// A server dropped without [`DnsServer::shutdown`] still stops: hickory's socket tasks are
    /// aborted with its task set, and the writer and the UDP loop are told to stop here.
    fn drop(&mut self) {
        self.stop.cancel();
        self.server.shutdown_token().cancel();
    }
}

/// Binds UDP on `listen`, then TCP on the same address and port. With port 0 the kernel picks
/// the UDP port; if TCP cannot have it, another is tried.
async fn bind(listen: SocketAddr) -> Result<(UdpSocket, TcpListener), DnsError> {
    let mut last = None;
    for _ in 0..PORT_ATTEMPTS {
        let udp = UdpSocket::bind(listen)
            .await
            .map_err(|source| DnsError::Bind {
                protocol: "udp",
                addr: listen,
                source,
            })?;
        let addr = udp.local_addr().map_err(|source| DnsError::Bind {
            protocol: "udp",
            addr: listen,
            source,
        })?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(source) if listen.port() == 0 && source.kind() == std::io::ErrorKind::AddrInUse => {
                last = Some(source);
            }
            Err(source) => {
                return Err(DnsError::Bind {
                    protocol: "tcp",
                    addr,
                    source,
                });
            }
        }
    }
    Err(DnsError::Bind {
        protocol: "tcp",
        addr: listen,
        source: last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::AddrInUse)),
    })
}

/// The single writer: one new table per published snapshot, swapped in whole. Only the names
/// of objects that changed are made again; the rest is shared with the previous table.
async fn write_tables(
    mut clusters: watch::Receiver<Arc<ClusterState>>,
    mut tables: TableWriter,
    table: Arc<ArcSwap<NameTable>>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    mut current: Arc<ClusterState>,
) {
    loop {
        tokio::select! {
            changed = clusters.changed() => {
                if changed.is_err() {
                    info!("cluster watch closed; the dns table stays at its last snapshot");
                    return;
                }
            }
            () = stop.cancelled() => return,
        }
        let state = clusters.borrow_and_update().clone();
        if !tables.options().affected_by(&current, &state) {
            tracing::trace!(
                revision = state.revision,
                "snapshot changes nothing dns serves"
            );
            continue;
        }
        current = state.clone();
        let started = std::time::Instant::now();
        // An update is work in proportion to what changed, but a relist or the first sync is
        // proportional to the cluster: it runs on the blocking pool so the socket tasks keep
        // answering from the old table.
        let options = tables.options().clone();
        let (returned, built) = match tokio::task::spawn_blocking(move || {
            let built = tables.update(&state);
            (tables, built)
        })
        .await
        {
            Ok(done) => done,
            Err(err) => {
                warn!(%err, "updating the dns table failed; the next change rebuilds it whole");
                tables = TableWriter::new(options);
                current = Arc::new(ClusterState::default());
                continue;
            }
        };
        tables = returned;
        metrics.table_built(built.len(), built.revision());
        tracing::debug!(
            revision = built.revision(),
            names = built.len(),
            synced = built.synced(),
            build_ms = started.elapsed().as_secs_f64() * 1e3,
            since_event_ms = state_age_ms(&current),
            "dns table published"
        );
        table.store(Arc::new(built));
    }
}

/// Milliseconds since the newest event of `state` was received, for the publish log.
fn state_age_ms(state: &ClusterState) -> Option<f64> {
    state
        .last_event_at
        .map(|at| at.elapsed().as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    /// The binary shares the server between its metrics endpoint and shutdown path.
    #[test]
    fn server_and_handler_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::DnsServer>();
        send_sync::<crate::DnsHandler>();
        send_sync::<crate::NameTable>();
    }
}
