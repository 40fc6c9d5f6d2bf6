//! The copy snapshotter's two halves, for machines without overlayfs (DESIGN.md,
//! "Snapshots = overlayfs where the kernel allows, a plain copy otherwise").
//!
//! [`copy_tree`] lays layer snapshots (overlayfs lower directories) one over the other
//! into a plain directory, with overlay's meaning: a 0:0 character device removes
//! what is below it, an opaque directory hides what is below it. [`changes_as_upper`]
//! finds what a container then changed in that directory, as docker's naive differ
//! does (type, mode, owners, device, size, mtime, link target and xattrs compared with
//! the layers below), and writes those changes as the overlayfs upper directory the
//! same changes would have left: changed entries hard-linked from the root filesystem,
//! their parent directories, whiteout devices and opaque directories. That directory
//! is read by [`crate::diff::write_diff`] like any upper directory, so both
//! snapshotters give the same layer, and it becomes the next layer's snapshot as it is.
//!
//! The root filesystem was written by the container, so nothing in it is trusted:
//! every entry is opened relative to its directory's fd, never following a symlink
//! (a planted `etc -> /` cannot make us read or link a host file), and other
//! filesystems mounted inside it are neither crossed nor taken as deletions. The walks
//! keep an explicit stack, so a hostile depth cannot exhaust ours; memory is one
//! directory's names per level, plus the paths of unchanged multiply-linked files.

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::XattrFlags;
use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Stat, StatxFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;

use crate::apply::{at, children, clear, fd_path, remove_tree, Xattrs, DIR_READ, OPAQUE_XATTR};
use crate::diff::{read_xattrs, Source};
use crate::LayerError;

/// What [`copy_tree`] copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    /// An overlayfs lower directory (a layer snapshot): whiteout devices remove, opaque
    /// directories hide, overlayfs's own xattrs are not copied.
    Lower,
    /// A plain directory (a build context's): copied as it is.
    Plain,
}

/// A point in time as the filesystem records it (seconds, nanoseconds).
pub type FsTime = (i64, u32);

/// overlayfs's own metadata: never copied into a root filesystem, never taken from one.
fn overlay_own(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

fn is_whiteout(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
}

fn mtime_of(st: &Stat) -> Timespec {
    Timespec { tv_sec: st.st_mtime, tv_nsec: st.st_mtime_nsec as _ }
}

fn times_of(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec { tv_sec: st.st_atime, tv_nsec: st.st_atime_nsec as _ },
        last_modification: mtime_of(st),
    }
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
}

fn stat_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Option<Stat>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether the caller may set owners and make devices (as in [`crate::apply::RootDir`]).
fn privileged() -> bool {
    rustix::process::geteuid().as_raw() == 0
}

/// Sets xattrs on an entry (overlayfs's own left out); those the filesystem or the
/// caller cannot set are left out, as layer extraction leaves them out.
fn set_xattrs(target: Source<'_>, xattrs: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
    for (name, value) in xattrs.iter().filter(|(n, _)| !overlay_own(n)) {
        let set = match &target {
            Source::Fd(fd) => rfs::fsetxattr(fd, name.as_slice(), value, XattrFlags::empty()),
            Source::Path(path) => rfs::lsetxattr(*path, name.as_slice(), value, XattrFlags::empty()),
        };
        match set {
            Ok(()) | Err(Errno::NOTSUP) | Err(Errno::PERM) => {}
            Err(e) => return Err(at(name, e.into())),
        }
    }
    Ok(())
}

/// Owners, permission bits (after the owners: chown clears setuid), xattrs and times
/// of `st` onto the open entry `fd`.
fn set_meta_fd(fd: BorrowedFd<'_>, st: &Stat, xattrs: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
    if privileged() {
        rfs::fchown(fd, Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)))?;
    }
    rfs::fchmod(fd, Mode::from_raw_mode(st.st_mode & 0o7777))?;
    set_xattrs(Source::Fd(fd), xattrs)?;
    rfs::futimens(fd, &times_of(st))?;
    Ok(())
}

