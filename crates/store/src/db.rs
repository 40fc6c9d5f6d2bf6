//! SQLite metadata: images, their layers, and the references (tags and repo digests)
//! that name them. WAL mode with a generous busy timeout lets many gantry processes
//! share one store; every change is one `BEGIN IMMEDIATE` transaction, so a reader
//! never sees half of it and writers never deadlock upgrading a read lock.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use gantry_image::{Digest, Reference};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::{Store, StoreError};

/// Forgets layers that neither an image nor a cache record uses (their blobs then
/// go at the next GC).
pub(crate) const DELETE_ORPHAN_LAYERS: &str =
    "DELETE FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM image_layers)
     AND diff_id NOT IN (SELECT diff_id FROM build_cache_layers)";

/// Bumped whenever a table is added; `open` brings older stores up to date.
const SCHEMA_VERSION: i64 = 4;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,            -- config digest: the image ID
    created INTEGER NOT NULL,       -- unix nanoseconds from the config (0 when absent)
    size INTEGER NOT NULL,          -- sum of the layers' content sizes, as docker reports
    labels TEXT NOT NULL,           -- JSON object
    parent TEXT                     -- image this one was built on (builds only)
);
CREATE TABLE IF NOT EXISTS layers (
    diff_id TEXT PRIMARY KEY,       -- digest of the uncompressed tar = blob name
    tar_size INTEGER NOT NULL,
    content_size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    diff_id TEXT NOT NULL REFERENCES layers(diff_id),
    PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS image_layers_by_layer ON image_layers(diff_id);
CREATE TABLE IF NOT EXISTS refs (
    name TEXT PRIMARY KEY,          -- full normalized reference: docker.io/library/busybox:latest
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    is_digest INTEGER NOT NULL,     -- 1 for repo@sha256:... references
    added INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS refs_by_image ON refs(image_id);
"#;

pub(crate) fn open(path: &Path) -> Result<Connection, StoreError> {
    let db = Connection::open(path)?;
    db.busy_timeout(Duration::from_secs(60))?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "NORMAL")?;
    db.pragma_update(None, "foreign_keys", "ON")?;
    // The last connection to close would checkpoint the WAL and delete it, with three
    // fsyncs, in every command (twice in `run`: before its monitor starts and after the
    // container ends). The WAL is checkpointed as it fills instead; a crash is recovered
    // from it either way.
    db.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    let mut version: i64 = db.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version < SCHEMA_VERSION {
        // Several processes may open an old store at once: the first to get the write
        // lock upgrades, the others wait for it and find the work done.
        let tx = rusqlite::Transaction::new_unchecked(&db, TransactionBehavior::Immediate)?;
        version = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < SCHEMA_VERSION {
            // Every statement is CREATE ... IF NOT EXISTS, so upgrading applies them all.
            tx.execute_batch(SCHEMA)?;
            tx.execute_batch(crate::cache::SCHEMA)?;
            tx.execute_batch(crate::containers::SCHEMA)?;
            tx.execute_batch(crate::distribution::SCHEMA)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            version = SCHEMA_VERSION;
        }
        tx.commit()?;
    }
    if version != SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!("schema version {version} is newer than this gantry understands")));
    }
    Ok(db)
}

/// A layer as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    pub diff_id: Digest,
    pub tar_size: u64,
    /// Docker's notion of a layer's size: file contents, not tar framing.
    pub content_size: u64,
}

/// What `put_image` records. Every blob it names must already be committed.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub id: Digest,
    pub created_unix_nanos: i64,
    pub layers: Vec<LayerRecord>,
    pub labels: BTreeMap<String, String>,
    pub parent: Option<Digest>,
}

/// An image with the references that name it.
#[derive(Debug, Clone)]
pub struct ImageRecord {
    pub id: Digest,
    pub created_unix_nanos: i64,
    pub size: u64,
    pub labels: BTreeMap<String, String>,
    pub parent: Option<Digest>,
    /// Tags, oldest first.
    pub tags: Vec<Reference>,
    /// `repo@sha256:...` references.
    pub digests: Vec<Reference>,
    /// When a reference was last set on it (docker's `Metadata.LastTagTime`).
    pub last_tagged_unix_nanos: Option<i64>,
}

/// A reference moved onto an image, and the image it was taken from (which may now
/// be dangling).
#[derive(Debug, Clone)]
pub struct Tagged {
    pub reference: Reference,
    pub previous: Option<Digest>,
}

pub(crate) fn digest_col(s: String) -> Result<Digest, StoreError> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("bad digest {s:?}")))
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

