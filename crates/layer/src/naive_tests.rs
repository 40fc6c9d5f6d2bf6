//! Tests of the copy snapshotter's halves: layer snapshots laid one over the other
//! with overlay's meaning, and the naive differ whose upper dir [`write_diff`] reads.
//! They need root (mknod of whiteouts, `trusted.*` xattrs, chown), as CI has.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{self as rfs, FileType, Mode, XattrFlags};

use super::*;
use crate::diff::write_diff;

use crate::diff::tests::{set_mtime, touch_all as touch_below, T};

/// Sets every mtime below `dir`, and its own, to [`T`].
fn touch_all(dir: &Path) {
    touch_below(dir);
    set_mtime(dir, T);
}

fn write(root: &Path, rel: &str, data: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

fn whiteout(path: &Path) {
    rfs::mknodat(rfs::CWD, path, FileType::CharacterDevice, Mode::empty(), rfs::makedev(0, 0)).unwrap();
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// The image: a base layer, and a second one deleting a file and replacing a directory.
fn layers(top: &Path) -> Vec<std::path::PathBuf> {
    let (l1, l2) = (top.join("l1"), top.join("l2"));
    fs::create_dir(&l1).unwrap();
    fs::create_dir(&l2).unwrap();
    write(&l1, "etc/passwd", "root:x:0:0\n");
    write(&l1, "etc/old", "old");
    write(&l1, "etc/gone", "gone in layer 2");
    write(&l1, "opt/app/a", "a");
    write(&l1, "opt/app/sub/b", "b");
    write(&l1, "usr/lib/libc", "libc");
    write(&l1, "var/cache/apt/pkg", "pkg");
    write(&l1, "bin/busybox", "ELF");
    fs::set_permissions(l1.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::hard_link(l1.join("bin/busybox"), l1.join("bin/bb")).unwrap();
    symlink("busybox", l1.join("bin/sh")).unwrap();
    lchown(l1.join("usr/lib/libc"), Some(7), Some(8)).unwrap();
    rfs::lsetxattr(l1.join("etc/passwd"), "user.kept", b"1", XattrFlags::empty()).unwrap();
    touch_all(&l1);
    write(&l2, "opt/app/x", "x");
    fs::create_dir(l2.join("etc")).unwrap();
    rfs::lsetxattr(l2.join("opt/app"), OPAQUE_XATTR, b"y", XattrFlags::empty()).unwrap();
    whiteout(&l2.join("etc/gone"));
    touch_all(&l2);
    vec![l1, l2]
}

/// A root filesystem laid out from `lowers`, and the time it was complete.
fn rootfs(top: &Path, lowers: &[std::path::PathBuf]) -> (std::path::PathBuf, FsTime) {
    let root = top.join("rootfs");
    fs::create_dir(&root).unwrap();
    for l in lowers {
        copy_tree(l, &root, Tree::Lower).unwrap();
    }
    let since = settle_time(top).unwrap();
    (root, since)
}

/// (path, type, mode, mtime, link target, data) of each entry of the diff, in order.
fn diff_of(
    top: &Path,
    lowers: &[std::path::PathBuf],
    root: &Path,
    since: FsTime,
) -> Vec<(String, char, u32, u64, String, String)> {
    let upper = top.join("upper");
    let _ = fs::remove_dir_all(&upper);
    fs::create_dir(&upper).unwrap();
    changes_as_upper(lowers, root, &upper, Some(since)).unwrap();
    let mut tar = Vec::new();
    write_diff(&upper, &[], &mut tar).unwrap();
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(&tar[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let h = entry.header().clone();
        let link = entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
        let mut data = String::new();
        entry.read_to_string(&mut data).unwrap();
        let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        out.push((path, h.entry_type().as_byte() as char, h.mode().unwrap(), h.mtime().unwrap(), link, data));
    }
    out
}

fn paths(diff: &[(String, char, u32, u64, String, String)]) -> Vec<&str> {
    diff.iter().map(|e| e.0.as_str()).collect()
}

#[test]
fn layers_are_laid_out_with_overlay_meaning() {
    let top = tempfile::tempdir().unwrap();
    let lowers = layers(top.path());
    let (root, _) = rootfs(top.path(), &lowers);
    assert!(!root.join("etc/gone").exists(), "a whiteout removes what is below it");
    assert_eq!(fs::read_to_string(root.join("etc/old")).unwrap(), "old");
    assert!(root.join("opt/app/x").exists() && !root.join("opt/app/a").exists(), "an opaque dir hides what is below");
    assert!(!root.join("opt/app/sub").exists());
    let m = fs::symlink_metadata(root.join("usr/lib/libc")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mtime()), (7, 8, T));
    assert_eq!(mode_of(&root.join("bin/busybox")), 0o755);
    let (a, b) = (fs::metadata(root.join("bin/busybox")).unwrap(), fs::metadata(root.join("bin/bb")).unwrap());
    assert_eq!(a.ino(), b.ino(), "hard links within a layer stay links");
    assert_eq!(fs::read_link(root.join("bin/sh")).unwrap().to_str(), Some("busybox"));
    assert_eq!(fs::symlink_metadata(root.join("etc")).unwrap().mtime(), T, "directory times survive their contents");
    let mut buf = [0u8; 8];
    let n = rfs::lgetxattr(root.join("etc/passwd"), "user.kept", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"1");
    assert!(rfs::lgetxattr(root.join("opt/app"), OPAQUE_XATTR, &mut buf).is_err(), "overlay's own xattrs stay out");
}

#[test]
fn an_unchanged_root_filesystem_has_an_empty_diff() {
    let top = tempfile::tempdir().unwrap();
    let lowers = layers(top.path());
    let (root, since) = rootfs(top.path(), &lowers);
    assert_eq!(paths(&diff_of(top.path(), &lowers, &root, since)), Vec::<&str>::new());
}

#[test]
fn naive_diff_writes_what_overlay_would() {
    let top = tempfile::tempdir().unwrap();
    let lowers = layers(top.path());
    let (root, since) = rootfs(top.path(), &lowers);
    // A deletion, a directory replaced by a new one, a mode change, a new file, a hard
    // link to an unchanged file, and an unchanged file left alone.
    fs::remove_file(root.join("etc/old")).unwrap();
    fs::remove_dir_all(root.join("var/cache")).unwrap();
    write(&root, "var/cache/new", "new");
    fs::set_permissions(root.join("etc/passwd"), fs::Permissions::from_mode(0o600)).unwrap();
    write(&root, "home/app/notes", "n");
    fs::hard_link(root.join("usr/lib/libc"), root.join("usr/lib/libc.so")).unwrap();
    for p in ["etc", "var", "var/cache", "var/cache/new", "home/app/notes", "home/app", "home", "usr/lib"] {
        set_mtime(&root.join(p), T + 1);
    }
    let diff = diff_of(top.path(), &lowers, &root, since);
    assert_eq!(
        paths(&diff),
        [
            "etc/",
            "etc/.wh.old",
            "etc/passwd",
            "home/",
            "home/app/",
            "home/app/notes",
            "usr/",
            "usr/lib/",
            "usr/lib/libc",
            "usr/lib/libc.so",
            "var/",
            "var/cache/",
            "var/cache/.wh..wh..opq",
            "var/cache/new",
        ]
    );
    let get = |p: &str| diff.iter().find(|e| e.0 == p).unwrap().clone();
    assert_eq!(get("etc/passwd").2, 0o600, "the changed mode is written");
    assert_eq!(get("etc/passwd").5, "root:x:0:0\n");
    assert_eq!(get("etc/.wh.old").3, (T + 1) as u64, "a whiteout has its directory's time");
    assert_eq!(get("usr/lib/libc.so").1, '1', "a new link to an unchanged file: both, linked");
    assert_eq!(get("usr/lib/libc.so").4, "usr/lib/libc");
    assert_eq!(get("usr/").3, T as u64, "a directory above a change keeps its metadata");
    assert!(!diff.iter().any(|e| e.0.starts_with("opt") || e.0.starts_with("bin")), "unchanged files stay out");
}

#[test]
fn without_creation_times_a_replaced_directory_is_written_as_changes() {
    let top = tempfile::tempdir().unwrap();
    let lowers = layers(top.path());
    let (root, _) = rootfs(top.path(), &lowers);
    fs::remove_dir_all(root.join("var/cache")).unwrap();
    write(&root, "var/cache/new", "new");
    let upper = top.path().join("upper");
    fs::create_dir(&upper).unwrap();
    changes_as_upper(&lowers, &root, &upper, None).unwrap();
    let mut tar = Vec::new();
    write_diff(&upper, &[], &mut tar).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(&tar[..]).entries().unwrap() {
        names.push(String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap());
    }
    assert_eq!(names, ["var/", "var/cache/", "var/cache/.wh.apt", "var/cache/new"]);
}

#[test]
fn planted_symlinks_are_written_never_followed() {
    let top = tempfile::tempdir().unwrap();
    let outside = top.path().join("outside");
    fs::create_dir(&outside).unwrap();
    write(&outside, "secret", "host secret");
    let lowers = layers(top.path());
    let (root, since) = rootfs(top.path(), &lowers);
    // A directory of the image replaced by a link to the host, and a link to /.
    fs::remove_dir_all(root.join("opt/app")).unwrap();
    symlink(&outside, root.join("opt/app")).unwrap();
    symlink("/", root.join("escape")).unwrap();
    let diff = diff_of(top.path(), &lowers, &root, since);
    assert_eq!(paths(&diff), ["escape", "opt/", "opt/app"]);
    assert_eq!(diff[2].1, '2');
    assert_eq!(diff[2].4, outside.to_str().unwrap());
    assert!(!diff.iter().any(|e| e.5.contains("host secret")));
    // Laying a tree out never follows a link planted in the destination either.
    let evil = top.path().join("evil");
    fs::create_dir(&evil).unwrap();
    symlink(&outside, evil.join("etc")).unwrap();
    copy_tree(&lowers[0], &evil, Tree::Lower).unwrap();
    assert!(evil.join("etc/passwd").exists() && !outside.join("passwd").exists());
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
}
