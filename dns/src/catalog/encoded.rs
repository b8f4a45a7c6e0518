//! The table's answers in wire form: every record set is encoded once, when the writer makes
//! its name. A question the UDP fast path (`crate::wire`) understands is answered by copying
//! those bytes after the question; the general path decodes them back into records.
//!
//! The encoding keeps what [`NameTable::answer`] means byte for byte once parsed: records the
//! answer gives the question's spelling (owners equal to the question name, in the answer
//! section) get a compression pointer to the question at offset 12, which the response copies
//! verbatim from the query; every other name is written out in full, lower-case. Negative
//! answers take the zone SOA, encoded once per table since its serial follows the revision.
//!
//! Whatever this module cannot say exactly as the general path would (CNAME chains, `ANY`,
//! dynamic pod names, unsynced tables, names outside the zone that are not in the table) is
//! `None`, and the caller falls back to the general path. It never decides an answer the
//! general path would not give.

use hickory_proto::ProtoError;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};
use hickory_proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder, NameEncoding,
};

use super::nodes::key_of;
use super::{NameTable, PodRecords, TableOptions};

/// A compression pointer to the question name, which always starts at offset 12.
const QUESTION_POINTER: [u8; 2] = [0xc0, 0x0c];

/// Where the question name starts in a message: right after the 12-byte header.
const QUESTION_OFFSET: usize = 12;

/// Records in wire form: the answer records, then the additional records, back to back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EncodedRecords {
    bytes: Box<[u8]>,
    answers: u16,
    additional: u16,
    /// The size of these records as the general path may encode them at most (every name in
    /// full), so that the fast path never answers what the general path would truncate.
    bound: u16,
}

impl EncodedRecords {
    /// The records, answer section first.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// How many of them go in the answer section (the first ones).
    pub(crate) fn answers(&self) -> u16 {
        self.answers
    }

    /// How many of them go in the additional section (the rest).
    pub(crate) fn additional(&self) -> u16 {
        self.additional
    }

    /// The most bytes the general path may spend on the same records.
    pub(crate) fn bound(&self) -> u16 {
        self.bound
    }

    /// Encodes the records of one set at `owner`; `None` when one cannot be encoded or the
    /// set does not fit a message.
    pub(super) fn of_records(
        owner: &Name,
        records: &[Record],
        additional: &[Record],
    ) -> Option<EncodedRecords> {
        let mut out = Builder::default();
        for record in records {
            out.push(record, record.name == *owner)?;
        }
        for record in additional {
            out.push(record, false)?;
        }
        Some(EncodedRecords {
            bytes: out.bytes.into_boxed_slice(),
            answers: u16::try_from(records.len()).ok()?,
            additional: u16::try_from(additional.len()).ok()?,
            bound: u16::try_from(out.bound).ok()?,
        })
    }

    /// The records back in parsed form, answer records first; the records that point to the
    /// question get `owner` as their name, spelled as given.
    ///
    /// # Errors
    /// The bytes do not decode (they were not made by [`EncodedRecords::of_records`]).
    pub(super) fn decode(&self, owner: &Name) -> Result<(Vec<Record>, Vec<Record>), ProtoError> {
        // A message whose question name sits at offset 12, where the pointers lead.
        let mut message = vec![0; QUESTION_OFFSET];
        let mut encoder = BinEncoder::new(&mut message);
        encoder.set_offset(QUESTION_OFFSET);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        owner.emit(&mut encoder)?;
        let start = message.len();
        message.extend_from_slice(&self.bytes);
        let mut decoder = BinDecoder::new(&message);
        decoder.read_slice(start)?;
        let mut read = |count: u16| -> Result<Vec<Record>, ProtoError> {
            (0..count)
                .map(|_| Record::read(&mut decoder).map_err(ProtoError::from))
                .collect()
        };
        let answers = read(self.answers)?;
        let additional = read(self.additional)?;
        Ok((answers, additional))
    }

    /// Encodes one record of the authority section (the zone SOA), never respelled.
    fn authority(record: &Record) -> Option<EncodedRecords> {
        let mut out = Builder::default();
        out.push(record, false)?;
        Some(EncodedRecords {
            bytes: out.bytes.into_boxed_slice(),
            answers: 0,
            additional: 0,
            bound: u16::try_from(out.bound).ok()?,
        })
    }
}

/// Appends records one by one.
#[derive(Default)]
struct Builder {
    bytes: Vec<u8>,
    bound: usize,
    scratch: Vec<u8>,
}

