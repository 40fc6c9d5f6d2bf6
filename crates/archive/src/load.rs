//! `gantry load`: verify an archive completely, then commit its blobs and metadata.

use std::collections::BTreeMap;
use std::io::Read;

use gantry_image::manifest::{DockerArchiveEntry, ImageIndex, ImageManifest};
use gantry_image::{media, Digest, ImageConfig, Reference};
use gantry_store::{LayerRecord, NewImage, Store, Tagged};

use crate::walk::{walk, Contents};
use crate::ArchiveError;

/// One image an archive held, and the references now pointing at it.
#[derive(Debug)]
pub struct Loaded {
    pub id: Digest,
    pub tags: Vec<Tagged>,
}

/// An image found in the archive and fully verified, not yet committed.
struct Found {
    config: Vec<u8>,
    config_digest: Digest,
    parsed: ImageConfig,
    layer_paths: Vec<String>,
    refs: Vec<Reference>,
}

/// Loads every image of a docker-archive or OCI archive (plain, gzip, zstd or xz).
/// On any error nothing is added to the store.
pub fn load<R: Read>(store: &mut Store, input: R) -> Result<Vec<Loaded>, ArchiveError> {
    let _lease = store.lease()?;
    store.sweep_ingest()?;
    let mut contents = walk(store, input)?;
    let found = if contents.small.contains_key("manifest.json") {
        docker_images(&contents)?
    } else if contents.small.contains_key("index.json") {
        oci_images(&contents)?
    } else {
        return Err(ArchiveError::NotAnImageArchive);
    };
    // Verify every layer against its image config before anything is committed.
    let mut records = Vec::new();
    for img in &found {
        let diff_ids = &img.parsed.rootfs.diff_ids;
        if diff_ids.len() != img.layer_paths.len() {
            return Err(ArchiveError::LayerCount(img.config_digest.to_string(), diff_ids.len(), img.layer_paths.len()));
        }
        let mut layers = Vec::new();
        for (path, expected) in img.layer_paths.iter().zip(diff_ids) {
            let claimed = blob_name_digest(contents.resolve(path));
            let staged = contents.layer(store, path, &format!("image {}", img.config_digest))?;
            if let Some(claimed) = claimed {
                if claimed != staged.info.source_digest && claimed != staged.info.diff_id {
                    return Err(ArchiveError::DigestMismatch {
                        path: path.clone(),
                        expected: claimed.to_string(),
                        actual: staged.info.source_digest,
                    });
                }
            }
            if staged.info.diff_id != *expected {
                return Err(ArchiveError::DiffIdMismatch {
                    path: path.clone(),
                    expected: *expected,
                    actual: staged.info.diff_id,
                });
            }
            layers.push(LayerRecord {
                diff_id: staged.info.diff_id,
                tar_size: staged.info.tar_size,
                content_size: staged.info.content_size,
            });
        }
        records.push(layers);
    }
    // Everything verified: make the blobs visible, then the metadata.
    for staged in contents.layers.values_mut() {
        if let Some(ingest) = staged.ingest.take() {
            ingest.commit(&staged.info.diff_id)?;
        }
    }
    let mut loaded = Vec::new();
    for (img, layers) in found.into_iter().zip(records) {
        store.put_bytes(&img.config)?;
        let new = NewImage {
            id: img.config_digest,
            created_unix_nanos: created_nanos(&img.parsed),
            layers,
            labels: img.parsed.labels().cloned().unwrap_or_default(),
            parent: None,
        };
        let tags = store.put_image(&new, &img.refs)?;
        loaded.push(Loaded { id: img.config_digest, tags });
    }
    Ok(loaded)
}

/// Unix nanoseconds of the config's `created`, 0 when absent or unparsable (docker
/// shows such images as created long ago rather than refusing them).
pub(crate) fn created_nanos(cfg: &ImageConfig) -> i64 {
    cfg.created
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
}

/// `blobs/sha256/<hex>` names its own digest; other paths claim nothing.
fn blob_name_digest(path: &str) -> Option<Digest> {
    let hex = path.strip_prefix("blobs/sha256/")?;
    Digest::from_hex(hex).ok()
}

fn json<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, ArchiveError> {
    serde_json::from_slice(bytes).map_err(|e| ArchiveError::Json(what.to_string(), e.to_string()))
}

/// Reads a config and checks it against the digest its path (or descriptor) claims.
fn config_at(
    contents: &Contents,
    path: &str,
    claimed: Option<Digest>,
    named_by: &str,
) -> Result<(Vec<u8>, Digest, ImageConfig), ArchiveError> {
    let bytes = contents.small_file(path, named_by)?.to_vec();
    let digest = Digest::of(&bytes);
    if let Some(claimed) = claimed.or_else(|| blob_name_digest(contents.resolve(path))) {
        if claimed != digest {
            return Err(ArchiveError::DigestMismatch {
                path: path.to_string(),
                expected: claimed.to_string(),
                actual: digest,
            });
        }
    }
    let parsed = ImageConfig::parse(&bytes).map_err(|e| ArchiveError::BadConfig(path.to_string(), e))?;
    Ok((bytes, digest, parsed))
}

