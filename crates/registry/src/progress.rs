//! What a pull or push reports about each layer while it works, in docker's words; the
//! CLI decides how to show it (bars on a terminal, plain lines otherwise).

use std::fmt;

/// The state of one layer (or config) transfer. `Display` gives docker's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    PullingFsLayer,
    Waiting,
    Downloading { current: u64, total: u64 },
    VerifyingChecksum,
    DownloadComplete,
    PullComplete,
    AlreadyExists,
    Preparing,
    Pushing { current: u64, total: u64 },
    Pushed,
    LayerAlreadyExists,
    MountedFrom(String),
}

impl Status {
    /// True for the states that end a layer's line.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Status::PullComplete
                | Status::AlreadyExists
                | Status::Pushed
                | Status::LayerAlreadyExists
                | Status::MountedFrom(_)
        )
    }

    /// Progress as (done, total) for the states that move.
    pub fn amount(&self) -> Option<(u64, u64)> {
        match self {
            Status::Downloading { current, total } | Status::Pushing { current, total } => Some((*current, *total)),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::PullingFsLayer => f.write_str("Pulling fs layer"),
            Status::Waiting => f.write_str("Waiting"),
            Status::Downloading { .. } => f.write_str("Downloading"),
            Status::VerifyingChecksum => f.write_str("Verifying Checksum"),
            Status::DownloadComplete => f.write_str("Download complete"),
            Status::PullComplete => f.write_str("Pull complete"),
            Status::AlreadyExists => f.write_str("Already exists"),
            Status::Preparing => f.write_str("Preparing"),
            Status::Pushing { .. } => f.write_str("Pushing"),
            Status::Pushed => f.write_str("Pushed"),
            Status::LayerAlreadyExists => f.write_str("Layer already exists"),
            Status::MountedFrom(repo) => write!(f, "Mounted from {repo}"),
        }
    }
}

/// Receives layer states; called from several tasks at once.
pub trait Progress: Sync {
    /// `id` is docker's short layer ID (12 hex digits).
    fn layer(&self, id: &str, status: Status);
}

/// Reports nothing (`-q`).
pub struct Quiet;

impl Progress for Quiet {
    fn layer(&self, _: &str, _: Status) {}
}

/// Docker's short ID of a digest: its first 12 hex digits.
pub fn short_id(d: &gantry_image::Digest) -> String {
    d.hex()[..12].to_string()
}
