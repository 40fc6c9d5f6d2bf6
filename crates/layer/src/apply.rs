//! Writing a tree into a directory without ever touching anything outside it: tar
//! extraction ([`extract`], for `gantry build -` contexts today) and the writer under
//! it ([`RootDir`], also used to export an image's filesystem). This is the start of
//! applying layers to snapshots (DESIGN.md, "Safe by construction").
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
//! Whiteouts are not interpreted here (a `.wh.` entry is extracted as a file): a build
//! context is a plain archive. Applying a layer onto a snapshot will add them on top of
//! [`RootDir`].

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;

use crate::{check, classify, read_prefix, Compression, EntryProblem, LayerError, Side, Tagged};
use crate::{DETECT_LEN, MAX_METADATA, XZ_MEMLIMIT};

/// Most symlinks followed while resolving one path (Linux's own limit).
const MAX_HOPS: u32 = 40;

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

fn lossy(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// An I/O error naming the path it happened to.
fn at(path: &[u8], e: io::Error) -> io::Error {
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
const DIR_READ: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

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
fn clear(parent: BorrowedFd<'_>, name: &[u8], want_dir: bool) -> io::Result<bool> {
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
fn remove_tree(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let dir = rfs::openat(parent, name, DIR_READ, Mode::empty())?;
    // Entries of a read-only directory could not be removed otherwise (non-root).
    let _ = rfs::fchmod(&dir, Mode::from_raw_mode(0o700));
    let mut children = Vec::new();
    for entry in rfs::Dir::read_from(&dir)? {
        let entry = entry?;
        let child = entry.file_name().to_bytes();
        if child != b"." && child != b".." {
            children.push((child.to_vec(), entry.file_type()));
        }
    }
    for (child, kind) in children {
        let kind = match kind {
            FileType::Unknown => {
                FileType::from_raw_mode(rfs::statat(&dir, child.as_slice(), AtFlags::SYMLINK_NOFOLLOW)?.st_mode)
            }
            k => k,
        };
        if kind == FileType::Directory {
            remove_tree(dir.as_fd(), &child)?;
        } else {
            rfs::unlinkat(&dir, child.as_slice(), AtFlags::empty())?;
        }
    }
    rfs::unlinkat(parent, name, AtFlags::REMOVEDIR)?;
    Ok(())
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
/// root), with modes and mtimes, and owners when running as root. Every entry is
/// checked first ([`crate::EntryProblem`]) and written through [`RootDir`], so nothing
/// outside `dest` is ever created, changed or linked. On error `dest` holds a partial
/// tree, which the caller removes.
pub fn extract<R: Read>(input: R, dest: &Path) -> Result<(), LayerError> {
    let mut root = RootDir::open(dest)?;
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
        budget.in_data.set(true);
        let written = match kind {
            b'g' => Ok(()), // a pax global header: metadata, not a file
            b'0' | b'\0' => root.write(&path, Node::File(&mut entry), &meta),
            b'5' => root.write(&path, Node::Dir, &meta),
            b'1' => root.write(&path, Node::Hardlink(&link), &meta),
            b'2' => root.write(&path, Node::Symlink(&link), &meta),
            b'3' => root.write(&path, Node::Char(device.0, device.1), &meta),
            b'4' => root.write(&path, Node::Block(device.0, device.1), &meta),
            b'6' => root.write(&path, Node::Fifo, &meta),
            // check_entry refused every other type.
            other => Err(LayerError::Entry {
                path: lossy(&path),
                problem: EntryProblem::UnsupportedType(format!("{:?}", other as char)),
            }),
        };
        written?;
        // Whatever an entry carries beyond what was used (a directory with contents).
        io::copy(&mut entry, &mut io::sink()).map_err(classify)?;
        budget.in_data.set(false);
        budget.used.set(0);
    }
    root.finish()
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
}
