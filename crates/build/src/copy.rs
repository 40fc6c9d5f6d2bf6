//! COPY and ADD: what they select (from the context, or another stage's or image's
//! filesystem), where it lands (docker's destination rules, resolved through the
//! image's own symlinks), who owns it, and the layer that results.

use std::time::Instant;

use gantry_dockerfile::ignore;
use gantry_dockerfile::instructions::{Command, Dockerfile};
use gantry_store::Store;

use crate::chmod::Chmod;
use crate::exec::{dir_item, key_of, Builder, State};
use crate::fsview::{clean, FsView, Kind};
use crate::layerwriter::{write_layer, Item, Source};
use crate::BuildError;

/// Where a destination really is in the image: each existing component is followed
/// through the image's symlinks (as a chroot would), the rest appended as written.
fn resolve_dest(view: &FsView, dest: &str) -> String {
    let mut resolved = String::new();
    let parts: Vec<&str> = dest.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let next = if resolved.is_empty() { part.to_string() } else { format!("{resolved}/{part}") };
        match view.resolve_path(&next, true) {
            Some(real) => resolved = real,
            None => {
                let rest = parts[i..].join("/");
                return if resolved.is_empty() { rest } else { format!("{resolved}/{rest}") };
            }
        }
    }
    resolved
}

/// COPY/ADD after word expansion.
pub(crate) struct CopySpec {
    pub(crate) sources: Vec<String>,
    pub(crate) dest: String,
    pub(crate) from: Option<String>,
    pub(crate) chown: Option<String>,
    pub(crate) chmod: Option<String>,
    pub(crate) heredocs: Vec<(String, String)>,
    pub(crate) exclude: Vec<String>,
    pub(crate) parents: bool,
    pub(crate) link: bool,
    pub(crate) add: bool,
    /// ADD's URL sources, downloaded (the source string is the URL).
    pub(crate) remote: Vec<crate::remote::Downloaded>,
}

