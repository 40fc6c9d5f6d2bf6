//! Writing what a container changed, as recorded in its overlayfs upper directory, as a
//! layer tar (DESIGN.md, "Snapshots = overlayfs": a RUN step's diff is read from the
//! upper dir, only what changed).
//!
//! The tar is what docker's overlay2 driver writes for the same upper dir (moby
//! `pkg/archive`, `overlayWhiteoutConverter`): entries in `filepath.Walk` order, the
//! kernel's whiteouts (0:0 character devices) written as `.wh.NAME` files, an opaque
//! directory (`trusted.overlay.opaque=y`) followed by a `.wh..wh..opq` file, overlayfs's
//! own xattrs left out. Headers are ustar, with pax records for long names and for
//! extended attributes (`SCHILY.xattr.NAME`, as docker, BuildKit and GNU tar write them).
//!
//! The upper dir was written by the container, so nothing in it is trusted: every
//! entry is opened relative to its directory's fd, never following a symlink, so a
//! planted link cannot make us read (and publish in an image) a host file. Another
//! filesystem mounted inside it is not crossed. Memory stays bounded whatever the
//! sizes: file contents are streamed; what is held is one directory's names per level
//! of the current path, and the first path of each multiply-linked inode.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::apply::{at, children, fd_path, Xattrs, DIR_READ, OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX};
use crate::LayerError;

/// What a diff contained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// Entries written (whiteouts and opaque markers included, pax headers not).
    pub entries: u64,
    /// Docker's layer "size": regular files' sizes plus symlink targets' lengths, each
    /// hard-linked file counted once (what [`crate::LayerInfo::content_size`] finds in
    /// the same tar, and what docker's overlay2 driver counts in the upper dir).
    pub content_size: u64,
}

/// The most pax data one entry may carry: Go's `archive/tar` limit (docker refuses
/// bigger ones) and ours when ingesting ([`crate::ingest`]).
const MAX_PAX: usize = 1 << 20;

/// Largest value of the 11 octal digits of a ustar size or mtime field.
const MAX_OCTAL_11: u64 = 0o77777777777;

/// Writes the changes recorded in an overlayfs upper directory `upper` as a layer tar to
/// `out`: entries in `filepath.Walk` order (each directory's names sorted bytewise, a
/// directory before its contents, the root itself not written), leaving out the paths in
/// `skip` (relative, no leading '/', e.g. `b"etc/hosts"`: files the runtime mounted
/// over; a skipped directory skips its contents). Sockets are left out, as docker does.
///
/// Hard links: a non-directory with more than one link whose inode was already written
/// becomes a link entry to the first path written. `security.capability` in the
/// namespaced v3 format is written as v2, as docker does (the root id it names means
/// nothing outside the user namespace that wrote it); `security.selinux` is left out
/// (a label of the host, which docker and containerd never write either).
///
/// Fails (and `out` holds a partial tar) if the upper dir cannot be read, or was made
/// with overlayfs features whose diff cannot be read from the upper dir alone
/// (`redirect_dir`, `metacopy`: mount with both off).
pub fn write_diff<W: Write>(upper: &Path, skip: &[&[u8]], out: W) -> Result<DiffStats, LayerError> {
    let upper_name = upper.as_os_str().as_bytes();
    let root = rfs::open(upper, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| LayerError::Read(at(upper_name, e.into())))?;
    let dev = rfs::fstat(&root).map_err(|e| LayerError::Read(at(upper_name, e.into())))?.st_dev;
    let skip: HashSet<&[u8]> = skip.iter().map(|p| trim_slashes(p)).collect();
    let mut diff = Diff {
        tar: TarOut { out: BufWriter::with_capacity(1 << 16, out), buf: vec![0; 1 << 16], stats: DiffStats::default() },
        dev,
        links: HashMap::new(),
    };
    let names = sorted_names(root.as_fd()).map_err(|e| LayerError::Read(at(upper_name, e)))?;
    let mut stack = vec![Level { dir: root, prefix: Vec::new(), names: names.into_iter() }];
    while let Some(level) = stack.last_mut() {
        let Some(name) = level.names.next() else {
            stack.pop();
            continue;
        };
        let mut rel = level.prefix.clone();
        rel.extend_from_slice(&name);
        if skip.contains(rel.as_slice()) {
            continue;
        }
        if let Some(next) = diff.visit(level.dir.as_fd(), &name, rel)? {
            stack.push(next);
        }
    }
    diff.tar.finish()
}

fn trim_slashes(path: &[u8]) -> &[u8] {
    let start = path.iter().position(|&b| b != b'/').unwrap_or(path.len());
    let end = path.iter().rposition(|&b| b != b'/').map_or(start, |i| i + 1);
    &path[start..end.max(start)]
}

