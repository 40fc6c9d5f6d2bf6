//! The on-disk store shared by every gantry process: immutable digest-addressed blobs,
//! SQLite metadata (images, tags, layers), the locks that let several processes work
//! on one root, and garbage collection.
//!
//! Ordering rules that keep a crash at any instant harmless: a blob becomes visible in
//! `blobs/` only complete and synced; metadata naming blobs is committed only after
//! they are visible; deleting metadata comes before deleting blobs. The worst a crash
//! leaves is an unreferenced blob, which the next GC removes.

mod blobs;
mod cache;
mod containers;
mod db;
mod distribution;
mod error;
mod gc;
mod lock;
mod snapshot;
mod volumes;

use std::path::{Path, PathBuf};

pub use blobs::{BlobDir, Ingest};
pub use cache::{CacheRecord, FileStamp};
pub use containers::ContainerRecord;
pub use db::{ImageRecord, LayerRecord, NewImage, Tagged};
pub use distribution::LayerBlob;
pub use error::StoreError;
pub use gc::GcReport;
pub use lock::Lease;
pub use snapshot::{chain_ids, unmount_rootfs, Changes, Sandbox, StorageDriver};
pub use volumes::{disk_usage, valid_volume_name, Volume};

use gantry_image::{Digest, Sha256};

/// Counts and hashes what goes through it.
struct HashingWriter<W: std::io::Write> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One store root, opened by one process. Cheap to open; every command opens it once.
pub struct Store {
    root: PathBuf,
    db: rusqlite::Connection,
    /// How new root filesystems are made: set by the caller, or found on first use.
    driver: std::cell::OnceCell<StorageDriver>,
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for dir in ["blobs/sha256", "ingest"] {
            let p = root.join(dir);
            std::fs::create_dir_all(&p).map_err(|e| StoreError::io(&p, e))?;
        }
        // Only the owner may enter: snapshots hold images' setuid files and containers'
        // files, bundles hold their environment. Applied on every open (docker: 0710).
        use std::os::unix::fs::PermissionsExt;
        let private = std::fs::Permissions::from_mode(0o700);
        std::fs::set_permissions(root, private).map_err(|e| StoreError::io(root, e))?;
        // Opening (WAL setup, schema creation or upgrade) is serialized: two connections
        // initializing a new database can both hold read locks and both want to write,
        // and SQLite then fails one at once, without its busy handler, to avoid deadlock.
        let _opening = lock::exclusive_file(&root.join("open.lock"))?;
        let db = db::open(&root.join("gantry.db"))?;
        Ok(Store { root: root.to_path_buf(), db, driver: std::cell::OnceCell::new() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives; it exists only complete and verified.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        blobs::blob_path(&self.root, digest)
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<std::fs::File, StoreError> {
        let p = self.blob_path(digest);
        std::fs::File::open(&p).map_err(|e| StoreError::io(&p, e))
    }

    /// Reads a small blob (a config or manifest) whole.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(digest);
        std::fs::read(&p).map_err(|e| StoreError::io(&p, e))
    }

    /// The blob directory alone, for threads that stream blobs in while this handle
    /// (which is not `Sync`) stays with its owner.
    pub fn blob_dir(&self) -> BlobDir {
        BlobDir::new(&self.root)
    }

    /// Starts writing a blob. Nothing is visible in `blobs/` until `commit`.
    pub fn ingest(&self) -> Result<Ingest, StoreError> {
        Ingest::create(&self.root)
    }

    /// Streams what `write` produces into a new blob, hashing it on the way (so the
    /// bytes are written once and never held), and commits it under its digest.
    /// Returns the digest, the number of bytes and `write`'s own result.
    pub fn put_stream<T, E: From<StoreError>>(
        &self,
        write: impl FnOnce(&mut dyn std::io::Write) -> Result<T, E>,
    ) -> Result<(Digest, u64, T), E> {
        use std::io::Write;
        let ingest = self.ingest()?;
        let path = ingest.path().to_path_buf();
        let mut out =
            HashingWriter { inner: std::io::BufWriter::with_capacity(1 << 20, ingest), hash: Sha256::new(), len: 0 };
        let result = write(&mut out)?;
        out.flush().map_err(|e| StoreError::io(&path, e))?;
        let HashingWriter { inner, hash, len } = out;
        let ingest = inner.into_inner().map_err(|e| StoreError::io(&path, e.into_error()))?;
        let digest = hash.finish();
        ingest.commit(&digest)?;
        Ok((digest, len, result))
    }

    /// Stores small bytes (configs, manifests) as a blob and returns their digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        use std::io::Write;
        let digest = Digest::of(bytes);
        if self.has_blob(&digest) {
            return Ok(digest);
        }
        let mut ingest = self.ingest()?;
        ingest.write_all(bytes).map_err(|e| StoreError::io(ingest.path(), e))?;
        ingest.commit(&digest)?;
        Ok(digest)
    }

    /// Makes every blob committed so far durable before metadata names them.
    pub fn sync_blobs(&self) -> Result<(), StoreError> {
        blobs::sync_dir(&self.root.join("blobs/sha256"))
    }

    /// Removes named ingest files whose writer died (only filesystems without
    /// `O_TMPFILE` leave any), if no other command is working; returns how many.
    pub fn sweep_ingest(&self) -> Result<u64, StoreError> {
        match Lease::exclusive(&self.root, false)? {
            Some(_lock) => blobs::sweep_named_ingest(&self.root),
            None => Ok(0),
        }
    }

    /// A shared lease: while held, garbage collection removes no blob. Every command that
    /// writes or reads blobs holds one for its whole duration. Taking one first sweeps
    /// abandoned ingest files when the store is idle.
    pub fn lease(&self) -> Result<Lease, StoreError> {
        self.sweep_ingest()?;
        Lease::shared(&self.root)
    }
}
