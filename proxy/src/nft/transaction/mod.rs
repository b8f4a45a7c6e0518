//! nft as data: a [`Transaction`] is an ordered list of [`Op`]s, each a [`Verb`] applied to an
//! [`Object`] in one of switchyard's own tables ([`TableId`]: `ip switchyard`, its service
//! shards `ip switchyard-0` …, and the same in `ip6`).
//!
//! Builders never fail at the call site: the first invalid operation is remembered and reported
//! when the transaction is run, so rule generation reads straight through. `Display` renders
//! one command per operation (golden files, logs); [`Transaction::render`] is the script
//! `nft -f -` loads as one atomic batch.
//!
//! Rules, set types and elements are typed values ([`crate::nft::ast`]): `Display` prints them
//! as nft text, and the netlink encoder reads the same values, so the text is only ever
//! written, never parsed back. This module never runs anything and never names a table that
//! is not a [`TableId`].

mod render;
mod validate;

use std::fmt;
use std::time::Duration;

use validate::validate;

use super::ast::{Key, KeyType, Rule, SetFlag, Value, ValueType};

/// The name of switchyard's main table in each family; its service shards add `-N`.
pub const TABLE: &str = "switchyard";

/// Most service shards per family (shard numbers are `0..MAX_SHARDS`).
pub const MAX_SHARDS: u16 = 256;

/// Longest chain, set or map name we emit. The kernel allows 255 bytes (`NFT_NAME_MAXLEN`);
/// we stay well below so generated names never hit the limit.
pub const MAX_NAME_LEN: usize = 200;

/// An nftables address family switchyard uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 (`ip`).
    Ip,
    /// IPv6 (`ip6`).
    Ip6,
}

impl Family {
    /// The family for an address.
    pub fn of(ip: std::net::IpAddr) -> Family {
        if ip.is_ipv4() {
            Family::Ip
        } else {
            Family::Ip6
        }
    }

    /// nft's keyword: `ip` or `ip6`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
        }
    }

    /// Both families, IPv4 first.
    pub const ALL: [Family; 2] = [Family::Ip, Family::Ip6];
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of switchyard's tables: the main table of a family (filtering, masquerading, the
/// node-wide sets), or one of its service shards (dispatch, service chains, endpoint maps).
///
/// Why shards: the kernel finds a set by walking its table's list of sets, and re-checks every
/// chain of a table when a rule is added to it. Spreading services over N tables makes both
/// walks N times shorter; each shard costs one verdict-map lookup per new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId {
    /// Address family.
    pub family: Family,
    /// `None` for the main table, else the shard number.
    pub shard: Option<u16>,
}

impl TableId {
    /// The main table of `family`.
    pub const fn main(family: Family) -> TableId {
        TableId {
            family,
            shard: None,
        }
    }

    /// Service shard `shard` of `family`.
    pub const fn shard(family: Family, shard: u16) -> TableId {
        TableId {
            family,
            shard: Some(shard),
        }
    }

    /// The table's name: `switchyard` or `switchyard-N`.
    pub fn name(&self) -> String {
        match self.shard {
            None => TABLE.to_owned(),
            Some(shard) => format!("{TABLE}-{shard}"),
        }
    }

    /// The table `name` denotes in `family`, if it is one of switchyard's (`switchyard`, or
    /// `switchyard-N` with N below [`MAX_SHARDS`] written without leading zeros).
    pub fn parse(family: Family, name: &str) -> Option<TableId> {
        if name == TABLE {
            return Some(TableId::main(family));
        }
        let digits = name.strip_prefix(TABLE)?.strip_prefix('-')?;
        let shard: u16 = digits.parse().ok()?;
        (shard < MAX_SHARDS && digits == shard.to_string()).then_some(TableId::shard(family, shard))
    }
}

impl fmt::Display for TableId {
    /// `ip switchyard`, `ip6 switchyard-3`: the family and table as nft commands name them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shard {
            None => write!(f, "{} {TABLE}", self.family),
            Some(shard) => write!(f, "{} {TABLE}-{shard}", self.family),
        }
    }
}

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Create if missing; no error if it exists (with the same properties).
    Add,
    /// Create; error if it exists.
    Create,
    /// Remove the contents (rules of a chain, elements of a set or map, everything in a table).
    Flush,
    /// Remove the object; it must exist (and, for chains and sets, be unreferenced).
    Delete,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Verb::Add => "add",
            Verb::Create => "create",
            Verb::Flush => "flush",
            Verb::Delete => "delete",
        }
    }
}

/// The kind of a base chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainType {
    /// `type filter`.
    Filter,
    /// `type nat`.
    Nat,
}

/// A netfilter hook a base chain attaches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `prerouting`.
    Prerouting,
    /// `input`.
    Input,
    /// `forward`.
    Forward,
    /// `output`.
    Output,
    /// `postrouting`.
    Postrouting,
}

impl Hook {
    fn as_str(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }
}

/// Standard priorities (numeric, as `nft` prints them).
pub mod priority {
    /// `dstnat`: destination NAT in prerouting and output.
    pub const DSTNAT: i32 = -100;
    /// `srcnat`: source NAT in postrouting.
    pub const SRCNAT: i32 = 100;
    /// `filter`.
    pub const FILTER: i32 = 0;
}

/// The hook attachment of a base chain (regular chains have none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BaseChain {
    /// Chain type.
    pub kind: ChainType,
    /// Hook.
    pub hook: Hook,
    /// Priority; lower runs first.
    pub priority: i32,
}

