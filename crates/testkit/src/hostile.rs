//! Hostile and broken archives for `gantry load`, and the checks that a store came out
//! of a failed or killed command intact.
//!
//! Each builder writes one archive into a directory and returns its path. Every archive
//! is a small, otherwise valid image (two hand-made layers: a plain one, then one that
//! carries the defect) in which exactly one thing is wrong, so a test that sees `load`
//! fail knows *which* rule made it fail: [`valid`] builds the same image with nothing
//! wrong, and tests load it to prove the builders themselves are sound.
//!
//! The tar bytes are written here by hand ([`RawTar`]), because the `tar` crate refuses
//! to write names such as `../escape` or `/etc/evil`, and an attacker is not bound by
//! what a well-behaved writer allows.
//!
//! Archive file names never contain the words `escape`, `evil` or `outside`, so a test
//! can search a whole temporary tree for those words to detect an entry that got out.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::base::BaseImage;

/// The three ways an image archive can be laid out; every builder that makes sense
/// for a layout accepts it, so each defect is tried against each reader path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `docker save` before Docker 25: `manifest.json`, `<hex>.json` config,
    /// `<id>/layer.tar` layers.
    Classic,
    /// `docker save` from Docker 25 on: `manifest.json` naming `blobs/sha256/<hex>`
    /// files, plus `index.json` and `oci-layout` (the archive is also an OCI layout).
    Docker25,
    /// A plain OCI image layout (`skopeo copy ... oci-archive:`): `index.json`,
    /// `oci-layout`, `blobs/sha256/<hex>`, and no `manifest.json`.
    Oci,
}

impl Layout {
    /// Every layout, for tests that try a defect against each reader path.
    pub const ALL: [Layout; 3] = [Layout::Classic, Layout::Docker25, Layout::Oci];

    /// A short lowercase name, used in file names and tags.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Classic => "classic",
            Layout::Docker25 => "docker25",
            Layout::Oci => "oci",
        }
    }
}

/// Media type of an uncompressed OCI layer (its digest is its DiffID).
const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// A layer media type no reader knows: a loader must refuse it, not guess.
pub const UNKNOWN_LAYER_MEDIA_TYPE: &str = "application/vnd.example.hostile.layer.v1+mystery";
/// The fixed mtime of every entry (2000-01-01), so archives are reproducible.
const EPOCH: u64 = 946_684_800;

// ---------------------------------------------------------------------------------------
// Raw tar writing
// ---------------------------------------------------------------------------------------

/// A minimal ustar writer that writes any name and link target it is given, unchecked.
///
/// It exists because hostile entries (`../escape`, `/etc/evil`, links climbing out of
/// the root) are exactly what careful writers refuse to produce. Headers carry correct
/// checksums, so a reader cannot reject an entry for a reason other than its meaning.
pub struct RawTar<W: Write> {
    out: W,
    written: u64,
}

impl<W: Write> RawTar<W> {
    /// Starts an archive on `out`.
    pub fn new(out: W) -> RawTar<W> {
        RawTar { out, written: 0 }
    }

    /// Bytes written so far (headers, data and padding): where the next entry starts.
    pub fn position(&self) -> u64 {
        self.written
    }

    /// A regular file (mode 0644).
    pub fn file(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        self.entry(name, b'0', 0o644, "", data)
    }

    /// A directory (mode 0755); `name` should end with `/` as docker writes it.
    pub fn dir(&mut self, name: &str) -> io::Result<()> {
        self.entry(name, b'5', 0o755, "", &[])
    }

    /// A symbolic link `name -> target`, the target written exactly as given.
    pub fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        self.entry(name, b'2', 0o777, target, &[])
    }

    /// A hard link `name` to the earlier entry `target`, written exactly as given.
    pub fn hardlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        self.entry(name, b'1', 0o644, target, &[])
    }

    /// Any entry: a ustar header (`typeflag` as in POSIX) followed by `data`, padded to
    /// a 512-byte boundary.
    pub fn entry(&mut self, name: &str, typeflag: u8, mode: u32, link: &str, data: &[u8]) -> io::Result<()> {
        self.header_and_data(ustar_header(name, typeflag, mode, link, data.len() as u64, false), data)
    }

    /// A pax extended header (`x`) applying `records` (key, value) to the next entry:
    /// a pax `path` or `linkpath` overrides the name in that entry's own header.
    pub fn pax(&mut self, records: &[(&str, &str)]) -> io::Result<()> {
        let mut data = Vec::new();
        for (key, value) in records {
            // "<len> <key>=<value>\n", where <len> counts the whole record, itself included.
            let body = format!(" {key}={value}\n");
            let mut len = body.len() + 1;
            while format!("{len}{body}").len() != len {
                len += 1;
            }
            data.extend_from_slice(format!("{len}{body}").as_bytes());
        }
        self.entry("PaxHeaders/next", b'x', 0o644, "", &data)
    }

    /// A GNU long-name entry (`././@LongLink`, type `L`): the next entry's name becomes
    /// `name`, whatever its own header says.
    pub fn gnu_longname(&mut self, name: &str) -> io::Result<()> {
        let mut data = name.as_bytes().to_vec();
        data.push(0);
        self.header_and_data(ustar_header("././@LongLink", b'L', 0o644, "", data.len() as u64, true), &data)
    }

    fn header_and_data(&mut self, header: [u8; 512], data: &[u8]) -> io::Result<()> {
        self.write(&header)?;
        self.write(data)?;
        let pad = (512 - data.len() % 512) % 512;
        self.write(&vec![0u8; pad])
    }

    /// Writes the end-of-archive marker (two zero blocks) and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.write(&[0u8; 1024])?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

