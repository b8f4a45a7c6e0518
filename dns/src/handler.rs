//! The hickory [`RequestHandler`] of the nameserver: it checks the request (opcode, question
//! count, EDNS version), asks the current [`NameTable`] for in-zone names and the forwarder for
//! the rest (only for clients the recursion allow list admits; REFUSED for others), and writes
//! the response. This is the one place forwarding is decided, for TCP and for both UDP paths
//! (the UDP fast path answers table names only and hands everything else here). It holds no lock: one `ArcSwap::load` per request.
//!
//! A table answer whose CNAME chain leaves the table (an ExternalName Service) is completed
//! with the target's records from the forwarder, for clients the recursion allow list admits;
//! others get the CNAME alone.
//!
//! It never builds records itself; answers come from the table or the upstreams.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_proto::op::{
    Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, Query, ResponseCode,
};
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinDecoder;
use hickory_server::net::NetError;
use hickory_server::net::runtime::{Time, TokioTime};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder, Queries};
use tracing::{debug, warn};

use crate::NameTable;
use crate::acl::RecursionAcl;
use crate::forward::Forwarder;
use crate::metrics::{Metrics, Source};

/// Largest UDP payload we send, whatever the client advertises.
const MAX_UDP_PAYLOAD: u16 = 4096;

/// Answers DNS requests from the published [`NameTable`] and the upstreams.
#[derive(Debug, Clone)]
pub struct DnsHandler {
    table: Arc<ArcSwap<NameTable>>,
    forwarder: Option<Arc<Forwarder>>,
    recursion: Arc<RecursionAcl>,
    metrics: Arc<Metrics>,
    /// The node's search domains when autopath is on (see [`crate::autopath`]).
    autopath: Option<Arc<[Name]>>,
}

impl DnsHandler {
    pub(crate) fn new(
        table: Arc<ArcSwap<NameTable>>,
        forwarder: Option<Arc<Forwarder>>,
        recursion: RecursionAcl,
        metrics: Arc<Metrics>,
    ) -> Self {
        DnsHandler {
            table,
            forwarder,
            recursion: Arc::new(recursion),
            metrics,
            autopath: None,
        }
    }

    /// Turns autopath on, with the node's own search domains tried after the cluster's.
    #[must_use]
    pub(crate) fn with_autopath(mut self, host_search: Vec<Name>) -> Self {
        self.autopath = Some(host_search.into());
        self
    }

    /// A handler over a fixed table with no upstreams, for fuzzing and tests.
    pub fn for_table(table: NameTable) -> Self {
        DnsHandler::new(
            Arc::new(ArcSwap::from_pointee(table)),
            None,
            RecursionAcl::new(&[]),
            Arc::new(Metrics::default()),
        )
    }

    /// Handles one raw request as if it came over `protocol` from `src` and returns the encoded
    /// response, or `None` when the request is dropped (shorter than a header, a response
    /// message) or undecodable (the server answers FORMERR for those itself).
    pub async fn respond_to_bytes(
        &self,
        raw: &[u8],
        src: SocketAddr,
        protocol: Protocol,
    ) -> Option<Vec<u8>> {
        let request = Request::from_bytes(raw.to_vec(), src, protocol).ok()?;
        if request.metadata.message_type == MessageType::Response {
            return None;
        }
        let capture = Capture::default();
        self.handle_request::<_, TokioTime>(&request, capture.clone())
            .await;
        let bytes = capture
            .bytes
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default();
        Some(bytes)
    }

    /// Writes the response to the raw UDP query `raw` into `out` when the table answers it on
    /// the fast path (`crate::wire`), counting it as the general path would; false leaves the
    /// query to the general path.
    pub fn respond_fast(&self, raw: &[u8], out: &mut Vec<u8>) -> bool {
        let table = self.table.load();
        let Some(answered) = crate::wire::respond(&table, raw, self.forwarder.is_some(), out)
        else {
            return false;
        };
        if self.autopath.is_some() && answered.rcode == ResponseCode::NXDomain {
            // autopath depends on who asks: the general path knows the client.
            out.clear();
            return false;
        }
        self.metrics
            .request(Source::Zone, answered.qtype, answered.rcode);
        true
    }

    async fn answer<R: ResponseHandler>(
        &self,
        request: &Request,
        edns: Option<&Edns>,
        response_handle: R,
    ) -> ResponseInfo {
        let query = match request.queries.queries() {
            [query] => query.original(),
            _ => return error(request, ResponseCode::FormErr, edns, response_handle).await,
        };
        if let Some(names) = self.autopath_names(request, query)
            && let Some(info) = self
                .autopath(request, query, names, edns, response_handle.clone())
                .await
        {
            return info;
        }
        self.answer_plainly(request, query, edns, response_handle)
            .await
    }

