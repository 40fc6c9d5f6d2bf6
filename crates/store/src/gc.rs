//! Garbage collection: marks from metadata (images and their layers; containers and
//! build cache will join as roots) and sweeps every other blob, under the exclusive GC
//! lock so no running command loses a blob it is writing or reading.

use gantry_image::Digest;

use crate::{blobs, Lease, Store, StoreError};

/// What a collection removed.
#[derive(Debug, Default)]
pub struct GcReport {
    /// Blobs removed, with their sizes on disk.
    pub removed: Vec<(Digest, u64)>,
    /// Abandoned named ingest files removed.
    pub swept_ingest: u64,
    /// True when another command held a lease and `wait` was false: nothing was done.
    pub skipped: bool,
}

impl Store {
    /// Removes unreferenced blobs. With `wait = false` it gives up at once when another
    /// command is working (the next collection will catch up).
    pub fn gc(&self, wait: bool) -> Result<GcReport, StoreError> {
        let Some(_lock) = Lease::exclusive(self.root(), wait)? else {
            return Ok(GcReport { skipped: true, ..Default::default() });
        };
        // Make every committed metadata change durable before blobs go: after a power
        // loss, a tag must never come back pointing at swept blobs (WAL commits with
        // synchronous=NORMAL are not yet synced).
        self.checkpoint()?;
        self.delete_orphan_layers()?;
        let keep = self.referenced_blobs()?;
        let dir = self.root().join("blobs/sha256");
        let mut report = GcReport::default();
        let entries = std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if keep.contains(&name) {
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            if let Ok(d) = Digest::from_hex(&name) {
                report.removed.push((d, size));
            }
        }
        report.swept_ingest = blobs::sweep_named_ingest(self.root())?;
        self.sweep_snapshots()?;
        Ok(report)
    }
}