/// One 512-byte ustar header with a correct checksum. Names longer than 100 bytes are
/// not needed here and are refused, so a test never silently writes a cut name.
fn ustar_header(name: &str, typeflag: u8, mode: u32, link: &str, size: u64, gnu: bool) -> [u8; 512] {
    assert!(name.len() <= 100, "tar name too long for a plain ustar header: {name}");
    assert!(link.len() <= 100, "tar link target too long for a plain ustar header: {link}");
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], mode as u64);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], EPOCH);
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    if gnu {
        h[257..265].copy_from_slice(b"ustar  \0");
    } else {
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
    }
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    // The checksum is computed with its own field read as eight spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let field = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(field.as_bytes());
    h
}

/// Writes `value` as zero-padded octal filling `field` but its last byte (a NUL).
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    assert!(s.len() == digits, "value {value} does not fit a {digits}-digit tar field");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

// ---------------------------------------------------------------------------------------
// Content helpers
// ---------------------------------------------------------------------------------------

/// The hex sha256 of `bytes` (no `sha256:` prefix).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The hex sha256 of a file's contents, read in chunks so large blobs are fine.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// `len` pseudo-random bytes from `seed` (splitmix64): incompressible, reproducible,
/// and different per seed, so each archive's layers are new to the store.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A stable seed from a case name and layout, so archives are reproducible.
fn seed_of(case: &str, layout: Layout) -> u64 {
    let d = Sha256::digest(format!("{case}/{}", layout.name()).as_bytes());
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

/// What goes into the second (defect-carrying) layer besides its plain entries.
enum Twist<'a> {
    /// Nothing: a plain layer.
    None,
    /// Raw entries appended after the plain entries, then one more plain file, so a
    /// streaming reader has already started writing the layer when it meets them.
    Entries(&'a dyn Fn(&mut RawTar<&mut Vec<u8>>) -> io::Result<()>),
}

/// A small plain layer: directories, a couple of files, an in-root symlink and an
/// in-root hard link (so links as such are shown to be accepted by the control), and a
/// `payload` of pseudo-random bytes.
fn layer(seed: u64, payload: usize, twist: Twist<'_>) -> Vec<u8> {
    let mut buf = Vec::new();
    {
        let mut t = RawTar::new(&mut buf);
        t.dir("etc/").unwrap();
        t.file("etc/hostname", format!("hostile-{seed:016x}\n").as_bytes()).unwrap();
        t.symlink("etc/alias", "hostname").unwrap();
        t.hardlink("etc/hostname.bak", "etc/hostname").unwrap();
        t.dir("usr/").unwrap();
        t.dir("usr/lib/").unwrap();
        t.symlink("usr/lib/up", "../../etc/hostname").unwrap();
        t.dir("data/").unwrap();
        t.file("data/payload", &noise(seed, payload)).unwrap();
        if let Twist::Entries(f) = twist {
            f(&mut t).unwrap();
            t.file("data/after", b"written after the twist\n").unwrap();
        }
        t.finish().unwrap();
    }
    buf
}

// ---------------------------------------------------------------------------------------
// The image model and the archive writer
// ---------------------------------------------------------------------------------------

/// A blob as it appears in the archive (`bytes`) and the hex digest that the
/// metadata declares for it (`digest`): normally equal to the bytes' sha256; a
/// defect makes them differ.
struct Blob {
    bytes: Vec<u8>,
    digest: String,
}

impl Blob {
    fn honest(bytes: Vec<u8>) -> Blob {
        let digest = sha256_hex(&bytes);
        Blob { bytes, digest }
    }
}

/// One image to write as an archive, with the knobs the defects turn.
struct Plan {
    layout: Layout,
    tag: String,
    config: Blob,
    layers: Vec<Blob>,
    /// Layers named by the metadata but left out of the archive.
    omit_layers: Vec<usize>,
    /// Replaces the bytes of `manifest.json` (classic and Docker 25 layouts).
    manifest_json: Option<Vec<u8>>,
    /// The media type written in the OCI manifest's layer descriptors.
    layer_media_type: String,
    /// Raw outer entries written before everything else.
    outer_first: Vec<(String, Vec<u8>)>,
}

impl Plan {
    /// The same image every builder starts from: two layers made from `seed`, the
    /// second one carrying `twist`, and a config whose diff_ids name both.
    fn new(layout: Layout, tag: &str, seed: u64, payload: usize, twist: Twist<'_>) -> Plan {
        let layers =
            vec![Blob::honest(layer(seed, 16 * 1024, Twist::None)), Blob::honest(layer(seed ^ 1, payload, twist))];
        let config = Blob::honest(config_json(&layers));
        Plan {
            layout,
            tag: tag.to_string(),
            config,
            layers,
            omit_layers: Vec::new(),
            manifest_json: None,
            layer_media_type: LAYER_TAR.to_string(),
            outer_first: Vec::new(),
        }
    }

    /// Writes the archive to `path`; returns, for each layer, the offset in the archive
    /// where its data starts (for truncation).
    fn write(&self, path: &Path) -> Vec<u64> {
        let file = BufWriter::new(File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display())));
        let mut t = RawTar::new(file);
        for (name, bytes) in &self.outer_first {
            t.file(name, bytes).unwrap();
        }
        // Metadata first, layers last: a reader has everything it needs to start
        // writing layers before it meets a layer's defect (or the archive's end).
        let cfg = &self.config;
        let layer_names: Vec<String> = match self.layout {
            Layout::Classic => self.layers.iter().map(|l| format!("{}/layer.tar", l.digest)).collect(),
            Layout::Docker25 | Layout::Oci => {
                self.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest)).collect()
            }
        };
        let config_name = match self.layout {
            Layout::Classic => format!("{}.json", cfg.digest),
            Layout::Docker25 | Layout::Oci => format!("blobs/sha256/{}", cfg.digest),
        };
        if self.layout != Layout::Oci {
            let manifest = self.manifest_json.clone().unwrap_or_else(|| {
                serde_json::to_vec(&serde_json::json!([{
                    "Config": config_name,
                    "RepoTags": [self.tag],
                    "Layers": layer_names,
                }]))
                .unwrap()
            });
            t.file("manifest.json", &manifest).unwrap();
        }
        if self.layout != Layout::Classic {
            let manifest = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": format!("sha256:{}", cfg.digest),
                    "size": cfg.bytes.len(),
                },
                "layers": self.layers.iter().map(|l| serde_json::json!({
                    "mediaType": self.layer_media_type,
                    "digest": format!("sha256:{}", l.digest),
                    "size": l.bytes.len(),
                })).collect::<Vec<_>>(),
            }))
            .unwrap();
            let (name, version) = self.tag.rsplit_once(':').expect("tag has a ':'");
            let index = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [{
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": format!("sha256:{}", sha256_hex(&manifest)),
                    "size": manifest.len(),
                    "annotations": {
                        "io.containerd.image.name": format!("docker.io/{name}:{version}"),
                        "org.opencontainers.image.ref.name": version,
                    },
                }],
            }))
            .unwrap();
            t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
            t.file("index.json", &index).unwrap();
            t.dir("blobs/").unwrap();
            t.dir("blobs/sha256/").unwrap();
            t.file(&format!("blobs/sha256/{}", sha256_hex(&manifest)), &manifest).unwrap();
        }
        t.file(&config_name, &cfg.bytes).unwrap();
        let mut offsets = Vec::new();
        for (i, (l, name)) in self.layers.iter().zip(&layer_names).enumerate() {
            if self.omit_layers.contains(&i) {
                offsets.push(0);
                continue;
            }
            if self.layout == Layout::Classic {
                t.dir(&format!("{}/", l.digest)).unwrap();
            }
            offsets.push(t.position() + 512);
            t.file(name, &l.bytes).unwrap();
        }
        t.finish().unwrap().into_inner().map_err(|e| e.into_error()).unwrap().sync_all().unwrap();
        offsets
    }
}

