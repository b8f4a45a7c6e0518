//! Rules: a sequence of statements (matches, then or among them actions) and a comment.

use std::fmt;
use std::net::SocketAddr;

use ipnet::IpNet;

use super::Verdict;
use crate::model::Protocol;
use crate::nft::transaction::Family;

/// A value a rule loads from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Selector {
    /// `ip saddr` / `ip6 saddr`.
    Saddr(Family),
    /// `ip daddr` / `ip6 daddr`.
    Daddr(Family),
    /// `meta l4proto`.
    L4proto,
    /// `th dport`.
    Dport,
}

impl Selector {
    /// The address family the selector needs, if any.
    pub fn family(self) -> Option<Family> {
        match self {
            Selector::Saddr(family) | Selector::Daddr(family) => Some(family),
            Selector::L4proto | Selector::Dport => None,
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Saddr(family) => write!(f, "{family} saddr"),
            Selector::Daddr(family) => write!(f, "{family} daddr"),
            Selector::L4proto => f.write_str("meta l4proto"),
            Selector::Dport => f.write_str("th dport"),
        }
    }
}

/// How `numgen` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumgenMode {
    /// `random`: independently per packet.
    Random,
    /// `inc`: a counter per rule.
    Inc,
}

impl fmt::Display for NumgenMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NumgenMode::Random => "random",
            NumgenMode::Inc => "inc",
        })
    }
}

/// Which address `fib` classifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FibAddr {
    /// `fib saddr`.
    Saddr,
    /// `fib daddr`.
    Daddr,
}

/// One statement of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Stmt {
    /// `SEL [. SEL …] @set` (or `!= @set`): the value is (not) in a set.
    Lookup {
        /// The selectors, concatenated.
        keys: Vec<Selector>,
        /// The set.
        set: String,
        /// `!=`: matches when the value is not in the set.
        negate: bool,
    },
    /// `SEL != ADDR[/LEN]`: an address outside a prefix.
    AddrNot {
        /// `ip|ip6 saddr|daddr`.
        selector: Selector,
        /// The prefix; a full-length one prints as the bare address.
        net: IpNet,
    },
    /// `numgen MODE mod N == V`.
    Numgen {
        /// Random or incrementing.
        mode: NumgenMode,
        /// The modulus N.
        modulus: u32,
        /// The value compared with.
        value: u32,
    },
    /// `fib saddr|daddr type local`.
    FibLocal(FibAddr),
    /// `meta l4proto PROTO`.
    L4proto(Protocol),
    /// `meta mark & MASK == VALUE`.
    MarkAnd {
        /// The mask.
        mask: u32,
        /// The value the masked mark equals.
        value: u32,
    },
    /// `ct state new`.
    CtStateNew,
    /// `ct status dnat`.
    CtStatusDnat,
    /// `meta mark set meta mark | BITS`.
    MarkOr(u32),
    /// `meta mark set meta mark ^ BITS`.
    MarkXor(u32),
    /// `update @set { SEL }`: adds the value to a dynamic set or refreshes its timeout.
    Update {
        /// The dynamic set.
        set: String,
        /// What is added.
        key: Selector,
    },
    /// `dnat to ADDR:PORT`.
    Dnat(SocketAddr),
    /// `dnat FAMILY to numgen random mod N map @map`: the endpoint map picks address and port.
    DnatMap {
        /// The family of the map's addresses.
        family: Family,
        /// The modulus of the draw.
        modulus: u32,
        /// The endpoint map.
        map: String,
    },
    /// `masquerade [fully-random]`.
    Masquerade {
        /// `fully-random` port allocation.
        fully_random: bool,
    },
    /// `reject` (ICMP port unreachable).
    Reject,
    /// `reject with tcp reset`: a TCP RST from the node. Only after `meta l4proto tcp`. A
    /// client gets "connection refused" at once even where the kernel rate-limits the ICMP
    /// errors it would otherwise get (e.g. a node routing the answer back out of the interface
    /// the packet came in on, where redirects use up the ICMP budget).
    RejectTcpReset,
    /// `SEL [. SEL …] vmap @map`: the verdict map decides.
    Vmap {
        /// The selectors, concatenated.
        keys: Vec<Selector>,
        /// The verdict map.
        map: String,
    },
    /// A verdict.
    Verdict(Verdict),
}

fn concat(f: &mut fmt::Formatter<'_>, keys: &[Selector]) -> fmt::Result {
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            f.write_str(" . ")?;
        }
        write!(f, "{key}")?;
    }
    Ok(())
}

