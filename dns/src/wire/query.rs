//! Reads the one shape of query the fast path answers straight from the datagram: a standard
//! query (opcode QUERY, not a response) with one class IN question written label by label, no
//! other records but an optional EDNS version 0 OPT record without options, and nothing after
//! it. Anything else is `None`, for the general path to decode.

/// Longest question name taken, root included. Names near the 255-byte limit go to the general
/// path, which knows exactly where it draws the line.
const MAX_NAME: usize = 250;

/// The DNS header's size; the question starts right after it.
pub(super) const HEADER: usize = 12;

/// Class IN.
const CLASS_IN: u16 = 1;

/// Type OPT.
const TYPE_OPT: u16 = 41;

/// A query the fast path can answer, borrowed from the datagram.
#[derive(Debug)]
pub(super) struct WireQuery<'r> {
    /// The header as received.
    pub(super) header: &'r [u8; HEADER],
    /// The question section as received (name, type, class).
    pub(super) question: &'r [u8],
    /// The question type.
    pub(super) qtype: u16,
    /// The payload size the client advertised in its OPT record, if it sent one.
    pub(super) edns_payload: Option<u16>,
    key: [u8; MAX_NAME],
    key_len: usize,
}

impl WireQuery<'_> {
    /// The question name's lower-cased wire labels, root excluded: the table's key.
    pub(super) fn key(&self) -> &[u8] {
        self.key.get(..self.key_len).unwrap_or_default()
    }
}

/// Parses `raw` if it has the shape the fast path answers.
pub(super) fn parse(raw: &[u8]) -> Option<WireQuery<'_>> {
    let (header, body) = raw.split_first_chunk::<HEADER>()?;
    let [
        _,
        _,
        flags,
        _,
        qd_hi,
        qd_lo,
        an_hi,
        an_lo,
        ns_hi,
        ns_lo,
        ar_hi,
        ar_lo,
    ] = *header;
    // QR clear (a query) and opcode QUERY; the other flag bits are read by the responder.
    if flags & 0xf8 != 0
        || [qd_hi, qd_lo, an_hi, an_lo, ns_hi, ns_lo, ar_hi] != [0, 1, 0, 0, 0, 0, 0]
    {
        return None;
    }
    let mut query = WireQuery {
        header,
        question: &[],
        qtype: 0,
        edns_payload: None,
        key: [0; MAX_NAME],
        key_len: 0,
    };
    let mut at = 0;
    loop {
        let length = usize::from(*body.get(at)?);
        if length == 0 {
            at += 1;
            break;
        }
        if length > 63 || at + 1 + length >= MAX_NAME {
            return None;
        }
        let label = body.get(at..=at + length)?;
        let out = query.key.get_mut(at..=at + length)?;
        for (o, b) in out.iter_mut().zip(label) {
            *o = b.to_ascii_lowercase();
        }
        at += 1 + length;
    }
    query.key_len = at - 1;
    let (fixed, rest) = body.get(at..)?.split_first_chunk::<4>()?;
    let [type_hi, type_lo, class_hi, class_lo] = *fixed;
    if u16::from_be_bytes([class_hi, class_lo]) != CLASS_IN {
        return None;
    }
    query.qtype = u16::from_be_bytes([type_hi, type_lo]);
    query.question = body.get(..at + 4)?;
    query.edns_payload = match ar_lo {
        0 if rest.is_empty() => None,
        1 => Some(opt_payload(rest)?),
        _ => return None,
    };
    Some(query)
}

/// The payload size of an OPT record that makes up all of `rest`: root owner, EDNS version 0,
/// no options.
fn opt_payload(rest: &[u8]) -> Option<u16> {
    let [
        0,
        type_hi,
        type_lo,
        size_hi,
        size_lo,
        _,
        version,
        _,
        _,
        0,
        0,
    ] = *rest
    else {
        return None;
    };
    (u16::from_be_bytes([type_hi, type_lo]) == TYPE_OPT && version == 0)
        .then(|| u16::from_be_bytes([size_hi, size_lo]))
}
