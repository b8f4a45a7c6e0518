//! Replays every input of the DNS fuzz corpora (`dns/fuzz/corpus/{wire,handler}/`: the seeds
//! and every finding a campaign kept) on the stable toolchain, through the same paths as the
//! cargo-fuzz targets: the UDP fast path and the hickory handler over UDP and TCP. An answer
//! must decode and keep the query's ID.

use std::net::SocketAddr;
use std::path::PathBuf;

use dns::{DnsConfig, DnsHandler, NameTable, PodRecords, TableOptions};
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::Message;

use crate::support::{self, Error};

fn inputs(target: &str) -> Result<Vec<Vec<u8>>, Error> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.is_file() {
            out.push(std::fs::read(path)?);
        }
    }
    if out.is_empty() {
        return Err(format!("{} holds no inputs", dir.display()).into());
    }
    Ok(out)
}

fn handler() -> Result<DnsHandler, Error> {
    let config = DnsConfig {
        pod_records: PodRecords::Insecure,
        ..DnsConfig::default()
    };
    let options = TableOptions::from_config(&config)?;
    Ok(DnsHandler::for_table(NameTable::build(
        &support::fixture()?,
        options,
    )))
}

#[test]
fn wire_corpus_replays_through_the_fast_path() -> Result<(), Error> {
    let handler = handler()?;
    let mut answered = 0;
    for data in inputs("wire")? {
        let mut out = Vec::new();
        if handler.respond_fast(&data, &mut out) {
            Message::from_vec(&out)?;
            assert_eq!(out.get(..2), data.get(..2), "the answer lost the query ID");
            answered += 1;
        }
    }
    assert!(answered > 0, "no seed took the fast path");
    Ok(())
}

#[tokio::test]
async fn handler_corpus_replays_over_udp_and_tcp() -> Result<(), Error> {
    let handler = handler()?;
    let src = SocketAddr::from(([127, 0, 0, 1], 5353));
    for data in inputs("handler")? {
        for protocol in [Protocol::Udp, Protocol::Tcp] {
            if let Some(reply) = handler.respond_to_bytes(&data, src, protocol).await
                && !reply.is_empty()
            {
                Message::from_vec(&reply)?;
            }
        }
    }
    Ok(())
}
