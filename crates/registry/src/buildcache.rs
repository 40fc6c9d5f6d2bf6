//! Build cache export and import through a registry (`build --cache-to/--cache-from
//! type=registry,ref=R`), so a fleet of machines shares one build cache.
//!
//! The cache is stored at `R` as an OCI image manifest:
//! - `config` is a small JSON document of type [`CACHE_CONFIG_MEDIA_TYPE`] (see
//!   [`CacheConfig`]): every exported record (its content-addressed step key, the image
//!   config after the step, and that config's layers by DiffID), and for every DiffID
//!   the descriptor of its compressed blob in `R`'s repository;
//! - `layers` lists every blob the cache names (compressed layers, then the records'
//!   image configs), so the registry keeps them and a registry's garbage collection
//!   sees them referenced.
//!
//! Step keys are machine-independent (they hash instructions, used build args and
//! source content), so a record made on one machine is a valid hit on another.
//!
//! Import is eager and all-or-nothing: the cache config is checked whole (bounded
//! sizes, well-formed digests, every DiffID described) before anything is fetched, every
//! blob is verified (configs by digest and against their record's layers, layers by
//! blob digest and DiffID), and records are written only once all their blobs are in
//! the store. A record the store already has is kept as it is (local results win).
//! Whoever can write to `R` decides what its records contain: share a cache only
//! through a repository writable by builders you trust, as with BuildKit.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures_util::{stream, StreamExt, TryStreamExt};
use gantry_image::{media, Digest, ImageConfig, Reference};
use gantry_store::{CacheRecord, LayerRecord, Store};

use crate::client::{Registry, MAX_MANIFEST};
use crate::manifest::{self, excerpt, Descriptor, Parsed};
use crate::progress::Progress;
use crate::pull::{fetch_layers, fetch_small};
use crate::push::{push_bytes, push_layers, PushOptions};
use crate::RegistryError;

/// Media type of the manifest config that makes an OCI manifest a gantry build cache.
pub const CACHE_CONFIG_MEDIA_TYPE: &str = "application/vnd.gantry.buildcache.config.v1+json";
/// BuildKit's cache config, recognized only to say why it cannot be imported.
const BUILDKIT_CACHE_CONFIG: &str = "application/vnd.buildkit.cacheconfig.v0";

/// The `schemaVersion` of the cache config this code writes and reads.
const SCHEMA_VERSION: u32 = 1;
/// Largest cache config accepted (about 40 000 records of a few layers each).
const MAX_CACHE_CONFIG: usize = 16 << 20;
/// Most records one cache may hold.
const MAX_RECORDS: usize = 100_000;
/// Most layers one record may have (overlayfs stacks stop far below this).
const MAX_RECORD_LAYERS: usize = 1_000;
/// Largest image config accepted (as for a pull).
const MAX_IMAGE_CONFIG: usize = 8 << 20;

/// The cache config: what the manifest's config blob holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CacheConfig {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    pub records: Vec<CacheEntry>,
    /// The blob of every DiffID the records name, keyed by DiffID.
    pub layers: BTreeMap<String, Descriptor>,
}

/// One build-cache record as exported.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CacheEntry {
    /// The step's content-addressed key.
    pub key: String,
    /// The image config after the step (a blob in the same repository).
    pub config: Descriptor,
    /// The config's layers, by DiffID, bottom first.
    pub layers: Vec<String>,
}

/// How an export or import transfers blobs.
pub struct CacheOptions<'a> {
    /// Blobs transferred at once.
    pub concurrency: usize,
    pub progress: &'a dyn Progress,
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The cache manifest's digest.
    pub digest: Digest,
    pub records: usize,
    pub layers: usize,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// Records written to the store.
    pub records: usize,
    /// Records the store had already (left as they were).
    pub present: usize,
    /// Layers downloaded (the others were in the store).
    pub layers_fetched: usize,
}

