//! Cutting responses at record boundaries, with the sizes built to land exactly on the limit.

use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::{A, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::{Fitted, fit};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// `a.example.`: 11 bytes in the question, a 2-byte pointer as an owner after it.
fn owner() -> Result<Name, Box<dyn std::error::Error>> {
    Ok(Name::from_ascii("a.example.")?)
}

/// Header (12) + question (11 + 4).
const BEFORE_RECORDS: usize = 27;

/// A TXT record at `a.example.` of exactly `size` bytes on the wire (pointer, fixed part,
/// one length byte, `size - 13` characters).
fn txt(size: usize) -> Result<Record, Box<dyn std::error::Error>> {
    let text = "x".repeat(
        size.checked_sub(13)
            .ok_or("TXT records are at least 13 bytes")?,
    );
    Ok(Record::from_rdata(
        owner()?,
        60,
        RData::TXT(TXT::new(vec![text])),
    ))
}

/// An A record at `a.example.`: 16 bytes.
fn a() -> Result<Record, Box<dyn std::error::Error>> {
    Ok(Record::from_rdata(
        owner()?,
        60,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
    ))
}

fn response(
    answers: Vec<Record>,
    additional: Vec<Record>,
) -> Result<Message, Box<dyn std::error::Error>> {
    let mut message = Message::new(9, MessageType::Response, OpCode::Query);
    message.add_query(Query::query(owner()?, RecordType::TXT));
    message.add_answers(answers);
    message.add_additionals(additional);
    Ok(message)
}

/// Parses all of `bytes` as one message: nothing may follow the counted records.
fn strict(bytes: &[u8]) -> Result<Message, Box<dyn std::error::Error>> {
    let mut decoder = BinDecoder::new(bytes);
    let message = Message::read(&mut decoder)?;
    if !decoder.is_empty() {
        return Err(format!("{} bytes after the counted records", decoder.len()).into());
    }
    Ok(message)
}

/// Four answers of 97 bytes and one of 97 + `last_extra`: 512 + `last_extra` bytes in all.
fn five_answers(last_extra: usize) -> Result<Vec<Record>, Box<dyn std::error::Error>> {
    let mut records = (0..4).map(|_| txt(97)).collect::<Result<Vec<_>, _>>()?;
    records.push(txt(97 + last_extra)?);
    Ok(records)
}

#[test]
fn a_response_of_exactly_the_limit_is_left_alone() -> TestResult {
    let mut bytes = response(five_answers(0)?, vec![])?.to_vec()?;
    assert_eq!(bytes.len(), 512, "the fixture is built to 512 bytes");
    let before = bytes.clone();
    assert_eq!(
        fit(&mut bytes, 512),
        Some(Fitted {
            dropped: 0,
            truncated: false
        })
    );
    assert_eq!(bytes, before);
    Ok(())
}

#[test]
fn one_byte_over_drops_the_last_answer_and_sets_tc() -> TestResult {
    let mut bytes = response(five_answers(1)?, vec![])?.to_vec()?;
    assert_eq!(bytes.len(), 513);
    assert_eq!(
        fit(&mut bytes, 512),
        Some(Fitted {
            dropped: 1,
            truncated: true
        })
    );
    assert_eq!(bytes.len(), BEFORE_RECORDS + 4 * 97);
    let cut = strict(&bytes)?;
    assert!(cut.metadata.truncation);
    assert_eq!((cut.metadata.id, cut.answers.len()), (9, 4));
    assert_eq!(cut.queries.len(), 1);
    Ok(())
}

#[test]
fn additional_records_that_do_not_fit_are_dropped_without_tc() -> TestResult {
    // Answers end at 512 - 16 + 1; one A record (16 bytes) in additional makes 513.
    let answers_size = 512 - 16 + 1 - BEFORE_RECORDS;
    let mut answers = (0..4).map(|_| txt(97)).collect::<Result<Vec<_>, _>>()?;
    answers.push(txt(answers_size - 4 * 97)?);
    let mut bytes = response(answers, vec![a()?])?.to_vec()?;
    assert_eq!(bytes.len(), 513);
    assert_eq!(
        fit(&mut bytes, 512),
        Some(Fitted {
            dropped: 1,
            truncated: false
        })
    );
    assert_eq!(bytes.len(), 497);
    let cut = strict(&bytes)?;
    assert!(!cut.metadata.truncation);
    assert_eq!((cut.answers.len(), cut.additionals.len()), (5, 0));
    // One byte more room and the additional record fits after all.
    let mut roomier = response(five_answers(0)?, vec![])?;
    roomier.answers.pop();
    roomier.add_answer(txt(answers_size - 4 * 97)?);
    roomier.add_additional(a()?);
    let mut bytes = roomier.to_vec()?;
    assert_eq!(fit(&mut bytes, 513).map(|f| f.dropped), Some(0));
    assert_eq!(strict(&bytes)?.additionals.len(), 1);
    Ok(())
}

#[test]
fn the_opt_record_is_kept_and_counts_against_the_limit() -> TestResult {
    let with_edns = |answers: Vec<Record>| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let mut message = response(answers, vec![a()?])?;
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        message.set_edns(edns);
        Ok(message.to_vec()?)
    };
    // 27 + 4 × 97 + 70 + the A record (16) + OPT (11) = 512.
    let mut answers = (0..4).map(|_| txt(97)).collect::<Result<Vec<_>, _>>()?;
    answers.push(txt(70)?);
    let mut bytes = with_edns(answers.clone())?;
    assert_eq!(bytes.len(), 512);
    assert_eq!(fit(&mut bytes, 512).map(|f| f.dropped), Some(0));
    // One byte less room: the additional A goes, OPT stays, no TC.
    assert_eq!(
        fit(&mut bytes, 511),
        Some(Fitted {
            dropped: 1,
            truncated: false
        })
    );
    assert_eq!(bytes.len(), 512 - 16);
    let cut = strict(&bytes)?;
    assert_eq!(cut.edns.as_ref().map(|e| e.max_payload()), Some(1232));
    assert!(!cut.metadata.truncation && cut.additionals.is_empty());
    // A limit inside the answers: answers cut, TC, OPT still last and counted.
    let mut bytes = with_edns(answers)?;
    assert_eq!(
        fit(&mut bytes, 27 + 2 * 97 + 11),
        Some(Fitted {
            dropped: 4,
            truncated: true
        })
    );
    let cut = strict(&bytes)?;
    assert!(cut.metadata.truncation);
    assert_eq!(cut.answers.len(), 2);
    assert!(cut.edns.is_some());
    Ok(())
}