/// A directory being walked: its fd, its path with a trailing '/' (empty for the root),
/// and the names still to visit.
struct Level {
    dir: OwnedFd,
    prefix: Vec<u8>,
    names: std::vec::IntoIter<Vec<u8>>,
}

/// The names of a directory, sorted bytewise (Go's `filepath.Walk` order).
fn sorted_names(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut names: Vec<Vec<u8>> = children(dir)?.into_iter().map(|(name, _)| name).collect();
    names.sort_unstable();
    Ok(names)
}

struct Diff<W: Write> {
    tar: TarOut<W>,
    /// The upper dir's device: entries on another one are mounts, not changes.
    dev: u64,
    /// (device, inode) of multiply-linked files written so far -> their path.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> Diff<W> {
    /// Writes the entry `name` of `dir` (at `rel`); returns the directory to walk next
    /// when it is one.
    fn visit(&mut self, dir: BorrowedFd<'_>, name: &[u8], rel: Vec<u8>) -> Result<Option<Level>, LayerError> {
        let fail = |e: io::Error| LayerError::Read(at(&rel, e));
        let st = match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Gone meanwhile: nothing to write.
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(fail(e.into())),
        };
        if st.st_dev != self.dev {
            return Ok(None);
        }
        let kind = FileType::from_raw_mode(st.st_mode);
        let mut head = Head::new(rel.clone(), &st);
        match kind {
            FileType::Directory => {
                let fd = rfs::openat(dir, name, DIR_READ, Mode::empty()).map_err(|e| fail(e.into()))?;
                same_inode(&fd, &st).map_err(fail)?;
                let xattrs = read_xattrs(Source::Fd(fd.as_fd())).map_err(fail)?;
                let opaque = overlay_state(&xattrs, true).map_err(fail)?;
                head.path.push(b'/');
                head.kind = tar::EntryType::Directory;
                self.tar.append(&head, &xattrs, None)?;
                if opaque {
                    // As docker writes it: the directory's permission bits and owners,
                    // mtime 0 (Go's zero time).
                    let mut marker = head.clone();
                    marker.path.extend_from_slice(OPAQUE_MARKER);
                    marker.kind = tar::EntryType::Regular;
                    marker.mode &= 0o777;
                    marker.mtime = 0;
                    self.tar.append(&marker, &[], None)?;
                }
                let names = sorted_names(fd.as_fd()).map_err(fail)?;
                let mut prefix = rel;
                prefix.push(b'/');
                return Ok(Some(Level { dir: fd, prefix, names: names.into_iter() }));
            }
            FileType::CharacterDevice if st.st_rdev == 0 => {
                // An overlayfs whiteout: `.wh.NAME`, an empty file of mode 0600 with the
                // device's owners and mtime (what docker writes).
                let split = rel.len() - name.len();
                head.path.truncate(split);
                head.path.extend_from_slice(WHITEOUT_PREFIX);
                head.path.extend_from_slice(name);
                head.kind = tar::EntryType::Regular;
                head.mode = 0o600;
                self.tar.append(&head, &[], None)?;
                return Ok(None);
            }
            FileType::Socket | FileType::Unknown => return Ok(None),
            _ => {}
        }
        // A non-directory: a regular file, a symlink, a fifo or a device.
        let file = match kind {
            FileType::RegularFile => {
                let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
                let fd = rfs::openat(dir, name, flags, Mode::empty()).map_err(|e| fail(e.into()))?;
                same_inode(&fd, &st).map_err(fail)?;
                Some(File::from(fd))
            }
            _ => None,
        };
        let xattrs = match &file {
            Some(file) => read_xattrs(Source::Fd(file.as_fd())),
            None => read_xattrs(Source::Path(&fd_path(dir, name))),
        }
        .map_err(fail)?;
        overlay_state(&xattrs, false).map_err(fail)?;
        if st.st_nlink > 1 {
            let inode = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&inode) {
                head.kind = tar::EntryType::Link;
                head.link = first.clone();
                self.tar.append(&head, &xattrs, None)?;
                return Ok(None);
            }
            self.links.insert(inode, rel.clone());
        }
        match kind {
            FileType::RegularFile => {
                head.kind = tar::EntryType::Regular;
                head.size = st.st_size as u64;
                self.tar.stats.content_size = self.tar.stats.content_size.saturating_add(head.size);
            }
            FileType::Symlink => {
                head.kind = tar::EntryType::Symlink;
                head.link = rfs::readlinkat(dir, name, Vec::new()).map_err(|e| fail(e.into()))?.into_bytes();
                self.tar.stats.content_size = self.tar.stats.content_size.saturating_add(head.link.len() as u64);
            }
            FileType::Fifo => head.kind = tar::EntryType::Fifo,
            FileType::CharacterDevice | FileType::BlockDevice => {
                head.kind =
                    if kind == FileType::CharacterDevice { tar::EntryType::Char } else { tar::EntryType::Block };
                head.device = Some((rfs::major(st.st_rdev), rfs::minor(st.st_rdev)));
            }
            _ => return Ok(None),
        }
        self.tar.append(&head, &xattrs, file)?;
        Ok(None)
    }
}

