//! End-to-end tests of the cluster nameserver: a real `DnsServer` on 127.0.0.1:0, queried by
//! hickory's client, raw sockets and `dig`, with stub upstreams on loopback.

mod autopath;
mod burst;
mod dig;
mod external_name;
mod forward;
mod fuzz_corpus;
mod limits;
mod live;
mod malformed;
mod records;
mod support;
mod truncation;
