//! The GC lock: writers and readers of blobs hold it shared, garbage collection holds
//! it exclusive, so a blob that a running command is about to reference (or is reading)
//! is never swept. An flock dies with its process, so a crashed command never leaves
//! the store locked.

use std::fs::{File, OpenOptions};
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

use crate::StoreError;

/// A held lock on `<root>/gc.lock`; released on drop (or by process death).
pub struct Lease {
    _file: File,
}

fn open(root: &Path) -> Result<File, StoreError> {
    let p = root.join("gc.lock");
    OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&p).map_err(|e| StoreError::io(&p, e))
}

impl Lease {
    pub(crate) fn shared(root: &Path) -> Result<Lease, StoreError> {
        let file = open(root)?;
        flock(&file, FlockOperation::LockShared).map_err(|e| StoreError::io(&root.join("gc.lock"), e.into()))?;
        Ok(Lease { _file: file })
    }

    /// Exclusive; `wait = false` returns `None` when someone holds a lease.
    pub(crate) fn exclusive(root: &Path, wait: bool) -> Result<Option<Lease>, StoreError> {
        let file = open(root)?;
        let op = if wait { FlockOperation::LockExclusive } else { FlockOperation::NonBlockingLockExclusive };
        match flock(&file, op) {
            Ok(()) => Ok(Some(Lease { _file: file })),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(None),
            Err(e) => Err(StoreError::io(&root.join("gc.lock"), e.into())),
        }
    }
}

/// An exclusive flock on `path` (created if needed), held until the file is dropped.
pub(crate) fn exclusive_file(path: &Path) -> Result<File, StoreError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| StoreError::io(path, e))?;
    flock(&file, FlockOperation::LockExclusive).map_err(|e| StoreError::io(path, e.into()))?;
    Ok(file)
}
