//! Label selectors: the `labelSelector=` query syntax (`a=b,c!=d,e in (x,y),!f,g`), a Service's
//! `spec.selector` map, and `metav1.LabelSelector` (`matchLabels` + `matchExpressions` with
//! `In`, `NotIn`, `Exists`, `DoesNotExist`), all compiled to one matcher.
//!
//! Keys and values are validated as Kubernetes validates labels; [`Selector`]'s `Display` renders
//! the query syntax back (requirements sorted by key, set values sorted), so
//! `Selector::parse(&s.to_string()) == Ok(s)`. This module only matches labels; it never looks
//! anything up.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub use crate::admission::names::{validate_label_key, validate_label_value};

/// A parse or validation failure, naming the offending part of the selector.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid label selector {selector:?}: {reason}")]
pub struct SelectorError {
    /// The selector text (or a rendering of the structured selector).
    pub selector: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A compiled label selector. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` / `key==value`: the label is present with this value.
    Equals(String, String),
    /// `key!=value`: the label is absent or has another value.
    NotEquals(String, String),
    /// `key in (a,b)`: the label is present with one of the values.
    In(String, BTreeSet<String>),
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn(String, BTreeSet<String>),
    /// `key`: the label is present.
    Exists(String),
    /// `!key`: the label is absent.
    DoesNotExist(String),
}

impl Requirement {
    /// The label key the requirement is about.
    pub fn key(&self) -> &str {
        match self {
            Requirement::Equals(k, _)
            | Requirement::NotEquals(k, _)
            | Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k) => k,
        }
    }

    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }

    /// Checks the key and every value.
    fn validate(&self) -> Result<(), String> {
        let key = self.key();
        validate_label_key(key).map_err(|why| format!("key {key:?}: {why}"))?;
        let check = |v: &String| {
            validate_label_value(v).map_err(|why| format!("value {v:?} for key {key:?}: {why}"))
        };
        match self {
            Requirement::Equals(_, v) | Requirement::NotEquals(_, v) => check(v),
            Requirement::In(_, vs) | Requirement::NotIn(_, vs) => {
                if vs.is_empty() {
                    return Err(format!(
                        "key {key:?}: for 'in', 'notin' operators, values set can't be empty"
                    ));
                }
                vs.iter().try_for_each(check)
            }
            Requirement::Exists(_) | Requirement::DoesNotExist(_) => Ok(()),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |vs: &BTreeSet<String>| vs.iter().cloned().collect::<Vec<_>>().join(",");
        match self {
            Requirement::Equals(k, v) => write!(f, "{k}={v}"),
            Requirement::NotEquals(k, v) => write!(f, "{k}!={v}"),
            Requirement::In(k, vs) => write!(f, "{k} in ({})", join(vs)),
            Requirement::NotIn(k, vs) => write!(f, "{k} notin ({})", join(vs)),
            Requirement::Exists(k) => write!(f, "{k}"),
            Requirement::DoesNotExist(k) => write!(f, "!{k}"),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// A token of the query syntax.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Comma,
    Eq,
    DoubleEq,
    NotEq,
    Bang,
    Open,
    Close,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => write!(f, "{w:?}"),
            Token::Comma => f.write_str("','"),
            Token::Eq => f.write_str("'='"),
            Token::DoubleEq => f.write_str("'=='"),
            Token::NotEq => f.write_str("'!='"),
            Token::Bang => f.write_str("'!'"),
            Token::Open => f.write_str("'('"),
            Token::Close => f.write_str("')'"),
        }
    }
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            ',' => tokens.push(Token::Comma),
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '=' => {
                if chars.peek() == Some(&'=') {
                    chars.next();
                    tokens.push(Token::DoubleEq);
                } else {
                    tokens.push(Token::Eq);
                }
            }
            '!' => {
                if chars.peek() == Some(&'=') {
                    chars.next();
                    tokens.push(Token::NotEq);
                } else {
                    tokens.push(Token::Bang);
                }
            }
            c => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, ',' | '(' | ')' | '=' | '!') {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    tokens
}

/// A recursive-descent parser over the token list.
struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn key(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Word(w)) => Ok(w),
            Some(t) => Err(format!("expected a label key, found {t}")),
            None => Err("expected a label key, found the end".to_string()),
        }
    }

    /// A single value after `=`, `==` or `!=`; absent (end or `,`) means the empty value.
    fn value(&mut self) -> Result<String, String> {
        match self.peek() {
            None | Some(Token::Comma) => Ok(String::new()),
            Some(Token::Word(_)) => match self.next() {
                Some(Token::Word(w)) => Ok(w),
                _ => Err("expected a value".to_string()),
            },
            Some(t) => Err(format!("expected a value, found {t}")),
        }
    }

    /// `( v1, v2 )`; empty values between commas are the empty string, and `()` is the set
    /// holding only the empty value (as Kubernetes reads it).
    fn values(&mut self, key: &str) -> Result<BTreeSet<String>, String> {
        match self.next() {
            Some(Token::Open) => {}
            Some(t) => {
                return Err(format!(
                    "key {key:?}: expected '(' after operator, found {t}"
                ));
            }
            None => return Err(format!("key {key:?}: expected '(' after operator")),
        }
        let mut values = BTreeSet::new();
        loop {
            let value = match self.peek() {
                Some(Token::Word(_)) => match self.next() {
                    Some(Token::Word(w)) => w,
                    _ => String::new(),
                },
                Some(Token::Comma | Token::Close) => String::new(),
                Some(t) => return Err(format!("key {key:?}: expected a value, found {t}")),
                None => return Err(format!("key {key:?}: missing ')'")),
            };
            values.insert(value);
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::Close) => return Ok(values),
                Some(t) => return Err(format!("key {key:?}: expected ',' or ')', found {t}")),
                None => return Err(format!("key {key:?}: missing ')'")),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        if self.peek() == Some(&Token::Bang) {
            self.next();
            let key = self.key()?;
            return Ok(Requirement::DoesNotExist(key));
        }
        let key = self.key()?;
        match self.peek() {
            None | Some(Token::Comma) => Ok(Requirement::Exists(key)),
            Some(Token::Eq | Token::DoubleEq) => {
                self.next();
                Ok(Requirement::Equals(key, self.value()?))
            }
            Some(Token::NotEq) => {
                self.next();
                Ok(Requirement::NotEquals(key, self.value()?))
            }
            Some(Token::Word(w)) if w == "in" => {
                self.next();
                let values = self.values(&key)?;
                Ok(Requirement::In(key, values))
            }
            Some(Token::Word(w)) if w == "notin" => {
                self.next();
                let values = self.values(&key)?;
                Ok(Requirement::NotIn(key, values))
            }
            Some(t) => Err(format!(
                "key {key:?}: expected an operator (=, ==, !=, in, notin), found {t}"
            )),
        }
    }
}

impl Selector {
    /// The selector that matches every object.
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// A selector of the given requirements, validated and sorted by key.
    pub fn from_requirements(requirements: Vec<Requirement>) -> Result<Selector, SelectorError> {
        let selector = Selector::sorted(requirements);
        for r in &selector.requirements {
            r.validate().map_err(|reason| SelectorError {
                selector: selector.to_string(),
                reason,
            })?;
        }
        Ok(selector)
    }

    fn sorted(mut requirements: Vec<Requirement>) -> Selector {
        requirements.sort_by(|a, b| a.key().cmp(b.key()));
        Selector { requirements }
    }

    /// Parses the `labelSelector=` query syntax: comma-separated `a=b`, `a==b`, `a!=b`,
    /// `a in (x,y)`, `a notin (x)`, `a`, `!a`; whitespace around tokens is ignored.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let fail = |reason: String| SelectorError {
            selector: text.to_string(),
            reason,
        };
        let mut parser = Parser {
            tokens: tokenize(text),
            pos: 0,
        };
        let mut requirements = Vec::new();
        if parser.tokens.is_empty() {
            return Ok(Selector::everything());
        }
        loop {
            let requirement = parser.requirement().map_err(fail)?;
            requirement.validate().map_err(fail)?;
            requirements.push(requirement);
            match parser.next() {
                None => break,
                Some(Token::Comma) => {}
                Some(t) => return Err(fail(format!("expected ',' or the end, found {t}"))),
            }
        }
        Ok(Selector::sorted(requirements))
    }

    /// A Service's `spec.selector`: every key must equal its value. Keys and values are taken as
    /// given (admission validated them when the Service was written).
    pub fn from_map(map: &BTreeMap<String, String>) -> Selector {
        Selector::sorted(
            map.iter()
                .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
                .collect(),
        )
    }

    /// A structured `metav1.LabelSelector`: `matchLabels` become equalities; `matchExpressions`
    /// need values for `In`/`NotIn` and none for `Exists`/`DoesNotExist`.
    pub fn from_label_selector(selector: &LabelSelector) -> Result<Selector, SelectorError> {
        let rendered = || serde_json::to_string(selector).unwrap_or_default();
        let fail = |reason: String| SelectorError {
            selector: rendered(),
            reason,
        };
        let mut requirements = Vec::new();
        for (k, v) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::Equals(k.clone(), v.clone()));
        }
        for (i, expr) in selector.match_expressions.iter().flatten().enumerate() {
            let key = expr.key.clone();
            let values = expr.values.clone().unwrap_or_default();
            let field = format!("matchExpressions[{i}]");
            let requirement = match expr.operator.as_str() {
                "In" | "NotIn" => {
                    if values.is_empty() {
                        return Err(fail(format!(
                            "{field}.values: must be specified when `operator` is 'In' or 'NotIn'"
                        )));
                    }
                    let set: BTreeSet<String> = values.into_iter().collect();
                    if expr.operator == "In" {
                        Requirement::In(key, set)
                    } else {
                        Requirement::NotIn(key, set)
                    }
                }
                "Exists" | "DoesNotExist" => {
                    if !values.is_empty() {
                        return Err(fail(format!(
                            "{field}.values: may not be specified when `operator` is 'Exists' \
                             or 'DoesNotExist'"
                        )));
                    }
                    if expr.operator == "Exists" {
                        Requirement::Exists(key)
                    } else {
                        Requirement::DoesNotExist(key)
                    }
                }
                other => {
                    return Err(fail(format!(
                        "{field}.operator: not a valid selector operator {other:?} (supported: \
                         In, NotIn, Exists, DoesNotExist)"
                    )));
                }
            };
            requirements.push(requirement);
        }
        for r in &requirements {
            r.validate().map_err(fail)?;
        }
        Ok(Selector::sorted(requirements))
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether the selector has no requirements (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

#[cfg(test)]
mod tests;