/// A docker image config naming `layers` as its diff_ids, in Docker's key order.
fn config_json(layers: &[Blob]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| format!("sha256:{}", l.digest)).collect();
    let history: Vec<serde_json::Value> = layers
        .iter()
        .enumerate()
        .map(
            |(i, _)| serde_json::json!({"created": "2000-01-01T00:00:00Z", "created_by": format!("hostile layer {i}")}),
        )
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
        },
        "created": "2000-01-01T00:00:00Z",
        "history": history,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

fn out_path(dir: &Path, case: &str, layout: Layout) -> PathBuf {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir.join(format!("{case}-{}.tar", layout.name()))
}

fn tag_of(case: &str, layout: Layout) -> String {
    format!("hostile/{case}:{}", layout.name())
}

/// Builds the plan for `case` (seeded by it), lets `tweak` introduce the defect, and
/// writes it; returns the path and the layer data offsets.
fn build(
    dir: &Path,
    case: &str,
    layout: Layout,
    payload: usize,
    twist: Twist<'_>,
    tweak: impl FnOnce(&mut Plan),
) -> (PathBuf, Vec<u64>) {
    let path = out_path(dir, case, layout);
    let mut plan = Plan::new(layout, &tag_of(case, layout), seed_of(case, layout), payload, twist);
    tweak(&mut plan);
    let offsets = plan.write(&path);
    (path, offsets)
}

/// Rebuilds the config so its diff_ids name the layers' declared digests again.
fn reconfig(plan: &mut Plan) {
    plan.config = Blob::honest(config_json(&plan.layers));
}

// ---------------------------------------------------------------------------------------
// The archives
// ---------------------------------------------------------------------------------------

/// The control: the same two-layer image the hostile builders start from, tagged
/// `tag`, with nothing wrong. Loading it must succeed; if it does not, the builders
/// (not the loader's defences) are what a failing hostile test measures. Returns what
/// a test needs to check the loaded image (ID, DiffIDs, tag).
pub fn valid(dir: &Path, layout: Layout, tag: &str) -> BaseImage {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let archive = dir.join(format!("valid-{}-{}.tar", layout.name(), &sha256_hex(tag.as_bytes())[..12]));
    let plan = Plan::new(layout, tag, seed_of(tag, layout), 64 * 1024, Twist::None);
    plan.write(&archive);
    BaseImage {
        archive,
        id: format!("sha256:{}", plan.config.digest),
        diff_ids: plan.layers.iter().map(|l| format!("sha256:{}", l.digest)).collect(),
        tag: tag.to_string(),
    }
}

