//! A strict reader of the Prometheus text exposition format (version 0.0.4), for tests that
//! check a `/metrics` body is well-formed and read values back out of it.

use std::collections::HashSet;

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's metric name (with `_bucket`/`_sum`/`_count` for histogram parts).
    pub name: String,
    /// Label pairs in the order written, values unescaped.
    pub labels: Vec<(String, String)>,
    /// The sample value.
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, if present.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `text` strictly: every family is announced once by `# HELP` then `# TYPE`, every
/// sample belongs to the family announced last, names and labels are well-formed, values
/// parse as numbers, no series appears twice and the text ends with a newline.
///
/// # Errors
/// The first malformed line, with its line number.
pub fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the exposition does not end with a newline".into());
    }
    let mut families = HashSet::new();
    let mut family: Option<(String, String)> = None;
    let mut series = HashSet::new();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = |why: String| format!("line {}: {why}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            check_name(name).map_err(at)?;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap_or_default().to_string();
            let kind = parts.next().unwrap_or_default().to_string();
            check_name(&name).map_err(at)?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind.as_str()) {
                return Err(at(format!("unknown type {kind:?}")));
            }
            if !families.insert(name.clone()) {
                return Err(at(format!("family {name} announced twice")));
            }
            family = Some((name, kind));
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let sample = parse_sample(line).map_err(at)?;
        let Some((fname, kind)) = &family else {
            return Err(at("a sample before any # TYPE line".into()));
        };
        let belongs = match kind.as_str() {
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| sample.name == format!("{fname}{s}")),
            _ => &sample.name == fname,
        };
        if !belongs {
            return Err(at(format!("sample outside its family {fname}")));
        }
        let mut key = sample.labels.clone();
        key.sort();
        if !series.insert((sample.name.clone(), key)) {
            return Err(at("a series written twice".into()));
        }
        samples.push(sample);
    }
    Ok(samples)
}

/// The value of the one sample named `name` whose labels include every pair of `labels`.
pub fn value_of(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .map(|s| s.value)
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        rest = body;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = rest.split_once("=\"").ok_or("label without =\"")?;
            check_name(key)?;
            let (value, after) = label_value(after)?;
            labels.push((key.to_string(), value));
            rest = match after.strip_prefix(',') {
                Some(next) => next,
                None if after.starts_with('}') => after,
                None => return Err("labels not separated by ','".into()),
            };
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    Ok(Sample {
        name: name.to_string(),
        labels,
        value: parse_value(value)?,
    })
}

/// Reads an escaped label value up to its closing quote; returns it and the text after.
fn label_value(text: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, c @ ('\\' | '"'))) => value.push(c),
                _ => return Err("bad escape in a label value".into()),
            },
            c => value.push(c),
        }
    }
    Err("unterminated label value".into())
}

fn parse_value(value: &str) -> Result<f64, String> {
    let number = value.split(' ').next().unwrap_or_default();
    match number {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        n => n.parse().map_err(|_| format!("bad value {n:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_families_labels_and_escapes() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\n\
                    a_total{x=\"1\",y=\"q\\\"\\\\\\n\"} 3\n\
                    # HELP h H.\n# TYPE h histogram\n\
                    h_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.75\nh_count 2\n";
        let samples = parse_exposition(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(samples.len(), 5);
        assert_eq!(samples[0].label("y"), Some("q\"\\\n"));
        assert_eq!(value_of(&samples, "a_total", &[("x", "1")]), Some(3.0));
        assert_eq!(value_of(&samples, "h_bucket", &[("le", "+Inf")]), Some(2.0));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "x 1\n",
            "# TYPE x gauge\ny 1\n",
            "# TYPE x gauge\nx{a=1} 1\n",
            "# TYPE x gauge\nx 1\nx 2\n",
            "# TYPE x gauge\nx one\n",
            "# TYPE x gauge\n# TYPE x gauge\n",
            "# TYPE x gauge\nx 1",
        ] {
            assert!(parse_exposition(bad).is_err(), "{bad:?}");
        }
    }
}
