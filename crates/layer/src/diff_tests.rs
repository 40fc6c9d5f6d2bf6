//! Tests of [`write_diff`]: hand-made upper dirs read back with the `tar` crate, and a
//! real overlayfs mount whose diff is applied both ways and compared with what the
//! kernel showed. They need root (mknod, `trusted.*` xattrs, mount), as CI has.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, Timespec, Timestamps, XattrFlags};

use super::*;
use crate::apply::{extract_layer, Whiteouts};

pub(crate) const T: i64 = 1_600_000_000;

/// One entry read back from a tar.
#[derive(Debug, Clone, PartialEq, Eq)]
struct E {
    path: String,
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: String,
    dev: (u32, u32),
    xattrs: Vec<(String, Vec<u8>)>,
    data: Vec<u8>,
}

fn e(path: &str, kind: char, mode: u32) -> E {
    E {
        path: path.to_string(),
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime: T as u64,
        link: String::new(),
        dev: (0, 0),
        xattrs: Vec::new(),
        data: Vec::new(),
    }
}

impl E {
    fn owner(mut self, uid: u64, gid: u64) -> E {
        (self.uid, self.gid) = (uid, gid);
        self
    }
    fn mtime(mut self, mtime: u64) -> E {
        self.mtime = mtime;
        self
    }
    fn link(mut self, link: &str) -> E {
        self.link = link.to_string();
        self
    }
    fn dev(mut self, major: u32, minor: u32) -> E {
        self.dev = (major, minor);
        self
    }
    fn xattr(mut self, name: &str, value: &[u8]) -> E {
        self.xattrs.push((name.to_string(), value.to_vec()));
        self
    }
    fn data(mut self, data: &[u8]) -> E {
        self.data = data.to_vec();
        self
    }
}

fn read_tar(tar: &[u8]) -> Vec<E> {
    let mut archive = tar::Archive::new(tar);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut xattrs = Vec::new();
        if let Some(extensions) = entry.pax_extensions().unwrap() {
            for ext in extensions {
                let ext = ext.unwrap();
                if let Some(name) = ext.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    xattrs.push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
        let h = entry.header().clone();
        let kind = h.entry_type().as_byte() as char;
        let dev = if matches!(kind, '3' | '4') {
            (h.device_major().unwrap().unwrap(), h.device_minor().unwrap().unwrap())
        } else {
            (0, 0)
        };
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push(E {
            path: String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
            kind,
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            mtime: h.mtime().unwrap(),
            link: entry.link_name_bytes().map(|l| String::from_utf8(l.into_owned()).unwrap()).unwrap_or_default(),
            dev,
            xattrs,
            data,
        });
    }
    out
}

fn diff(upper: &Path, skip: &[&[u8]]) -> (Vec<u8>, DiffStats) {
    let mut tar = Vec::new();
    let stats = write_diff(upper, skip, &mut tar).unwrap();
    (tar, stats)
}

fn mknod(path: &Path, kind: FileType, mode: u32, major: u32, minor: u32) {
    rfs::mknodat(rfs::CWD, path, kind, Mode::from_raw_mode(mode), rfs::makedev(major, minor)).unwrap();
    // mknod obeys the umask.
    rfs::chmodat(rfs::CWD, path, Mode::from_raw_mode(mode), AtFlags::empty()).unwrap();
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    rfs::lsetxattr(path, name, value, XattrFlags::empty()).unwrap();
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    match rfs::lgetxattr(path, name, &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(rustix::io::Errno::NODATA) => None,
        Err(e) => panic!("lgetxattr {}: {e}", path.display()),
    }
}

pub(crate) fn set_mtime(path: &Path, secs: i64) {
    let t = Timespec { tv_sec: secs, tv_nsec: 0 };
    rfs::utimensat(rfs::CWD, path, &Timestamps { last_access: t, last_modification: t }, AtFlags::SYMLINK_NOFOLLOW)
        .unwrap();
}

/// Sets every mtime below `dir` to [`T`], children before their directory.
pub(crate) fn touch_all(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if fs::symlink_metadata(&path).unwrap().is_dir() {
            touch_all(&path);
        }
        set_mtime(&path, T);
    }
}

