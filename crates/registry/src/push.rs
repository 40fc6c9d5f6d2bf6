//! `push`: every layer the registry lacks is uploaded, the rest skipped or mounted from
//! another repository of the same registry, then the config and a Docker schema2
//! manifest (what docker pushes, read by every registry and client).
//!
//! Layers are stored uncompressed; a layer is gzip-compressed the first time it leaves,
//! streamed to the registry while it is compressed (a streamed `PATCH`, the digest
//! given at the end), and the compressed bytes are kept so the next push of the layer
//! anywhere uploads them as they are (one monolithic `PUT`) instead of compressing
//! again, and gets the same digest.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{stream, StreamExt, TryStreamExt};
use gantry_image::{media, Digest, Reference, Sha256};
use gantry_store::{BlobDir, LayerBlob, LayerRecord, Store};

use crate::client::{push_scope, Mount, Registry};
use crate::manifest::Descriptor;
use crate::progress::{short_id, Progress, Status};
use crate::RegistryError;

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: Digest,
    /// Bytes of the manifest (docker's "size:").
    pub size: usize,
}

pub struct PushOptions<'a> {
    /// Layers uploaded at once.
    pub concurrency: usize,
    /// Bytes per `PATCH` of a chunked upload; 0 uploads each blob in one request.
    pub chunk_size: u64,
    pub progress: &'a dyn Progress,
}

/// gzip level of pushed layers. Measured on the W1 image's layers (zlib-rs): level 3
/// is 1.5-2x as fast as zlib's default 6 (what docker uses) for blobs at most 2% larger;
/// compression is what a first push spends its time on.
const GZIP_LEVEL: u32 = 3;
/// Bytes per chunk sent to the registry while compressing.
const CHUNK: usize = 1 << 20;
/// Largest `PATCH` of a chunked upload.
const MAX_CHUNK: u64 = 32 << 20;

/// Pushes image `id` as `reference` (which has a tag) and records the pushed digest as
/// one of the image's repo digests.
pub async fn push(
    store: &mut Store,
    reg: &Registry,
    id: &Digest,
    reference: &Reference,
    opts: &PushOptions<'_>,
) -> Result<Pushed, RegistryError> {
    let _lease = store.lease()?;
    let repo = reference.path().to_string();
    let tag = reference.tag().unwrap_or("latest").to_string();
    let layers = store.layers(id)?;
    let config = store.read_blob(id)?;
    let descriptors = push_layers(store, reg, &repo, &layers, opts).await?;
    let config_digest = *id;
    push_bytes(reg, &repo, &config_digest, &config).await?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::DOCKER_MANIFEST,
        "config": {"mediaType": media::DOCKER_CONFIG, "size": config.len(), "digest": config_digest.to_string()},
        "layers": descriptors,
    });
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| RegistryError::Protocol(e.to_string()))?;
    let digest = reg.put_manifest(&repo, &tag, media::DOCKER_MANIFEST, &bytes).await?;
    store.record_blob_source(&config_digest, reg.domain(), &repo)?;
    store.tag(*id, &reference.repository().with_digest(digest))?;
    Ok(Pushed { digest, size: bytes.len() })
}

/// Gets `layers` into `repo` (skipped, mounted or uploaded; see [`push_layer`]), and
/// remembers what the registry now has. Returns their descriptors, in order.
pub async fn push_layers(
    store: &Store,
    reg: &Registry,
    repo: &str,
    layers: &[LayerRecord],
    opts: &PushOptions<'_>,
) -> Result<Vec<Descriptor>, RegistryError> {
    // What is known of each layer's compressed forms, read now: the store handle stays here.
    let mut plans = Vec::new();
    for layer in layers {
        let mut known = Vec::new();
        for b in store.layer_blobs(&layer.diff_id)? {
            let sources = store.blob_sources(&b.digest, reg.domain())?;
            known.push((b, sources));
        }
        opts.progress.layer(&short_id(&layer.diff_id), Status::Preparing);
        plans.push((layer.clone(), known));
    }
    let blobs = store.blob_dir();
    let results: Vec<(Descriptor, Option<LayerBlob>)> = stream::iter(plans.into_iter().map(|(layer, known)| {
        let blobs = blobs.clone();
        async move { push_layer(reg, repo, &layer, &known, blobs, opts).await }
    }))
    .buffered(opts.concurrency.max(1))
    .try_collect()
    .await?;
    let mut out = Vec::new();
    for (desc, new_blob) in results {
        if let Some(b) = &new_blob {
            store.record_layer_blob(b)?;
        }
        store.record_blob_source(&desc.digest()?, reg.domain(), repo)?;
        out.push(desc);
    }
    Ok(out)
}

