//! Helpers for this crate's unit tests only: parse literals and take the error out of a result,
//! panicking with a message that names the input instead of a bare `unwrap`.

use std::fmt::Debug;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::AllocError;

/// Parses a CIDR literal written in a test.
pub(crate) fn net(text: &str) -> IpNet {
    text.parse()
        .unwrap_or_else(|e| panic!("test CIDR {text:?} does not parse: {e}"))
}

/// Parses an IP literal written in a test.
pub(crate) fn ip(text: &str) -> IpAddr {
    text.parse()
        .unwrap_or_else(|e| panic!("test IP {text:?} does not parse: {e}"))
}

/// The error of a call that must fail.
pub(crate) fn failure<T: Debug>(result: Result<T, AllocError>) -> AllocError {
    match result {
        Ok(value) => panic!("expected an allocation error, got Ok({value:?})"),
        Err(err) => err,
    }
}
