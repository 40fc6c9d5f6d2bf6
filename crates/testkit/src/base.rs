//! Deterministic base images, written here in Rust from Debian's busybox-static.
//!
//! End-to-end and interop tests need an image to load, save, tag and run, and must not
//! depend on a network or on python: these functions write one as a docker-archive in
//! the classic `docker save` layout (what Debian's docker 20.10 writes), so gantry,
//! dockerd and podman can all read it. Everything is fixed (mtimes, owners, entry
//! order, JSON key order), so the same input gives the same bytes and the same image
//! ID, and a test can state the expected ID and DiffIDs before gantry ever sees the
//! archive.
//!
//! Layers are streamed to disk while their digest is taken, never held in memory, so a
//! test can ask for a layer of several hundred megabytes.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

/// Fixed mtime of every entry (2000-01-01T00:00:00Z): same input, same bytes.
pub const EPOCH: u64 = 946_684_800;

/// `created` of the config and of every history entry, matching [`EPOCH`].
pub const CREATED: &str = "2000-01-01T00:00:00Z";

/// The `PATH` that the image's config sets, as docker's official images do.
pub const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `created_by` of the busybox layer's history entry.
pub const BUSYBOX_CREATED_BY: &str = "gantry-testkit: busybox-static rootfs";

/// What a test needs to know about an archive it made, to check what a tool did with it.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// The docker-archive on disk.
    pub archive: PathBuf,
    /// `sha256:<hex>` of the config bytes: the image ID docker, podman and gantry report.
    pub id: String,
    /// `sha256:<hex>` of each uncompressed layer tar, base layer first.
    pub diff_ids: Vec<String>,
    /// The tag recorded in the archive, normalized with `:latest` (`""` when untagged).
    pub tag: String,
}

impl BaseImage {
    /// The image ID without its `sha256:` prefix (podman prints IDs this way).
    pub fn id_hex(&self) -> &str {
        self.id.strip_prefix("sha256:").unwrap_or(&self.id)
    }
}

/// A one-layer busybox image written to `dir/<name>.tar`, tagged `tag` (`""` for none).
///
/// The layer holds /bin/busybox, a symlink per applet (`busybox --list`), /etc/passwd,
/// /etc/group, /tmp (1777) and the usual empty directories, all owned by 0:0 with
/// fixed mtimes, in sorted order.
pub fn busybox_archive(dir: &Path, tag: &str) -> BaseImage {
    archive_with_layers(dir, tag, &[])
}

