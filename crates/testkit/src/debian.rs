//! A real distribution for the tests that need one: a Debian bookworm minbase root
//! filesystem made by `debootstrap` (from the mirror apt already uses), once per
//! machine, cached under /var/tmp and built under a lock so parallel tests share it.
//! `GANTRY_TEST_DEBIAN_ROOTFS=DIR` points at an existing one instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::require_tool;

const CACHE: &str = "/var/tmp/gantry-testkit";

/// The mirror apt is configured with (debootstrap's default otherwise).
fn mirror() -> Option<String> {
    let mut texts = vec![std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default()];
    if let Ok(d) = std::fs::read_dir("/etc/apt/sources.list.d") {
        texts.extend(d.flatten().map(|e| std::fs::read_to_string(e.path()).unwrap_or_default()));
    }
    texts.iter().flat_map(|t| t.split_whitespace().map(str::to_string).collect::<Vec<_>>()).find(|w| {
        (w.starts_with("http://") || w.starts_with("https://")) && w.trim_end_matches('/').ends_with("/debian")
    })
}

/// A tarball of the Debian rootfs (numeric owners), made on first use.
pub fn debian_rootfs_tar() -> PathBuf {
    let cache = Path::new(CACHE);
    std::fs::create_dir_all(cache).expect("create the testkit cache");
    let tar = cache.join("debian-bookworm.tar");
    let lock = std::fs::File::create(cache.join("debian.lock")).expect("lock file");
    // SAFETY: flock on an open file; released when `lock` is dropped.
    assert_eq!(unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) }, 0);
    if tar.exists() {
        return tar;
    }
    let rootfs = match std::env::var_os("GANTRY_TEST_DEBIAN_ROOTFS") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let dir = cache.join("debian-rootfs");
            if !dir.join("bin/sh").exists() {
                let _ = std::fs::remove_dir_all(&dir);
                let debootstrap = require_tool("debootstrap");
                let mut c = Command::new(debootstrap);
                c.args(["--variant=minbase", "bookworm"]).arg(&dir);
                if let Some(m) = mirror() {
                    c.arg(m);
                }
                let out = c.output().expect("run debootstrap");
                assert!(
                    out.status.success(),
                    "debootstrap failed:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            dir
        }
    };
    let partial = cache.join("debian-bookworm.tar.partial");
    let out = Command::new("tar")
        .args(["--numeric-owner", "--xattrs", "-C"])
        .arg(&rootfs)
        .args(["-cf"])
        .arg(&partial)
        .arg(".")
        .output()
        .expect("run tar");
    assert!(out.status.success(), "tar of the Debian rootfs failed: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::rename(&partial, &tar).expect("place the Debian tarball");
    tar
}
