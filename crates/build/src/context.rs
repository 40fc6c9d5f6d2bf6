//! The build context: what COPY/ADD sources select from it, and the digest of a
//! selection for cache keys.
//!
//! Nothing outside the context is ever read: every path, and every symlink met while
//! resolving one, is resolved inside the context root as if it were `/`, and a link
//! that climbs out of it is an error. Files `.dockerignore` excludes are invisible.
//! Digests of file contents are memoized by (dev, inode, size, mtime, ctime), so an
//! unchanged rebuild stats files but reads none.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use gantry_dockerfile::glob;
use gantry_dockerfile::ignore::IgnorePatterns;
use gantry_image::{Digest, Sha256};
use gantry_store::{FileStamp, Store};

use crate::fsview::{clean, Kind};
use crate::BuildError;

/// One file, directory or link selected from the context.
#[derive(Debug, Clone)]
pub struct ContextEntry {
    /// Path relative to the source root (`""` for the root itself).
    pub rel: String,
    pub abs: PathBuf,
    pub kind: Kind,
    pub mode: u32,
    pub size: u64,
    pub mtime: u64,
    pub link: Option<String>,
    /// The file's owner on disk (COPY replaces it; ADD keeps an unpacked archive's).
    pub uid: u64,
    pub gid: u64,
    pub stamp: FileStamp,
}

/// What one COPY source (after wildcard expansion) names.
#[derive(Debug, Clone)]
pub struct SourceRoot {
    /// Context-relative path of the source (after following a named symlink).
    pub path: String,
    /// The name the source was given (a symlink's own name, not its target's): the
    /// name it gets in the destination directory.
    pub name: String,
    /// A directory's contents are copied, not the directory itself.
    pub is_dir: bool,
    /// The root first, then everything below a directory, in path order.
    pub entries: Vec<ContextEntry>,
}

/// A build context directory and its ignore rules.
pub struct Context {
    root: PathBuf,
    ignore: IgnorePatterns,
}

fn outside(src: &str) -> BuildError {
    BuildError::Context(format!("forbidden path outside the build context: {src}"))
}

fn not_found(src: &str) -> BuildError {
    BuildError::Context(format!("\"/{}\": not found", clean(src)))
}

