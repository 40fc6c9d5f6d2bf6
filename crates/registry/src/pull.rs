//! `pull`: manifest (choosing the platform from an index), config, then the layers
//! concurrently. Each layer streams from the registry through the layer checks and
//! decompression into an anonymous ingest on a blocking thread, so memory stays bounded
//! whatever the layer size; the blob digest and the DiffID are both verified before
//! the layer becomes visible, and the image is recorded only when all of it is there.
//! A download that breaks off resumes with a `Range` request where it stopped.

use std::io::{self, Read};

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use gantry_image::{Digest, ImageConfig, Platform, Reference};
use gantry_store::{BlobDir, LayerBlob, LayerRecord, NewImage, Store};

use crate::client::{Registry, ATTEMPTS};
use crate::manifest::{self, Descriptor, Parsed};
use crate::progress::{short_id, Progress, Status};
use crate::RegistryError;

/// Largest image config accepted.
const MAX_CONFIG: usize = 8 << 20;

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub id: Digest,
    /// The digest of what the reference named (the index, for a multi-platform image):
    /// docker's "Digest:" line and the image's repo digest.
    pub digest: Digest,
    /// False when the reference already named this image ("Image is up to date").
    pub changed: bool,
}

pub struct PullOptions<'a> {
    pub platform: Option<Platform>,
    /// Layers downloaded at once.
    pub concurrency: usize,
    pub progress: &'a dyn Progress,
}

/// Pulls `reference` (a tag or digest; repository and registry as normalized) into the
/// store and tags it.
pub async fn pull(
    store: &mut Store,
    reg: &Registry,
    reference: &Reference,
    opts: &PullOptions<'_>,
) -> Result<Pulled, RegistryError> {
    let _lease = store.lease()?;
    let repo = reference.path().to_string();
    let wanted = manifest::reference_in_repository(reference);
    let top = reg.get_manifest(&repo, &wanted).await?;
    let platform = opts.platform.clone().unwrap_or_else(Platform::host);
    let manifest = match manifest::parse(&top.media_type, &top.bytes)? {
        Parsed::Image(m) => m,
        Parsed::Index(index) => {
            let entry = manifest::select(&index, &platform).ok_or_else(|| RegistryError::NoMatchingPlatform {
                platform: platform.to_string(),
                reference: reference.familiar(),
            })?;
            let d = entry.digest()?;
            let inner = reg.get_manifest(&repo, &d.to_string()).await?;
            match manifest::parse(&inner.media_type, &inner.bytes)? {
                Parsed::Image(m) => m,
                Parsed::Index(_) => {
                    return Err(RegistryError::Unsupported(format!(
                        "{}: nested image indexes are not supported",
                        reference.familiar()
                    )))
                }
            }
        }
    };
    let config_digest = manifest.config.digest()?;
    let config_bytes = match store.has_blob(&config_digest) {
        true => store.read_blob(&config_digest)?,
        false => fetch_small(reg, &repo, &manifest.config, MAX_CONFIG).await?,
    };
    let config = ImageConfig::parse(&config_bytes)
        .map_err(|e| RegistryError::Protocol(format!("image config {config_digest}: {e}")))?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(RegistryError::Protocol(format!(
            "image config {config_digest} lists {} layers but the manifest has {}",
            diff_ids.len(),
            manifest.layers.len()
        )));
    }
    let jobs: Vec<(Descriptor, Digest)> = manifest.layers.iter().cloned().zip(diff_ids.iter().copied()).collect();
    let created = std::sync::Mutex::new(Vec::new());
    let layers = match fetch_layers(store, reg, &repo, jobs, opts.concurrency, opts.progress, &created).await {
        Ok(l) => l,
        Err(e) => {
            // A failed pull leaves nothing behind (best effort: what a crash leaves, GC takes).
            let created = created.into_inner().unwrap_or_else(|p| p.into_inner());
            let _ = store.remove_blobs_unless_referenced(&created);
            return Err(e);
        }
    };
    store.put_bytes(&config_bytes)?;
    let repository = reference.repository();
    let mut refs = vec![repository.with_digest(top.digest)];
    if reference.digest().is_none() {
        refs.push(repository.with_tag(&wanted).map_err(|e| RegistryError::Protocol(e.to_string()))?);
    }
    let before = store.resolve(&refs[refs.len() - 1].to_string()).ok().map(|(id, _)| id);
    let new = NewImage {
        id: config_digest,
        created_unix_nanos: config.created_unix_nanos(),
        layers,
        labels: config.labels().cloned().unwrap_or_default(),
        parent: None,
    };
    store.put_image(&new, &refs)?;
    Ok(Pulled { id: config_digest, digest: top.digest, changed: before != Some(config_digest) })
}

