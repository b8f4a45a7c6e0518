//! Feeds arbitrary bytes to the nameserver's request handler, as the UDP listener would, over
//! the shared cluster fixture. Any panic is a bug; a reply, if any, must decode.

#![no_main]

mod common;

use std::net::SocketAddr;
use std::sync::OnceLock;

use dns::DnsHandler;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::Message;
use libfuzzer_sys::fuzz_target;

static HANDLER: OnceLock<Option<DnsHandler>> = OnceLock::new();
static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let (Some(handler), Some(runtime)) = (
        HANDLER.get_or_init(common::handler),
        RUNTIME.get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()
        }),
    ) else {
        return;
    };
    let src = SocketAddr::from(([127, 0, 0, 1], 5353));
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        if let Some(reply) = runtime.block_on(handler.respond_to_bytes(data, src, protocol)) {
            assert!(Message::from_vec(&reply).is_ok(), "undecodable reply");
        }
    }
});