fn mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// security.capability v2 granting CAP_NET_RAW (bit 13), effective.
const CAP_V2: [u8; 20] = [0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

#[test]
fn writes_every_kind_of_change_like_docker() {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path();
    let long_dir = "d".repeat(120);
    let long_file = "f".repeat(200);
    let long_target = format!("/{}", "t".repeat(150));

    fs::create_dir(up.join("a")).unwrap();
    fs::write(up.join("a/file"), b"hello").unwrap();
    mode(&up.join("a/file"), 0o640);
    lchown(up.join("a/file"), Some(1000), Some(1001)).unwrap();
    set_xattr(&up.join("a/file"), "user.foo", b"bar");
    set_xattr(&up.join("a/file"), "trusted.overlay.origin", b"\x00\xfb");
    set_xattr(&up.join("a/file"), "trusted.other", b"kept");
    mknod(&up.join("a/gone"), FileType::CharacterDevice, 0, 0, 0);
    lchown(up.join("a/gone"), Some(5), Some(6)).unwrap();

    fs::write(up.join("caps"), b"#!").unwrap();
    mode(&up.join("caps"), 0o755);
    set_xattr(&up.join("caps"), "security.capability", &CAP_V2);
    // v3: v2 followed by the namespace's root uid.
    fs::write(up.join("caps3"), b"").unwrap();
    let mut cap_v3 = CAP_V2.to_vec();
    cap_v3[3] = 3;
    cap_v3.extend_from_slice(&1000u32.to_le_bytes());
    set_xattr(&up.join("caps3"), "security.capability", &cap_v3);

    fs::create_dir(up.join("dev")).unwrap();
    mknod(&up.join("dev/blk"), FileType::BlockDevice, 0o660, 7, 0);
    mknod(&up.join("dev/null"), FileType::CharacterDevice, 0o666, 1, 3);
    set_xattr(&up.join("dev/null"), "trusted.dev", b"1");
    mknod(&up.join("fifo"), FileType::Fifo, 0o620, 0, 0);
    set_xattr(&up.join("fifo"), "trusted.fifo", b"2");

    fs::write(up.join("h1"), b"linked").unwrap();
    fs::create_dir(up.join("z")).unwrap();
    fs::hard_link(up.join("h1"), up.join("z/h2")).unwrap();

    symlink("a/file", up.join("link")).unwrap();
    symlink("a/", up.join("link-slash")).unwrap();
    symlink(&long_target, up.join("link-long")).unwrap();
    rfs::lsetxattr(up.join("link"), "trusted.sym", b"3", XattrFlags::empty()).unwrap();

    fs::create_dir(up.join(&long_dir)).unwrap();
    fs::write(up.join(&long_dir).join(&long_file), b"long").unwrap();

    fs::create_dir(up.join("opq")).unwrap();
    mode(&up.join("opq"), 0o2750);
    lchown(up.join("opq"), Some(7), Some(8)).unwrap();
    set_xattr(&up.join("opq"), "trusted.overlay.opaque", b"y");
    set_xattr(&up.join("opq"), "user.dir", b"d");
    fs::write(up.join("opq/inner"), b"in").unwrap();
    // Some other value than "y" is not opaque.
    fs::create_dir(up.join("opx")).unwrap();
    set_xattr(&up.join("opx"), "trusted.overlay.opaque", b"x");

    fs::write(up.join("setuid"), b"").unwrap();
    mode(&up.join("setuid"), 0o4755);
    std::os::unix::net::UnixListener::bind(up.join("sock")).unwrap();
    touch_all(up);

    let (tar, stats) = diff(up, &[]);
    let got = read_tar(&tar);
    let long_path = format!("{long_dir}/{long_file}");
    let expected = vec![
        e("a/", '5', 0o755),
        e("a/file", '0', 0o640)
            .owner(1000, 1001)
            .xattr("trusted.other", b"kept")
            .xattr("user.foo", b"bar")
            .data(b"hello"),
        e("a/.wh.gone", '0', 0o600).owner(5, 6),
        e("caps", '0', 0o755).xattr("security.capability", &CAP_V2).data(b"#!"),
        e("caps3", '0', 0o644).xattr("security.capability", &CAP_V2),
        e(&format!("{long_dir}/"), '5', 0o755),
        e(&long_path, '0', 0o644).data(b"long"),
        e("dev/", '5', 0o755),
        e("dev/blk", '4', 0o660).dev(7, 0),
        e("dev/null", '3', 0o666).dev(1, 3).xattr("trusted.dev", b"1"),
        e("fifo", '6', 0o620).xattr("trusted.fifo", b"2"),
        e("h1", '0', 0o644).data(b"linked"),
        e("link", '2', 0o777).link("a/file").xattr("trusted.sym", b"3"),
        e("link-long", '2', 0o777).link(&long_target),
        e("link-slash", '2', 0o777).link("a/"),
        e("opq/", '5', 0o2750).owner(7, 8).xattr("user.dir", b"d"),
        e("opq/.wh..wh..opq", '0', 0o750).owner(7, 8).mtime(0),
        // The directory is setgid: its group is inherited.
        e("opq/inner", '0', 0o644).owner(0, 8).data(b"in"),
        e("opx/", '5', 0o755),
        e("setuid", '0', 0o4755),
        e("z/", '5', 0o755),
        e("z/h2", '1', 0o644).link("h1"),
    ];
    for (g, x) in got.iter().zip(&expected) {
        assert_eq!(g, x);
    }
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    assert!(!tar.windows(16).any(|w| w == b"trusted.overlay."), "overlayfs's xattrs must never be written");
    assert_eq!(stats.entries, expected.len() as u64);
    let content = 5 + 2 + 4 + 6 + 2 + 6 + 2 + long_target.len() as u64;
    assert_eq!(stats.content_size, content);
    // Our own ingest accepts it and counts the same size.
    let info = crate::inspect(&tar[..]).unwrap();
    assert_eq!(info.content_size, stats.content_size);
    assert_eq!(tar.len() % 512, 0);
}

#[test]
fn skip_list_leaves_out_paths_and_whole_directories() {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path();
    fs::create_dir_all(up.join("etc")).unwrap();
    fs::write(up.join("etc/hosts"), b"x").unwrap();
    fs::write(up.join("etc/hostname"), b"x").unwrap();
    fs::write(up.join("etc/hosts.allow"), b"x").unwrap();
    fs::create_dir_all(up.join("run/secrets/deep")).unwrap();
    fs::write(up.join("run/secrets/deep/key"), b"x").unwrap();
    fs::write(up.join("run/keep"), b"x").unwrap();
    mknod(&up.join("etc/resolv.conf"), FileType::CharacterDevice, 0, 0, 0);
    let skip: [&[u8]; 3] = [b"etc/hosts", b"/run/secrets/", b"etc/resolv.conf"];
    let (tar, stats) = diff(up, &skip);
    let paths: Vec<String> = read_tar(&tar).into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["etc/", "etc/hostname", "etc/hosts.allow", "run/", "run/keep"]);
    assert_eq!(stats.entries, 5);
    assert_eq!(stats.content_size, 3);
}