/// A cache record checked for import.
#[derive(Debug, Clone)]
struct Checked {
    key: Digest,
    config: Descriptor,
    config_digest: Digest,
    layers: Vec<Digest>,
}

/// The cache config read and checked: records, and the blob of every DiffID they use.
#[derive(Debug)]
struct CheckedCache {
    records: Vec<Checked>,
    layers: HashMap<Digest, Descriptor>,
}

fn tag_of(reference: &Reference) -> Result<String, RegistryError> {
    if reference.digest().is_some() {
        return Err(RegistryError::Unsupported(format!(
            "{}: a cache is exported to a tag, not a digest",
            reference.familiar()
        )));
    }
    Ok(reference.tag().unwrap_or("latest").to_string())
}

/// Gzip layers are described with the OCI type: the manifest is an OCI one (the bytes
/// are the same as docker's type describes).
fn oci_layer(mut d: Descriptor) -> Descriptor {
    if d.media_type == media::DOCKER_LAYER_GZIP {
        d.media_type = media::OCI_LAYER_GZIP.to_string();
    }
    d
}

fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: digest.to_string(),
        size: size as i64,
        platform: None,
        urls: None,
    }
}

/// Pushes `records` (and every blob they name) to `reference` as one cache manifest,
/// replacing what the tag held. The records' blobs must be in the store.
pub async fn export(
    store: &Store,
    reg: &Registry,
    reference: &Reference,
    records: &[CacheRecord],
    opts: &CacheOptions<'_>,
) -> Result<Exported, RegistryError> {
    let _lease = store.lease()?;
    let repo = reference.path().to_string();
    let tag = tag_of(reference)?;
    // Sorted by key: the same records give the same manifest, wherever they were made.
    let mut records: Vec<&CacheRecord> = records.iter().collect();
    records.sort_by_key(|r| r.key);
    records.dedup_by_key(|r| r.key);

    let mut seen = BTreeSet::new();
    let layers: Vec<LayerRecord> =
        records.iter().flat_map(|r| r.layers.iter()).filter(|l| seen.insert(l.diff_id)).cloned().collect();
    let pushed = push_layers(
        store,
        reg,
        &repo,
        &layers,
        &PushOptions { concurrency: opts.concurrency, chunk_size: 0, progress: opts.progress },
    )
    .await?;
    let by_diff_id: BTreeMap<Digest, Descriptor> =
        layers.iter().map(|l| l.diff_id).zip(pushed.into_iter().map(oci_layer)).collect();

    // The image configs, uploaded unless the repository has them.
    let mut configs: Vec<Digest> = records.iter().map(|r| r.config).collect();
    configs.sort();
    configs.dedup();
    let repo_ref = repo.as_str();
    let config_descs: BTreeMap<Digest, Descriptor> = stream::iter(configs.iter().map(|d| async move {
        let bytes = store.read_blob(d)?;
        push_bytes(reg, repo_ref, d, &bytes).await?;
        Ok::<_, RegistryError>((*d, descriptor(media::OCI_CONFIG, d, bytes.len() as u64)))
    }))
    .buffer_unordered(opts.concurrency.max(1))
    .try_collect()
    .await?;

    let mut entries = Vec::with_capacity(records.len());
    for r in &records {
        let config = config_descs.get(&r.config).cloned().ok_or_else(|| {
            RegistryError::Protocol(format!("cache record {}: config {} was not pushed", r.key, r.config))
        })?;
        entries.push(CacheEntry {
            key: r.key.to_string(),
            config,
            layers: r.layers.iter().map(|l| l.diff_id.to_string()).collect(),
        });
    }
    let cache = CacheConfig {
        schema_version: SCHEMA_VERSION,
        records: entries,
        layers: by_diff_id.iter().map(|(d, desc)| (d.to_string(), desc.clone())).collect(),
    };
    let cache_bytes = serde_json::to_vec(&cache).map_err(|e| RegistryError::Protocol(e.to_string()))?;
    if cache_bytes.len() > MAX_CACHE_CONFIG {
        return Err(RegistryError::Unsupported(format!(
            "the build cache has too many records to export at once ({}); try mode=min",
            records.len()
        )));
    }
    let cache_digest = Digest::of(&cache_bytes);
    push_bytes(reg, &repo, &cache_digest, &cache_bytes).await?;

    // Every blob is referenced, so the registry keeps (and its GC spares) them all.
    let referenced: Vec<Descriptor> =
        layers.iter().filter_map(|l| by_diff_id.get(&l.diff_id).cloned()).chain(config_descs.into_values()).collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": descriptor(CACHE_CONFIG_MEDIA_TYPE, &cache_digest, cache_bytes.len() as u64),
        "layers": referenced,
    });
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| RegistryError::Protocol(e.to_string()))?;
    if bytes.len() > MAX_MANIFEST {
        return Err(RegistryError::Unsupported(format!(
            "the build cache names too many blobs for one manifest ({}); try mode=min",
            manifest["layers"].as_array().map_or(0, Vec::len)
        )));
    }
    let digest = reg.put_manifest(&repo, &tag, media::OCI_MANIFEST, &bytes).await?;
    Ok(Exported { digest, records: records.len(), layers: layers.len() })
}

