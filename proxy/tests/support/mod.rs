//! Shared support for end-to-end proxy tests that need real network namespaces.
//!
//! Pieces, smallest first:
//! - [`require_root`]: whether the test may run (skips with a printed reason, or fails when `CI`
//!   is set and we are not root).
//! - [`Netns`]: a network namespace the test owns (`ip netns add`; deleted on drop), with
//!   helpers to run `ip` inside it, enable forwarding, and run a closure on a thread that entered
//!   it (sockets created there stay in that namespace).
//! - [`veth`]: a veth pair between two namespaces, with addresses.
//! - [`TcpBackend`] / [`UdpBackend`]: small real servers bound inside a namespace that answer with
//!   their own address, so a test can count which backend served.
//! - [`Chain`]: the usual topology, client ns ↔ node ns ↔ backend ns, routed, dual-stack.
//!
//! Names are unique per test and process ([`unique_name`]); everything cleans up on drop, even
//! when the test fails. Traffic only ever goes to loopback or to addresses inside these
//! namespaces. This module never touches the host's own interfaces.
#![allow(dead_code)]

mod backends;
mod netns;
mod topology;

use std::io;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub use backends::{
    TcpBackend, UdpBackend, UdpMode, tcp_identify, tcp_identify_from, udp_exchange,
};
pub use netns::{Netns, veth};
pub use topology::Chain;

/// Whether the test can run its privileged part. Not root: when the `CI` environment variable is
/// set this panics (a CI run must not silently skip); otherwise it prints why and returns false.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: needs root (network namespaces) and CI is set; refusing to skip");
    }
    eprintln!("{test}: skipped: needs root to create network namespaces");
    false
}

/// A name unique to this test and process: `sy<tag>-<pid36>-<n>`, at most 15 bytes so it is
/// also valid as an interface name. `tag` is shortened to its first 4 alphanumeric characters.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let short: String = tag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(4)
        .collect();
    let mut name = format!("sy{short}-{}-{}", base36(std::process::id()), base36(n));
    name.truncate(15);
    name
}

fn base36(mut n: u32) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs a command to completion; a non-zero exit becomes an error carrying its stderr.
pub fn run(program: &str, args: &[&str]) -> io::Result<String> {
    let out = Command::new(program).args(args).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
