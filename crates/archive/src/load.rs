//! `gantry load`: read an archive in one pass (linking its layers into the store as it
//! goes), verify every image completely, then record all of them in one transaction.
//! A failed load removes the blobs it created, so it leaves the store as it was.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;

use gantry_image::manifest::{DockerArchiveEntry, ImageIndex, ImageManifest};
use gantry_image::{media, Digest, ImageConfig, Reference};
use gantry_store::{LayerRecord, NewImage, Store, Tagged};

use crate::error::excerpt;
use crate::walk::{walk, Contents, Created};
use crate::ArchiveError;

/// Most descriptors an OCI `index.json` and the indexes nested in it may list
/// together. Each index is expanded once however often it is named, so this bounds the
/// work of a hostile nesting; real archives list a handful.
const MAX_DESCRIPTORS: usize = 10_000;

/// How deep indexes may nest below `index.json` (buildx writes index -> index ->
/// manifest).
const MAX_INDEX_DEPTH: usize = 4;

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

/// Loads every image of a docker-archive or OCI archive (plain, gzip, zstd or xz),
/// all in one transaction: on any error no image, tag or new blob is added.
pub fn load<R: Read>(store: &mut Store, input: R) -> Result<Vec<Loaded>, ArchiveError> {
    let _lease = store.lease()?;
    let mut created = Created::new();
    match load_leased(store, input, &mut created) {
        Ok((loaded, used)) => {
            // Layers no manifest names (a stray tar in the archive) are not kept.
            let unused: Vec<Digest> = created.difference(&used).copied().collect();
            remove_created(store, &unused);
            Ok(loaded)
        }
        Err(e) => {
            let all: Vec<Digest> = created.into_iter().collect();
            remove_created(store, &all);
            Err(e)
        }
    }
}

/// Removes blobs this load created, best effort (what stays is garbage the next GC
/// collects). The store keeps any that metadata names meanwhile: another load that
/// found one already present may have recorded an image using it.
fn remove_created(store: &mut Store, digests: &[Digest]) {
    if !digests.is_empty() {
        let _ = store.remove_blobs_unless_referenced(digests);
    }
}

/// The load proper, under the caller's lease. Returns the images and every blob they
/// use; `created` collects the blobs it linked into the store, whether it succeeds or
/// not.
fn load_leased<R: Read>(
    store: &mut Store,
    input: R,
    created: &mut Created,
) -> Result<(Vec<Loaded>, HashSet<Digest>), ArchiveError> {
    let mut contents = walk(store, input, created)?;
    let found = if contents.small.contains_key("manifest.json") {
        docker_images(&contents)?
    } else if contents.small.contains_key("index.json") {
        oci_images(&contents)?
    } else {
        return Err(ArchiveError::NotAnImageArchive);
    };
    // Verify every layer against its image config before any image is recorded.
    let mut used = HashSet::new();
    let mut records = Vec::new();
    for img in &found {
        let diff_ids = &img.parsed.rootfs.diff_ids;
        if diff_ids.len() != img.layer_paths.len() {
            return Err(ArchiveError::LayerCount(img.config_digest.to_string(), diff_ids.len(), img.layer_paths.len()));
        }
        let named_by = format!("image {}", img.config_digest);
        let mut layers = Vec::new();
        for (path, expected) in img.layer_paths.iter().zip(diff_ids) {
            let claimed = blob_name_digest(contents.resolve(path));
            let info = contents.layer(store, path, &named_by, created)?;
            if let Some(claimed) = claimed {
                if claimed != info.source_digest && claimed != info.diff_id {
                    return Err(ArchiveError::DigestMismatch {
                        path: excerpt(path),
                        expected: claimed.to_string(),
                        actual: info.source_digest,
                    });
                }
            }
            if info.diff_id != *expected {
                return Err(ArchiveError::DiffIdMismatch {
                    path: excerpt(path),
                    expected: *expected,
                    actual: info.diff_id,
                });
            }
            used.insert(info.diff_id);
            layers.push(LayerRecord {
                diff_id: info.diff_id,
                tar_size: info.tar_size,
                content_size: info.content_size,
            });
        }
        records.push(layers);
    }
    // Everything verified: the configs become blobs, then all images are recorded in
    // one transaction, so the archive appears whole or not at all.
    let mut batch = Vec::new();
    for (img, layers) in found.into_iter().zip(records) {
        if !store.has_blob(&img.config_digest) {
            store.put_bytes(&img.config)?;
            created.insert(img.config_digest);
        }
        used.insert(img.config_digest);
        let new = NewImage {
            id: img.config_digest,
            created_unix_nanos: img.parsed.created_unix_nanos(),
            layers,
            labels: img.parsed.labels().cloned().unwrap_or_default(),
            parent: None,
        };
        batch.push((new, img.refs));
    }
    let tagged = store.put_images(&batch)?;
    let loaded = batch.iter().zip(tagged).map(|((img, _), tags)| Loaded { id: img.id, tags }).collect();
    Ok((loaded, used))
}

/// `blobs/sha256/<hex>` names its own digest; other paths claim nothing.
fn blob_name_digest(path: &str) -> Option<Digest> {
    let hex = path.strip_prefix("blobs/sha256/")?;
    Digest::from_hex(hex).ok()
}

fn json<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, ArchiveError> {
    serde_json::from_slice(bytes).map_err(|e| ArchiveError::Json(excerpt(what), excerpt(&e.to_string())))
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
                path: excerpt(path),
                expected: claimed.to_string(),
                actual: digest,
            });
        }
    }
    let parsed = ImageConfig::parse(&bytes).map_err(|e| ArchiveError::BadConfig(excerpt(path), e))?;
    Ok((bytes, digest, parsed))
}

