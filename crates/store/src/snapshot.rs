//! Snapshots: every layer unpacked once, in the overlayfs lower-layer format, under
//! `<root>/snapshots/<chain ID>/`, shared by every container and RUN step on that
//! chain; and sandboxes, the writable root filesystems made of them
//! (`<root>/sandboxes/<id>/`). A RUN step's changes are read from an upper directory
//! alone, and that directory then becomes the new layer's snapshot without being
//! unpacked again.
//!
//! Two drivers make a root filesystem ([`StorageDriver`]): overlay mounts the chain
//! with the sandbox's own upper and work directories; copy, for kernels or setups
//! where overlayfs cannot be mounted, lays the chain's snapshots out in a plain
//! directory and, when the changes are wanted, compares it with them to write the
//! upper directory overlayfs would have written (`gantry_layer::naive`), so the layers
//! and snapshots that follow are the same whichever driver made them. The store
//! chooses one (the caller's choice, else overlay when a probe mount works); each
//! sandbox and container directory records the driver it was made with in its
//! `driver` file, so a later command handles it the same way whatever it would choose.
//!
//! Crash safety: a snapshot is unpacked under a temporary name and renamed into place
//! complete; a copied root filesystem counts only once its `rootfs-ready` file exists
//! (a partial one is made again); a sandbox holds an flock on its `lock` file while in
//! use, so the sandboxes of dead processes (copies included) are recognised and swept.

use std::fs::File;
use std::path::{Path, PathBuf};

use gantry_image::Digest;
use gantry_layer::apply::{extract_layer, RootDir, Whiteouts};
use gantry_layer::naive::{changes_as_upper, copy_tree, settle_time, FsTime, Tree};
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

/// How sandboxes' and containers' root filesystems are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageDriver {
    /// An overlayfs mount of the chain's snapshots, changes in its own upper dir.
    Overlay,
    /// A plain copy of the chain's snapshots; changes found by comparing with them.
    Copy,
}

impl StorageDriver {
    /// The name `--storage-driver` takes and `gantry info` shows.
    pub fn name(self) -> &'static str {
        match self {
            StorageDriver::Overlay => "overlay",
            StorageDriver::Copy => "copy",
        }
    }

    pub fn parse(name: &str) -> Option<StorageDriver> {
        match name.trim() {
            "overlay" | "overlay2" => Some(StorageDriver::Overlay),
            "copy" | "vfs" => Some(StorageDriver::Copy),
            _ => None,
        }
    }
}

/// The file of a sandbox or container directory naming the driver it was made with.
const DRIVER_FILE: &str = "driver";

/// The overlay probe's answer and the boot it was made in, at the store's root.
const PROBE_FILE: &str = "storage-driver.probe";

/// Written once a copied root filesystem is complete: when it was (see [`settle_time`]).
const READY_FILE: &str = "rootfs-ready";

/// When the copied root filesystem of `dir` was complete, if it is.
fn ready_time(dir: &Path) -> Option<FsTime> {
    let text = std::fs::read_to_string(dir.join(READY_FILE)).ok()?;
    let (secs, nanos) = text.trim().split_once(' ')?;
    Some((secs.parse().ok()?, nanos.parse().ok()?))
}

/// A writable root filesystem over a layer chain. Unmounted and removed on drop
/// unless [`Store::commit_sandbox`] took its changes.
pub struct Sandbox {
    dir: PathBuf,
    rootfs: PathBuf,
    mounted: bool,
    driver: StorageDriver,
    /// Copy driver: the chain's snapshots (lowest first), and when the copy was complete.
    lowers: Vec<PathBuf>,
    since: Option<FsTime>,
    /// Copy driver: whether the upper directory has been written from the copy.
    compared: bool,
    _lock: File,
}

