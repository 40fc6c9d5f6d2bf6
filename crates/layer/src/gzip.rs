//! Parallel gzip, pigz-style: the input is cut into fixed blocks, each block is deflated
//! on its own thread (ending on a byte boundary with a sync flush, the last one with the
//! final flag), and the pieces are written in order between one gzip header and trailer.
//! The result is one ordinary gzip member that every decoder reads.
//!
//! Why: a push spends its time compressing, and one deflate stream uses one core; the
//! largest layer was the whole push's critical path. Blocks are not primed with the
//! previous block's window (pigz's `--independent`): at 1 MiB blocks that costs well
//! under 1% of size. The output depends on the block size only, not on the number of
//! threads, so a layer always compresses to the same bytes (and digest).

use std::io::{self, Read, Write};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Bytes per independently deflated block.
pub const BLOCK: usize = 1 << 20;

/// Compresses `input` into `out` as gzip at `level` with up to `threads` blocks in
/// flight; `on_read` hears how many input bytes each block took. Memory: about two
/// blocks per thread.
pub fn gzip_parallel(
    mut input: impl Read,
    mut out: impl Write,
    level: u32,
    threads: usize,
    mut on_read: impl FnMut(usize),
) -> io::Result<()> {
    // No name, no mtime (reproducible), unknown OS: what Go's gzip writes.
    out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])?;
    let mut crc = Crc::new();
    let threads = threads.max(1);
    let mut eof = false;
    while !eof {
        let mut blocks = Vec::with_capacity(threads);
        while blocks.len() < threads {
            let block = read_block(&mut input)?;
            eof = block.len() < BLOCK;
            if !block.is_empty() {
                crc.update(&block);
                on_read(block.len());
                blocks.push(block);
            }
            if eof {
                break;
            }
        }
        let pieces: Vec<io::Result<Vec<u8>>> = std::thread::scope(|s| {
            let handles: Vec<_> = blocks.iter().map(|b| s.spawn(move || deflate(b, level, false))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("deflate failed")))).collect()
        });
        for piece in pieces {
            out.write_all(&piece?)?;
        }
    }
    // The stream always ends with an empty final block, so where the input ends within a
    // batch never changes the bytes before it.
    out.write_all(&deflate(&[], level, true)?)?;
    out.write_all(&crc.sum().to_le_bytes())?;
    out.write_all(&crc.amount().to_le_bytes())?;
    out.flush()
}

/// Reads up to `BLOCK` bytes (fewer only at the end of the input).
fn read_block(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut block = Vec::with_capacity(BLOCK);
    input.take(BLOCK as u64).read_to_end(&mut block)?;
    Ok(block)
}

/// Raw deflate of one block: sync-flushed to a byte boundary, or finished when `last`.
fn deflate(block: &[u8], level: u32, last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    let mut out = Vec::with_capacity(block.len() / 2 + 1024);
    loop {
        out.reserve(64 << 10);
        let consumed = c.total_in() as usize;
        let status = c.compress_vec(&block[consumed..], &mut out, flush).map_err(io::Error::other)?;
        let done = c.total_in() as usize == block.len() && out.len() < out.capacity();
        if status == Status::StreamEnd || (!last && done) {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8], threads: usize) -> Vec<u8> {
        let mut gz = Vec::new();
        let mut seen = 0;
        gzip_parallel(data, &mut gz, 3, threads, |n| seen += n).unwrap();
        assert_eq!(seen, data.len());
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, data, "round trip of {} bytes", data.len());
        gz
    }

    #[test]
    fn every_size_round_trips_and_the_bytes_do_not_depend_on_threads() {
        let mut data = Vec::new();
        let mut x = 1u64;
        while data.len() < 3 * BLOCK + 7 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // Half compressible text, half noise.
            let noise = x.to_le_bytes();
            data.extend_from_slice(if x.is_multiple_of(2) { b"gantry layer text " } else { &noise[..] });
        }
        for len in [0, 1, 100, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 3 * BLOCK + 7] {
            let one = round_trip(&data[..len], 1);
            assert_eq!(round_trip(&data[..len], 2), one);
            assert_eq!(round_trip(&data[..len], 5), one);
        }
    }

    #[test]
    fn system_gzip_reads_it() {
        let data: Vec<u8> = (0..(2 * BLOCK + 5)).map(|i| (i % 251) as u8).collect();
        let mut gz = Vec::new();
        gzip_parallel(&data[..], &mut gz, 3, 2, |_| {}).unwrap();
        let mut child = std::process::Command::new("gzip")
            .args(["-dc"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&gz));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, data);
    }
}
