//! The store's promises, tested through its public API.

use std::collections::BTreeMap;
use std::io::Write;

use gantry_image::{Digest, Reference};
use gantry_store::{LayerRecord, NewImage, Store, StoreError};

fn store() -> (tempfile::TempDir, Store) {
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(&t.path().join("root")).unwrap();
    (t, s)
}

fn blob_count(s: &Store) -> usize {
    std::fs::read_dir(s.root().join("blobs/sha256")).unwrap().count()
}

/// Stores a layer blob and a config naming it; returns the image.
fn image(s: &mut Store, layer: &[u8], config: &str) -> NewImage {
    let diff_id = s.put_bytes(layer).unwrap();
    let id = s.put_bytes(config.as_bytes()).unwrap();
    NewImage {
        id,
        created_unix_nanos: 5,
        layers: vec![LayerRecord { diff_id, tar_size: layer.len() as u64, content_size: 3 }],
        labels: BTreeMap::new(),
        parent: None,
    }
}

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap().with_default_tag()
}

#[test]
fn ingest_is_invisible_until_commit_and_gone_when_dropped() {
    let (_t, s) = store();
    let mut ing = s.ingest().unwrap();
    ing.write_all(b"half a blob").unwrap();
    assert_eq!(blob_count(&s), 0);
    assert_eq!(std::fs::read_dir(s.root().join("ingest")).unwrap().count(), 0, "O_TMPFILE has no name");
    drop(ing);
    assert_eq!(blob_count(&s), 0);
    let mut ing = s.ingest().unwrap();
    ing.write_all(b"whole").unwrap();
    let d = Digest::of(b"whole");
    ing.commit(&d).unwrap();
    assert_eq!(s.read_blob(&d).unwrap(), b"whole");
    // Committing the same content again is harmless.
    let mut ing = s.ingest().unwrap();
    ing.write_all(b"whole").unwrap();
    ing.commit(&d).unwrap();
    assert_eq!(blob_count(&s), 1);
}

