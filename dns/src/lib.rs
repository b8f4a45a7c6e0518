//! The cluster nameserver.