#[test]
fn planted_symlinks_are_written_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("upper");
    let outside = dir.path().join("outside");
    fs::create_dir(&up).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"host secret").unwrap();
    symlink(&outside, up.join("abs")).unwrap();
    symlink("../outside", up.join("rel")).unwrap();
    symlink("/etc/passwd", up.join("passwd")).unwrap();
    let (tar, stats) = diff(&up, &[]);
    let got = read_tar(&tar);
    let summary: Vec<(String, char, String)> = got.iter().map(|e| (e.path.clone(), e.kind, e.link.clone())).collect();
    assert_eq!(
        summary,
        [
            ("abs".to_string(), '2', outside.to_str().unwrap().to_string()),
            ("passwd".to_string(), '2', "/etc/passwd".to_string()),
            ("rel".to_string(), '2', "../outside".to_string()),
        ]
    );
    assert!(!tar.windows(11).any(|w| w == b"host secret"));
    assert!(!tar.windows(5).any(|w| w == b"root:"));
    assert_eq!(stats.entries, 3);
}

/// Unmounts on drop, so a failing test leaves no mount behind.
struct Mounted(PathBuf);

impl Mounted {
    fn new(args: &[&str], target: &Path) -> Mounted {
        let status = Command::new("mount").args(args).arg(target).status().expect("running mount");
        assert!(status.success(), "mount {args:?} {} failed", target.display());
        Mounted(target.to_path_buf())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn other_filesystems_inside_are_not_crossed() {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path();
    fs::create_dir(up.join("mnt")).unwrap();
    fs::write(up.join("zfile"), b"z").unwrap();
    let mnt = Mounted::new(&["-t", "tmpfs", "tmpfs"], &up.join("mnt"));
    fs::write(up.join("mnt/inside"), b"on tmpfs").unwrap();
    let (tar, _) = diff(up, &[]);
    drop(mnt);
    let paths: Vec<String> = read_tar(&tar).into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["zfile"]);
}

#[test]
fn big_files_are_streamed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..3_000_001u32).map(|i| (i % 251) as u8).collect();
    fs::write(dir.path().join("big"), &data).unwrap();
    let (tar, stats) = diff(dir.path(), &[]);
    let got = read_tar(&tar);
    assert_eq!(got.len(), 1);
    assert!(got[0].data == data, "contents differ");
    assert_eq!(stats.content_size, data.len() as u64);
}

