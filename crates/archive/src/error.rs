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
    /// The entry (already quoted with [`quoted`]) and, for a link, its target.
    #[error("archive entry {0}: path escapes the archive")]
    UnsafePath(String),
    #[error("archive contains neither manifest.json nor index.json: not a docker or OCI image archive")]
    NotAnImageArchive,
    /// The file (already quoted with [`quoted`]) and who names it.
    #[error("archive has no file {0} (named by {1})")]
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
    /// A layer that failed its checks while the archive was read; remembered then and
    /// reported only now that a manifest names it. The message is already an excerpt
    /// (see [`excerpt`]): it may quote the entry's own bytes.
    #[error("layer {0}: {1}")]
    BadLayer(String, String),
    #[error("invalid reference {0:?} in archive: {1}")]
    BadReference(String, gantry_image::ReferenceError),
    /// The small files and records kept in memory while reading reached the budget.
    #[error(
        "archive entry {0}: the archive's metadata and small files need more than {1} MiB of memory; refusing to read \
         further"
    )]
    MemoryBudget(String, u64),
    #[error("archive entry {0}: the archive has more than {1} entries; refusing to read further")]
    TooManyEntries(String, u64),
    #[error("archive entry {0}: the archive has more than {1} symbolic and hard links; refusing to read further")]
    TooManyLinks(String, usize),
    #[error("index.json: the image index and the indexes nested in it list more than {0} descriptors")]
    TooManyDescriptors(usize),
    /// `save` found an image whose stored layers do not match its config (a damaged
    /// store, or an image removed while it was being chosen).
    #[error("image {id}: its config lists {config} layers but the store has {stored}; not saving an incomplete image")]
    IncompleteImage { id: Digest, config: usize, stored: usize },
    #[error("image {id}: layer {position} is {stored} in the store but {config} in its config")]
    LayerMismatch { id: Digest, position: usize, stored: Digest, config: Digest },
    #[error(transparent)]
    Store(#[from] gantry_store::StoreError),
    #[error("{0}")]
    Change(#[from] crate::ChangeError),
}

/// Archive-supplied text (entry names, messages quoting entry bytes) made safe for a
/// one-line message; shared with the layer crate.
pub(crate) use gantry_layer::excerpt;

/// An archive entry name quoted for a message: [`excerpt`] in double quotes.
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", excerpt(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_and_escaped() {
        assert_eq!(excerpt("a\u{1b}[2J\nb"), "a\\u{1b}[2J\\nb");
        let long = "x".repeat(1000);
        assert_eq!(excerpt(&long), format!("{}...", "x".repeat(200)));
        assert_eq!(quoted("blobs/a"), "\"blobs/a\"");
    }
}
