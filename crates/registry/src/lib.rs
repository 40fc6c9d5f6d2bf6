//! Talking to registries: the OCI distribution spec (ping, auth challenges, manifests,
//! blobs with resume, uploads, mounts, tags, catalog), docker's client configuration
//! (`config.json` credentials and credential helpers), registry settings (mirrors,
//! insecure registries, private CAs), and pull and push between a registry and the store.
//!
//! Everything here is async (tokio); CPU-heavy work (decompressing, checking and
//! writing layers, compressing them for a push) runs on blocking threads fed through
//! bounded channels, so memory stays bounded whatever the layer size.

pub mod auth;
pub mod buildcache;
pub mod client;
pub mod credentials;
mod error;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;
pub mod settings;

pub use client::Registry;
pub use error::RegistryError;
pub use progress::{Progress, Quiet, Status};

use credentials::DockerConfig;
use settings::Settings;

/// Connects to the registry of `domain` with the credentials docker's config holds
/// for it (if any).
pub async fn connect(
    settings: &Settings,
    config: &DockerConfig,
    domain: &str,
    tls_verify: Option<bool>,
    for_push: bool,
) -> Result<Registry, RegistryError> {
    let creds = config.get(domain)?;
    Registry::connect(settings, domain, creds, tls_verify, for_push).await
}
