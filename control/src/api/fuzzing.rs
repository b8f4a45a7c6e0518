//! Entry points for the fuzz targets (`control/fuzz/`) and their corpus replay tests: each
//! feeds untrusted bytes to one decoder of the API exactly as a request would and throws the
//! result away. A panic, a hang or an unbounded allocation is the bug being looked for; every
//! error is an ordinary answer.

use serde_json::Value;

use super::body;
use super::patch::{self, PatchType};
use super::query::{FieldSelector, FieldValidation};
use crate::object::Kind;
use crate::selector::Selector;

/// The media types a body may arrive with.
const MEDIA_TYPES: [&str; 5] = [
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "",
    "text/plain",
];

/// Decodes `data` as a request body: the first byte picks the kind and media type, the rest is
/// the body; a parsed body is then decoded into the kind's type with strict field validation.
pub fn decode_body(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let kind = Kind::ALL[usize::from(pick) % Kind::ALL.len()];
    let media = MEDIA_TYPES[usize::from(pick >> 4) % MEDIA_TYPES.len()];
    if let Ok(parsed) = body::parse_tracked(media, rest) {
        let _ = body::decode(kind, parsed, FieldValidation::Strict);
    }
}

/// Applies a patch: the first byte picks the kind and patch type; the rest is split at the first
/// NUL into the stored document (JSON; an empty object when it does not parse) and the patch.
pub fn apply_patch(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let kind = Kind::ALL[usize::from(pick) % Kind::ALL.len()];
    let patch_type = match (pick >> 4) % 3 {
        0 => PatchType::Json,
        1 => PatchType::Merge,
        _ => PatchType::Strategic,
    };
    let (doc, patch_body) = match rest.iter().position(|b| *b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&b"{}"[..], rest),
    };
    let doc: Value =
        serde_json::from_slice(doc).unwrap_or_else(|_| Value::Object(Default::default()));
    if let Ok((patch, _)) = patch::Patch::parse(patch_type, patch_body) {
        let _ = patch.apply(kind, doc);
    }
}

/// Parses `data` as a label selector (`app=web,tier in (a,b)`) and matches it once.
pub fn label_selector(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(selector) = Selector::parse(text) {
        let labels = [("app".to_string(), "web".to_string())]
            .into_iter()
            .collect();
        let _ = selector.matches(&labels);
    }
}

/// Parses `data` as a field selector (`metadata.name=x,spec.nodeName!=n1`).
pub fn field_selector(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = FieldSelector::parse(text);
    }
}
