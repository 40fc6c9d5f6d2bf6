//! The layer view against real layer blobs in a store.

use std::io::Read;

use gantry_build::fsview::{FsView, Kind};
use gantry_image::Digest;
use gantry_store::Store;

/// A tar built entry by entry: (path, kind, content or link target).
fn layer(entries: &[(&str, char, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(if *kind == 'd' { 0o755 } else { 0o644 });
        h.set_uid(1000);
        h.set_gid(1000);
        match kind {
            'd' => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
            'l' | 'h' => {
                h.set_entry_type(if *kind == 'l' { tar::EntryType::Symlink } else { tar::EntryType::Link });
                h.set_size(0);
                b.append_link(&mut h, path, data).unwrap();
            }
            _ => {
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, data.as_bytes()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn read(view: &FsView, store: &Store, path: &str) -> String {
    let (_, e) = view.resolve(path, true).unwrap_or_else(|| panic!("{path} missing"));
    let mut s = String::new();
    view.open(store, e).unwrap().read_to_string(&mut s).unwrap();
    s
}

#[test]
fn merges_layers_with_whiteouts_links_and_opaque_dirs() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(&t.path().join("root")).unwrap();
    let l1 = layer(&[
        ("etc/", 'd', ""),
        ("etc/passwd", 'f', "root:x:0:0::/root:/bin/sh\n"),
        ("etc/gone", 'f', "bye"),
        ("data/", 'd', ""),
        ("data/old", 'f', "old"),
        ("data/sub/", 'd', ""),
        ("data/sub/deep", 'f', "deep"),
        ("usr/", 'd', ""),
        ("usr/lib/", 'd', ""),
        ("usr/lib/x", 'f', "x"),
        ("lib", 'l', "usr/lib"),
        ("tree/", 'd', ""),
        ("tree/a", 'f', "a"),
    ]);
    let l2 = layer(&[
        ("etc/.wh.gone", 'f', ""),
        ("data/.wh..wh..opq", 'f', ""),
        ("data/new", 'f', "new"),
        ("etc/passwd", 'f', "root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home:/bin/sh\n"),
        ("etc/hard", 'h', "etc/passwd"),
        ("tree", 'f', "now a file"),
    ]);
    let d1 = store.put_bytes(&l1).unwrap();
    let d2 = store.put_bytes(&l2).unwrap();
    let view = FsView::new(&store, &[d1, d2]).unwrap();
    assert!(view.get("etc/gone").is_none(), "whiteout removes");
    assert!(view.get("data/old").is_none() && view.get("data/sub/deep").is_none(), "opaque dir hides lower contents");
    assert_eq!(read(&view, &store, "/data/new"), "new");
    assert!(view.is_dir("/data"));
    assert!(read(&view, &store, "/etc/passwd").contains("user:x:1000"), "upper layer wins");
    assert_eq!(read(&view, &store, "/etc/hard"), read(&view, &store, "/etc/passwd"), "hard link reads its target");
    assert_eq!(read(&view, &store, "/lib/x"), "x", "symlinked directory is followed");
    assert!(view.is_dir("/lib") && view.get("lib").unwrap().kind == Kind::Symlink);
    assert_eq!(view.resolve("/lib", false).unwrap().1.kind, Kind::Symlink);
    assert!(view.get("tree/a").is_none(), "a file replaces a lower directory tree");
    assert_eq!(read(&view, &store, "tree"), "now a file");
    let under_etc: Vec<&String> = view.walk("etc").map(|(k, _)| k).collect();
    assert_eq!(under_etc, ["etc", "etc/hard", "etc/passwd"]);
    assert_eq!(view.get("etc/passwd").unwrap().uid, 1000);
    assert!(view.read_small(&store, "/etc/passwd", 1 << 20).unwrap().is_some());
    assert!(view.read_small(&store, "/etc/nothing", 1 << 20).unwrap().is_none());
    assert!(FsView::new(&store, &[Digest::of(b"absent")]).is_err());
}

#[test]
fn symlink_loops_and_escapes_stay_inside() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(&t.path().join("root")).unwrap();
    let l = layer(&[
        ("a", 'l', "b"),
        ("b", 'l', "a"),
        ("up", 'l', "../../../etc"),
        ("etc/", 'd', ""),
        ("etc/f", 'f', "inside"),
    ]);
    let d = store.put_bytes(&l).unwrap();
    let view = FsView::new(&store, &[d]).unwrap();
    assert!(view.resolve("a", true).is_none(), "a loop resolves to nothing");
    assert_eq!(read(&view, &store, "/up/f"), "inside", "`..` past the root stays at the root, like a chroot");
}

#[test]
fn written_layers_are_deterministic_and_read_back() {
    use gantry_build::layerwriter::{write_layer, Item, Source};
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(&t.path().join("root")).unwrap();
    let disk = t.path().join("hello.txt");
    std::fs::write(&disk, "hello from disk\n").unwrap();
    let base = store.put_bytes(&layer(&[("etc/", 'd', ""), ("etc/os", 'f', "gantry-os\n")])).unwrap();
    let view = FsView::new(&store, &[base]).unwrap();
    let os = view.get("etc/os").unwrap().clone();
    let items = || {
        vec![
            Item {
                path: "app/hello.txt".into(),
                kind: Kind::File,
                mode: 0o600,
                uid: 7,
                gid: 8,
                mtime: 1,
                size: 16,
                link: None,
                source: Source::Disk(disk.clone()),
            },
            Item {
                path: "app".into(),
                kind: Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                mtime: 1,
                size: 0,
                link: None,
                source: Source::Empty,
            },
            Item {
                path: "app/os".into(),
                kind: Kind::File,
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime: 1,
                size: os.size,
                link: None,
                source: Source::View(&view, os.clone()),
            },
            Item {
                path: "app/note".into(),
                kind: Kind::File,
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime: 1,
                size: 3,
                link: None,
                source: Source::Bytes(b"hi\n".to_vec()),
            },
            Item {
                path: "app/link".into(),
                kind: Kind::Symlink,
                mode: 0o777,
                uid: 0,
                gid: 0,
                mtime: 1,
                size: 0,
                link: Some("os".into()),
                source: Source::Empty,
            },
        ]
    };
    let rec = write_layer(&store, items()).unwrap();
    assert_eq!(write_layer(&store, items()).unwrap(), rec, "same items, same bytes");
    assert_eq!(rec.content_size, 16 + 10 + 3 + 2);
    let bytes = store.read_blob(&rec.diff_id).unwrap();
    assert_eq!(Digest::of(&bytes), rec.diff_id);
    let top = FsView::new(&store, &[base, rec.diff_id]).unwrap();
    assert_eq!(read(&top, &store, "/app/hello.txt"), "hello from disk\n");
    assert_eq!(read(&top, &store, "/app/link"), "gantry-os\n");
    assert_eq!(read(&top, &store, "/app/note"), "hi\n");
    let e = top.get("app/hello.txt").unwrap();
    assert_eq!((e.mode, e.uid, e.gid), (0o600, 7, 8));
    // A file that is not the size the step expected is refused.
    let mut bad = items();
    bad[0].size = 99;
    assert!(write_layer(&store, bad).is_err());
}
