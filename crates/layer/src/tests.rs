use std::io::{self, Read, Write};

use gantry_image::Digest;

use crate::pipe::CHUNK;
use crate::*;

/// A ustar header written byte by byte, so hostile names the `tar` builder refuses can
/// be produced.
fn header(name: &[u8], kind: u8, size: u64, link: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    set_checksum(&mut h);
    h
}

fn set_checksum(h: &mut [u8; 512]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// Appends an entry (header + data padded to 512).
fn push(tar: &mut Vec<u8>, name: &[u8], kind: u8, data: &[u8], link: &[u8]) {
    tar.extend_from_slice(&header(name, kind, data.len() as u64, link));
    tar.extend_from_slice(data);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
}

fn end(mut tar: Vec<u8>) -> Vec<u8> {
    tar.extend_from_slice(&[0u8; 1024]);
    tar
}

/// A one-entry tar.
fn single(name: &[u8], kind: u8, data: &[u8], link: &[u8]) -> Vec<u8> {
    let mut tar = Vec::new();
    push(&mut tar, name, kind, data, link);
    end(tar)
}

fn entry_error(tar: &[u8]) -> (String, EntryProblem, String) {
    match inspect(tar) {
        Err(e @ LayerError::Entry { .. }) => {
            let message = e.to_string();
            let LayerError::Entry { path, problem } = e else { unreachable!() };
            (path, problem, message)
        }
        other => panic!("expected an entry error, got {other:?}"),
    }
}

fn ingest_vec(input: &[u8]) -> Result<(LayerInfo, Vec<u8>), LayerError> {
    let mut out = Vec::new();
    let info = ingest(input, &mut out)?;
    Ok((info, out))
}

/// A realistic tar built with the `tar` crate: files, dirs, links, long names.
fn sample_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    b.append_data(&mut h, "etc/", io::empty()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(100);
    b.append_data(&mut h, "etc/file", &[7u8; 100][..]).unwrap();
    let long = format!("etc/{}/long", "x".repeat(150));
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(10);
    b.append_data(&mut h, &long, &[1u8; 10][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "etc/link", "file").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    b.append_link(&mut h, "etc/hard", "etc/file").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Fifo);
    h.set_size(0);
    b.append_data(&mut h, "etc/fifo", io::empty()).unwrap();
    b.into_inner().unwrap()
}

/// Content size of `sample_tar`: 100 + 10 + len("file").
const SAMPLE_CONTENT: u64 = 114;

#[test]
fn detects_compression() {
    assert_eq!(Compression::detect(&[0x1f, 0x8b, 8, 0]), Some(Compression::Gzip));
    assert_eq!(Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Some(Compression::Zstd));
    assert_eq!(Compression::detect(b"\xfd7zXZ\0rest"), Some(Compression::Xz));
    assert_eq!(Compression::detect(b"BZh91AY&SYrest"), None);
    assert_eq!(Compression::detect(b"BZh9\x17\x72\x45\x38\x50\x90"), None);
    assert_eq!(Compression::detect(b""), Some(Compression::None));
    assert_eq!(Compression::detect(b"hello"), Some(Compression::None));
    assert_eq!(Compression::detect(&sample_tar()[..DETECT_LEN]), Some(Compression::None));
    // A tar whose first file is named like a magic is still a tar.
    let tar = single(b"BZh91AY&SY", b'0', b"", b"");
    assert_eq!(Compression::detect(&tar), Some(Compression::None));
    let tar = single(b"\x1f\x8bname", b'0', b"", b"");
    assert_eq!(Compression::detect(&tar), Some(Compression::None));
}

#[test]
fn plain_round_trip() {
    let tar = sample_tar();
    let (info, out) = ingest_vec(&tar).unwrap();
    assert_eq!(out, tar);
    assert_eq!(info.diff_id, Digest::of(&tar));
    assert_eq!(info.source_digest, info.diff_id);
    assert_eq!(info.tar_size, tar.len() as u64);
    assert_eq!(info.source_size, tar.len() as u64);
    assert_eq!(info.compression, Compression::None);
    assert_eq!(info.content_size, SAMPLE_CONTENT);
    assert_eq!(inspect(&tar[..]).unwrap(), info);
}

fn check_compressed(compressed: &[u8], tar: &[u8], compression: Compression) {
    let (info, out) = ingest_vec(compressed).unwrap();
    assert!(out == tar, "{compression:?}: output differs from the tar");
    assert_eq!(info.compression, compression);
    assert_eq!(info.diff_id, Digest::of(tar));
    assert_eq!(info.tar_size, tar.len() as u64);
    assert_eq!(info.source_digest, Digest::of(compressed));
    assert_eq!(info.source_size, compressed.len() as u64);
    assert_eq!(info.content_size, SAMPLE_CONTENT);
    assert_eq!(inspect(compressed).unwrap(), info);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn compressed_round_trips() {
    let tar = sample_tar();
    check_compressed(&gzip(&tar), &tar, Compression::Gzip);
    check_compressed(&zstd::encode_all(&tar[..], 3).unwrap(), &tar, Compression::Zstd);
    check_compressed(&xz(&tar), &tar, Compression::Xz);
}

#[test]
fn concatenated_streams_are_one_layer() {
    let tar = sample_tar();
    let (a, b) = tar.split_at(1000);
    check_compressed(&[gzip(a), gzip(b)].concat(), &tar, Compression::Gzip);
    let z = [zstd::encode_all(a, 1).unwrap(), zstd::encode_all(b, 1).unwrap()].concat();
    check_compressed(&z, &tar, Compression::Zstd);
    check_compressed(&[xz(a), xz(b)].concat(), &tar, Compression::Xz);
}

#[test]
fn garbage_after_a_compressed_stream_is_an_error() {
    // Like docker (Go's multistream gzip reader): what follows a stream must be another one.
    let tar = sample_tar();
    corrupt_message(&[gzip(&tar), b"garbage".to_vec()].concat());
    corrupt_message(&[zstd::encode_all(&tar[..], 1).unwrap(), b"garbage".to_vec()].concat());
    corrupt_message(&[xz(&tar), b"garbage".to_vec()].concat());
}

#[test]
fn bzip2_is_refused() {
    let err = inspect(&b"BZh91AY&SY\x01\x02\x03"[..]).unwrap_err();
    assert!(matches!(err, LayerError::UnsupportedCompression("bzip2")));
    assert_eq!(err.to_string(), "layer is compressed with bzip2, which is not supported");
}

#[test]
fn empty_input_is_an_empty_layer() {
    let info = inspect(&b""[..]).unwrap();
    assert_eq!(info.diff_id, Digest::of(b""));
    assert_eq!((info.tar_size, info.content_size, info.source_size), (0, 0, 0));
    let info = inspect(&[0u8; 1024][..]).unwrap();
    assert_eq!(info.tar_size, 1024);
}

#[test]
fn content_size_rules() {
    let mut tar = Vec::new();
    push(&mut tar, b"./", b'5', b"", b"");
    push(&mut tar, b"a", b'0', &[1; 1000], b"");
    push(&mut tar, b"old", b'\0', &[1; 5], b"");
    push(&mut tar, b"b", b'1', b"", b"a");
    push(&mut tar, b"c", b'2', b"", b"some/target");
    push(&mut tar, b"d", b'2', b"", b"/abs");
    push(&mut tar, b"dir/", b'5', b"", b"");
    push(&mut tar, b"dev", b'3', b"", b"");
    push(&mut tar, b"blk", b'4', b"", b"");
    push(&mut tar, b"fifo", b'6', b"", b"");
    push(&mut tar, b"dir/.wh.gone", b'0', b"", b"");
    push(&mut tar, b"dir/.wh..wh..opq", b'0', b"", b"");
    let tar = end(tar);
    let info = inspect(&tar[..]).unwrap();
    assert_eq!(info.content_size, 1000 + 5 + 11 + 4);
}

#[test]
fn pax_size_and_names_are_honoured() {
    // A pax header overriding the path and the size of the next entry.
    let records = pax(&[("path", "pax/name"), ("size", "3")]);
    let mut tar = Vec::new();
    push(&mut tar, b"PaxHeader", b'x', &records, b"");
    push(&mut tar, b"short", b'0', b"abc", b"");
    let info = inspect(&end(tar)[..]).unwrap();
    assert_eq!(info.content_size, 3);

    let records = pax(&[("path", "../escape")]);
    let mut tar = Vec::new();
    push(&mut tar, b"PaxHeader", b'x', &records, b"");
    push(&mut tar, b"innocent", b'0', b"abc", b"");
    let (path, problem, _) = entry_error(&end(tar));
    assert_eq!((path.as_str(), problem), ("../escape", EntryProblem::PathEscapes));

    let records = pax(&[("linkpath", "../../../etc/shadow")]);
    let mut tar = Vec::new();
    push(&mut tar, b"PaxHeader", b'x', &records, b"");
    push(&mut tar, b"a/link", b'2', b"", b"fine");
    let (_, problem, _) = entry_error(&end(tar));
    assert_eq!(problem, EntryProblem::SymlinkEscapes("../../../etc/shadow".into()));
}

/// Pax records (`<len> key=value\n`).
fn pax(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in fields {
        let body = format!(" {k}={v}\n");
        let mut len = body.len() + 1;
        if (len.to_string() + &body).len() != len {
            len += 1;
        }
        out.extend_from_slice(format!("{len}{body}").as_bytes());
    }
    out
}

#[test]
fn gnu_long_names_are_checked() {
    let mut name = b"a/".repeat(60);
    name.extend_from_slice(
        b"../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../x",
    );
    let mut tar = Vec::new();
    push(&mut tar, b"././@LongLink", b'L', &[&name[..], b"\0"].concat(), b"");
    push(&mut tar, b"placeholder", b'0', b"", b"");
    let (path, problem, _) = entry_error(&end(tar));
    assert_eq!(path.as_bytes(), &name[..]);
    assert_eq!(problem, EntryProblem::PathEscapes);
}

#[test]
fn global_pax_headers_are_ignored() {
    let mut tar = Vec::new();
    push(&mut tar, b"pax_global_header", b'g', &pax(&[("comment", "abc")]), b"");
    push(&mut tar, b"f", b'0', b"xy", b"");
    assert_eq!(inspect(&end(tar)[..]).unwrap().content_size, 2);
}

#[test]
fn rejects_unsafe_paths() {
    let (path, problem, message) = entry_error(&single(b"../etc/passwd", b'0', b"x", b""));
    assert_eq!((path.as_str(), &problem), ("../etc/passwd", &EntryProblem::PathEscapes));
    assert_eq!(message, r#"layer entry "../etc/passwd": path escapes the root"#);

    let (_, problem, message) = entry_error(&single(b"/etc/x", b'0', b"x", b""));
    assert_eq!(problem, EntryProblem::AbsolutePath);
    assert_eq!(message, r#"layer entry "/etc/x": path is absolute"#);

    for bad in [&b"a/../b"[..], b"a/b/..", b"..", b"./../x"] {
        let (_, problem, _) = entry_error(&single(bad, b'5', b"", b""));
        assert_eq!(problem, EntryProblem::PathEscapes, "{bad:?}");
    }
    for kind in [b'0', b'1', b'2', b'3', b'6'] {
        let (_, problem, _) = entry_error(&single(b"./", kind, b"", b"x"));
        assert_eq!(problem, EntryProblem::RootNotDirectory, "type {kind}");
    }
    let (_, problem, _) = entry_error(&single(b"a/.wh..", b'0', b"", b""));
    assert_eq!(problem, EntryProblem::InvalidWhiteout);
}

#[test]
fn rejects_escaping_hardlinks() {
    let (path, problem, message) = entry_error(&single(b"a/h", b'1', b"", b"../../etc/shadow"));
    assert_eq!(path, "a/h");
    assert_eq!(problem, EntryProblem::HardlinkEscapes("../../etc/shadow".into()));
    assert_eq!(message, r#"layer entry "a/h": hardlink target "../../etc/shadow" escapes the root"#);
    let (_, problem, _) = entry_error(&single(b"h", b'1', b"", b"/../x"));
    assert!(matches!(problem, EntryProblem::HardlinkEscapes(_)));
    let (_, problem, _) = entry_error(&single(b"h", b'1', b"", b""));
    assert_eq!(problem, EntryProblem::EmptyHardlink);
    // Root-relative whatever the entry's directory, leading '/' ignored, `..` inside is fine.
    for ok in [&b"/a/b"[..], b"a/b", b"a/../b", b"./a"] {
        let mut tar = Vec::new();
        push(&mut tar, b"deep/dir/h", b'1', b"", ok);
        assert!(inspect(&end(tar)[..]).is_ok(), "{ok:?}");
    }
}

#[test]
fn rejects_escaping_symlinks() {
    let (path, problem, message) = entry_error(&single(b"a/l", b'2', b"", b"../../etc"));
    assert_eq!(path, "a/l");
    assert_eq!(problem, EntryProblem::SymlinkEscapes("../../etc".into()));
    assert_eq!(message, r#"layer entry "a/l": invalid symlink: target "../../etc" escapes the root"#);
    let (_, problem, _) = entry_error(&single(b"l", b'2', b"", b""));
    assert_eq!(problem, EntryProblem::EmptySymlink);
    for ok in [&b"/etc/passwd"[..], b"/../../../etc", b"../x", b"b/../../y", b"."] {
        let tar = single(b"a/l", b'2', b"", ok);
        assert!(inspect(&tar[..]).is_ok(), "{ok:?}");
    }
}

#[test]
fn rejects_unsupported_entry_types() {
    for (kind, text) in [(b'7', "'7' (contiguous file)"), (b'V', "'V' (GNU volume header)"), (b'Z', "'Z'")] {
        let (path, problem, message) = entry_error(&single(b"f", kind, b"", b""));
        assert_eq!(path, "f");
        assert_eq!(problem, EntryProblem::UnsupportedType(text.into()));
        assert_eq!(message, format!("layer entry \"f\": unsupported entry type {text}"));
    }
}

fn corrupt_message(input: &[u8]) -> String {
    match inspect(input) {
        Err(e @ LayerError::Corrupt(_)) => e.to_string(),
        other => panic!("expected a corrupt-layer error, got {other:?}"),
    }
}

#[test]
fn truncated_layers_are_errors() {
    let tar = sample_tar();
    // Inside a header, inside file contents, inside padding.
    for cut in [100, 512 * 2 + 50, 512 * 3 - 5] {
        let message = corrupt_message(&tar[..cut]);
        assert!(message.starts_with("layer is truncated or corrupt: "), "{message}");
    }
    let z = gzip(&tar);
    for cut in [5, 20, z.len() / 2, z.len() - 4] {
        corrupt_message(&z[..cut]);
    }
    let z = zstd::encode_all(&tar[..], 3).unwrap();
    corrupt_message(&z[..z.len() - 3]);
    let z = xz(&tar);
    corrupt_message(&z[..z.len() - 3]);
}

#[test]
fn corrupt_layers_are_errors() {
    let mut z = gzip(&sample_tar());
    let mid = z.len() / 2;
    z[mid] ^= 0xff;
    z[mid + 1] ^= 0x55;
    corrupt_message(&z);
    let message = corrupt_message(&[b'7'; 2000]);
    assert_eq!(message, "layer is truncated or corrupt: archive header checksum mismatch");
    let message = corrupt_message(&[7u8; 2000]);
    assert!(message.starts_with(r"layer is truncated or corrupt: numeric field was not a number: \u{7}\u{7}"));
    assert!(message.len() < 300 && message.ends_with("..."), "{message}");
    let mut tar = sample_tar();
    tar[124] = b'9'; // not octal
    corrupt_message(&tar);
}

#[test]
fn tar_without_end_blocks_is_accepted() {
    let mut tar = Vec::new();
    push(&mut tar, b"a", b'0', b"hello", b"");
    push(&mut tar, b"b", b'5', b"", b"");
    let info = inspect(&tar[..]).unwrap();
    assert_eq!((info.content_size, info.tar_size), (5, 1536));
}

#[test]
fn bytes_after_the_end_marker_are_hashed_and_written() {
    let mut tar = sample_tar();
    tar.extend_from_slice(b"trailing garbage, not a tar");
    tar.extend_from_slice(&vec![3u8; 3 * CHUNK + 17]);
    let (info, out) = ingest_vec(&tar).unwrap();
    assert!(out == tar);
    assert_eq!(info.diff_id, Digest::of(&tar));
    assert_eq!(info.tar_size, tar.len() as u64);
    assert_eq!(info.content_size, SAMPLE_CONTENT);
    let z = gzip(&tar);
    let (info, out) = ingest_vec(&z).unwrap();
    assert!(out == tar);
    assert_eq!(info.diff_id, Digest::of(&tar));
    assert_eq!(info.source_digest, Digest::of(&z));
}

/// A tar whose headers and contents straddle chunk boundaries in every way.
fn big_tar(files: usize) -> Vec<u8> {
    let mut tar = Vec::new();
    let mut x: u32 = 12345;
    for i in 0..files {
        x = x.wrapping_mul(1664525).wrapping_add(1013904223);
        let len = (x >> 8) as usize % (CHUNK / 3) + i % 3;
        let data: Vec<u8> = (0..len).map(|j| (j as u8).wrapping_mul(31) ^ i as u8).collect();
        push(&mut tar, format!("dir/file{i}").as_bytes(), b'0', &data, b"");
    }
    end(tar)
}

#[test]
fn large_layers_stream_in_chunks() {
    let tar = big_tar(40);
    assert!(tar.len() > 4 * CHUNK);
    let expected: u64 = {
        let mut a = tar::Archive::new(&tar[..]);
        a.entries().unwrap().map(|e| e.unwrap().size()).sum()
    };
    let (info, out) = ingest_vec(&tar).unwrap();
    assert!(out == tar);
    assert_eq!(info.diff_id, Digest::of(&tar));
    assert_eq!(info.content_size, expected);
    // Exactly one chunk, and one chunk and a bit.
    for len in [CHUNK, CHUNK + 512, 2 * CHUNK] {
        let mut t = Vec::new();
        push(&mut t, b"f", b'0', &vec![9u8; len - 1024 - 512], b"");
        let t = end(t);
        assert_eq!(t.len(), len);
        let (info, out) = ingest_vec(&t).unwrap();
        assert!(out == t);
        assert_eq!(info.diff_id, Digest::of(&t));
    }
    let z = zstd::encode_all(&tar[..], 1).unwrap();
    let (info, out) = ingest_vec(&z).unwrap();
    assert!(out == tar);
    assert_eq!(info.diff_id, Digest::of(&tar));
    assert_eq!(info.source_digest, Digest::of(&z));
}

/// Returns at most `n` bytes per read, like a pipe or a slow network stream.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn short_reads_are_fine() {
    let tar = big_tar(8);
    let expected = inspect(&tar[..]).unwrap();
    assert_eq!(inspect(Trickle(&tar, 1000)).unwrap(), expected);
    let small = sample_tar();
    assert_eq!(inspect(Trickle(&small, 1)).unwrap(), inspect(&small[..]).unwrap());
    let z = gzip(&small);
    assert_eq!(inspect(Trickle(&z, 3)).unwrap().diff_id, Digest::of(&small));
}

/// Fails after `ok` bytes.
struct Failing<'a>(&'a [u8], usize);

impl Read for Failing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.1 == 0 {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "disk on fire"));
        }
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        self.1 -= n;
        Ok(n)
    }
}

