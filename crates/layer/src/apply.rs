//! Writing a tree into a directory without ever touching anything outside it: tar
//! extraction ([`extract`], for `gantry build -` contexts and `ADD` archives), layer
//! application with whiteouts ([`extract_layer`], for snapshots) and the writer under
//! both ([`RootDir`], also used to export an image's filesystem). DESIGN.md, "Safe by
//! construction".
//!
//! Every path is resolved *inside* the destination, the way `openat2(RESOLVE_IN_ROOT)`
//! resolves it, but by hand so that missing parents can be created on the way and old
//! kernels work too: each component is opened with `O_NOFOLLOW` relative to the
//! directory fd before it; a symlink met on the way is read and followed as if the
//! destination were `/` (an absolute target restarts at the destination, `..` never
//! climbs above it). The final component is never followed: whatever is there is
//! replaced. Since every step is relative to an fd already held, no entry, symlink or
//! hard link can create, change or link anything outside the destination, whatever
//! the archive planted before and whatever another process renames meanwhile.
//!
//! Tar entries are first checked like ingested layer entries ([`crate::EntryProblem`]):
//! that gives precise messages; the in-root resolution is what makes it safe.
//!
//! [`extract`] does not interpret whiteouts (a `.wh.` entry is extracted as a file): a
//! build context is a plain archive. [`extract_layer`] does, in one of two ways
//! ([`Whiteouts`]). Both follow the OCI rule that a whiteout hides only what lower
//! layers hold, never what its own layer writes, so the order of a layer's entries
//! does not change the result: the paths a layer wrote are remembered (docker keeps
//! the same set) and whiteouts spare them.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;

use crate::{check, classify, read_prefix, Compression, EntryProblem, LayerError, Side, Tagged};
use crate::{DETECT_LEN, MAX_METADATA, XZ_MEMLIMIT};

/// Most symlinks followed while resolving one path (Linux's own limit).
const MAX_HOPS: u32 = 40;

/// `.wh.NAME` in a layer deletes `NAME` of the layers below it (OCI image spec).
pub(crate) const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// A layer entry with this name makes its directory opaque: nothing the layers below
/// have in it shows through.
pub(crate) const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// aufs's metadata names (`.wh..wh.plnk`, `.wh..wh.aufs`): bookkeeping of the
/// filesystem a layer was made on, not content of the image.
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";
/// The xattr overlayfs marks an opaque directory with.
pub(crate) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// overlayfs's own metadata (opaque, redirect, metacopy, origin...), under `trusted.`
/// or, for mounts with `userxattr`, `user.`. A layer never sets them: in a lower layer
/// the kernel would obey them (a redirect could show another layer's files).
fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// `/proc/self/fd/<dir>/<name>`: a path naming `name` inside the directory already
/// open as `dir`, for the calls that only take paths (`l*xattr`). The kernel resolves
/// the fd link to that very directory, not to a path that could have been swapped, and
/// the `l` calls do not follow `name` itself.
pub(crate) fn fd_path(dir: BorrowedFd<'_>, name: &[u8]) -> Vec<u8> {
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name);
    path
}

/// Extended attributes of one entry: (name, value) pairs.
pub(crate) type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// How `.wh.` entries of a layer are written by [`extract_layer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// The directory becomes one overlayfs lower layer on its own: `.wh.NAME` becomes a
    /// 0:0 character device NAME (mode 0, owner 0:0), `.wh..wh..opq` sets
    /// `trusted.overlay.opaque=y` on its directory: the kernel's own whiteout format.
    Overlay,
    /// The directory is a whole root filesystem the layer is applied onto (the copy
    /// snapshotter): `.wh.NAME` removes NAME (recursively), `.wh..wh..opq` removes every
    /// entry of its directory that this layer did not itself write.
    Apply,
}

/// The metadata an entry gets once created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Meta {
    /// Permission bits, setuid/setgid/sticky included (file type bits are ignored).
    pub mode: u32,
    /// Owners are applied only when running as root (otherwise they stay the caller's).
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the epoch; also used as the access time.
    pub mtime: i64,
}