/// Uploads small bytes (a config) unless the repository has them.
pub async fn push_bytes(reg: &Registry, repo: &str, digest: &Digest, bytes: &[u8]) -> Result<(), RegistryError> {
    if reg.blob_size(repo, digest, &[push_scope(repo)]).await?.is_none() {
        let location = reg.start_upload(repo).await?;
        reg.upload(repo, &location, bytes.to_vec().into(), Some(bytes.len() as u64), None, Some(digest)).await?;
    }
    Ok(())
}

fn descriptor(b: &LayerBlob) -> Descriptor {
    // A gzip layer is described with docker's type whatever type it was pulled with:
    // the bytes are the same, and the manifest is a Docker schema2 one.
    let media_type = match b.media_type.as_str() {
        media::OCI_LAYER_GZIP | media::DOCKER_LAYER_GZIP | "" => media::DOCKER_LAYER_GZIP,
        media::OCI_LAYER_TAR | media::DOCKER_LAYER_TAR => media::DOCKER_LAYER_TAR,
        other => other,
    };
    Descriptor {
        media_type: media_type.to_string(),
        digest: b.digest.to_string(),
        size: b.size as i64,
        platform: None,
        urls: None,
    }
}

/// Gets one layer into the registry; returns its descriptor and, when it was
/// compressed now, the compressed form to remember.
async fn push_layer(
    reg: &Registry,
    repo: &str,
    layer: &LayerRecord,
    known: &[(LayerBlob, Vec<String>)],
    blobs: BlobDir,
    opts: &PushOptions<'_>,
) -> Result<(Descriptor, Option<LayerBlob>), RegistryError> {
    let progress = opts.progress;
    let id = short_id(&layer.diff_id);
    let scopes = [push_scope(repo)];
    // Only gzip forms fit a Docker schema2 manifest.
    let usable = known.iter().filter(|(b, _)| matches!(descriptor(b).media_type.as_str(), media::DOCKER_LAYER_GZIP));
    for (b, sources) in usable.clone() {
        if reg.blob_size(repo, &b.digest, &scopes).await?.is_some() {
            progress.layer(&id, Status::LayerAlreadyExists);
            return Ok((descriptor(b), None));
        }
        for from in sources.iter().filter(|s| s.as_str() != repo) {
            match reg.mount_blob(repo, &b.digest, from).await {
                Ok(Mount::Mounted) => {
                    progress.layer(&id, Status::MountedFrom(from.clone()));
                    return Ok((descriptor(b), None));
                }
                // Not mountable from there (gone, or no access): upload as usual.
                Ok(Mount::Upload(_)) | Err(_) => {}
            }
        }
    }
    // Bytes compressed by an earlier push go up as they are.
    if let Some((b, _)) = usable.clone().find(|(b, _)| b.stored && blobs.has(&b.digest)) {
        let path = blobs.path(&b.digest);
        let report = |n| progress.layer(&id, Status::Pushing { current: n, total: b.size });
        if opts.chunk_size > 0 && b.size > opts.chunk_size {
            upload_chunked(reg, repo, &path, &b.digest, opts.chunk_size, report).await?;
        } else {
            let location = reg.start_upload(repo).await?;
            let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
            tokio::task::spawn_blocking(move || send_file(&path, tx));
            let sent = Arc::new(AtomicU64::new(0));
            let upload =
                reg.upload(repo, &location, body_stream(rx, Some(sent.clone())), Some(b.size), None, Some(&b.digest));
            reporting(upload, &sent, report).await?;
        }
        progress.layer(&short_id(&layer.diff_id), Status::Pushed);
        return Ok((descriptor(b), None));
    }
    // First time out: compress while uploading, keeping the compressed bytes.
    let location = reg.start_upload(repo).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
    let source = blobs.path(&layer.diff_id);
    // Progress counts the layer's bytes compressed so far: the compressed size is not
    // known until the end.
    let read = Arc::new(AtomicU64::new(0));
    let counter = read.clone();
    let compress = tokio::task::spawn_blocking(move || compress_layer(&source, &blobs, tx, &counter));
    let total = layer.tar_size;
    let upload = reg.upload(repo, &location, body_stream(rx, None), None, None, None);
    let location = reporting(upload, &read, |n| progress.layer(&id, Status::Pushing { current: n, total })).await;
    let compressed = compress.await.map_err(|e| RegistryError::Protocol(format!("compressing a layer: {e}")))??;
    let location = location?;
    reg.upload(repo, &location, Bytes::new().into(), Some(0), None, Some(&compressed.0)).await?;
    progress.layer(&id, Status::Pushed);
    let blob = LayerBlob {
        diff_id: layer.diff_id,
        digest: compressed.0,
        media_type: media::DOCKER_LAYER_GZIP.to_string(),
        size: compressed.1,
        stored: compressed.2,
    };
    Ok((descriptor(&blob), Some(blob)))
}

