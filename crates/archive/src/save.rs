//! `gantry save`: a docker-archive that carries an OCI image layout inside (as Docker
//! 25+ writes it, so both old and new `docker load` and every OCI tool read it), or a
//! pure OCI archive.
//!
//! The output is deterministic (fixed order, owners and times), and layer bytes are
//! copied with `io::copy` from the blob file, which the standard library turns into
//! `copy_file_range`/`sendfile` when the destination is a file or pipe.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use gantry_image::manifest::DockerArchiveEntry;
use gantry_image::{media, Digest, Reference};
use gantry_store::Store;
use serde_json::{json, Value};

use crate::ArchiveError;

/// Which archive to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    /// `docker save`'s format (manifest.json), with an OCI layout alongside.
    Docker,
    /// A plain OCI image layout in a tar.
    Oci,
}

/// Writes the images (each with the references to record for it) to `out`.
pub fn save<W: Write>(
    store: &Store,
    images: &[(Digest, Vec<Reference>)],
    out: W,
    format: SaveFormat,
) -> Result<(), ArchiveError> {
    let _lease = store.lease()?;
    let mut w = TarWriter { out };
    w.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    w.dir("blobs/")?;
    w.dir("blobs/sha256/")?;
    let mut written: HashMap<Digest, ()> = HashMap::new();
    let mut index_entries = Vec::new();
    let mut docker_entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (id, refs) in images {
        let layers = store.layers(id)?;
        let mut layer_descs = Vec::new();
        for l in &layers {
            if written.insert(l.diff_id, ()).is_none() {
                let mut f = store.open_blob(&l.diff_id)?;
                w.blob_from_file(&l.diff_id, l.tar_size, &mut f)?;
            }
            layer_descs.push(descriptor(media::OCI_LAYER_TAR, &l.diff_id, l.tar_size));
        }
        let config = store.read_blob(id)?;
        if written.insert(*id, ()).is_none() {
            w.file(&blob_path(id), &config)?;
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": descriptor(media::OCI_CONFIG, id, config.len() as u64),
            "layers": layer_descs,
        });
        let manifest_bytes = to_json(&manifest)?;
        let manifest_digest = Digest::of(&manifest_bytes);
        if written.insert(manifest_digest, ()).is_none() {
            w.file(&blob_path(&manifest_digest), &manifest_bytes)?;
        }
        let tags: Vec<&Reference> = refs.iter().filter(|r| r.tag().is_some()).collect();
        if tags.is_empty() {
            index_entries.push(descriptor(media::OCI_MANIFEST, &manifest_digest, manifest_bytes.len() as u64));
        }
        for t in &tags {
            let mut d = descriptor(media::OCI_MANIFEST, &manifest_digest, manifest_bytes.len() as u64);
            // Docker 25+ writes containerd's full name and the bare tag as ref.name;
            // podman and skopeo read ref.name as the image's name, so the pure OCI
            // archive carries the full reference there.
            let ref_name = match format {
                SaveFormat::Docker => t.tag().unwrap_or("latest").to_string(),
                SaveFormat::Oci => t.to_string(),
            };
            d["annotations"] = json!({
                "io.containerd.image.name": t.to_string(),
                "org.opencontainers.image.ref.name": ref_name,
            });
            index_entries.push(d);
            if let (Some(tag), Some(top)) = (t.tag(), layers.last()) {
                repositories.entry(t.familiar_name()).or_default().insert(tag.to_string(), top.diff_id.hex());
            }
        }
        docker_entries.push(DockerArchiveEntry {
            config: blob_path(id),
            repo_tags: tags.iter().map(|t| t.familiar()).collect(),
            layers: layers.iter().map(|l| blob_path(&l.diff_id)).collect(),
            layer_sources: None,
        });
    }
    let index = json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": index_entries});
    w.file("index.json", &to_json(&index)?)?;
    if format == SaveFormat::Docker {
        w.file("manifest.json", &to_json(&docker_entries)?)?;
        if !repositories.is_empty() {
            w.file("repositories", &to_json(&json!(repositories))?)?;
        }
    }
    w.finish()
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, ArchiveError> {
    serde_json::to_vec(v).map_err(|e| ArchiveError::Write(io::Error::other(e)))
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// An OCI descriptor, written with ordered keys so the same images always give the
/// same archive bytes (oci-spec's types keep annotations in a HashMap).
fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Value {
    json!({"mediaType": media_type, "digest": digest.to_string(), "size": size})
}

/// Minimal deterministic tar writer: ustar headers, root-owned, mtime 0.
struct TarWriter<W: Write> {
    out: W,
}

impl<W: Write> TarWriter<W> {
    fn header(&mut self, path: &str, size: u64, kind: tar::EntryType, mode: u32) -> Result<(), ArchiveError> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).map_err(ArchiveError::Write)?;
        h.set_size(size);
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        self.out.write_all(h.as_bytes()).map_err(ArchiveError::Write)
    }

    fn pad(&mut self, size: u64) -> Result<(), ArchiveError> {
        let rem = (512 - (size % 512) as usize) % 512;
        self.out.write_all(&[0u8; 512][..rem]).map_err(ArchiveError::Write)
    }

    fn dir(&mut self, path: &str) -> Result<(), ArchiveError> {
        self.header(path, 0, tar::EntryType::Directory, 0o755)
    }

    fn file(&mut self, path: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.header(path, bytes.len() as u64, tar::EntryType::Regular, 0o644)?;
        self.out.write_all(bytes).map_err(ArchiveError::Write)?;
        self.pad(bytes.len() as u64)
    }

    fn blob_from_file(&mut self, digest: &Digest, size: u64, f: &mut std::fs::File) -> Result<(), ArchiveError> {
        self.header(&blob_path(digest), size, tar::EntryType::Regular, 0o644)?;
        let copied = io::copy(&mut io::Read::take(f, size), &mut self.out).map_err(ArchiveError::Write)?;
        if copied != size {
            return Err(ArchiveError::Store(gantry_store::StoreError::Corrupt(format!(
                "blob {digest} is {copied} bytes, expected {size}"
            ))));
        }
        self.pad(size)
    }

    fn finish(mut self) -> Result<(), ArchiveError> {
        self.out.write_all(&[0u8; 1024]).map_err(ArchiveError::Write)?;
        self.out.flush().map_err(ArchiveError::Write)
    }
}