/// Cut in the middle of the last layer's data: the stream ends while a reader is
/// writing a layer, so it must fail (on the short read) and drop its partial write.
/// All metadata comes before the cut, so only the end of the data is missing.
pub fn truncated(dir: &Path, layout: Layout) -> PathBuf {
    let (path, offsets) = build(dir, "truncated", layout, 512 * 1024, Twist::None, |_| {});
    let cut = offsets.last().copied().expect("a layer") + 256 * 1024;
    truncate(&path, cut);
    path
}

/// The second layer's bytes differ (one flipped byte in a file's data, so the tar is
/// still well formed) from what the config's diff_ids (and, in the OCI layouts, the
/// manifest's descriptor and the blob's file name) say: the digest check must catch it.
pub fn layer_digest_mismatch(dir: &Path, layout: Layout) -> PathBuf {
    build(dir, "layer-digest", layout, 64 * 1024, Twist::None, |plan| {
        let l = &mut plan.layers[1];
        // The payload's data starts well inside the layer; flip a byte there.
        let at = l.bytes.len() / 2;
        l.bytes[at] ^= 0x5a;
        assert_ne!(sha256_hex(&l.bytes), l.digest);
    })
    .0
}

/// The second layer has an entry named `../escape` (after plain entries): extracting
/// it anywhere would write beside, not inside, the destination.
pub fn entry_dotdot(dir: &Path, layout: Layout) -> PathBuf {
    build(dir, "dotdot-entry", layout, 16 * 1024, Twist::Entries(&|t| t.file("../escape", b"escaped\n")), |_| {}).0
}

/// The second layer has an entry with an absolute name, `/etc/evil`: a naive
/// extractor writes the host's `/etc`.
pub fn entry_absolute(dir: &Path, layout: Layout) -> PathBuf {
    build(dir, "absolute-entry", layout, 16 * 1024, Twist::Entries(&|t| t.file("/etc/evil", b"evil\n")), |_| {}).0
}

/// Like [`entry_dotdot`], but `../escape` is carried by a pax `path` record while the
/// entry's own ustar header says `data/benign`: a check that reads only the ustar name
/// misses it, an extractor that honours pax (every real one) writes outside.
pub fn entry_dotdot_pax(dir: &Path, layout: Layout) -> PathBuf {
    let twist = |t: &mut RawTar<&mut Vec<u8>>| {
        t.pax(&[("path", "../escape")])?;
        t.file("data/benign", b"escaped\n")
    };
    build(dir, "dotdot-pax", layout, 16 * 1024, Twist::Entries(&twist), |_| {}).0
}

/// Like [`entry_dotdot`], but `../escape` is carried by a GNU long-name entry while the
/// entry's own header says `data/benign`.
pub fn entry_dotdot_gnu_longname(dir: &Path, layout: Layout) -> PathBuf {
    let twist = |t: &mut RawTar<&mut Vec<u8>>| {
        t.gnu_longname("../escape")?;
        t.file("data/benign", b"escaped\n")
    };
    build(dir, "dotdot-gnu", layout, 16 * 1024, Twist::Entries(&twist), |_| {}).0
}

/// Like [`symlink_climb`], but the climbing target is carried by a pax `linkpath`
/// record while the symlink's own header says `benign`.
pub fn symlink_climb_pax(dir: &Path, layout: Layout) -> PathBuf {
    let twist = |t: &mut RawTar<&mut Vec<u8>>| {
        t.pax(&[("linkpath", CLIMBING_TARGET)])?;
        t.symlink("a", "benign")?;
        t.file("a/evil", b"evil\n")
    };
    build(dir, "symlink-pax", layout, 16 * 1024, Twist::Entries(&twist), |_| {}).0
}

/// The relative target used by [`symlink_climb`]: deep enough to reach the host's `/`
/// from any destination, so a file written through it lands in the host's `/etc`.
pub const CLIMBING_TARGET: &str = "../../../../../../../../../../../../../../../../etc";

/// The second layer has a symlink `a` whose relative target climbs out of the root
/// ([`CLIMBING_TARGET`], i.e. `/etc` of the host), then a file `a/evil` written through
/// it: an extractor that resolves links on the host writes `/etc/evil`.
pub fn symlink_climb(dir: &Path, layout: Layout) -> PathBuf {
    let twist = |t: &mut RawTar<&mut Vec<u8>>| {
        t.symlink("a", CLIMBING_TARGET)?;
        t.file("a/evil", b"evil\n")
    };
    build(dir, "symlink-climb", layout, 16 * 1024, Twist::Entries(&twist), |_| {}).0
}

/// The second layer has a hard link `x` to `../../outside`: a link to a file outside
/// the root lets an image read (or, through the shared inode, write) host files.
pub fn hardlink_climb(dir: &Path, layout: Layout) -> PathBuf {
    build(dir, "hardlink-climb", layout, 16 * 1024, Twist::Entries(&|t| t.hardlink("x", "../../outside")), |_| {}).0
}

/// The metadata (manifest.json, or the OCI manifest) names the second layer, but the
/// archive does not contain it.
pub fn missing_layer(dir: &Path, layout: Layout) -> PathBuf {
    build(dir, "missing-file", layout, 16 * 1024, Twist::None, |plan| plan.omit_layers.push(1)).0
}

