//! Build-cache records and the file-digest memo.
//!
//! A cache record maps a step's content-addressed key to the image state after that
//! step (a config blob, which names the layers). Records are GC roots until pruned,
//! so a cached step's blobs are never collected under it.
//!
//! The memo maps a file's identity and change stamps (device, inode, size, mtime,
//! ctime) to its content digest, so an unchanged rebuild stats files but reads none.

use gantry_image::Digest;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use crate::{LayerRecord, Store, StoreError};

/// What a cached step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRecord {
    pub key: Digest,
    /// The config after the step; its layers are `layers`.
    pub config: Digest,
    pub layers: Vec<LayerRecord>,
    pub created_unix_nanos: i64,
    pub last_used_unix_nanos: i64,
}

/// A file's identity and change stamps; equal stamps mean unchanged content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_nanos: i64,
    pub ctime_nanos: i64,
}

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS build_cache (
    key TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    created INTEGER NOT NULL,
    last_used INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS build_cache_layers (
    key TEXT NOT NULL REFERENCES build_cache(key) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    diff_id TEXT NOT NULL REFERENCES layers(diff_id),
    PRIMARY KEY (key, position)
);
CREATE INDEX IF NOT EXISTS build_cache_layers_by_layer ON build_cache_layers(diff_id);
CREATE TABLE IF NOT EXISTS file_digests (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime INTEGER NOT NULL, ctime INTEGER NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (dev, ino)
);
"#;

fn now_nanos() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

fn digest(s: String) -> Result<Digest, StoreError> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("bad digest {s:?}")))
}

impl Store {
    /// The record for `key`, marked as used now; `None` on a miss.
    pub fn cache_get(&self, key: &Digest) -> Result<Option<CacheRecord>, StoreError> {
        let now = now_nanos();
        let n = self.write(|tx| {
            Ok(tx.execute("UPDATE build_cache SET last_used = ?2 WHERE key = ?1", params![key.to_string(), now])?)
        })?;
        if n == 0 {
            return Ok(None);
        }
        Ok(self.query_cache(Some(key), i64::MIN)?.pop())
    }