#[test]
fn missing_upper_dir_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = write_diff(&dir.path().join("nope"), &[], Vec::new()).unwrap_err();
    assert!(matches!(err, LayerError::Read(_)), "{err:?}");
}

#[test]
fn metacopy_and_redirect_entries_are_refused() {
    for (name, is_dir) in [("trusted.overlay.metacopy", false), ("trusted.overlay.redirect", true)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        if is_dir {
            fs::create_dir(&path).unwrap();
        } else {
            fs::write(&path, b"").unwrap();
        }
        set_xattr(&path, name, b"");
        let err = write_diff(dir.path(), &[], Vec::new()).unwrap_err();
        assert!(matches!(err, LayerError::Read(_)), "{name}: {err:?}");
    }
}

// ---- A real overlayfs: the diff, applied either way, must give what the kernel showed.

/// A description of every entry below `root` (not following symlinks): type, mode,
/// owners, link count of files, contents, link target, device, and the xattrs an image
/// carries (overlayfs's own are not visible through a mount anyway).
fn listing(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut names: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let rel = path.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            let m = fs::symlink_metadata(&path).unwrap();
            let mut text = format!("{:o} {}:{}", m.mode(), m.uid(), m.gid());
            if m.is_file() {
                text += &format!(" nlink={} {:?}", m.nlink(), fs::read(&path).unwrap());
            } else if m.file_type().is_symlink() {
                text += &format!(" -> {:?}", fs::read_link(&path).unwrap());
            } else if !m.is_dir() {
                text += &format!(" rdev={}", m.rdev());
            }
            let mut list = vec![0u8; 65536];
            let n = rfs::llistxattr(&path, &mut list[..]).unwrap();
            let mut names: Vec<&[u8]> = list[..n].split(|&b| b == 0).filter(|n| !n.is_empty()).collect();
            names.sort();
            for xname in names {
                let xname = std::str::from_utf8(xname).unwrap();
                if !xname.starts_with("trusted.overlay.") {
                    text += &format!(" {xname}={:?}", xattr(&path, xname).unwrap());
                }
            }
            out.insert(rel, text);
            if m.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The image's lower layer.
fn make_lower(root: &Path) {
    for d in ["bin", "etc", "opt/app/sub", "usr/lib", "var/cache/apt"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("bin/busybox"), b"ELF").unwrap();
    mode(&root.join("bin/busybox"), 0o755);
    fs::write(root.join("etc/passwd"), b"root:x:0:0\n").unwrap();
    fs::write(root.join("etc/old"), b"old").unwrap();
    fs::write(root.join("opt/app/a"), b"a").unwrap();
    fs::write(root.join("opt/app/sub/b"), b"b").unwrap();
    fs::write(root.join("usr/lib/libc"), b"libc").unwrap();
    fs::write(root.join("var/cache/apt/pkg"), b"pkg").unwrap();
    symlink("busybox", root.join("bin/sh")).unwrap();
}

/// What a RUN step might do, through the merged view.
fn change(merged: &Path) {
    fs::remove_file(merged.join("etc/old")).unwrap();
    fs::remove_dir_all(merged.join("var/cache")).unwrap();
    fs::remove_dir_all(merged.join("opt/app")).unwrap();
    fs::create_dir(merged.join("opt/app")).unwrap();
    fs::write(merged.join("opt/app/new"), b"new").unwrap();
    fs::write(merged.join("etc/passwd"), b"root:x:0:0\napp:x:1000:1000\n").unwrap();
    fs::write(merged.join("etc/new"), b"fresh").unwrap();
    set_xattr(&merged.join("etc/new"), "user.note", b"n");
    fs::hard_link(merged.join("etc/new"), merged.join("etc/new2")).unwrap();
    symlink("busybox", merged.join("bin/ls")).unwrap();
    set_xattr(&merged.join("bin/busybox"), "security.capability", &CAP_V2);
    fs::create_dir_all(merged.join("home/app/.cache")).unwrap();
    fs::write(merged.join("home/app/.cache/x"), b"x").unwrap();
    lchown(merged.join("home/app"), Some(1000), Some(1000)).unwrap();
    mode(&merged.join("usr"), 0o700);
    mknod(&merged.join("fifo"), FileType::Fifo, 0o600, 0, 0);
}

fn overlay_opts(lower: &str, upper: Option<(&Path, &Path)>) -> String {
    let mut opts = format!("lowerdir={lower}");
    if let Some((upper, work)) = upper {
        opts += &format!(",upperdir={},workdir={}", upper.display(), work.display());
    }
    opts + ",redirect_dir=off,metacopy=off,index=off"
}

/// A new directory `name` in `dir`.
fn subdir(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    let path = dir.path().join(name);
    fs::create_dir(&path).unwrap();
    path
}

/// Made in `dir`: the lower layer ([`make_lower`]) and an overlay's upper, work and
/// mount point.
fn overlay_dirs(dir: &tempfile::TempDir) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let p = |name: &str| subdir(dir, name);
    let dirs = (p("lower"), p("upper"), p("work"), p("merged"));
    make_lower(&dirs.0);
    dirs
}