/// The busybox image plus one layer per `(path in image, size, seed)`, each holding
/// one file of `size` pseudo-random bytes drawn from `seed` (streamed, never in memory).
///
/// The archive is written to `dir/<tag with '/' and ':' as '_'>.tar` (`image.tar` when
/// untagged); the same arguments always give the same bytes.
pub fn archive_with_layers(dir: &Path, tag: &str, extra_layers: &[(String, u64, u64)]) -> BaseImage {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let tag = normalize_tag(tag);
    let name = if tag.is_empty() { "image".to_string() } else { tag.replace(['/', ':'], "_") };
    let archive = dir.join(format!("{name}.tar"));
    let work = tempfile::Builder::new()
        .prefix(".testkit-layers-")
        .tempdir_in(dir)
        .unwrap_or_else(|e| panic!("temp dir in {}: {e}", dir.display()));

    let mut layers: Vec<(PathBuf, String, u64)> = Vec::new(); // (file, diff_id, size)
    let mut history = Vec::new();
    let busybox = work.path().join("busybox.tar");
    let (diff_id, size) = write_layer(&busybox, busybox_layer);
    layers.push((busybox, diff_id, size));
    history.push(serde_json::json!({"created": CREATED, "created_by": BUSYBOX_CREATED_BY}));
    for (i, (path, len, seed)) in extra_layers.iter().enumerate() {
        let file = work.path().join(format!("extra-{i}.tar"));
        let (diff_id, size) = write_layer(&file, |b| random_file_layer(b, path, *len, *seed));
        layers.push((file, diff_id, size));
        history.push(serde_json::json!({
            "created": CREATED,
            "created_by": format!("gantry-testkit: {path} ({len} pseudo-random bytes, seed {seed})"),
        }));
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| l.1.clone()).collect();

    // Keys in sorted order at every level (serde_json keeps insertion order here).
    let config = serde_json::json!({
        "architecture": "amd64",
        "config": {"Cmd": ["/bin/sh"], "Env": [PATH_ENV]},
        "created": CREATED,
        "history": history,
        "os": "linux",
        "rootfs": {"diff_ids": diff_ids, "type": "layers"},
    });
    let config_bytes = serde_json::to_vec(&config).expect("serialize config");
    let config_hex = hex::encode(Sha256::digest(&config_bytes));

    // Classic layout: one directory per layer, named like docker's v1 IDs (a chain).
    let mut layer_dirs = Vec::new();
    let mut parent = String::new();
    for (_, diff_id, _) in &layers {
        let v1 = hex::encode(Sha256::digest(format!("{parent} {diff_id}").as_bytes()));
        layer_dirs.push((v1.clone(), parent.clone()));
        parent = v1;
    }
    let top = parent;

    let repo_tags: serde_json::Value = if tag.is_empty() { serde_json::Value::Null } else { serde_json::json!([tag]) };
    let manifest = serde_json::json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": repo_tags,
        "Layers": layer_dirs.iter().map(|(d, _)| format!("{d}/layer.tar")).collect::<Vec<_>>(),
    }]);

    let partial = archive.with_extension("tar.partial");
    let out = BufWriter::new(File::create(&partial).unwrap_or_else(|e| panic!("create {}: {e}", partial.display())));
    let mut b = tar::Builder::new(out);
    let mut entries: Vec<(String, Entry)> = Vec::new();
    entries.push((format!("{config_hex}.json"), Entry::Data(0o644, config_bytes)));
    for ((file, _, size), (v1, parent)) in layers.iter().zip(&layer_dirs) {
        let mut json = serde_json::json!({"id": v1});
        if !parent.is_empty() {
            json["parent"] = serde_json::json!(parent);
        }
        json["created"] = serde_json::json!(CREATED);
        json["os"] = serde_json::json!("linux");
        entries.push((format!("{v1}/"), Entry::Dir(0o755)));
        entries.push((format!("{v1}/VERSION"), Entry::Data(0o644, b"1.0".to_vec())));
        entries.push((format!("{v1}/json"), Entry::Data(0o644, serde_json::to_vec(&json).unwrap())));
        entries.push((format!("{v1}/layer.tar"), Entry::File(file.clone(), *size)));
    }
    entries.push(("manifest.json".into(), Entry::Data(0o644, serde_json::to_vec(&manifest).unwrap())));
    if let Some((repo, t)) = tag.rsplit_once(':') {
        let repositories = serde_json::json!({ repo: { t: top } });
        entries.push(("repositories".into(), Entry::Data(0o644, serde_json::to_vec(&repositories).unwrap())));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, entry) in &entries {
        append_entry(&mut b, path, entry);
    }
    let mut out = b.into_inner().expect("finish archive");
    out.flush().expect("flush archive");
    out.get_ref().sync_all().ok();
    drop(out);
    std::fs::rename(&partial, &archive).unwrap_or_else(|e| panic!("rename {}: {e}", archive.display()));

    BaseImage { archive, id: format!("sha256:{config_hex}"), diff_ids, tag }
}