    /// Answers `query` from the table, or the upstreams when it is not the table's to answer.
    async fn answer_plainly<R: ResponseHandler>(
        &self,
        request: &Request,
        query: &Query,
        edns: Option<&Edns>,
        response_handle: R,
    ) -> ResponseInfo {
        let qtype = query.query_type();
        let table = self.table.load();
        let Some(answer) = table.answer_if_authoritative(query) else {
            // The table guard is not held while waiting on upstreams.
            drop(table);
            return self.forward(request, query, edns, response_handle).await;
        };

        let dangling = answer
            .dangling_cname()
            .filter(|target| {
                !matches!(qtype, RecordType::CNAME | RecordType::ANY)
                    && !table.is_authoritative(target)
            })
            .cloned();
        if let (Some(target), Some(forwarder)) = (dangling, &self.forwarder)
            && self.recursion.allows(request.src().ip())
        {
            let zone = table.zone().clone();
            let chain: Vec<Record> = answer.answers.into_iter().map(Cow::into_owned).collect();
            // The table guard is not held while waiting on upstreams.
            drop(table);
            let chase = Chase {
                zone,
                chain,
                target,
            };
            return self
                .chase(request, query, chase, forwarder, edns, response_handle)
                .await;
        }
        self.metrics.request(Source::Zone, qtype, answer.rcode);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = answer.rcode;
        metadata.authoritative =
            !matches!(answer.rcode, ResponseCode::ServFail | ResponseCode::Refused);
        metadata.recursion_available = self.forwarder.is_some();
        let response = MessageResponseBuilder::new(&request.queries, edns).build(
            metadata,
            answer.answers.iter().map(|r| &**r),
            answer.authority.iter().map(|r| &**r),
            std::iter::empty(),
            answer.additional.iter().map(|r| &**r),
        );
        send(response_handle, response, request).await
    }

    /// The names autopath should try for `query`: autopath is on, the client is a known Pod,
    /// the name is in its first search domain and does not exist.
    fn autopath_names(&self, request: &Request, query: &Query) -> Option<Vec<Name>> {
        let host_search = self.autopath.as_ref()?;
        let table = self.table.load();
        let namespace = table.pod_namespace(request.src().ip())?;
        let names =
            crate::autopath::expansions(query.name(), namespace, table.zone(), host_search)?;
        (table.answer(query).rcode == ResponseCode::NXDomain).then_some(names)
    }

    /// Tries `names` in order (the table for names in the zone, the upstreams for the others,
    /// when the client may recurse) and answers the first that is not NXDOMAIN behind a CNAME
    /// from the name asked. `None` (nothing sent) when every name is NXDOMAIN or a lookup
    /// fails: the client then gets the plain answer and walks its search path itself.
    async fn autopath<R: ResponseHandler>(
        &self,
        request: &Request,
        query: &Query,
        names: Vec<Name>,
        edns: Option<&Edns>,
        response_handle: R,
    ) -> Option<ResponseInfo> {
        let qtype = query.query_type();
        for name in names {
            let mut expanded = Query::query(name.clone(), qtype);
            expanded.set_query_class(query.query_class());
            let found = {
                let table = self.table.load();
                table.answer_if_authoritative(&expanded).map(|answer| {
                    (
                        answer.rcode,
                        answer
                            .answers
                            .into_iter()
                            .map(Cow::into_owned)
                            .collect::<Vec<_>>(),
                        answer
                            .authority
                            .into_iter()
                            .map(Cow::into_owned)
                            .collect::<Vec<_>>(),
                        table.ttl(),
                    )
                })
            };
            let (rcode, answers, authority, ttl, source) = match found {
                Some((rcode, answers, authority, ttl)) => {
                    (rcode, answers, authority, ttl, Source::Zone)
                }
                None => {
                    let forwarder = self.forwarder.as_ref()?;
                    if !self.recursion.allows(request.src().ip()) {
                        return None;
                    }
                    let dnssec_ok = request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
                    let zone = self.table.load().zone().clone();
                    let reply = forwarder.resolve(&expanded, dnssec_ok).await.ok()?;
                    // Only the table speaks for names in the cluster zone.
                    let outside = |r: &Record| !zone.zone_of(&r.name);
                    let answers: Vec<Record> = reply.answers.into_iter().filter(outside).collect();
                    let authority = reply.authority.into_iter().filter(outside).collect();
                    let ttl = answers.first().map_or(0, |r| r.ttl);
                    (reply.rcode, answers, authority, ttl, Source::Forward)
                }
            };
            match rcode {
                ResponseCode::NXDomain => continue,
                ResponseCode::NoError => {}
                _ => return None,
            }
            let mut chain = vec![Record::from_rdata(
                query.name().clone(),
                ttl,
                RData::CNAME(CNAME(name.clone())),
            )];
            chain.extend(answers);
            self.metrics.request(source, qtype, ResponseCode::NoError);
            self.metrics.autopath_success();
            let mut metadata = Metadata::response_from_request(&request.metadata);
            metadata.response_code = ResponseCode::NoError;
            metadata.authoritative = source == Source::Zone;
            metadata.recursion_available = self.forwarder.is_some();
            let response = MessageResponseBuilder::new(&request.queries, edns).build(
                metadata,
                chain.iter(),
                authority.iter(),
                std::iter::empty(),
                std::iter::empty(),
            );
            return Some(send(response_handle, response, request).await);
        }
        None
    }

