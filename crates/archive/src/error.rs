use gantry_image::Digest;

/// Why an archive could not be loaded, saved or imported. Each message says what is
/// wrong and where (which archive entry), in one line.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("reading archive: {0}")]
    Read(std::io::Error),
    #[error("writing archive: {0}")]
    Write(std::io::Error),
    #[error("archive is truncated or not a tar file: {0}")]
    Corrupt(String),
    #[error("{0}-compressed archives are not supported")]
    UnsupportedCompression(&'static str),
    #[error("archive entry {0:?}: path escapes the archive")]
    UnsafePath(String),
    #[error("archive contains neither manifest.json nor index.json: not a docker or OCI image archive")]
    NotAnImageArchive,
    #[error("archive has no file {0:?} (named by {1})")]
    MissingFile(String, String),
    #[error("invalid JSON in {0}: {1}")]
    Json(String, String),
    #[error("{0}: {1}")]
    BadConfig(String, gantry_image::config::ConfigError),
    #[error("{path}: content digest is {actual}, but the archive names it {expected}")]
    DigestMismatch { path: String, expected: String, actual: Digest },
    #[error("layer {path}: its diff ID is {actual}, but the image config expects {expected}")]
    DiffIdMismatch { path: String, expected: Digest, actual: Digest },
    #[error("image config {0} lists {1} layers but its manifest has {2}")]
    LayerCount(String, usize, usize),
    #[error("{0}: unknown media type {1:?}")]
    UnknownMediaType(String, String),
    #[error("layer {0}: {1}")]
    Layer(String, gantry_layer::LayerError),
    #[error("invalid reference {0:?} in archive: {1}")]
    BadReference(String, gantry_image::ReferenceError),
    #[error(transparent)]
    Store(#[from] gantry_store::StoreError),
    #[error("{0}")]
    Change(#[from] crate::ChangeError),
}