/// `manifest.json` is not JSON (cut in the middle of an object). Docker layouts only:
/// the OCI layout has no manifest.json.
pub fn manifest_invalid_json(dir: &Path, layout: Layout) -> PathBuf {
    assert_ne!(layout, Layout::Oci, "an OCI layout has no manifest.json");
    build(dir, "manifest-json", layout, 16 * 1024, Twist::None, |plan| {
        plan.manifest_json = Some(br#"[{"Config":"blobs/sha256/00","RepoTags":["hostile/x:y"],"Layers":["#.to_vec());
    })
    .0
}

/// The config is not JSON, but it is named (and, in the OCI layouts, described) by
/// its true digest, so only its parse can fail.
pub fn config_invalid_json(dir: &Path, layout: Layout) -> PathBuf {
    build(dir, "config-json", layout, 16 * 1024, Twist::None, |plan| {
        plan.config =
            Blob::honest(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["#.to_vec());
    })
    .0
}

/// An OCI layout whose second layer descriptor has a media type nobody knows
/// ([`UNKNOWN_LAYER_MEDIA_TYPE`]): the loader cannot know how to decode it and must
/// refuse, not guess. OCI layout only (Docker layouts carry no layer media types in
/// manifest.json).
pub fn oci_unknown_media_type(dir: &Path) -> PathBuf {
    build(dir, "media-type", Layout::Oci, 16 * 1024, Twist::None, |plan| {
        plan.layer_media_type = UNKNOWN_LAYER_MEDIA_TYPE.to_string();
    })
    .0
}

/// The outer archive's own first entry is `../../evil`: a loader that unpacks the
/// archive to a temporary directory (as docker does) would write two levels above it.
pub fn outer_entry_climb(dir: &Path, layout: Layout) -> PathBuf {
    build(dir, "outer-climb", layout, 16 * 1024, Twist::None, |plan| {
        plan.outer_first.push(("../../evil".to_string(), b"evil\n".to_vec()));
    })
    .0
}

/// The config is stored as `blobs/sha256/<hex>` (and described by that digest in the
/// OCI manifest) but its bytes hash to something else: the image ID would be a lie.
/// Docker 25 and OCI layouts only (the classic layout's `<hex>.json` is a plain name).
pub fn config_digest_mismatch(dir: &Path, layout: Layout) -> PathBuf {
    assert_ne!(layout, Layout::Classic, "the classic layout does not name the config by digest");
    build(dir, "config-digest", layout, 16 * 1024, Twist::None, |plan| {
        let declared = plan.config.digest.clone();
        reconfig(plan);
        let mut cfg: serde_json::Value = serde_json::from_slice(&plan.config.bytes).unwrap();
        cfg["config"]["Cmd"] = serde_json::json!(["/bin/sh", "-c", "echo tampered"]);
        plan.config = Blob { bytes: serde_json::to_vec(&cfg).unwrap(), digest: declared };
        assert_ne!(sha256_hex(&plan.config.bytes), plan.config.digest);
    })
    .0
}

/// Terminal control sequences put in names by [`corrupt_header`]: a clear-screen, a
/// window-title change, a bell and a newline followed by a fake second error line.
pub const CONTROL_CHARS_NAME: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J\nError: fake second line";

/// An archive whose very first header fails its checksum and whose name holds terminal
/// control characters ([`CONTROL_CHARS_NAME`]): a tool that echoes the raw name in its
/// error message lets an archive drive the user's terminal (or forge output lines).
pub fn corrupt_header(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let path = dir.join("corrupt-header.tar");
    let mut h = ustar_header(CONTROL_CHARS_NAME, b'0', 0o644, "", 0, false);
    h[148..156].copy_from_slice(b"zzzzzzz\0");
    let mut bytes = h.to_vec();
    bytes.extend_from_slice(&[0u8; 1024]);
    fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// A valid archive, gzip-compressed and then cut at 60% of its compressed size: the
/// decompressor meets the end of its input in the middle of a layer.
pub fn truncated_gzip(dir: &Path, layout: Layout) -> PathBuf {
    let path = out_path(dir, "truncated-gz", layout);
    let plan =
        Plan::new(layout, &tag_of("truncated-gz", layout), seed_of("truncated-gz", layout), 512 * 1024, Twist::None);
    plan.write(&path);
    let gz = gzip(&path);
    fs::remove_file(&path).unwrap();
    let len = fs::metadata(&gz).unwrap().len();
    truncate(&gz, len * 6 / 10);
    gz
}

/// Writes a gzip-compressed copy of `path` beside it (`<path>.gz`) and returns its
/// path: `docker load` accepts compressed archives, so each defect must also be caught
/// behind a decompressor.
pub fn gzip(path: &Path) -> PathBuf {
    let mut out = path.as_os_str().to_owned();
    out.push(".gz");
    let out = PathBuf::from(out);
    let mut src = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let dst = File::create(&out).unwrap_or_else(|e| panic!("create {}: {e}", out.display()));
    let mut enc = flate2::write::GzEncoder::new(BufWriter::new(dst), flate2::Compression::fast());
    io::copy(&mut src, &mut enc).unwrap();
    enc.finish().unwrap().flush().unwrap();
    out
}

/// Cuts the file at `path` to `len` bytes.
pub fn truncate(path: &Path, len: u64) {
    let f = fs::OpenOptions::new().write(true).open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    assert!(f.metadata().unwrap().len() > len, "{} is not longer than {len} bytes", path.display());
    f.set_len(len).unwrap();
    f.sync_all().unwrap();
}

// ---------------------------------------------------------------------------------------
// Checking a store after a failed or killed command
// ---------------------------------------------------------------------------------------

/// The names (hex digests) of the files in `<root>/blobs/sha256`; empty if the
/// directory does not exist yet. Anything that is not a regular file is reported with
/// a `!` prefix, so it shows up in a comparison instead of being ignored.
pub fn blob_names(root: &Path) -> BTreeSet<String> {
    let dir = root.join("blobs/sha256");
    let mut names = BTreeSet::new();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return names,
        Err(e) => panic!("read {}: {e}", dir.display()),
    };
    for entry in entries {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_file() {
            names.insert(name);
        } else {
            names.insert(format!("!{name}"));
        }
    }
    names
}

/// Every blob whose contents do not hash to its name, as `(name, actual hex)`: the
/// store promises that `blobs/` holds only complete, verified content.
pub fn corrupt_blobs(root: &Path) -> Vec<(String, String)> {
    let dir = root.join("blobs/sha256");
    let mut bad = Vec::new();
    for name in blob_names(root) {
        let actual = if name.starts_with('!') {
            "not a regular file".to_string()
        } else {
            sha256_file(&dir.join(&name)).unwrap_or_else(|e| format!("unreadable: {e}"))
        };
        if actual != name {
            bad.push((name, actual));
        }
    }
    bad
}

/// Everything left under `<root>/ingest` (recursively), as paths relative to it: after
/// a command ends (or after the sweep that follows a crash) this must be empty.
pub fn ingest_leftovers(root: &Path) -> Vec<PathBuf> {
    let dir = root.join("ingest");
    let mut out = Vec::new();
    if dir.exists() {
        walk(&dir, &mut |p| out.push(p.strip_prefix(&dir).unwrap().to_path_buf()));
    }
    out
}

/// Every path under `top` whose file name contains one of `words` — used to prove that
/// no hostile entry (`escape`, `evil`, `outside`) was written anywhere in a tree.
pub fn find_names(top: &Path, words: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(top, &mut |p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if words.iter().any(|w| name.contains(w)) {
            out.push(p.to_path_buf());
        }
    });
    out
}

/// Calls `f` on every path below `dir` (not following symlinks).
fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let p = entry.path();
        f(&p);
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(&p, f);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Archives that are valid but large, wide or deep (resource limits of the loader)
// ---------------------------------------------------------------------------------------

/// One archive holding `images` images of `layers_each` distinct small layers each
/// (every layer a tar of one 5,000-byte pseudo-random file, so about 6.5 KiB: above the
/// 4 KiB a loader may keep in memory), tagged `hostile/many-<i>:1`, in the Docker 25
/// layout with the layers first and `manifest.json` last, as `docker save` orders them.
/// With `break_last`, the last image's config names a wrong DiffID for its last layer
/// (the manifest still names the layer by its true digest), so the load fails only
/// after every layer has been read. Layer `j` of image `i` is the same in every such
/// archive, so a test can load part of one beforehand.
///
/// Returns one [`BaseImage`] per image (all with the same archive path).
pub fn many_layers(dir: &Path, images: usize, layers_each: usize, break_last: bool) -> Vec<BaseImage> {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let path = dir.join(format!("many-layers-{images}x{layers_each}{}.tar", if break_last { "-broken" } else { "" }));
    let file = BufWriter::new(File::create(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display())));
    let mut t = RawTar::new(file);
    t.dir("blobs/").unwrap();
    t.dir("blobs/sha256/").unwrap();
    let mut plans = Vec::new();
    for i in 0..images {
        let mut layers = Vec::new();
        for j in 0..layers_each {
            let seed = ((i as u64) << 32) | j as u64;
            let mut buf = Vec::new();
            let mut lt = RawTar::new(&mut buf);
            lt.file(&format!("layer/{i}/{j}"), &noise(seed, 5000)).unwrap();
            lt.finish().unwrap();
            let blob = Blob::honest(buf);
            t.file(&format!("blobs/sha256/{}", blob.digest), &blob.bytes).unwrap();
            layers.push(blob);
        }
        let mut declared: Vec<Blob> =
            layers.iter().map(|l| Blob { bytes: Vec::new(), digest: l.digest.clone() }).collect();
        if break_last && i + 1 == images {
            if let Some(last) = declared.last_mut() {
                last.digest = sha256_hex(b"not the last layer");
            }
        }
        let config = Blob::honest(config_json(&declared));
        t.file(&format!("blobs/sha256/{}", config.digest), &config.bytes).unwrap();
        plans.push((format!("hostile/many-{i}:1"), config, layers));
    }
    let manifest: Vec<serde_json::Value> = plans
        .iter()
        .map(|(tag, config, layers)| {
            serde_json::json!({
                "Config": format!("blobs/sha256/{}", config.digest),
                "RepoTags": [tag],
                "Layers": layers.iter().map(|l| format!("blobs/sha256/{}", l.digest)).collect::<Vec<_>>(),
            })
        })
        .collect();
    t.file("manifest.json", &serde_json::to_vec(&manifest).unwrap()).unwrap();
    t.finish().unwrap().into_inner().map_err(|e| e.into_error()).unwrap().sync_all().unwrap();
    plans
        .into_iter()
        .map(|(tag, config, layers)| BaseImage {
            archive: path.clone(),
            id: format!("sha256:{}", config.digest),
            diff_ids: layers.iter().map(|l| format!("sha256:{}", l.digest)).collect(),
            tag,
        })
        .collect()
}

/// An OCI archive of one valid, untagged image reached through `levels` nested indexes,
/// each listing the next one `width` times; the last lists the image's manifest `width`
/// times (with `levels == 0`, `index.json` itself lists the manifest `width` times).
/// A loader that expands an index once per descriptor naming it does `width^levels`
/// work; one that remembers what it expanded does `width * levels`.
pub fn nested_index(dir: &Path, levels: usize, width: usize) -> BaseImage {
    let case = format!("nested-index-{levels}x{width}");
    let path = out_path(dir, &case, Layout::Oci);
    let plan = Plan::new(Layout::Oci, &tag_of(&case, Layout::Oci), seed_of(&case, Layout::Oci), 8 * 1024, Twist::None);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", plan.config.digest),
            "size": plan.config.bytes.len(),
        },
        "layers": plan.layers.iter().map(|l| serde_json::json!({
            "mediaType": LAYER_TAR,
            "digest": format!("sha256:{}", l.digest),
            "size": l.bytes.len(),
        })).collect::<Vec<_>>(),
    }))
    .unwrap();
    let index_of = |media_type: &str, target: &[u8]| {
        let d = serde_json::json!({
            "mediaType": media_type,
            "digest": format!("sha256:{}", sha256_hex(target)),
            "size": target.len(),
        });
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": vec![d; width],
        }))
        .unwrap()
    };
    // Innermost first: each index lists the one written before it.
    let mut blobs = vec![manifest.clone()];
    let mut top = index_of("application/vnd.oci.image.manifest.v1+json", &manifest);
    for _ in 0..levels {
        blobs.push(top.clone());
        top = index_of("application/vnd.oci.image.index.v1+json", &top);
    }
    let file = BufWriter::new(File::create(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display())));
    let mut t = RawTar::new(file);
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    t.file("index.json", &top).unwrap();
    t.dir("blobs/").unwrap();
    t.dir("blobs/sha256/").unwrap();
    for b in blobs.iter().chain([&plan.config.bytes]).chain(plan.layers.iter().map(|l| &l.bytes)) {
        t.file(&format!("blobs/sha256/{}", sha256_hex(b)), b).unwrap();
    }
    t.finish().unwrap().into_inner().map_err(|e| e.into_error()).unwrap().sync_all().unwrap();
    BaseImage {
        archive: path,
        id: format!("sha256:{}", plan.config.digest),
        diff_ids: plan.layers.iter().map(|l| format!("sha256:{}", l.digest)).collect(),
        tag: String::new(),
    }
}

