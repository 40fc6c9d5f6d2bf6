//! What the store knows of layers' registry forms: the compressed blobs a layer has been
//! pulled or pushed as (so a push can skip, mount or reuse them instead of compressing
//! again) and the repositories each blob was seen in (so a push can mount it across
//! repositories of the same registry instead of uploading it).

use gantry_image::Digest;
use rusqlite::params;

use crate::db::digest_col;
use crate::{Store, StoreError};

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS layer_blobs (
    diff_id TEXT NOT NULL,          -- the layer (uncompressed tar) these bytes decompress to
    digest TEXT NOT NULL,           -- the compressed blob as registries name it
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    stored INTEGER NOT NULL,        -- 1 when blobs/ holds these compressed bytes too
    PRIMARY KEY (diff_id, digest)
);
CREATE INDEX IF NOT EXISTS layer_blobs_by_digest ON layer_blobs(digest);
CREATE TABLE IF NOT EXISTS blob_sources (
    digest TEXT NOT NULL,
    registry TEXT NOT NULL,         -- host[:port]
    repository TEXT NOT NULL,       -- path within the registry
    PRIMARY KEY (digest, registry, repository)
);
"#;

/// Forgets compressed forms of layers the store no longer has (their stored bytes then
/// go at the next GC).
pub(crate) const DELETE_ORPHAN_LAYER_BLOBS: &str =
    "DELETE FROM layer_blobs WHERE diff_id NOT IN (SELECT diff_id FROM layers)";

/// A compressed form of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    pub diff_id: Digest,
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// The compressed bytes are kept in the store (pushes compress once).
    pub stored: bool,
}

impl Store {
    /// Remembers a compressed form of a layer (its bytes, when `stored`, must be
    /// committed already). Recording it again updates `stored`.
    pub fn record_layer_blob(&self, blob: &LayerBlob) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO layer_blobs (diff_id, digest, media_type, size, stored) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (diff_id, digest) DO UPDATE SET stored = MAX(stored, excluded.stored)",
                params![
                    blob.diff_id.to_string(),
                    blob.digest.to_string(),
                    blob.media_type,
                    blob.size as i64,
                    blob.stored as i64
                ],
            )?;
            Ok(())
        })
    }

    /// The compressed forms known for a layer, those whose bytes are kept first.
    pub fn layer_blobs(&self, diff_id: &Digest) -> Result<Vec<LayerBlob>, StoreError> {
        let mut stmt = self.db.prepare_cached(
            "SELECT digest, media_type, size, stored FROM layer_blobs WHERE diff_id = ?1 ORDER BY stored DESC, rowid",
        )?;
        let rows = stmt.query_map([diff_id.to_string()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
        })?;
        rows.map(|row| {
            let (digest, media_type, size, stored) = row?;
            Ok(LayerBlob {
                diff_id: *diff_id,
                digest: digest_col(digest)?,
                media_type,
                size: size as u64,
                stored: stored != 0,
            })
        })
        .collect()
    }

    /// Remembers that `registry/repository` has blob `digest`.
    pub fn record_blob_source(&self, digest: &Digest, registry: &str, repository: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO blob_sources (digest, registry, repository) VALUES (?1, ?2, ?3)",
                params![digest.to_string(), registry, repository],
            )?;
            Ok(())
        })
    }

    /// Repositories of `registry` known to have blob `digest`.
    pub fn blob_sources(&self, digest: &Digest, registry: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .db
            .prepare_cached("SELECT repository FROM blob_sources WHERE digest = ?1 AND registry = ?2 ORDER BY rowid")?;
        let rows = stmt.query_map(params![digest.to_string(), registry], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_blobs_and_sources_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let layer = Digest::of(b"tar");
        let gz = Digest::of(b"gz");
        let blob = LayerBlob {
            diff_id: layer,
            digest: gz,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            size: 2,
            stored: false,
        };
        store.record_layer_blob(&blob).unwrap();
        store.record_layer_blob(&LayerBlob { stored: true, ..blob.clone() }).unwrap();
        store.record_layer_blob(&blob).unwrap();
        assert_eq!(store.layer_blobs(&layer).unwrap(), vec![LayerBlob { stored: true, ..blob }]);
        store.record_blob_source(&gz, "127.0.0.1:5000", "a/b").unwrap();
        store.record_blob_source(&gz, "127.0.0.1:5000", "a/b").unwrap();
        store.record_blob_source(&gz, "other", "c").unwrap();
        assert_eq!(store.blob_sources(&gz, "127.0.0.1:5000").unwrap(), vec!["a/b".to_string()]);
    }
}