impl fmt::Display for Stmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stmt::Lookup { keys, set, negate } => {
                concat(f, keys)?;
                let op = if *negate { " != " } else { " " };
                write!(f, "{op}@{set}")
            }
            Stmt::AddrNot { selector, net } => {
                if net.prefix_len() == net.max_prefix_len() {
                    write!(f, "{selector} != {}", net.addr())
                } else {
                    write!(f, "{selector} != {net}")
                }
            }
            Stmt::Numgen {
                mode,
                modulus,
                value,
            } => write!(f, "numgen {mode} mod {modulus} == {value}"),
            Stmt::FibLocal(FibAddr::Saddr) => f.write_str("fib saddr type local"),
            Stmt::FibLocal(FibAddr::Daddr) => f.write_str("fib daddr type local"),
            Stmt::L4proto(proto) => write!(f, "meta l4proto {proto}"),
            Stmt::MarkAnd { mask, value } => {
                write!(f, "meta mark & {mask:#010x} == {value:#010x}")
            }
            Stmt::CtStateNew => f.write_str("ct state new"),
            Stmt::CtStatusDnat => f.write_str("ct status dnat"),
            Stmt::MarkOr(bits) => write!(f, "meta mark set meta mark | {bits:#010x}"),
            Stmt::MarkXor(bits) => write!(f, "meta mark set meta mark ^ {bits:#010x}"),
            Stmt::Update { set, key } => write!(f, "update @{set} {{ {key} }}"),
            Stmt::Dnat(target) => write!(f, "dnat to {target}"),
            Stmt::DnatMap {
                family,
                modulus,
                map,
            } => write!(f, "dnat {family} to numgen random mod {modulus} map @{map}"),
            Stmt::Masquerade { fully_random: true } => f.write_str("masquerade fully-random"),
            Stmt::Masquerade {
                fully_random: false,
            } => f.write_str("masquerade"),
            Stmt::Reject => f.write_str("reject"),
            Stmt::RejectTcpReset => f.write_str("reject with tcp reset"),
            Stmt::Vmap { keys, map } => {
                concat(f, keys)?;
                write!(f, " vmap @{map}")
            }
            Stmt::Verdict(verdict) => write!(f, "{verdict}"),
        }
    }
}

impl Stmt {
    /// The selectors the statement reads, for family checks.
    fn selectors(&self) -> impl Iterator<Item = Selector> + '_ {
        let (many, one): (&[Selector], Option<Selector>) = match self {
            Stmt::Lookup { keys, .. } | Stmt::Vmap { keys, .. } => (keys, None),
            Stmt::AddrNot { selector, .. } => (&[], Some(*selector)),
            Stmt::Update { key, .. } => (&[], Some(*key)),
            _ => (&[], None),
        };
        many.iter().copied().chain(one)
    }

    /// The set or map the statement names, if any.
    pub fn set(&self) -> Option<&str> {
        match self {
            Stmt::Lookup { set, .. } | Stmt::Update { set, .. } => Some(set),
            Stmt::DnatMap { map, .. } | Stmt::Vmap { map, .. } => Some(map),
            _ => None,
        }
    }
}

/// One rule: statements in order and an optional comment (no `"` and on one line; the
/// transaction checks).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Rule {
    /// The statements, in the order nft evaluates them.
    pub stmts: Vec<Stmt>,
    /// `comment "…"`, shown by `nft list`.
    pub comment: Option<String>,
}

impl Rule {
    /// A rule of `stmts` without a comment.
    pub fn new(stmts: impl IntoIterator<Item = Stmt>) -> Rule {
        Rule {
            stmts: stmts.into_iter().collect(),
            comment: None,
        }
    }

    /// The same rule with a comment.
    pub fn comment(mut self, comment: impl Into<String>) -> Rule {
        self.comment = Some(comment.into());
        self
    }

    /// The chains the rule's verdicts name.
    pub fn chains(&self) -> impl Iterator<Item = &str> {
        self.stmts.iter().filter_map(|stmt| match stmt {
            Stmt::Verdict(verdict) => verdict.chain(),
            _ => None,
        })
    }

    /// The sets and maps the rule names.
    pub fn sets(&self) -> impl Iterator<Item = &str> {
        self.stmts.iter().filter_map(Stmt::set)
    }

    /// The families the rule's selectors and DNAT targets need (empty: any family).
    pub fn families(&self) -> impl Iterator<Item = Family> + '_ {
        self.stmts.iter().flat_map(|stmt| {
            let own = match stmt {
                Stmt::Dnat(target) => Some(Family::of(target.ip())),
                Stmt::DnatMap { family, .. } => Some(*family),
                Stmt::AddrNot { net, .. } => Some(Family::of(net.addr())),
                _ => None,
            };
            stmt.selectors().filter_map(Selector::family).chain(own)
        })
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, stmt) in self.stmts.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{stmt}")?;
        }
        if let Some(comment) = &self.comment {
            write!(f, " comment \"{comment}\"")?;
        }
        Ok(())
    }
}
