//! A container's filesystem leaving it: its changes as a layer (`commit`), or its
//! whole root filesystem as a tar (`export`). Both read through the layer crate's
//! fd-relative walker, which never follows a symlink, so a running container cannot
//! redirect the reads to the host's files.

use std::io::Write;

use gantry_image::Digest;
use gantry_layer::diff::write_diff;
use gantry_store::{ContainerRecord, LayerRecord, Store, StoreError};

use crate::RuntimeError;

/// Files the runtime itself creates in a container's root when its image lacks them
/// (mount points): not the container's changes.
const RUNTIME_PATHS: [&str; 7] =
    ["etc/hosts", "etc/hostname", "etc/resolv.conf", "proc", "sys", "dev", "sbin/docker-init"];

impl From<StoreError> for RuntimeError {
    fn from(e: StoreError) -> RuntimeError {
        RuntimeError::Runtime(e.to_string())
    }
}

fn layers(store: &Store, rec: &ContainerRecord) -> Result<Vec<Digest>, RuntimeError> {
    Ok(store.layers(&rec.image_id)?.iter().map(|l| l.diff_id).collect())
}

/// The container's changes since it was created, as a new layer in the store.
pub fn commit_layer(store: &Store, rec: &ContainerRecord, binds: &[String]) -> Result<LayerRecord, RuntimeError> {
    let dir = store.container_dir(&rec.id);
    let chain = layers(store, rec)?;
    // The overlay upper dir, or one the copy driver writes from its comparison.
    let changes = store.container_changes(&dir, &chain)?;
    let upper = changes.path();
    let lowers = store.layer_snapshots(&chain)?;
    let roots: Vec<gantry_layer::apply::RootDir> =
        lowers.iter().filter_map(|l| gantry_layer::apply::RootDir::open(l).ok()).collect();
    let in_image = |p: &str| roots.iter().any(|r| r.exists(p.as_bytes()));
    let mut skip: Vec<String> = RUNTIME_PATHS.iter().filter(|p| !in_image(p)).map(|p| p.to_string()).collect();
    skip.extend(binds.iter().map(|b| b.trim_start_matches('/').to_string()).filter(|b| !in_image(b)));
    let skip: Vec<&[u8]> = skip.iter().map(|s| s.as_bytes()).collect();
    let (diff_id, tar_size, content_size) = store.put_stream(|out| {
        write_diff(upper, &skip, out)
            .map(|s| s.content_size)
            .map_err(|e| RuntimeError::Runtime(format!("reading the container's changes: {e}")))
    })?;
    Ok(LayerRecord { diff_id, tar_size, content_size })
}

/// Writes the container's whole root filesystem as a tar to `out`, mounting it for
/// the time of the copy when the container is not running (a copied one is there
/// already, or made now and kept for its next start).
pub fn export(store: &Store, rec: &ContainerRecord, running: bool, out: &mut dyn Write) -> Result<(), RuntimeError> {
    let dir = store.container_dir(&rec.id);
    let rootfs = if running { dir.join("rootfs") } else { store.mount_rootfs(&dir, &layers(store, rec)?)? };
    let written = write_diff(&rootfs, &[], out).map_err(|e| RuntimeError::Runtime(format!("exporting: {e}")));
    if !running {
        gantry_store::unmount_rootfs(&dir);
    }
    written.map(|_| ())
}