    /// Records a step's result. The config and layer blobs must be committed.
    pub fn cache_put(&mut self, key: &Digest, config: &Digest, layers: &[LayerRecord]) -> Result<(), StoreError> {
        for d in layers.iter().map(|l| &l.diff_id).chain([config]) {
            if !self.has_blob(d) {
                return Err(StoreError::MissingBlob(*d));
            }
        }
        self.sync_blobs()?;
        let tx = self.db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = now_nanos();
        for l in layers {
            tx.execute(
                "INSERT OR IGNORE INTO layers (diff_id, tar_size, content_size) VALUES (?1, ?2, ?3)",
                params![l.diff_id.to_string(), l.tar_size as i64, l.content_size as i64],
            )?;
        }
        tx.execute("DELETE FROM build_cache_layers WHERE key = ?1", [key.to_string()])?;
        tx.execute("DELETE FROM build_cache WHERE key = ?1", [key.to_string()])?;
        tx.execute(
            "INSERT INTO build_cache (key, config, created, last_used) VALUES (?1, ?2, ?3, ?3)",
            params![key.to_string(), config.to_string(), now],
        )?;
        for (i, l) in layers.iter().enumerate() {
            tx.execute(
                "INSERT INTO build_cache_layers (key, position, diff_id) VALUES (?1, ?2, ?3)",
                params![key.to_string(), i as i64, l.diff_id.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Every cache record, least recently used first.
    pub fn cache_records(&self) -> Result<Vec<CacheRecord>, StoreError> {
        self.query_cache(None, i64::MIN)
    }

    /// The record for `key` without marking it used (an import asking whether it has
    /// the record already must not make it look used by the build).
    pub fn cache_peek(&self, key: &Digest) -> Result<Option<CacheRecord>, StoreError> {
        Ok(self.query_cache(Some(key), i64::MIN)?.pop())
    }

    /// Records used or made at or after `since_unix_nanos`: what a build that started
    /// then touched (the records a cache export of that build sends).
    pub fn cache_records_used_since(&self, since_unix_nanos: i64) -> Result<Vec<CacheRecord>, StoreError> {
        self.query_cache(None, since_unix_nanos)
    }

    /// The recorded sizes of a layer the store knows and holds (a cache import reuses
    /// them instead of reading the layer again); `None` when it lacks either.
    pub fn layer_record(&self, diff_id: &Digest) -> Result<Option<LayerRecord>, StoreError> {
        let row: Option<(i64, i64)> = self
            .db
            .query_row("SELECT tar_size, content_size FROM layers WHERE diff_id = ?1", [diff_id.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        Ok(row.filter(|_| self.has_blob(diff_id)).map(|(t, c)| LayerRecord {
            diff_id: *diff_id,
            tar_size: t as u64,
            content_size: c as u64,
        }))
    }

    fn query_cache(&self, key: Option<&Digest>, since: i64) -> Result<Vec<CacheRecord>, StoreError> {
        let key = key.map(|k| k.to_string());
        let mut stmt = self.db.prepare_cached(
            "SELECT key, config, created, last_used FROM build_cache WHERE (?1 IS NULL OR key = ?1) AND last_used >= ?2
             ORDER BY last_used, key",
        )?;
        let rows: Vec<(String, String, i64, i64)> = stmt
            .query_map(params![&key, since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        let mut layers_stmt = self.db.prepare_cached(
            "SELECT l.diff_id, l.tar_size, l.content_size FROM build_cache_layers c JOIN layers l ON l.diff_id = c.diff_id
             WHERE c.key = ?1 ORDER BY c.position",
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (k, config, created, last_used) in rows {
            let layers = layers_stmt
                .query_map([&k], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?
                .map(|row| {
                    let (d, t, c) = row?;
                    Ok(LayerRecord { diff_id: digest(d)?, tar_size: t as u64, content_size: c as u64 })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            out.push(CacheRecord {
                key: digest(k)?,
                config: digest(config)?,
                layers,
                created_unix_nanos: created,
                last_used_unix_nanos: last_used,
            });
        }
        Ok(out)
    }

    /// Removes cache records (their blobs go at the next GC unless an image uses them).
    pub fn cache_remove(&mut self, keys: &[Digest]) -> Result<(), StoreError> {
        let tx = self.db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for k in keys {
            tx.execute("DELETE FROM build_cache_layers WHERE key = ?1", [k.to_string()])?;
            tx.execute("DELETE FROM build_cache WHERE key = ?1", [k.to_string()])?;
        }
        tx.execute(crate::db::DELETE_ORPHAN_LAYERS, [])?;
        tx.commit()?;
        Ok(())
    }

    /// The remembered digest of a file whose stamps have not changed.
    pub fn file_digest(&self, stamp: &FileStamp) -> Result<Option<Digest>, StoreError> {
        let row: Option<String> = self
            .db
            .query_row(
                "SELECT digest FROM file_digests WHERE dev = ?1 AND ino = ?2 AND size = ?3 AND mtime = ?4 AND ctime = ?5",
                params![stamp.dev as i64, stamp.ino as i64, stamp.size as i64, stamp.mtime_nanos, stamp.ctime_nanos],
                |r| r.get(0),
            )
            .optional()?;
        row.map(digest).transpose()
    }

    /// Remembers file digests, in one transaction (a build hashes many files at once).
    pub fn remember_file_digests(&mut self, entries: &[(FileStamp, Digest)]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let tx = self.db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO file_digests (dev, ino, size, mtime, ctime, digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(dev, ino) DO UPDATE SET size = excluded.size, mtime = excluded.mtime,
                 ctime = excluded.ctime, digest = excluded.digest",
            )?;
            for (s, d) in entries {
                stmt.execute(params![
                    s.dev as i64,
                    s.ino as i64,
                    s.size as i64,
                    s.mtime_nanos,
                    s.ctime_nanos,
                    d.to_string()
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
