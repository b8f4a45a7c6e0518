//! Validation of single operations, run when they are appended to a transaction: names nft
//! can parse unquoted and within the kernel's length limit, verbs that apply to the object,
//! rules, set types and elements nft and the kernel accept (a rule's addresses in the table's
//! family, comments on one line without quotes). It never renders or runs anything.

use super::{InvalidOp, MAX_NAME_LEN, Object, SetSpec, TableId, Verb};
use crate::nft::ast::{Key, KeyData, KeyType, Rule, Stmt, Value, ValueType};

/// Longest rule comment: the kernel stores it with its NUL in a record of at most 255 bytes.
pub(super) const MAX_COMMENT_LEN: usize = 254;

pub(super) fn validate(verb: Verb, object: &Object) -> Result<(), InvalidOp> {
    let bad_verb = |kind| InvalidOp::Verb {
        verb: verb.as_str(),
        kind,
    };
    match object {
        Object::Table { .. } => Ok(()),
        Object::Chain { name, .. } => validate_name("chain", name),
        Object::Set { name, spec, .. } => {
            validate_name(spec.keyword(), name)?;
            validate_set_types(spec)
        }
        Object::Rule { table, chain, rule } => {
            if verb != Verb::Add {
                return Err(bad_verb("rule"));
            }
            validate_name("chain", chain)?;
            validate_rule(*table, rule)
        }
        Object::Element {
            set, key, value, ..
        } => {
            if verb == Verb::Flush {
                return Err(bad_verb("element"));
            }
            validate_name("set", set)?;
            validate_key(key)?;
            match value {
                Some(value) => validate_value(value),
                None => Ok(()),
            }
        }
    }
}

fn invalid(field: &'static str, text: impl ToString, reason: &'static str) -> InvalidOp {
    InvalidOp::Text {
        field,
        text: text.to_string(),
        reason,
    }
}

fn validate_set_types(spec: &SetSpec) -> Result<(), InvalidOp> {
    let consistent = match (&spec.key_type, &spec.value_type) {
        (KeyType::Type(types), None | Some(ValueType::Verdict)) => !types.is_empty(),
        (KeyType::NumgenRandom { modulus }, Some(ValueType::DaddrDport { .. })) => *modulus > 0,
        _ => false,
    };
    if !consistent {
        let types = match &spec.value_type {
            Some(value) => format!("{} : {value}", spec.key_type),
            None => spec.key_type.to_string(),
        };
        return Err(invalid(
            "set type",
            types,
            "needs key types, or a typeof numgen key with an address and port value",
        ));
    }
    Ok(())
}

fn validate_rule(table: TableId, rule: &Rule) -> Result<(), InvalidOp> {
    if rule.stmts.is_empty() {
        return Err(invalid("rule", rule, "empty"));
    }
    if rule.families().any(|family| family != table.family) {
        return Err(invalid("rule", rule, "names addresses of the other family"));
    }
    for stmt in &rule.stmts {
        match stmt {
            Stmt::Lookup { keys, .. } | Stmt::Vmap { keys, .. } if keys.is_empty() => {
                return Err(invalid("rule", rule, "a lookup without selectors"));
            }
            Stmt::Numgen { modulus, value, .. } if *value >= *modulus => {
                return Err(invalid("rule", rule, "numgen value not below its modulus"));
            }
            Stmt::DnatMap { modulus: 0, .. } => {
                return Err(invalid("rule", rule, "numgen modulus 0"));
            }
            _ => {}
        }
    }
    for chain in rule.chains() {
        validate_name("chain", chain)?;
    }
    for set in rule.sets() {
        validate_name("set", set)?;
    }
    if let Some(comment) = &rule.comment {
        if comment.len() > MAX_COMMENT_LEN {
            return Err(invalid("comment", comment, "longer than 254 bytes"));
        }
        if comment.contains(|c: char| c == '"' || c.is_control()) {
            return Err(invalid(
                "comment",
                comment,
                "must be one line without double quotes",
            ));
        }
    }
    Ok(())
}

fn validate_key(key: &Key) -> Result<(), InvalidOp> {
    match key.data() {
        KeyData::Concat(parts) if parts.is_empty() => Err(invalid("key", key, "empty")),
        KeyData::Range { start, end } if start > end => {
            Err(invalid("key", key, "range ends before it starts"))
        }
        _ => Ok(()),
    }
}

fn validate_value(value: &Value) -> Result<(), InvalidOp> {
    match value {
        Value::Data(parts) if parts.is_empty() => Err(invalid("value", value, "empty")),
        _ => value
            .chain()
            .map_or(Ok(()), |chain| validate_name("chain", chain)),
    }
}

fn validate_name(kind: &'static str, name: &str) -> Result<(), InvalidOp> {
    let fail = |reason| {
        Err(InvalidOp::Name {
            kind,
            name: name.to_owned(),
            reason,
        })
    };
    let Some(first) = name.chars().next() else {
        return fail("empty");
    };
    if name.len() > MAX_NAME_LEN {
        return fail("longer than 200 bytes");
    }
    if !(first.is_ascii_alphabetic() || first == '_') {
        return fail("must start with a letter or '_'");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    {
        return fail("only letters, digits and '-', '_', '.', '/' are allowed");
    }
    Ok(())
}
