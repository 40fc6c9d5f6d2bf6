//! The pure image model shared by every gantry crate: references, digests, image
//! configs and manifests. No I/O happens here, so everything is testable with data.

pub mod config;
pub mod digest;
pub mod manifest;
pub mod media;
pub mod platform;
pub mod reference;

pub use config::{ContainerConfig, HistoryEntry, ImageConfig, RootFs, DEFAULT_PATH_ENV};
pub use digest::{Digest, DigestError, Sha256};
pub use platform::{Platform, PlatformError};
pub use reference::{Reference, ReferenceError};