impl Write for Failing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.1 == 0 {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
        }
        let n = self.1.min(buf.len());
        self.1 -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn io_errors_are_not_corruption() {
    let tar = big_tar(20);
    for ok in [0, 100, 3 * CHUNK + 5] {
        let err = inspect(Failing(&tar, ok)).unwrap_err();
        assert!(matches!(&err, LayerError::Read(e) if e.kind() == io::ErrorKind::PermissionDenied), "{err:?}");
        assert_eq!(err.to_string(), "reading layer: disk on fire");
    }
    let z = gzip(&tar);
    let err = inspect(Failing(&z, z.len() / 2)).unwrap_err();
    assert!(matches!(err, LayerError::Read(_)), "{err:?}");
    for ok in [0, 100, 3 * CHUNK + 5] {
        let err = ingest(&tar[..], Failing(&[], ok)).unwrap_err();
        assert!(matches!(&err, LayerError::Write(e) if e.kind() == io::ErrorKind::StorageFull), "{err:?}");
        assert_eq!(err.to_string(), "writing layer: disk full");
    }
}

#[test]
fn huge_metadata_entries_are_refused() {
    let records = pax(&[("comment", &"x".repeat(2 << 20))]);
    let mut tar = Vec::new();
    push(&mut tar, b"PaxHeader", b'x', &records, b"");
    push(&mut tar, b"f", b'0', b"", b"");
    let message = corrupt_message(&end(tar));
    assert!(message.contains("larger than 1 MiB"), "{message}");
    // Just under the limit is fine.
    let records = pax(&[("comment", &"x".repeat((1 << 20) - 100))]);
    let mut tar = Vec::new();
    push(&mut tar, b"PaxHeader", b'x', &records, b"");
    push(&mut tar, b"f", b'0', b"", b"");
    inspect(&end(tar)[..]).unwrap();
}

