//! Named volumes (`docker volume`, driver `local`): a directory per volume under
//! `<root>/volumes/<name>/_data`, with its metadata beside it. A volume is created by
//! one `mkdir` (atomic: two creators of one name agree) and its metadata written
//! with a rename, so a crash never leaves a half-described volume.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    /// RFC 3339, as docker shows `CreatedAt`.
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    /// Made for a container (an image's VOLUME), not by name: `rm -v` and `--rm` remove it.
    pub anonymous: bool,
}

/// Bytes of the regular files under `dir` (links not followed): what `system df`
/// and the prunes report for volumes, containers' writes and cache mounts.
pub fn disk_usage(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => disk_usage(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// docker's rule for volume names.
pub fn valid_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl Store {
    fn volume_dir(&self, name: &str) -> PathBuf {
        self.root().join("volumes").join(name)
    }

    /// Where the volume's contents are (docker's `Mountpoint`).
    pub fn volume_path(&self, name: &str) -> PathBuf {
        self.volume_dir(name).join("_data")
    }

    /// Creates a volume, or returns the existing one of that name (as docker does).
    pub fn create_volume(&self, v: &Volume) -> Result<Volume, StoreError> {
        if !valid_volume_name(&v.name) {
            return Err(StoreError::Conflict(format!(
                "create {}: \"{}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed",
                v.name, v.name
            )));
        }
        let dir = self.volume_dir(&v.name);
        let parent = self.root().join("volumes");
        std::fs::create_dir_all(&parent).map_err(|e| StoreError::io(&parent, e))?;
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Some(existing) = self.volume(&v.name)? {
                    return Ok(existing);
                }
            }
            Err(e) => return Err(StoreError::io(&dir, e)),
        }
        let data = dir.join("_data");
        std::fs::create_dir_all(&data).map_err(|e| StoreError::io(&data, e))?;
        let tmp = dir.join(format!(".meta.{}", std::process::id()));
        let bytes = serde_json::to_vec(v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        std::fs::write(&tmp, bytes).map_err(|e| StoreError::io(&tmp, e))?;
        std::fs::rename(&tmp, dir.join("meta.json")).map_err(|e| StoreError::io(&dir, e))?;
        Ok(v.clone())
    }

    /// A volume by name, if it exists.
    pub fn volume(&self, name: &str) -> Result<Option<Volume>, StoreError> {
        if !valid_volume_name(name) {
            return Ok(None);
        }
        let meta = self.volume_dir(name).join("meta.json");
        match std::fs::read(&meta) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", meta.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&meta, e)),
        }
    }

    /// Every volume, by name.
    pub fn volumes(&self) -> Result<Vec<Volume>, StoreError> {
        let dir = self.root().join("volumes");
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(out) };
        for e in entries.flatten() {
            if let Some(v) = self.volume(&e.file_name().to_string_lossy())? {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes a volume and its contents (the caller checked no container uses it).
    pub fn remove_volume(&self, name: &str) -> Result<(), StoreError> {
        let dir = self.volume_dir(name);
        // Forget it first (metadata), then the data: a crash leaves at worst a
        // directory without metadata, which no listing shows.
        let _ = std::fs::remove_file(dir.join("meta.json"));
        std::fs::remove_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))
    }

    /// Bytes a volume holds (for `system df`).
    pub fn volume_size(&self, name: &str) -> u64 {
        disk_usage(&self.volume_path(name))
    }
}
