//! Snapshots: every layer unpacked once, in the overlayfs lower-layer format, under
//! `<root>/snapshots/<chain ID>/`, shared by every container and RUN step on that
//! chain; and sandboxes, the writable root filesystems made of them
//! (`<root>/sandboxes/<id>/`: an overlay of the chain with its own upper and work
//! directories). A RUN step's changes are read from the upper directory alone, and
//! that directory then becomes the new layer's snapshot without being unpacked again.
//!
//! Crash safety: a snapshot is unpacked under a temporary name and renamed into place
//! complete; a sandbox holds an flock on its `lock` file while in use, so the sandboxes
//! of dead processes are recognised and swept.

use std::fs::File;
use std::path::{Path, PathBuf};

use gantry_image::Digest;
use gantry_layer::apply::{extract_layer, Whiteouts};
use rustix::fs::{flock, FlockOperation};
use rustix::mount::{self, FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags};

use crate::{Store, StoreError};

/// Chain IDs of each prefix of `diff_ids` (OCI image spec: `sha256(parent + " " + diff)`).
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => *d,
            Some(parent) => Digest::of(format!("{parent} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::io(path, e)
}

/// Unmounts what [`Store::mount_rootfs`] mounted in `dir` (nothing if not mounted).
pub fn unmount_rootfs(dir: &Path) {
    let _ = mount::unmount(dir.join("rootfs"), UnmountFlags::DETACH);
}

/// A writable root filesystem over a layer chain. Unmounted and removed on drop
/// unless [`Sandbox::commit`] took its changes.
pub struct Sandbox {
    dir: PathBuf,
    rootfs: PathBuf,
    mounted: bool,
    _lock: File,
}

impl Sandbox {
    /// Where the container's root filesystem is mounted.
    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    /// The directory holding this sandbox's own files (bundle, upper, work).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The overlay upper directory: everything written since the sandbox was made
    /// (deletions as 0:0 character devices, opaque directories marked by xattr).
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    /// Unmounts the root filesystem (nothing may run in it any more).
    pub fn unmount(&mut self) -> Result<(), StoreError> {
        if self.mounted {
            mount::unmount(&self.rootfs, UnmountFlags::DETACH).map_err(|e| StoreError::io(&self.rootfs, e.into()))?;
            self.mounted = false;
        }
        Ok(())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.unmount();
        unmount_inner(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Unmounts the scratch overlays RUN mounts made inside a sandbox (`mount-N/rootfs`),
/// so that removing the sandbox never descends into a live mount.
fn unmount_inner(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with("mount-") {
            unmount_rootfs(&e.path());
        }
    }
}

/// Every change must be in the upper directory itself for it to be the layer: no
/// directory renames recorded as redirects, no metadata-only copy-ups.
const FIXED_OPTIONS: [(&str, &str); 3] = [("redirect_dir", "off"), ("metacopy", "off"), ("index", "off")];

/// Mounts an overlay of `lowers` (top first) at `target`. The new mount API takes the
/// lower directories one at a time (no page-size limit on their number); older
/// kernels get the classic option string.
fn mount_overlay(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> std::io::Result<()> {
    let new_api = || -> rustix::io::Result<()> {
        let fs = mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
        for l in lowers {
            mount::fsconfig_set_string(&fs, "lowerdir+", l.as_path())?;
        }
        mount::fsconfig_set_string(&fs, "upperdir", upper)?;
        mount::fsconfig_set_string(&fs, "workdir", work)?;
        for (option, value) in FIXED_OPTIONS {
            mount::fsconfig_set_string(&fs, option, value)?;
        }
        mount::fsconfig_create(&fs)?;
        let m = mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())?;
        mount::move_mount(&m, "", rustix::fs::CWD, target, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
    };
    if new_api().is_ok() {
        return Ok(());
    }
    let list: Vec<String> = lowers.iter().map(|l| l.display().to_string()).collect();
    let fixed: Vec<String> = FIXED_OPTIONS.iter().map(|(k, v)| format!(",{k}={v}")).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}{}",
        list.join(":"),
        upper.display(),
        work.display(),
        fixed.concat()
    );
    let data = std::ffi::CString::new(data).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    mount::mount("overlay", target, "overlay", MountFlags::empty(), Some(data.as_c_str())).map_err(Into::into)
}

impl Store {
    fn snapshot_dir(&self, chain: &Digest) -> PathBuf {
        self.root().join("snapshots").join(chain.hex())
    }

    /// The unpacked directory of every layer of the chain, lowest first, unpacking
    /// those not unpacked yet (the caller holds a lease, so the blobs stay).
    pub fn layer_snapshots(&self, diff_ids: &[Digest]) -> Result<Vec<PathBuf>, StoreError> {
        let base = self.root().join("snapshots");
        std::fs::create_dir_all(&base).map_err(io(&base))?;
        let mut dirs = Vec::new();
        for (diff_id, chain) in diff_ids.iter().zip(chain_ids(diff_ids)) {
            let dir = self.snapshot_dir(&chain);
            if !dir.is_dir() {
                let tmp = base.join(format!("tmp-{}-{:016x}", std::process::id(), rand::random::<u64>()));
                std::fs::create_dir(&tmp).map_err(io(&tmp))?;
                let unpacked = self
                    .open_blob(diff_id)
                    .and_then(|f| {
                        extract_layer(std::io::BufReader::with_capacity(1 << 20, f), &tmp, Whiteouts::Overlay)
                            .map_err(|e| StoreError::Snapshot(format!("unpacking layer {diff_id}: {e}")))
                    })
                    .and_then(|()| sync_tree(&tmp));
                if let Err(e) = unpacked {
                    let _ = std::fs::remove_dir_all(&tmp);
                    return Err(e);
                }
                // Another process may have unpacked the same chain meanwhile: keep theirs.
                if std::fs::rename(&tmp, &dir).is_err() {
                    let _ = std::fs::remove_dir_all(&tmp);
                    if !dir.is_dir() {
                        return Err(StoreError::Snapshot(format!("cannot place snapshot {}", dir.display())));
                    }
                }
            }
            dirs.push(dir);
        }
        Ok(dirs)
    }

    /// Mounts at `dir/rootfs` a writable overlay of the chain whose changes go to
    /// `dir/upper` (kept across mounts: a container's filesystem survives restarts).
    pub fn mount_rootfs(&self, dir: &Path, diff_ids: &[Digest]) -> Result<PathBuf, StoreError> {
        let mut lowers = self.layer_snapshots(diff_ids)?;
        if lowers.is_empty() {
            // overlayfs needs one lower directory: an empty one stands for scratch.
            let empty = self.root().join("snapshots/empty");
            std::fs::create_dir_all(&empty).map_err(io(&empty))?;
            lowers.push(empty);
        }
        lowers.reverse();
        for d in ["upper", "work", "rootfs"] {
            let p = dir.join(d);
            std::fs::create_dir_all(&p).map_err(io(&p))?;
        }
        let rootfs = dir.join("rootfs");
        mount_overlay(&lowers, &dir.join("upper"), &dir.join("work"), &rootfs)
            .map_err(|e| StoreError::io(&rootfs, e))?;
        Ok(rootfs)
    }

    /// Mounts at `dir/rootfs` a writable overlay over the directory `lower` whose
    /// changes go to `dir/upper` and are thrown away with `dir` (RUN --mount=rw).
    pub fn mount_scratch_over(&self, lower: &Path, dir: &Path) -> Result<PathBuf, StoreError> {
        for d in ["upper", "work", "rootfs"] {
            let p = dir.join(d);
            std::fs::create_dir_all(&p).map_err(io(&p))?;
        }
        let rootfs = dir.join("rootfs");
        mount_overlay(&[lower.to_path_buf()], &dir.join("upper"), &dir.join("work"), &rootfs)
            .map_err(|e| StoreError::io(&rootfs, e))?;
        Ok(rootfs)
    }

    /// A new sandbox: an overlay of the chain, writable, mounted at its `rootfs`.
    pub fn sandbox(&self, diff_ids: &[Digest]) -> Result<Sandbox, StoreError> {
        let dir = self.root().join("sandboxes").join(format!("{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let lock = crate::lock::exclusive_file(&dir.join("lock"))?;
        let mut sandbox = Sandbox { rootfs: dir.join("rootfs"), dir, mounted: false, _lock: lock };
        self.mount_rootfs(&sandbox.dir, diff_ids)?;
        sandbox.mounted = true;
        Ok(sandbox)
    }

    /// Makes an unmounted sandbox's upper directory the snapshot of the chain
    /// `diff_ids` (whose last layer is the one written from it), so a following step
    /// needs no unpacking. If that snapshot exists already, nothing changes.
    pub fn commit_sandbox(&self, mut sandbox: Sandbox, diff_ids: &[Digest]) -> Result<(), StoreError> {
        sandbox.unmount()?;
        let Some(chain) = chain_ids(diff_ids).pop() else { return Ok(()) };
        let dir = self.snapshot_dir(&chain);
        if !dir.is_dir() {
            let upper = sandbox.upper();
            sync_tree(&upper)?;
            let _ = std::fs::rename(&upper, &dir);
        }
        Ok(())
    }

    /// Removes the sandboxes no live process holds, and the layer snapshots of chains
    /// that no image or build-cache record uses. Runs under the GC lock.
    pub(crate) fn sweep_snapshots(&self) -> Result<(), StoreError> {
        let sandboxes = self.root().join("sandboxes");
        if let Ok(entries) = std::fs::read_dir(&sandboxes) {
            for entry in entries.flatten() {
                let dir = entry.path();
                let Ok(lock) = File::open(dir.join("lock")) else { continue };
                if flock(&lock, FlockOperation::NonBlockingLockExclusive).is_ok() {
                    let rootfs = dir.join("rootfs");
                    let _ = mount::unmount(&rootfs, UnmountFlags::DETACH);
                    unmount_inner(&dir);
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
        }
        let mut keep = std::collections::HashSet::new();
        for layers in self.all_image_layers()?.into_values() {
            keep.extend(chain_ids(&layers).iter().map(|c| c.hex()));
        }
        for rec in self.cache_records()? {
            let diff_ids: Vec<Digest> = rec.layers.iter().map(|l| l.diff_id).collect();
            keep.extend(chain_ids(&diff_ids).iter().map(|c| c.hex()));
        }
        let snapshots = self.root().join("snapshots");
        let Ok(entries) = std::fs::read_dir(&snapshots) else { return Ok(()) };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale_tmp = name.starts_with("tmp-");
            if stale_tmp || (name.len() == 64 && !keep.contains(&name)) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(())
    }
}

/// Flushes a freshly written tree to disk before it is named as a snapshot: the
/// rename must never survive a crash that the contents did not.
fn sync_tree(dir: &Path) -> Result<(), StoreError> {
    // One syncfs covers every file of the filesystem holding the tree.
    let f = File::open(dir).map_err(io(dir))?;
    rustix::fs::syncfs(&f).map_err(|e| StoreError::io(dir, e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_image_spec() {
        let a = Digest::from_hex(&"a".repeat(64)).unwrap();
        let b = Digest::from_hex(&"b".repeat(64)).unwrap();
        let ids = chain_ids(&[a, b]);
        assert_eq!(ids[0], a);
        let mut h = gantry_image::Sha256::new();
        h.update(format!("sha256:{} sha256:{}", "a".repeat(64), "b".repeat(64)).as_bytes());
        assert_eq!(ids[1], h.finish());
    }
}
