use std::path::{Path, PathBuf};

use gantry_image::Digest;

/// Why a store operation failed. Messages are complete sentences for the CLI to print.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("metadata database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// A name or state conflict, worded as docker words it.
    #[error("{0}")]
    Conflict(String),
    #[error("image ID prefix {0:?} is ambiguous: it matches several images")]
    Ambiguous(String),
    #[error("blob {0} is missing from the store")]
    MissingBlob(Digest),
    #[error("metadata database is corrupt: {0}")]
    Corrupt(String),
    /// Unpacking a layer or preparing a root filesystem failed.
    #[error("{0}")]
    Snapshot(String),
}

impl StoreError {
    pub fn io(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io { path: path.to_path_buf(), source }
    }
}
