//! The UDP fast path for cluster-zone answers: reads the header and the single question straight
//! from the datagram (`query.rs`), asks the [`NameTable`] for the answer in wire form, and writes
//! the response as the header, the question copied verbatim (so it keeps the query's spelling,
//! which the answer's owner names point to), the pre-encoded records and, when the query had
//! EDNS, an OPT record.
//!
//! It answers only what it can answer exactly as the hickory path in `handler.rs` does once both
//! responses are parsed: same flags, codes and sections. Anything else (other opcodes, several
//! questions, EDNS options or versions, CNAME chains, names outside the table, responses that
//! might need truncation) is `None`, and the caller hands the datagram to the general path. It
//! never sends anything itself.

mod query;
#[cfg(test)]
mod tests;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::NameTable;
use crate::catalog::EncodedAnswer;

use query::HEADER;

/// Largest UDP payload we send, whatever the client advertises (as in `handler.rs`).
const MAX_UDP_PAYLOAD: u16 = 4096;

/// UDP payload without EDNS.
const PLAIN_PAYLOAD: u16 = 512;

/// The OPT record of our responses: root owner, type OPT, payload size, extended rcode 0,
/// version 0, no flags, no options.
const OPT_LEN: usize = 11;

/// What the fast path answered, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answered {
    /// The question type.
    pub(crate) qtype: RecordType,
    /// The response code sent.
    pub(crate) rcode: ResponseCode,
}

/// Writes the response to the query in `raw` into `out` (cleared first) when `table` answers it
/// on the fast path; `None` leaves the datagram to the general path. `recursion_available` is
/// the RA flag of table answers (set when there are upstreams).
pub(crate) fn respond(
    table: &NameTable,
    raw: &[u8],
    recursion_available: bool,
    out: &mut Vec<u8>,
) -> Option<Answered> {
    let query = query::parse(raw)?;
    let answer = table.encoded_answer(query.key(), query.qtype)?;
    let limit = query
        .edns_payload
        .map_or(PLAIN_PAYLOAD, |p| p.clamp(PLAIN_PAYLOAD, MAX_UDP_PAYLOAD));
    // Records go in the answer and additional sections; a negative answer's SOA alone in the
    // authority section.
    let (rcode, body, answers, authorities, additional) = match answer {
        EncodedAnswer::Records(records) => (
            ResponseCode::NoError,
            records,
            records.answers(),
            0,
            records.additional(),
        ),
        EncodedAnswer::Negative(rcode, soa) => (rcode, soa, 0, 1u16, 0),
    };
    let opt_len = if query.edns_payload.is_some() {
        OPT_LEN
    } else {
        0
    };
    // The general path compresses names against each other but never against the question,
    // so the bound (every name in full) is the most it may need: within the limit, neither
    // path truncates.
    if HEADER + query.question.len() + usize::from(body.bound()) + opt_len > usize::from(limit) {
        return None;
    }
    let additional = additional.checked_add(u16::from(opt_len > 0))?;
    let [id_hi, id_lo, flags, low, ..] = *query.header;
    // QR, opcode QUERY, AA, RD as asked; RA, CD as asked, the response code.
    let flags = 0x84 | (flags & 0x01);
    let low = if recursion_available { 0x80 } else { 0 } | (low & 0x10) | rcode.low();
    out.clear();
    out.extend_from_slice(&[id_hi, id_lo, flags, low, 0, 1]);
    out.extend_from_slice(&answers.to_be_bytes());
    out.extend_from_slice(&authorities.to_be_bytes());
    out.extend_from_slice(&additional.to_be_bytes());
    out.extend_from_slice(query.question);
    out.extend_from_slice(body.bytes());
    if opt_len > 0 {
        let [size_hi, size_lo] = limit.to_be_bytes();
        out.extend_from_slice(&[0, 0, 41, size_hi, size_lo, 0, 0, 0, 0, 0, 0]);
    }
    Some(Answered {
        qtype: RecordType::from(query.qtype),
        rcode,
    })
}