/// Fetches the cache at `reference` and records it in the store: see the module
/// documentation. A missing manifest is [`RegistryError::ManifestUnknown`] (or the
/// registry's `NAME_UNKNOWN`); callers treat a failed import as a warning.
pub async fn import(
    store: &mut Store,
    reg: &Registry,
    reference: &Reference,
    opts: &CacheOptions<'_>,
) -> Result<Imported, RegistryError> {
    let repo = reference.path().to_string();
    let wanted = manifest::reference_in_repository(reference);
    let familiar = reference.familiar();
    let name = familiar.as_str();
    let top = reg.get_manifest(&repo, &wanted).await?;
    let manifest = match manifest::parse(&top.media_type, &top.bytes)? {
        Parsed::Image(m) => m,
        Parsed::Index(_) => {
            return Err(RegistryError::Unsupported(format!("{name} is an image index, not a gantry build cache")))
        }
    };
    match manifest.config.media_type.as_str() {
        CACHE_CONFIG_MEDIA_TYPE => {}
        BUILDKIT_CACHE_CONFIG => {
            return Err(RegistryError::Unsupported(format!("{name} is a BuildKit cache, which gantry cannot import")))
        }
        other => {
            return Err(RegistryError::Unsupported(format!(
                "{name} is not a gantry build cache (its config type is {:?})",
                excerpt(other)
            )))
        }
    }
    let cache_bytes = fetch_small(reg, &repo, &manifest.config, MAX_CACHE_CONFIG).await?;
    let cache =
        check(&cache_bytes).map_err(|e| RegistryError::Protocol(format!("{name}: invalid build cache: {e}")))?;

    let _lease = store.lease()?;
    let mut out = Imported::default();
    let mut todo = Vec::new();
    for r in cache.records {
        if store.cache_peek(&r.key)?.is_some() {
            out.present += 1;
        } else {
            todo.push(r);
        }
    }
    if todo.is_empty() {
        return Ok(out);
    }

    // Image configs: each verified, and checked to name exactly its records' layers.
    let mut wanted_layers: HashMap<Digest, Vec<Vec<Digest>>> = HashMap::new();
    for r in &todo {
        wanted_layers.entry(r.config_digest).or_default().push(r.layers.clone());
    }
    let mut configs: Vec<(Digest, Descriptor)> = todo.iter().map(|r| (r.config_digest, r.config.clone())).collect();
    configs.sort_by_key(|(d, _)| *d);
    configs.dedup_by_key(|(d, _)| *d);
    let shared: &Store = &*store;
    let wanted_layers = &wanted_layers;
    let repo_ref = repo.as_str();
    stream::iter(configs.into_iter().map(|(digest, desc)| async move {
        let bytes = match shared.has_blob(&digest) {
            true => shared.read_blob(&digest)?,
            false => fetch_small(reg, repo_ref, &desc, MAX_IMAGE_CONFIG).await?,
        };
        let config = ImageConfig::parse(&bytes)
            .map_err(|e| RegistryError::Protocol(format!("{name}: cached image config {digest}: {e}")))?;
        for layers in wanted_layers.get(&digest).into_iter().flatten() {
            if &config.rootfs.diff_ids != layers {
                return Err(RegistryError::Protocol(format!(
                    "{name}: invalid build cache: image config {digest} does not have its record's layers"
                )));
            }
        }
        if !shared.has_blob(&digest) {
            shared.put_bytes(&bytes)?;
        }
        Ok(())
    }))
    .buffer_unordered(opts.concurrency.max(1))
    .try_collect::<Vec<()>>()
    .await?;

    // Layers: the store's own where it has them, the others downloaded and verified.
    let mut known: HashMap<Digest, LayerRecord> = HashMap::new();
    let mut jobs = Vec::new();
    let mut queued = BTreeSet::new();
    for d in todo.iter().flat_map(|r| r.layers.iter()) {
        if known.contains_key(d) || queued.contains(d) {
            continue;
        }
        match store.layer_record(d)? {
            Some(l) => {
                known.insert(*d, l);
            }
            None => {
                let desc = cache.layers.get(d).cloned().ok_or_else(|| {
                    RegistryError::Protocol(format!("{name}: invalid build cache: layer {d} is not described"))
                })?;
                queued.insert(*d);
                jobs.push((desc, *d));
            }
        }
    }
    out.layers_fetched = jobs.len();
    let fetched = fetch_layers(store, reg, &repo, jobs, opts.concurrency, opts.progress, &Default::default()).await?;
    known.extend(fetched.into_iter().map(|l| (l.diff_id, l)));

    // Every blob is in: record.
    for r in &todo {
        let layers = r
            .layers
            .iter()
            .map(|d| known.get(d).cloned().ok_or_else(|| RegistryError::Protocol(format!("layer {d} was not fetched"))))
            .collect::<Result<Vec<_>, _>>()?;
        store.cache_put(&r.key, &r.config_digest, &layers)?;
        out.records += 1;
    }
    Ok(out)
}