/// A gzip-compressed tar of `count` regular files of `size` bytes each, `{` followed
/// by spaces (so every one looks like a JSON document a loader might keep in memory),
/// and nothing else. It compresses to almost nothing, so a small download can ask a
/// loader for `count * size` bytes of memory.
pub fn small_file_flood(dir: &Path, count: usize, size: usize) -> PathBuf {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let path = dir.join(format!("flood-{count}x{size}.tar.gz"));
    let file = BufWriter::new(File::create(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display())));
    let mut data = vec![b' '; size];
    if let Some(first) = data.first_mut() {
        *first = b'{';
    }
    let mut t = RawTar::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
    for i in 0..count {
        t.file(&format!("f/{i}.json"), &data).unwrap();
    }
    t.finish().unwrap().finish().unwrap().into_inner().map_err(|e| e.into_error()).unwrap().sync_all().unwrap();
    path
}

/// A gzip-compressed tar of `count` symbolic links (`l/<i> -> target`) and nothing else.
pub fn link_flood(dir: &Path, count: usize) -> PathBuf {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let path = dir.join(format!("links-{count}.tar.gz"));
    let file = BufWriter::new(File::create(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display())));
    let mut t = RawTar::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
    for i in 0..count {
        t.symlink(&format!("l/{i}"), "target").unwrap();
    }
    t.finish().unwrap().finish().unwrap().into_inner().map_err(|e| e.into_error()).unwrap().sync_all().unwrap();
    path
}

