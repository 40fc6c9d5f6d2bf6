//! COPY source selection and hashing against a real context directory.

use std::os::unix::fs::symlink;
use std::path::Path;

use gantry_build::context::Context;
use gantry_build::fsview::Kind;
use gantry_dockerfile::ignore::IgnorePatterns;
use gantry_store::Store;

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

fn ctx(dir: &Path, ignore: &str) -> Context {
    Context::new(dir, IgnorePatterns::parse(ignore).unwrap()).unwrap()
}

fn rels(c: &Context, src: &str) -> Vec<String> {
    c.select(src).unwrap().iter().flat_map(|r| r.entries.iter().map(move |e| format!("{}:{}", r.path, e.rel))).collect()
}

fn setup() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(r, "app/main.go", "package main");
    write(r, "app/lib/util.go", "package lib");
    write(r, "app/debug.log", "noise");
    write(r, "README.md", "readme");
    write(r, "a.txt", "a");
    write(r, "b.txt", "b");
    symlink("a.txt", r.join("link-to-a")).unwrap();
    symlink("../../etc/passwd", r.join("escape")).unwrap();
    symlink("/a.txt", r.join("abs-link")).unwrap();
    t
}

#[test]
fn directories_copy_their_contents_and_ignore_rules_apply() {
    let t = setup();
    let c = ctx(t.path(), "**/*.log\n");
    assert_eq!(rels(&c, "app"), ["app:", "app:lib", "app:lib/util.go", "app:main.go"]);
    assert_eq!(rels(&c, "/app/"), rels(&c, "app"));
    assert_eq!(rels(&c, "./app/lib/../main.go"), ["app/main.go:"]);
    let roots = c.select("app").unwrap();
    assert!(roots[0].is_dir);
    assert_eq!(roots[0].entries[0].kind, Kind::Dir);
    let err = c.select("app/debug.log").unwrap_err().to_string();
    assert!(err.contains("not found"), "excluded files are invisible: {err}");
}

#[test]
fn wildcards_match_per_component() {
    let t = setup();
    let c = ctx(t.path(), "");
    assert_eq!(rels(&c, "*.txt"), ["a.txt:", "b.txt:"]);
    assert_eq!(rels(&c, "app/*.go"), ["app/main.go:"]);
    assert_eq!(rels(&c, "*/lib/*.go"), ["app/lib/util.go:"]);
    assert!(c.select("*.nothing").unwrap_err().to_string().contains("not found"));
}

#[test]
fn links_resolve_inside_the_context_only() {
    let t = setup();
    let c = ctx(t.path(), "");
    let roots = c.select("link-to-a").unwrap();
    assert_eq!(roots[0].path, "a.txt", "a named symlink is followed");
    assert_eq!(c.select("abs-link").unwrap()[0].path, "a.txt", "absolute targets start at the context root");
    for bad in ["escape", "../outside", "app/../../x"] {
        let err = c.select(bad).unwrap_err().to_string();
        assert!(err.contains("outside the build context"), "{bad}: {err}");
    }
    // Inside a copied directory, links are copied as links, not followed.
    let all = c.select(".").unwrap();
    let esc = all[0].entries.iter().find(|e| e.rel == "escape").unwrap();
    assert_eq!((esc.kind, esc.link.as_deref()), (Kind::Symlink, Some("../../etc/passwd")));
}

#[test]
fn digests_follow_content_not_times_and_use_the_memo() {
    let t = setup();
    let st = tempfile::tempdir().unwrap();
    let mut store = Store::open(&st.path().join("root")).unwrap();
    let c = ctx(t.path(), "");
    let d1 = c.digest(&mut store, &c.select("app").unwrap()).unwrap();
    // Touching a file (new mtime, same bytes) keeps the digest.
    let f = t.path().join("app/main.go");
    std::fs::write(&f, "package main").unwrap();
    assert_eq!(c.digest(&mut store, &c.select("app").unwrap()).unwrap(), d1);
    write(t.path(), "app/main.go", "package main // changed");
    let d2 = c.digest(&mut store, &c.select("app").unwrap()).unwrap();
    assert_ne!(d2, d1);
    // The memo answers for unchanged files: corrupting the memo's view would show.
    let sel = c.select("a.txt").unwrap();
    let da = c.digest(&mut store, &sel).unwrap();
    assert_eq!(store.file_digest(&sel[0].entries[0].stamp).unwrap(), Some(gantry_image::Digest::of(b"a")));
    assert_eq!(c.digest(&mut store, &sel).unwrap(), da);
}