    /// Completes a table answer whose CNAME chain leaves the table (an ExternalName Service)
    /// with the target's records from the forwarder and its cache, as CoreDNS does: one
    /// upstream question (the upstream is recursive and follows any further chain itself).
    /// The response code is the target's when the upstream answers NOERROR or NXDOMAIN (with
    /// its SOA on a negative answer, for negative caching); when the upstream fails, times out
    /// or is over its in-flight cap, the CNAME chain alone with NOERROR. Upstream records owned
    /// by names in the cluster zone are dropped: only the table speaks for those.
    async fn chase<R: ResponseHandler>(
        &self,
        request: &Request,
        query: &Query,
        chase: Chase,
        forwarder: &Arc<Forwarder>,
        edns: Option<&Edns>,
        response_handle: R,
    ) -> ResponseInfo {
        let Chase {
            zone,
            mut chain,
            target,
        } = chase;
        let qtype = query.query_type();
        let dnssec_ok = request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        let target_query = Query::query(target, qtype);
        let mut rcode = ResponseCode::NoError;
        let mut authority = Vec::new();
        match forwarder.resolve(&target_query, dnssec_ok).await {
            Ok(reply) if matches!(reply.rcode, ResponseCode::NoError | ResponseCode::NXDomain) => {
                rcode = reply.rcode;
                let outside = |r: &Record| !zone.zone_of(&r.name);
                if reply.answers.is_empty() {
                    authority.extend(reply.authority.into_iter().filter(outside));
                }
                chain.extend(reply.answers.into_iter().filter(outside));
            }
            Ok(reply) => {
                debug!(name = %target_query.name(), rcode = %reply.rcode, "cname target not resolved; answering the cname alone");
            }
            Err(err) => {
                debug!(name = %target_query.name(), %err, "cname target not resolved; answering the cname alone");
            }
        }
        self.metrics.request(Source::Zone, qtype, rcode);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = rcode;
        metadata.authoritative = true;
        metadata.recursion_available = true;
        let response = MessageResponseBuilder::new(&request.queries, edns).build(
            metadata,
            chain.iter(),
            authority.iter(),
            std::iter::empty(),
            std::iter::empty(),
        );
        send(response_handle, response, request).await
    }

    /// Answers a question outside the cluster from the forwarder: REFUSED without upstreams
    /// or for a client the recursion allow list does not admit, SERVFAIL when the upstream
    /// in-flight cap is reached.
    async fn forward<R: ResponseHandler>(
        &self,
        request: &Request,
        query: &Query,
        edns: Option<&Edns>,
        response_handle: R,
    ) -> ResponseInfo {
        let qtype = query.query_type();
        if !self.recursion.allows(request.src().ip()) {
            debug!(src = %request.src(), name = %query.name(), "recursion refused");
            self.metrics.recursion_refused();
            self.metrics
                .request(Source::Forward, qtype, ResponseCode::Refused);
            return error(request, ResponseCode::Refused, edns, response_handle).await;
        }
        let Some(forwarder) = &self.forwarder else {
            self.metrics
                .request(Source::Forward, qtype, ResponseCode::Refused);
            return error(request, ResponseCode::Refused, edns, response_handle).await;
        };
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            self.metrics
                .request(Source::Forward, qtype, ResponseCode::Refused);
            return error(request, ResponseCode::Refused, edns, response_handle).await;
        }
        let dnssec_ok = request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        let reply = match forwarder.resolve(query, dnssec_ok).await {
            Ok(reply) => reply,
            Err(err) => {
                debug!(name = %query.name(), %err, "forwarding failed");
                self.metrics
                    .request(Source::Forward, qtype, ResponseCode::ServFail);
                return error(request, ResponseCode::ServFail, edns, response_handle).await;
            }
        };
        self.metrics.request(Source::Forward, qtype, reply.rcode);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = reply.rcode;
        metadata.recursion_available = true;
        metadata.authentic_data = reply.authentic_data;
        let answers = spelled(&reply.answers, query);
        let authority = spelled(&reply.authority, query);
        let response = MessageResponseBuilder::new(&request.queries, edns).build(
            metadata,
            answers.iter().map(|r| &**r),
            authority.iter().map(|r| &**r),
            std::iter::empty(),
            reply.additional.iter(),
        );
        send(response_handle, response, request).await
    }
}