#[test]
fn put_image_tags_and_moves_tags() {
    let (_t, mut s) = store();
    let a = image(&mut s, b"layer-a", r#"{"a":1}"#);
    let b = image(&mut s, b"layer-b", r#"{"b":1}"#);
    let t = s.put_image(&a, &[r("app"), r("app:v1")]).unwrap();
    assert!(t.iter().all(|t| t.previous.is_none()));
    let t = s.put_image(&b, &[r("app")]).unwrap();
    assert_eq!(t[0].previous, Some(a.id), "the tag moved from a");
    let imgs = s.images().unwrap();
    assert_eq!(imgs.len(), 2);
    let ia = imgs.iter().find(|i| i.id == a.id).unwrap();
    assert_eq!(ia.tags, vec![r("app:v1")]);
    assert_eq!(ia.size, 3);
    // Loading the same image twice changes nothing.
    s.put_image(&b, &[r("app")]).unwrap();
    assert_eq!(s.images().unwrap().len(), 2);
}

#[test]
fn put_image_refuses_missing_blobs() {
    let (_t, mut s) = store();
    let mut img = image(&mut s, b"layer", "{}");
    img.layers[0].diff_id = Digest::of(b"not stored");
    assert!(matches!(s.put_image(&img, &[]), Err(StoreError::MissingBlob(_))));
    assert!(s.images().unwrap().is_empty());
}

#[test]
fn resolve_prefers_full_id_then_reference_then_prefix() {
    let (_t, mut s) = store();
    let a = image(&mut s, b"l", r#"{"x":1}"#);
    s.put_image(&a, &[r("busybox")]).unwrap();
    assert_eq!(s.resolve("busybox").unwrap(), (a.id, Some(r("busybox:latest"))));
    assert_eq!(s.resolve("docker.io/library/busybox:latest").unwrap().0, a.id);
    assert_eq!(s.resolve(&a.id.to_string()).unwrap(), (a.id, None));
    assert_eq!(s.resolve(&a.id.hex()[..4]).unwrap(), (a.id, None));
    assert_eq!(s.resolve(&format!("sha256:{}", &a.id.hex()[..7])).unwrap(), (a.id, None));
    assert!(matches!(s.resolve("busybox:other"), Err(StoreError::NoSuchImage(_))));
    assert!(matches!(s.resolve("BAD"), Err(StoreError::NoSuchImage(_))));
    // A name that is also a hex prefix resolves as a name first.
    let b = image(&mut s, b"m", r#"{"y":1}"#);
    let prefix = a.id.hex()[..3].to_string();
    s.put_image(&b, &[r(&prefix)]).unwrap();
    assert_eq!(s.resolve(&prefix).unwrap().0, b.id);
}

#[test]
fn ambiguous_prefix_is_an_error() {
    let (_t, mut s) = store();
    // Find two configs whose IDs share a first hex digit.
    let mut by_first: BTreeMap<char, Digest> = BTreeMap::new();
    for i in 0.. {
        let img = image(&mut s, b"l", &format!(r#"{{"n":{i}}}"#));
        s.put_image(&img, &[]).unwrap();
        let c = img.id.hex().chars().next().unwrap();
        if by_first.insert(c, img.id).is_some() {
            assert!(matches!(s.resolve(&c.to_string()), Err(StoreError::Ambiguous(_))));
            return;
        }
    }
}

#[test]
fn gc_keeps_referenced_blobs_and_waits_for_leases() {
    let (_t, mut s) = store();
    let a = image(&mut s, b"shared", r#"{"a":1}"#);
    let mut b = image(&mut s, b"own", r#"{"b":1}"#);
    b.layers.push(a.layers[0].clone());
    s.put_image(&a, &[r("a")]).unwrap();
    s.put_image(&b, &[r("b")]).unwrap();
    let orphan = s.put_bytes(b"unreferenced").unwrap();
    // A lease held by a running command blocks an opportunistic sweep.
    let lease = s.lease().unwrap();
    assert!(s.gc(false).unwrap().skipped);
    drop(lease);
    let report = s.gc(false).unwrap();
    assert_eq!(report.removed.iter().map(|r| r.0).collect::<Vec<_>>(), vec![orphan]);
    let (removed, deleted) = s.remove_image(&b.id, &[r("b")], true).unwrap();
    assert_eq!((removed, deleted), (vec![r("b")], true));
    let removed: Vec<Digest> = s.gc(true).unwrap().removed.into_iter().map(|r| r.0).collect();
    assert_eq!(removed.len(), 2, "b's config and its own layer");
    assert!(s.has_blob(&a.layers[0].diff_id), "the shared layer stays");
    assert_eq!(s.layer_use_counts(&[a.layers[0].diff_id]).unwrap(), vec![1]);
}

#[test]
fn two_processes_worth_of_connections_share_the_store() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let threads: Vec<_> = (0..4)
        .map(|n| {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut s = Store::open(&root).unwrap();
                for i in 0..20 {
                    let img = image(&mut s, format!("layer {n} {i}").as_bytes(), &format!(r#"{{"n":{n},"i":{i}}}"#));
                    s.put_image(&img, &[r(&format!("t{n}:v{i}"))]).unwrap();
                }
            })
        })
        .collect();
    // Join every thread before judging, so one failure cannot delete the root under
    // the others and hide the cause.
    let results: Vec<_> = threads.into_iter().map(|t| t.join()).collect();
    assert!(results.iter().all(Result::is_ok), "a thread failed");
    let s = Store::open(&root).unwrap();
    assert_eq!(s.images().unwrap().len(), 80);
}

#[test]
fn cache_records_are_gc_roots_until_removed() {
    let (_t, mut s) = store();
    let img = image(&mut s, b"cached layer", r#"{"step":1}"#);
    let key = Digest::of(b"step key");
    assert_eq!(s.cache_get(&key).unwrap(), None);
    s.cache_put(&key, &img.id, &img.layers).unwrap();
    let rec = s.cache_get(&key).unwrap().unwrap();
    assert_eq!((rec.config, rec.layers.clone()), (img.id, img.layers.clone()));
    assert!(s.gc(true).unwrap().removed.is_empty(), "cache records keep their blobs");
    assert_eq!(s.cache_records().unwrap().len(), 1);
    // Re-recording a key replaces it.
    s.cache_put(&key, &img.id, &[]).unwrap();
    assert!(s.cache_get(&key).unwrap().unwrap().layers.is_empty());
    s.cache_remove(&[key]).unwrap();
    assert_eq!(s.gc(true).unwrap().removed.len(), 2, "config and layer go once no record uses them");
    assert!(s.cache_records().unwrap().is_empty());
}

#[test]
fn cache_put_refuses_missing_blobs() {
    let (_t, mut s) = store();
    let r = s.cache_put(&Digest::of(b"k"), &Digest::of(b"no config"), &[]);
    assert!(matches!(r, Err(StoreError::MissingBlob(_))));
}

#[test]
fn file_digest_memo_needs_every_stamp_to_match() {
    use gantry_store::FileStamp;
    let (_t, mut s) = store();
    let stamp = FileStamp { dev: 1, ino: 2, size: 3, mtime_nanos: 4, ctime_nanos: 5 };
    let d = Digest::of(b"abc");
    assert_eq!(s.file_digest(&stamp).unwrap(), None);
    s.remember_file_digests(&[(stamp, d)]).unwrap();
    assert_eq!(s.file_digest(&stamp).unwrap(), Some(d));
    for changed in [
        FileStamp { size: 9, ..stamp },
        FileStamp { mtime_nanos: 9, ..stamp },
        FileStamp { ctime_nanos: 9, ..stamp },
        FileStamp { ino: 9, ..stamp },
    ] {
        assert_eq!(s.file_digest(&changed).unwrap(), None, "{changed:?}");
    }
    // A newer digest for the same inode replaces the old one.
    let newer = FileStamp { mtime_nanos: 10, ..stamp };
    s.remember_file_digests(&[(newer, Digest::of(b"new"))]).unwrap();
    assert_eq!(s.file_digest(&stamp).unwrap(), None);
    assert_eq!(s.file_digest(&newer).unwrap(), Some(Digest::of(b"new")));
}

#[test]
fn a_version_one_store_is_upgraded_in_place() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    drop(Store::open(&root).unwrap());
    // Make it look like a store written before the build-cache tables existed.
    let db = rusqlite::Connection::open(root.join("gantry.db")).unwrap();
    db.execute_batch(
        "DROP TABLE build_cache_layers; DROP TABLE build_cache; DROP TABLE file_digests; PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(db);
    let mut s = Store::open(&root).unwrap();
    let img = image(&mut s, b"l", "{}");
    s.cache_put(&Digest::of(b"k"), &img.id, &img.layers).unwrap();
}

#[test]
fn many_processes_opening_a_new_store_at_once_all_succeed() {
    // Initializing a new database from several connections at once used to fail one of
    // them with "database is locked" (seen once in CI); opening is now serialized.
    for round in 0..25 {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (root, barrier) = (root.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Store::open(&root).map(|s| s.images().map(|i| i.len()))
                })
            })
            .collect();
        for th in threads {
            let r = th.join().expect("thread");
            assert!(matches!(r, Ok(Ok(0))), "round {round}: {r:?}");
        }
    }
}
