//! Writing blobs so that none is ever visible half-written.
//!
//! An ingest is an anonymous `O_TMPFILE` inode in `<root>/ingest`: it has no name until
//! `commit` links it into `blobs/sha256/<hex>` after syncing it, so a process killed at
//! any instant leaves nothing behind. Filesystems without `O_TMPFILE` get a named file
//! in `ingest/` held under an flock; `sweep_ingest` removes those of dead writers.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use gantry_image::Digest;
use rustix::fs::{flock, linkat, openat, AtFlags, FlockOperation, Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::StoreError;

/// Writeback is started every this many bytes, so the sync in `commit` finds most of
/// the data already on its way to disk instead of flushing it all at the end.
const WRITEBACK_CHUNK: u64 = 32 << 20;

/// Where blob `digest` lives under store root `root`.
pub(crate) fn blob_path(root: &Path, digest: &Digest) -> PathBuf {
    root.join("blobs/sha256").join(digest.hex())
}

/// The store's blobs without its database: cheap to clone and send to the threads that
/// write pulled layers.
#[derive(Debug, Clone)]
pub struct BlobDir {
    root: PathBuf,
}

impl BlobDir {
    pub(crate) fn new(root: &Path) -> BlobDir {
        BlobDir { root: root.to_path_buf() }
    }

    /// Starts writing a blob; see [`crate::Store::ingest`].
    pub fn ingest(&self) -> Result<Ingest, StoreError> {
        Ingest::create(&self.root)
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        blob_path(&self.root, digest)
    }

    pub fn has(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }
}

/// A blob being written. Dropping it without `commit` discards it.
pub struct Ingest {
    file: File,
    written: u64,
    flushed_to: u64,
    /// Where the bytes go in the named fallback; `None` for an anonymous inode.
    named: Option<PathBuf>,
    dir: PathBuf,
    blobs: PathBuf,
}

impl Ingest {
    pub(crate) fn create(root: &Path) -> Result<Ingest, StoreError> {
        let dir = root.join("ingest");
        let blobs = root.join("blobs/sha256");
        let mode = Mode::from_raw_mode(0o644);
        match openat(CWD, &dir, OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC, mode) {
            Ok(fd) => return Ok(Ingest { file: File::from(fd), written: 0, flushed_to: 0, named: None, dir, blobs }),
            Err(Errno::OPNOTSUPP) | Err(Errno::ISDIR) | Err(Errno::INVAL) => {}
            Err(e) => return Err(StoreError::io(&dir, e.into())),
        }
        let name = dir.join(format!("{}-{:016x}", std::process::id(), rand::random::<u64>()));
        let fd = openat(CWD, &name, OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::CLOEXEC, mode)
            .map_err(|e| StoreError::io(&name, e.into()))?;
        flock(&fd, FlockOperation::LockExclusive).map_err(|e| StoreError::io(&name, e.into()))?;
        Ok(Ingest { file: File::from(fd), written: 0, flushed_to: 0, named: Some(name), dir, blobs })
    }

    /// A path naming this ingest in error messages.
    pub fn path(&self) -> &Path {
        self.named.as_deref().unwrap_or(&self.dir)
    }

    /// The underlying file, for copies the kernel can do without user-space buffers.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Syncs the bytes and makes them visible as the blob `digest`.
    ///
    /// The caller vouches that `digest` is the sha256 of exactly the bytes written: it
    /// computed it over the same stream (the layer code hashes as it writes, so a
    /// second pass would double the cost of every load).
    pub fn commit(mut self, digest: &Digest) -> Result<(), StoreError> {
        self.file.flush().map_err(|e| StoreError::io(self.path(), e))?;
        self.file.sync_data().map_err(|e| StoreError::io(self.path(), e))?;
        let target = self.blobs.join(digest.hex());
        match self.named.take() {
            Some(name) => std::fs::rename(&name, &target).map_err(|e| StoreError::io(&target, e)),
            None => match linkat(self.file.as_fd(), "", CWD, &target, AtFlags::EMPTY_PATH) {
                Ok(()) | Err(Errno::EXIST) => Ok(()),
                // Linking an fd needs CAP_DAC_READ_SEARCH; /proc/self/fd works for anyone.
                Err(Errno::NOENT) | Err(Errno::PERM) => {
                    let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&self.file));
                    match linkat(CWD, proc_path.as_str(), CWD, &target, AtFlags::SYMLINK_FOLLOW) {
                        Ok(()) | Err(Errno::EXIST) => Ok(()),
                        Err(e) => Err(StoreError::io(&target, e.into())),
                    }
                }
                Err(e) => Err(StoreError::io(&target, e.into())),
            },
        }
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.flushed_to >= WRITEBACK_CHUNK {
            // Ask the kernel to start writing this range back now (it does not wait);
            // a failure only loses the head start, never data.
            let (from, len) = (self.flushed_to, self.written - self.flushed_to);
            // SAFETY: a plain syscall on a descriptor this Ingest owns.
            unsafe {
                libc::sync_file_range(
                    std::os::fd::AsRawFd::as_raw_fd(&self.file),
                    from as libc::off64_t,
                    len as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.flushed_to = self.written;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if let Some(name) = &self.named {
            let _ = std::fs::remove_file(name);
        }
    }
}

/// fsyncs a directory so the names linked into it survive a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    let d = File::open(dir).map_err(|e| StoreError::io(dir, e))?;
    d.sync_all().map_err(|e| StoreError::io(dir, e))
}

/// Removes named ingest files whose writer is gone (their flock is free). Call only
/// under the exclusive GC lock: a writer's file exists for an instant before its
/// flock does, and no writer can be in that instant while the lock is held.
pub(crate) fn sweep_named_ingest(root: &Path) -> Result<u64, StoreError> {
    let dir = root.join("ingest");
    let mut removed = 0;
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StoreError::io(&dir, e)),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(file) = File::open(&path) else { continue };
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok() && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
