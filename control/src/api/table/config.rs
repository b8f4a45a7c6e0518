//! Configuration rows: ConfigMap `NAME DATA AGE`, Secret `NAME TYPE DATA AGE`,
//! ServiceAccount `NAME SECRETS AGE`.

use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use serde_json::{Value, json};

use super::{Column, col, int};

const DATA: Column = int("Data", "The number of keys in data and binaryData.");

/// ConfigMap columns.
pub(super) const CONFIG_MAP_COLUMNS: [Column; 1] = [DATA];

/// Secret columns.
pub(super) const SECRET_COLUMNS: [Column; 2] = [col("Type", 0, "The type of the secret."), DATA];

/// ServiceAccount columns.
pub(super) const SERVICE_ACCOUNT_COLUMNS: [Column; 1] = [int(
    "Secrets",
    "The number of secrets listed in the service account.",
)];

/// A ConfigMap's cells.
pub(super) fn config_map_cells(cm: &ConfigMap) -> (Vec<Value>, Vec<Value>) {
    let n =
        cm.data.as_ref().map_or(0, |d| d.len()) + cm.binary_data.as_ref().map_or(0, |d| d.len());
    (vec![json!(n)], Vec::new())
}

/// A Secret's cells.
pub(super) fn secret_cells(s: &Secret) -> (Vec<Value>, Vec<Value>) {
    let kind = s.type_.clone().unwrap_or_else(|| "Opaque".to_string());
    let n = s.data.as_ref().map_or(0, |d| d.len()) + s.string_data.as_ref().map_or(0, |d| d.len());
    (vec![Value::String(kind), json!(n)], Vec::new())
}

/// A ServiceAccount's cells.
pub(super) fn service_account_cells(sa: &ServiceAccount) -> (Vec<Value>, Vec<Value>) {
    (
        vec![json!(sa.secrets.as_ref().map_or(0, Vec::len))],
        Vec::new(),
    )
}