/// One member of a tar that this module writes; every header field not named here is
/// fixed by [`header`].
enum Entry {
    /// A directory with this mode (its name ends with `/`).
    Dir(u32),
    /// A regular file with this mode and content.
    Data(u32, Vec<u8>),
    /// A regular file (mode 0644) copied from a file on disk of this size.
    File(PathBuf, u64),
    /// A symbolic link to this target.
    Symlink(&'static str),
}

fn append_entry<W: Write>(b: &mut tar::Builder<W>, path: &str, entry: &Entry) {
    match entry {
        Entry::Dir(mode) => append_dir(b, path, *mode),
        Entry::Data(mode, data) => append_bytes(b, path, *mode, data),
        Entry::File(file, size) => {
            let f = File::open(file).unwrap_or_else(|e| panic!("open {}: {e}", file.display()));
            let mut h = header(EntryType::Regular, 0o644, *size);
            b.append_data(&mut h, path, f).unwrap_or_else(|e| panic!("append {path}: {e}"));
        }
        Entry::Symlink(target) => {
            let mut h = header(EntryType::Symlink, 0o777, 0);
            b.append_link(&mut h, path, target).unwrap_or_else(|e| panic!("append {path}: {e}"));
        }
    }
}

/// `busybox` → `busybox:latest`; a reference with a tag or digest is kept as it is.
fn normalize_tag(tag: &str) -> String {
    if tag.is_empty() || tag.contains('@') {
        return tag.to_string();
    }
    let last = tag.rsplit('/').next().unwrap_or(tag);
    if last.contains(':') {
        tag.to_string()
    } else {
        format!("{tag}:latest")
    }
}

/// The busybox-static binary: Debian installs it at /bin/busybox (/usr/bin with usrmerge).
pub fn busybox_binary() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        let p = Path::new(p);
        if p.is_file() {
            return p.to_path_buf();
        }
    }
    panic!(
        "busybox is required to build test images but /bin/busybox is missing: install busybox-static (.ci/run does)"
    );
}

/// The applet names that `busybox --list` prints, sorted, without `busybox` itself.
pub fn busybox_applets() -> Vec<String> {
    let bin = busybox_binary();
    let out = std::process::Command::new(&bin)
        .arg("--list")
        .output()
        .unwrap_or_else(|e| panic!("run {} --list: {e}", bin.display()));
    assert!(out.status.success(), "{} --list failed: {}", bin.display(), String::from_utf8_lossy(&out.stderr));
    let mut applets: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|a| *a != "busybox" && !a.contains('/'))
        .map(str::to_string)
        .collect();
    applets.sort();
    applets.dedup();
    assert!(applets.iter().any(|a| a == "sh"), "busybox --list has no sh applet: is this busybox-static?");
    applets
}

/// Writes a layer tar at `path` with `fill`, returning its DiffID and size; the digest
/// is taken while the bytes stream to disk.
fn write_layer(path: &Path, fill: impl FnOnce(&mut tar::Builder<HashingWriter<BufWriter<File>>>)) -> (String, u64) {
    let file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let mut b = tar::Builder::new(HashingWriter::new(BufWriter::with_capacity(1 << 20, file)));
    fill(&mut b);
    let mut w = b.into_inner().expect("finish layer tar");
    w.flush().expect("flush layer tar");
    (format!("sha256:{}", hex::encode(w.hasher.finalize_reset())), w.len)
}

fn busybox_layer<W: Write>(b: &mut tar::Builder<W>) {
    let bin = busybox_binary();
    let busybox = std::fs::read(&bin).unwrap_or_else(|e| panic!("read {}: {e}", bin.display()));
    let mut entries: Vec<(String, Entry)> = Vec::new();
    for d in ["bin", "dev", "etc", "proc", "sys", "usr", "usr/bin", "usr/sbin", "var"] {
        entries.push((format!("{d}/"), Entry::Dir(0o755)));
    }
    entries.push(("root/".into(), Entry::Dir(0o700)));
    entries.push(("tmp/".into(), Entry::Dir(0o1777)));
    entries.push(("bin/busybox".into(), Entry::Data(0o755, busybox)));
    let passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nuser:x:1000:1000:user:/tmp:/bin/sh\n";
    let group = "root:x:0:\nnogroup:x:65534:\nuser:x:1000:\n";
    entries.push(("etc/passwd".into(), Entry::Data(0o644, passwd.as_bytes().to_vec())));
    entries.push(("etc/group".into(), Entry::Data(0o644, group.as_bytes().to_vec())));
    for applet in busybox_applets() {
        entries.push((format!("bin/{applet}"), Entry::Symlink("busybox")));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, entry) in &entries {
        append_entry(b, path, entry);
    }
    b.finish().expect("finish busybox layer");
}

