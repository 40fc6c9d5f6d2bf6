//! Writes the layer a COPY/ADD step adds: a deterministic tar (sorted paths, fixed
//! owners and times as the step decides) streamed into the store's ingest while its
//! DiffID and docker-style content size are computed, so the bytes are read once.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use gantry_store::{LayerRecord, Store};

use crate::fsview::{Entry, FsView, Kind};
use crate::BuildError;

/// Where an item's bytes come from.
pub enum Source<'a> {
    /// A file of the build context.
    Disk(PathBuf),
    /// A file of another stage or image.
    View(&'a FsView, Entry),
    /// Inline content (heredocs).
    Bytes(Vec<u8>),
    /// Directories, symlinks, devices: no data.
    Empty,
}

/// One entry of the layer.
pub struct Item<'a> {
    /// Path in the image, cleaned, without a leading `/`.
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub size: u64,
    /// Symlink target, or hard-link target path in this layer.
    pub link: Option<String>,
    pub source: Source<'a>,
}

/// Writes `items` (sorted here by path, so the same items always give the same bytes)
/// as a layer and records it in the store's blobs. Returns the layer record.
pub fn write_layer(store: &Store, mut items: Vec<Item<'_>>) -> Result<LayerRecord, BuildError> {
    items.sort_by(|a, b| a.path.cmp(&b.path));
    items.dedup_by(|b, a| a.path == b.path);
    write_stream(store, |out| {
        let werr = |e: io::Error| BuildError::Layer(format!("writing layer: {e}"));
        let mut content_size = 0u64;
        let mut b = tar::Builder::new(out);
        b.mode(tar::HeaderMode::Complete);
        for item in &items {
            let mut h = tar::Header::new_gnu();
            h.set_mode(item.mode);
            h.set_uid(item.uid);
            h.set_gid(item.gid);
            h.set_mtime(item.mtime);
            let path = if item.kind == Kind::Dir { format!("{}/", item.path) } else { item.path.clone() };
            match item.kind {
                Kind::Dir | Kind::Fifo | Kind::Char | Kind::Block => {
                    h.set_entry_type(match item.kind {
                        Kind::Dir => tar::EntryType::Directory,
                        Kind::Fifo => tar::EntryType::Fifo,
                        Kind::Char => tar::EntryType::Char,
                        _ => tar::EntryType::Block,
                    });
                    h.set_size(0);
                    b.append_data(&mut h, &path, io::empty()).map_err(werr)?;
                }
                Kind::Symlink | Kind::Hardlink => {
                    let link = item.link.clone().unwrap_or_default();
                    h.set_entry_type(if item.kind == Kind::Symlink {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    });
                    h.set_size(0);
                    if item.kind == Kind::Symlink {
                        content_size += link.len() as u64;
                    }
                    b.append_link(&mut h, &path, &link).map_err(werr)?;
                }
                Kind::File => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(item.size);
                    content_size += item.size;
                    let reader: Box<dyn Read + '_> = match &item.source {
                        Source::Disk(p) => Box::new(
                            std::fs::File::open(p).map_err(|e| BuildError::Layer(format!("{}: {e}", p.display())))?,
                        ),
                        Source::View(view, entry) => Box::new(view.open(store, entry)?),
                        Source::Bytes(bytes) => Box::new(&bytes[..]),
                        Source::Empty => Box::new(io::empty()),
                    };
                    // A file that changed size since it was selected would corrupt the
                    // tar framing: `take` plus the length check below refuse that.
                    let mut counted = CountingReader { inner: reader.take(item.size), n: 0 };
                    b.append_data(&mut h, &path, &mut counted).map_err(werr)?;
                    if counted.n != item.size {
                        return Err(BuildError::Layer(format!("{path}: file changed size while being copied")));
                    }
                }
            }
        }
        b.finish().map_err(werr)?;
        Ok(content_size)
    })
}

/// Streams a layer tar that `write` produces into the store's blobs under its DiffID.
/// `write` returns the layer's content size.
pub fn write_stream<F>(store: &Store, write: F) -> Result<LayerRecord, BuildError>
where
    F: FnOnce(&mut dyn Write) -> Result<u64, BuildError>,
{
    let (diff_id, tar_size, content_size) = store.put_stream(write)?;
    Ok(LayerRecord { diff_id, tar_size, content_size })
}

struct CountingReader<R: Read> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}
