//! Manifest shapes: OCI manifests, indexes and descriptors (from oci-spec), and the
//! docker-archive `manifest.json` that `docker save`/`docker load` exchange.

use serde::{Deserialize, Serialize};

pub use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

/// One entry of a docker-archive `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DockerArchiveEntry {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default, deserialize_with = "null_as_empty")]
    pub repo_tags: Vec<String>,
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
    #[serde(rename = "LayerSources", default, skip_serializing_if = "Option::is_none")]
    pub layer_sources: Option<serde_json::Value>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}
