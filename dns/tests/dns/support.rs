//! Shared test tooling: the cluster fixture, a running server on loopback, hickory clients,
//! raw UDP/TCP exchanges and a scriptable stub upstream.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster_watch::{ClusterState, ObjectKey};
use dns::{DnsConfig, DnsServer};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_server::net::client::{Client, ClientHandle};
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::net::tcp::TcpClientStream;
use hickory_server::net::udp::UdpClientStream;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long any single exchange in a test may take before the test fails.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fixture {
    services: Vec<Service>,
    endpoint_slices: Vec<EndpointSlice>,
    pods: Vec<Pod>,
}

pub fn key(meta: &ObjectMeta) -> ObjectKey {
    ObjectKey::new(
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// The shared cluster fixture, synced.
pub fn fixture() -> Result<ClusterState, Error> {
    let fixture: Fixture = serde_json::from_str(include_str!("../fixtures/cluster.json"))?;
    let mut state = ClusterState {
        synced: true,
        revision: 1,
        ..ClusterState::default()
    };
    for s in fixture.services {
        state.services.insert(key(&s.metadata), Arc::new(s));
    }
    for s in fixture.endpoint_slices {
        state.endpoint_slices.insert(key(&s.metadata), Arc::new(s));
    }
    for p in fixture.pods {
        state.pods.insert(key(&p.metadata), Arc::new(p));
    }
    Ok(state)
}

/// A Service or EndpointSlice from JSON.
pub fn object<T: serde::de::DeserializeOwned>(json: serde_json::Value) -> Result<Arc<T>, Error> {
    Ok(Arc::new(serde_json::from_value(json)?))
}

/// A running server and the sender that feeds it snapshots.
pub struct Running {
    pub server: DnsServer,
    pub clusters: watch::Sender<Arc<ClusterState>>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Publishes `state` as the next snapshot (revision bumped).
    pub fn publish(&self, mut state: ClusterState) {
        state.revision = self.clusters.borrow().revision + 1;
        self.clusters.send_replace(Arc::new(state));
    }
}

/// Starts a server on 127.0.0.1:0 serving `state`.
pub async fn start(state: ClusterState, config: DnsConfig) -> Result<Running, Error> {
    let (clusters, receiver) = watch::channel(Arc::new(state));
    let config = DnsConfig {
        listen: "127.0.0.1:0".parse()?,
        ..config
    };
    let server = DnsServer::start(config, receiver).await?;
    Ok(Running { server, clusters })
}

/// The default test configuration: cluster.local, TTL 5, no upstreams.
pub fn config() -> DnsConfig {
    DnsConfig::default()
}

/// Which transport a query goes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// A hickory client connected to `addr`.
pub async fn client(
    addr: SocketAddr,
    transport: Transport,
) -> Result<Client<TokioRuntimeProvider>, Error> {
    let provider = TokioRuntimeProvider::default();
    let client = match transport {
        Transport::Udp => {
            let stream = UdpClientStream::builder(addr, provider)
                .with_timeout(Some(EXCHANGE_TIMEOUT))
                .build();
            let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
            tokio::spawn(bg);
            client
        }
        Transport::Tcp => {
            let (stream, sender) =
                TcpClientStream::new(addr, None, Some(EXCHANGE_TIMEOUT), provider);
            let stream = tokio::time::timeout(EXCHANGE_TIMEOUT, stream).await??;
            let (client, bg) = Client::<TokioRuntimeProvider>::new(stream, sender);
            tokio::spawn(bg);
            client
        }
    };
    Ok(client)
}

/// Asks one question with the hickory client.
pub async fn ask(
    client: &mut Client<TokioRuntimeProvider>,
    name: &str,
    qtype: RecordType,
) -> Result<Message, Error> {
    let response = tokio::time::timeout(
        EXCHANGE_TIMEOUT,
        client.query(Name::from_ascii(name)?, DNSClass::IN, qtype),
    )
    .await??;
    Ok(response.into_message())
}

/// Sorted `owner type data` lines of a section.
pub fn lines(records: &[Record]) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .map(|r| format!("{} {} {}", r.name.to_lowercase(), r.record_type(), r.data))
        .collect();
    out.sort();
    out
}

/// A query message with a given ID and optional EDNS payload size.
pub fn query(
    id: u16,
    name: &str,
    qtype: RecordType,
    edns_payload: Option<u16>,
) -> Result<Message, Error> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name)?, qtype));
    if let Some(payload) = edns_payload {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        message.set_edns(edns);
    }
    Ok(message)
}

