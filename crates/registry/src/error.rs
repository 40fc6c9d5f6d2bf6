//! Why a registry operation failed, as one line a user can act on. No variant ever
//! carries a password or token: auth failures say which registry refused, not with what.

use gantry_image::Digest;

use crate::credentials::CredentialsError;
use crate::settings::SettingsError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The registry could not be reached at all (refused, TLS, DNS, timeout).
    #[error("{url}: {cause}")]
    Connect { url: String, cause: String },
    /// The registry answered with one of the distribution spec's error codes.
    #[error("{}", api_message(code, message, detail))]
    Api { status: u16, code: String, message: String, detail: String },
    /// 401 even with the credentials (or none) we had.
    #[error("{registry}: unauthorized: {}", if message.is_empty() { "authentication required" } else { message })]
    Unauthorized { registry: String, message: String },
    /// 429 and retrying after `Retry-After` did not help.
    #[error("{registry}: toomanyrequests: too many requests, retry after {retry_after}s")]
    TooManyRequests { registry: String, retry_after: u64 },
    #[error("manifest for {0} not found: manifest unknown: manifest unknown")]
    ManifestUnknown(String),
    #[error("no matching manifest for {platform} in the manifest list entries of {reference}")]
    NoMatchingPlatform { platform: String, reference: String },
    /// What was downloaded is not what was asked for.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { what: String, expected: Digest, actual: Digest },
    /// The registry answered something that is not the protocol.
    #[error("{0}")]
    Protocol(String),
    #[error("{what}: {source}")]
    Layer { what: String, source: gantry_layer::LayerError },
    #[error(transparent)]
    Store(#[from] gantry_store::StoreError),
    #[error("{0}")]
    Unsupported(String),
    /// A transfer given up because another one of the same operation failed.
    #[error("stopped: another transfer failed")]
    Stopped,
}

fn api_message(code: &str, message: &str, detail: &str) -> String {
    let mut s = format!("{}: {}", code.to_ascii_lowercase(), message);
    if !detail.is_empty() && detail != "null" {
        s.push_str(&format!(" ({detail})"));
    }
    s
}

/// The spec's error body: `{"errors": [{"code", "message", "detail"}]}`.
#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(serde::Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    detail: serde_json::Value,
}

/// Longest error body read and quoted: a hostile registry cannot make us buffer more.
const MAX_ERROR_BODY: usize = 64 << 10;

impl RegistryError {
    /// Turns a non-success answer into an error, using the spec's error body when the
    /// registry sent one and the HTTP status otherwise.
    pub(crate) async fn from_response(resp: reqwest::Response) -> RegistryError {
        let status = resp.status();
        let body = crate::client::read_limited(resp, MAX_ERROR_BODY).await.unwrap_or_default();
        RegistryError::from_parts(status, &body)
    }

    pub(crate) fn from_parts(status: reqwest::StatusCode, body: &[u8]) -> RegistryError {
        if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
            if let Some(e) = parsed.errors.into_iter().next() {
                let detail = match e.detail {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                return RegistryError::Api {
                    status: status.as_u16(),
                    code: if e.code.is_empty() { "unknown".into() } else { e.code },
                    message: e.message.chars().take(500).collect(),
                    detail: detail.chars().take(500).collect(),
                };
            }
        }
        RegistryError::Protocol(format!(
            "unexpected status from the registry: {}",
            status.canonical_reason().map(|r| format!("{} {r}", status.as_u16())).unwrap_or(status.to_string())
        ))
    }

    /// True for errors worth another attempt on a fresh connection.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            RegistryError::Connect { .. } => true,
            RegistryError::Api { status, .. } => *status >= 500,
            RegistryError::Protocol(m) => m.contains("status from the registry: 5"),
            _ => false,
        }
    }
}

/// One line for a transport error: its root cause (reqwest's own `Display` stops at
/// "error sending request").
pub(crate) fn transport_cause(e: &reqwest::Error) -> String {
    // The innermost cause says what happened ("Connection refused (os error 111)",
    // "invalid peer certificate: UnknownIssuer"); the layers above only wrap it.
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let inner = cur.to_string();
    if e.is_timeout() && !inner.contains("timed out") {
        format!("{inner} (timed out)")
    } else {
        inner
    }
}