/// Properties of a set (no `value_type`) or map (with one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SetSpec {
    /// Key type, e.g. `type ipv4_addr . inet_proto . inet_service`, or `typeof numgen …`
    /// (then `value_type` is an expression type too).
    pub key_type: KeyType,
    /// Value type of a map, e.g. `verdict`; `None` for a set.
    pub value_type: Option<ValueType>,
    /// `flags dynamic,timeout` and the like.
    pub flags: Vec<SetFlag>,
    /// Default element timeout.
    pub timeout: Option<Duration>,
    /// A comment shown by `nft list`.
    pub comment: Option<String>,
}

impl SetSpec {
    /// Whether this is a map.
    pub fn is_map(&self) -> bool {
        self.value_type.is_some()
    }

    /// Whether elements come and go from the data path (`flags dynamic`); such sets are never
    /// flushed by a resync, so affinity survives it.
    pub fn is_dynamic(&self) -> bool {
        self.flags.contains(&SetFlag::Dynamic)
    }

    fn keyword(&self) -> &'static str {
        if self.is_map() { "map" } else { "set" }
    }
}

/// The thing an operation applies to, in one of switchyard's tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// The table itself.
    Table {
        /// Table.
        table: TableId,
    },
    /// A chain, regular or base.
    Chain {
        /// Table.
        table: TableId,
        /// Chain name.
        name: String,
        /// Hook attachment, for base chains (used by `add`/`create`).
        base: Option<BaseChain>,
    },
    /// A rule appended to a chain (only `add`).
    Rule {
        /// Table.
        table: TableId,
        /// Chain name.
        chain: String,
        /// The rule.
        rule: Rule,
    },
    /// A set or map.
    Set {
        /// Table.
        table: TableId,
        /// Set or map name.
        name: String,
        /// Properties (used by `add`/`create`; the keyword `set`/`map` for all verbs).
        spec: SetSpec,
    },
    /// An element of a set or map (`add`, `create`, `delete`).
    Element {
        /// Table.
        table: TableId,
        /// Set or map name.
        set: String,
        /// The key (`10.0.0.1 . tcp . 80`).
        key: Key,
        /// Value for map elements.
        value: Option<Value>,
    },
}

impl Object {
    /// The table the object is (or is in).
    pub fn table(&self) -> TableId {
        match self {
            Object::Table { table }
            | Object::Chain { table, .. }
            | Object::Rule { table, .. }
            | Object::Set { table, .. }
            | Object::Element { table, .. } => *table,
        }
    }
}

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// What to do.
    pub verb: Verb,
    /// To what.
    pub object: Object,
}

/// Why a transaction could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOp {
    /// A name is empty, too long, or has a character nft would not parse.
    #[error("invalid {kind} name {name:?}: {reason}")]
    Name {
        /// chain, set, map.
        kind: &'static str,
        /// The offending name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The verb does not apply to this object (e.g. `flush rule`).
    #[error("`{verb}` is not valid for a {kind}")]
    Verb {
        /// The verb.
        verb: &'static str,
        /// The object kind.
        kind: &'static str,
    },
    /// A rule, key, value or set type nft would not accept.
    #[error("invalid {field} {text:?}: {reason}")]
    Text {
        /// rule, comment, key, value, set type.
        field: &'static str,
        /// The offending item, as nft text.
        text: String,
        /// Why.
        reason: &'static str,
    },
}

/// An ordered batch of operations, applied all-or-nothing.
#[derive(Debug, Clone, Default)]
pub struct Transaction {
    ops: Vec<Op>,
    error: Option<InvalidOp>,
}

impl Transaction {
    /// An empty transaction.
    pub fn new() -> Transaction {
        Transaction::default()
    }

    /// Appends an operation; an invalid one is remembered (the first error sticks).
    pub fn push(&mut self, verb: Verb, object: Object) {
        if self.error.is_some() {
            return;
        }
        match validate(verb, &object) {
            Ok(()) => self.ops.push(Op { verb, object }),
            Err(err) => self.error = Some(err),
        }
    }

    /// `add table`.
    pub fn add_table(&mut self, table: TableId) {
        self.push(Verb::Add, Object::Table { table });
    }

    /// `add chain`, with a hook for base chains.
    pub fn add_chain(&mut self, table: TableId, name: &str, base: Option<BaseChain>) {
        let name = name.to_owned();
        self.push(Verb::Add, Object::Chain { table, name, base });
    }

    /// `flush chain` or `delete chain`.
    pub fn chain(&mut self, verb: Verb, table: TableId, name: &str) {
        let name = name.to_owned();
        self.push(
            verb,
            Object::Chain {
                table,
                name,
                base: None,
            },
        );
    }

    /// `add rule` at the end of `chain`.
    pub fn add_rule(&mut self, table: TableId, chain: &str, rule: &Rule) {
        let (chain, rule) = (chain.to_owned(), rule.clone());
        self.push(Verb::Add, Object::Rule { table, chain, rule });
    }

    /// Any verb on a set or map.
    pub fn set(&mut self, verb: Verb, table: TableId, name: &str, spec: &SetSpec) {
        let (name, spec) = (name.to_owned(), spec.clone());
        self.push(verb, Object::Set { table, name, spec });
    }

    /// `add element` (or `delete element` with `Verb::Delete`).
    pub fn element(
        &mut self,
        verb: Verb,
        table: TableId,
        set: &str,
        key: &Key,
        value: Option<&Value>,
    ) {
        self.push(
            verb,
            Object::Element {
                table,
                set: set.to_owned(),
                key: key.clone(),
                value: value.cloned(),
            },
        );
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The first validation error, if any operation was invalid.
    pub fn error(&self) -> Option<&InvalidOp> {
        self.error.as_ref()
    }
}

#[cfg(test)]
mod tests;
