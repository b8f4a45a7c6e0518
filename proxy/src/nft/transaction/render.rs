//! Rendering of transactions as `nft -f` scripts: `Display` writes one command per operation
//! (the readable form), [`Transaction::render`] merges runs of element operations on one set
//! into one command (what `nft` loads). It never validates or runs anything.

use std::fmt::{self, Write as _};
use std::time::Duration;

use super::{ChainType, Object, Op, Transaction, Verb};

/// Renders a duration the way nft reads timeouts (`10800s`).
fn render_timeout(timeout: Duration) -> String {
    format!("{}s", timeout.as_secs().max(1))
}

fn write_op(out: &mut String, op: &Op) -> fmt::Result {
    let verb = op.verb.as_str();
    match &op.object {
        Object::Table { table } => writeln!(out, "{verb} table {table}"),
        Object::Chain { table, name, base } => {
            write!(out, "{verb} chain {table} {name}")?;
            if let (Verb::Add | Verb::Create, Some(base)) = (op.verb, base) {
                let kind = match base.kind {
                    ChainType::Filter => "filter",
                    ChainType::Nat => "nat",
                };
                write!(
                    out,
                    " {{ type {kind} hook {} priority {} ; policy accept ; }}",
                    base.hook.as_str(),
                    base.priority
                )?;
            }
            out.push('\n');
            Ok(())
        }
        Object::Rule { table, chain, rule } => writeln!(out, "add rule {table} {chain} {rule}"),
        Object::Set { table, name, spec } => {
            write!(out, "{verb} {} {table} {name}", spec.keyword())?;
            if matches!(op.verb, Verb::Add | Verb::Create) {
                // `type …`, or `typeof EXPR : EXPR` naming types by the expressions that
                // produce them.
                write!(out, " {{ {}", spec.key_type)?;
                if let Some(value) = &spec.value_type {
                    write!(out, " : {value}")?;
                }
                out.push_str(" ;");
                if let Some((first, rest)) = spec.flags.split_first() {
                    write!(out, " flags {first}")?;
                    for flag in rest {
                        write!(out, ",{flag}")?;
                    }
                    out.push_str(" ;");
                }
                if let Some(timeout) = spec.timeout {
                    write!(out, " timeout {} ;", render_timeout(timeout))?;
                }
                if let Some(comment) = &spec.comment {
                    write!(out, " comment \"{comment}\" ;")?;
                }
                out.push_str(" }");
            }
            out.push('\n');
            Ok(())
        }
        Object::Element {
            table,
            set,
            key,
            value,
        } => {
            let verb = if op.verb == Verb::Delete {
                "delete"
            } else {
                verb
            };
            match (op.verb, value) {
                (Verb::Delete, _) | (_, None) => {
                    writeln!(out, "{verb} element {table} {set} {{ {key} }}")
                }
                (_, Some(value)) => {
                    writeln!(out, "{verb} element {table} {set} {{ {key} : {value} }}")
                }
            }
        }
    }
}

impl fmt::Display for Transaction {
    /// One command per operation, in order: the readable form (golden files, logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(self.ops.len() * 96);
        for op in &self.ops {
            write_op(&mut out, op)?;
        }
        f.write_str(&out)
    }
}

impl Transaction {
    /// The script piped to `nft -f -`: the same commands as `Display`, except that runs of
    /// element operations with the same verb on the same set become one command
    /// (`add element … { a : x, b : y }`), which nft loads markedly faster (30k services: 5.3 s
    /// instead of 6.9 s). Built in one buffer sized up front.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.ops.len() * 96);
        let mut i = 0;
        while i < self.ops.len() {
            let op = &self.ops[i];
            let Object::Element { table, set, .. } = &op.object else {
                // Writing into a String cannot fail.
                let _ = write_op(&mut out, op);
                i += 1;
                continue;
            };
            let run = self.ops[i..]
                .iter()
                .take_while(|next| {
                    next.verb == op.verb
                        && matches!(&next.object, Object::Element { table: t, set: s, .. }
                            if t == table && s == set)
                })
                .count();
            let _ = write!(out, "{} element {table} {set} {{ ", op.verb.as_str());
            for (n, next) in self.ops[i..i + run].iter().enumerate() {
                if let Object::Element { key, value, .. } = &next.object {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(key.as_str());
                    if let (Some(value), false) = (value, op.verb == Verb::Delete) {
                        let _ = write!(out, " : {value}");
                    }
                }
            }
            out.push_str(" }\n");
            i += run;
        }
        out
    }
}