impl Sandbox {
    /// Where the container's root filesystem is.
    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    /// The directory holding this sandbox's own files (bundle, upper, work).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The overlay upper directory: everything written since the sandbox was made
    /// (deletions as 0:0 character devices, opaque directories marked by xattr). With
    /// the copy driver it exists once [`Sandbox::changes`] wrote it.
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

    /// Ends the sandbox's use and returns its upper directory, the layer's contents
    /// whichever the driver: the copy driver writes it now, from what differs between
    /// the copy and the chain (once; later calls return the same directory).
    pub fn changes(&mut self) -> Result<PathBuf, StoreError> {
        self.unmount()?;
        let upper = self.upper();
        if self.driver == StorageDriver::Copy && !self.compared {
            if upper.exists() {
                std::fs::remove_dir_all(&upper).map_err(io(&upper))?;
            }
            std::fs::create_dir(&upper).map_err(io(&upper))?;
            changes_as_upper(&self.lowers, &self.rootfs, &upper, self.since)
                .map_err(|e| StoreError::Snapshot(format!("reading the changes of {}: {e}", self.rootfs.display())))?;
            self.compared = true;
        }
        Ok(upper)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.unmount();
        unmount_inner(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A container's changes as an overlayfs upper directory, for as long as it is held:
/// the overlay upper dir itself, or one the copy driver wrote for the occasion (and
/// removes when dropped).
pub struct Changes {
    path: PathBuf,
    temporary: bool,
}

impl Changes {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Changes {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
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

    /// The driver new root filesystems are made with: the one set by
    /// [`Store::set_storage_driver`], else overlay if an overlay can be mounted here,
    /// else copy. The probe's answer is kept in the store for the rest of the boot (a
    /// kernel module or a mount policy changes with a reboot), so that not every
    /// command mounts a test overlay.
    pub fn storage_driver(&self) -> StorageDriver {
        *self.driver.get_or_init(|| {
            let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
            let probed = self.root().join(PROBE_FILE);
            let kept = std::fs::read_to_string(&probed).ok().and_then(|t| {
                let (driver, at_boot) = t.split_once('\n')?;
                (!boot.is_empty() && at_boot == boot.trim()).then(|| StorageDriver::parse(driver)).flatten()
            });
            kept.unwrap_or_else(|| {
                let driver = if self.overlay_mounts() { StorageDriver::Overlay } else { StorageDriver::Copy };
                // Best effort: without it the next command probes again.
                let tmp = probed.with_extension(format!("{}", std::process::id()));
                let text = format!("{}\n{}", driver.name(), boot.trim());
                if std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &probed)).is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                driver
            })
        })
    }

    /// Chooses the driver for the root filesystems this process makes (`--storage-driver`).
    pub fn set_storage_driver(&mut self, driver: StorageDriver) {
        self.driver = std::cell::OnceCell::from(driver);
    }

    /// Whether the kernel mounts an overlay with its upper directory in this store (the
    /// module may be missing, mounting forbidden, or the filesystem unfit as an upper).
    /// The probe is a sandbox of its own, so a crash during it leaves nothing a sweep
    /// would not remove.
    fn overlay_mounts(&self) -> bool {
        let dir = self.root().join("sandboxes").join(format!("probe-{:016x}", rand::random::<u64>()));
        if std::fs::create_dir_all(&dir).is_err() {
            return false;
        }
        let works = crate::lock::exclusive_file(&dir.join("lock")).is_ok_and(|_lock| {
            let p = |name: &str| {
                let path = dir.join(name);
                std::fs::create_dir(&path).map(|()| path)
            };
            match (p("lower"), p("upper"), p("work"), p("rootfs")) {
                (Ok(lower), Ok(upper), Ok(work), Ok(rootfs)) => {
                    let mounted = mount_overlay(&[lower], &upper, &work, &rootfs).is_ok();
                    if mounted {
                        let _ = mount::unmount(&rootfs, UnmountFlags::DETACH);
                    }
                    mounted
                }
                _ => false,
            }
        });
        let _ = std::fs::remove_dir_all(&dir);
        works
    }

    /// Records in `dir` (made if missing) the driver its root filesystem is made with.
    pub(crate) fn record_driver(&self, dir: &Path, driver: StorageDriver) -> Result<(), StoreError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let file = dir.join(DRIVER_FILE);
        std::fs::write(&file, driver.name()).map_err(io(&file))
    }

    /// The driver `dir` was made with: as recorded, else overlay if it has an upper
    /// directory (made before drivers were recorded), else the store's.
    fn driver_of(&self, dir: &Path) -> StorageDriver {
        if let Some(d) = std::fs::read_to_string(dir.join(DRIVER_FILE)).ok().and_then(|t| StorageDriver::parse(&t)) {
            return d;
        }
        if dir.join("upper").is_dir() {
            return StorageDriver::Overlay;
        }
        self.storage_driver()
    }

    /// Makes at `dir/rootfs` a writable root filesystem of the chain, with the driver
    /// `dir` was made with (recording the store's if none): an overlay whose changes
    /// go to `dir/upper`, or a copy. Either is kept across mounts: a container's
    /// filesystem survives restarts.
    pub fn mount_rootfs(&self, dir: &Path, diff_ids: &[Digest]) -> Result<PathBuf, StoreError> {
        let driver = self.driver_of(dir);
        if !dir.join(DRIVER_FILE).exists() {
            self.record_driver(dir, driver)?;
        }
        match driver {
            StorageDriver::Overlay => self.overlay_rootfs(dir, diff_ids),
            // A container's copy must survive a crash; a build's is swept after one.
            StorageDriver::Copy => self.copy_rootfs(dir, diff_ids, dir.starts_with(self.root().join("containers"))),
        }
    }

    fn overlay_rootfs(&self, dir: &Path, diff_ids: &[Digest]) -> Result<PathBuf, StoreError> {
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

    /// The copy driver's root filesystem at `dir/rootfs`: the chain's snapshots laid
    /// out bottom to top, unless a complete copy is there already. `durable` syncs it
    /// before it counts as complete.
    fn copy_rootfs(&self, dir: &Path, diff_ids: &[Digest], durable: bool) -> Result<PathBuf, StoreError> {
        let rootfs = dir.join("rootfs");
        if ready_time(dir).is_some() {
            return Ok(rootfs);
        }
        let lowers = self.layer_snapshots(diff_ids)?;
        // What an interrupted copy left.
        let _ = mount::unmount(&rootfs, UnmountFlags::DETACH);
        if rootfs.symlink_metadata().is_ok() {
            std::fs::remove_dir_all(&rootfs).map_err(io(&rootfs))?;
        }
        std::fs::create_dir_all(&rootfs).map_err(io(&rootfs))?;
        let made = (|| {
            for lower in &lowers {
                copy_tree(lower, &rootfs, Tree::Lower)
                    .map_err(|e| StoreError::Snapshot(format!("copying {}: {e}", lower.display())))?;
            }
            let (secs, nanos) = settle_time(dir).map_err(io(dir))?;
            if durable {
                sync_tree(&rootfs)?;
            }
            let tmp = dir.join(format!("{READY_FILE}.tmp"));
            std::fs::write(&tmp, format!("{secs} {nanos}\n")).map_err(io(&tmp))?;
            std::fs::rename(&tmp, dir.join(READY_FILE)).map_err(io(&tmp))
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&rootfs);
            return Err(e);
        }
        Ok(rootfs)
    }

    /// Makes at `dir/rootfs` a writable view of the directory `lower` whose changes
    /// are thrown away with `dir` (RUN --mount): an overlay, or a copy. The paths in
    /// `hidden` (relative to `lower`, none through a symlink of it) are left out of the
    /// view: whited out in the overlay's upper directory, or removed from the copy.
    pub fn mount_scratch_over(&self, lower: &Path, dir: &Path, hidden: &[String]) -> Result<PathBuf, StoreError> {
        let rootfs = dir.join("rootfs");
        let hide = |root: &Path, how: fn(&RootDir, &[u8]) -> std::io::Result<()>| -> Result<(), StoreError> {
            let root = RootDir::open(root).map_err(|e| StoreError::Snapshot(e.to_string()))?;
            for path in hidden {
                how(&root, path.as_bytes()).map_err(|e| StoreError::Snapshot(format!("hiding {path}: {e}")))?;
            }
            Ok(())
        };
        if self.storage_driver() == StorageDriver::Copy {
            std::fs::create_dir_all(&rootfs).map_err(io(&rootfs))?;
            copy_tree(lower, &rootfs, Tree::Plain)
                .map_err(|e| StoreError::Snapshot(format!("copying {}: {e}", lower.display())))?;
            hide(&rootfs, RootDir::remove_all)?;
            return Ok(rootfs);
        }
        for d in ["upper", "work", "rootfs"] {
            let p = dir.join(d);
            std::fs::create_dir_all(&p).map_err(io(&p))?;
        }
        let upper = dir.join("upper");
        hide(&upper, RootDir::hide)?;
        // A directory made in the upper one to hold a whiteout shows its attributes in
        // the view: give it those of the directory it stands over.
        let parents: std::collections::BTreeSet<&Path> = hidden
            .iter()
            .flat_map(|path| Path::new(path).ancestors().skip(1))
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        for parent in parents {
            let (made, below) = (upper.join(parent), lower.join(parent));
            if let Some(meta) = std::fs::symlink_metadata(&below).ok().filter(|m| m.is_dir()) {
                use std::os::unix::fs::MetadataExt;
                let _ = std::os::unix::fs::lchown(&made, Some(meta.uid()), Some(meta.gid()));
                let _ = std::fs::set_permissions(&made, meta.permissions());
                let _ = std::fs::File::open(&made).and_then(|f| f.set_modified(meta.modified()?));
            }
        }
        mount_overlay(&[lower.to_path_buf()], &upper, &dir.join("work"), &rootfs)
            .map_err(|e| StoreError::io(&rootfs, e))?;
        Ok(rootfs)
    }

    /// A new sandbox: a writable root filesystem of the chain at its `rootfs`, made
    /// with the store's driver.
    pub fn sandbox(&self, diff_ids: &[Digest]) -> Result<Sandbox, StoreError> {
        let driver = self.storage_driver();
        let dir = self.root().join("sandboxes").join(format!("{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let lock = crate::lock::exclusive_file(&dir.join("lock"))?;
        let mut sandbox = Sandbox {
            rootfs: dir.join("rootfs"),
            dir,
            mounted: false,
            driver,
            lowers: Vec::new(),
            since: None,
            compared: false,
            _lock: lock,
        };
        self.record_driver(&sandbox.dir, driver)?;
        match driver {
            StorageDriver::Overlay => {
                self.overlay_rootfs(&sandbox.dir, diff_ids)?;
                sandbox.mounted = true;
            }
            StorageDriver::Copy => {
                self.copy_rootfs(&sandbox.dir, diff_ids, false)?;
                sandbox.lowers = self.layer_snapshots(diff_ids)?;
                sandbox.since = ready_time(&sandbox.dir);
            }
        }
        Ok(sandbox)
    }

    /// Makes a sandbox's upper directory ([`Sandbox::changes`]) the snapshot of the
    /// chain `diff_ids` (whose last layer is the one written from it), so a following
    /// step needs no unpacking. If that snapshot exists already, nothing changes.
    pub fn commit_sandbox(&self, mut sandbox: Sandbox, diff_ids: &[Digest]) -> Result<(), StoreError> {
        let upper = sandbox.changes()?;
        let Some(chain) = chain_ids(diff_ids).pop() else { return Ok(()) };
        let dir = self.snapshot_dir(&chain);
        if !dir.is_dir() {
            sync_tree(&upper)?;
            let _ = std::fs::rename(&upper, &dir);
        }
        Ok(())
    }

    /// The changes of the container whose directory is `dir` (on the chain
    /// `diff_ids`), as an overlayfs upper directory ([`Changes`]). A copy never made
    /// (a container never started) has none.
    pub fn container_changes(&self, dir: &Path, diff_ids: &[Digest]) -> Result<Changes, StoreError> {
        if self.driver_of(dir) == StorageDriver::Overlay {
            let upper = dir.join("upper");
            std::fs::create_dir_all(&upper).map_err(io(&upper))?;
            return Ok(Changes { path: upper, temporary: false });
        }
        let path = dir.join(format!("changes-{:016x}", rand::random::<u64>()));
        std::fs::create_dir(&path).map_err(io(&path))?;
        let changes = Changes { path, temporary: true };
        if let Some(since) = ready_time(dir) {
            let lowers = self.layer_snapshots(diff_ids)?;
            changes_as_upper(&lowers, &dir.join("rootfs"), changes.path(), Some(since))
                .map_err(|e| StoreError::Snapshot(format!("reading the container's changes: {e}")))?;
        }
        Ok(changes)
    }

    /// Removes the sandboxes no live process holds (mounted or copied root filesystems
    /// alike, and overlay probes), and the layer snapshots of chains that no image or
    /// build-cache record uses. Runs under the GC lock.
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

    /// The overlay probe runs once per boot: its answer is kept with the boot's ID, and
    /// an answer from another boot is probed again. (Tests run as root: overlay mounts.)
    #[test]
    fn the_probe_is_kept_for_the_boot() {
        let tmp = tempfile::tempdir().unwrap();
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        let probed = Store::open(tmp.path()).unwrap().storage_driver();
        let kept = std::fs::read_to_string(tmp.path().join(PROBE_FILE)).unwrap();
        assert_eq!(kept, format!("{}\n{}", probed.name(), boot.trim()));
        // A kept answer is believed...
        let other = if probed == StorageDriver::Copy { StorageDriver::Overlay } else { StorageDriver::Copy };
        std::fs::write(tmp.path().join(PROBE_FILE), format!("{}\n{}", other.name(), boot.trim())).unwrap();
        assert_eq!(Store::open(tmp.path()).unwrap().storage_driver(), other);
        // ...for its boot only.
        std::fs::write(tmp.path().join(PROBE_FILE), format!("{}\nanother-boot", other.name())).unwrap();
        assert_eq!(Store::open(tmp.path()).unwrap().storage_driver(), probed);
        let left: Vec<_> = std::fs::read_dir(tmp.path().join("sandboxes")).into_iter().flatten().collect();
        assert!(left.is_empty(), "the probe leaves no sandbox: {left:?}");
    }

    #[test]
    fn copy_sandboxes_record_their_driver_and_leave_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        store.set_storage_driver(StorageDriver::Copy);
        let mut sandbox = store.sandbox(&[]).unwrap();
        let dir = sandbox.dir().to_path_buf();
        assert_eq!(std::fs::read_to_string(dir.join(DRIVER_FILE)).unwrap(), "copy");
        assert_eq!(store.driver_of(&dir), StorageDriver::Copy);
        std::fs::write(sandbox.rootfs().join("made"), b"x").unwrap();
        let upper = sandbox.changes().unwrap();
        assert_eq!(std::fs::read(upper.join("made")).unwrap(), b"x");
        drop(sandbox);
        assert!(!dir.exists());
        // A directory made before drivers were recorded, with an upper dir, is overlay's.
        let old = tmp.path().join("containers/old");
        std::fs::create_dir_all(old.join("upper")).unwrap();
        assert_eq!(store.driver_of(&old), StorageDriver::Overlay);
        assert_eq!(StorageDriver::parse("copy\n"), Some(StorageDriver::Copy));
        assert_eq!(StorageDriver::parse("zfs"), None);
    }
}
