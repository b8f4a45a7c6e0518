//! HAProxy 2.6 in TCP mode as the userspace-proxy reference (filled in by the proxy area).