#[test]
fn a_negative_answer_without_room_for_its_soa_is_truncated() -> TestResult {
    let zone = Name::from_ascii("example.")?;
    let soa = SOA::new(zone.clone(), zone.clone(), 1, 3600, 600, 86_400, 30);
    let mut message = Message::new(3, MessageType::Response, OpCode::Query);
    message.add_query(Query::query(owner()?, RecordType::A));
    message.add_authority(Record::from_rdata(zone, 30, RData::SOA(soa)));
    let mut bytes = message.to_vec()?;
    assert_eq!(
        fit(&mut bytes, BEFORE_RECORDS + 1),
        Some(Fitted {
            dropped: 1,
            truncated: true
        })
    );
    assert_eq!(bytes.len(), BEFORE_RECORDS);
    let cut = strict(&bytes)?;
    assert!(cut.metadata.truncation && cut.authorities.is_empty());
    Ok(())
}

#[test]
fn bytes_after_the_counted_records_are_cut() -> TestResult {
    let mut bytes = response(vec![a()?], vec![])?.to_vec()?;
    let clean = bytes.clone();
    bytes.extend_from_slice(&[0xc0, 0x0c, 0, 1]);
    assert!(strict(&bytes).is_err(), "the fixture has trailing bytes");
    assert_eq!(fit(&mut bytes, 512).map(|f| f.dropped), Some(0));
    assert_eq!(bytes, clean);
    Ok(())
}

#[test]
fn an_unwalkable_message_is_left_unchanged() -> TestResult {
    let mut bytes = response(vec![a()?], vec![])?.to_vec()?;
    bytes.truncate(bytes.len() - 1);
    let before = bytes.clone();
    assert_eq!(fit(&mut bytes, 512), None);
    assert_eq!(bytes, before);
    // A header alone says one question that is not there.
    let mut short = vec![0, 9, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    assert_eq!(fit(&mut short, 512), None);
    // No room for the question itself.
    let mut bytes = response(vec![a()?], vec![])?.to_vec()?;
    assert_eq!(fit(&mut bytes, BEFORE_RECORDS - 1), None);
    Ok(())
}