/// Fetches layers (each `(descriptor, DiffID)`) into the store, `concurrency` at a
/// time, skipping those present, and remembers their registry forms. The caller holds
/// a lease until it records what uses them; `created` collects the layers this call
/// added, for the caller to take back if it fails.
pub async fn fetch_layers(
    store: &Store,
    reg: &Registry,
    repo: &str,
    jobs: Vec<(Descriptor, Digest)>,
    concurrency: usize,
    progress: &dyn Progress,
    created: &std::sync::Mutex<Vec<Digest>>,
) -> Result<Vec<LayerRecord>, RegistryError> {
    let blobs = store.blob_dir();
    // Layers the store already has keep their recorded sizes: nothing is read again.
    let mut known = Vec::with_capacity(jobs.len());
    for (desc, diff_id) in &jobs {
        check_layer_type(desc)?;
        let id = short_id(&desc.digest()?);
        let record = store.layer_record(diff_id)?;
        if record.is_some() || blobs.has(diff_id) {
            progress.layer(&id, Status::AlreadyExists);
        } else {
            progress.layer(&id, Status::PullingFsLayer);
        }
        known.push(record);
    }
    // Every transfer runs to its end, even after one failed (the others are told to stop
    // early): a layer still being written when the caller takes back what was added
    // would otherwise appear after the clean-up.
    let failed = std::sync::atomic::AtomicBool::new(false);
    let mut results: Vec<Result<(Descriptor, LayerRecord), RegistryError>> =
        stream::iter(jobs.into_iter().zip(known).map(|((desc, diff_id), known)| {
            let blobs = blobs.clone();
            let failed = &failed;
            async move {
                if let Some(record) = known {
                    return Ok((desc, record));
                }
                let job = Job { progress, created, cancel: failed };
                let fetched = fetch_layer(reg, repo, &desc, diff_id, blobs, &job).await;
                if fetched.is_err() {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                Ok::<_, RegistryError>((desc, fetched?))
            }
        }))
        .buffered(concurrency.max(1))
        .collect()
        .await;
    // The error that stopped the others is the one to report.
    if let Some(pos) = results.iter().position(|r| matches!(r, Err(e) if !matches!(e, RegistryError::Stopped))) {
        return Err(results.swap_remove(pos).err().unwrap_or(RegistryError::Stopped));
    }
    let fetched: Vec<(Descriptor, LayerRecord)> = results.into_iter().collect::<Result<_, _>>()?;
    for (desc, record) in &fetched {
        let digest = desc.digest()?;
        store.record_layer_blob(&LayerBlob {
            diff_id: record.diff_id,
            digest,
            media_type: desc.media_type.clone(),
            size: desc.size()?,
            stored: false,
        })?;
        store.record_blob_source(&digest, reg.domain(), repo)?;
    }
    Ok(fetched.into_iter().map(|(_, r)| r).collect())
}

/// Layer media types gantry can unpack (compression is detected from the bytes).
fn check_layer_type(desc: &Descriptor) -> Result<(), RegistryError> {
    use gantry_image::media::*;
    match desc.media_type.as_str() {
        OCI_LAYER_TAR
        | OCI_LAYER_GZIP
        | OCI_LAYER_ZSTD
        | DOCKER_LAYER_GZIP
        | DOCKER_LAYER_TAR
        | OCI_LAYER_NONDIST_TAR
        | OCI_LAYER_NONDIST_GZIP
        | "" => Ok(()),
        DOCKER_FOREIGN_LAYER => {
            Err(RegistryError::Unsupported("the image has foreign (Windows) layers, which gantry does not pull".into()))
        }
        other => Err(RegistryError::Unsupported(format!(
            "layer {} has media type {:?}, which is not an image layer",
            manifest::excerpt(&desc.digest),
            manifest::excerpt(other)
        ))),
    }
}

/// Downloads a small blob (a config) whole and verifies it.
pub(crate) async fn fetch_small(
    reg: &Registry,
    repo: &str,
    desc: &Descriptor,
    max: usize,
) -> Result<Vec<u8>, RegistryError> {
    let digest = desc.digest()?;
    if desc.size()? > max as u64 {
        return Err(RegistryError::Protocol(format!("blob {digest} is larger than {max} bytes")));
    }
    let (resp, _) = reg.get_blob(repo, &digest, 0).await?;
    let bytes = crate::client::read_limited(resp, max).await?;
    let actual = Digest::of(&bytes);
    if actual != digest {
        return Err(RegistryError::DigestMismatch { what: format!("blob {digest}"), expected: digest, actual });
    }
    Ok(bytes)
}

/// What the concurrent layer transfers of one pull share.
#[derive(Clone, Copy)]
struct Job<'a> {
    progress: &'a dyn Progress,
    /// Layers this pull added to the store.
    created: &'a std::sync::Mutex<Vec<Digest>>,
    /// Set when a transfer failed: the others stop early.
    cancel: &'a std::sync::atomic::AtomicBool,
}