/// [`valid`]'s image with one more top-level file (`name`, holding `data`) that no
/// manifest names, as a README or a signature beside the image: docker ignores it.
pub fn valid_with_extra_file(dir: &Path, layout: Layout, tag: &str, name: &str, data: &[u8]) -> BaseImage {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let archive = dir.join(format!("extra-{}-{}.tar", layout.name(), &sha256_hex(tag.as_bytes())[..12]));
    let mut plan = Plan::new(layout, tag, seed_of(tag, layout), 64 * 1024, Twist::None);
    plan.outer_first.push((name.to_string(), data.to_vec()));
    plan.write(&archive);
    BaseImage {
        archive,
        id: format!("sha256:{}", plan.config.digest),
        diff_ids: plan.layers.iter().map(|l| format!("sha256:{}", l.digest)).collect(),
        tag: tag.to_string(),
    }
}

/// A plain tar layer (one file of `len` pseudo-random bytes from `seed`), for tests that
/// put a valid layer where no manifest names it.
pub fn stray_layer(seed: u64, len: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut t = RawTar::new(&mut buf);
    t.file("stray/data", &noise(seed, len)).unwrap();
    t.finish().unwrap();
    buf
}

/// Text full of terminal control sequences ([`CONTROL_CHARS_NAME`] repeated), 8 KiB:
/// neither a tar nor JSON, and dangerous if echoed.
pub fn control_garbage() -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < 8 * 1024 {
        out.extend_from_slice(CONTROL_CHARS_NAME.as_bytes());
        out.extend_from_slice(b" garbage, not a tar\n");
    }
    out
}