/// Makes a copy of the non-directory `name` of `src` (stat'ed as `st`, with `xattrs`)
/// as `name` in `dest`, which has nothing by that name. Regular files are cloned
/// (reflink) where the filesystem can, else copied in the kernel (`copy_file_range`).
/// Sockets are not copied; devices only when privileged.
fn copy_node(src: BorrowedFd<'_>, name: &[u8], st: &Stat, xattrs: &Xattrs, dest: BorrowedFd<'_>) -> io::Result<()> {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
            let input = rfs::openat(src, name, flags, Mode::empty())?;
            let now = rfs::fstat(&input)?;
            if now.st_dev != st.st_dev || now.st_ino != st.st_ino {
                return Err(io::Error::other("replaced while being copied"));
            }
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let out = rfs::openat(dest, name, flags, Mode::from_raw_mode(0o600))?;
            if rfs::ioctl_ficlone(&out, &input).is_err() {
                // std's File-to-File copy is copy_file_range (or sendfile) in the kernel.
                let (mut input, mut out) = (File::from(input), File::from(out.try_clone()?));
                io::copy(&mut input, &mut out)?;
            }
            set_meta_fd(out.as_fd(), st, xattrs)
        }
        FileType::Symlink => {
            let target = rfs::readlinkat(src, name, Vec::new())?;
            rfs::symlinkat(target.as_c_str(), dest, name)?;
            if privileged() {
                let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
                rfs::chownat(dest, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
            }
            set_xattrs(Source::Path(&fd_path(dest, name)), xattrs)?;
            rfs::utimensat(dest, name, &times_of(st), AtFlags::SYMLINK_NOFOLLOW)?;
            Ok(())
        }
        FileType::Fifo => {
            rfs::mknodat(dest, name, FileType::Fifo, Mode::from_raw_mode(0o600), 0)?;
            // A fifo opened for reading without blocking gives an fd to set metadata on.
            let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rfs::openat(dest, name, flags, Mode::empty())?;
            set_meta_fd(fd.as_fd(), st, xattrs)
        }
        kind @ (FileType::CharacterDevice | FileType::BlockDevice) => {
            if !privileged() {
                return Ok(());
            }
            rfs::mknodat(dest, name, kind, Mode::from_raw_mode(0o600), st.st_rdev)?;
            let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
            rfs::chownat(dest, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
            // The node was just made by us, in a directory reached without following.
            rfs::chmodat(dest, name, Mode::from_raw_mode(st.st_mode & 0o7777), AtFlags::empty())?;
            set_xattrs(Source::Path(&fd_path(dest, name)), xattrs)?;
            rfs::utimensat(dest, name, &times_of(st), AtFlags::SYMLINK_NOFOLLOW)?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A directory being copied: both fds, its path with a trailing '/', the names still to
/// copy, and its metadata (applied once its contents are in place).
struct CopyLevel {
    src: OwnedFd,
    dest: OwnedFd,
    prefix: Vec<u8>,
    names: std::vec::IntoIter<Vec<u8>>,
    meta: Option<(Stat, Xattrs)>,
}

/// Copies the tree `src` into the existing directory `dest`, over what is there, with
/// owners (when privileged), modes, mtimes, xattrs, symlinks, devices, fifos and the
/// hard links among `src`'s files. As [`Tree::Lower`], `src` is one layer laid over
/// the layers already in `dest`, with overlay's meaning: a whiteout device removes its
/// path, an opaque directory first empties what `dest` has there, a directory's
/// metadata replaces the one below. `dest`'s own metadata is left as it is (a root
/// filesystem's top is the sandbox's, as an overlay mount's is its upper dir's).
/// On error `dest` holds a partial tree, which the caller removes.
pub fn copy_tree(src: &Path, dest: &Path, tree: Tree) -> Result<(), LayerError> {
    let fail_read = |p: &[u8], e: io::Error| LayerError::Read(at(p, e));
    let src_fd = open_dir(src).map_err(|e| fail_read(src.as_os_str().as_bytes(), e))?;
    let dest_fd = open_dir(dest).map_err(|e| LayerError::Write(at(dest.as_os_str().as_bytes(), e)))?;
    let dest_root = dest_fd.try_clone().map_err(LayerError::Write)?;
    let dev = rfs::fstat(&src_fd).map_err(|e| fail_read(src.as_os_str().as_bytes(), e.into()))?.st_dev;
    // Hard links among this tree's files: the first path copied of each inode.
    let mut links: std::collections::HashMap<u64, Vec<u8>> = Default::default();
    if tree == Tree::Lower && opaque(src_fd.as_fd()).map_err(|e| fail_read(b"/", e))? {
        empty(dest_fd.as_fd()).map_err(|e| LayerError::Write(at(b"/", e)))?;
    }
    let names = names_of(src_fd.as_fd()).map_err(|e| fail_read(b"/", e))?;
    let mut stack =
        vec![CopyLevel { src: src_fd, dest: dest_fd, prefix: Vec::new(), names: names.into_iter(), meta: None }];
    while let Some(level) = stack.last_mut() {
        let Some(name) = level.names.next() else {
            if let Some(level) = stack.pop() {
                if let Some((st, xattrs)) = &level.meta {
                    let p = &level.prefix;
                    sync_xattrs(level.dest.as_fd(), xattrs).map_err(|e| LayerError::Write(at(p, e)))?;
                    set_meta_fd(level.dest.as_fd(), st, xattrs).map_err(|e| LayerError::Write(at(p, e)))?;
                }
            }
            continue;
        };
        let mut rel = level.prefix.clone();
        rel.extend_from_slice(&name);
        let (src, dest) = (level.src.as_fd(), level.dest.as_fd());
        let Some(st) = stat_at(src, &name).map_err(|e| fail_read(&rel, e))? else { continue };
        let werr = |e: io::Error| LayerError::Write(at(&rel, e));
        let kind = FileType::from_raw_mode(st.st_mode);
        if st.st_dev != dev || matches!(kind, FileType::Socket | FileType::Unknown) {
            continue;
        }
        if tree == Tree::Lower && is_whiteout(&st) {
            clear(dest, &name, false).map_err(werr)?;
            continue;
        }
        if kind == FileType::Directory {
            let sub =
                rfs::openat(src, name.as_slice(), DIR_READ, Mode::empty()).map_err(|e| fail_read(&rel, e.into()))?;
            let xattrs = read_xattrs(Source::Fd(sub.as_fd())).map_err(|e| fail_read(&rel, e))?;
            let hide_below = tree == Tree::Lower && opaque(sub.as_fd()).map_err(|e| fail_read(&rel, e))?;
            let kept = clear(dest, &name, true).map_err(werr)?;
            if !kept {
                rfs::mkdirat(dest, name.as_slice(), Mode::from_raw_mode(0o700)).map_err(|e| werr(e.into()))?;
            }
            let out = rfs::openat(dest, name.as_slice(), DIR_READ, Mode::empty()).map_err(|e| werr(e.into()))?;
            if kept && hide_below {
                empty(out.as_fd()).map_err(werr)?;
            }
            let names = names_of(sub.as_fd()).map_err(|e| fail_read(&rel, e))?;
            let mut prefix = rel;
            prefix.push(b'/');
            stack.push(CopyLevel { src: sub, dest: out, prefix, names: names.into_iter(), meta: Some((st, xattrs)) });
            continue;
        }
        clear(dest, &name, false).map_err(werr)?;
        if st.st_nlink > 1 {
            if let Some(first) = links.get(&st.st_ino) {
                rfs::linkat(&dest_root, first.as_slice(), dest, name.as_slice(), AtFlags::empty())
                    .map_err(|e| werr(e.into()))?;
                continue;
            }
            links.insert(st.st_ino, rel.clone());
        }
        let xattrs = if kind == FileType::RegularFile {
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
            let fd = rfs::openat(src, name.as_slice(), flags, Mode::empty()).map_err(|e| fail_read(&rel, e.into()))?;
            read_xattrs(Source::Fd(fd.as_fd()))
        } else {
            read_xattrs(Source::Path(&fd_path(src, &name)))
        }
        .map_err(|e| fail_read(&rel, e))?;
        copy_node(src, &name, &st, &xattrs, dest).map_err(werr)?;
    }
    Ok(())
}

/// The names in a directory, sorted (so copies and diffs go in a stable order).
fn names_of(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut names: Vec<Vec<u8>> = children(dir)?.into_iter().map(|(n, _)| n).collect();
    names.sort_unstable();
    Ok(names)
}

/// Whether an overlayfs lower directory is opaque.
fn opaque(dir: BorrowedFd<'_>) -> io::Result<bool> {
    let mut buf = [0u8; 8];
    match rfs::fgetxattr(dir, OPAQUE_XATTR, &mut buf) {
        Ok(n) => Ok(&buf[..n] == b"y"),
        Err(Errno::NODATA) | Err(Errno::NOTSUP) | Err(Errno::RANGE) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Removes everything in a directory, never following a symlink.
fn empty(dir: BorrowedFd<'_>) -> io::Result<()> {
    for (child, kind) in children(dir)? {
        if kind == FileType::Directory {
            remove_tree(dir, &child)?;
        } else {
            rfs::unlinkat(dir, child.as_slice(), AtFlags::empty())?;
        }
    }
    Ok(())
}

/// Removes from a directory the xattrs `keep` does not name (overlayfs's own aside):
/// the upper layer's directory replaces the lower one's metadata whole.
fn sync_xattrs(dir: BorrowedFd<'_>, keep: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
    let present = read_xattrs(Source::Fd(dir))?;
    for (name, _) in present {
        if !overlay_own(&name) && !keep.iter().any(|(k, _)| *k == name) {
            match rfs::fremovexattr(dir, name.as_slice()) {
                Ok(()) | Err(Errno::NODATA) | Err(Errno::NOTSUP) | Err(Errno::PERM) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// What the layers below show at one path.
struct Below {
    st: Stat,
    xattrs: Xattrs,
    /// For a symlink, its target.
    link: Vec<u8>,
    /// For a directory, that directory in each layer that shows through, top first.
    dirs: Vec<OwnedFd>,
}

/// Looks `name` up in the merged view of `lowers` (one directory per layer, top
/// first): the topmost entry wins, a whiteout hides, a directory merges with the
/// directories below it down to an opaque one or a non-directory.
fn below(lowers: &[OwnedFd], name: &[u8]) -> io::Result<Option<Below>> {
    for (i, dir) in lowers.iter().enumerate() {
        let Some(st) = stat_at(dir.as_fd(), name)? else { continue };
        if is_whiteout(&st) {
            return Ok(None);
        }
        let kind = FileType::from_raw_mode(st.st_mode);
        let mut found = Below { st, xattrs: Vec::new(), link: Vec::new(), dirs: Vec::new() };
        match kind {
            FileType::Directory => {
                let fd = rfs::openat(dir, name, DIR_READ, Mode::empty())?;
                found.xattrs = read_xattrs(Source::Fd(fd.as_fd()))?;
                let mut bottom = opaque(fd.as_fd())?;
                found.dirs.push(fd);
                for lower in &lowers[i + 1..] {
                    if bottom {
                        break;
                    }
                    let Some(st) = stat_at(lower.as_fd(), name)? else { continue };
                    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                        break;
                    }
                    let fd = rfs::openat(lower, name, DIR_READ, Mode::empty())?;
                    bottom = opaque(fd.as_fd())?;
                    found.dirs.push(fd);
                }
            }
            _ => {
                found.xattrs = read_xattrs(Source::Path(&fd_path(dir.as_fd(), name)))?;
                if kind == FileType::Symlink {
                    found.link = rfs::readlinkat(dir, name, Vec::new())?.into_bytes();
                }
            }
        }
        return Ok(Some(found));
    }
    Ok(None)
}

/// Whether an entry differs from what the layers below show there, as docker's naive
/// differ decides (moby `changes.go`, `statDifferent`): type, permission bits, owners,
/// device, and for non-directories size and mtime; also xattrs and link targets, and a
/// directory's mtime (overlayfs copies up a directory whose entries changed, even
/// when the changed entry is gone again).
fn differs(st: &Stat, xattrs: &Xattrs, link: &[u8], old: &Below) -> bool {
    let o = &old.st;
    let kind = FileType::from_raw_mode(st.st_mode);
    let own = |x: &Xattrs| -> Vec<(Vec<u8>, Vec<u8>)> {
        x.iter().filter(|(n, _)| !overlay_own(n) && n.as_slice() != b"security.selinux").cloned().collect()
    };
    st.st_mode != o.st_mode
        || st.st_uid != o.st_uid
        || st.st_gid != o.st_gid
        || st.st_rdev != o.st_rdev
        || mtime_of(st) != mtime_of(o)
        || (kind != FileType::Directory && st.st_size != o.st_size)
        || link != old.link.as_slice()
        || own(xattrs) != own(&old.xattrs)
}

/// A directory of the root filesystem being compared.
struct Level {
    /// Its path with a trailing '/' (empty for the root).
    prefix: Vec<u8>,
    name: Vec<u8>,
    rootfs: OwnedFd,
    /// The same directory in each layer that shows through, top first (none when the
    /// directory is new or replaced what was below).
    lowers: Vec<OwnedFd>,
    names: std::vec::IntoIter<Vec<u8>>,
    st: Stat,
    xattrs: Xattrs,
    /// The directory in the upper dir, once something is written there.
    upper: Option<OwnedFd>,
}

/// Writes into `upper` (an existing empty directory on the filesystem of `rootfs`) the
/// overlayfs upper directory of the changes made in `rootfs` since it was laid out
/// from `lowers` (layer snapshots, lowest first) with [`copy_tree`]: every added or
/// changed entry (hard-linked from `rootfs`, or copied where it cannot be), every
/// directory above one, whiteout devices for deleted paths (owned by root, with their
/// directory's mtime, the closest to when the deletion happened) and, when `since` (the
/// time the layout was complete) is known and the filesystem records creation times,
/// opaque directories where a directory of the layers below was replaced by a new one.
/// Without creation times a replaced directory is written as changed, with whiteouts
/// for what it lost: the same files, as docker's naive differ writes them.
///
/// A file sharing its inode with a changed one is written too, as overlayfs would have
/// copied both up (`ln old new` gives `old` and a link to it).
pub fn changes_as_upper(
    lowers: &[PathBuf],
    rootfs: &Path,
    upper: &Path,
    since: Option<FsTime>,
) -> Result<(), LayerError> {
    let rootfs_name = rootfs.as_os_str().as_bytes();
    let read = |p: &[u8], e: io::Error| LayerError::Read(at(p, e));
    let root = open_dir(rootfs).map_err(|e| read(rootfs_name, e))?;
    let st = rfs::fstat(&root).map_err(|e| read(rootfs_name, e.into()))?;
    let dev = st.st_dev;
    let upper_fd = open_dir(upper).map_err(|e| LayerError::Write(at(upper.as_os_str().as_bytes(), e)))?;
    let mut lower_roots = Vec::new();
    for l in lowers.iter().rev() {
        let fd = open_dir(l).map_err(|e| read(l.as_os_str().as_bytes(), e))?;
        let bottom = opaque(fd.as_fd()).map_err(|e| read(l.as_os_str().as_bytes(), e))?;
        lower_roots.push(fd);
        if bottom {
            break;
        }
    }
    let mut diff = Differ { dev, since, emitted: HashSet::new(), partners: Vec::new() };
    let names = diff.merged_names(root.as_fd(), &lower_roots).map_err(|e| read(b"/", e))?;
    let mut stack = vec![Level {
        prefix: Vec::new(),
        name: Vec::new(),
        rootfs: root.try_clone().map_err(|e| read(b"/", e))?,
        lowers: lower_roots,
        names: names.into_iter(),
        st,
        xattrs: Vec::new(),
        upper: Some(upper_fd.try_clone().map_err(LayerError::Write)?),
    }];
    while let Some(level) = stack.last_mut() {
        let Some(name) = level.names.next() else {
            if let Some(done) = stack.pop() {
                if let (Some(fd), false) = (&done.upper, done.prefix.is_empty()) {
                    set_meta_fd(fd.as_fd(), &done.st, &done.xattrs)
                        .map_err(|e| LayerError::Write(at(&done.prefix, e)))?;
                }
            }
            continue;
        };
        if let Some(next) = diff.visit(&mut stack, name)? {
            stack.push(next);
        }
    }
    diff.write_partners(root.as_fd(), upper_fd.as_fd())
}

struct Differ {
    dev: u64,
    since: Option<FsTime>,
    /// Inodes of the multiply-linked files written.
    emitted: HashSet<u64>,
    /// Unchanged multiply-linked files: their paths and inodes.
    partners: Vec<(Vec<u8>, u64)>,
}

impl Differ {
    /// The names in a directory of the root filesystem and in the layers below it.
    fn merged_names(&self, dir: BorrowedFd<'_>, lowers: &[OwnedFd]) -> io::Result<Vec<Vec<u8>>> {
        let mut names: BTreeSet<Vec<u8>> = children(dir)?.into_iter().map(|(n, _)| n).collect();
        for l in lowers {
            names.extend(children(l.as_fd())?.into_iter().map(|(n, _)| n));
        }
        Ok(names.into_iter().collect())
    }

    /// Compares the entry `name` of the directory on top of `stack`; returns the
    /// directory to walk next when it is one.
    fn visit(&mut self, stack: &mut [Level], name: Vec<u8>) -> Result<Option<Level>, LayerError> {
        let Some(level) = stack.last() else { return Ok(None) };
        let mut rel = level.prefix.clone();
        rel.extend_from_slice(&name);
        let read = |e: io::Error| LayerError::Read(at(&rel, e));
        let write = |e: io::Error| LayerError::Write(at(&rel, e));
        let now = stat_at(level.rootfs.as_fd(), &name).map_err(read)?;
        let old = below(&level.lowers, &name).map_err(read)?;
        let Some(st) = now else {
            if old.is_some() {
                let mtime = level.st.st_mtime;
                let upper = ensure_upper(stack).map_err(write)?;
                whiteout(upper.as_fd(), &name, mtime).map_err(write)?;
            }
            return Ok(None);
        };
        if st.st_dev != self.dev {
            // Another filesystem mounted here: neither a change nor a deletion.
            return Ok(None);
        }
        let kind = FileType::from_raw_mode(st.st_mode);
        if kind == FileType::Directory {
            let fd =
                rfs::openat(&level.rootfs, name.as_slice(), DIR_READ, Mode::empty()).map_err(|e| read(e.into()))?;
            let again = rfs::fstat(&fd).map_err(|e| read(e.into()))?;
            if again.st_ino != st.st_ino || again.st_dev != st.st_dev {
                return Err(read(io::Error::other("replaced while the changes were being read")));
            }
            let xattrs = read_xattrs(Source::Fd(fd.as_fd())).map_err(read)?;
            let (changed, replaced, lowers) = match old {
                None => (true, false, Vec::new()),
                Some(old) if FileType::from_raw_mode(old.st.st_mode) != FileType::Directory => (true, true, Vec::new()),
                Some(_) if self.born_since(fd.as_fd()) => (true, true, Vec::new()),
                Some(old) => (differs(&st, &xattrs, &[], &old), false, old.dirs),
            };
            let names = self.merged_names(fd.as_fd(), &lowers).map_err(read)?;
            let mut prefix = rel.clone();
            prefix.push(b'/');
            let next = Level { prefix, name, rootfs: fd, lowers, names: names.into_iter(), st, xattrs, upper: None };
            if changed {
                // The directory itself is a change: it goes in the upper dir now, with
                // its metadata once its contents are written.
                let parent = ensure_upper(stack).map_err(write)?;
                let made = make_upper_dir(parent.as_fd(), &next).map_err(write)?;
                if replaced {
                    rfs::fsetxattr(&made, OPAQUE_XATTR, b"y", XattrFlags::empty()).map_err(|e| write(e.into()))?;
                }
                return Ok(Some(Level { upper: Some(made), ..next }));
            }
            return Ok(Some(next));
        }
        if matches!(kind, FileType::Socket | FileType::Unknown) {
            return Ok(None);
        }
        let dir = level.rootfs.as_fd();
        let xattrs = node_xattrs(dir, &name, kind).map_err(read)?;
        let link = if kind == FileType::Symlink {
            rfs::readlinkat(dir, name.as_slice(), Vec::new()).map_err(|e| read(e.into()))?.into_bytes()
        } else {
            Vec::new()
        };
        let changed = match &old {
            None => true,
            Some(old) => differs(&st, &xattrs, &link, old),
        };
        if !changed {
            if st.st_nlink > 1 {
                self.partners.push((rel, st.st_ino));
            }
            return Ok(None);
        }
        let upper = ensure_upper(stack).map_err(write)?;
        let Some(level) = stack.last() else { return Ok(None) };
        self.emit(level.rootfs.as_fd(), &name, &st, &xattrs, upper.as_fd()).map_err(write)?;
        Ok(None)
    }

    /// Whether a directory was made after the root filesystem was laid out (it then
    /// replaced the one below, which overlayfs marks opaque).
    fn born_since(&self, dir: BorrowedFd<'_>) -> bool {
        let Some((secs, nanos)) = self.since else { return false };
        match rfs::statx(dir, "", AtFlags::EMPTY_PATH, StatxFlags::BTIME) {
            Ok(x) if x.stx_mask & StatxFlags::BTIME.bits() != 0 => {
                (x.stx_btime.tv_sec, x.stx_btime.tv_nsec) >= (secs, nanos)
            }
            _ => false,
        }
    }

    /// Puts the non-directory `name` of `dir` into `upper`: a hard link to it, or a copy
    /// where linking is refused or it carries overlayfs xattrs (which would mean
    /// something in an upper dir).
    fn emit(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        st: &Stat,
        xattrs: &Xattrs,
        upper: BorrowedFd<'_>,
    ) -> io::Result<()> {
        if st.st_nlink > 1 {
            self.emitted.insert(st.st_ino);
        }
        if !xattrs.iter().any(|(n, _)| overlay_own(n)) && rfs::linkat(dir, name, upper, name, AtFlags::empty()).is_ok()
        {
            return Ok(());
        }
        let _ = clear(upper, name, false);
        copy_node(dir, name, st, xattrs, upper)
    }

    /// Writes the unchanged files that share an inode with a written one, and the
    /// directories above them.
    fn write_partners(&mut self, rootfs: BorrowedFd<'_>, upper: BorrowedFd<'_>) -> Result<(), LayerError> {
        let partners = std::mem::take(&mut self.partners);
        for (rel, ino) in partners {
            if !self.emitted.contains(&ino) {
                continue;
            }
            let fail = |e: io::Error| LayerError::Write(at(&rel, e));
            let comps: Vec<&[u8]> = rel.split(|&b| b == b'/').collect();
            let Some((last, parents)) = comps.split_last() else { continue };
            // Down both trees, each directory opened by name without following.
            let mut chain: Vec<(OwnedFd, OwnedFd)> =
                vec![(rootfs.try_clone_to_owned().map_err(fail)?, upper.try_clone_to_owned().map_err(fail)?)];
            for comp in parents {
                let Some((r, u)) = chain.last() else { break };
                let r = rfs::openat(r, *comp, DIR_READ, Mode::empty()).map_err(|e| fail(e.into()))?;
                let u = match rfs::openat(u, *comp, DIR_READ, Mode::empty()) {
                    Ok(u) => u,
                    Err(Errno::NOENT) => {
                        rfs::mkdirat(u, *comp, Mode::from_raw_mode(0o700)).map_err(|e| fail(e.into()))?;
                        let made = rfs::openat(u, *comp, DIR_READ, Mode::empty()).map_err(|e| fail(e.into()))?;
                        let xattrs = read_xattrs(Source::Fd(r.as_fd())).map_err(fail)?;
                        set_xattrs(Source::Fd(made.as_fd()), &xattrs).map_err(fail)?;
                        made
                    }
                    Err(e) => return Err(fail(e.into())),
                };
                chain.push((r, u));
            }
            let Some((r, u)) = chain.last() else { continue };
            let Some(st) = stat_at(r.as_fd(), last).map_err(fail)? else { continue };
            if st.st_ino != ino || stat_at(u.as_fd(), last).map_err(fail)?.is_some() {
                continue;
            }
            let kind = FileType::from_raw_mode(st.st_mode);
            let xattrs = node_xattrs(r.as_fd(), last, kind).map_err(fail)?;
            self.emit(r.as_fd(), last, &st, &xattrs, u.as_fd()).map_err(fail)?;
            // Linking changed the directories' mtimes: theirs again, deepest first.
            for (r, u) in chain.iter().skip(1).rev() {
                let st = rfs::fstat(r).map_err(|e| fail(e.into()))?;
                let xattrs = read_xattrs(Source::Fd(r.as_fd())).map_err(fail)?;
                set_meta_fd(u.as_fd(), &st, &xattrs).map_err(fail)?;
            }
        }
        Ok(())
    }
}

/// The xattrs of a non-directory, read without following it.
fn node_xattrs(dir: BorrowedFd<'_>, name: &[u8], kind: FileType) -> io::Result<Xattrs> {
    if kind == FileType::RegularFile {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = rfs::openat(dir, name, flags, Mode::empty())?;
        read_xattrs(Source::Fd(fd.as_fd()))
    } else {
        read_xattrs(Source::Path(&fd_path(dir, name)))
    }
}

/// The upper directory of the level on top of `stack`, making it (and those of the
/// levels above it) first if needed.
fn ensure_upper(stack: &mut [Level]) -> io::Result<OwnedFd> {
    let first_missing = stack.iter().position(|l| l.upper.is_none()).unwrap_or(stack.len());
    for i in first_missing..stack.len() {
        let parent = match stack[..i].last().and_then(|l| l.upper.as_ref()) {
            Some(p) => p.try_clone()?,
            None => return Err(io::Error::other("no upper directory above")),
        };
        let made = make_upper_dir(parent.as_fd(), &stack[i])?;
        stack[i].upper = Some(made);
    }
    match stack.last().and_then(|l| l.upper.as_ref()) {
        Some(fd) => Ok(fd.try_clone()?),
        None => Err(io::Error::other("no upper directory")),
    }
}

/// Makes the upper directory of `level` in `parent`, with its xattrs (its owners, mode
/// and times come when it is complete).
fn make_upper_dir(parent: BorrowedFd<'_>, level: &Level) -> io::Result<OwnedFd> {
    match rfs::mkdirat(parent, level.name.as_slice(), Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    let fd = rfs::openat(parent, level.name.as_slice(), DIR_READ, Mode::empty())?;
    set_xattrs(Source::Fd(fd.as_fd()), &level.xattrs)?;
    Ok(fd)
}

/// An overlayfs whiteout: a 0:0 character device, mode 0, owned by root.
fn whiteout(dir: BorrowedFd<'_>, name: &[u8], mtime: i64) -> io::Result<()> {
    rfs::mknodat(dir, name, FileType::CharacterDevice, Mode::empty(), rfs::makedev(0, 0))?;
    if privileged() {
        rfs::chownat(dir, name, Some(Uid::ROOT), Some(Gid::ROOT), AtFlags::SYMLINK_NOFOLLOW)?;
    }
    let t = Timespec { tv_sec: mtime, tv_nsec: 0 };
    rfs::utimensat(dir, name, &Timestamps { last_access: t, last_modification: t }, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// The time the filesystem holding `dir` gives a change made now, waiting until it is
/// later than any change made before the call: entries created after this returns
/// have a creation time at or after it, entries created before, strictly earlier.
pub fn settle_time(dir: &Path) -> io::Result<FsTime> {
    let probe = dir.join(".settle");
    let read = || -> io::Result<FsTime> {
        std::fs::write(&probe, b"")?;
        let x = rfs::statx(rfs::CWD, &probe, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::CTIME)?;
        Ok((x.stx_ctime.tv_sec, x.stx_ctime.tv_nsec))
    };
    let first = read()?;
    let mut now = first;
    // Timestamps come from a coarse clock: wait for its next tick (a few ms at most).
    for _ in 0..1000 {
        if now > first {
            break;
        }
        std::thread::sleep(std::time::Duration::from_micros(500));
        let _ = std::fs::remove_file(&probe);
        now = read()?;
    }
    let _ = std::fs::remove_file(&probe);
    Ok(now)
}

#[cfg(test)]
#[path = "naive_tests.rs"]
mod tests;
