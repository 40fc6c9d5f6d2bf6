//! One streaming pass over an image archive. Small JSON-like files are kept in memory
//! (within [`MEMORY_BUDGET`]); everything else is treated as a layer, streamed through
//! the layer checks into an anonymous ingest, and linked into the store as soon as it
//! is hashed.
//!
//! Linking at once keeps no file descriptor open per layer (an archive of thousands of
//! layers would otherwise exhaust them): a blob is content-addressed, so its name proves
//! its content, and the caller's lease keeps garbage collection away. The caller owns
//! the set of blobs this pass created and removes them again if the load fails (or if
//! no manifest names them), so a failed load leaves `blobs/` as it found it.
//!
//! A layer that fails its checks does not fail the pass: its error is remembered for
//! that entry and reported only if a manifest names the entry, so a stray README in an
//! archive is ignored, as docker ignores it.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Cursor, Read};

use gantry_image::Digest;
use gantry_layer::{Compression, LayerError, LayerInfo};
use gantry_store::Store;

use crate::error::{excerpt, quoted};
use crate::ArchiveError;

/// Files up to this size that look like JSON (or are too small to be a layer) stay in
/// memory; configs and manifests are far smaller.
const SMALL_LIMIT: u64 = 16 << 20;
const BUF: usize = 1 << 20;

/// Most memory the records of one pass may take: small files' bytes plus, for every
/// entry remembered (small file, layer, failed layer, link), its name and a fixed
/// overhead. Real archives need well under 1 MiB; the budget is what keeps an archive
/// of millions of tiny files or of many 16 MiB JSON-looking files from exhausting memory.
pub(crate) const MEMORY_BUDGET: u64 = 64 << 20;
/// What one remembered entry costs besides its name and bytes (map slot, `String` and
/// `Vec` headers, `LayerInfo`), counted against [`MEMORY_BUDGET`].
const RECORD_OVERHEAD: u64 = 256;
/// Most entries (of any kind) an archive may have: reading headers costs no memory, but
/// an archive of endless empty entries should end with an error, not run for hours.
pub(crate) const MAX_ENTRIES: u64 = 1_000_000;
/// Most links between archive entries (classic `docker save` writes one per shared
/// layer, so a few per image).
pub(crate) const MAX_LINKS: usize = 100_000;

/// Blobs this load linked into the store that were not there before it: the only blobs
/// it may remove again when it fails.
pub(crate) type Created = HashSet<Digest>;

/// Everything one pass learned about an archive.
#[derive(Default)]
pub(crate) struct Contents {
    pub small: HashMap<String, Vec<u8>>,
    /// Layers read, checked and already linked into the store.
    pub layers: HashMap<String, LayerInfo>,
    /// Entries that were read as layers and failed their checks, with the (excerpted)
    /// reason: an error only if a manifest names the entry.
    pub failed: HashMap<String, String>,
    /// Symlinks and hardlinks between archive entries (classic docker save dedups
    /// identical layers this way), already resolved to archive paths.
    pub links: HashMap<String, String>,
    /// Memory charged so far against [`MEMORY_BUDGET`].
    used: u64,
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

    /// Counts a record of `bytes` (plus its name and overhead) against the budget,
    /// before it is allocated.
    fn charge(&mut self, path: &str, bytes: u64) -> Result<(), ArchiveError> {
        let cost = bytes.saturating_add(path.len() as u64).saturating_add(RECORD_OVERHEAD);
        let used = self.used.saturating_add(cost);
        if used > MEMORY_BUDGET {
            return Err(ArchiveError::MemoryBudget(quoted(path), MEMORY_BUDGET >> 20));
        }
        self.used = used;
        Ok(())
    }