/// The second layer is [`control_garbage`] (honestly digested, and named so by the
/// config): the manifest names an entry that is not a tar, and a loader quoting its
/// parser's complaint would print the garbage.
pub fn garbage_layer(dir: &Path, layout: Layout) -> PathBuf {
    build(dir, "garbage-layer", layout, 16 * 1024, Twist::None, |plan| {
        plan.layers[1] = Blob::honest(control_garbage());
        reconfig(plan);
    })
    .0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written headers must be what a real reader accepts: the `tar` crate
    /// reads them back with the exact names, links and data.
    #[test]
    fn raw_tar_reads_back() {
        let mut buf = Vec::new();
        {
            let mut t = RawTar::new(&mut buf);
            t.file("../escape", b"x").unwrap();
            t.file("/etc/evil", b"yy").unwrap();
            t.symlink("a", CLIMBING_TARGET).unwrap();
            t.hardlink("x", "../../outside").unwrap();
            t.dir("d/").unwrap();
            t.pax(&[("path", "../escape"), ("linkpath", CLIMBING_TARGET)]).unwrap();
            t.symlink("p", "benign").unwrap();
            t.gnu_longname("../escape").unwrap();
            t.file("g", b"z").unwrap();
            t.finish().unwrap();
        }
        let mut a = tar::Archive::new(&buf[..]);
        let mut seen = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let link = e.link_name_bytes().map(|l| String::from_utf8(l.into_owned()).unwrap());
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            seen.push((name, e.header().entry_type().as_byte(), link, data));
        }
        assert_eq!(
            seen,
            vec![
                ("../escape".into(), b'0', None, b"x".to_vec()),
                ("/etc/evil".into(), b'0', None, b"yy".to_vec()),
                ("a".into(), b'2', Some(CLIMBING_TARGET.into()), vec![]),
                ("x".into(), b'1', Some("../../outside".into()), vec![]),
                ("d/".into(), b'5', None, vec![]),
                ("../escape".into(), b'2', Some(CLIMBING_TARGET.into()), vec![]),
                ("../escape".into(), b'0', None, b"z".to_vec()),
            ]
        );
    }

    /// Every builder writes a file that is a well-formed tar (or gzip) up to its
    /// intended defect, and the defects are really there.
    #[test]
    fn builders_write_their_defects() {
        let dir = tempfile::tempdir().unwrap();
        for layout in Layout::ALL {
            let v = valid(dir.path(), layout, "hostile/ok:1").archive;
            let names = outer_names(&v);
            assert!(names.iter().any(|n| n == "index.json") == (layout != Layout::Classic), "{layout:?}: {names:?}");
            assert!(names.iter().any(|n| n == "manifest.json") == (layout != Layout::Oci), "{layout:?}: {names:?}");
            let t = truncated(dir.path(), layout);
            assert!(fs::metadata(&t).unwrap().len() < fs::metadata(&v).unwrap().len() + 512 * 1024);
            let d = entry_dotdot(dir.path(), layout);
            assert!(layer_entry_names(&d).iter().any(|n| n == "../escape"));
            let a = entry_absolute(dir.path(), layout);
            assert!(layer_entry_names(&a).iter().any(|n| n == "/etc/evil"));
            let p = entry_dotdot_pax(dir.path(), layout);
            assert!(layer_entry_names(&p).iter().any(|n| n == "../escape"));
            let g = entry_dotdot_gnu_longname(dir.path(), layout);
            assert!(layer_entry_names(&g).iter().any(|n| n == "../escape"));
            let o = outer_entry_climb(dir.path(), layout);
            assert_eq!(outer_names(&o)[0], "../../evil");
            let m = missing_layer(dir.path(), layout);
            assert_eq!(
                outer_names(&m).iter().filter(|n| n.ends_with("layer.tar")).count(),
                (layout == Layout::Classic) as usize
            );
        }
        let (a, b) = (valid(dir.path(), Layout::Oci, "a:b"), valid(dir.path(), Layout::Oci, "a:b"));
        assert_eq!((a.id, a.diff_ids), (b.id, b.diff_ids), "the same arguments give the same image");
    }

    fn outer_names(path: &Path) -> Vec<String> {
        let mut a = tar::Archive::new(File::open(path).unwrap());
        a.entries().unwrap().map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap()).collect()
    }

    /// Entry names of every layer-looking member (names ending in layer.tar or blobs
    /// that are themselves tars) of an archive.
    fn layer_entry_names(path: &Path) -> Vec<String> {
        let mut a = tar::Archive::new(File::open(path).unwrap());
        let mut out = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            if data.len() >= 1024 && &data[257..262] == b"ustar" {
                let mut inner = tar::Archive::new(&data[..]);
                for ie in inner.entries().unwrap() {
                    out.push(String::from_utf8(ie.unwrap().path_bytes().into_owned()).unwrap());
                }
            }
        }
        out
    }
}
