//! Tar layers: one-pass ingest (decompress, check every entry, write the uncompressed
//! tar, compute DiffID and compressed digest), and compression detection.
//!
//! Layers are stored uncompressed (see DESIGN.md, "Layers stored uncompressed"), so
//! loading an image is essentially: read each layer once, decompress it if needed, hash
//! both forms, check every entry and write the tar out. [`ingest`] does all of that in a
//! single streaming pass with bounded memory; [`inspect`] is the same without output.
//!
//! Data path (uncompressed input), chosen so that every byte is touched as few times as
//! possible:
//!
//! ```text
//! input --read 1 MiB--> chunk --+--> out (written whole, 1 MiB at a time)
//!                               +--> sha256 on a second thread (DiffID)
//!                               +--> tar header parser (only headers are copied;
//!                                    file contents are skipped inside the chunk)
//! ```
//!
//! Compressed input puts the decoder in front, reading the blob through the same kind of
//! chunk reader (without output), so the compressed digest is also computed on its own
//! thread while this one decodes.
//!
//! Memory is bounded: at most 4 chunks of 1 MiB per chunk reader, the decoder's window
//! (32 KiB for gzip, up to 128 MiB for zstd, at most 256 MiB for xz), and one
//! pax / GNU long-name entry of at most 1 MiB (the `tar` crate holds those in memory).

pub mod apply;
mod check;
pub mod diff;
pub mod gzip;
pub mod naive;
mod pipe;

use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};

use gantry_image::Digest;

pub use check::EntryProblem;

/// How a layer blob is compressed, detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    Gzip,
    Zstd,
    Xz,
}

/// Bytes [`Compression::detect`] wants to see to decide reliably (the tar `ustar` magic
/// sits at offset 257).
pub const DETECT_LEN: usize = 262;

impl Compression {
    /// Detects the compression from the first bytes of a blob (ideally [`DETECT_LEN`]
    /// of them, fewer if the blob is shorter).
    ///
    /// Anything that is not a known compression magic is taken as a plain tar (the tar
    /// parser then rejects what is not one, with a precise message). `None` is returned
    /// only for a format we recognize but do not support (bzip2), so callers can say so
    /// instead of reporting a corrupt tar.
    pub fn detect(prefix: &[u8]) -> Option<Compression> {
        // A tar whose first entry name happens to start with a magic is still a tar.
        if prefix.len() >= 262 && &prefix[257..262] == b"ustar" {
            return Some(Compression::None);
        }
        if prefix.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if prefix.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Compression::Xz)
        } else if is_bzip2(prefix) {
            None
        } else {
            Some(Compression::None)
        }
    }
}

/// "BZh", a block size digit, then the block magic (pi in BCD) or the end-of-stream
/// magic (sqrt(pi)) of an empty stream. Requiring more than "BZh" keeps a tar whose first
/// file is called "BZh..." from being taken for bzip2.
fn is_bzip2(prefix: &[u8]) -> bool {
    if prefix.len() < 10 || !prefix.starts_with(b"BZh") || !(b'1'..=b'9').contains(&prefix[3]) {
        return false;
    }
    let magic = &prefix[4..10];
    magic == [0x31, 0x41, 0x59, 0x26, 0x53, 0x59] || magic == [0x17, 0x72, 0x45, 0x38, 0x50, 0x90]
}

/// What one pass over a layer learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// sha256 of the uncompressed tar: the layer's DiffID in the image config.
    pub diff_id: Digest,
    /// Bytes of the uncompressed tar (everything, including what follows the end marker).
    pub tar_size: u64,
    /// Docker's layer size: regular file sizes + symlink target lengths; hardlinks 0
    /// (what `du` of the unpacked layer counts, which is what `docker images` adds up).
    pub content_size: u64,
    /// sha256 of the bytes as read (== `diff_id` when uncompressed): the blob digest a
    /// manifest refers to.
    pub source_digest: Digest,
    /// Bytes read from the input.
    pub source_size: u64,
    /// The compression detected on the input.
    pub compression: Compression,
}

