//! One streaming pass over an image archive. Small JSON-like files are kept in memory;
//! everything else is treated as a layer and streamed through the layer checks into an
//! anonymous ingest. Nothing is linked into the store here.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Cursor, Read};

use gantry_layer::{Compression, LayerInfo};
use gantry_store::{Ingest, Store};

use crate::ArchiveError;

/// Files up to this size that look like JSON (or are too small to be a layer) stay in
/// memory; configs and manifests are far smaller.
const SMALL_LIMIT: u64 = 16 << 20;
const BUF: usize = 1 << 20;

/// A layer read from the archive, waiting to be committed if the archive verifies.
pub(crate) struct StagedLayer {
    pub info: LayerInfo,
    pub ingest: Option<Ingest>,
}

/// Everything one pass learned about an archive.
#[derive(Default)]
pub(crate) struct Contents {
    pub small: HashMap<String, Vec<u8>>,
    pub layers: HashMap<String, StagedLayer>,
    /// Symlinks and hardlinks between archive entries (classic docker save dedups
    /// identical layers this way), already resolved to archive paths.
    pub links: HashMap<String, String>,
}

impl Contents {
    /// Follows links (bounded, so a cycle is an error rather than a hang).
    pub fn resolve<'a>(&'a self, path: &'a str) -> &'a str {
        let mut p = path;
        for _ in 0..16 {
            match self.links.get(p) {
                Some(next) => p = next,
                None => return p,
            }
        }
        p
    }

    /// The layer at `path`, staging it from memory if it was small (an empty layer is
    /// 1 KiB of zeros, which looks like neither JSON nor a tar header).
    pub fn layer(&mut self, store: &Store, path: &str, named_by: &str) -> Result<&StagedLayer, ArchiveError> {
        let p = self.resolve(path).to_string();
        if !self.layers.contains_key(&p) {
            let Some(bytes) = self.small.get(&p) else {
                return Err(ArchiveError::MissingFile(path.to_string(), named_by.to_string()));
            };
            let staged = stage_layer(store, &p, Cursor::new(bytes.clone()))?;
            self.layers.insert(p.clone(), staged);
        }
        self.layers.get(&p).ok_or_else(|| ArchiveError::MissingFile(path.to_string(), named_by.to_string()))
    }

    pub fn small_file(&self, path: &str, named_by: &str) -> Result<&[u8], ArchiveError> {
        self.small
            .get(self.resolve(path))
            .map(Vec::as_slice)
            .ok_or_else(|| ArchiveError::MissingFile(path.to_string(), named_by.to_string()))
    }
}

/// Normalizes an archive entry name to a relative path without `.` components and
/// refuses anything that would leave the archive (`..`, absolute paths).
pub(crate) fn clean_path(raw: &[u8]) -> Result<String, ArchiveError> {
    let s = String::from_utf8_lossy(raw).into_owned();
    if s.starts_with('/') {
        return Err(ArchiveError::UnsafePath(s));
    }
    let mut parts = Vec::new();
    for part in s.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(ArchiveError::UnsafePath(s)),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Resolves a link target (relative to the link's directory, or archive-absolute for
/// hardlinks) to an archive path; a target outside the archive is an error.
fn link_target(entry: &str, target: &[u8], hard: bool) -> Result<String, ArchiveError> {
    let t = String::from_utf8_lossy(target).into_owned();
    let mut parts: Vec<&str> = if hard || t.starts_with('/') {
        Vec::new()
    } else {
        let mut p: Vec<&str> = entry.split('/').collect();
        p.pop();
        p
    };
    for part in t.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(ArchiveError::UnsafePath(format!("{entry} -> {t}")));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

fn stage_layer<R: Read>(store: &Store, path: &str, input: R) -> Result<StagedLayer, ArchiveError> {
    let mut ingest = store.ingest()?;
    let info = gantry_layer::ingest(input, &mut ingest).map_err(|e| ArchiveError::Layer(path.to_string(), e))?;
    Ok(StagedLayer { info, ingest: Some(ingest) })
}

/// Wraps the raw input in the decompressor its magic bytes call for.
pub(crate) fn decompressed<'a, R: Read + 'a>(input: R) -> Result<Box<dyn Read + 'a>, ArchiveError> {
    let mut buffered = BufReader::with_capacity(BUF, input);
    let head = buffered.fill_buf().map_err(ArchiveError::Read)?.to_vec();
    Ok(match Compression::detect(&head) {
        None => return Err(ArchiveError::UnsupportedCompression("bzip2")),
        Some(Compression::Gzip) => Box::new(BufReader::with_capacity(BUF, flate2::read::MultiGzDecoder::new(buffered))),
        Some(Compression::Zstd) => Box::new(BufReader::with_capacity(
            BUF,
            zstd::stream::read::Decoder::with_buffer(buffered).map_err(ArchiveError::Read)?,
        )),
        Some(Compression::Xz) => {
            Box::new(BufReader::with_capacity(BUF, liblzma::read::XzDecoder::new_multi_decoder(buffered)))
        }
        Some(Compression::None) => Box::new(buffered),
    })
}

fn looks_small(head: &[u8], size: u64) -> bool {
    if size <= 4096 {
        return true; // JSON, VERSION files, empty layers: decided later by who names them
    }
    let is_tar = head.len() >= 262 && &head[257..262] == b"ustar";
    let compressed = Compression::detect(head).is_some_and(|c| c != Compression::None);
    let json = head.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b == b'{' || *b == b'[');
    size <= SMALL_LIMIT && json && !is_tar && !compressed
}

/// Reads the whole archive once.
pub(crate) fn walk<R: Read>(store: &Store, input: R) -> Result<Contents, ArchiveError> {
    let mut archive = tar::Archive::new(decompressed(input)?);
    let mut contents = Contents::default();
    let entries = archive.entries().map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let path = clean_path(&entry.path_bytes())?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
            let resolved = link_target(&path, &target, kind.is_hard_link())?;
            contents.links.insert(path, resolved);
            continue;
        }
        if !kind.is_file() {
            continue; // fifos and devices have no place in an image archive; ignore them
        }
        let size = entry.size();
        let mut head = Vec::with_capacity(512);
        (&mut entry).take(512).read_to_end(&mut head).map_err(|e| ArchiveError::Corrupt(format!("{path}: {e}")))?;
        if looks_small(&head, size) {
            let mut bytes = head;
            entry.read_to_end(&mut bytes).map_err(|e| ArchiveError::Corrupt(format!("{path}: {e}")))?;
            contents.small.insert(path, bytes);
        } else {
            let staged = stage_layer(store, &path, Cursor::new(head).chain(&mut entry))?;
            if staged.info.source_size != size {
                return Err(ArchiveError::Corrupt(format!("{path}: entry ended early")));
            }
            contents.layers.insert(path, staged);
        }
    }
    Ok(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(clean_path(b"./manifest.json").unwrap(), "manifest.json");
        assert_eq!(clean_path(b"blobs//sha256/./ab").unwrap(), "blobs/sha256/ab");
        assert!(clean_path(b"../x").is_err());
        assert!(clean_path(b"a/../../x").is_err());
        assert!(clean_path(b"/etc/passwd").is_err());
    }

    #[test]
    fn link_targets() {
        assert_eq!(link_target("b/layer.tar", b"../a/layer.tar", false).unwrap(), "a/layer.tar");
        assert_eq!(link_target("b/layer.tar", b"a/layer.tar", true).unwrap(), "a/layer.tar");
        assert!(link_target("b/layer.tar", b"../../x", false).is_err());
        assert!(link_target("x", b"../y", true).is_err());
    }
}