fn docker_images(contents: &Contents) -> Result<Vec<Found>, ArchiveError> {
    let entries: Vec<DockerArchiveEntry> = json(contents.small_file("manifest.json", "the archive")?, "manifest.json")?;
    let mut found = Vec::new();
    for entry in entries {
        let (config, config_digest, parsed) = config_at(contents, &entry.config, None, "manifest.json")?;
        let mut refs = Vec::new();
        for tag in &entry.repo_tags {
            let r = Reference::parse(tag).map_err(|e| ArchiveError::BadReference(excerpt(tag), e))?;
            refs.push(r.with_default_tag());
        }
        found.push(Found { config, config_digest, parsed, layer_paths: entry.layers, refs });
    }
    Ok(found)
}

/// A descriptor's digest, or an error naming where it was found.
fn descriptor_digest(desc: &oci_spec::image::Descriptor, in_file: &str) -> Result<Digest, ArchiveError> {
    desc.digest().to_string().parse().map_err(|_| {
        ArchiveError::Json(in_file.to_string(), format!("unsupported digest {}", excerpt(desc.digest().as_ref())))
    })
}

/// Collects image manifests from an OCI index, following nested indexes (buildx writes
/// index -> index -> manifest) up to [`MAX_INDEX_DEPTH`] levels.
///
/// Each index and manifest blob is hashed and parsed once, however many descriptors
/// name it, and all indexes together may list at most [`MAX_DESCRIPTORS`]: without
/// both, indexes that each name the next one many times make the work exponential.
fn oci_images(contents: &Contents) -> Result<Vec<Found>, ArchiveError> {
    let index: ImageIndex = json(contents.small_file("index.json", "the archive")?, "index.json")?;
    let mut listed = index.manifests().len();
    if listed > MAX_DESCRIPTORS {
        return Err(ArchiveError::TooManyDescriptors(MAX_DESCRIPTORS));
    }
    let mut pending: Vec<(oci_spec::image::Descriptor, usize)> =
        index.manifests().iter().map(|d| (d.clone(), 0)).collect();
    // Blobs already read and checked against their digest, and indexes expanded.
    let mut verified: HashSet<Digest> = HashSet::new();
    let mut expanded: HashSet<Digest> = HashSet::new();
    let mut by_manifest: BTreeMap<Digest, Found> = BTreeMap::new();
    let mut order = Vec::new();
    while let Some((desc, depth)) = pending.pop() {
        let digest = descriptor_digest(&desc, "index.json")?;
        let path = format!("blobs/sha256/{}", digest.hex());
        let bytes = contents.small_file(&path, "index.json")?;
        if verified.insert(digest) {
            let actual = Digest::of(bytes);
            if actual != digest {
                return Err(ArchiveError::DigestMismatch { path, expected: digest.to_string(), actual });
            }
        }
        let media_type = desc.media_type().to_string();
        match media::kind(&media_type) {
            Some(media::Kind::Index) if depth < MAX_INDEX_DEPTH => {
                if !expanded.insert(digest) {
                    continue; // its manifests are already pending or collected
                }
                let nested: ImageIndex = json(bytes, &path)?;
                listed = listed.saturating_add(nested.manifests().len());
                if listed > MAX_DESCRIPTORS {
                    return Err(ArchiveError::TooManyDescriptors(MAX_DESCRIPTORS));
                }
                pending.extend(nested.manifests().iter().map(|d| (d.clone(), depth + 1)));
            }
            Some(media::Kind::Manifest) => {
                let name = descriptor_ref(&desc)?;
                if let Some(f) = by_manifest.get_mut(&digest) {
                    f.refs.extend(name.filter(|n| !f.refs.contains(n)));
                    continue;
                }
                let manifest: ImageManifest = json(bytes, &path)?;
                let cfg_desc = manifest.config();
                let cfg_media = cfg_desc.media_type().to_string();
                if media::kind(&cfg_media) != Some(media::Kind::Config) {
                    return Err(ArchiveError::UnknownMediaType(format!("config of {path}"), excerpt(&cfg_media)));
                }
                let cfg_digest = descriptor_digest(cfg_desc, &path)?;
                let cfg_path = format!("blobs/sha256/{}", cfg_digest.hex());
                let (config, config_digest, parsed) = config_at(contents, &cfg_path, Some(cfg_digest), &path)?;
                let mut layer_paths = Vec::new();
                for l in manifest.layers() {
                    let lm = l.media_type().to_string();
                    if media::kind(&lm) != Some(media::Kind::Layer) {
                        return Err(ArchiveError::UnknownMediaType(
                            format!("layer {} of {path}", excerpt(l.digest().as_ref())),
                            excerpt(&lm),
                        ));
                    }
                    let ld = descriptor_digest(l, &path)?;
                    layer_paths.push(format!("blobs/sha256/{}", ld.hex()));
                }
                order.push(digest);
                by_manifest.insert(
                    digest,
                    Found { config, config_digest, parsed, layer_paths, refs: name.into_iter().collect() },
                );
            }
            _ => {
                return Err(ArchiveError::UnknownMediaType(
                    format!("manifest {digest} in index.json"),
                    excerpt(&media_type),
                ))
            }
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
            let r = Reference::parse(n).map_err(|e| ArchiveError::BadReference(excerpt(n), e))?;
            Ok(Some(r.with_default_tag()))
        }
        None => Ok(None),
    }
}