/// `--chown` value to ids, names looked up in the image's /etc/passwd and /etc/group.
pub(crate) fn resolve_owner(store: &Store, view: &FsView, spec: &str) -> Result<(u64, u64), BuildError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str, field: usize| -> Result<u64, BuildError> {
        if let Ok(n) = name.parse::<u64>() {
            return Ok(n);
        }
        if name == "root" {
            return Ok(0);
        }
        let text = view.read_small(store, file, 4 << 20)?.unwrap_or_default();
        String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.first() == Some(&name)).then(|| f.get(field).and_then(|v| v.parse::<u64>().ok())).flatten()
            })
            .next()
            .ok_or_else(|| {
                BuildError::Context(format!(
                    "unable to find user {name}: no matching entries in {} file",
                    if file.ends_with("passwd") { "passwd" } else { "group" }
                ))
            })
    };
    let uid = lookup("/etc/passwd", user, 2)?;
    let gid = match group {
        Some(g) => lookup("/etc/group", g, 2)?,
        None => {
            if user.parse::<u64>().is_ok() {
                uid
            } else {
                lookup("/etc/passwd", user, 3)?
            }
        }
    };
    Ok((uid, gid))
}

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn copy(
        &mut self,
        st: &mut State,
        id: usize,
        began: Instant,
        cmd: &Command,
        spec: &CopySpec,
        results: &[Option<State>],
        df: &Dockerfile,
        no_cache: bool,
    ) -> Result<(), BuildError> {
        let word = if spec.add { "ADD" } else { "COPY" };
        let workdir = st.config.config.as_ref().and_then(|c| c.working_dir.clone()).unwrap_or_else(|| "/".into());
        let dest_is_dir_syntax = spec.dest.ends_with('/') || spec.dest == "." || spec.dest.ends_with("/.");
        let dest =
            if spec.dest.starts_with('/') { clean(&spec.dest) } else { clean(&format!("{workdir}/{}", spec.dest)) };
        let chmod = spec.chmod.as_deref().map(Chmod::parse).transpose().map_err(|e| BuildError::at(cmd, e))?;
        let mode_of = |mode: u32, kind: Kind| chmod.as_ref().map_or(mode, |c| c.apply(mode, kind == Kind::Dir));
        let exclude = ignore::IgnorePatterns::new(&spec.exclude).map_err(|e| BuildError::at(cmd, e.to_string()))?;
        // The source side: the context, or another stage's / image's filesystem.
        let source_state = match &spec.from {
            None => None,
            Some(from) => Some(self.copy_source(from, results, df).map_err(|e| BuildError::at(cmd, e.to_string()))?),
        };
        let mut created_by = word.to_string();
        for s in &spec.sources {
            created_by.push(' ');
            created_by.push_str(s);
        }
        for (name, _) in &spec.heredocs {
            created_by.push_str(&format!(" <<{name}"));
        }
        created_by.push(' ');
        created_by.push_str(&spec.dest);
        // What the step depends on, for its key.
        let (roots, source_digest, mut source_stage) = match &source_state {
            None => {
                let mut roots = Vec::new();
                for s in &spec.sources {
                    let selected = match spec.remote.iter().find(|d| d.url == *s) {
                        Some(d) => {
                            crate::context::Context::new(&d.dir, Default::default()).and_then(|c| c.select(&d.name))
                        }
                        None => self.context.select(s),
                    };
                    roots.extend(selected.map_err(|e| BuildError::at(cmd, e.to_string()))?);
                }
                let d = self.context.digest(self.store, &roots)?;
                (roots, d, None)
            }
            Some(src) => (Vec::new(), src.key, Some(src.clone())),
        };
        let heredoc_digest =
            key_of(&spec.heredocs.iter().flat_map(|(n, c)| [n.as_bytes(), c.as_bytes()]).collect::<Vec<_>>());
        let key = key_of(&[
            st.key.as_bytes(),
            created_by.as_bytes(),
            source_digest.as_bytes(),
            heredoc_digest.as_bytes(),
            spec.chown.as_deref().unwrap_or("").as_bytes(),
            spec.chmod.as_deref().unwrap_or("").as_bytes(),
            spec.exclude.join("\n").as_bytes(),
            if spec.parents { b"parents" } else { b"" },
            if spec.link { b"link" } else { b"" },
            workdir.as_bytes(),
        ]);
        let entry = self.history(format!("{created_by} # buildkit"), true);
        let now = self.now.max(0) as u64;
        self.cached(st, id, began, key, no_cache, |b, st| {
            let view = b.view(st)?;
            // Context files become root's unless --chown says otherwise; files from
            // another stage or image keep their owners (docker and BuildKit alike).
            let chown = match &spec.chown {
                Some(c) => Some(resolve_owner(b.store, &view, c).map_err(|e| BuildError::at(cmd, e.to_string()))?),
                None => None,
            };
            let (uid, gid) = chown.unwrap_or((0, 0));
            // --link makes the layer as if on an empty image (BuildKit): the destination
            // is not resolved through the base, and every parent it needs is in the layer.
            let empty = FsView::empty();
            let dest_view: &FsView = if spec.link { &empty } else { &view };
            // Writing through a symlink the image already has writes where it points.
            let dest = resolve_dest(dest_view, &dest);
            // ADD unpacks local archives: each becomes a directory source.
            let mut unpacked: Vec<Unpacked> = Vec::new();
            if spec.add {
                // Downloaded files are never unpacked (BuildKit).
                let downloaded = |r: &crate::context::SourceRoot| spec.remote.iter().any(|d| r.entries[0].abs.starts_with(&d.dir));
                for root in roots.iter().filter(|r| !downloaded(r)) {
                    if !root.is_dir && is_archive(&root.entries[0].abs) {
                        unpacked.push(Unpacked::extract(&root.entries[0].abs).map_err(|e| BuildError::at(cmd, e))?);
                    }
                }
            }
            let dir_source = !unpacked.is_empty()
                || roots.iter().any(|r| r.is_dir)
                || source_stage.as_mut().is_some_and(|src| {
                    b.view(src).is_ok_and(|v| spec.sources.iter().any(|s| v.is_dir(s)))
                });
            let dest_is_dir = dest_is_dir_syntax || dest.is_empty() || dir_source || dest_view.is_dir(&dest);
            let mut items: Vec<Item> = Vec::new();
            let mut count = 0;
            let target = |rel: &str, base: &str, root_is_dir: bool| -> String {
                let leaf = if root_is_dir { rel.to_string() } else if dest_is_dir { base.to_string() } else { String::new() };
                clean(&format!("{dest}/{leaf}"))
            };
            for u in &unpacked {
                count += 1;
                for e in u.entries.iter().filter(|e| !e.rel.is_empty() && !exclude.is_excluded(&e.rel)) {
                    let source = if e.kind == Kind::File { Source::Disk(e.abs.clone()) } else { Source::Empty };
                    // Unpacked entries keep the archive's owners unless --chown is given.
                    let (uid, gid) = chown.unwrap_or((e.uid, e.gid));
                    let path = clean(&format!("{dest}/{}", e.rel));
                    let (mode, mtime, size, link) = (mode_of(e.mode, e.kind), e.mtime, e.size, e.link.clone());
                    items.push(Item { path, kind: e.kind, mode, uid, gid, mtime, size, link, source });
                }
            }
            for root in &roots {
                if unpacked.iter().any(|u| u.source == root.entries[0].abs) {
                    continue;
                }
                count += 1;
                let base = root.name.clone();
                for e in &root.entries {
                    if root.is_dir && e.rel.is_empty() {
                        continue; // the directory itself: its contents go to dest
                    }
                    if !e.rel.is_empty() && exclude.is_excluded(&e.rel) {
                        continue;
                    }
                    // --parents keeps each source's path in the context below dest.
                    let path = if spec.parents {
                        clean(&format!("{dest}/{}/{}", root.path, e.rel))
                    } else {
                        target(&e.rel, &base, root.is_dir)
                    };
                    let mode = mode_of(e.mode, e.kind);
                    let source = if e.kind == Kind::File { Source::Disk(e.abs.clone()) } else { Source::Empty };
                    items.push(Item { path, kind: e.kind, mode, uid, gid, mtime: e.mtime, size: e.size, link: e.link.clone(), source });
                }
            }
            let source_view;
            if let Some(src) = source_stage.as_mut() {
                source_view = b.view(src)?;
                let mut named: Vec<String> = Vec::new();
                for s in &spec.sources {
                    let matches = expand_in_view(&source_view, s);
                    if matches.is_empty() {
                        return Err(BuildError::at(cmd, format!("\"/{}\": not found", clean(s))));
                    }
                    named.extend(matches);
                }
                for s in &named {
                    let Some((resolved, entry)) = source_view.resolve(s, true) else {
                        return Err(BuildError::at(cmd, format!("\"/{}\": not found", clean(s))));
                    };
                    count += 1;
                    let is_dir = entry.kind == Kind::Dir;
                    // A followed symlink keeps its own name in the destination.
                    let base = clean(s).rsplit('/').next().unwrap_or("").to_string();
                    for (p, e) in source_view.walk(&resolved) {
                        let rel = p.strip_prefix(&resolved).unwrap_or("").trim_start_matches('/');
                        if is_dir && rel.is_empty() {
                            continue;
                        }
                        if !rel.is_empty() && exclude.is_excluded(rel) {
                            continue;
                        }
                        let path = if spec.parents { clean(&format!("{dest}/{p}")) } else { target(rel, &base, is_dir) };
                        let mode = mode_of(e.mode, e.kind);
                        let (kind, link, size) = match e.kind {
                            // Hard links may point outside what is copied: copy their data.
                            Kind::Hardlink => (Kind::File, None, source_view.resolve(e.link.as_deref().unwrap_or(""), false).map(|(_, t)| t.size).unwrap_or(0)),
                            k => (k, e.link.clone(), e.size),
                        };
                        let source = if kind == Kind::File { Source::View(&source_view, e.clone()) } else { Source::Empty };
                        let (uid, gid) = chown.unwrap_or((e.uid, e.gid));
                        items.push(Item { path, kind, mode, uid, gid, mtime: e.mtime, size, link, source });
                    }
                }
            }
            for (name, content) in &spec.heredocs {
                count += 1;
                let path = if dest_is_dir { clean(&format!("{dest}/{name}")) } else { dest.clone() };
                let bytes = content.clone().into_bytes();
                items.push(Item { path, kind: Kind::File, mode: mode_of(0o644, Kind::File), uid, gid, mtime: now, size: bytes.len() as u64, link: None, source: Source::Bytes(bytes) });
            }
            if count > 1 && !dest_is_dir && !spec.parents {
                return Err(BuildError::at(cmd, format!("When using {word} with more than one source file, the destination must be a directory and end with a /")));
            }
            // Parent directories the destination needs and the image lacks.
            let mut prefix = String::new();
            let dir_of_dest = if dest_is_dir { dest.clone() } else { dest.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default() };
            for part in dir_of_dest.split('/').filter(|p| !p.is_empty()) {
                prefix = if prefix.is_empty() { part.to_string() } else { format!("{prefix}/{part}") };
                if !dest_view.is_dir(&prefix) && !items.iter().any(|i| i.path == prefix) {
                    // BuildKit creates every missing directory of the path as --chown's owner.
                    items.push(dir_item(prefix.clone(), uid, gid, now));
                }
            }
            let rec = write_layer(b.store, b.clamp(items))?;
            st.layers.push(rec);
            st.view = None;
            st.config.history.push(entry);
            Ok(())
        })
    }

    /// With SOURCE_DATE_EPOCH, no timestamp in a layer is later than the epoch, so two
    /// builds of the same inputs are byte-identical.
    pub(crate) fn clamp<'i>(&self, mut items: Vec<Item<'i>>) -> Vec<Item<'i>> {
        if let Some(epoch) = self.opts.source_date_epoch {
            let epoch = epoch.max(0) as u64;
            for i in &mut items {
                i.mtime = i.mtime.min(epoch);
            }
        }
        items
    }

    /// `COPY --from=`: a stage by name or index, else an image in the store.
    pub(crate) fn copy_source(
        &mut self,
        from: &str,
        results: &[Option<State>],
        df: &Dockerfile,
    ) -> Result<State, BuildError> {
        let lower = from.to_ascii_lowercase();
        let index = from
            .parse::<usize>()
            .ok()
            .or_else(|| df.stages.iter().position(|s| s.name.as_deref() == Some(lower.as_str())));
        if let Some(i) = index {
            return results
                .get(i)
                .cloned()
                .flatten()
                .ok_or_else(|| BuildError::Dockerfile(format!("stage {from} is not built before it is used")));
        }
        self.image_state(from)
    }
}

