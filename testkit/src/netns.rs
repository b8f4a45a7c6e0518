//! [`Netns`]: a network namespace owned by one test, and veth pairs between two of them.

use std::fs::File;
use std::io;
use std::process::Command;
use std::thread;

use ipnet::IpNet;
use nix::sched::{CloneFlags, setns};

use crate::{run, unique_name};

/// A network namespace created for one test; `ip netns del` on drop. Loopback is up.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `sy<tag>-…` (see [`unique_name`]) and brings its loopback up.
    pub fn new(tag: &str) -> io::Result<Netns> {
        let name = unique_name(tag);
        run("ip", &["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (as `ip netns` knows it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <ns> <args…>`.
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`), to spawn.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.name.as_str(), program]);
        cmd
    }

    /// Runs `<program> <args…>` inside the namespace (`ip netns exec`).
    pub fn exec(&self, program: &str, args: &[&str]) -> io::Result<String> {
        let mut full = vec!["netns", "exec", self.name.as_str(), program];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Turns on IPv4 and IPv6 forwarding inside the namespace (so it can route between veths).
    pub fn enable_forwarding(&self) -> io::Result<()> {
        self.exec("sysctl", &["-qw", "net.ipv4.ip_forward=1"])?;
        self.exec("sysctl", &["-qw", "net.ipv6.conf.all.forwarding=1"])?;
        Ok(())
    }

    /// Adds `addr` (e.g. `10.0.0.1/24`) to interface `dev` inside the namespace (IPv6 without
    /// duplicate address detection, so it is usable at once).
    pub fn add_addr(&self, dev: &str, addr: IpNet) -> io::Result<()> {
        let addr = addr.to_string();
        match addr.contains(':') {
            true => self.ip(&["addr", "add", &addr, "dev", dev, "nodad"])?,
            false => self.ip(&["addr", "add", &addr, "dev", dev])?,
        };
        Ok(())
    }

    /// Enters this namespace on the current thread. Only call on a thread you own (see
    /// [`Netns::run`] and [`Netns::spawn`]); the thread stays in the namespace.
    pub fn enter(&self) -> io::Result<()> {
        let file = File::open(format!("/var/run/netns/{}", self.name))?;
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
    }

    /// Runs `f` on a fresh thread inside the namespace and returns its result. Sockets `f`
    /// creates belong to the namespace. A panic in `f` is resumed here.
    pub fn run<F, R>(&self, f: F) -> io::Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        thread::scope(|scope| {
            let handle = scope.spawn(|| -> io::Result<R> {
                self.enter()?;
                Ok(f())
            });
            match handle.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Spawns a long-lived thread inside the namespace (e.g. one running a proxy's tokio
    /// runtime). The caller joins it.
    pub fn spawn<F, R>(&self, f: F) -> thread::JoinHandle<io::Result<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let path = format!("/var/run/netns/{}", self.name);
        thread::spawn(move || -> io::Result<R> {
            let file = File::open(path)?;
            setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            drop(file);
            Ok(f())
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(err) = run("ip", &["netns", "del", &self.name]) {
            eprintln!("cleanup: {err}");
        }
    }
}

/// Creates a veth pair: `a_dev` in `a` with `a_addrs`, `b_dev` in `b` with `b_addrs`, both up.
/// The pair is created inside `a` directly, so the device names only need to be unique within
/// each namespace; it disappears with either namespace.
pub fn veth(
    a: &Netns,
    a_dev: &str,
    a_addrs: &[IpNet],
    b: &Netns,
    b_dev: &str,
    b_addrs: &[IpNet],
) -> io::Result<()> {
    a.ip(&[
        "link",
        "add",
        a_dev,
        "type",
        "veth",
        "peer",
        "name",
        b_dev,
        "netns",
        b.name(),
    ])?;
    for addr in a_addrs {
        a.add_addr(a_dev, *addr)?;
    }
    for addr in b_addrs {
        b.add_addr(b_dev, *addr)?;
    }
    a.ip(&["link", "set", a_dev, "up"])?;
    b.ip(&["link", "set", b_dev, "up"])?;
    Ok(())
}