fn random_file_layer<W: Write>(b: &mut tar::Builder<W>, path: &str, size: u64, seed: u64) {
    let rel = path.trim_start_matches('/');
    assert!(!rel.is_empty() && !rel.ends_with('/'), "extra layer path must name a file: {path:?}");
    let mut dirs = Vec::new();
    let mut p = Path::new(rel).parent();
    while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
        dirs.push(format!("{}/", d.display()));
        p = d.parent();
    }
    dirs.reverse();
    for d in dirs {
        append_dir(b, &d, 0o755);
    }
    let mut h = header(EntryType::Regular, 0o644, size);
    b.append_data(&mut h, rel, PseudoRandom::new(seed).take(size)).expect("append random file");
    b.finish().expect("finish extra layer");
}

/// A header with every field fixed: owner 0:0, no user/group names, mtime [`EPOCH`].
fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(EPOCH);
    h.set_size(size);
    h
}

fn append_bytes<W: Write>(b: &mut tar::Builder<W>, path: &str, mode: u32, data: &[u8]) {
    let mut h = header(EntryType::Regular, mode, data.len() as u64);
    b.append_data(&mut h, path, data).unwrap_or_else(|e| panic!("append {path}: {e}"));
}

/// A directory entry named with its trailing slash, as docker's and GNU tar write it
/// (the `tar` crate's `set_path` would drop the slash).
fn append_dir<W: Write>(b: &mut tar::Builder<W>, path: &str, mode: u32) {
    assert!(path.ends_with('/') && path.len() <= 100, "short directory path with '/': {path}");
    let mut h = header(EntryType::Directory, mode, 0);
    h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_cksum();
    b.append(&h, io::empty()).unwrap_or_else(|e| panic!("append {path}: {e}"));
}

/// Passes bytes through while taking their SHA-256 and counting them.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new(), len: 0 }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// An endless stream of xorshift64* bytes: fast, deterministic per seed, and
/// incompressible enough that a layer's size on disk is its real size.
pub struct PseudoRandom {
    state: u64,
    buf: [u8; 8],
    pos: usize,
}

impl PseudoRandom {
    /// A stream drawn from `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that nearby seeds give unrelated streams and the
        // xorshift state is never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        PseudoRandom { state: z | 1, buf: [0; 8], pos: 8 }
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl Read for PseudoRandom {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while self.pos < 8 && n < out.len() {
            out[n] = self.buf[self.pos];
            self.pos += 1;
            n += 1;
        }
        let mut chunks = out[n..].chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
            n += 8;
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            self.buf = self.next_u64().to_le_bytes();
            let k = rest.len();
            rest.copy_from_slice(&self.buf[..k]);
            self.pos = k;
            n += k;
        }
        Ok(n)
    }
}

