//! nft rules, set types and elements as typed values: the rule generator builds them, `Display`
//! prints them exactly as `nft -f` reads them (golden files, logs, the `nft` fallback), and the
//! netlink encoder turns them into nf_tables expressions and attributes directly. Text is only
//! ever written from these types, never parsed back into them, so a new rule shape is taught
//! here and in the encoder, nowhere else.
//!
//! This module only describes; it never validates names (that is the transaction's job), runs
//! or encodes anything.

mod element;
mod rule;
mod set;

use std::fmt;

pub use element::{Key, KeyData, Part, Value};
pub use rule::{FibAddr, NumgenMode, Rule, Selector, Stmt};
pub use set::{DataType, KeyType, SetFlag, ValueType};

/// A verdict: the end of a rule, or the value of a verdict-map element.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// `accept`.
    Accept,
    /// `drop`.
    Drop,
    /// `return`.
    Return,
    /// `jump CHAIN`: continue in CHAIN, then come back.
    Jump(String),
    /// `goto CHAIN`: continue in CHAIN without coming back.
    Goto(String),
}

impl Verdict {
    /// The chain a jump or goto names.
    pub fn chain(&self) -> Option<&str> {
        match self {
            Verdict::Jump(chain) | Verdict::Goto(chain) => Some(chain),
            Verdict::Accept | Verdict::Drop | Verdict::Return => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Accept => f.write_str("accept"),
            Verdict::Drop => f.write_str("drop"),
            Verdict::Return => f.write_str("return"),
            Verdict::Jump(chain) => write!(f, "jump {chain}"),
            Verdict::Goto(chain) => write!(f, "goto {chain}"),
        }
    }
}

#[cfg(test)]
mod tests;