/// What to create at a path.
pub enum Node<'a> {
    Dir,
    /// A regular file with these contents (read to their end).
    File(&'a mut dyn Read),
    /// A symbolic link with this target, stored as given (never followed here).
    Symlink(&'a [u8]),
    /// A hard link to an entry already written, named relative to the root (a leading
    /// `/` is ignored, like docker does for layer hard links).
    Hardlink(&'a [u8]),
    Fifo,
    /// Device nodes are created only when running as root; otherwise they are skipped,
    /// as rootless docker and podman do.
    Char(u32, u32),
    Block(u32, u32),
}

/// A destination directory that entries are written into, every path resolved inside
/// it. Directory modes and times are applied by [`RootDir::finish`], deepest first, so
/// creating children neither fails on a read-only directory nor changes its mtime.
pub struct RootDir {
    root: OwnedFd,
    chown: bool,
    dirs: BTreeMap<Vec<u8>, Meta>,
}

/// `a//./b/` -> `a`, `b`.
fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").collect()
}

pub(crate) fn lossy(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// An I/O error naming the path it happened to.
pub(crate) fn at(path: &[u8], e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", lossy(path)))
}

fn times(mtime: i64) -> Timestamps {
    let t = Timespec { tv_sec: mtime, tv_nsec: 0 };
    Timestamps { last_access: t, last_modification: t }
}

/// Owners as the kernel takes them; `None` (left unchanged) for ids it cannot represent.
fn owners(meta: &Meta) -> (Option<Uid>, Option<Gid>) {
    let id = |v: u64| u32::try_from(v).ok().filter(|&v| v != u32::MAX);
    (id(meta.uid).map(Uid::from_raw), id(meta.gid).map(Gid::from_raw))
}

fn mode(bits: u32) -> Mode {
    Mode::from_raw_mode(bits & 0o7777)
}

const DIR_PATH: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);
pub(crate) const DIR_READ: OFlags =
    OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

impl RootDir {
    /// Opens an existing destination directory (the path itself is the caller's choice
    /// and is followed if it is a symlink; nothing below it ever is).
    pub fn open(dest: &Path) -> Result<RootDir, LayerError> {
        let root = rfs::open(dest, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| LayerError::Write(at(dest.as_os_str().as_bytes(), e.into())))?;
        Ok(RootDir { root, chown: rustix::process::geteuid().as_raw() == 0, dirs: BTreeMap::new() })
    }

    /// Resolves `path` inside the root. Returns the directory holding the final
    /// component and that component's name, or `None` as name when the path resolves to
    /// a directory itself (the root, or with `follow_last` a link to a directory).
    /// `create` makes missing intermediate directories (mode 0755, as docker does).
    fn resolve(&self, path: &[u8], create: bool, follow_last: bool) -> io::Result<(OwnedFd, Option<Vec<u8>>)> {
        let mut pending: Vec<Vec<u8>> = components(path).into_iter().rev().map(<[u8]>::to_vec).collect();
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut hops = 0;
        while let Some(name) = pending.pop() {
            if name == b".." {
                stack.pop();
                continue;
            }
            let cur: BorrowedFd<'_> = stack.last().map(|f| f.as_fd()).unwrap_or(self.root.as_fd());
            let last = pending.is_empty();
            if last && !follow_last {
                return Ok((cur.try_clone_to_owned()?, Some(name)));
            }
            match rfs::openat(cur, name.as_slice(), DIR_PATH, Mode::empty()) {
                Ok(fd) => stack.push(fd),
                Err(Errno::LOOP) | Err(Errno::NOTDIR) => {
                    let st = rfs::statat(cur, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)?;
                    if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
                        if last {
                            return Ok((cur.try_clone_to_owned()?, Some(name)));
                        }
                        return Err(Errno::NOTDIR.into());
                    }
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(Errno::LOOP.into());
                    }
                    let target = rfs::readlinkat(cur, name.as_slice(), Vec::new())?;
                    let target = target.as_bytes();
                    if target.starts_with(b"/") {
                        stack.clear();
                    }
                    pending.extend(components(target).into_iter().rev().map(<[u8]>::to_vec));
                }
                Err(Errno::NOENT) if last => return Ok((cur.try_clone_to_owned()?, Some(name))),
                Err(Errno::NOENT) if create => {
                    match rfs::mkdirat(cur, name.as_slice(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    pending.push(name);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let fd = match stack.pop() {
            Some(fd) => fd,
            None => self.root.try_clone()?,
        };
        Ok((fd, None))
    }

    /// Whether something (of any type, a dangling link included) is at `path`, the
    /// last component not followed, the others inside the root.
    pub fn exists(&self, path: &[u8]) -> bool {
        match self.resolve(path, false, false) {
            Ok((_, None)) => true,
            Ok((dir, Some(name))) => rfs::statat(&dir, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW).is_ok(),
            Err(_) => false,
        }
    }

    /// Removes the file, link or empty directory at `path` (the last component not
    /// followed; the others resolved inside the root, so a planted link can never make
    /// this remove anything outside it).
    pub fn remove(&self, path: &[u8]) -> io::Result<()> {
        let (dir, name) = self.resolve(path, false, false).map_err(|e| at(path, e))?;
        let name = name.ok_or_else(|| at(path, Errno::INVAL.into()))?;
        match rfs::unlinkat(&dir, name.as_slice(), AtFlags::empty()) {
            Err(Errno::ISDIR) | Err(Errno::PERM) => {
                rfs::unlinkat(&dir, name.as_slice(), AtFlags::REMOVEDIR).map_err(|e| at(path, e.into()))
            }
            other => other.map_err(|e| at(path, e.into())),
        }
    }

    /// `rm -rf` of `path` inside the root: the last component not followed, the others
    /// resolved inside the root. Nothing there is not an error.
    pub fn remove_all(&self, path: &[u8]) -> io::Result<()> {
        let (dir, name) = self.resolve(path, false, false).map_err(|e| at(path, e))?;
        let name = name.ok_or_else(|| at(path, Errno::INVAL.into()))?;
        clear(dir.as_fd(), name.as_slice(), false).map(drop).map_err(|e| at(path, e))
    }

    /// Hides `path` in an overlayfs upper directory (this root): a whiteout device,
    /// its missing parents made as directories.
    pub fn hide(&self, path: &[u8]) -> io::Result<()> {
        self.whiteout_device(path, 0).map_err(|e| at(path, e))
    }

    /// Whether `path` names a directory, symlinks followed inside the root.
    pub fn is_dir(&self, path: &[u8]) -> bool {
        matches!(self.resolve(path, false, true), Ok((_, None)))
    }

    /// `mkdir -p` inside the root (missing components 0755, owned by the caller),
    /// following the root's own symlinks; existing directories are left as they are.
    pub fn create_dir_all(&self, path: &[u8]) -> io::Result<()> {
        let (dir, name) = self.resolve(path, true, true).map_err(|e| at(path, e))?;
        match name {
            None => Ok(()),
            Some(name) => match rfs::mkdirat(&dir, name.as_slice(), Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => Ok(()),
                Err(e) => Err(at(path, e.into())),
            },
        }
    }

    /// Opens a regular file for reading, following symlinks inside the root (so a
    /// context's `Dockerfile -> /etc/shadow` reads the destination's `etc/shadow`, if
    /// any, never the host's). Anything but a regular file is refused, without
    /// blocking on a fifo.
    pub fn open_file(&self, path: &[u8]) -> io::Result<File> {
        let (dir, name) = self.resolve(path, false, true).map_err(|e| at(path, e))?;
        let name = name.ok_or_else(|| at(path, Errno::ISDIR.into()))?;
        // Non-blocking, so a fifo planted under that name cannot hang the open (it is
        // refused just below); regular files ignore the flag.
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rfs::openat(&dir, name.as_slice(), flags, Mode::empty()).map_err(|e| at(path, e.into()))?;
        let file = File::from(fd);
        if !file.metadata().map_err(|e| at(path, e))?.is_file() {
            return Err(at(path, io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")));
        }
        Ok(file)
    }

    /// Creates `node` at `path` (relative to the root; absolute paths and `..` are
    /// refused), replacing what is there unless both are directories. Missing parents
    /// are created.
    pub fn write(&mut self, path: &[u8], node: Node<'_>, meta: &Meta) -> Result<(), LayerError> {
        let entry_error = |problem| LayerError::Entry { path: lossy(path), problem };
        if path.starts_with(b"/") {
            return Err(entry_error(EntryProblem::AbsolutePath));
        }
        let comps = components(path);
        if comps.iter().any(|c| *c == b"..") {
            return Err(entry_error(EntryProblem::PathEscapes));
        }
        if comps.is_empty() {
            // The root itself: its metadata belongs to whoever made the destination.
            return Ok(());
        }
        let key = comps.join(&b'/');
        let fail = |e: io::Error| LayerError::Write(at(path, e));
        let (parent, name) = self.resolve(&key, true, false).map_err(fail)?;
        let name = name.ok_or_else(|| entry_error(EntryProblem::RootNotDirectory))?;
        let name = name.as_slice();
        let keep_dir = clear(parent.as_fd(), name, matches!(node, Node::Dir)).map_err(fail)?;
        let (uid, gid) = owners(meta);
        let chown = self.chown;
        let errno = |e: Errno| fail(e.into());
        match node {
            Node::Dir => {
                if !keep_dir {
                    rfs::mkdirat(&parent, name, Mode::from_raw_mode(0o700)).map_err(errno)?;
                }
                self.dirs.insert(key, *meta);
            }
            Node::File(reader) => {
                let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd = rfs::openat(&parent, name, flags, Mode::from_raw_mode(0o600)).map_err(errno)?;
                let mut out = Tagged { inner: File::from(fd), side: Side::Write };
                io::copy(reader, &mut out).map_err(|e| match classify(e) {
                    LayerError::Write(e) => fail(e),
                    other => other,
                })?;
                let file = out.inner;
                if chown {
                    rfs::fchown(&file, uid, gid).map_err(errno)?;
                }
                // After chown, which clears setuid bits.
                rfs::fchmod(&file, mode(meta.mode)).map_err(errno)?;
                rfs::futimens(&file, &times(meta.mtime)).map_err(errno)?;
            }
            Node::Symlink(target) => {
                rfs::symlinkat(target, &parent, name).map_err(errno)?;
                if chown {
                    rfs::chownat(&parent, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
                }
                rfs::utimensat(&parent, name, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
            }
            Node::Hardlink(target) => {
                // The target's directories resolve in-root; its last component is
                // linked as it is (a symlink stays a symlink), never followed.
                let (dir, target_name) =
                    self.resolve(target, false, false).map_err(|e| LayerError::Write(at(target, e)))?;
                let target_name = target_name.ok_or_else(|| entry_error(EntryProblem::EmptyHardlink))?;
                rfs::linkat(&dir, target_name.as_slice(), &parent, name, AtFlags::empty()).map_err(errno)?;
            }
            Node::Fifo => {
                rfs::mknodat(&parent, name, FileType::Fifo, Mode::from_raw_mode(0o600), 0).map_err(errno)?;
                // Opening a fifo for reading without blocking succeeds at once, and
                // gives an fd to set metadata through without following anything.
                let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd = rfs::openat(&parent, name, flags, Mode::empty()).map_err(errno)?;
                if chown {
                    rfs::fchown(&fd, uid, gid).map_err(errno)?;
                }
                rfs::fchmod(&fd, mode(meta.mode)).map_err(errno)?;
                rfs::futimens(&fd, &times(meta.mtime)).map_err(errno)?;
            }
            Node::Char(major, minor) | Node::Block(major, minor) => {
                if !chown {
                    return Ok(());
                }
                let kind =
                    if matches!(node, Node::Char(..)) { FileType::CharacterDevice } else { FileType::BlockDevice };
                rfs::mknodat(&parent, name, kind, Mode::from_raw_mode(0o600), rfs::makedev(major, minor))
                    .map_err(errno)?;
                rfs::chownat(&parent, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
                // fchmodat cannot refuse to follow, but the node was just made by us,
                // in a directory reached without following anything.
                rfs::chmodat(&parent, name, mode(meta.mode), AtFlags::empty()).map_err(errno)?;
                rfs::utimensat(&parent, name, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
            }
        }
        Ok(())
    }

    /// Opens the directory `key` (a clean relative path, empty for the root) for
    /// reading, creating it and its missing parents (0755) and replacing a
    /// non-directory in its place.
    fn ensure_dir(&self, key: &[u8]) -> io::Result<OwnedFd> {
        if key.is_empty() {
            return Ok(rfs::openat(&self.root, ".", DIR_READ, Mode::empty())?);
        }
        let (parent, name) = self.resolve(key, true, false)?;
        let Some(name) = name else { return Ok(rfs::openat(&parent, ".", DIR_READ, Mode::empty())?) };
        if !clear(parent.as_fd(), &name, true)? {
            match rfs::mkdirat(&parent, name.as_slice(), Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(rfs::openat(&parent, name.as_slice(), DIR_READ, Mode::empty())?)
    }

    /// The directory at `key` opened for reading, if there is one (never following a
    /// symlink in its place).
    fn existing_dir(&self, key: &[u8]) -> io::Result<Option<OwnedFd>> {
        let (parent, name) = self.resolve(key, false, false)?;
        let Some(name) = name else { return Ok(Some(rfs::openat(&parent, ".", DIR_READ, Mode::empty())?)) };
        match rfs::openat(&parent, name.as_slice(), DIR_READ, Mode::empty()) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes `key` and everything below it, except what `kept` names (what the layer
    /// being applied wrote itself). Missing parents are created, as docker does, so the
    /// tree looks the same as the layer mounted by overlayfs would.
    fn remove_unkept(&self, key: &[u8], kept: &HashSet<Vec<u8>>) -> io::Result<()> {
        let (parent, name) = self.resolve(key, true, false)?;
        let Some(name) = name else { return Ok(()) };
        if !kept.contains(key) {
            clear(parent.as_fd(), &name, false)?;
            return Ok(());
        }
        match rfs::openat(&parent, name.as_slice(), DIR_READ, Mode::empty()) {
            Ok(dir) => prune(dir.as_fd(), key, kept),
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes `key` an overlayfs whiteout: a character device 0:0, mode 0, owned by
    /// 0:0 (as the kernel makes them), replacing whatever is there.
    fn whiteout_device(&self, key: &[u8], mtime: i64) -> io::Result<()> {
        let (parent, name) = self.resolve(key, true, false)?;
        let name = name.ok_or_else(|| io::Error::from(Errno::ISDIR))?;
        let name = name.as_slice();
        clear(parent.as_fd(), name, false)?;
        rfs::mknodat(&parent, name, FileType::CharacterDevice, Mode::empty(), rfs::makedev(0, 0))?;
        if self.chown {
            rfs::chownat(&parent, name, Some(Uid::ROOT), Some(Gid::ROOT), AtFlags::SYMLINK_NOFOLLOW)?;
        }
        rfs::utimensat(&parent, name, &times(mtime), AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }

    /// Sets extended attributes on the entry at `key`, never following it. Those the
    /// filesystem does not support or the caller may not set (`trusted.*` when not
    /// root, `user.*` on a symlink) are left out, as docker leaves them out.
    fn set_xattrs(&self, key: &[u8], xattrs: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
        let (parent, name) = self.resolve(key, false, false)?;
        let Some(name) = name else { return Ok(()) };
        let path = fd_path(parent.as_fd(), &name);
        for (attr, value) in xattrs {
            match rfs::lsetxattr(path.as_slice(), attr.as_slice(), value, XattrFlags::empty()) {
                Ok(()) => {}
                Err(e) if e == Errno::NOTSUP || e == Errno::PERM => {}
                Err(e) => return Err(at(attr, e.into())),
            }
        }
        Ok(())
    }

    /// Applies the directories' owners, modes and times, deepest first (a child's
    /// metadata never changes its parent's mtime, and a parent made read-only last
    /// cannot block its children). Directories replaced meanwhile are skipped.
    pub fn finish(self) -> Result<(), LayerError> {
        for (path, meta) in self.dirs.iter().rev() {
            let fail = |e: io::Error| LayerError::Write(at(path, e));
            let (parent, name) = self.resolve(path, false, false).map_err(fail)?;
            let Some(name) = name else { continue };
            let fd = match rfs::openat(&parent, name.as_slice(), DIR_READ, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                Err(e) => return Err(fail(e.into())),
            };
            let errno = |e: Errno| fail(e.into());
            if self.chown {
                let (uid, gid) = owners(meta);
                rfs::fchown(&fd, uid, gid).map_err(errno)?;
            }
            rfs::fchmod(&fd, mode(meta.mode)).map_err(errno)?;
            rfs::futimens(&fd, &times(meta.mtime)).map_err(errno)?;
        }
        Ok(())
    }
}

/// Makes room for a new entry `name` in `parent`: removes what is there (a whole tree
/// for a directory), except an existing directory when a directory is wanted, which is
/// kept (returns true then), as tar and docker do.
pub(crate) fn clear(parent: BorrowedFd<'_>, name: &[u8], want_dir: bool) -> io::Result<bool> {
    let st = match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        if want_dir {
            return Ok(true);
        }
        remove_tree(parent, name)?;
    } else {
        rfs::unlinkat(parent, name, AtFlags::empty())?;
    }
    Ok(false)
}

/// `rm -rf` of `parent/name`, never following a symlink.
pub(crate) fn remove_tree(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let dir = rfs::openat(parent, name, DIR_READ, Mode::empty())?;
    // Entries of a read-only directory could not be removed otherwise (non-root).
    let _ = rfs::fchmod(&dir, Mode::from_raw_mode(0o700));
    for (child, kind) in children(dir.as_fd())? {
        if kind == FileType::Directory {
            remove_tree(dir.as_fd(), &child)?;
        } else {
            rfs::unlinkat(&dir, child.as_slice(), AtFlags::empty())?;
        }
    }
    rfs::unlinkat(parent, name, AtFlags::REMOVEDIR)?;
    Ok(())
}

/// The names in a directory (without `.` and `..`) and their types, never following.
pub(crate) fn children(dir: BorrowedFd<'_>) -> io::Result<Vec<(Vec<u8>, FileType)>> {
    let mut children = Vec::new();
    for entry in rfs::Dir::read_from(dir)? {
        let entry = entry?;
        let child = entry.file_name().to_bytes();
        if child == b"." || child == b".." {
            continue;
        }
        let kind = match entry.file_type() {
            FileType::Unknown => FileType::from_raw_mode(rfs::statat(dir, child, AtFlags::SYMLINK_NOFOLLOW)?.st_mode),
            kind => kind,
        };
        children.push((child.to_vec(), kind));
    }
    Ok(children)
}

/// Under the directory `dir` (at `key`), removes everything `kept` does not name, and
/// goes on below the kept directories: below a whiteout or an opaque directory, what
/// lower layers had is hidden, only what the layer itself wrote stays.
fn prune(dir: BorrowedFd<'_>, key: &[u8], kept: &HashSet<Vec<u8>>) -> io::Result<()> {
    for (child, kind) in children(dir)? {
        let mut child_key = key.to_vec();
        if !child_key.is_empty() {
            child_key.push(b'/');
        }
        child_key.extend_from_slice(&child);
        if kept.contains(&child_key) {
            if kind == FileType::Directory {
                let sub = rfs::openat(dir, child.as_slice(), DIR_READ, Mode::empty())?;
                prune(sub.as_fd(), &child_key, kept)?;
            }
        } else if kind == FileType::Directory {
            remove_tree(dir, &child)?;
        } else {
            rfs::unlinkat(dir, child.as_slice(), AtFlags::empty())?;
        }
    }
    Ok(())
}

/// Marks an overlayfs directory opaque.
fn set_opaque(dir: &OwnedFd) -> io::Result<()> {
    Ok(rfs::fsetxattr(dir, OPAQUE_XATTR, b"y", XattrFlags::empty())?)
}

/// True when `prefix` (the first bytes of a stream, ideally [`DETECT_LEN`] or more)
/// starts an archive this module reads (a tar, or a compressed stream, bzip2 included
/// so that callers report it as unsupported), rather than, say, a Dockerfile: `gantry
/// build -` takes either on stdin, as docker does.
pub fn looks_like_archive(prefix: &[u8]) -> bool {
    match Compression::detect(prefix) {
        None | Some(Compression::Gzip | Compression::Zstd | Compression::Xz) => return true,
        Some(Compression::None) => {}
    }
    let Some(header) = prefix.get(..512) else { return false };
    if header.iter().all(|&b| b == 0) {
        return true; // an empty archive starts with its end marker
    }
    // A pre-POSIX (v7) header has no magic: its checksum is the only sign.
    let field = &header[148..156];
    let digits: String =
        field.iter().take_while(|&&b| b != 0 && b != b' ').map(|&b| b as char).skip_while(|c| *c == ' ').collect();
    let Ok(expected) = u32::from_str_radix(digits.trim(), 8) else { return false };
    let sum: u32 =
        header.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u32::from(b) }).sum();
    sum == expected
}

/// Budget for what the tar parser reads between two entries' contents (see
/// [`MAX_METADATA`]): the `tar` crate holds pax and GNU long-name entries in memory.
#[derive(Default)]
struct Budget {
    in_data: Cell<bool>,
    used: Cell<u64>,
}

struct Bounded<R> {
    inner: R,
    budget: Rc<Budget>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.budget.in_data.get() {
            return self.inner.read(buf);
        }
        let allowed = MAX_METADATA.saturating_sub(self.budget.used.get());
        if allowed == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "pax or GNU long-name metadata entry larger than 1 MiB",
            ));
        }
        let want = buf.len().min(usize::try_from(allowed).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.budget.used.set(self.budget.used.get() + n as u64);
        Ok(n)
    }
}

/// The input decompressed (plain, gzip, zstd or xz, detected from magic bytes), with
/// read errors tagged as the source's.
fn decoder<'a, R: Read + 'a>(mut input: R) -> Result<Box<dyn Read + 'a>, LayerError> {
    let mut prefix = [0u8; DETECT_LEN];
    let n = read_prefix(&mut input, &mut prefix).map_err(LayerError::Read)?;
    let compression = Compression::detect(&prefix[..n]).ok_or(LayerError::UnsupportedCompression("bzip2"))?;
    let source = Tagged { inner: io::Cursor::new(prefix[..n].to_vec()).chain(input), side: Side::Read };
    Ok(match compression {
        Compression::None => Box::new(source),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(source)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(source).map_err(classify)?),
        Compression::Xz => {
            let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, liblzma::stream::CONCATENATED)
                .map_err(|e| LayerError::Corrupt(format!("cannot start the xz decoder: {e}")))?;
            Box::new(liblzma::read::XzDecoder::new_stream(source, stream))
        }
    })
}

/// Extracts a tar archive (plain, gzip, zstd or xz) into the existing directory `dest`:
/// regular files, directories, symlinks, hard links and fifos (device nodes only as
/// root), with modes and mtimes, owners when running as root, and extended attributes
/// (pax `SCHILY.xattr.*`). Every entry is checked first ([`crate::EntryProblem`]) and
/// written through [`RootDir`], so nothing outside `dest` is ever created, changed or
/// linked. Whiteouts are not interpreted (see [`extract_layer`]). On error `dest` holds
/// a partial tree, which the caller removes.
pub fn extract<R: Read>(input: R, dest: &Path) -> Result<(), LayerError> {
    unpack(input, dest, None)
}

/// Applies an image layer to the existing directory `dest`, like [`extract`] (same
/// checks, same confinement to `dest`), with its whiteouts written as `whiteouts` says.
/// A whiteout hides only what lower layers hold, whatever the order of the layer's
/// entries. aufs metadata (`.wh..wh.plnk`...) is skipped, and overlayfs's private xattrs
/// are never set from a layer. On error `dest` holds a partial tree.
pub fn extract_layer<R: Read>(input: R, dest: &Path, whiteouts: Whiteouts) -> Result<(), LayerError> {
    unpack(input, dest, Some(whiteouts))
}

fn unpack<R: Read>(input: R, dest: &Path, whiteouts: Option<Whiteouts>) -> Result<(), LayerError> {
    let mut root = RootDir::open(dest)?;
    let mut layer = whiteouts.map(|mode| Layer { mode, kept: HashSet::new(), whited: HashSet::new() });
    let budget = Rc::new(Budget::default());
    let mut archive = tar::Archive::new(Bounded { inner: decoder(input)?, budget: Rc::clone(&budget) });
    for entry in archive.entries().map_err(classify)? {
        let mut entry = entry.map_err(classify)?;
        check::check_entry(&entry)?;
        let h = entry.header();
        let kind = h.entry_type().as_byte();
        let meta = Meta {
            mode: h.mode().unwrap_or(0o644),
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            mtime: h.mtime().ok().and_then(|t| i64::try_from(t).ok()).unwrap_or(0),
        };
        let device = (h.device_major().ok().flatten().unwrap_or(0), h.device_minor().ok().flatten().unwrap_or(0));
        let path = entry.path_bytes().into_owned();
        let link = entry.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
        let xattrs = pax_xattrs(&mut entry)?;
        budget.in_data.set(true);
        // A pax global header is metadata, not a file.
        if kind != b'g' {
            let item = Item { path: &path, kind, meta, device, link: &link, xattrs: &xattrs };
            match layer.as_mut() {
                None => write_item(&mut root, &item, &mut entry)?,
                Some(layer) => layer.apply(&mut root, &item, &mut entry)?,
            }
        }
        // Whatever an entry carries beyond what was used (a directory with contents).
        io::copy(&mut entry, &mut io::sink()).map_err(classify)?;
        budget.in_data.set(false);
        budget.used.set(0);
    }
    root.finish()
}

/// One archive entry, as read.
struct Item<'a> {
    path: &'a [u8],
    kind: u8,
    meta: Meta,
    device: (u32, u32),
    link: &'a [u8],
    xattrs: &'a [(Vec<u8>, Vec<u8>)],
}

/// The extended attributes an entry carries in pax `SCHILY.xattr.NAME` records (the
/// format docker, BuildKit and GNU tar write), overlayfs's own left out.
fn pax_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Xattrs, LayerError> {
    let mut xattrs = Vec::new();
    let Some(extensions) = entry.pax_extensions().map_err(classify)? else { return Ok(xattrs) };
    for extension in extensions {
        let extension = extension.map_err(classify)?;
        if let Some(name) = extension.key_bytes().strip_prefix(b"SCHILY.xattr.") {
            if !is_overlay_xattr(name) {
                xattrs.push((name.to_vec(), extension.value_bytes().to_vec()));
            }
        }
    }
    Ok(xattrs)
}

/// Writes one entry as it is (no whiteout meaning), with its extended attributes.
fn write_item(root: &mut RootDir, item: &Item<'_>, data: &mut dyn Read) -> Result<(), LayerError> {
    let (path, meta) = (item.path, &item.meta);
    let (major, minor) = item.device;
    match item.kind {
        b'0' | b'\0' => root.write(path, Node::File(data), meta),
        b'5' => root.write(path, Node::Dir, meta),
        b'1' => root.write(path, Node::Hardlink(item.link), meta),
        b'2' => root.write(path, Node::Symlink(item.link), meta),
        b'3' => root.write(path, Node::Char(major, minor), meta),
        b'4' => root.write(path, Node::Block(major, minor), meta),
        b'6' => root.write(path, Node::Fifo, meta),
        // check_entry refused every other type.
        other => Err(LayerError::Entry {
            path: lossy(path),
            problem: EntryProblem::UnsupportedType(format!("{:?}", other as char)),
        }),
    }?;
    let key = components(path).join(&b'/');
    // Devices are not made when not running as root (see `Node::Char`).
    let skipped = matches!(item.kind, b'3' | b'4') && !root.chown;
    if !item.xattrs.is_empty() && !key.is_empty() && !skipped {
        root.set_xattrs(&key, item.xattrs).map_err(|e| LayerError::Write(at(path, e)))?;
    }
    Ok(())
}

/// What a layer entry's path means.
enum Special {
    /// A file of the image.
    Plain,
    /// aufs metadata.
    Skip,
    /// `.wh.NAME`: the path of NAME.
    Whiteout(Vec<u8>),
    /// `DIR/.wh..wh..opq`: the path of DIR (empty for the root).
    Opaque(Vec<u8>),
}

fn special(comps: &[&[u8]]) -> Special {
    let Some((last, parents)) = comps.split_last() else { return Special::Plain };
    let in_aufs_meta = parents.iter().any(|c| c.starts_with(AUFS_META_PREFIX));
    if *last == OPAQUE_MARKER && !in_aufs_meta {
        return Special::Opaque(parents.join(&b'/'));
    }
    if in_aufs_meta || last.starts_with(AUFS_META_PREFIX) {
        return Special::Skip;
    }
    match last.strip_prefix(WHITEOUT_PREFIX) {
        Some(name) => {
            let mut target = parents.join(&b'/');
            if !target.is_empty() {
                target.push(b'/');
            }
            target.extend_from_slice(name);
            Special::Whiteout(target)
        }
        None => Special::Plain,
    }
}

/// The parent path of a clean relative path (empty at the top).
fn parent_key(key: &[u8]) -> &[u8] {
    key.iter().rposition(|&b| b == b'/').map_or(&key[..0], |i| &key[..i])
}

/// A layer being applied: what it wrote so far, which its whiteouts must spare.
struct Layer {
    mode: Whiteouts,
    /// Every path the layer wrote, and all their ancestors (memory: one entry per path
    /// of the layer, as docker's own set).
    kept: HashSet<Vec<u8>>,
    /// Overlay mode: whiteout devices this layer made. If the layer also has entries
    /// there (a directory, or paths below), the device becomes an opaque directory: the
    /// layer replaced a lower directory by a new one.
    whited: HashSet<Vec<u8>>,
}

impl Layer {
    fn apply(&mut self, root: &mut RootDir, item: &Item<'_>, data: &mut dyn Read) -> Result<(), LayerError> {
        let comps = components(item.path);
        let fail = |e: io::Error| LayerError::Write(at(item.path, e));
        match special(&comps) {
            Special::Skip => Ok(()),
            Special::Whiteout(target) => self.whiteout(root, &target, item.meta.mtime).map_err(fail),
            Special::Opaque(dir) => self.opaque(root, &dir).map_err(fail),
            Special::Plain => {
                let key = comps.join(&b'/');
                self.unwhite_ancestors(root, &key).map_err(fail)?;
                write_item(root, item, data)?;
                if self.whited.remove(&key) && item.kind == b'5' {
                    root.ensure_dir(&key).and_then(|dir| set_opaque(&dir)).map_err(fail)?;
                }
                self.keep(&key);
                Ok(())
            }
        }
    }

    /// Records `key` and its ancestors as written by this layer.
    fn keep(&mut self, key: &[u8]) {
        let mut key = key;
        // Once a path is known, so are its ancestors.
        while !key.is_empty() && self.kept.insert(key.to_vec()) {
            key = parent_key(key);
        }
    }

    fn whiteout(&mut self, root: &RootDir, target: &[u8], mtime: i64) -> io::Result<()> {
        self.unwhite_ancestors(root, target)?;
        match self.mode {
            Whiteouts::Overlay if self.kept.contains(target) => {
                // The layer wrote the path itself: only what lower layers hold below it
                // is to be hidden, which an opaque directory does (a non-directory hides
                // the lower path already).
                if let Some(dir) = root.existing_dir(target)? {
                    set_opaque(&dir)?;
                }
            }
            Whiteouts::Overlay => {
                root.whiteout_device(target, mtime)?;
                self.whited.insert(target.to_vec());
            }
            Whiteouts::Apply => root.remove_unkept(target, &self.kept)?,
        }
        self.keep(parent_key(target));
        Ok(())
    }

    fn opaque(&mut self, root: &RootDir, dir: &[u8]) -> io::Result<()> {
        self.unwhite_ancestors(root, dir)?;
        self.whited.remove(dir);
        let fd = root.ensure_dir(dir)?;
        match self.mode {
            Whiteouts::Overlay => set_opaque(&fd)?,
            Whiteouts::Apply => prune(fd.as_fd(), dir, &self.kept)?,
        }
        self.keep(dir);
        Ok(())
    }

    /// Overlay mode: turns the whiteout devices this layer made at ancestors of `key`
    /// into opaque directories, since the layer puts something below them.
    fn unwhite_ancestors(&mut self, root: &RootDir, key: &[u8]) -> io::Result<()> {
        if self.whited.is_empty() {
            return Ok(());
        }
        for (i, _) in key.iter().enumerate().filter(|(_, &b)| b == b'/') {
            if self.whited.remove(&key[..i]) {
                set_opaque(&root.ensure_dir(&key[..i])?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    /// A raw ustar writer for hostile names (the `tar` crate refuses to write them).
    struct Raw(Vec<u8>);

    impl Raw {
        fn new() -> Raw {
            Raw(Vec::new())
        }
        fn entry(&mut self, name: &str, kind: u8, mode: u32, link: &str, data: &[u8]) -> &mut Raw {
            let mut h = [0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[100..108].copy_from_slice(format!("{mode:07o}\0").as_bytes());
            h[108..116].copy_from_slice(b"0000000\0");
            h[116..124].copy_from_slice(b"0000000\0");
            h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
            h[136..148].copy_from_slice(format!("{:011o}\0", 1_000_000_000u64).as_bytes());
            h[156] = kind;
            h[157..157 + link.len()].copy_from_slice(link.as_bytes());
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            h[148..156].copy_from_slice(b"        ");
            let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
            h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            self.0.extend_from_slice(&h);
            self.0.extend_from_slice(data);
            self.0.resize(self.0.len().div_ceil(512) * 512, 0);
            self
        }
        fn file(&mut self, name: &str, data: &[u8]) -> &mut Raw {
            self.entry(name, b'0', 0o644, "", data)
        }
        fn dir(&mut self, name: &str) -> &mut Raw {
            self.entry(name, b'5', 0o755, "", b"")
        }
        fn symlink(&mut self, name: &str, target: &str) -> &mut Raw {
            self.entry(name, b'2', 0o777, target, b"")
        }
        fn hardlink(&mut self, name: &str, target: &str) -> &mut Raw {
            self.entry(name, b'1', 0o644, target, b"")
        }
        /// A pax header (`x`) for the next entry, from `(key, value)` records.
        fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Raw {
            let mut data = Vec::new();
            for (key, value) in records {
                let rest = key.len() + value.len() + 3;
                let mut len = rest + 1;
                while (rest + len.to_string().len()) != len {
                    len += 1;
                }
                data.extend_from_slice(format!("{len} {key}=").as_bytes());
                data.extend_from_slice(value);
                data.push(b'\n');
            }
            self.entry("PaxHeaders/x", b'x', 0o644, "", &data)
        }
        fn finish(&mut self) -> Vec<u8> {
            let mut out = self.0.clone();
            out.extend_from_slice(&[0u8; 1024]);
            out
        }
    }

    /// A sandbox: `dest` inside `top`, with a canary beside it that must never change.
    struct Sandbox {
        top: tempfile::TempDir,
    }

    impl Sandbox {
        fn new() -> Sandbox {
            let top = tempfile::tempdir().unwrap();
            std::fs::create_dir(top.path().join("dest")).unwrap();
            std::fs::create_dir(top.path().join("outside")).unwrap();
            std::fs::write(top.path().join("outside/canary"), b"canary").unwrap();
            Sandbox { top }
        }
        fn dest(&self) -> std::path::PathBuf {
            self.top.path().join("dest")
        }
        fn extract(&self, tar: &[u8]) -> Result<(), LayerError> {
            extract(tar, &self.dest())
        }
        /// Everything outside `dest` is exactly as created.
        fn assert_outside_untouched(&self) {
            let names: Vec<String> = std::fs::read_dir(self.top.path().join("outside"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names, ["canary"]);
            assert_eq!(std::fs::read(self.top.path().join("outside/canary")).unwrap(), b"canary");
            let mut top: Vec<String> = std::fs::read_dir(self.top.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            top.sort();
            assert_eq!(top, ["dest", "outside"]);
        }
    }

    fn entry_problem(r: Result<(), LayerError>) -> EntryProblem {
        match r {
            Err(LayerError::Entry { problem, .. }) => problem,
            other => panic!("expected an entry problem, got {other:?}"),
        }
    }

    #[test]
    fn extracts_files_dirs_links_with_metadata() {
        let s = Sandbox::new();
        let tar = Raw::new()
            .dir("a/")
            .entry("a/x.sh", b'0', 0o4755, "", b"#!/bin/sh\n")
            .file("a/b/deep.txt", b"deep")
            .symlink("a/l", "x.sh")
            .symlink("abs", "/a/x.sh")
            .hardlink("a/h", "a/x.sh")
            .entry("a/ro/", b'5', 0o555, "", b"")
            .file("a/ro/inside", b"in")
            .entry("fifo", b'6', 0o640, "", b"")
            .finish();
        s.extract(&tar).unwrap();
        let d = s.dest();
        assert_eq!(std::fs::read(d.join("a/x.sh")).unwrap(), b"#!/bin/sh\n");
        let m = std::fs::metadata(d.join("a/x.sh")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
        assert_eq!(m.mtime(), 1_000_000_000);
        assert_eq!(std::fs::read(d.join("a/b/deep.txt")).unwrap(), b"deep");
        assert_eq!(std::fs::read_link(d.join("a/l")).unwrap().to_str(), Some("x.sh"));
        assert_eq!(std::fs::read_link(d.join("abs")).unwrap().to_str(), Some("/a/x.sh"));
        assert_eq!(std::fs::metadata(d.join("a/h")).unwrap().ino(), m.ino());
        let ro = std::fs::metadata(d.join("a/ro")).unwrap();
        assert_eq!(ro.permissions().mode() & 0o7777, 0o555);
        assert_eq!(ro.mtime(), 1_000_000_000, "children must not bump a directory's time");
        assert_eq!(std::fs::read(d.join("a/ro/inside")).unwrap(), b"in");
        // A missing parent is made with docker's 0755.
        assert_eq!(std::fs::metadata(d.join("a/b")).unwrap().permissions().mode() & 0o7777, 0o755);
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(d.join("fifo")).unwrap().file_type().is_fifo());
        s.assert_outside_untouched();
    }

    #[test]
    fn compressed_archives() {
        let tar = Raw::new().file("f", b"data").finish();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&tar[..], 1).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&tar).unwrap();
        let xz = xz.finish().unwrap();
        for input in [&tar, &gz, &zst, &xz] {
            let s = Sandbox::new();
            s.extract(input).unwrap();
            assert_eq!(std::fs::read(s.dest().join("f")).unwrap(), b"data");
            assert!(looks_like_archive(input));
        }
        assert!(!looks_like_archive(b"FROM busybox\nCOPY . /\n"));
        assert!(matches!(
            Sandbox::new().extract(b"BZh91AY&SY\0\0\0\0"),
            Err(LayerError::UnsupportedCompression("bzip2"))
        ));
    }

    #[test]
    fn dotdot_is_refused() {
        let s = Sandbox::new();
        let tar = Raw::new().file("../outside/evil", b"x").finish();
        assert_eq!(entry_problem(s.extract(&tar)), EntryProblem::PathEscapes);
        let tar = Raw::new().file("a/../../outside/evil", b"x").finish();
        assert_eq!(entry_problem(s.extract(&tar)), EntryProblem::PathEscapes);
        s.assert_outside_untouched();
    }

    #[test]
    fn absolute_is_refused() {
        let s = Sandbox::new();
        let target = format!("{}/outside/evil", s.top.path().display());
        let tar = Raw::new().file(&target, b"x").finish();
        assert_eq!(entry_problem(s.extract(&tar)), EntryProblem::AbsolutePath);
        s.assert_outside_untouched();
    }

    #[test]
    fn writing_through_an_absolute_symlink_stays_inside() {
        let s = Sandbox::new();
        let outside = s.top.path().join("outside");
        let tar = Raw::new()
            .symlink("l", outside.to_str().unwrap())
            .file("l/evil", b"x")
            .file("l/canary", b"overwritten?")
            .finish();
        s.extract(&tar).unwrap();
        // The link resolved as if dest were `/`: the files landed below dest.
        let inside = s.dest().join(outside.strip_prefix("/").unwrap());
        assert_eq!(std::fs::read(inside.join("evil")).unwrap(), b"x");
        assert_eq!(std::fs::read(inside.join("canary")).unwrap(), b"overwritten?");
        s.assert_outside_untouched();
    }

    #[test]
    fn relative_symlink_escapes_are_refused_and_cannot_be_written_through() {
        let s = Sandbox::new();
        let tar = Raw::new().symlink("l", "../outside").file("l/evil", b"x").finish();
        assert!(matches!(entry_problem(s.extract(&tar)), EntryProblem::SymlinkEscapes(_)));
        s.assert_outside_untouched();
        // Even a link the checks allow (`a/l -> ..` is the root) cannot climb: `..` stops
        // at the root, here and through chains of links.
        let s = Sandbox::new();
        let tar =
            Raw::new().symlink("up", ".").symlink("a/l", "../up/../up").file("a/l/x", b"x").file("up/y", b"y").finish();
        s.extract(&tar).unwrap();
        assert_eq!(std::fs::read(s.dest().join("x")).unwrap(), b"x");
        assert_eq!(std::fs::read(s.dest().join("y")).unwrap(), b"y");
        s.assert_outside_untouched();
    }

    #[test]
    fn symlink_planted_in_dest_beforehand_is_resolved_inside() {
        let s = Sandbox::new();
        std::os::unix::fs::symlink(s.top.path().join("outside"), s.dest().join("planted")).unwrap();
        std::os::unix::fs::symlink("../outside/canary", s.dest().join("canary")).unwrap();
        let tar = Raw::new().file("planted/evil", b"x").file("canary", b"replaced").finish();
        s.extract(&tar).unwrap();
        // The final component is replaced, never written through.
        assert_eq!(std::fs::read(s.dest().join("canary")).unwrap(), b"replaced");
        assert!(!std::fs::symlink_metadata(s.dest().join("canary")).unwrap().file_type().is_symlink());
        s.assert_outside_untouched();
    }

    #[test]
    fn hardlinks_cannot_reach_outside() {
        let s = Sandbox::new();
        let tar = Raw::new().hardlink("h", "../outside/canary").finish();
        assert!(matches!(entry_problem(s.extract(&tar)), EntryProblem::HardlinkEscapes(_)));
        // Through a symlink: resolved inside dest, where there is no such file.
        let outside = s.top.path().join("outside");
        let tar = Raw::new().symlink("l", outside.to_str().unwrap()).hardlink("h", "l/canary").finish();
        let err = s.extract(&tar).unwrap_err();
        assert!(matches!(err, LayerError::Write(_)), "{err:?}");
        assert!(!s.dest().join("h").exists());
        // A link to a symlink links the symlink itself.
        let s = Sandbox::new();
        let tar = Raw::new().symlink("l", outside.join("canary").to_str().unwrap()).hardlink("h", "l").finish();
        s.extract(&tar).unwrap();
        assert!(std::fs::symlink_metadata(s.dest().join("h")).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::metadata(outside.join("canary")).unwrap().nlink(), 1);
        s.assert_outside_untouched();
    }

    #[test]
    fn replaces_entries_and_keeps_directories() {
        let s = Sandbox::new();
        let tar = Raw::new()
            .file("a/keep", b"1")
            .dir("a/")
            .file("f", b"first")
            .file("f", b"second")
            .file("d/x", b"x")
            .file("d", b"now a file")
            .symlink("s", "f")
            .dir("s/")
            .finish();
        s.extract(&tar).unwrap();
        let d = s.dest();
        assert_eq!(std::fs::read(d.join("a/keep")).unwrap(), b"1");
        assert_eq!(std::fs::read(d.join("f")).unwrap(), b"second");
        assert_eq!(std::fs::read(d.join("d")).unwrap(), b"now a file");
        assert!(std::fs::symlink_metadata(d.join("s")).unwrap().is_dir());
    }

    #[test]
    fn symlink_loops_and_files_in_the_way_fail_cleanly() {
        let s = Sandbox::new();
        let tar = Raw::new().symlink("a", "b").symlink("b", "a").file("a/x", b"x").finish();
        assert!(matches!(s.extract(&tar), Err(LayerError::Write(_))));
        let s = Sandbox::new();
        let tar = Raw::new().file("f", b"x").file("f/x", b"x").finish();
        assert!(matches!(s.extract(&tar), Err(LayerError::Write(_))));
        s.assert_outside_untouched();
    }

    #[test]
    fn truncated_and_oversized_metadata_are_corrupt() {
        let tar = Raw::new().file("f", &[7u8; 4000]).finish();
        let s = Sandbox::new();
        assert!(matches!(s.extract(&tar[..1500]), Err(LayerError::Corrupt(_))));
        // A pax header bigger than the metadata budget.
        let mut records = Vec::new();
        let value = "a".repeat(2 << 20);
        let body = format!(" comment={value}\n");
        let len = body.len() + 8;
        records.extend_from_slice(format!("{len}{body}").as_bytes());
        let tar = Raw::new().entry("PaxHeaders/f", b'x', 0o644, "", &records).file("f", b"x").finish();
        assert!(matches!(Sandbox::new().extract(&tar), Err(LayerError::Corrupt(_))));
    }

    #[test]
    fn open_file_follows_links_inside_only() {
        let s = Sandbox::new();
        let outside = s.top.path().join("outside");
        let tar = Raw::new()
            .file("real", b"inside")
            .symlink("Dockerfile", "/real")
            .symlink("escape", outside.join("canary").to_str().unwrap())
            .finish();
        s.extract(&tar).unwrap();
        let root = RootDir::open(&s.dest()).unwrap();
        let mut text = String::new();
        root.open_file(b"Dockerfile").unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "inside");
        assert!(root.open_file(b"escape").is_err(), "the host's file must not be reachable");
        assert!(root.open_file(b".").is_err());
        let fifo = Raw::new().entry("fifo", b'6', 0o644, "", b"").finish();
        s.extract(&fifo).unwrap();
        assert!(root.open_file(b"fifo").is_err(), "refused, not waited on");
    }
    // ---- extract_layer: whiteouts and xattrs.

    fn xattr(path: &std::path::Path, name: &str) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 65536];
        match rfs::lgetxattr(path, name, &mut buf[..]) {
            Ok(n) => Some(buf[..n].to_vec()),
            Err(Errno::NODATA) => None,
            Err(e) => panic!("lgetxattr {}: {e}", path.display()),
        }
    }

    /// Every path below `root` (not following links), `/` after directories, sorted.
    fn tree(root: &std::path::Path) -> Vec<String> {
        fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path.strip_prefix(root).unwrap().to_str().unwrap().to_string();
                if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                    out.push(rel + "/");
                    walk(root, &path, out);
                } else {
                    out.push(rel);
                }
            }
        }
        let mut out = Vec::new();
        walk(root, root, &mut out);
        out.sort();
        out
    }

    fn assert_whiteout_device(path: &std::path::Path) {
        use std::os::unix::fs::FileTypeExt;
        let m = std::fs::symlink_metadata(path).unwrap();
        assert!(m.file_type().is_char_device(), "{} is not a whiteout", path.display());
        assert_eq!(m.rdev(), 0);
        assert_eq!(m.mode() & 0o7777, 0);
        assert_eq!((m.uid(), m.gid()), (0, 0));
    }

    fn layer(s: &Sandbox, tar: &[u8], whiteouts: Whiteouts) -> Result<(), LayerError> {
        extract_layer(tar, &s.dest(), whiteouts)
    }

    #[test]
    fn overlay_mode_writes_the_kernels_whiteouts() {
        let s = Sandbox::new();
        let tar = Raw::new()
            .entry(".wh.gone", b'0', 0o644, "", b"")
            // Parents that do not exist in this layer yet are created.
            .entry("a/b/.wh.deep", b'0', 0o644, "", b"")
            .dir("d/")
            .file("d/.wh..wh..opq", b"")
            .file("d/x", b"x")
            .file("e/.wh..wh..opq", b"")
            .file(".wh..wh.plnk/123.456", b"aufs")
            .file(".wh..wh.aufs", b"")
            .file("a/.wh..wh.orph", b"")
            .finish();
        layer(&s, &tar, Whiteouts::Overlay).unwrap();
        let d = s.dest();
        assert_whiteout_device(&d.join("gone"));
        assert_whiteout_device(&d.join("a/b/deep"));
        assert_eq!(xattr(&d.join("d"), "trusted.overlay.opaque").as_deref(), Some(&b"y"[..]));
        assert_eq!(xattr(&d.join("e"), "trusted.overlay.opaque").as_deref(), Some(&b"y"[..]));
        assert_eq!(xattr(&d.join("a"), "trusted.overlay.opaque"), None);
        assert_eq!(tree(&d), ["a/", "a/b/", "a/b/deep", "d/", "d/x", "e/", "gone"]);
        s.assert_outside_untouched();
        // Without whiteout meaning, the same names are plain files.
        let s = Sandbox::new();
        s.extract(&Raw::new().file(".wh.gone", b"").finish()).unwrap();
        assert!(std::fs::symlink_metadata(s.dest().join(".wh.gone")).unwrap().is_file());
    }

    #[test]
    fn overlay_mode_spares_what_the_layer_wrote_whatever_the_order() {
        // A whiteout then a directory of the same name: a new, opaque directory.
        let s = Sandbox::new();
        let tar =
            Raw::new().file(".wh.d", b"").dir("d/").file("d/f", b"f").file(".wh.g", b"").file("g/h", b"h").finish();
        layer(&s, &tar, Whiteouts::Overlay).unwrap();
        let d = s.dest();
        for dir in ["d", "g"] {
            assert!(std::fs::symlink_metadata(d.join(dir)).unwrap().is_dir(), "{dir}");
            assert_eq!(xattr(&d.join(dir), "trusted.overlay.opaque").as_deref(), Some(&b"y"[..]), "{dir}");
        }
        assert_eq!(tree(&d), ["d/", "d/f", "g/", "g/h"]);
        // The other way round: what the layer wrote stays, the directory becomes opaque.
        let s = Sandbox::new();
        let tar = Raw::new().dir("d/").file("d/f", b"f").file(".wh.d", b"").file("x", b"x").file(".wh.x", b"").finish();
        layer(&s, &tar, Whiteouts::Overlay).unwrap();
        let d = s.dest();
        assert_eq!(xattr(&d.join("d"), "trusted.overlay.opaque").as_deref(), Some(&b"y"[..]));
        assert_eq!(tree(&d), ["d/", "d/f", "x"]);
        assert_eq!(std::fs::read(d.join("x")).unwrap(), b"x");
    }

    /// A root filesystem as a lower layer left it.
    fn base(s: &Sandbox) {
        let tar = Raw::new()
            .file("gone", b"1")
            .file("dir/a", b"a")
            .file("dir/b", b"b")
            .file("opq/old1", b"1")
            .file("opq/old2/deep", b"2")
            .file("opq/sub/lower", b"3")
            .file("keep/x", b"x")
            .file("both", b"lower")
            .finish();
        s.extract(&tar).unwrap();
    }

    #[test]
    fn apply_mode_removes_and_empties_whatever_the_order() {
        let marker_first = Raw::new()
            .file(".wh.gone", b"")
            .file(".wh.dir", b"")
            .file("opq/.wh..wh..opq", b"")
            .file("opq/new1", b"n1")
            .file("opq/sub/f", b"f")
            .file(".wh.both", b"")
            .file("both", b"layer")
            .finish();
        let marker_last = Raw::new()
            .file("opq/new1", b"n1")
            .file("opq/sub/f", b"f")
            .file("both", b"layer")
            .file(".wh.both", b"")
            .file("opq/.wh..wh..opq", b"")
            .file(".wh.dir", b"")
            .file(".wh.gone", b"")
            .finish();
        for tar in [marker_first, marker_last] {
            let s = Sandbox::new();
            base(&s);
            layer(&s, &tar, Whiteouts::Apply).unwrap();
            let d = s.dest();
            assert_eq!(tree(&d), ["both", "keep/", "keep/x", "opq/", "opq/new1", "opq/sub/", "opq/sub/f"]);
            assert_eq!(std::fs::read(d.join("both")).unwrap(), b"layer");
            assert_eq!(xattr(&d.join("opq"), "trusted.overlay.opaque"), None);
            s.assert_outside_untouched();
        }
    }

    #[test]
    fn apply_mode_whiteouts_of_missing_paths_and_the_root() {
        let s = Sandbox::new();
        base(&s);
        let tar = Raw::new().file("no/such/.wh.thing", b"").file(".wh..wh..opq", b"").file("new", b"n").finish();
        layer(&s, &tar, Whiteouts::Apply).unwrap();
        // An opaque root keeps only this layer's entries (and the directories its
        // whiteouts live in, as overlayfs would show them).
        assert_eq!(tree(&s.dest()), ["new", "no/", "no/such/"]);
        s.assert_outside_untouched();
    }

    #[test]
    fn pax_xattrs_are_applied_to_every_kind_of_entry() {
        let s = Sandbox::new();
        let cap: &[u8] = &[0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let tar = Raw::new()
            .pax(&[("SCHILY.xattr.user.foo", b"bar"), ("SCHILY.xattr.security.capability", cap)])
            .entry("bin/ping", b'0', 0o755, "", b"ELF")
            .pax(&[("SCHILY.xattr.user.dir", b"d"), ("SCHILY.xattr.trusted.overlay.opaque", b"y")])
            .dir("dir/")
            .pax(&[("SCHILY.xattr.trusted.sym", b"s"), ("SCHILY.xattr.user.onlink", b"refused")])
            .symlink("link", "/bin/ping")
            .pax(&[("SCHILY.xattr.trusted.fifo", b"f")])
            .entry("fifo", b'6', 0o600, "", b"")
            .pax(&[("SCHILY.xattr.trusted.dev", b"c"), ("SCHILY.xattr.user.overlay.redirect", b"/x")])
            .entry("null", b'3', 0o666, "", b"")
            .pax(&[("SCHILY.xattr.trusted.hard", b"h")])
            .hardlink("ping2", "bin/ping")
            .finish();
        layer(&s, &tar, Whiteouts::Overlay).unwrap();
        let d = s.dest();
        assert_eq!(xattr(&d.join("bin/ping"), "user.foo").as_deref(), Some(&b"bar"[..]));
        assert_eq!(xattr(&d.join("bin/ping"), "security.capability").as_deref(), Some(cap));
        assert_eq!(xattr(&d.join("bin/ping"), "trusted.hard").as_deref(), Some(&b"h"[..]), "set through the link");
        assert_eq!(xattr(&d.join("dir"), "user.dir").as_deref(), Some(&b"d"[..]));
        assert_eq!(xattr(&d.join("dir"), "trusted.overlay.opaque"), None, "overlayfs's xattrs never come from a layer");
        assert_eq!(xattr(&d.join("link"), "trusted.sym").as_deref(), Some(&b"s"[..]));
        assert_eq!(xattr(&d.join("link"), "user.onlink"), None);
        assert_eq!(xattr(&d.join("bin/ping"), "trusted.sym"), None, "the link was not followed");
        assert_eq!(xattr(&d.join("fifo"), "trusted.fifo").as_deref(), Some(&b"f"[..]));
        assert_eq!(xattr(&d.join("null"), "trusted.dev").as_deref(), Some(&b"c"[..]));
        assert_eq!(xattr(&d.join("null"), "user.overlay.redirect"), None);
        // Plain extraction applies them too.
        let s = Sandbox::new();
        s.extract(&Raw::new().pax(&[("SCHILY.xattr.user.foo", b"bar")]).file("f", b"").finish()).unwrap();
        assert_eq!(xattr(&s.dest().join("f"), "user.foo").as_deref(), Some(&b"bar"[..]));
    }

    #[test]
    fn whiteouts_cannot_reach_outside() {
        for whiteouts in [Whiteouts::Apply, Whiteouts::Overlay] {
            let s = Sandbox::new();
            let outside = s.top.path().join("outside");
            // Climbing with `..`: refused before anything is done.
            for name in ["../outside/.wh.canary", "../outside/.wh..wh..opq", "a/../../outside/.wh.canary"] {
                let tar = Raw::new().file(name, b"").finish();
                assert_eq!(entry_problem(layer(&s, &tar, whiteouts)), EntryProblem::PathEscapes, "{name}");
            }
            // A relative symlink out is refused; through an absolute one, a whiteout
            // lands inside dest, where the link's target is resolved.
            let tar = Raw::new().symlink("rel", "../outside").file("rel/.wh.canary", b"").finish();
            assert!(matches!(entry_problem(layer(&s, &tar, whiteouts)), EntryProblem::SymlinkEscapes(_)));
            let abs = outside.to_str().unwrap();
            let tar = Raw::new()
                .symlink("abs", abs)
                .file("abs/.wh.canary", b"")
                .symlink("abs2", abs)
                .file("abs2/.wh..wh..opq", b"")
                .symlink("root", "/")
                .file("root/.wh.outside", b"")
                .finish();
            layer(&s, &tar, whiteouts).unwrap();
            s.assert_outside_untouched();
            // Symlinks planted in dest beforehand, pointing outside.
            let s = Sandbox::new();
            std::os::unix::fs::symlink(&outside, s.dest().join("planted")).unwrap();
            std::os::unix::fs::symlink(outside.join("canary"), s.dest().join("canary")).unwrap();
            let tar = Raw::new()
                .file("planted/.wh.canary", b"")
                .file(".wh.canary", b"")
                .file("planted/.wh..wh..opq", b"")
                .finish();
            layer(&s, &tar, whiteouts).unwrap();
            s.assert_outside_untouched();
            // The links themselves were whited out or replaced, never their targets.
            assert!(!std::fs::symlink_metadata(s.dest().join("planted")).unwrap().file_type().is_symlink());
        }
    }
}
