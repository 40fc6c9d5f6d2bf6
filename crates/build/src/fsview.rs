//! The filesystem an image's layers add up to, read straight from the stored layer
//! tars (they are uncompressed, so headers are found by seeking and file data by
//! offset). Builds without RUN never unpack a snapshot: COPY --from, --chown name
//! lookups and "is the destination a directory" all read this view.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use gantry_image::Digest;
use gantry_store::Store;

use crate::BuildError;

/// What kind of filesystem object an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A hard link to another entry of the same layer (`link` names it).
    Hardlink,
    Char,
    Block,
    Fifo,
}

/// One path of the view, as the topmost layer that has it describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: u64,
    /// Symlink target, or the hard link's target path (root-relative, no leading `/`).
    pub link: Option<String>,
    pub device: (u32, u32),
    /// Which layer (index into the chain) holds the data, and where in its blob.
    pub layer: usize,
    pub data_offset: u64,
}

/// The merged view of a layer chain, bottom layer first.
pub struct FsView {
    layers: Vec<Digest>,
    entries: BTreeMap<String, Entry>,
}

/// Normalizes a tar or user path to the view's keys: no leading `/` or `./`, no
/// trailing `/`, `.` components dropped, `..` resolved lexically without leaving `/`.
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn parent(path: &str) -> &str {
    path.rfind('/').map(|i| &path[..i]).unwrap_or("")
}

fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

impl FsView {
    /// Reads the headers of every layer and merges them, applying whiteouts.
    pub fn new(store: &Store, layers: &[Digest]) -> Result<FsView, BuildError> {
        let mut view = FsView { layers: layers.to_vec(), entries: BTreeMap::new() };
        for (i, d) in layers.iter().enumerate() {
            view.apply_layer(store, i, d)?;
        }
        Ok(view)
    }

    /// An empty view (`FROM scratch`).
    pub fn empty() -> FsView {
        FsView { layers: Vec::new(), entries: BTreeMap::new() }
    }

