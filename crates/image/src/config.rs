//! The image config (what the image ID is the digest of).
//!
//! Our own type rather than oci-spec's: it keeps Docker's fields (`Healthcheck`,
//! `OnBuild`, `Shell`, `ArgsEscaped`, ...) and any unknown field, and writes every map
//! sorted so the same config always serializes to the same bytes. A config read from
//! outside is never re-serialized for its digest: the digest is taken over the bytes
//! as stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Digest;

/// Unknown fields, kept so nothing is lost between load and save.
pub type Extra = BTreeMap<String, Value>;

/// The `PATH=` docker and BuildKit give a process whose image sets none.
pub const DEFAULT_PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_config: Option<ContainerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os: String,
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The runtime defaults an image carries (Docker's `container.Config` subset).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    #[serde(rename = "Hostname", default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(rename = "Domainname", default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(rename = "User", default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(rename = "AttachStdin", default, skip_serializing_if = "Option::is_none")]
    pub attach_stdin: Option<bool>,
    #[serde(rename = "AttachStdout", default, skip_serializing_if = "Option::is_none")]
    pub attach_stdout: Option<bool>,
    #[serde(rename = "AttachStderr", default, skip_serializing_if = "Option::is_none")]
    pub attach_stderr: Option<bool>,
    #[serde(rename = "ExposedPorts", default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(rename = "Tty", default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    #[serde(rename = "OpenStdin", default, skip_serializing_if = "Option::is_none")]
    pub open_stdin: Option<bool>,
    #[serde(rename = "StdinOnce", default, skip_serializing_if = "Option::is_none")]
    pub stdin_once: Option<bool>,
    #[serde(rename = "Env", default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Healthcheck", default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Value>,
    #[serde(rename = "ArgsEscaped", default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(rename = "Image", default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(rename = "Volumes", default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(rename = "WorkingDir", default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(rename = "Entrypoint", default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "NetworkDisabled", default, skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    #[serde(rename = "MacAddress", default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(rename = "OnBuild", default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(rename = "Labels", default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "StopSignal", default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(rename = "StopTimeout", default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(rename = "Shell", default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Why bytes are not an image config we can use.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid image config JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("image config has rootfs type {0:?}, expected \"layers\"")]
    RootFsType(String),
    #[error("image config history has {history} non-empty layers but rootfs lists {layers} layers")]
    HistoryMismatch { history: usize, layers: usize },
}

impl ImageConfig {
    /// Parses and checks a config as found in an archive or registry.
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, ConfigError> {
        let cfg: ImageConfig = serde_json::from_slice(bytes)?;
        if cfg.rootfs.kind != "layers" {
            return Err(ConfigError::RootFsType(cfg.rootfs.kind));
        }
        if !cfg.history.is_empty() {
            let non_empty = cfg.history.iter().filter(|h| !h.empty_layer).count();
            if non_empty != cfg.rootfs.diff_ids.len() {
                return Err(ConfigError::HistoryMismatch { history: non_empty, layers: cfg.rootfs.diff_ids.len() });
            }
        }
        Ok(cfg)
    }

    /// Canonical bytes for a config gantry writes itself (sorted maps, no spaces).
    /// Unix nanoseconds of `created`, 0 when absent or unparsable (docker shows such
    /// images as created long ago rather than refusing them).
    pub fn created_unix_nanos(&self) -> i64 {
        self.created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .and_then(|t| t.timestamp_nanos_opt())
            .unwrap_or(0)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing our own structs of strings, maps and numbers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.config.as_ref().and_then(|c| c.labels.as_ref())
    }

    /// Pairs each history entry with the layer it produced (`None` for empty layers).
    pub fn history_with_layers(&self) -> Vec<(HistoryEntry, Option<Digest>)> {
        let mut layers = self.rootfs.diff_ids.iter();
        self.history
            .iter()
            .map(|h| {
                let layer = if h.empty_layer { None } else { layers.next().copied() };
                (h.clone(), layer)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unknown_fields_and_docker_fields() {
        let src = r#"{"architecture":"amd64","os":"linux","config":{"Env":["A=1"],"Healthcheck":{"Test":["NONE"]},"OnBuild":["RUN x"],"Shell":["/bin/bash","-c"],"ArgsEscaped":true,"Zzz":1},"rootfs":{"type":"layers","diff_ids":[]},"moby.buildkit.buildinfo.v1":"abc"}"#;
        let cfg = ImageConfig::parse(src.as_bytes()).unwrap();
        let out = String::from_utf8(cfg.to_bytes()).unwrap();
        let back = ImageConfig::parse(out.as_bytes()).unwrap();
        assert_eq!(cfg, back);
        for needle in [
            "\"Healthcheck\"",
            "\"OnBuild\"",
            "\"Shell\"",
            "\"ArgsEscaped\":true",
            "\"Zzz\":1",
            "moby.buildkit.buildinfo.v1",
        ] {
            assert!(out.contains(needle), "{needle} lost in {out}");
        }
    }

    #[test]
    fn rejects_inconsistent_configs() {
        assert!(ImageConfig::parse(b"{").is_err());
        assert!(ImageConfig::parse(br#"{"rootfs":{"type":"zfs","diff_ids":[]}}"#).is_err());
        let two_history = r#"{"rootfs":{"type":"layers","diff_ids":[]},"history":[{"created_by":"a"}]}"#;
        assert!(matches!(ImageConfig::parse(two_history.as_bytes()), Err(ConfigError::HistoryMismatch { .. })));
        let bad_digest = r#"{"rootfs":{"type":"layers","diff_ids":["sha256:zz"]}}"#;
        assert!(ImageConfig::parse(bad_digest.as_bytes()).is_err());
    }

    #[test]
    fn maps_serialize_sorted() {
        let mut cfg = ImageConfig { rootfs: RootFs { kind: "layers".into(), diff_ids: vec![] }, ..Default::default() };
        let mut labels = BTreeMap::new();
        labels.insert("z".to_string(), "1".to_string());
        labels.insert("a".to_string(), "2".to_string());
        cfg.config = Some(ContainerConfig { labels: Some(labels), ..Default::default() });
        let out = String::from_utf8(cfg.to_bytes()).unwrap();
        assert!(out.find("\"a\"").unwrap() < out.find("\"z\"").unwrap());
    }
}