impl Context {
    pub fn new(root: &Path, ignore: IgnorePatterns) -> Result<Context, BuildError> {
        let root = root
            .canonicalize()
            .map_err(|e| BuildError::Context(format!("unable to prepare context: {}: {e}", root.display())))?;
        Ok(Context { root, ignore })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves `rel` inside the context, following symlinks in-root; `follow_last`
    /// decides for the final component. Returns the context-relative path and its
    /// metadata, or `None` if it does not exist.
    fn resolve(
        &self,
        rel: &str,
        follow_last: bool,
        src: &str,
    ) -> Result<Option<(String, std::fs::Metadata)>, BuildError> {
        let mut pending: Vec<String> =
            rel.split('/').filter(|p| !p.is_empty() && *p != ".").map(str::to_string).collect();
        pending.reverse();
        let mut current: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            if part == ".." {
                if current.pop().is_none() {
                    return Err(outside(src));
                }
                continue;
            }
            current.push(part);
            let path = self.root.join(current.join("/"));
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                    return Ok(None)
                }
                Err(e) => return Err(BuildError::Context(format!("{}: {e}", path.display()))),
            };
            if meta.file_type().is_symlink() && (follow_last || !pending.is_empty()) {
                hops += 1;
                if hops > 40 {
                    return Err(BuildError::Context(format!("{src}: too many levels of symbolic links")));
                }
                let target =
                    std::fs::read_link(&path).map_err(|e| BuildError::Context(format!("{}: {e}", path.display())))?;
                let target = target.to_string_lossy().into_owned();
                current.pop();
                if target.starts_with('/') {
                    // As in a chroot: an absolute target starts at the context root.
                    current.clear();
                }
                let mut parts: Vec<String> =
                    target.split('/').filter(|p| !p.is_empty() && *p != ".").map(str::to_string).collect();
                parts.reverse();
                pending.extend(parts);
                continue;
            }
            if pending.is_empty() {
                return Ok(Some((current.join("/"), meta)));
            }
        }
        let meta = std::fs::metadata(&self.root).map_err(|e| BuildError::Context(e.to_string()))?;
        Ok(Some((String::new(), meta)))
    }

    fn entry(&self, rel: String, abs: PathBuf, meta: &std::fs::Metadata) -> Result<ContextEntry, BuildError> {
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_file() {
            Kind::File
        } else {
            use std::os::unix::fs::FileTypeExt;
            if ft.is_fifo() {
                Kind::Fifo
            } else if ft.is_char_device() {
                Kind::Char
            } else if ft.is_block_device() {
                Kind::Block
            } else {
                return Err(BuildError::Context(format!("{}: unsupported file type", abs.display())));
            }
        };
        let link = if kind == Kind::Symlink {
            Some(
                std::fs::read_link(&abs)
                    .map_err(|e| BuildError::Context(e.to_string()))?
                    .to_string_lossy()
                    .into_owned(),
            )
        } else {
            None
        };
        Ok(ContextEntry {
            rel,
            abs,
            kind,
            mode: meta.mode() & 0o7777,
            size: if kind == Kind::File { meta.len() } else { 0 },
            mtime: meta.mtime().max(0) as u64,
            link,
            uid: u64::from(meta.uid()),
            gid: u64::from(meta.gid()),
            stamp: FileStamp {
                dev: meta.dev(),
                ino: meta.ino(),
                size: meta.len(),
                mtime_nanos: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
                ctime_nanos: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            },
        })
    }

    /// Context-relative paths matching `pattern` (wildcards per path component),
    /// excluded paths left out, in path order.
    fn expand(&self, pattern: &str, src: &str) -> Result<Vec<String>, BuildError> {
        let mut found = vec![String::new()];
        for comp in pattern.split('/').filter(|c| !c.is_empty()) {
            let mut next = Vec::new();
            for dir in &found {
                if !glob::has_meta(comp) {
                    next.push(if dir.is_empty() { comp.to_string() } else { format!("{dir}/{comp}") });
                    continue;
                }
                // A candidate reached through a link that leaves the context simply
                // does not match; only a source named outright is an error.
                let Ok(Some((resolved, meta))) = self.resolve(dir, true, src) else { continue };
                if !meta.is_dir() {
                    continue;
                }
                let abs = self.root.join(&resolved);
                let mut names: Vec<String> = std::fs::read_dir(&abs)
                    .map_err(|e| BuildError::Context(format!("{}: {e}", abs.display())))?
                    .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                    .filter(|n| glob::matches(comp, n))
                    .collect();
                names.sort();
                for n in names {
                    let p = if dir.is_empty() { n } else { format!("{dir}/{n}") };
                    if !self.ignore.is_excluded(&p) {
                        next.push(p);
                    }
                }
            }
            found = next;
        }
        Ok(found)
    }

    /// What a COPY/ADD source selects: each match with everything below it.
    pub fn select(&self, src: &str) -> Result<Vec<SourceRoot>, BuildError> {
        let cleaned = src.trim_start_matches('/');
        if cleaned
            .split('/')
            .filter(|c| !c.is_empty())
            .try_fold(0i32, |depth, c| match c {
                ".." if depth == 0 => None,
                ".." => Some(depth - 1),
                "." => Some(depth),
                _ => Some(depth + 1),
            })
            .is_none()
        {
            return Err(outside(src));
        }
        let paths = if glob::has_meta(cleaned) { self.expand(cleaned, src)? } else { vec![clean(cleaned)] };
        let mut roots = Vec::new();
        for path in paths {
            if !path.is_empty() && self.ignore.is_excluded(&path) {
                continue;
            }
            let Some((resolved, meta)) = self.resolve(&path, true, src)? else { continue };
            if !resolved.is_empty() && self.ignore.is_excluded(&resolved) {
                continue;
            }
            let abs = self.root.join(&resolved);
            let root_entry = self.entry(String::new(), abs.clone(), &meta)?;
            let is_dir = root_entry.kind == Kind::Dir;
            let mut entries = vec![root_entry];
            if is_dir {
                self.walk(&resolved, &abs, "", &mut entries)?;
            }
            let name = path.rsplit('/').next().unwrap_or("").to_string();
            roots.push(SourceRoot { path: resolved, name, is_dir, entries });
        }
        if roots.is_empty() {
            return Err(not_found(src));
        }
        Ok(roots)
    }

    /// What the ignore rules leave out below the selected directory `root`, relative to
    /// it, topmost entries only: what a bind mount of the live directory must hide to
    /// show what BuildKit's mounts show (only what the context sends). Symlinks are
    /// never followed: one is shown or hidden as itself.
    pub fn hidden(&self, root: &SourceRoot) -> Result<Vec<String>, BuildError> {
        if !root.is_dir {
            return Ok(Vec::new());
        }
        // Everything selected, and the directories leading to it.
        let mut shown: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for e in &root.entries {
            let mut p = e.rel.as_str();
            while shown.insert(p) {
                match p.rsplit_once('/') {
                    Some((parent, _)) => p = parent,
                    None if !p.is_empty() => p = "",
                    None => break,
                }
            }
        }
        let base = self.root.join(&root.path);
        let mut hidden = Vec::new();
        let mut pending = vec![String::new()];
        while let Some(dir) = pending.pop() {
            let abs = base.join(&dir);
            let entries =
                std::fs::read_dir(&abs).map_err(|e| BuildError::Context(format!("{}: {e}", abs.display())))?;
            for entry in entries {
                let entry = entry.map_err(|e| BuildError::Context(format!("{}: {e}", abs.display())))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let rel = if dir.is_empty() { name } else { format!("{dir}/{name}") };
                if !shown.contains(rel.as_str()) {
                    hidden.push(rel);
                } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    pending.push(rel);
                }
            }
        }
        hidden.sort();
        Ok(hidden)
    }

    fn walk(
        &self,
        ctx_dir: &str,
        abs_dir: &Path,
        rel_dir: &str,
        out: &mut Vec<ContextEntry>,
    ) -> Result<(), BuildError> {
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(abs_dir)
            .map_err(|e| BuildError::Context(format!("{}: {e}", abs_dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for name in names {
            let name = name.to_string_lossy().into_owned();
            let ctx_path = if ctx_dir.is_empty() { name.clone() } else { format!("{ctx_dir}/{name}") };
            let rel = if rel_dir.is_empty() { name.clone() } else { format!("{rel_dir}/{name}") };
            let abs = abs_dir.join(&name);
            let meta =
                std::fs::symlink_metadata(&abs).map_err(|e| BuildError::Context(format!("{}: {e}", abs.display())))?;
            let excluded = self.ignore.is_excluded(&ctx_path);
            if meta.is_dir() {
                if excluded && self.ignore.skips_dir(&ctx_path) {
                    continue;
                }
                if !excluded {
                    out.push(self.entry(rel.clone(), abs.clone(), &meta)?);
                }
                self.walk(&ctx_path, &abs, &rel, out)?;
            } else if !excluded {
                out.push(self.entry(rel, abs, &meta)?);
            }
        }
        Ok(())
    }

    /// The digest of a selection: paths, types, modes, sizes, link targets and file
    /// contents (not times or owners, which COPY replaces). File contents come from
    /// the memo when a file's stamps are unchanged.
    pub fn digest(&self, store: &mut Store, roots: &[SourceRoot]) -> Result<Digest, BuildError> {
        let mut h = Sha256::new();
        let mut learned = Vec::new();
        for root in roots {
            h.update(format!("root {:?} {}\n", root.path, root.is_dir).as_bytes());
            for e in &root.entries {
                h.update(format!("{:?} {:?} {:o} {} {:?}", e.rel, e.kind, e.mode, e.size, e.link).as_bytes());
                if e.kind == Kind::File {
                    let d = match store.file_digest(&e.stamp)? {
                        Some(d) => d,
                        None => {
                            let d = hash_file(&e.abs)?;
                            learned.push((e.stamp, d));
                            d
                        }
                    };
                    h.update(d.as_bytes());
                }
                h.update(b"\n");
            }
        }
        store.remember_file_digests(&learned)?;
        Ok(h.finish())
    }
}

fn hash_file(path: &Path) -> Result<Digest, BuildError> {
    let mut f = std::fs::File::open(path).map_err(|e| BuildError::Context(format!("{}: {e}", path.display())))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| BuildError::Context(format!("{}: {e}", path.display())))?;
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a bind mount hides: the topmost ignored entries only, and nothing on the way
    /// to a file an exception brings back from an ignored directory.
    #[test]
    fn hidden_is_the_topmost_ignored_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["build/sub", "src/deep"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in ["a.log", "keep.txt", "build/sub/x", "src/main.c", "src/deep/gone", "src/deep/keep"] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        let ignore = IgnorePatterns::parse("*.log\nbuild\nsrc/deep\n!src/deep/keep\n").unwrap();
        let ctx = Context::new(root, ignore).unwrap();
        let all = ctx.select(".").unwrap();
        assert_eq!(ctx.hidden(&all[0]).unwrap(), ["a.log", "build", "src/deep/gone"]);
        let src = ctx.select("src").unwrap();
        assert_eq!(ctx.hidden(&src[0]).unwrap(), ["deep/gone"]);
        let file = ctx.select("keep.txt").unwrap();
        assert!(ctx.hidden(&file[0]).unwrap().is_empty());
    }
}