fn docker_images(contents: &Contents) -> Result<Vec<Found>, ArchiveError> {
    let entries: Vec<DockerArchiveEntry> = json(contents.small_file("manifest.json", "the archive")?, "manifest.json")?;
    let mut found = Vec::new();
    for entry in entries {
        let (config, config_digest, parsed) = config_at(contents, &entry.config, None, "manifest.json")?;
        let mut refs = Vec::new();
        for tag in &entry.repo_tags {
            let r = Reference::parse(tag).map_err(|e| ArchiveError::BadReference(tag.clone(), e))?;
            refs.push(r.with_default_tag());
        }
        found.push(Found { config, config_digest, parsed, layer_paths: entry.layers, refs });
    }
    Ok(found)
}

/// Collects image manifests from an OCI index, following nested indexes one level
/// deep per step (buildx writes index -> index -> manifest).
fn oci_images(contents: &Contents) -> Result<Vec<Found>, ArchiveError> {
    let index: ImageIndex = json(contents.small_file("index.json", "the archive")?, "index.json")?;
    let mut pending: Vec<(oci_spec::image::Descriptor, usize)> =
        index.manifests().iter().map(|d| (d.clone(), 0)).collect();
    let mut by_manifest: BTreeMap<Digest, Found> = BTreeMap::new();
    let mut order = Vec::new();
    while let Some((desc, depth)) = pending.pop() {
        let digest: Digest =
            desc.digest().to_string().parse().map_err(|_| {
                ArchiveError::Json("index.json".into(), format!("unsupported digest {}", desc.digest()))
            })?;
        let path = format!("blobs/sha256/{}", digest.hex());
        let bytes = contents.small_file(&path, "index.json")?;
        let actual = Digest::of(bytes);
        if actual != digest {
            return Err(ArchiveError::DigestMismatch { path, expected: digest.to_string(), actual });
        }
        let media_type = desc.media_type().to_string();
        match media::kind(&media_type) {
            Some(media::Kind::Index) if depth < 4 => {
                let nested: ImageIndex = json(bytes, &path)?;
                pending.extend(nested.manifests().iter().map(|d| (d.clone(), depth + 1)));
            }
            Some(media::Kind::Manifest) => {
                let name = descriptor_ref(&desc)?;
                if let Some(f) = by_manifest.get_mut(&digest) {
                    f.refs.extend(name);
                    continue;
                }
                let manifest: ImageManifest = json(bytes, &path)?;
                let cfg_desc = manifest.config();
                let cfg_media = cfg_desc.media_type().to_string();
                if media::kind(&cfg_media) != Some(media::Kind::Config) {
                    return Err(ArchiveError::UnknownMediaType(format!("config of {path}"), cfg_media));
                }
                let cfg_digest: Digest = cfg_desc.digest().to_string().parse().map_err(|_| {
                    ArchiveError::Json(path.clone(), format!("unsupported digest {}", cfg_desc.digest()))
                })?;
                let cfg_path = format!("blobs/sha256/{}", cfg_digest.hex());
                let (config, config_digest, parsed) = config_at(contents, &cfg_path, Some(cfg_digest), &path)?;
                let mut layer_paths = Vec::new();
                for l in manifest.layers() {
                    let lm = l.media_type().to_string();
                    if media::kind(&lm) != Some(media::Kind::Layer) {
                        return Err(ArchiveError::UnknownMediaType(format!("layer {} of {path}", l.digest()), lm));
                    }
                    let ld: Digest =
                        l.digest().to_string().parse().map_err(|_| {
                            ArchiveError::Json(path.clone(), format!("unsupported digest {}", l.digest()))
                        })?;
                    layer_paths.push(format!("blobs/sha256/{}", ld.hex()));
                }
                order.push(digest);
                by_manifest.insert(
                    digest,
                    Found { config, config_digest, parsed, layer_paths, refs: name.into_iter().collect() },
                );
            }
            _ => return Err(ArchiveError::UnknownMediaType(format!("manifest {digest} in index.json"), media_type)),
        }
    }
    Ok(order.into_iter().rev().filter_map(|d| by_manifest.remove(&d)).collect())
}

/// The name an index entry gives its image: containerd's full-name annotation, or an
/// OCI `ref.name` that is a full reference. A bare tag (`latest`) names no repository,
/// so such an image loads untagged, as docker does.
fn descriptor_ref(desc: &oci_spec::image::Descriptor) -> Result<Option<Reference>, ArchiveError> {
    let Some(ann) = desc.annotations() else { return Ok(None) };
    let name = ann
        .get("io.containerd.image.name")
        .or_else(|| ann.get("org.opencontainers.image.ref.name").filter(|n| n.contains('/') || n.contains(':')));
    match name {
        Some(n) => {
            let r = Reference::parse(n).map_err(|e| ArchiveError::BadReference(n.clone(), e))?;
            Ok(Some(r.with_default_tag()))
        }
        None => Ok(None),
    }
}