impl Store {
    /// Runs `f` in a `BEGIN IMMEDIATE` transaction. Every write goes through one: an
    /// autocommit statement reads before it writes, and in WAL mode a commit landing in
    /// between fails it at once (SQLITE_BUSY_SNAPSHOT) where waiting cannot help.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = rusqlite::Transaction::new_unchecked(&self.db, TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Records an image (idempotent) and points `refs` at it, in one transaction.
    pub fn put_image(&mut self, img: &NewImage, refs: &[Reference]) -> Result<Vec<Tagged>, StoreError> {
        Ok(self.put_images(&[(img.clone(), refs.to_vec())])?.pop().unwrap_or_default())
    }

    /// Records several images and their references in one transaction: all or none
    /// (a loaded archive appears whole or not at all).
    pub fn put_images(&mut self, images: &[(NewImage, Vec<Reference>)]) -> Result<Vec<Vec<Tagged>>, StoreError> {
        self.sync_blobs()?;
        // Checked under the write lock: blobs are only ever removed under it too
        // (GC, a failed load's clean-up), so none can vanish before this commits.
        let blobs = self.root.join("blobs/sha256");
        let tx = self.db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (img, _) in images {
            for d in img.layers.iter().map(|l| &l.diff_id).chain([&img.id]) {
                if !blobs.join(d.hex()).is_file() {
                    return Err(StoreError::MissingBlob(*d));
                }
            }
        }
        let mut out = Vec::new();
        for (img, refs) in images {
            for l in &img.layers {
                tx.execute(
                    "INSERT OR IGNORE INTO layers (diff_id, tar_size, content_size) VALUES (?1, ?2, ?3)",
                    params![l.diff_id.to_string(), l.tar_size as i64, l.content_size as i64],
                )?;
            }
            let size: u64 = img.layers.iter().map(|l| l.content_size).sum();
            let labels = serde_json::to_string(&img.labels).unwrap_or_else(|_| "{}".into());
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO images (id, created, size, labels, parent) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    img.id.to_string(),
                    img.created_unix_nanos,
                    size as i64,
                    labels,
                    img.parent.map(|p| p.to_string())
                ],
            )?;
            if inserted == 1 {
                for (i, l) in img.layers.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO image_layers (image_id, position, diff_id) VALUES (?1, ?2, ?3)",
                        params![img.id.to_string(), i as i64, l.diff_id.to_string()],
                    )?;
                }
            }
            let mut tagged = Vec::new();
            for r in refs {
                tagged.push(set_ref(&tx, img.id, r)?);
            }
            out.push(tagged);
        }
        tx.commit()?;
        Ok(out)
    }

    /// Points `reference` at image `id` (docker tag).
    pub fn tag(&mut self, id: Digest, reference: &Reference) -> Result<Tagged, StoreError> {
        let tx = self.db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool =
            tx.query_row("SELECT 1 FROM images WHERE id = ?1", [id.to_string()], |_| Ok(true)).optional()?.is_some();
        if !exists {
            return Err(StoreError::NoSuchImage(id.to_string()));
        }
        let t = set_ref(&tx, id, reference)?;
        tx.commit()?;
        Ok(t)
    }

    /// Removes a reference; `false` when it did not exist.
    pub fn untag(&mut self, reference: &Reference) -> Result<bool, StoreError> {
        let n = self.write(|tx| Ok(tx.execute("DELETE FROM refs WHERE name = ?1", [reference.to_string()])?))?;
        Ok(n > 0)
    }

    /// Every image with its references, newest first (docker's `images` order).
    pub fn images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        self.query_images(None)
    }

    /// One image by ID.
    pub fn image(&self, id: &Digest) -> Result<ImageRecord, StoreError> {
        self.query_images(Some(id))?.pop().ok_or_else(|| StoreError::NoSuchImage(id.to_string()))
    }

    /// Images (all, or the one with `id`) with their references: two queries whatever
    /// the number of images, so listing 1,000 images stays a few milliseconds.
    fn query_images(&self, id: Option<&Digest>) -> Result<Vec<ImageRecord>, StoreError> {
        let key = id.map(|d| d.to_string());
        /// An image's references as they are gathered.
        #[derive(Default)]
        struct Refs {
            tags: Vec<Reference>,
            digests: Vec<Reference>,
            last_set: Option<i64>,
        }
        let mut refs: HashMap<String, Refs> = HashMap::new();
        let mut stmt = self.db.prepare_cached(
            "SELECT name, image_id, is_digest, added FROM refs WHERE ?1 IS NULL OR image_id = ?1 ORDER BY added, name",
        )?;
        let rows = stmt.query_map([&key], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?, r.get::<_, i64>(3)?))
        })?;
        for row in rows {
            let (name, image, is_digest, added) = row?;
            let reference =
                Reference::parse(&name).map_err(|_| StoreError::Corrupt(format!("bad reference {name:?}")))?;
            let entry = refs.entry(image).or_default();
            entry.last_set = entry.last_set.max(Some(added));
            if is_digest {
                entry.digests.push(reference)
            } else {
                entry.tags.push(reference)
            }
        }
        let mut stmt = self.db.prepare_cached(
            "SELECT id, created, size, labels, parent FROM images WHERE ?1 IS NULL OR id = ?1 ORDER BY created DESC, id",
        )?;
        let rows = stmt.query_map([&key], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, created, size, labels, parent) = row?;
            let Refs { tags, digests, last_set: last_tagged_unix_nanos } = refs.remove(&id).unwrap_or_default();
            out.push(ImageRecord {
                id: digest_col(id)?,
                created_unix_nanos: created,
                size: size as u64,
                labels: serde_json::from_str(&labels).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                parent: parent.map(digest_col).transpose()?,
                tags,
                digests,
                last_tagged_unix_nanos,
            });
        }
        Ok(out)
    }

    /// The layers of an image, bottom first; an unknown image is an error, so a caller
    /// never mistakes a vanished image for one without layers.
    pub fn layers(&self, id: &Digest) -> Result<Vec<LayerRecord>, StoreError> {
        if !self.image_exists(id)? {
            return Err(StoreError::NoSuchImage(id.to_string()));
        }
        let mut stmt = self.db.prepare_cached(
            "SELECT l.diff_id, l.tar_size, l.content_size FROM image_layers il JOIN layers l ON l.diff_id = il.diff_id
             WHERE il.image_id = ?1 ORDER BY il.position",
        )?;
        let rows = stmt
            .query_map([id.to_string()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
        rows.map(|row| {
            let (d, t, c) = row?;
            Ok(LayerRecord { diff_id: digest_col(d)?, tar_size: t as u64, content_size: c as u64 })
        })
        .collect()
    }

    /// How many images use each of these layers.
    pub fn layer_use_counts(&self, diff_ids: &[Digest]) -> Result<Vec<u64>, StoreError> {
        let mut stmt =
            self.db.prepare_cached("SELECT COUNT(DISTINCT image_id) FROM image_layers WHERE diff_id = ?1")?;
        diff_ids.iter().map(|d| Ok(stmt.query_row([d.to_string()], |r| r.get::<_, i64>(0))? as u64)).collect()
    }

    /// Images whose parent is `id` (docker refuses to delete a parent of a child).
    pub fn children(&self, id: &Digest) -> Result<Vec<Digest>, StoreError> {
        let mut stmt = self.db.prepare_cached("SELECT id FROM images WHERE parent = ?1")?;
        let rows = stmt.query_map([id.to_string()], |r| r.get::<_, String>(0))?;
        rows.map(|r| digest_col(r?)).collect()
    }

    /// Removes `refs` from image `id` and then, if `delete` and nothing references the
    /// image any more (no tag, no digest, no child image, no container), deletes it — all in one
    /// transaction, so a tag another process adds meanwhile keeps the image alive.
    /// Returns the references actually removed and whether the image was deleted.
    pub fn remove_image(
        &mut self,
        id: &Digest,
        refs: &[Reference],
        delete: bool,
    ) -> Result<(Vec<Reference>, bool), StoreError> {
        let tx = self.db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut removed = Vec::new();
        for r in refs {
            if tx
                .execute("DELETE FROM refs WHERE name = ?1 AND image_id = ?2", params![r.to_string(), id.to_string()])?
                > 0
            {
                removed.push(r.clone());
            }
        }
        let mut deleted = false;
        if delete {
            let unreferenced = tx
                .query_row(
                    "SELECT 1 FROM images WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM refs WHERE image_id = ?1)
                     AND NOT EXISTS (SELECT 1 FROM images WHERE parent = ?1)
                     AND NOT EXISTS (SELECT 1 FROM containers WHERE image_id = ?1)",
                    [id.to_string()],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if unreferenced {
                tx.execute("DELETE FROM image_layers WHERE image_id = ?1", [id.to_string()])?;
                tx.execute("DELETE FROM images WHERE id = ?1", [id.to_string()])?;
                tx.execute(DELETE_ORPHAN_LAYERS, [])?;
                deleted = true;
            }
        }
        tx.commit()?;
        Ok((removed, deleted))
    }

    /// Removes these blobs unless metadata names them (an image, a layer, a cache
    /// record), under the write lock: a failed load takes back what it added without
    /// racing a concurrent load that is recording an image using the same content.
    pub fn remove_blobs_unless_referenced(&mut self, digests: &[Digest]) -> Result<usize, StoreError> {
        let tx = self.db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut removed = 0;
        for d in digests {
            let named = tx
                .query_row(
                    "SELECT 1 FROM images WHERE id = ?1 UNION ALL SELECT 1 FROM layers WHERE diff_id = ?1
                     UNION ALL SELECT 1 FROM build_cache WHERE config = ?1 LIMIT 1",
                    [d.to_string()],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !named && std::fs::remove_file(self.root.join("blobs/sha256").join(d.hex())).is_ok() {
                removed += 1;
            }
        }
        tx.commit()?;
        Ok(removed)
    }

    /// Every image's layer list (bottom first), for questions about sharing such as
    /// which chain IDs a removal releases.
    pub fn all_image_layers(&self) -> Result<HashMap<Digest, Vec<Digest>>, StoreError> {
        let mut stmt =
            self.db.prepare_cached("SELECT image_id, diff_id FROM image_layers ORDER BY image_id, position")?;
        let mut out: HashMap<Digest, Vec<Digest>> = HashMap::new();
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (img, d) = row?;
            out.entry(digest_col(img)?).or_default().push(digest_col(d)?);
        }
        Ok(out)
    }

    /// Resolves what a user typed (a reference, a full ID, or an ID prefix) to an image
    /// ID, in docker's order: full ID, then reference, then unique ID prefix.
    pub fn resolve(&self, s: &str) -> Result<(Digest, Option<Reference>), StoreError> {
        if let Ok(d) = s.parse::<Digest>() {
            if self.image_exists(&d)? {
                return Ok((d, None));
            }
        }
        if let Ok(r) = Reference::parse(s) {
            let r = r.with_default_tag();
            let id: Option<String> = self
                .db
                .query_row("SELECT image_id FROM refs WHERE name = ?1", [r.to_string()], |row| row.get(0))
                .optional()?;
            if let Some(id) = id {
                return Ok((digest_col(id)?, Some(r)));
            }
        }
        let prefix = s.strip_prefix("sha256:").unwrap_or(s);
        if gantry_image::reference::is_id_prefix(prefix) {
            let mut stmt = self.db.prepare_cached("SELECT id FROM images WHERE id >= ?1 AND id < ?2 LIMIT 2")?;
            let lo = format!("sha256:{prefix}");
            let hi = format!("sha256:{prefix}\u{7f}");
            let ids: Vec<String> = stmt.query_map(params![lo, hi], |r| r.get(0))?.collect::<Result<_, _>>()?;
            match ids.len() {
                1 => return Ok((digest_col(ids.into_iter().next().unwrap_or_default())?, None)),
                0 => {}
                _ => return Err(StoreError::Ambiguous(s.to_string())),
            }
        }
        Err(StoreError::NoSuchImage(s.to_string()))
    }

    fn image_exists(&self, id: &Digest) -> Result<bool, StoreError> {
        Ok(self.db.query_row("SELECT 1 FROM images WHERE id = ?1", [id.to_string()], |_| Ok(())).optional()?.is_some())
    }

    /// Every digest metadata names: configs and layers. GC keeps exactly these.
    pub(crate) fn referenced_blobs(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut set = std::collections::HashSet::new();
        let mut stmt = self.db.prepare(
            "SELECT id FROM images UNION SELECT diff_id FROM layers UNION SELECT config FROM build_cache
             UNION SELECT digest FROM layer_blobs WHERE stored = 1 AND diff_id IN (SELECT diff_id FROM layers)",
        )?;
        for r in stmt.query_map([], |r| r.get::<_, String>(0))? {
            let d = r?;
            set.insert(d.strip_prefix("sha256:").unwrap_or(&d).to_string());
        }
        Ok(set)
    }

    pub(crate) fn checkpoint(&self) -> Result<(), StoreError> {
        self.db.query_row("PRAGMA wal_checkpoint(FULL)", [], |_| Ok(()))?;
        Ok(())
    }

    pub(crate) fn delete_orphan_layers(&self) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(DELETE_ORPHAN_LAYERS, [])?;
            Ok(tx.execute(crate::distribution::DELETE_ORPHAN_LAYER_BLOBS, [])?)
        })?;
        Ok(())
    }
}

fn set_ref(tx: &rusqlite::Transaction<'_>, id: Digest, r: &Reference) -> Result<Tagged, StoreError> {
    let name = r.to_string();
    let existing: Option<String> =
        tx.query_row("SELECT image_id FROM refs WHERE name = ?1", [&name], |row| row.get(0)).optional()?;
    let existing = existing.map(digest_col).transpose()?;
    let previous = existing.filter(|p| *p != id);
    if existing.is_none() || previous.is_some() {
        tx.execute(
            "INSERT INTO refs (name, image_id, is_digest, added) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, added = excluded.added",
            params![name, id.to_string(), r.digest().is_some() && r.tag().is_none(), now_nanos()],
        )?;
    }
    Ok(Tagged { reference: r.clone(), previous })
}