    /// The layer at `path`, staging (and linking) it from memory if it was small (an
    /// empty layer is 1 KiB of zeros, which looks like neither JSON nor a tar header).
    /// A layer that failed its checks while the archive was read fails here.
    pub fn layer(
        &mut self,
        store: &Store,
        path: &str,
        named_by: &str,
        created: &mut Created,
    ) -> Result<&LayerInfo, ArchiveError> {
        let p = self.resolve(path).to_string();
        if let Some(reason) = self.failed.get(&p) {
            return Err(ArchiveError::BadLayer(excerpt(path), reason.clone()));
        }
        if !self.layers.contains_key(&p) {
            // Taken, not copied: the bytes become the layer blob.
            let Some(bytes) = self.small.remove(&p) else {
                return Err(ArchiveError::MissingFile(quoted(path), named_by.to_string()));
            };
            match stage(store, Cursor::new(bytes), created)? {
                Ok(info) => {
                    self.layers.insert(p.clone(), info);
                }
                Err(LayerError::Write(e)) => return Err(ArchiveError::Layer(excerpt(path), LayerError::Write(e))),
                Err(e) => return Err(ArchiveError::BadLayer(excerpt(path), describe(&e))),
            }
        }
        self.layers.get(&p).ok_or_else(|| ArchiveError::MissingFile(quoted(path), named_by.to_string()))
    }

    /// A file kept in memory (a manifest or config). A file that was too big or did
    /// not look like JSON was read as a layer instead: say so rather than "missing".
    pub fn small_file(&self, path: &str, named_by: &str) -> Result<&[u8], ArchiveError> {
        let p = self.resolve(path);
        if let Some(bytes) = self.small.get(p) {
            return Ok(bytes);
        }
        if self.layers.contains_key(p) || self.failed.contains_key(p) {
            return Err(ArchiveError::Json(
                excerpt(path),
                format!("named by {named_by} as a JSON document, but it is not one (or is over 16 MiB)"),
            ));
        }
        Err(ArchiveError::MissingFile(quoted(path), named_by.to_string()))
    }

    /// Records a file kept in memory; a later entry of the same name replaces an earlier
    /// one of any kind, as extracting the archive would.
    fn put_small(&mut self, path: String, bytes: Vec<u8>) {
        self.layers.remove(&path);
        self.failed.remove(&path);
        self.small.insert(path, bytes);
    }

    fn put_layer(&mut self, path: String, result: Result<LayerInfo, String>) {
        self.small.remove(&path);
        match result {
            Ok(info) => {
                self.failed.remove(&path);
                self.layers.insert(path, info);
            }
            Err(reason) => {
                self.layers.remove(&path);
                self.failed.insert(path, reason);
            }
        }
    }
}

