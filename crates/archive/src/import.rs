//! `gantry import`: a one-layer image from a rootfs tarball, as `docker import` makes.

use std::io::Read;

use gantry_image::{ContainerConfig, Digest, HistoryEntry, ImageConfig, Reference, RootFs};
use gantry_store::{LayerRecord, NewImage, Store, Tagged};

use crate::{apply_changes, ArchiveError};

/// What `docker import` lets a user set.
#[derive(Debug, Default, Clone)]
pub struct ImportOptions {
    /// Dockerfile-style `--change` instructions.
    pub changes: Vec<String>,
    /// `--message`: the history comment.
    pub message: Option<String>,
    /// Where the tarball came from, for the default comment (`Imported from -`).
    pub source: String,
    pub architecture: String,
    pub os: String,
    /// RFC 3339 creation time; tests and reproducible imports fix it.
    pub created: String,
}

/// Imports a rootfs tarball (plain or compressed) and tags it with `reference`.
pub fn import<R: Read>(
    store: &mut Store,
    input: R,
    opts: &ImportOptions,
    reference: Option<&Reference>,
) -> Result<(Digest, Vec<Tagged>), ArchiveError> {
    let mut container = ContainerConfig::default();
    apply_changes(&mut container, &opts.changes)?;
    let _lease = store.lease()?;
    let mut ingest = store.ingest()?;
    let info = gantry_layer::ingest(input, &mut ingest).map_err(|e| ArchiveError::Layer(opts.source.clone(), e))?;
    let comment = opts.message.clone().unwrap_or_else(|| format!("Imported from {}", opts.source));
    let cfg = ImageConfig {
        architecture: opts.architecture.clone(),
        os: opts.os.clone(),
        comment: Some(comment.clone()),
        config: Some(container),
        created: Some(opts.created.clone()),
        history: vec![HistoryEntry {
            created: Some(opts.created.clone()),
            comment: Some(comment),
            ..Default::default()
        }],
        rootfs: RootFs { kind: "layers".into(), diff_ids: vec![info.diff_id] },
        ..Default::default()
    };
    ingest.commit(&info.diff_id)?;
    let bytes = cfg.to_bytes();
    let id = store.put_bytes(&bytes)?;
    let new = NewImage {
        id,
        created_unix_nanos: cfg.created_unix_nanos(),
        layers: vec![LayerRecord { diff_id: info.diff_id, tar_size: info.tar_size, content_size: info.content_size }],
        labels: cfg.labels().cloned().unwrap_or_default(),
        parent: None,
    };
    let tags = store.put_image(&new, &reference.cloned().into_iter().collect::<Vec<_>>())?;
    Ok((id, tags))
}
