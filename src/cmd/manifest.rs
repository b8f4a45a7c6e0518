//! Reads manifests: files, directories (`*.yaml`, `*.yml`, `*.json`, sorted) or stdin; each may
//! hold several YAML documents, JSON, or a `kind: List`. Every object keeps where it came from so
//! errors can name it.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// One object read from a manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `file: document N` (1-based), for error messages.
    pub source: String,
    /// The object as written.
    pub value: serde_json::Value,
}

/// Reads every object from `inputs` (paths, directories or `-`).
pub fn read_all(inputs: &[String]) -> Result<Vec<Manifest>> {
    let mut out = Vec::new();
    for input in inputs {
        if input == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading manifests from stdin")?;
            out.extend(parse("<stdin>", &text)?);
            continue;
        }
        for file in expand(Path::new(input))? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            out.extend(parse(&file.display().to_string(), &text)?);
        }
    }
    Ok(out)
}

fn expand(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("listing {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Parses one file's text: YAML documents (JSON is YAML), expanding `kind: List`.
pub fn parse(name: &str, text: &str) -> Result<Vec<Manifest>> {
    let mut out = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let source = format!("{name}: document {}", index + 1);
        let value = serde_json::Value::deserialize(document)
            .map_err(|e| anyhow::anyhow!("{source}: invalid YAML: {e}"))?;
        match value {
            serde_json::Value::Null => continue,
            serde_json::Value::Object(ref map) => {
                if map
                    .get("kind")
                    .and_then(|k| k.as_str())
                    .is_some_and(|k| k.ends_with("List"))
                    && map.get("items").is_some()
                {
                    let Some(items) = map.get("items").and_then(|i| i.as_array()) else {
                        bail!("{source}: `items` of a List must be an array");
                    };
                    for (i, item) in items.iter().enumerate() {
                        out.push(Manifest {
                            source: format!("{source} item {}", i + 1),
                            value: item.clone(),
                        });
                    }
                } else {
                    out.push(Manifest { source, value });
                }
            }
            other => bail!("{source}: expected an object with apiVersion and kind, got {other}"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_and_lists() -> Result<()> {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n---\n\
                    apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: p}}\n";
        let got = parse("f.yaml", text)?;
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].value["kind"], "Pod");
        assert!(
            got[1].source.contains("document 3 item 1"),
            "{}",
            got[1].source
        );
        Ok(())
    }

    #[test]
    fn malformed_yaml_names_document_and_position() {
        let err = parse("bad.yaml", "kind: Service\n---\nmetadata: [unclosed\n").err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("bad.yaml: document 2: invalid YAML"),
            "{text}"
        );
    }

    #[test]
    fn scalar_document_is_rejected() {
        assert!(parse("x.yaml", "just a string\n").is_err());
    }
}