/// Why a layer was not accepted. Messages name the offending entry where there is one.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The input could not be read (an I/O error of the source, not of the format).
    #[error("reading layer: {0}")]
    Read(#[source] io::Error),
    /// The output could not be written.
    #[error("writing layer: {0}")]
    Write(#[source] io::Error),
    /// The compressed stream or the tar is malformed or ends early.
    #[error("layer is truncated or corrupt: {0}")]
    Corrupt(String),
    /// A compression format we recognize but do not read.
    #[error("layer is compressed with {0}, which is not supported")]
    UnsupportedCompression(&'static str),
    /// An entry that would be unsafe or impossible to apply.
    #[error("layer entry {path:?}: {problem}")]
    Entry {
        /// The entry's path as written in the tar (lossily decoded for display).
        path: String,
        problem: EntryProblem,
    },
}

/// Reads a layer (plain, gzip, zstd or xz; detected from magic bytes), checks every
/// entry (see [`EntryProblem`]), writes the uncompressed tar to `out`, in one pass and
/// bounded memory. Reads `input` to its end (bytes after the tar's end are hashed and
/// written too, so `out` always has the DiffID). `out` is flushed before returning Ok;
/// after an error it holds a partial tar the caller must discard.
pub fn ingest<R: Read, W: Write>(input: R, out: W) -> Result<LayerInfo, LayerError> {
    run(input, Some(out))
}

/// The same, without writing anything (validation + digests only).
pub fn inspect<R: Read>(input: R) -> Result<LayerInfo, LayerError> {
    run(input, None::<io::Sink>)
}

/// Most memory the xz decoder may use. `xz -9` needs 65 MiB to decode; without a limit a
/// crafted header could make liblzma allocate gigabytes.
const XZ_MEMLIMIT: u64 = 256 << 20;

fn run<R: Read, W: Write>(mut input: R, out: Option<W>) -> Result<LayerInfo, LayerError> {
    let mut prefix = [0u8; DETECT_LEN];
    let n = read_prefix(&mut input, &mut prefix).map_err(LayerError::Read)?;
    let prefix = &prefix[..n];
    let compression = Compression::detect(prefix).ok_or(LayerError::UnsupportedCompression("bzip2"))?;
    let source = Tagged { inner: io::Cursor::new(prefix).chain(input), side: Side::Read };

    let mut raw = match compression {
        Compression::None => {
            let (tar, content_size) = process(source, out)?;
            return Ok(LayerInfo {
                diff_id: tar.digest,
                tar_size: tar.size,
                content_size,
                source_digest: tar.digest,
                source_size: tar.size,
                compression,
            });
        }
        // The compressed bytes are hashed on their own thread too: the decoder keeps this one busy.
        _ => pipe::ChunkReader::new(source, None::<io::Sink>),
    };
    let (tar, content_size) = match compression {
        Compression::Gzip => process(flate2::bufread::MultiGzDecoder::new(&mut raw), out)?,
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(&mut raw).map_err(classify)?;
            process(decoder, out)?
        }
        // (`None` returned above.)
        Compression::Xz | Compression::None => {
            let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, liblzma::stream::CONCATENATED)
                .map_err(|e| LayerError::Corrupt(format!("cannot start the xz decoder: {e}")))?;
            process(liblzma::bufread::XzDecoder::new_stream(&mut raw, stream), out)?
        }
    };
    // Decoders stop at the end of their last stream; whatever follows still belongs to
    // the blob and its digest.
    drain(&mut raw).map_err(classify)?;
    let (source_digest, source_size) = raw.finish().map_err(classify)?;
    Ok(LayerInfo { diff_id: tar.digest, tar_size: tar.size, content_size, source_digest, source_size, compression })
}

/// Fills `buf` as far as the input allows (short reads from pipes are retried).
fn read_prefix<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Digest and size of the uncompressed tar.
struct Hashed {
    digest: Digest,
    size: u64,
}

/// Runs the uncompressed stream `tar` through the pipeline (hash, write, parse and check
/// every entry, drain to the end). Returns the tar's digest and size, and content size.
fn process<D: Read, W: Write>(tar: D, out: Option<W>) -> Result<(Hashed, u64), LayerError> {
    let mut reader = Skipping::new(pipe::ChunkReader::new(tar, out.map(|w| Tagged { inner: w, side: Side::Write })));
    let content_size = check_entries(&mut reader)?;
    let mut chunks = reader.into_inner();
    drain(&mut chunks).map_err(classify)?;
    let (digest, size) = chunks.finish().map_err(classify)?;
    Ok((Hashed { digest, size }, content_size))
}

/// Parses every entry header, checks it, and adds up the content size.
fn check_entries<B: BufRead>(reader: &mut Skipping<B>) -> Result<u64, LayerError> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries_with_seek().map_err(classify)?;
    let mut content_size: u64 = 0;
    for entry in entries {
        let entry = entry.map_err(classify)?;
        let add = check::check_entry(&entry)?;
        content_size = content_size.saturating_add(add);
    }
    Ok(content_size)
}

