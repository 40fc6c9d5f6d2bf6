//! Container records: what `create` decided (the image, the name, the configuration
//! as JSON owned by the runtime), kept in the metadata DB so names are unique across
//! processes and images in use are known. A container's live state is not here: its
//! monitor writes it beside the container's files (`<root>/containers/<id>/`).

use std::path::PathBuf;

use gantry_image::Digest;
use rusqlite::{params, OptionalExtension};

use crate::{Store, StoreError};

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,            -- 64 hex digits
    name TEXT NOT NULL UNIQUE,      -- without docker's leading '/'
    image_id TEXT NOT NULL,         -- the image it was created from (kept while in use)
    image_name TEXT NOT NULL,       -- as the user wrote it (`ps` shows it)
    config TEXT NOT NULL,           -- JSON: the runtime's container configuration
    created INTEGER NOT NULL        -- unix nanoseconds
);
CREATE INDEX IF NOT EXISTS containers_by_image ON containers(image_id);
"#;

#[derive(Debug, Clone)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub image_id: Digest,
    pub image_name: String,
    pub config: String,
    pub created_unix_nanos: i64,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String, String, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

fn record(t: (String, String, String, String, String, i64)) -> Result<ContainerRecord, StoreError> {
    let image_id = t.2.parse().map_err(|_| StoreError::Corrupt(format!("bad image id {:?}", t.2)))?;
    Ok(ContainerRecord { id: t.0, name: t.1, image_id, image_name: t.3, config: t.4, created_unix_nanos: t.5 })
}

const COLUMNS: &str = "id, name, image_id, image_name, config, created";

impl Store {
    /// Where a container's files live (bundle, upper dir, logs, state).
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root().join("containers").join(id)
    }

    /// Records a new container; a name already taken is docker's conflict error.
    pub fn create_container(&mut self, rec: &ContainerRecord) -> Result<(), StoreError> {
        // Before the record exists: every later command mounts it the way it was made.
        self.record_driver(&self.container_dir(&rec.id), self.storage_driver())?;
        self.write(|tx| {
            let taken: Option<String> =
                tx.query_row("SELECT id FROM containers WHERE name = ?1", [&rec.name], |r| r.get(0)).optional()?;
            if let Some(other) = taken {
                return Err(StoreError::Conflict(format!(
                    "Conflict. The container name \"/{}\" is already in use by container \"{other}\". \
                     You have to remove (or rename) that container to be able to reuse that name.",
                    rec.name
                )));
            }
            tx.execute(
                "INSERT INTO containers (id, name, image_id, image_name, config, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![rec.id, rec.name, rec.image_id.to_string(), rec.image_name, rec.config, rec.created_unix_nanos],
            )?;
            Ok(())
        })
    }

    /// Every container, newest first (docker's `ps` order).
    pub fn containers(&self) -> Result<Vec<ContainerRecord>, StoreError> {
        let mut stmt = self.db.prepare(&format!("SELECT {COLUMNS} FROM containers ORDER BY created DESC, id"))?;
        let rows = stmt.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(record).collect()
    }

    /// A container by full ID, name (with or without a leading `/`) or unique ID
    /// prefix, as docker resolves them.
    pub fn container(&self, key: &str) -> Result<ContainerRecord, StoreError> {
        let name = key.strip_prefix('/').unwrap_or(key);
        let exact: Option<_> = self
            .db
            .query_row(&format!("SELECT {COLUMNS} FROM containers WHERE id = ?1 OR name = ?2"), [key, name], row)
            .optional()?;
        if let Some(t) = exact {
            return record(t);
        }
        let hex = !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if hex {
            let mut stmt = self.db.prepare(&format!("SELECT {COLUMNS} FROM containers WHERE id LIKE ?1 || '%'"))?;
            let mut rows = stmt.query_map([key], row)?.collect::<Result<Vec<_>, _>>()?;
            if rows.len() > 1 {
                return Err(StoreError::Conflict(format!("Multiple IDs found with provided prefix: {key}")));
            }
            if let Some(t) = rows.pop() {
                return record(t);
            }
        }
        Err(StoreError::NoSuchContainer(key.to_string()))
    }

    /// Forgets a container (its files are the caller's to remove first).
    pub fn remove_container(&mut self, id: &str) -> Result<(), StoreError> {
        self.write(|tx| Ok(tx.execute("DELETE FROM containers WHERE id = ?1", [id])?))?;
        Ok(())
    }

    /// IDs of the containers created from `image`.
    pub fn containers_using(&self, image: &Digest) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.db.prepare("SELECT id FROM containers WHERE image_id = ?1 ORDER BY created")?;
        let ids = stmt.query_map([image.to_string()], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }
}