/// Fetches one layer into the store (unless present) and returns its record.
async fn fetch_layer(
    reg: &Registry,
    repo: &str,
    desc: &Descriptor,
    diff_id: Digest,
    blobs: BlobDir,
    job: &Job<'_>,
) -> Result<LayerRecord, RegistryError> {
    let Job { progress, created, cancel } = *job;
    let digest = desc.digest()?;
    let size = desc.size()?;
    let id = short_id(&digest);
    if blobs.has(&diff_id) {
        // Present but not recorded (another command is adding it): read its sizes.
        let path = blobs.path(&diff_id);
        let info = tokio::task::spawn_blocking(move || {
            let f = std::fs::File::open(&path)?;
            gantry_layer::inspect(io::BufReader::with_capacity(1 << 20, f)).map_err(io::Error::other)
        })
        .await
        .map_err(|e| RegistryError::Protocol(format!("layer {digest}: {e}")))?
        .map_err(|e| RegistryError::Protocol(format!("layer {diff_id} in the store: {e}")))?;
        return Ok(LayerRecord { diff_id, tar_size: info.tar_size, content_size: info.content_size });
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(16);
    let ingest = tokio::task::spawn_blocking(move || -> Result<(gantry_layer::LayerInfo, bool), RegistryError> {
        let mut out = blobs.ingest()?;
        let info = gantry_layer::ingest(ChannelReader { rx, chunk: Bytes::new() }, &mut out)
            .map_err(|e| RegistryError::Layer { what: format!("layer {digest}"), source: e })?;
        if info.source_digest != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("filesystem layer verification failed for digest {digest}"),
                expected: digest,
                actual: info.source_digest,
            });
        }
        if info.diff_id != diff_id {
            return Err(RegistryError::DigestMismatch {
                what: format!("layer {digest} does not match the image's DiffID"),
                expected: diff_id,
                actual: info.diff_id,
            });
        }
        let new = !blobs.has(&diff_id);
        if new {
            out.commit(&diff_id)?;
        }
        Ok((info, new))
    });
    let downloaded = download(reg, repo, &digest, size, &tx, cancel, |n| {
        progress.layer(&id, Status::Downloading { current: n, total: size })
    })
    .await;
    if let Err(e) = &downloaded {
        // The ingest sees a read error and drops its (anonymous) partial blob.
        let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
    }
    drop(tx);
    progress.layer(&id, Status::VerifyingChecksum);
    let ingested = ingest.await.map_err(|e| RegistryError::Protocol(format!("layer {digest}: {e}")))?;
    if let Ok((_, true)) = &ingested {
        created.lock().unwrap_or_else(|p| p.into_inner()).push(diff_id);
    }
    // A transfer that changed the bytes is reported as such, whatever the layer
    // parser made of them.
    let actual = downloaded?;
    if actual != digest {
        return Err(RegistryError::DigestMismatch {
            what: format!("filesystem layer verification failed for digest {digest}"),
            expected: digest,
            actual,
        });
    }
    let (info, _) = ingested?;
    progress.layer(&id, Status::DownloadComplete);
    progress.layer(&id, Status::PullComplete);
    Ok(LayerRecord { diff_id, tar_size: info.tar_size, content_size: info.content_size })
}