/// Sends raw bytes over UDP; the reply's bytes, or `None` if nothing comes back in `wait`.
pub async fn udp_raw(
    addr: SocketAddr,
    bytes: &[u8],
    wait: Duration,
) -> Result<Option<Vec<u8>>, Error> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    socket.connect(addr).await?;
    socket.send(bytes).await?;
    let mut buffer = vec![0u8; 65_535];
    match tokio::time::timeout(wait, socket.recv(&mut buffer)).await {
        Ok(len) => {
            buffer.truncate(len?);
            Ok(Some(buffer))
        }
        Err(_) => Ok(None),
    }
}

/// One message over UDP, decoded.
pub async fn udp_exchange(addr: SocketAddr, message: &Message) -> Result<Message, Error> {
    let reply = udp_raw(addr, &message.to_vec()?, EXCHANGE_TIMEOUT)
        .await?
        .ok_or("no UDP reply")?;
    Ok(Message::from_vec(&reply)?)
}

/// Writes one length-prefixed message on a TCP stream.
pub async fn tcp_write(stream: &mut TcpStream, message: &Message) -> Result<(), Error> {
    let wire = message.to_vec()?;
    let mut framed = u16::try_from(wire.len())?.to_be_bytes().to_vec();
    framed.extend_from_slice(&wire);
    stream.write_all(&framed).await?;
    Ok(())
}

/// Reads one length-prefixed message from a TCP stream.
pub async fn tcp_read(stream: &mut TcpStream) -> Result<Message, Error> {
    let read = async {
        let mut prefix = [0u8; 2];
        stream.read_exact(&mut prefix).await?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        stream.read_exact(&mut body).await?;
        Ok::<_, Error>(Message::from_vec(&body)?)
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, read).await?
}

/// What a stub upstream does with a question.
#[derive(Debug, Clone)]
pub enum Script {
    /// Answer these records.
    Answer(Vec<Record>),
    /// NXDOMAIN with this SOA in authority.
    NxDomain(Box<Record>),
    /// Over UDP: an empty truncated reply; over TCP: these records.
    TruncateUdp(Vec<Record>),
    /// SERVFAIL.
    ServFail,
}

/// A stub upstream resolver on 127.0.0.1 (UDP and TCP on one port) that counts queries.
pub struct Stub {
    pub addr: SocketAddr,
    pub udp_queries: Arc<AtomicUsize>,
    pub tcp_queries: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

type Scripts = Arc<Mutex<HashMap<(Name, RecordType), Script>>>;

fn respond(request: &Message, scripts: &Scripts, tcp: bool) -> Option<Message> {
    let question = request.queries.first()?;
    let script = scripts
        .lock()
        .ok()?
        .get(&(question.name().to_lowercase(), question.query_type()))
        .cloned()
        .unwrap_or(Script::ServFail);
    let mut reply = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(question.clone());
    match script {
        Script::Answer(records) => {
            reply.add_answers(records);
        }
        Script::NxDomain(soa) => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            reply.add_authority(*soa);
        }
        Script::TruncateUdp(records) => {
            if tcp {
                reply.add_answers(records);
            } else {
                reply.metadata.truncation = true;
            }
        }
        Script::ServFail => reply.metadata.response_code = ResponseCode::ServFail,
    }
    Some(reply)
}

/// A UDP socket and a TCP listener on the same free loopback port. A port the kernel gave
/// UDP may be taken for TCP (busy machines have many TCP ports in use): then another is tried.
async fn bind_pair() -> Result<(UdpSocket, TcpListener), Error> {
    let mut last = None;
    for _ in 0..32 {
        let udp = UdpSocket::bind("127.0.0.1:0").await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(err) => last = Some(err),
        }
    }
    Err(last.map_or_else(|| "no free port".into(), Into::into))
}