/// True when a local ADD source is an archive ADD unpacks (tar, possibly compressed).
fn is_archive(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut prefix = Vec::with_capacity(gantry_layer::DETECT_LEN);
    std::fs::File::open(path)
        .and_then(|f| f.take(gantry_layer::DETECT_LEN.max(512) as u64).read_to_end(&mut prefix))
        .is_ok_and(|n| n > 0 && gantry_layer::apply::looks_like_archive(&prefix))
}

/// A local archive ADD unpacked into a private temporary directory (removed on drop),
/// with its entries listed in path order.
struct Unpacked {
    source: std::path::PathBuf,
    dir: std::path::PathBuf,
    /// The extracted tree, root first (read the way context sources are).
    entries: Vec<crate::context::ContextEntry>,
}

impl Unpacked {
    fn extract(source: &std::path::Path) -> Result<Unpacked, String> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("gantry-add-{}-{n}", std::process::id()));
        // create_dir (not _all) fails if something is already there: nothing planted
        // in the temporary directory is ever written through.
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut u = Unpacked { source: source.to_path_buf(), dir, entries: Vec::new() };
        let file = std::fs::File::open(source).map_err(|e| format!("{}: {e}", source.display()))?;
        gantry_layer::apply::extract(file, &u.dir).map_err(|e| format!("unpacking {}: {e}", source.display()))?;
        let tree = crate::context::Context::new(&u.dir, gantry_dockerfile::ignore::IgnorePatterns::default())
            .and_then(|c| c.select("."))
            .map_err(|e| e.to_string())?;
        u.entries = tree.into_iter().flat_map(|root| root.entries).collect();
        Ok(u)
    }
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A COPY --from source as paths of the source filesystem: itself, or with wildcards
/// every path matching it component by component (as the context's sources).
fn expand_in_view(view: &FsView, source: &str) -> Vec<String> {
    let pattern = clean(source);
    if !gantry_dockerfile::glob::has_meta(&pattern) {
        return if view.resolve(&pattern, true).is_some() || pattern.is_empty() { vec![pattern] } else { Vec::new() };
    }
    let comps: Vec<&str> = pattern.split('/').collect();
    view.walk("")
        .map(|(p, _)| p)
        .filter(|p| {
            let parts: Vec<&str> = p.split('/').collect();
            parts.len() == comps.len() && parts.iter().zip(&comps).all(|(n, c)| gantry_dockerfile::glob::matches(c, n))
        })
        .cloned()
        .collect()
}