/// Streams blob `digest` of `size` bytes into `tx`, resuming with `Range` after a
/// broken connection, and returns the digest of what it received. Never takes more than
/// `size` bytes. When the receiver stops early (the layer is malformed), the rest is
/// still read and hashed, so a corrupted transfer is told apart from a bad layer.
async fn download(
    reg: &Registry,
    repo: &str,
    digest: &Digest,
    size: u64,
    tx: &tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    cancel: &std::sync::atomic::AtomicBool,
    on_progress: impl Fn(u64),
) -> Result<Digest, RegistryError> {
    let mut hash = gantry_image::Sha256::new();
    let mut receiving = true;
    let mut offset = 0u64;
    let mut failures = 0u32;
    loop {
        let (resp, start) = match reg.get_blob(repo, digest, offset).await {
            Ok(r) => r,
            Err(e) if e.is_transient() && failures + 1 < ATTEMPTS => {
                failures += 1;
                tokio::time::sleep(crate::client::backoff(failures)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut skip = offset - start;
        let mut body = resp.bytes_stream();
        let mut broken = None;
        while let Some(chunk) = body.next().await {
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(RegistryError::Stopped);
            }
            let mut chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    broken = Some(crate::error::transport_cause(&e));
                    break;
                }
            };
            if skip > 0 {
                let n = skip.min(chunk.len() as u64) as usize;
                chunk = chunk.slice(n..);
                skip -= n as u64;
            }
            if chunk.is_empty() {
                continue;
            }
            if offset + chunk.len() as u64 > size {
                return Err(RegistryError::Protocol(format!(
                    "blob {digest}: the registry sent more than its {size} bytes"
                )));
            }
            offset += chunk.len() as u64;
            hash.update(&chunk);
            // The ingest stops reading only when it failed (it says why).
            receiving = receiving && tx.send(Ok(chunk)).await.is_ok();
            on_progress(offset);
        }
        if offset == size {
            return Ok(hash.finish());
        }
        failures += 1;
        if failures >= ATTEMPTS {
            let why = broken.unwrap_or_else(|| "the connection closed early".into());
            return Err(RegistryError::Connect {
                url: format!("{}/v2/{repo}/blobs/{digest}", reg.base_url()),
                cause: format!("download stopped at {offset} of {size} bytes: {why}"),
            });
        }
        tokio::time::sleep(crate::client::backoff(failures)).await;
    }
}

/// The blocking side of the download channel, as a `Read` for the layer code.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(c)) => self.chunk = c,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk = self.chunk.slice(n..);
        Ok(n)
    }
}