/// A table answer to complete upstream: its CNAME chain (owned, so the table is not held
/// while waiting) and the name the chain leaves the table for.
struct Chase {
    /// The cluster zone, whose names upstream records may not speak for.
    zone: Name,
    /// The answer section the table gave, ending with the CNAME to `target`.
    chain: Vec<Record>,
    /// The CNAME target outside the table.
    target: Name,
}

/// True when the question section's names are written out label by label. A first question
/// can only be compressed by pointing into the header or forward, both malformed.
fn question_is_plain(mut bytes: &[u8]) -> bool {
    while let Some((&length, rest)) = bytes.split_first() {
        match length {
            0 => {
                // End of a name; skip QTYPE and QCLASS to the next question, if any.
                bytes = rest.get(4..).unwrap_or_default();
            }
            1..=63 => bytes = rest.get(usize::from(length)..).unwrap_or_default(),
            _ => return false,
        }
    }
    true
}

/// The records with owners equal to the question name given the question's spelling (cached
/// upstream answers were stored with whatever case the first asker used).
fn spelled<'r>(records: &'r [Record], query: &Query) -> Vec<Cow<'r, Record>> {
    let qname: &Name = query.name();
    records
        .iter()
        .map(|r| {
            if r.name == *qname && !r.name.eq_case(qname) {
                let mut owned = r.clone();
                owned.name = qname.clone();
                Cow::Owned(owned)
            } else {
                Cow::Borrowed(r)
            }
        })
        .collect()
}

#[async_trait::async_trait]
impl RequestHandler for DnsHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        let mut response_edns = None;
        if let Some(asked) = request.edns.as_ref() {
            let mut edns = Edns::new();
            edns.set_max_payload(asked.max_payload().clamp(512, MAX_UDP_PAYLOAD));
            edns.set_version(0);
            response_edns = Some(edns);
        }
        if let (Some(asked), Some(edns)) = (request.edns.as_ref(), response_edns.as_ref())
            && asked.version() > 0
        {
            return error(request, ResponseCode::BADVERS, Some(edns), response_handle).await;
        }
        let edns = response_edns.as_ref();
        if !question_is_plain(request.queries.as_bytes()) {
            // The question section is echoed byte for byte, so a compression pointer in it
            // would point at different bytes of our response (the header): refuse to parse it.
            debug!(src = %request.src(), "compression pointer in the question section");
            let Ok(no_question) = Queries::read(&mut BinDecoder::new(&[]), 0) else {
                return error(request, ResponseCode::FormErr, edns, response_handle).await;
            };
            let response = MessageResponseBuilder::new(&no_question, edns)
                .error_msg(&request.metadata, ResponseCode::FormErr);
            return send(response_handle, response, request).await;
        }
        if request.metadata.message_type != MessageType::Query {
            return error(request, ResponseCode::FormErr, edns, response_handle).await;
        }
        if request.metadata.op_code != OpCode::Query {
            return error(request, ResponseCode::NotImp, edns, response_handle).await;
        }
        self.answer(request, edns, response_handle).await
    }
}

async fn error<R: ResponseHandler>(
    request: &Request,
    rcode: ResponseCode,
    edns: Option<&Edns>,
    response_handle: R,
) -> ResponseInfo {
    let response =
        MessageResponseBuilder::new(&request.queries, edns).error_msg(&request.metadata, rcode);
    send(response_handle, response, request).await
}

async fn send<'a, R: ResponseHandler>(
    mut response_handle: R,
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    request: &Request,
) -> ResponseInfo {
    match response_handle.send_response(response).await {
        Ok(info) => info,
        Err(err) => {
            warn!(src = %request.src(), %err, "cannot send dns response");
            let mut metadata = Metadata::response_from_request(&request.metadata);
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            })
        }
    }
}

/// A response handler that keeps the encoded response instead of sending it.
#[derive(Clone, Default)]
struct Capture {
    bytes: Arc<std::sync::Mutex<Vec<u8>>>,
}

#[async_trait::async_trait]
impl ResponseHandler for Capture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let (info, bytes) = crate::udp::emit_within_limit(response).map_err(|(_, err)| err)?;
        if let Ok(mut out) = self.bytes.lock() {
            *out = bytes;
        }
        Ok(info)
    }
}