/// Normalizes an archive entry name to a relative path without `.` components and
/// refuses anything that would leave the archive (`..`, absolute paths).
pub(crate) fn clean_path(raw: &[u8]) -> Result<String, ArchiveError> {
    let s = String::from_utf8_lossy(raw).into_owned();
    if s.starts_with('/') {
        return Err(ArchiveError::UnsafePath(quoted(&s)));
    }
    let mut parts = Vec::new();
    for part in s.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(ArchiveError::UnsafePath(quoted(&s))),
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
                    return Err(ArchiveError::UnsafePath(format!("{} -> {}", quoted(entry), quoted(&t))));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Streams one layer into an ingest and links it into the store unless the store has
/// it already (then the copy is simply dropped). The outer error is the store's and
/// ends the load; the inner one is the layer's own defect (or a failed write, which the
/// caller also treats as fatal).
fn stage<R: Read>(
    store: &Store,
    input: R,
    created: &mut Created,
) -> Result<Result<LayerInfo, LayerError>, ArchiveError> {
    let mut ingest = store.ingest()?;
    let info = match gantry_layer::ingest(input, &mut ingest) {
        Ok(info) => info,
        Err(e) => return Ok(Err(e)),
    };
    if !store.has_blob(&info.diff_id) {
        ingest.commit(&info.diff_id)?;
        created.insert(info.diff_id);
    }
    Ok(Ok(info))
}

/// A layer's defect as a one-line message; the tar parser quotes raw header bytes in
/// some of its errors, so archive-supplied text is excerpted.
fn describe(e: &LayerError) -> String {
    match e {
        LayerError::Entry { path, problem } => {
            format!("layer entry {}: {}", quoted(path), excerpt(&problem.to_string()))
        }
        other => excerpt(&other.to_string()),
    }
}

/// Reads one archive entry and remembers whether the *archive* failed under it: a read
/// error (a corrupt compressed stream) or the archive's end before the entry's declared
/// size. Such a failure is the archive's and fatal, whatever the layer code made of the
/// short input; any other failure of a layer is the entry's own.
struct Watched<R> {
    inner: R,
    size: u64,
    read: u64,
    error: Option<String>,
    short: bool,
}

impl<R: Read> Watched<R> {
    fn new(inner: R, size: u64) -> Watched<R> {
        Watched { inner, size, read: 0, error: None, short: false }
    }

    /// The archive's failure while this entry was read, if there was one.
    fn failure(&self, path: &str) -> Option<ArchiveError> {
        if let Some(e) = &self.error {
            return Some(ArchiveError::Corrupt(format!("{}: {}", excerpt(path), excerpt(e))));
        }
        self.short.then(|| ArchiveError::Corrupt(format!("{}: entry ended early", excerpt(path))))
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(0) if !buf.is_empty() && self.read < self.size => {
                self.short = true;
                Ok(0)
            }
            Ok(n) => {
                self.read += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.error = Some(e.to_string());
                Err(e)
            }
        }
    }
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

/// Reads the whole archive once, linking every layer into the store as it goes (and
/// adding the blobs it created to `created`, also when it fails).
pub(crate) fn walk<R: Read>(store: &Store, input: R, created: &mut Created) -> Result<Contents, ArchiveError> {
    let mut archive = tar::Archive::new(decompressed(input)?);
    let mut contents = Contents::default();
    let entries = archive.entries().map_err(|e| ArchiveError::Corrupt(excerpt(&e.to_string())))?;
    let mut count: u64 = 0;
    for entry in entries {
        let mut entry = entry.map_err(|e| ArchiveError::Corrupt(excerpt(&e.to_string())))?;
        let path = clean_path(&entry.path_bytes())?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(ArchiveError::TooManyEntries(quoted(&path), MAX_ENTRIES));
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            if contents.links.len() >= MAX_LINKS {
                return Err(ArchiveError::TooManyLinks(quoted(&path), MAX_LINKS));
            }
            let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
            let resolved = link_target(&path, &target, kind.is_hard_link())?;
            contents.charge(&path, resolved.len() as u64)?;
            contents.links.insert(path, resolved);
            continue;
        }
        if !kind.is_file() {
            continue; // fifos and devices have no place in an image archive; ignore them
        }
        let size = entry.size();
        let mut watched = Watched::new(&mut entry, size);
        let mut head = Vec::with_capacity(512);
        let read_err = |e: io::Error| ArchiveError::Corrupt(format!("{}: {}", excerpt(&path), excerpt(&e.to_string())));
        (&mut watched).take(512).read_to_end(&mut head).map_err(read_err)?;
        if looks_small(&head, size) {
            // Charged before it is allocated; `looks_small` bounds `size` by 16 MiB.
            contents.charge(&path, size)?;
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            bytes.extend_from_slice(&head);
            watched.read_to_end(&mut bytes).map_err(read_err)?;
            if let Some(e) = watched.failure(&path) {
                return Err(e);
            }
            contents.put_small(path, bytes);
        } else {
            contents.charge(&path, 0)?;
            let staged = stage(store, Cursor::new(head).chain(&mut watched), created)?;
            if let Some(e) = watched.failure(&path) {
                return Err(e);
            }
            let result = match staged {
                Ok(info) if info.source_size != size => {
                    return Err(ArchiveError::Corrupt(format!("{}: entry ended early", excerpt(&path))));
                }
                Ok(info) => Ok(info),
                Err(LayerError::Write(e)) => return Err(ArchiveError::Layer(excerpt(&path), LayerError::Write(e))),
                Err(e) => Err(describe(&e)),
            };
            contents.put_layer(path, result);
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

    #[test]
    fn budget_is_charged_before_allocation() {
        let mut c = Contents::default();
        assert!(c.charge("a", MEMORY_BUDGET / 2).is_ok());
        let err = c.charge("b", MEMORY_BUDGET / 2).unwrap_err().to_string();
        assert!(err.contains("\"b\"") && err.contains("64 MiB"), "{err}");
        assert!(c.charge("c", 1).is_ok(), "a refused charge is not counted");
    }

    /// A short entry is the archive's failure, not the layer's.
    #[test]
    fn watched_reader_sees_a_short_entry() {
        let mut w = Watched::new(&b"abc"[..], 10);
        let mut out = Vec::new();
        w.read_to_end(&mut out).unwrap();
        assert!(w.failure("x").is_some_and(|e| e.to_string().contains("ended early")));
        let mut w = Watched::new(&b"abc"[..], 3);
        w.read_to_end(&mut out).unwrap();
        assert!(w.failure("x").is_none());
    }
}
