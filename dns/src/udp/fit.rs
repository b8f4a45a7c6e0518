//! Fits an encoded response into a UDP payload limit at record boundaries (RFC 1035 §4.2.1,
//! RFC 2181 §9, RFC 6891 §7): whole records are kept in section order while they fit; the
//! OPT record of an EDNS response is always kept (moved to the end of what is kept); TC is set
//! only when required data was dropped: an answer record, or an authority record of a response
//! without answers (the SOA of a negative answer). Dropping additional records, or the
//! authority records of a positive answer, leaves TC as it was.
//!
//! It works on the wire bytes, so it holds for any encoder: compression pointers only point
//! backwards, so a prefix of whole records stays valid. Bytes after the counted records (left
//! by an encoder that rolled a record back) are cut off too. It never grows a response.

use super::rrl::HEADER;

/// Type OPT.
const TYPE_OPT: u16 = 41;
/// TYPE, CLASS, TTL and RDLENGTH after a record's owner name.
const RR_FIXED: usize = 10;
/// The TC bit in the third header byte.
const TC: u8 = 0x02;

/// What fitting did to a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fitted {
    /// Records dropped (the OPT record is never dropped).
    pub(crate) dropped: usize,
    /// Whether fitting set TC (it is never cleared).
    pub(crate) truncated: bool,
}

/// One record's place in the message.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    rtype: u16,
}

/// Cuts `message` down to at most `limit` bytes by the module's rules. `None` (and `message`
/// unchanged) when the message cannot be walked, or when its header, question and OPT record
/// alone pass the limit.
pub(crate) fn fit(message: &mut Vec<u8>, limit: usize) -> Option<Fitted> {
    let counts = Counts::read(message)?;
    let mut at = HEADER;
    for _ in 0..counts.questions {
        at = skip_name(message, at)?.checked_add(4)?;
    }
    let questions_end = at;
    if questions_end > message.len() {
        return None;
    }
    let total = usize::from(counts.answers)
        + usize::from(counts.authorities)
        + usize::from(counts.additionals);
    // The counts are only believed as far as records are there to walk.
    let mut spans = Vec::with_capacity(total.min(64));
    for _ in 0..total {
        let span = record(message, at)?;
        at = span.end;
        spans.push(span);
    }
    let additional_from = usize::from(counts.answers) + usize::from(counts.authorities);
    if at <= limit {
        // Everything fits; only bytes after the counted records go.
        message.truncate(at);
        return Some(Fitted {
            dropped: 0,
            truncated: false,
        });
    }
    // The OPT record: an additional record of type OPT, last as every encoder puts it.
    let opt = spans
        .last()
        .filter(|s| s.rtype == TYPE_OPT && total > additional_from)
        .copied();
    let records = if opt.is_some() {
        spans.get(..total - 1)?
    } else {
        spans.as_slice()
    };
    let opt_bytes = match opt {
        Some(span) => message.get(span.start..span.end)?.to_vec(),
        None => Vec::new(),
    };
    let budget = limit.checked_sub(opt_bytes.len())?;
    if questions_end > budget {
        return None;
    }
    // Whole records in order while they fit; the first that does not ends the message.
    let kept = records.iter().take_while(|s| s.end <= budget).count();
    let end = kept
        .checked_sub(1)
        .and_then(|last| records.get(last))
        .map_or(questions_end, |s| s.end);
    let section = |from: usize, count: u16| kept.clamp(from, from + usize::from(count)) - from;
    let answers = section(0, counts.answers);
    let authorities = section(usize::from(counts.answers), counts.authorities);
    let additionals = section(additional_from, counts.additionals);
    let truncated = answers < usize::from(counts.answers)
        || (counts.answers == 0 && authorities < usize::from(counts.authorities));
    message.truncate(end);
    message.extend_from_slice(&opt_bytes);
    Counts {
        questions: counts.questions,
        answers: u16::try_from(answers).ok()?,
        authorities: u16::try_from(authorities).ok()?,
        additionals: u16::try_from(additionals + usize::from(opt.is_some())).ok()?,
    }
    .write(message);
    if truncated && let Some(flags) = message.get_mut(2) {
        *flags |= TC;
    }
    Some(Fitted {
        dropped: records.len() - kept,
        truncated,
    })
}

/// The four section counts of a header.
#[derive(Debug, Clone, Copy)]
struct Counts {
    questions: u16,
    answers: u16,
    authorities: u16,
    additionals: u16,
}

impl Counts {
    fn read(message: &[u8]) -> Option<Counts> {
        let &[qd_hi, qd_lo, an_hi, an_lo, ns_hi, ns_lo, ar_hi, ar_lo] = message.get(4..HEADER)?
        else {
            return None;
        };
        Some(Counts {
            questions: u16::from_be_bytes([qd_hi, qd_lo]),
            answers: u16::from_be_bytes([an_hi, an_lo]),
            authorities: u16::from_be_bytes([ns_hi, ns_lo]),
            additionals: u16::from_be_bytes([ar_hi, ar_lo]),
        })
    }

    fn write(self, message: &mut [u8]) {
        let mut bytes = [0u8; 8];
        for (chunk, count) in bytes.chunks_exact_mut(2).zip([
            self.questions,
            self.answers,
            self.authorities,
            self.additionals,
        ]) {
            chunk.copy_from_slice(&count.to_be_bytes());
        }
        if let Some(counts) = message.get_mut(4..HEADER) {
            counts.copy_from_slice(&bytes);
        }
    }
}

/// The offset after the name at `at` (labels up to the root, or up to a compression pointer).
fn skip_name(message: &[u8], mut at: usize) -> Option<usize> {
    // A name has at most 127 labels; a longer walk is a malformed message.
    for _ in 0..128 {
        let length = *message.get(at)?;
        match length {
            0 => return Some(at + 1),
            1..=63 => at += 1 + usize::from(length),
            0xc0..=0xff => {
                message.get(at + 1)?;
                return Some(at + 2);
            }
            _ => return None,
        }
    }
    None
}

/// The record starting at `at`.
fn record(message: &[u8], at: usize) -> Option<Span> {
    let fixed = skip_name(message, at)?;
    let &[type_hi, type_lo, _, _, _, _, _, _, len_hi, len_lo] =
        message.get(fixed..fixed + RR_FIXED)?
    else {
        return None;
    };
    let end = fixed + RR_FIXED + usize::from(u16::from_be_bytes([len_hi, len_lo]));
    if end > message.len() {
        return None;
    }
    Some(Span {
        start: at,
        end,
        rtype: u16::from_be_bytes([type_hi, type_lo]),
    })
}

#[cfg(test)]
mod tests;
