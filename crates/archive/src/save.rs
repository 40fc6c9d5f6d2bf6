//! `gantry save`: a docker-archive that carries an OCI image layout inside (as Docker
//! 25+ writes it, so both old and new `docker load` and every OCI tool read it), or a
//! pure OCI archive.
//!
//! The output is deterministic (fixed order, owners and times), and layer bytes are
//! copied with `io::copy` from the blob file, which the standard library turns into
//! `copy_file_range`/`sendfile` when the destination is a file or pipe.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};

use gantry_image::manifest::DockerArchiveEntry;
use gantry_image::{media, Digest, ImageConfig, Reference};
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

/// An image checked complete under the lease, ready to be written.
struct Checked {
    layers: Vec<gantry_store::LayerRecord>,
    config: Vec<u8>,
}

/// Reads an image's layers and config and checks that they agree: the image must still
/// exist, and the layers the store lists must be exactly those its config's
/// `rootfs.diff_ids` names, in order. An archive whose manifest lists fewer layers than
/// the config (`"Layers":[]` for an image removed meanwhile) would load nowhere.
fn checked(store: &Store, id: &Digest) -> Result<Checked, ArchiveError> {
    let layers = store.layers(id)?;
    let config = store.read_blob(id)?;
    let parsed = ImageConfig::parse(&config).map_err(|e| ArchiveError::BadConfig(format!("image {id}"), e))?;
    let diff_ids = &parsed.rootfs.diff_ids;
    if diff_ids.len() != layers.len() {
        return Err(ArchiveError::IncompleteImage { id: *id, config: diff_ids.len(), stored: layers.len() });
    }
    for (position, (stored, config)) in layers.iter().zip(diff_ids).enumerate() {
        if stored.diff_id != *config {
            return Err(ArchiveError::LayerMismatch { id: *id, position, stored: stored.diff_id, config: *config });
        }
    }
    Ok(Checked { layers, config })
}

/// Writes the images (each with the references to record for it) to `out`. Every
/// image is checked complete (see [`checked`]) under the lease before the first byte
/// is written, so a failed save writes nothing.
pub fn save<W: Write>(
    store: &Store,
    images: &[(Digest, Vec<Reference>)],
    out: W,
    format: SaveFormat,
) -> Result<(), ArchiveError> {
    let _lease = store.lease()?;
    let checked: Vec<Checked> = images.iter().map(|(id, _)| checked(store, id)).collect::<Result<_, _>>()?;
    let mut w = TarWriter { out };
    w.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    w.dir("blobs/")?;
    w.dir("blobs/sha256/")?;
    let mut written: HashSet<Digest> = HashSet::new();
    let mut index_entries = Vec::new();
    let mut docker_entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for ((id, refs), Checked { layers, config }) in images.iter().zip(checked) {
        let mut layer_descs = Vec::new();
        for l in &layers {
            if written.insert(l.diff_id) {
                let mut f = store.open_blob(&l.diff_id)?;
                w.blob_from_file(&l.diff_id, l.tar_size, &mut f)?;
            }
            layer_descs.push(descriptor(media::OCI_LAYER_TAR, &l.diff_id, l.tar_size));
        }
        if written.insert(*id) {
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
        if written.insert(manifest_digest) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_store::{LayerRecord, NewImage};

    /// A store holding two layer blobs and a config naming both; returns the config's
    /// digest and the layers' records.
    fn store_with_config(dir: &std::path::Path) -> (Store, Digest, Vec<LayerRecord>) {
        let store = Store::open(dir).unwrap();
        let layers: Vec<LayerRecord> = [&b"layer one"[..], b"layer two"]
            .iter()
            .map(|b| LayerRecord { diff_id: store.put_bytes(b).unwrap(), tar_size: b.len() as u64, content_size: 0 })
            .collect();
        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let id = store.put_bytes(&config).unwrap();
        (store, id, layers)
    }

    fn put(store: &mut Store, id: Digest, layers: Vec<LayerRecord>) {
        let img = NewImage { id, created_unix_nanos: 0, layers, labels: Default::default(), parent: None };
        store.put_image(&img, &[]).unwrap();
    }

    #[test]
    fn saves_a_complete_image() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, id, layers) = store_with_config(dir.path());
        put(&mut store, id, layers);
        let mut out = Vec::new();
        save(&store, &[(id, vec![])], &mut out, SaveFormat::Docker).unwrap();
        assert!(out.len() > 1024);
    }

    /// B2: an image whose stored layers fall short of its config is refused before a
    /// byte is written, never saved with `"Layers":[]` or a partial list.
    #[test]
    fn refuses_an_image_missing_layers() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, id, mut layers) = store_with_config(dir.path());
        layers.truncate(1);
        put(&mut store, id, layers);
        let mut out = Vec::new();
        let err = save(&store, &[(id, vec![])], &mut out, SaveFormat::Docker).unwrap_err().to_string();
        assert!(err.contains("lists 2 layers but the store has 1"), "{err}");
        assert!(out.is_empty(), "a refused save wrote {} bytes", out.len());
    }

    #[test]
    fn refuses_layers_out_of_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, id, mut layers) = store_with_config(dir.path());
        layers.reverse();
        put(&mut store, id, layers);
        let err = save(&store, &[(id, vec![])], Vec::new(), SaveFormat::Oci).unwrap_err().to_string();
        assert!(err.contains("layer 0 is"), "{err}");
    }

    /// An image removed after it was chosen is an error, not an image without layers.
    #[test]
    fn refuses_a_vanished_image() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id, _) = store_with_config(dir.path());
        let mut out = Vec::new();
        let err = save(&store, &[(id, vec![])], &mut out, SaveFormat::Docker).unwrap_err().to_string();
        assert!(err.contains("No such image"), "{err}");
        assert!(out.is_empty());
    }
}