/// Reads a BufRead to its end without copying the bytes anywhere.
fn drain<B: BufRead>(r: &mut B) -> io::Result<()> {
    loop {
        let n = match r.fill_buf() {
            Ok(buf) => buf.len(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(());
        }
        r.consume(n);
    }
}

/// Which end of the pipeline an I/O error came from; anything else is the format's fault.
#[derive(Debug, Clone, Copy)]
enum Side {
    Read,
    Write,
}

/// An I/O error of the source or sink, wrapped so it survives decoders and the tar parser
/// and is reported as such rather than as a corrupt layer.
#[derive(Debug)]
struct SideError {
    side: Side,
    error: io::Error,
}

impl std::fmt::Display for SideError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for SideError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Tags the errors of the wrapped reader or writer with `side`.
struct Tagged<T> {
    inner: T,
    side: Side,
}

impl<T> Tagged<T> {
    fn tag(&self, error: io::Error) -> io::Error {
        if error.kind() == io::ErrorKind::Interrupted {
            return error;
        }
        io::Error::new(error.kind(), SideError { side: self.side, error })
    }
}

impl<R: Read> Read for Tagged<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| self.tag(e))
    }
}

impl<W: Write> Write for Tagged<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.tag(e))
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf).map_err(|e| self.tag(e))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| self.tag(e))
    }
}

/// Turns an error out of the pipeline into the right [`LayerError`].
fn classify(error: io::Error) -> LayerError {
    if !error.get_ref().is_some_and(|inner| inner.is::<SideError>()) {
        return corrupt(error);
    }
    match error.into_inner().map(|inner| inner.downcast::<SideError>()) {
        Some(Ok(tagged)) => match tagged.side {
            Side::Read => LayerError::Read(tagged.error),
            Side::Write => LayerError::Write(tagged.error),
        },
        Some(Err(other)) => LayerError::Corrupt(excerpt(&other.to_string())),
        None => LayerError::Corrupt("unknown error".to_string()),
    }
}

fn corrupt(error: io::Error) -> LayerError {
    if error.kind() == io::ErrorKind::UnexpectedEof && error.get_ref().is_none() {
        return LayerError::Corrupt("unexpected end of data".to_string());
    }
    LayerError::Corrupt(excerpt(&error.to_string()))
}

/// Text from an archive or layer made safe for a one-line message: control characters
/// escaped (so hostile bytes can neither drive the terminal nor forge extra lines) and
/// cut to a readable length.
pub fn excerpt(message: &str) -> String {
    const MAX: usize = 200;
    let mut out = String::new();
    for c in message.chars() {
        if out.len() >= MAX {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The most the tar parser may read between two skips: one header plus the contents of
/// one pax / GNU long-name metadata entry, which the `tar` crate holds in memory. 1 MiB
/// is Go's `archive/tar` limit for such entries, so docker rejects bigger ones too;
/// without a limit a hostile layer could make us buffer gigabytes.
const MAX_METADATA: u64 = (1 << 20) + 512 * 4;

/// Gives the tar parser a `Seek` that skips file contents inside the buffer (no copy),
/// and bounds what it reads between skips (see [`MAX_METADATA`]).
///
/// `tar` (with `entries_with_seek`) calls `seek(Current(n))` before every header to
/// move over the previous entry's data and padding; everything else it reads is headers
/// and metadata entries.
struct Skipping<B> {
    inner: B,
    pos: u64,
    read_since_seek: u64,
}

impl<B: BufRead> Skipping<B> {
    fn new(inner: B) -> Skipping<B> {
        Skipping { inner, pos: 0, read_since_seek: 0 }
    }

    fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: BufRead> Read for Skipping<B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let allowed = MAX_METADATA.saturating_sub(self.read_since_seek);
        if allowed == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "pax or GNU long-name metadata entry larger than 1 MiB",
            ));
        }
        let want = buf.len().min(usize::try_from(allowed).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.pos += n as u64;
        self.read_since_seek += n as u64;
        Ok(n)
    }
}

impl<B: BufRead> Seek for Skipping<B> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let mut amount = match pos {
            SeekFrom::Current(n) if n >= 0 => n as u64,
            _ => return Err(io::Error::new(io::ErrorKind::Unsupported, "layer stream only skips forward")),
        };
        self.read_since_seek = 0;
        while amount > 0 {
            let available = match self.inner.fill_buf() {
                Ok(buf) => buf.len(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "tar ends inside an entry's contents"));
            }
            let step = usize::try_from(amount).unwrap_or(usize::MAX).min(available);
            self.inner.consume(step);
            self.pos += step as u64;
            amount -= step as u64;
        }
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests;