/// Uploads the file at `path` as blob `digest` in `PATCH`es of `chunk` bytes with
/// `Content-Range`, then closes the session with the digest.
async fn upload_chunked(
    reg: &Registry,
    repo: &str,
    path: &std::path::Path,
    digest: &Digest,
    chunk: u64,
    report: impl Fn(u64),
) -> Result<(), RegistryError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    // Each chunk is held in memory while it is sent: bounded whatever the setting says.
    let chunk = chunk.min(MAX_CHUNK);
    let io_err = |e: io::Error| RegistryError::Protocol(format!("{}: {e}", path.display()));
    let mut file = tokio::fs::File::open(path).await.map_err(io_err)?;
    let mut location = reg.start_upload(repo).await?;
    let mut offset = 0u64;
    loop {
        let mut buf = Vec::with_capacity(chunk as usize);
        file.seek(io::SeekFrom::Start(offset)).await.map_err(io_err)?;
        (&mut file).take(chunk).read_to_end(&mut buf).await.map_err(io_err)?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len() as u64;
        location = reg.upload(repo, &location, buf.into(), Some(n), Some(offset), None).await?;
        offset += n;
        report(offset);
    }
    reg.upload(repo, &location, Bytes::new().into(), Some(0), None, Some(digest)).await?;
    Ok(())
}

/// Compresses the stored layer at `source` into `tx` and into a new blob; returns the
/// compressed digest, its size and whether the blob was kept.
fn compress_layer(
    source: &std::path::Path,
    blobs: &BlobDir,
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    read: &AtomicU64,
) -> Result<(Digest, u64, bool), RegistryError> {
    let io_err = |e: io::Error| RegistryError::Protocol(format!("compressing {}: {e}", source.display()));
    let mut input = std::fs::File::open(source).map_err(io_err)?;
    let ingest = blobs.ingest()?;
    let tee = Tee { tx, ingest: Some(ingest), hash: Sha256::new(), len: 0, buf: Vec::with_capacity(CHUNK) };
    let mut tee = tee;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    gantry_layer::gzip::gzip_parallel(&mut input, &mut tee, GZIP_LEVEL, threads, |n| {
        read.fetch_add(n as u64, Ordering::Relaxed);
    })
    .map_err(io_err)?;
    tee.send_buffered().map_err(io_err)?;
    let Tee { hash, len, ingest, .. } = tee;
    let digest = hash.finish();
    let kept = match ingest {
        Some(i) => {
            i.commit(&digest)?;
            true
        }
        None => false,
    };
    Ok((digest, len, kept))
}

/// Sends compressed bytes to the upload in `CHUNK`s, hashes them, and keeps a copy
/// (given up, not failed, if the store's disk refuses it).
struct Tee {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    ingest: Option<gantry_store::Ingest>,
    hash: Sha256,
    len: u64,
    buf: Vec<u8>,
}

impl Tee {
    fn send_buffered(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::other("the upload stopped"))
    }
}

impl Write for Tee {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.hash.update(data);
        self.len += data.len() as u64;
        if let Some(i) = &mut self.ingest {
            if i.write_all(data).is_err() {
                self.ingest = None;
            }
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send_buffered()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type ByteStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = io::Result<Bytes>> + Send + Sync>>;

/// The receiving end of a channel as a body stream, counting what passes into `sent`.
fn body_stream(rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>, sent: Option<Arc<AtomicU64>>) -> reqwest::Body {
    let rx = std::sync::Mutex::new(rx);
    let stream: ByteStream = Box::pin(futures_util::stream::poll_fn(move |cx| {
        let mut rx = match rx.lock() {
            Ok(rx) => rx,
            Err(poisoned) => poisoned.into_inner(),
        };
        let item = rx.poll_recv(cx);
        if let (std::task::Poll::Ready(Some(Ok(c))), Some(sent)) = (&item, &sent) {
            sent.fetch_add(c.len() as u64, Ordering::Relaxed);
        }
        item
    }));
    reqwest::Body::wrap_stream(stream)
}

/// Reads a file into `tx` in `CHUNK`s (on a blocking thread).
fn send_file(path: &std::path::Path, tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>) {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let _ = tx.blocking_send(Err(e));
            return;
        }
    };
    loop {
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
}

/// Runs `fut`, reporting `sent` every 100 ms until it ends.
async fn reporting<T>(fut: impl std::future::Future<Output = T>, sent: &AtomicU64, report: impl Fn(u64)) -> T {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            out = &mut fut => return out,
            _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => report(sent.load(Ordering::Relaxed)),
        }
    }
}