/// Parses and checks a cache config whole, before anything is fetched: sizes within
/// bounds, every digest well-formed, every DiffID described, no key twice.
fn check(bytes: &[u8]) -> Result<CheckedCache, String> {
    let cache: CacheConfig = serde_json::from_slice(bytes).map_err(|e| format!("malformed cache config: {e}"))?;
    if cache.schema_version != SCHEMA_VERSION {
        return Err(format!("unsupported cache schema version {}", cache.schema_version));
    }
    if cache.records.len() > MAX_RECORDS {
        return Err(format!("{} records (at most {MAX_RECORDS} are accepted)", cache.records.len()));
    }
    let digest = |what: &str, s: &str| {
        s.parse::<Digest>().map_err(|_| format!("{what} {:?} is not a sha256 digest", excerpt(s)))
    };
    let mut layers = HashMap::new();
    for (diff_id, desc) in &cache.layers {
        let diff_id = digest("DiffID", diff_id)?;
        digest("layer digest", &desc.digest)?;
        if desc.size < 0 {
            return Err(format!("layer {diff_id} has a negative size"));
        }
        if desc.urls.as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(format!("layer {diff_id} names external URLs"));
        }
        layers.insert(diff_id, desc.clone());
    }
    let mut keys = BTreeSet::new();
    let mut records = Vec::with_capacity(cache.records.len());
    for r in cache.records {
        let key = digest("key", &r.key)?;
        if !keys.insert(key) {
            return Err(format!("key {key} appears twice"));
        }
        let config_digest = digest("config digest", &r.config.digest)?;
        if !(0..=MAX_IMAGE_CONFIG as i64).contains(&r.config.size) {
            return Err(format!("record {key}: config size {} is out of bounds", r.config.size));
        }
        if r.layers.len() > MAX_RECORD_LAYERS {
            return Err(format!("record {key} has {} layers (at most {MAX_RECORD_LAYERS})", r.layers.len()));
        }
        let mut record_layers = Vec::with_capacity(r.layers.len());
        for l in &r.layers {
            let d = digest("DiffID", l)?;
            if !layers.contains_key(&d) {
                return Err(format!("record {key} names layer {d}, which the cache does not describe"));
            }
            record_layers.push(d);
        }
        records.push(Checked { key, config: r.config, config_digest, layers: record_layers });
    }
    Ok(CheckedCache { records, layers })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    fn valid() -> serde_json::Value {
        serde_json::json!({
            "schemaVersion": 1,
            "records": [{
                "key": A,
                "config": {"mediaType": media::OCI_CONFIG, "digest": B, "size": 10},
                "layers": [C],
            }],
            "layers": {C: {"mediaType": media::OCI_LAYER_GZIP, "digest": A, "size": 5}},
        })
    }

    fn check_json(v: &serde_json::Value) -> Result<CheckedCache, String> {
        check(&serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn reads_what_export_writes() {
        let cache = check_json(&valid()).unwrap();
        assert_eq!(cache.records.len(), 1);
        assert_eq!(cache.records[0].key, A.parse().unwrap());
        assert_eq!(cache.records[0].layers, vec![C.parse::<Digest>().unwrap()]);
        assert!(cache.layers.contains_key(&C.parse().unwrap()));
        let round: CacheConfig = serde_json::from_value(valid()).unwrap();
        assert_eq!(serde_json::to_value(&round).unwrap(), valid());
    }

    #[test]
    fn refuses_hostile_configs() {
        let bad = |edit: &dyn Fn(&mut serde_json::Value), needle: &str| {
            let mut v = valid();
            edit(&mut v);
            let err = check_json(&v).map(|_| ()).unwrap_err();
            assert!(err.contains(needle), "{err}");
        };
        bad(&|v| v["schemaVersion"] = 2.into(), "schema version");
        bad(&|v| v["records"][0]["key"] = "md5:00".into(), "not a sha256 digest");
        bad(&|v| v["records"][0]["key"] = "x".repeat(10_000).into(), "not a sha256 digest");
        bad(&|v| v["records"][0]["config"]["size"] = (-1).into(), "out of bounds");
        bad(&|v| v["records"][0]["config"]["size"] = (1i64 << 40).into(), "out of bounds");
        bad(&|v| v["records"][0]["layers"] = serde_json::json!([B]), "does not describe");
        bad(&|v| v["layers"][C]["size"] = (-5).into(), "negative size");
        bad(&|v| v["layers"][C]["urls"] = serde_json::json!(["http://elsewhere/x"]), "external URLs");
        bad(&|v| v["layers"][C]["digest"] = "sha256:zz".into(), "not a sha256 digest");
        bad(
            &|v| {
                let r = v["records"][0].clone();
                v["records"].as_array_mut().unwrap().push(r);
            },
            "appears twice",
        );
        bad(&|v| v["records"][0]["layers"] = serde_json::json!(vec![C; MAX_RECORD_LAYERS + 1]), "layers (at most");
        bad(&|v| v["records"] = serde_json::json!({}), "malformed");
        assert!(check(b"\xff\xfe").is_err());
        assert!(check(&[b'['; 100_000]).is_err(), "deep nesting is an error, not a stack overflow");
    }

    #[test]
    fn exports_to_tags_only() {
        let r = Reference::parse("127.0.0.1:5000/cache").unwrap();
        assert_eq!(tag_of(&r).unwrap(), "latest");
        assert_eq!(tag_of(&Reference::parse("127.0.0.1:5000/cache:ci").unwrap()).unwrap(), "ci");
        assert!(tag_of(&r.with_digest(A.parse().unwrap())).is_err());
    }
}