impl Stub {
    /// Starts a stub answering by `scripts` (lower-case name, type); unknown questions SERVFAIL.
    pub async fn start(scripts: Vec<(&str, RecordType, Script)>) -> Result<Stub, Error> {
        let scripts: Scripts = Arc::new(Mutex::new(
            scripts
                .into_iter()
                .map(|(n, t, s)| Ok(((Name::from_ascii(n)?.to_lowercase(), t), s)))
                .collect::<Result<_, Error>>()?,
        ));
        let (udp, tcp) = bind_pair().await?;
        let addr = udp.local_addr()?;
        let udp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let udp_task = {
            let (scripts, count) = (scripts.clone(), udp_queries.clone());
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 65_535];
                while let Ok((len, peer)) = udp.recv_from(&mut buffer).await {
                    let Some(Ok(request)) = buffer.get(..len).map(Message::from_vec) else {
                        continue;
                    };
                    count.fetch_add(1, Ordering::SeqCst);
                    if let Some(Ok(wire)) = respond(&request, &scripts, false).map(|r| r.to_vec()) {
                        let _ = udp.send_to(&wire, peer).await;
                    }
                }
            })
        };
        let tcp_task = {
            let (scripts, count) = (scripts.clone(), tcp_queries.clone());
            tokio::spawn(async move {
                while let Ok((mut stream, _)) = tcp.accept().await {
                    let (scripts, count) = (scripts.clone(), count.clone());
                    tokio::spawn(async move {
                        while let Ok(request) = tcp_read(&mut stream).await {
                            count.fetch_add(1, Ordering::SeqCst);
                            let Some(reply) = respond(&request, &scripts, true) else {
                                return;
                            };
                            if tcp_write(&mut stream, &reply).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            })
        };
        Ok(Stub {
            addr,
            udp_queries,
            tcp_queries,
            tasks: vec![udp_task, tcp_task],
        })
    }

    pub fn udp_count(&self) -> usize {
        self.udp_queries.load(Ordering::SeqCst)
    }

    pub fn tcp_count(&self) -> usize {
        self.tcp_queries.load(Ordering::SeqCst)
    }
}

/// An upstream on loopback that never answers, counting the datagrams it swallows.
pub struct Silent {
    pub addr: SocketAddr,
    received: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Silent {
    pub fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn silent_upstream() -> Result<Silent, Error> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let addr = socket.local_addr()?;
    let received = Arc::new(AtomicUsize::new(0));
    let count = received.clone();
    let task = tokio::spawn(async move {
        let mut buffer = vec![0u8; 65_535];
        while socket.recv_from(&mut buffer).await.is_ok() {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    Ok(Silent {
        addr,
        received,
        task,
    })
}

/// Polls `check` up to `attempts` times, 50 ms apart, until it returns true.
pub async fn eventually<F, Fut>(attempts: usize, mut check: F) -> Result<bool, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, Error>>,
{
    for _ in 0..attempts {
        if check().await? {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(false)
}

/// A UDP upstream on loopback that answers every question with one A record (TTL 60), but
/// holds its answers until [`HeldStub::release`]: while held, every query it has received is
/// one upstream socket of the server still waiting.
pub struct HeldStub {
    pub addr: SocketAddr,
    received: Arc<AtomicUsize>,
    release: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HeldStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HeldStub {
    pub async fn start() -> Result<HeldStub, Error> {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = socket.local_addr()?;
        let received = Arc::new(AtomicUsize::new(0));
        let (release, mut released) = watch::channel(false);
        let count = received.clone();
        let task = tokio::spawn(async move {
            let mut held: Vec<(Message, SocketAddr)> = Vec::new();
            let mut buffer = vec![0u8; 65_535];
            loop {
                tokio::select! {
                    got = socket.recv_from(&mut buffer) => {
                        let Ok((len, peer)) = got else { return };
                        let Some(Ok(request)) = buffer.get(..len).map(Message::from_vec) else {
                            continue;
                        };
                        count.fetch_add(1, Ordering::SeqCst);
                        held.push((request, peer));
                    }
                    changed = released.changed(), if !*released.borrow() => {
                        if changed.is_err() { return; }
                    }
                }
                if *released.borrow() {
                    for (request, peer) in held.drain(..) {
                        if let Some(Ok(wire)) = answer_a(&request).map(|r| r.to_vec()) {
                            let _ = socket.send_to(&wire, peer).await;
                        }
                    }
                }
            }
        });
        Ok(HeldStub {
            addr,
            received,
            release,
            task,
        })
    }

    /// Queries received so far.
    pub fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }

    /// Answers every held query and, from now on, every query at once.
    pub fn release(&self) {
        self.release.send_replace(true);
    }
}

/// An answer of one A record (192.0.2.53, TTL 60) to the question of `request`.
fn answer_a(request: &Message) -> Option<Message> {
    let question = request.queries.first()?;
    let mut reply = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(question.clone());
    reply.add_answer(Record::from_rdata(
        question.name().clone(),
        60,
        hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A::new(192, 0, 2, 53)),
    ));
    Some(reply)
}

/// The value of an unlabelled counter or gauge in a Prometheus text exposition.
pub fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}