    fn remove_tree(&mut self, dir: &str) {
        let doomed: Vec<String> = self
            .entries
            .range(dir.to_string()..)
            .take_while(|(k, _)| is_under(k, dir))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.entries.remove(&k);
        }
    }

    fn apply_layer(&mut self, store: &Store, index: usize, digest: &Digest) -> Result<(), BuildError> {
        let file = store.open_blob(digest)?;
        let bad = |e: std::io::Error| BuildError::Layer(format!("layer {digest}: {e}"));
        let mut archive = tar::Archive::new(file);
        let mut opaque: Vec<String> = Vec::new();
        let mut added: Vec<(String, Entry)> = Vec::new();
        for entry in archive.entries_with_seek().map_err(bad)? {
            let entry = entry.map_err(bad)?;
            let path = clean(&String::from_utf8_lossy(&entry.path_bytes()));
            let name = path.rsplit('/').next().unwrap_or("");
            if name == ".wh..wh..opq" {
                opaque.push(parent(&path).to_string());
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let dir = parent(&path);
                let target = if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") };
                self.remove_tree(&target);
                continue;
            }
            if path.is_empty() {
                continue; // the root itself
            }
            let h = entry.header();
            let kind = match h.entry_type() {
                t if t.is_dir() => Kind::Dir,
                t if t.is_symlink() => Kind::Symlink,
                t if t.is_hard_link() => Kind::Hardlink,
                t if t.is_character_special() => Kind::Char,
                t if t.is_block_special() => Kind::Block,
                t if t.is_fifo() => Kind::Fifo,
                _ => Kind::File,
            };
            let link = entry.link_name_bytes().map(|l| {
                let l = String::from_utf8_lossy(&l).into_owned();
                if kind == Kind::Hardlink {
                    clean(&l)
                } else {
                    l
                }
            });
            let device = (h.device_major().ok().flatten().unwrap_or(0), h.device_minor().ok().flatten().unwrap_or(0));
            added.push((
                path,
                Entry {
                    kind,
                    mode: h.mode().unwrap_or(0o644) & 0o7777,
                    uid: h.uid().unwrap_or(0),
                    gid: h.gid().unwrap_or(0),
                    size: if kind == Kind::File { entry.size() } else { 0 },
                    mtime: h.mtime().unwrap_or(0),
                    link,
                    device,
                    layer: index,
                    data_offset: entry.raw_file_position(),
                },
            ));
        }
        // Opaque directories hide what lower layers had below them, not this layer's own.
        for dir in opaque {
            let keep = self.entries.get(&dir).cloned();
            self.remove_tree(&dir);
            if let Some(e) = keep {
                self.entries.insert(dir, e);
            }
        }
        for (path, e) in added {
            // A non-directory replaces a whole lower tree.
            if e.kind != Kind::Dir {
                self.remove_tree(&path);
            }
            self.entries.insert(path, e);
        }
        Ok(())
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(&clean(path))
    }

    /// Follows symlinks (within the view, as a chroot would) to the entry a path names.
    /// `follow_last = false` stops at a final symlink. `None` if it does not exist or
    /// the links loop.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Option<(String, &Entry)> {
        let real = self.resolve_path(path, follow_last)?;
        self.entries.get(&real).map(|e| (real, e))
    }

    /// The real path a path names, following symlinks like [`FsView::resolve`]; the
    /// root is `""` (a link to `/` resolves to it). `None` if a component is missing
    /// or the links loop.
    pub fn resolve_path(&self, path: &str, follow_last: bool) -> Option<String> {
        let mut pending: Vec<String> = clean(path).split('/').filter(|p| !p.is_empty()).map(str::to_string).collect();
        pending.reverse();
        let mut current = String::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            let next = if current.is_empty() { part.clone() } else { format!("{current}/{part}") };
            let entry = self.entries.get(&next)?;
            if entry.kind == Kind::Symlink && (follow_last || !pending.is_empty()) {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let target = entry.link.clone().unwrap_or_default();
                let base = if target.starts_with('/') { String::new() } else { current.clone() };
                let joined = clean(&format!("{base}/{target}"));
                let mut parts: Vec<String> = joined.split('/').filter(|p| !p.is_empty()).map(str::to_string).collect();
                parts.reverse();
                // Restart from the root: the link's target, then what remained.
                pending.extend(parts);
                current = String::new();
                continue;
            }
            current = next;
        }
        Some(current)
    }

    /// True when `path` (following links) is a directory of the view, or the root.
    pub fn is_dir(&self, path: &str) -> bool {
        clean(path).is_empty() || self.resolve(path, true).is_some_and(|(_, e)| e.kind == Kind::Dir)
    }

    /// Every entry at or below `dir` (not following links), in path order.
    pub fn walk<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a String, &'a Entry)> + 'a {
        self.entries.range(dir.to_string()..).take_while(move |(k, _)| is_under(k, dir))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A reader over a regular file's bytes (hard links are followed to their target).
    pub fn open(&self, store: &Store, entry: &Entry) -> Result<impl Read, BuildError> {
        let entry = match entry.kind {
            Kind::Hardlink => self
                .entries
                .get(entry.link.as_deref().unwrap_or(""))
                .filter(|e| e.kind == Kind::File)
                .ok_or_else(|| BuildError::Layer("hard link to a missing file".into()))?,
            _ => entry,
        };
        let digest =
            self.layers.get(entry.layer).ok_or_else(|| BuildError::Layer("entry of an unknown layer".into()))?;
        let mut f: File = store.open_blob(digest)?;
        f.seek(SeekFrom::Start(entry.data_offset)).map_err(|e| BuildError::Layer(format!("layer {digest}: {e}")))?;
        Ok(f.take(entry.size))
    }

    /// A small file's bytes (`/etc/passwd`, `/etc/group`); `None` if absent.
    pub fn read_small(&self, store: &Store, path: &str, limit: u64) -> Result<Option<Vec<u8>>, BuildError> {
        let Some((_, e)) = self.resolve(path, true) else { return Ok(None) };
        if !matches!(e.kind, Kind::File | Kind::Hardlink) || e.size > limit {
            return Ok(None);
        }
        let mut buf = Vec::new();
        self.open(store, e)?.read_to_end(&mut buf).map_err(|e| BuildError::Layer(e.to_string()))?;
        Ok(Some(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(clean("/a/./b/"), "a/b");
        assert_eq!(clean("./a//b"), "a/b");
        assert_eq!(clean("../../a"), "a");
        assert_eq!(clean("a/../../b"), "b");
        assert_eq!(clean("/"), "");
        assert!(is_under("a/b", "a") && !is_under("ab", "a") && is_under("x", ""));
    }
}
