//! The `switchyard` binary: CLI parsing and wiring of the control store, IPAM, proxy and DNS.

fn main() {}