/// Checks that an fd opened by name is the inode stat'ed by name (not something put in
/// its place meanwhile).
fn same_inode(fd: &OwnedFd, st: &Stat) -> io::Result<()> {
    let now = rfs::fstat(fd)?;
    if now.st_dev != st.st_dev || now.st_ino != st.st_ino {
        return Err(io::Error::other("replaced while the diff was being written"));
    }
    Ok(())
}

/// Looks at overlayfs's xattrs of an entry: returns whether it is an opaque directory;
/// fails on the features that keep part of a change out of the upper dir.
fn overlay_state(xattrs: &[(Vec<u8>, Vec<u8>)], is_dir: bool) -> io::Result<bool> {
    let mut opaque = false;
    for (name, value) in xattrs {
        match name.as_slice() {
            b"trusted.overlay.redirect" => {
                return Err(io::Error::other("overlayfs redirect_dir entry: its contents are in a lower layer"));
            }
            b"trusted.overlay.metacopy" => {
                return Err(io::Error::other("overlayfs metacopy entry: its data is in a lower layer"));
            }
            n if n == OPAQUE_XATTR.as_bytes() => opaque = is_dir && value.as_slice() == b"y",
            _ => {}
        }
    }
    Ok(opaque)
}

/// Where to read an entry's xattrs from: an fd of it, or a path that is not followed.
pub(crate) enum Source<'a> {
    Fd(BorrowedFd<'a>),
    Path(&'a [u8]),
}

/// All the extended attributes of an entry, sorted by name (`trusted.overlay.*`
/// included: the caller looks at them, [`TarOut`] leaves them out).
pub(crate) fn read_xattrs(source: Source<'_>) -> io::Result<Xattrs> {
    let list = fill(|buf| match &source {
        Source::Fd(fd) if buf.is_empty() => rfs::flistxattr_query(fd),
        Source::Fd(fd) => rfs::flistxattr(fd, buf),
        Source::Path(path) if buf.is_empty() => rfs::llistxattr_query(*path),
        Source::Path(path) => rfs::llistxattr(*path, buf),
    });
    let list = match list {
        Ok(list) => list,
        Err(e) if e.raw_os_error() == Some(Errno::NOTSUP.raw_os_error()) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut xattrs = Vec::new();
    for name in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let value = fill(|buf| match &source {
            Source::Fd(fd) if buf.is_empty() => rfs::fgetxattr_query(fd, name),
            Source::Fd(fd) => rfs::fgetxattr(fd, name, buf),
            Source::Path(path) if buf.is_empty() => rfs::lgetxattr_query(*path, name),
            Source::Path(path) => rfs::lgetxattr(*path, name, buf),
        });
        match value {
            Ok(value) => xattrs.push((name.to_vec(), value)),
            // Removed since it was listed.
            Err(e) if e.raw_os_error() == Some(Errno::NODATA.raw_os_error()) => {}
            Err(e) => return Err(e),
        }
    }
    xattrs.sort();
    Ok(xattrs)
}

/// Runs a size query (empty buffer) then the read, again if the value grew meanwhile.
fn fill(mut call: impl FnMut(&mut [u8]) -> rustix::io::Result<usize>) -> io::Result<Vec<u8>> {
    loop {
        let size = call(&mut [])?;
        let mut buf = vec![0u8; size];
        match call(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// One entry's header fields.
#[derive(Clone)]
struct Head {
    path: Vec<u8>,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: i64,
    size: u64,
    link: Vec<u8>,
    device: Option<(u32, u32)>,
}

impl Head {
    fn new(path: Vec<u8>, st: &Stat) -> Head {
        Head {
            path,
            kind: tar::EntryType::Regular,
            mode: st.st_mode & 0o7777,
            uid: u64::from(st.st_uid),
            gid: u64::from(st.st_gid),
            mtime: st.st_mtime,
            size: 0,
            link: Vec::new(),
            device: None,
        }
    }
}

/// The tar being written.
struct TarOut<W: Write> {
    out: BufWriter<W>,
    buf: Vec<u8>,
    stats: DiffStats,
}

impl<W: Write> TarOut<W> {
    /// Writes one entry: its pax header if it needs one, its ustar header, and for a
    /// regular file `head.size` bytes of `data`.
    fn append(&mut self, head: &Head, xattrs: &[(Vec<u8>, Vec<u8>)], data: Option<File>) -> Result<(), LayerError> {
        let fail = |e: io::Error| LayerError::Read(at(&head.path, e));
        let mut pax = Vec::new();
        if head.path.len() > 100 {
            pax_record(&mut pax, b"path", &head.path);
        }
        if head.link.len() > 100 {
            pax_record(&mut pax, b"linkpath", &head.link);
        }
        if head.size > MAX_OCTAL_11 {
            pax_record(&mut pax, b"size", head.size.to_string().as_bytes());
        }
        for (name, value) in xattrs {
            if name.starts_with(b"trusted.overlay.") || name.as_slice() == b"security.selinux" {
                continue;
            }
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(name);
            pax_record(&mut pax, &key, &capability_v2(name, value));
        }
        if pax.len() > MAX_PAX {
            return Err(fail(io::Error::other("names and extended attributes take more than 1 MiB")));
        }
        if !pax.is_empty() {
            let mut name = b"PaxHeaders.0/".to_vec();
            name.extend_from_slice(head.path.rsplit(|&b| b == b'/').find(|c| !c.is_empty()).unwrap_or(b""));
            let mut h = ustar(&name, tar::EntryType::XHeader, 0o644, pax.len() as u64);
            h.set_cksum();
            self.write(h.as_bytes())?;
            self.write(&pax)?;
            self.pad(pax.len() as u64)?;
        }
        let mut h = ustar(&head.path, head.kind, head.mode, head.size);
        h.set_uid(head.uid);
        h.set_gid(head.gid);
        h.set_mtime(u64::try_from(head.mtime).unwrap_or(0));
        let link = &head.link[..head.link.len().min(100)];
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        if let Some((major, minor)) = head.device {
            h.set_device_major(major).map_err(LayerError::Write)?;
            h.set_device_minor(minor).map_err(LayerError::Write)?;
        }
        h.set_cksum();
        self.write(h.as_bytes())?;
        if let Some(mut file) = data {
            let mut left = head.size;
            while left > 0 {
                let want = self.buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = match file.read(&mut self.buf[..want]) {
                    Ok(0) => return Err(fail(io::Error::other("file shrank while the diff was being written"))),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(fail(e)),
                };
                self.out.write_all(&self.buf[..n]).map_err(LayerError::Write)?;
                left -= n as u64;
            }
            self.pad(head.size)?;
        }
        self.stats.entries += 1;
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), LayerError> {
        self.out.write_all(bytes).map_err(LayerError::Write)
    }

    /// Zeros up to the next 512-byte boundary after `len` bytes of data.
    fn pad(&mut self, len: u64) -> Result<(), LayerError> {
        let rest = (512 - len % 512) % 512;
        self.write(&[0u8; 512][..rest as usize])
    }

    /// The end-of-archive marker (two zero blocks), then everything flushed.
    fn finish(mut self) -> Result<DiffStats, LayerError> {
        self.write(&[0u8; 1024])?;
        self.out.flush().map_err(LayerError::Write)?;
        Ok(self.stats)
    }
}

/// A ustar header with a name (cut at 100 bytes: the full one goes in a pax record),
/// type, permission bits and size. Names and link targets are stored as they are,
/// bytes included, never normalized (a symlink's `dir/` is not `dir`).
fn ustar(name: &[u8], kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    let cut = &name[..name.len().min(100)];
    h.as_old_mut().name[..cut.len()].copy_from_slice(cut);
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    // ustar always has room for device numbers.
    let _ = h.set_device_major(0);
    let _ = h.set_device_minor(0);
    h
}

/// Appends one pax record: `LEN KEY=VALUE\n`, LEN counting the whole record, itself
/// included.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let rest = 1 + key.len() + 1 + value.len() + 1;
    let mut digits = 1;
    while (rest + digits).to_string().len() != digits {
        digits += 1;
    }
    out.extend_from_slice((rest + digits).to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// `security.capability` v3 (which names the root uid of a user namespace) as v2, as
/// docker writes it: the layer may be used in any namespace. Anything else unchanged.
fn capability_v2(name: &[u8], value: &[u8]) -> Vec<u8> {
    const REVISION_OFFSET: usize = 3;
    const V2_SIZE: usize = 20;
    if name == b"security.capability" && value.len() > V2_SIZE && value.get(REVISION_OFFSET) == Some(&3) {
        let mut v2 = value[..V2_SIZE].to_vec();
        v2[REVISION_OFFSET] = 2;
        return v2;
    }
    value.to_vec()
}

#[cfg(test)]
#[path = "diff_tests.rs"]
pub(crate) mod tests;
