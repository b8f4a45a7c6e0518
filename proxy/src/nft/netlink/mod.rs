//! Applying a [`Transaction`] through nf_tables netlink directly, without `nft`.
//!
//! Why: before running even a one-element change, `nft` 1.0.6 lists every chain and set of
//! every table into its cache, and the kernel's chain dump restarts its walk for each batch it
//! returns. At 10k services that is ~20 ms of the ~22 ms a one-service sync costs; a netlink
//! batch built from the operations themselves costs about as much as the change.
//!
//! Scope: every operation the syncs emit — tables (add, delete), chains (add with or without
//! a hook, flush, delete), rules (any [`crate::nft::ast::Rule`] the generator builds, see
//! [`expr`]), sets and maps ([`sets`]: add, flush, delete) and their elements ([`elements`]:
//! add, delete) — encoded from the typed values, never from text. [`encode`] answers
//! [`Unsupported`] only for what switchyard never emits (verbs like `create`, address compares
//! with prefixes that are not byte-aligned, endpoint maps with other flags) and for batches too
//! large for the socket; the runner then uses `nft -f` for that transaction. Both paths produce
//! the same kernel objects, which `tests/nft_kernel.rs` checks by listing both with `nft`, for
//! incremental and for full syncs.
//!
//! The batch is one atomic nf_tables transaction, exactly like `nft -f`: the kernel applies
//! all of it or, on the first error, none.

mod elements;
mod expr;
mod sets;
mod socket;
mod wire;

use super::error::{Refusal, SyncError};
use super::transaction::{BaseChain, ChainType, Hook, Object, Op, TableId, Transaction, Verb};
use wire::{Attrs, Batch, F_APPEND, F_CREATE, MsgType};

pub use socket::NetlinkSocket;

/// Batches larger than this go through `nft` (a full sync of 10k services is ~25 MB).
const MAX_BATCH_BYTES: usize = 512 * 1024 * 1024;

/// The most elements one message carries: an element list is one netlink attribute, whose
/// length is 16 bits.
const MAX_ELEMENTS_PER_MESSAGE: usize = 512;

/// Why a transaction cannot go through netlink (it then goes through `nft`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(String);

impl Unsupported {
    fn new(reason: impl Into<String>) -> Unsupported {
        Unsupported(reason.into())
    }
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A transaction encoded as one nf_tables batch, with the operations it came from (for
/// error messages).
#[derive(Debug, Clone)]
pub struct Encoded<'t> {
    batch: Batch,
    ops: &'t [Op],
}

impl Encoded<'_> {
    /// Number of nf_tables messages.
    pub fn messages(&self) -> usize {
        self.batch.messages()
    }
}

fn table_attr(attrs: &mut Attrs, kind: u16, table: TableId) {
    attrs.str(kind, &table.name());
}

fn named(table: TableId, kind: u16, name: &str) -> Attrs {
    let mut attrs = Attrs::default();
    table_attr(&mut attrs, 1, table);
    attrs.str(kind, name);
    attrs
}

/// Encodes `tx` as one batch whose sequence numbers start at `seq` (see
/// [`NetlinkSocket::next_seq`]), or says why it cannot be.
pub fn encode(tx: &Transaction, seq: u32) -> Result<Encoded<'_>, Unsupported> {
    let mut batch = Batch::new(seq);
    let mut set_id = 1u32;
    let mut i = 0;
    let ops = tx.ops();
    while i < ops.len() {
        let op = &ops[i];
        let table = op.object.table();
        let family = expr::nfproto(table.family);
        match (&op.object, op.verb) {
            (Object::Table { .. }, Verb::Add) => {
                let mut attrs = Attrs::default();
                table_attr(&mut attrs, 1, table);
                batch.push(MsgType::NewTable, F_CREATE, family, attrs);
            }
            (
                Object::Chain {
                    name, base: None, ..
                },
                Verb::Add,
            ) => {
                batch.push(MsgType::NewChain, F_CREATE, family, named(table, 3, name));
            }
            (
                Object::Chain {
                    name,
                    base: Some(base),
                    ..
                },
                Verb::Add,
            ) => {
                let mut attrs = named(table, 3, name);
                base_chain(&mut attrs, base);
                batch.push(MsgType::NewChain, F_CREATE, family, attrs);
            }
            (Object::Table { .. }, Verb::Delete) => {
                let mut attrs = Attrs::default();
                table_attr(&mut attrs, 1, table);
                batch.push(MsgType::DelTable, 0, family, attrs);
            }
            (Object::Chain { name, .. }, Verb::Flush) => {
                batch.push(MsgType::DelRule, 0, family, named(table, 2, name));
            }
            (
                Object::Chain {
                    name, base: None, ..
                },
                Verb::Delete,
            ) => {
                batch.push(MsgType::DelChain, 0, family, named(table, 3, name));
            }
            (Object::Rule { chain, rule, .. }, Verb::Add) => {
                let (exprs, userdata) = expr::encode_rule(table.family, rule)?;
                let mut attrs = named(table, 2, chain);
                let exprs = exprs.into_bytes();
                attrs.nest(4, |list| {
                    list.raw(&exprs);
                });
                if let Some(userdata) = userdata {
                    attrs.bytes(7, &userdata);
                }
                batch.push(MsgType::NewRule, F_CREATE | F_APPEND, family, attrs);
            }
            (Object::Set { name, spec, .. }, Verb::Add) => {
                let attrs = sets::message(table, name, spec, set_id)?;
                set_id += 1;
                batch.push(MsgType::NewSet, F_CREATE, family, attrs);
            }
            (Object::Set { name, .. }, Verb::Delete) => {
                batch.push(MsgType::DelSet, 0, family, named(table, 2, name));
            }
            (Object::Set { name, .. }, Verb::Flush) => {
                batch.push(MsgType::DelSetElem, 0, family, named(table, 2, name));
            }
            (Object::Element { set, .. }, Verb::Add | Verb::Delete) => {
                // A run of element operations on one set with one verb is one message.
                let run = element_run(&ops[i..]);
                let attrs = elements::message(table, set, &ops[i..i + run])?;
                let kind = if op.verb == Verb::Add {
                    MsgType::NewSetElem
                } else {
                    MsgType::DelSetElem
                };
                let flags = if op.verb == Verb::Add { F_CREATE } else { 0 };
                batch.push(kind, flags, family, attrs);
                i += run;
                continue;
            }
            (object, verb) => {
                return Err(Unsupported::new(format!("{verb:?} of {object:?}")));
            }
        }
        i += 1;
    }
    if batch.size() > MAX_BATCH_BYTES {
        return Err(Unsupported::new(
            "batch larger than the netlink socket buffer",
        ));
    }
    Ok(Encoded { batch, ops })
}

