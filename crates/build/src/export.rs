//! Exporting a built image's filesystem, for `gantry build --output type=local` and
//! `type=tar`: the merged view of its layers ([`FsView`], whiteouts already applied)
//! written into a directory or as one tar stream, straight from the stored layer
//! blobs, without unpacking a snapshot first.
//!
//! A directory export goes through [`gantry_layer::apply::RootDir`], so every path is
//! resolved inside the destination: an image's symlinks (`/etc -> /host/etc`, or a
//! link planted in an existing destination) can never make the export write outside
//! it. Owners are applied only when running as root, like BuildKit's local exporter.
//!
//! Hard links are written after everything else (their target may sort after them)
//! and point at the end of their chain of links. A hard link whose target an upper
//! layer replaced is linked to the replacement: the view keeps only the topmost entry
//! of each path, so the replaced contents are no longer reachable (a known limit).

use std::io::{self, Read, Write};
use std::path::Path;

use gantry_layer::apply::{Meta, Node, RootDir};
use gantry_layer::LayerError;
use gantry_store::Store;

use crate::fsview::{Entry, FsView, Kind};
use crate::BuildError;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the image (its layers).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Writing the destination directory (paths are resolved inside it).
    #[error("{0}")]
    Layer(#[from] LayerError),
    /// Writing the tar stream.
    #[error("writing the export: {0}")]
    Write(#[source] io::Error),
    /// The image is inconsistent (a hard link to nothing, a file shorter than its header).
    #[error("{0}")]
    Image(String),
}

fn meta(e: &Entry) -> Meta {
    Meta { mode: e.mode, uid: e.uid, gid: e.gid, mtime: i64::try_from(e.mtime).unwrap_or(i64::MAX) }
}

/// The path a hard link finally names (links to links are followed, within the view).
fn link_target(view: &FsView, path: &str, e: &Entry) -> Result<String, ExportError> {
    let mut target = e.link.clone().unwrap_or_default();
    for _ in 0..64 {
        match view.get(&target) {
            Some(t) if t.kind == Kind::Hardlink => target = t.link.clone().unwrap_or_default(),
            Some(_) => return Ok(target),
            None => break,
        }
    }
    Err(ExportError::Image(format!("{path}: hard link to a missing file {target:?}")))
}

/// Counts what a file's reader yields, so a blob shorter than its tar header says is
/// reported instead of silently exporting a short file (or corrupting a tar).
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

fn short(path: &str) -> ExportError {
    ExportError::Image(format!("{path}: layer data is shorter than its header says"))
}

/// Writes the view's filesystem into the existing directory `dest`; entries already
/// there are replaced (a directory is kept and merged), others are left alone.
pub fn write_dir(store: &Store, view: &FsView, dest: &Path) -> Result<(), ExportError> {
    let mut root = RootDir::open(dest)?;
    let mut links = Vec::new();
    for (path, e) in view.walk("") {
        let p = path.as_bytes();
        let m = meta(e);
        match e.kind {
            Kind::Hardlink => links.push((path, e)),
            Kind::File => {
                let mut data = Counted { inner: view.open(store, e)?, n: 0 };
                root.write(p, Node::File(&mut data), &m)?;
                if data.n != e.size {
                    return Err(short(path));
                }
            }
            Kind::Dir => root.write(p, Node::Dir, &m)?,
            Kind::Symlink => root.write(p, Node::Symlink(e.link.as_deref().unwrap_or("").as_bytes()), &m)?,
            Kind::Fifo => root.write(p, Node::Fifo, &m)?,
            Kind::Char => root.write(p, Node::Char(e.device.0, e.device.1), &m)?,
            Kind::Block => root.write(p, Node::Block(e.device.0, e.device.1), &m)?,
        }
    }
    for (path, e) in links {
        let target = link_target(view, path, e)?;
        root.write(path.as_bytes(), Node::Hardlink(target.as_bytes()), &meta(e))?;
    }
    root.finish()?;
    Ok(())
}

/// Writes the view's filesystem as one tar stream (paths in order, hard links last),
/// with every owner, mode and time as the image has them. Returns the writer, flushed.
pub fn write_tar<W: Write>(store: &Store, view: &FsView, out: W) -> Result<W, ExportError> {
    let werr = ExportError::Write;
    let mut b = tar::Builder::new(out);
    b.mode(tar::HeaderMode::Complete);
    for links in [false, true] {
        for (path, e) in view.walk("").filter(|(_, e)| (e.kind == Kind::Hardlink) == links) {
            let mut h = tar::Header::new_gnu();
            h.set_mode(e.mode);
            h.set_uid(e.uid);
            h.set_gid(e.gid);
            h.set_mtime(e.mtime);
            h.set_size(0);
            match e.kind {
                Kind::File => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(e.size);
                    let mut data = Counted { inner: view.open(store, e)?, n: 0 };
                    b.append_data(&mut h, path, &mut data).map_err(werr)?;
                    if data.n != e.size {
                        return Err(short(path));
                    }
                }
                Kind::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    b.append_data(&mut h, format!("{path}/"), io::empty()).map_err(werr)?;
                }
                Kind::Symlink => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    b.append_link(&mut h, path, e.link.as_deref().unwrap_or("")).map_err(werr)?;
                }
                Kind::Hardlink => {
                    h.set_entry_type(tar::EntryType::Link);
                    let target = link_target(view, path, e)?;
                    b.append_link(&mut h, path, target).map_err(werr)?;
                }
                Kind::Fifo | Kind::Char | Kind::Block => {
                    h.set_entry_type(match e.kind {
                        Kind::Fifo => tar::EntryType::Fifo,
                        Kind::Char => tar::EntryType::Char,
                        _ => tar::EntryType::Block,
                    });
                    h.set_device_major(e.device.0).map_err(werr)?;
                    h.set_device_minor(e.device.1).map_err(werr)?;
                    b.append_data(&mut h, path, io::empty()).map_err(werr)?;
                }
            }
        }
    }
    let mut out = b.into_inner().map_err(werr)?;
    out.flush().map_err(werr)?;
    Ok(out)
}