/// Tiny deterministic generator for the robustness test.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = Lcg(42);
    let mut seeds = vec![sample_tar(), single(b"a/l", b'2', b"", b"../x"), {
        let mut t = Vec::new();
        push(&mut t, b"PaxHeader", b'x', &pax(&[("path", "p"), ("size", "7")]), b"");
        push(&mut t, b"././@LongLink", b'L', b"long/name\0", b"");
        push(&mut t, b"f", b'0', b"1234567", b"");
        end(t)
    }];
    seeds.push(gzip(&seeds[0]));
    seeds.push(zstd::encode_all(&seeds[0][..], 1).unwrap());
    seeds.push(xz(&seeds[0]));
    let mut outcomes = [0usize; 2];
    // `LAYER_FUZZ_ROUNDS=300000 cargo test --release -p gantry-layer never_panics` for a longer run.
    let rounds = std::env::var("LAYER_FUZZ_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3000);
    if let Some(seed) = std::env::var("LAYER_FUZZ_SEED").ok().and_then(|s| s.parse().ok()) {
        rng = Lcg(seed);
    }
    for round in 0..rounds {
        let input: Vec<u8> = if round % 5 == 0 {
            let len = rng.below(3000);
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            let mut data = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(8) {
                match rng.below(4) {
                    0 if !data.is_empty() => {
                        let i = rng.below(data.len());
                        data[i] = rng.next() as u8;
                    }
                    1 => data.truncate(rng.below(data.len() + 1)),
                    2 if !data.is_empty() => {
                        // Rewrite a numeric header field with junk, then fix the checksum
                        // so the parser goes past it.
                        let block = rng.below(data.len() / 512 + 1) * 512;
                        if block + 512 <= data.len() {
                            let field = [124usize, 100, 157, 0, 345][rng.below(5)];
                            data[block + field + rng.below(11)] = rng.next() as u8;
                            let mut h = [0u8; 512];
                            h.copy_from_slice(&data[block..block + 512]);
                            set_checksum(&mut h);
                            data[block..block + 512].copy_from_slice(&h);
                        }
                    }
                    _ => {
                        let i = rng.below(data.len() + 1);
                        let junk: Vec<u8> = (0..rng.below(600)).map(|_| rng.next() as u8).collect();
                        data.splice(i..i, junk);
                    }
                }
            }
            data
        };
        let result = inspect(&input[..]);
        outcomes[result.is_ok() as usize] += 1;
        if let Ok(info) = result {
            if info.compression == Compression::None {
                assert_eq!(info.diff_id, Digest::of(&input));
            }
        }
    }
    // Both outcomes must occur, or the test exercised nothing interesting.
    assert!(outcomes[0] > 100 && outcomes[1] > 100, "{outcomes:?}");
}

#[test]
fn root_dir_is_dir_and_create_dir_all_stay_inside() {
    let d = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("real")).unwrap();
    std::os::unix::fs::symlink("/real", d.path().join("abs")).unwrap();
    std::os::unix::fs::symlink(outside.path(), d.path().join("host")).unwrap();
    std::fs::write(d.path().join("file"), "x").unwrap();
    let root = crate::apply::RootDir::open(d.path()).unwrap();
    assert!(root.is_dir(b"real") && root.is_dir(b"abs") && root.is_dir(b""));
    assert!(!root.is_dir(b"file") && !root.is_dir(b"missing"));
    // The host path a link names is looked up inside the root: missing there.
    assert!(!root.is_dir(b"host"));
    root.create_dir_all(b"abs/a/b").unwrap();
    assert!(d.path().join("real/a/b").is_dir());
    root.create_dir_all(b"host/x").unwrap();
    assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none(), "nothing created outside the root");
    assert!(root.create_dir_all(b"file/x").is_err());
}