impl Builder {
    /// Appends `record`; with `spelled`, its owner becomes a pointer to the question.
    fn push(&mut self, record: &Record, spelled: bool) -> Option<()> {
        self.scratch.clear();
        let mut encoder = BinEncoder::new(&mut self.scratch);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        record.emit(&mut encoder).ok()?;
        self.bound += self.scratch.len();
        if spelled {
            let rest = self.scratch.get(wire_len(&record.name)..)?;
            self.bytes.extend_from_slice(&QUESTION_POINTER);
            self.bytes.extend_from_slice(rest);
        } else {
            self.bytes.extend_from_slice(&self.scratch);
        }
        Some(())
    }
}

/// The length of `name` written out label by label, root included.
fn wire_len(name: &Name) -> usize {
    name.iter().map(|label| label.len() + 1).sum::<usize>() + 1
}

/// The table-wide part of the fast path: the zone, the names answered dynamically, and the
/// negative answer's authority record.
#[derive(Debug, Clone)]
pub(super) struct EncodedZone {
    /// The zone's key (lower-cased wire labels).
    zone: Box<[u8]>,
    /// `pod.<zone>` when its names are made up on demand (insecure pod records).
    dynamic: Option<Box<[u8]>>,
    /// The zone SOA, the authority section of negative answers.
    soa: Option<EncodedRecords>,
}

impl EncodedZone {
    /// The encoded parts of a table with `options`, `soa` and `pod_zone`.
    pub(super) fn new(options: &TableOptions, soa: &Record, pod_zone: Option<&Name>) -> Self {
        EncodedZone {
            zone: key_of(&options.zone),
            dynamic: pod_zone
                .filter(|_| options.pod_records == PodRecords::Insecure)
                .map(key_of),
            soa: EncodedRecords::authority(soa),
        }
    }
}

/// A table answer in wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EncodedAnswer<'t> {
    /// NOERROR with these records.
    Records(&'t EncodedRecords),
    /// NXDOMAIN or NODATA (NOERROR), with this SOA record in the authority section.
    Negative(ResponseCode, &'t EncodedRecords),
}

impl NameTable {
    /// The answer to a class IN question for the name with `key` (lower-cased wire labels, no
    /// root) and type `qtype`, in wire form; `None` when the general path must answer (see the
    /// module doc). When it is `Some`, it is what [`NameTable::answer_if_authoritative`] gives.
    pub(crate) fn encoded_answer(&self, key: &[u8], qtype: u16) -> Option<EncodedAnswer<'_>> {
        let rtype = RecordType::from(qtype);
        if !self.synced || matches!(rtype, RecordType::ANY | RecordType::AXFR | RecordType::IXFR) {
            return None;
        }
        let Some(node) = self.nodes.get_key(key) else {
            let wire = &self.encoded;
            let dynamic = wire.dynamic.as_deref().is_some_and(|d| is_under(key, d));
            if dynamic || !is_under(key, &wire.zone) {
                return None;
            }
            return Some(EncodedAnswer::Negative(
                ResponseCode::NXDomain,
                wire.soa.as_ref()?,
            ));
        };
        if let Some(set) = node.set(rtype) {
            return set.encoded().map(EncodedAnswer::Records);
        }
        if node.set(RecordType::CNAME).is_some() {
            return None;
        }
        Some(EncodedAnswer::Negative(
            ResponseCode::NoError,
            self.encoded.soa.as_ref()?,
        ))
    }
}

/// True when the name with `key` is `zone` or below it (both lower-cased wire labels).
fn is_under(mut key: &[u8], zone: &[u8]) -> bool {
    loop {
        if key.len() <= zone.len() {
            return key == zone;
        }
        let Some((&length, rest)) = key.split_first() else {
            return false;
        };
        let Some(tail) = rest.get(usize::from(length)..) else {
            return false;
        };
        key = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::is_under;

    #[test]
    fn names_are_under_their_zone_at_label_boundaries() {
        let zone = b"\x07cluster\x05local";
        assert!(is_under(b"\x07cluster\x05local", zone));
        assert!(is_under(b"\x03svc\x07cluster\x05local", zone));
        assert!(!is_under(b"\x08xcluster\x05local", zone));
        assert!(!is_under(b"\x05local", zone));
        assert!(is_under(b"\x03svc", b""));
        assert!(is_under(b"", b""));
    }
}