/// `sha256:<hex>` of `data`: what a test compares with an image ID or a digest.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// `sha256:<hex>` of a file's content, streamed.
pub fn sha256_file(path: &Path) -> String {
    let mut f = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The content of the member `name` (leading `./` ignored) of a tar archive, if any:
/// lets a test look inside an archive that a tool wrote without a `tar` binary.
pub fn archive_member(archive: &Path, name: &str) -> Option<Vec<u8>> {
    let want = name.trim_start_matches("./");
    let f = File::open(archive).unwrap_or_else(|e| panic!("open {}: {e}", archive.display()));
    let mut ar = tar::Archive::new(f);
    for entry in ar.entries().unwrap_or_else(|e| panic!("read {}: {e}", archive.display())) {
        let mut entry = entry.unwrap_or_else(|e| panic!("read {}: {e}", archive.display()));
        let path = entry.path().expect("entry path").to_string_lossy().into_owned();
        if path.trim_start_matches("./") == want {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("read member");
            return Some(data);
        }
    }
    None
}

/// Extracts a (trusted, test-made or tool-made) tar archive into `dest`.
pub fn unpack_archive(archive: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap_or_else(|e| panic!("create {}: {e}", dest.display()));
    let f = File::open(archive).unwrap_or_else(|e| panic!("open {}: {e}", archive.display()));
    let mut ar = tar::Archive::new(f);
    ar.set_preserve_permissions(true);
    ar.unpack(dest).unwrap_or_else(|e| panic!("unpack {} into {}: {e}", archive.display(), dest.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_input_gives_same_bytes_and_id() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let x = busybox_archive(a.path(), "testkit/busybox");
        let y = busybox_archive(b.path(), "testkit/busybox");
        assert_eq!(x.tag, "testkit/busybox:latest");
        assert_eq!(x.id, y.id);
        assert_eq!(x.diff_ids, y.diff_ids);
        assert_eq!(std::fs::read(&x.archive).unwrap(), std::fs::read(&y.archive).unwrap());
    }

    #[test]
    fn archive_is_classic_docker_save_layout() {
        let d = tempfile::tempdir().unwrap();
        let img = archive_with_layers(d.path(), "testkit/two:1", &[("data/blob.bin".into(), 100_000, 7)]);
        let manifest: serde_json::Value =
            serde_json::from_slice(&archive_member(&img.archive, "manifest.json").unwrap()).unwrap();
        let m = &manifest[0];
        assert_eq!(m["RepoTags"], serde_json::json!(["testkit/two:1"]));
        let config_name = m["Config"].as_str().unwrap();
        let config = archive_member(&img.archive, config_name).unwrap();
        assert_eq!(sha256_digest(&config), img.id);
        assert_eq!(config_name, format!("{}.json", img.id_hex()));
        let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(config["architecture"], "amd64");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["config"]["Cmd"], serde_json::json!(["/bin/sh"]));
        assert_eq!(config["history"].as_array().unwrap().len(), 2);
        let layers = m["Layers"].as_array().unwrap();
        assert_eq!(layers.len(), 2);
        for (layer, diff_id) in layers.iter().zip(&img.diff_ids) {
            let data = archive_member(&img.archive, layer.as_str().unwrap()).unwrap();
            assert_eq!(&sha256_digest(&data), diff_id);
        }
        let repos: serde_json::Value =
            serde_json::from_slice(&archive_member(&img.archive, "repositories").unwrap()).unwrap();
        assert!(repos["testkit/two"]["1"].is_string());

        // The extra layer holds exactly the requested bytes under its parent dir.
        let layer = archive_member(&img.archive, layers[1].as_str().unwrap()).unwrap();
        let mut ar = tar::Archive::new(&layer[..]);
        let names: Vec<(String, u64)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().to_string_lossy().into_owned(), e.header().size().unwrap())
            })
            .collect();
        assert_eq!(names, vec![("data/".to_string(), 0), ("data/blob.bin".to_string(), 100_000)]);
    }

    #[test]
    fn busybox_layer_is_sorted_root_owned_with_applets() {
        let d = tempfile::tempdir().unwrap();
        let img = busybox_archive(d.path(), "");
        assert_eq!(img.tag, "");
        let manifest: serde_json::Value =
            serde_json::from_slice(&archive_member(&img.archive, "manifest.json").unwrap()).unwrap();
        assert!(manifest[0]["RepoTags"].is_null());
        assert!(archive_member(&img.archive, "repositories").is_none());
        let layer = archive_member(&img.archive, manifest[0]["Layers"][0].as_str().unwrap()).unwrap();
        let mut ar = tar::Archive::new(&layer[..]);
        let mut names = Vec::new();
        let mut tmp_mode = None;
        let mut sh_target = None;
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            assert_eq!(h.mtime().unwrap(), EPOCH);
            let name = e.path().unwrap().to_string_lossy().into_owned();
            if name == "tmp" || name == "tmp/" {
                tmp_mode = Some(h.mode().unwrap());
            }
            if name == "bin/sh" {
                sh_target = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
            }
            names.push(name);
        }
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(tmp_mode, Some(0o1777));
        assert_eq!(sh_target.as_deref(), Some("busybox"));
        for want in ["bin/busybox", "etc/passwd", "etc/group"] {
            assert!(names.iter().any(|n| n == want), "{want} missing from the layer");
        }
    }

    #[test]
    fn pseudo_random_is_deterministic_and_chunking_independent() {
        let mut a = vec![0u8; 1000];
        PseudoRandom::new(3).read_exact(&mut a).unwrap();
        let mut b = vec![0u8; 1000];
        let mut r = PseudoRandom::new(3);
        for chunk in b.chunks_mut(7) {
            r.read_exact(chunk).unwrap();
        }
        assert_eq!(a, b);
        let mut c = vec![0u8; 1000];
        PseudoRandom::new(4).read_exact(&mut c).unwrap();
        assert_ne!(a, c);
    }
}