/// Sends `encoded` on `socket` and waits for the kernel's verdict on the whole batch.
///
/// # Errors
/// [`SyncError::Refused`] naming the first refused operation (nothing was applied), or
/// [`SyncError::Spawn`] when the socket failed.
pub fn apply(socket: &NetlinkSocket, encoded: Encoded<'_>) -> Result<(), SyncError> {
    let first = encoded.batch.first_seq();
    let (bytes, next) = encoded.batch.finish();
    let errors = socket.transact(&bytes, next)?;
    let Some((seq, errno)) = errors.first() else {
        return Ok(());
    };
    // Sequence numbers: `first` is the batch begin, then one per message. Messages built from
    // a run of elements stand for several operations; name the first of the run.
    let index = seq.wrapping_sub(first).wrapping_sub(1) as usize;
    let what = describe(encoded.ops, index);
    let kind = match *errno {
        libc::ENOENT => Refusal::NotFound,
        libc::EEXIST => Refusal::Exists,
        libc::EBUSY => Refusal::Busy,
        _ => Refusal::Other,
    };
    Err(SyncError::Refused {
        kind,
        message: format!(
            "netlink: {} (errno {errno}) at message {index} ({what})",
            std::io::Error::from_raw_os_error(*errno)
        ),
    })
}

/// How many operations from the start of `ops` are element operations with the first one's
/// verb, set and table: they travel as one message. Zero when the first is no element.
fn element_run(ops: &[Op]) -> usize {
    let Some(Op {
        verb,
        object: Object::Element { set, table, .. },
    }) = ops.first()
    else {
        return 0;
    };
    ops.iter()
        .take(MAX_ELEMENTS_PER_MESSAGE)
        .take_while(|next| {
            next.verb == *verb
                && matches!(&next.object, Object::Element { set: s, table: t, .. }
                    if s == set && t == table)
        })
        .count()
}

/// `NFTA_CHAIN_HOOK`, `NFTA_CHAIN_POLICY` (accept) and `NFTA_CHAIN_TYPE` of a base chain.
fn base_chain(attrs: &mut Attrs, base: &BaseChain) {
    let hook = match base.hook {
        Hook::Prerouting => 0,
        Hook::Input => 1,
        Hook::Forward => 2,
        Hook::Output => 3,
        Hook::Postrouting => 4,
    };
    attrs.nest(4, |h| {
        // The priority is a signed 32-bit number on the wire.
        h.be32(1, hook).be32(2, base.priority as u32);
    });
    attrs.be32(5, 1);
    attrs.str(
        7,
        match base.kind {
            ChainType::Filter => "filter",
            ChainType::Nat => "nat",
        },
    );
}

/// A readable name for the operation behind message `index` (element runs count once).
fn describe(ops: &[Op], index: usize) -> String {
    let mut message = 0;
    let mut i = 0;
    while i < ops.len() {
        let op = &ops[i];
        let run = element_run(&ops[i..]).max(1);
        if message == index {
            let mut single = Transaction::new();
            single.push(op.verb, op.object.clone());
            return single.to_string().trim().to_owned();
        }
        message += 1;
        i += run;
    }
    "batch".into()
}

#[cfg(test)]
mod tests;
