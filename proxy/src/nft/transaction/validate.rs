//! Validation of single operations, run when they are appended to a transaction: names nft
//! can parse unquoted and within the kernel's length limit, verbs that apply to the object,
//! one-line rule text. It never renders or runs anything.

use super::{InvalidOp, MAX_NAME_LEN, Object, Verb};

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
            validate_text("key type", &spec.key_type)?;
            if let Some(value) = &spec.value_type {
                validate_text("value type", value)?;
            }
            Ok(())
        }
        Object::Rule { chain, rule, .. } => {
            if verb != Verb::Add {
                return Err(bad_verb("rule"));
            }
            validate_name("chain", chain)?;
            validate_text("rule", rule)
        }
        Object::Element {
            set, key, value, ..
        } => {
            if verb == Verb::Flush {
                return Err(bad_verb("element"));
            }
            validate_name("set", set)?;
            validate_text("key", key)?;
            match value {
                Some(value) => validate_text("value", value),
                None => Ok(()),
            }
        }
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

fn validate_text(field: &'static str, text: &str) -> Result<(), InvalidOp> {
    let fail = |reason| {
        Err(InvalidOp::Text {
            field,
            text: text.to_owned(),
            reason,
        })
    };
    if text.trim().is_empty() {
        return fail("empty");
    }
    if text.contains(['\n', '\r', ';', '#']) {
        return fail("must be one statement on one line");
    }
    Ok(())
}
