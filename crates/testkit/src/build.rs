//! What build tests share: a store with `busybox:latest` loaded, a context directory,
//! a scratch directory, and ways to run `gantry build` and look at what it made.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{base, Gantry, Run};

/// A gantry store with busybox:latest, a build context and a scratch directory.
pub struct BuildEnv {
    pub g: Gantry,
    pub ctx: tempfile::TempDir,
    pub work: tempfile::TempDir,
}

/// Writes `content` to `root/rel`, creating parent directories.
pub fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("a relative path has a parent")).expect("create dirs");
    std::fs::write(p, content).expect("write file");
}

impl BuildEnv {
    pub fn new(bin: &str) -> BuildEnv {
        let g = Gantry::new(bin);
        let work = tempfile::tempdir().expect("temp dir");
        let img = base::busybox_archive(work.path(), "busybox:latest");
        g.ok(&["load", "-i", img.archive.to_str().expect("utf-8 path")]);
        BuildEnv { g, ctx: tempfile::tempdir().expect("temp dir"), work }
    }

    /// A file of the build context.
    pub fn file(&self, rel: &str, content: &str) {
        write(self.ctx.path(), rel, content);
    }

    /// A path in the scratch directory (outside the context).
    pub fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// `gantry build ARGS... CONTEXT`.
    pub fn build(&self, args: &[&str]) -> Run {
        let mut all = vec!["build"];
        all.extend_from_slice(args);
        let ctx = self.ctx.path().to_str().expect("utf-8 path").to_string();
        all.push(&ctx);
        self.g.run(&all)
    }

    /// Builds, failing the test on error; returns the progress output (stderr).
    pub fn build_ok(&self, args: &[&str]) -> String {
        let r = self.build(args);
        assert!(r.success(), "build failed:\n{}", r.stderr);
        r.stderr
    }

    /// `gantry inspect NAME`'s one object.
    pub fn inspect(&self, name: &str) -> Value {
        let v: Value = serde_json::from_str(&self.g.ok(&["inspect", name])).expect("inspect prints JSON");
        v[0].clone()
    }

    /// The image's filesystem from `gantry save`: path -> (mode, uid, gid, content or
    /// link target), layers applied in order (later entries replace earlier ones,
    /// whiteouts remove).
    pub fn files(&self, name: &str) -> BTreeMap<String, (u32, u64, u64, String)> {
        let out = self.work.path().join(format!("files-{}.tar", name.replace(['/', ':'], "_")));
        self.g.ok(&["save", "-o", out.to_str().expect("utf-8 path"), name]);
        let manifest: Value =
            serde_json::from_slice(&base::archive_member(&out, "manifest.json").expect("manifest.json")).expect("JSON");
        let mut fs = BTreeMap::new();
        for layer in manifest[0]["Layers"].as_array().expect("Layers") {
            let bytes = base::archive_member(&out, layer.as_str().expect("path")).expect("layer");
            let mut ar = tar::Archive::new(&bytes[..]);
            for e in ar.entries().expect("tar") {
                let mut e = e.expect("entry");
                let path = e.path().expect("path").to_string_lossy().trim_end_matches('/').to_string();
                // Whiteouts remove what earlier layers had (an opaque directory: all of it).
                let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
                if let Some(gone) = name.strip_prefix(".wh.") {
                    let target = if gone == ".wh..opq" {
                        dir.to_string()
                    } else if dir.is_empty() {
                        gone.to_string()
                    } else {
                        format!("{dir}/{gone}")
                    };
                    let prefix = if target.is_empty() { String::new() } else { format!("{target}/") };
                    fs.retain(|k: &String, _| {
                        if gone == ".wh..opq" {
                            !k.starts_with(&prefix)
                        } else {
                            *k != target && !k.starts_with(&prefix)
                        }
                    });
                    continue;
                }
                let h = e.header().clone();
                let mut content = String::new();
                if h.entry_type().is_symlink() {
                    content =
                        e.link_name().ok().flatten().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
                } else if h.entry_type().is_hard_link() {
                    // A hard link shows its target's content.
                    let target = e.link_name().ok().flatten().map(|l| l.to_string_lossy().into_owned());
                    content = target
                        .and_then(|t| fs.get(t.trim_start_matches('/')))
                        .map(|v: &(u32, u64, u64, String)| v.3.clone())
                        .unwrap_or_default();
                } else {
                    let _ = e.read_to_string(&mut content);
                }
                fs.insert(path, (h.mode().unwrap_or(0), h.uid().unwrap_or(0), h.gid().unwrap_or(0), content));
            }
        }
        let _ = std::fs::remove_file(&out);
        fs
    }
}

/// A test that fails half-way leaves no container running or mounted behind it:
/// whatever containers remain are removed by force when the environment goes.
impl Drop for BuildEnv {
    fn drop(&mut self) {
        let ids = self.g.run(&["ps", "-aq", "--no-trunc"]).stdout;
        let ids: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids);
            let _ = self.g.run(&args);
        }
        // Sandboxes of builds killed by a test, if any.
        let _ = self.g.run(&["builder", "prune", "-f"]);
    }
}
