//! `switchyard get`: asks the server for a `meta.k8s.io/v1 Table` (the same columns `kubectl get`
//! shows) and prints it aligned; `-o yaml|json|name` print the objects themselves.

use anyhow::{Result, anyhow, bail};
use control::Kind;
use http::Method;
use serde_json::Value;

use super::api;
use crate::cli::{GetArgs, OutputFormat};

/// The Accept header that asks for a server-side Table, falling back to plain JSON.
const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/// Runs `get`.
pub async fn run(args: GetArgs) -> Result<()> {
    let kind = Kind::parse(&args.kind)
        .ok_or_else(|| anyhow!("the server doesn't have a resource type {:?}", args.kind))?;
    if args.all_namespaces && args.name.is_some() {
        bail!("a name cannot be combined with --all-namespaces");
    }
    let namespace = match (kind.namespaced(), args.all_namespaces) {
        (false, _) | (true, true) => None,
        (true, false) => Some(args.namespace.clone().unwrap_or_else(|| "default".into())),
    };
    let mut path = match &args.name {
        Some(name) => kind.object_path(namespace.as_deref(), name),
        None => kind.collection_path(namespace.as_deref()),
    };
    if let Some(selector) = &args.selector {
        path.push_str(&format!("?labelSelector={}", encode(selector)));
    }
    let client = api::client(&args.server).await?;
    let table_wanted = matches!(args.output, None | Some(OutputFormat::Wide));
    let accept = table_wanted.then_some(TABLE_ACCEPT);
    let answer = api::send(&client, Method::GET, &path, None, accept)
        .await
        .map_err(api::describe)?;
    match args.output {
        None | Some(OutputFormat::Wide) => {
            let wide = args.output == Some(OutputFormat::Wide);
            let text = render_table(&answer, wide, args.all_namespaces && kind.namespaced());
            match text {
                Some(text) => print!("{text}"),
                None => eprintln!("{}", no_resources(namespace.as_deref())),
            }
        }
        Some(OutputFormat::Json) => println!(
            "{}",
            serde_json::to_string_pretty(&for_output(answer, kind))?
        ),
        Some(OutputFormat::Yaml) => print!("{}", serde_yaml::to_string(&for_output(answer, kind))?),
        Some(OutputFormat::Name) => {
            for item in items(&answer) {
                let name = item
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                println!("{}/{name}", kind.singular());
            }
        }
    }
    Ok(())
}

fn no_resources(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("No resources found in {ns} namespace."),
        None => "No resources found".to_string(),
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn items(answer: &Value) -> Vec<&Value> {
    match answer.get("items").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None => vec![answer],
    }
}

/// A list becomes a `v1 List` whose items carry apiVersion and kind, as kubectl prints it.
fn for_output(answer: Value, kind: Kind) -> Value {
    let Some(items) = answer.get("items").and_then(Value::as_array) else {
        return answer;
    };
    let items: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut item = item.clone();
            if let Some(map) = item.as_object_mut() {
                map.insert("apiVersion".into(), kind.api_version().into());
                map.insert("kind".into(), kind.name().into());
            }
            item
        })
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}})
}

/// Renders a Table (or, from a server without Tables, NAME/AGE-less names) as aligned text.
/// `None` when there are no rows.
pub fn render_table(answer: &Value, wide: bool, with_namespace: bool) -> Option<String> {
    if answer.get("kind").and_then(Value::as_str) != Some("Table") {
        let names: Vec<Vec<String>> = items(answer)
            .iter()
            .map(|i| {
                let ns = i
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let name = i
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if with_namespace {
                    vec![ns.into(), name.into()]
                } else {
                    vec![name.into()]
                }
            })
            .filter(|r: &Vec<String>| r.last().is_some_and(|n| !n.is_empty()))
            .collect();
        let header = if with_namespace {
            vec!["NAMESPACE", "NAME"]
        } else {
            vec!["NAME"]
        };
        return align(header.into_iter().map(String::from).collect(), names);
    }
    let columns = answer.get("columnDefinitions").and_then(Value::as_array)?;
    let shown: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| wide || c.get("priority").and_then(Value::as_i64).unwrap_or(0) == 0)
        .map(|(i, _)| i)
        .collect();
    let mut header: Vec<String> = shown
        .iter()
        .map(|i| {
            columns[*i]
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_uppercase()
        })
        .collect();
    if with_namespace {
        header.insert(0, "NAMESPACE".into());
    }
    let rows = answer.get("rows").and_then(Value::as_array)?;
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let cells = row.get("cells").and_then(Value::as_array);
            let mut line: Vec<String> = shown
                .iter()
                .map(|i| {
                    cells
                        .and_then(|c| c.get(*i))
                        .map(cell_text)
                        .unwrap_or_default()
                })
                .collect();
            if with_namespace {
                let ns = row
                    .pointer("/object/metadata/namespace")
                    .and_then(Value::as_str);
                line.insert(0, ns.unwrap_or("").to_string());
            }
            line
        })
        .collect();
    align(header, body)
}

fn cell_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

fn align(header: Vec<String>, rows: Vec<Vec<String>>) -> Option<String> {
    if rows.is_empty() {
        return None;
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 3;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn table() -> Value {
        json!({
            "kind": "Table",
            "columnDefinitions": [
                {"name": "Name", "priority": 0}, {"name": "Type", "priority": 0},
                {"name": "Selector", "priority": 1}],
            "rows": [
                {"cells": ["web", "NodePort", "app=web"], "object": {"metadata": {"name": "web", "namespace": "default"}}},
                {"cells": ["kubernetes", "ClusterIP", null], "object": {"metadata": {"name": "kubernetes", "namespace": "default"}}}
            ]
        })
    }

    #[test]
    fn narrow_table_hides_priority_columns() {
        let text = render_table(&table(), false, false).unwrap_or_default();
        assert_eq!(
            text,
            "NAME         TYPE\nweb          NodePort\nkubernetes   ClusterIP\n"
        );
    }

    #[test]
    fn wide_table_with_namespaces() {
        let text = render_table(&table(), true, true).unwrap_or_default();
        let first = text.lines().next().unwrap_or_default();
        assert!(first.starts_with("NAMESPACE   NAME"), "{first}");
        assert!(text.contains("<none>"));
    }

    #[test]
    fn empty_table_is_none() {
        let empty = json!({"kind": "Table", "columnDefinitions": [], "rows": []});
        assert!(render_table(&empty, false, false).is_none());
    }

    #[test]
    fn selector_is_url_encoded() {
        assert_eq!(encode("app in (a,b)"), "app%20in%20%28a%2Cb%29");
    }
}
