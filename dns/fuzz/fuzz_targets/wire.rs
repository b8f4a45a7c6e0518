//! Feeds arbitrary bytes to the UDP fast path (`DnsHandler::respond_fast`), which reads the
//! question itself and answers by copying pre-encoded records. Any panic is a bug; an answer
//! must decode as a DNS message with the query's ID.

#![no_main]

mod common;

use std::sync::OnceLock;

use dns::DnsHandler;
use hickory_server::proto::op::Message;
use libfuzzer_sys::fuzz_target;

static HANDLER: OnceLock<Option<DnsHandler>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some(handler) = HANDLER.get_or_init(common::handler) else {
        return;
    };
    let mut out = Vec::new();
    if handler.respond_fast(data, &mut out) {
        let reply = Message::from_vec(&out);
        assert!(reply.is_ok(), "undecodable fast-path answer");
        assert_eq!(out.get(..2), data.get(..2), "the answer lost the query ID");
    }
});
