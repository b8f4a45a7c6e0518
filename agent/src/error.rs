//! The agent's error type.

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The HTTP client for httpGet probes could not be built.
    #[error("building the HTTP probe client: {0}")]
    HttpClient(#[from] reqwest::Error),
    /// A setting is out of its range.
    #[error("invalid agent setting {field}: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
}
