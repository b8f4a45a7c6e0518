//! The crate's error type: every way starting the nameserver or reading its configuration fails.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the nameserver could not start or its configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// A configuration field holds a value that cannot be used.
    #[error("invalid dns config field `{field}`: {reason}")]
    InvalidConfig {
        /// The field, as named in [`crate::DnsConfig`].
        field: &'static str,
        /// Why the value was rejected.
        reason: String,
    },
    /// The listen address could not be bound for UDP or TCP.
    #[error("cannot bind dns {protocol} socket on {addr}: {source}")]
    Bind {
        /// `udp` or `tcp`.
        protocol: &'static str,
        /// The address that was tried.
        addr: SocketAddr,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The resolver configuration file could not be read.
    #[error("cannot read {path}: {source}")]
    ResolvConfRead {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// A `nameserver` line of the resolver configuration file is not an IP address.
    #[error("{path}:{line}: nameserver `{value}` is not an IP address")]
    ResolvConfAddress {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// The offending value.
        value: String,
    },
    /// The host's interface addresses (for the default recursion allow list) cannot be read.
    #[error("cannot read the host's interface addresses: {source}")]
    HostAddresses {
        /// The operating-system error of `getifaddrs`.
        #[source]
        source: std::io::Error,
    },
    /// The resolver configuration file names no usable nameserver.
    #[error("{path}: no nameserver lines")]
    ResolvConfEmpty {
        /// The file.
        path: PathBuf,
    },
}

impl DnsError {
    /// True when the error is a bad configuration value rather than an environment problem.
    pub fn is_invalid_config(&self) -> bool {
        matches!(self, DnsError::InvalidConfig { .. })
    }
}