#[test]
fn overlayfs_diff_applies_back_to_what_the_kernel_showed() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| subdir(&dir, name);
    let (lower, upper, work, merged) = overlay_dirs(&dir);
    let expected = {
        let opts = overlay_opts(lower.to_str().unwrap(), Some((&upper, &work)));
        let _m = Mounted::new(&["-t", "overlay", "overlay", "-o", &opts], &merged);
        change(&merged);
        listing(&merged)
    };
    // The change is really a change: it shows whiteouts and an opaque directory.
    assert!(expected.contains_key("opt/app/new") && !expected.contains_key("opt/app/a"));
    assert!(!expected.contains_key("etc/old") && !expected.contains_key("var/cache"));

    let (tar, _) = diff(&upper, &[]);
    let paths: Vec<String> = read_tar(&tar).into_iter().map(|e| e.path).collect();
    for needed in ["etc/.wh.old", "var/.wh.cache", "opt/app/", "opt/app/.wh..wh..opq"] {
        assert!(paths.iter().any(|p| p == needed), "{needed} missing from {paths:?}");
    }

    // The copy snapshotter: the layer applied onto a copy of the lower layer.
    let applied = p("applied");
    make_lower(&applied);
    extract_layer(&tar[..], &applied, Whiteouts::Apply).unwrap();
    assert_eq!(listing(&applied), expected);

    // The overlay snapshotter: the layer unpacked on its own, mounted over the lower one.
    let layer = p("layer");
    extract_layer(&tar[..], &layer, Whiteouts::Overlay).unwrap();
    let merged2 = p("merged2");
    let opts = format!("lowerdir={}:{}", layer.display(), lower.display());
    let _m = Mounted::new(&["-t", "overlay", "overlay", "-o", &opts, "-o", "ro"], &merged2);
    assert_eq!(listing(&merged2), expected);
}

/// The copy snapshotter: the same change made in a copy of the lower layer, read by
/// the naive differ, gives the layer overlayfs gave, entry for entry (times aside:
/// the two changes are not made at the same instant).
#[test]
fn copy_snapshotter_diff_is_the_overlayfs_diff() {
    use crate::naive::{changes_as_upper, copy_tree, settle_time, Tree};
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| subdir(&dir, name);
    let (lower, upper, work, merged) = overlay_dirs(&dir);
    {
        let opts = overlay_opts(lower.to_str().unwrap(), Some((&upper, &work)));
        let _m = Mounted::new(&["-t", "overlay", "overlay", "-o", &opts], &merged);
        change(&merged);
    }
    let rootfs = p("rootfs");
    copy_tree(&lower, &rootfs, Tree::Lower).unwrap();
    let since = settle_time(dir.path()).unwrap();
    change(&rootfs);
    let copy_upper = p("copy-upper");
    changes_as_upper(std::slice::from_ref(&lower), &rootfs, &copy_upper, Some(since)).unwrap();
    let timeless = |upper: &Path| -> Vec<E> { read_tar(&diff(upper, &[]).0).into_iter().map(|e| e.mtime(0)).collect() };
    let (overlay, copy) = (timeless(&upper), timeless(&copy_upper));
    assert!(overlay.iter().any(|e| e.path == "opt/app/.wh..wh..opq"), "{overlay:#?}");
    assert_eq!(copy, overlay);
}
