//! The hot loop: read the uncompressed tar in 1 MiB chunks, write each chunk out whole,
//! hash it on a second thread, and serve it to the tar parser as a `BufRead`.
//!
//! Why this shape: on a 1 GiB layer the work is one read copy, one write copy and one
//! sha256 pass (about as long as the two copies together). Doing the hash on another
//! core overlaps it with the copies, so ingesting costs about what `cp` costs. Chunks
//! move between the threads by ownership (no extra copy), and a small pool of them is
//! recycled, so memory stays at a few MiB whatever the layer size. Layers that fit in a
//! single chunk are hashed inline and never start a thread.

use std::io::{self, BufRead, Read, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use gantry_image::{Digest, Sha256};

/// Size of one chunk: large enough that syscalls and channel hand-offs are noise.
pub(crate) const CHUNK: usize = 1 << 20;
/// Chunks in existence at most: one being parsed, two queued, one being hashed.
const MAX_CHUNKS: usize = 4;

/// Reads `input` in chunks, writes them to `out` and hashes them, and serves them to
/// the parser. Call [`ChunkReader::finish`] after reading to the end.
pub(crate) struct ChunkReader<R, W> {
    input: R,
    out: Option<W>,
    /// The chunk being served; `chunk[..filled]` holds data, `chunk[pos..filled]` unread.
    chunk: Vec<u8>,
    filled: usize,
    pos: usize,
    eof: bool,
    size: u64,
    hasher: Hasher,
}

impl<R: Read, W: Write> ChunkReader<R, W> {
    pub(crate) fn new(input: R, out: Option<W>) -> ChunkReader<R, W> {
        ChunkReader {
            input,
            out,
            chunk: Vec::new(),
            filled: 0,
            pos: 0,
            eof: false,
            size: 0,
            hasher: Hasher::Inline(Sha256::new()),
        }
    }

    /// Hashes what remains, flushes the output, and returns the digest and size of every
    /// byte read. Bytes not yet read from `input` are not included: drain first.
    pub(crate) fn finish(mut self) -> io::Result<(Digest, u64)> {
        let chunk = std::mem::take(&mut self.chunk);
        self.hasher.hash(chunk, self.filled)?;
        if let Some(out) = self.out.as_mut() {
            out.flush()?;
        }
        Ok((self.hasher.finish()?, self.size))
    }

    /// Replaces the consumed chunk with the next one (read whole, then written out).
    fn refill(&mut self) -> io::Result<()> {
        let mut next = self.hasher.spare_chunk()?;
        let mut filled = 0;
        while filled < CHUNK {
            match self.input.read(&mut next[filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Errors end the pass (nothing retries), so the partial chunk is dropped.
                    self.hasher.recycle(next);
                    return Err(e);
                }
            }
        }
        if let Some(out) = self.out.as_mut() {
            out.write_all(&next[..filled])?;
        }
        self.size += filled as u64;
        let done = std::mem::replace(&mut self.chunk, next);
        let done_len = std::mem::replace(&mut self.filled, filled);
        self.pos = 0;
        // A layer that fits in one chunk is hashed inline and never starts the thread.
        if done_len > 0 && filled > 0 {
            self.hasher.start_thread();
        }
        self.hasher.hash(done, done_len)
    }
}

impl<R: Read, W: Write> BufRead for ChunkReader<R, W> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.filled && !self.eof {
            self.refill()?;
        }
        Ok(&self.chunk[self.pos..self.filled])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.filled);
    }
}

impl<R: Read, W: Write> Read for ChunkReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Where chunks get hashed: inline until a layer proves bigger than one chunk, then on
/// a thread that gives chunks back for reuse.
enum Hasher {
    Inline(Sha256),
    Thread {
        chunks: SyncSender<(Vec<u8>, usize)>,
        spare: Receiver<Vec<u8>>,
        allocated: usize,
        handle: JoinHandle<Digest>,
    },
}

impl Hasher {
    /// Moves hashing to a thread (called once a layer proves bigger than one chunk).
    /// If no thread can be started, hashing simply stays inline.
    fn start_thread(&mut self) {
        let Hasher::Inline(hasher) = self else { return };
        let (chunks, chunk_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(MAX_CHUNKS - 2);
        let (spare_tx, spare) = mpsc::channel::<Vec<u8>>();
        let mut thread_hasher = hasher.clone();
        let spawned = std::thread::Builder::new().name("layer-sha256".into()).spawn(move || {
            for (chunk, len) in chunk_rx {
                thread_hasher.update(&chunk[..len.min(chunk.len())]);
                // The reader may be gone (error path); then the chunk is just freed.
                let _ = spare_tx.send(chunk);
            }
            thread_hasher.finish()
        });
        if let Ok(handle) = spawned {
            // Two chunks exist at this point: the one being handed over and the one just read.
            *self = Hasher::Thread { chunks, spare, allocated: 2, handle };
        }
    }

    /// Hashes `chunk[..len]` (and takes the chunk back into the pool).
    fn hash(&mut self, chunk: Vec<u8>, len: usize) -> io::Result<()> {
        match self {
            Hasher::Inline(hasher) => {
                hasher.update(&chunk[..len.min(chunk.len())]);
                Ok(())
            }
            Hasher::Thread { chunks, .. } => chunks.send((chunk, len)).map_err(|_| thread_died()),
        }
    }

    /// A buffer for the next chunk: a recycled one if there is one, a new one while
    /// fewer than MAX_CHUNKS exist, else waits for the hashing thread to return one.
    fn spare_chunk(&mut self) -> io::Result<Vec<u8>> {
        match self {
            Hasher::Thread { spare, allocated, .. } => {
                if let Ok(chunk) = spare.try_recv() {
                    return Ok(chunk);
                }
                if *allocated < MAX_CHUNKS {
                    *allocated += 1;
                    return Ok(new_chunk());
                }
                spare.recv().map_err(|_| thread_died())
            }
            Hasher::Inline(_) => Ok(new_chunk()),
        }
    }

    /// Gives back a chunk that was not used.
    fn recycle(&mut self, chunk: Vec<u8>) {
        if let Hasher::Thread { allocated, .. } = self {
            // Freed rather than pooled: the pass is ending with an error anyway.
            *allocated = allocated.saturating_sub(1);
        }
        drop(chunk);
    }

    fn finish(self) -> io::Result<Digest> {
        match self {
            Hasher::Inline(hasher) => Ok(hasher.finish()),
            Hasher::Thread { chunks, handle, .. } => {
                drop(chunks);
                handle.join().map_err(|_| thread_died())
            }
        }
    }
}

/// A zeroed chunk: `calloc`, so pages are only touched when data is read into them (a
/// small layer does not pay for a whole MiB).
fn new_chunk() -> Vec<u8> {
    vec![0; CHUNK]
}

fn thread_died() -> io::Error {
    io::Error::other("layer hashing thread stopped unexpectedly")
}
