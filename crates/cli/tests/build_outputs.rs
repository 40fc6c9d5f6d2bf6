//! `gantry build --output` (image, docker and OCI archives, local directory, tar),
//! archive contexts (stdin and file, compressed or not, hostile ones refused), a
//! Dockerfile on stdin, `builder prune` and the Build Cache row of `system df`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;

use gantry_testkit::build::BuildEnv;
use gantry_testkit::hostile::RawTar;
use gantry_testkit::{assert_one_error_line, base, Gantry, Run};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

type Setup = BuildEnv;

/// A store with busybox:latest and `base:1` (an imported rootfs with a hard link, a
/// setuid file, a private directory and a symlink), and a context directory.
fn setup() -> Setup {
    let env = BuildEnv::new(BIN);
    let rootfs = env.path("rootfs.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&rootfs).unwrap());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, link: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(base::EPOCH);
        h.set_size(data.len() as u64);
        if link.is_empty() {
            b.append_data(&mut h, path, data).unwrap();
        } else {
            b.append_link(&mut h, path, link).unwrap();
        }
    };
    add("bin/", tar::EntryType::Directory, 0o755, "", b"");
    add("bin/tool", tar::EntryType::Regular, 0o4755, "", b"#!/bin/sh\necho tool\n");
    add("bin/tool-link", tar::EntryType::Link, 0o4755, "bin/tool", b"");
    add("bin/sym", tar::EntryType::Symlink, 0o777, "tool", b"");
    add("secret/", tar::EntryType::Directory, 0o700, "", b"");
    add("secret/key", tar::EntryType::Regular, 0o600, "", b"k");
    b.into_inner().unwrap().flush().unwrap();
    env.g.ok(&["import", rootfs.to_str().unwrap(), "base:1"]);
    env
}

fn image_ids(s: &Setup) -> Vec<String> {
    s.g.ok(&["images", "-a", "-q", "--no-trunc"]).lines().map(str::to_string).collect()
}

fn df_build_cache(s: &Setup) -> Value {
    let out = s.g.ok(&["system", "df", "--format", "{{json .}}"]);
    out.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["Type"] == "Build Cache")
        .unwrap_or_else(|| panic!("no Build Cache row:\n{out}"))
}

/// A tar's entries: path -> (kind byte, mode, content or link target).
fn tar_entries(bytes: &[u8]) -> BTreeMap<String, (u8, u32, String)> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().trim_end_matches('/').to_string();
        let h = e.header().clone();
        let mut content = String::new();
        if let Some(l) = e.link_name().unwrap() {
            content = l.to_string_lossy().into_owned();
        } else {
            e.read_to_string(&mut content).unwrap_or_default();
        }
        out.insert(path, (h.entry_type().as_byte(), h.mode().unwrap(), content));
    }
    out
}

const APP: &str = "FROM base:1\nCOPY --chmod=640 app.txt /app/app.txt\nCOPY run.sh /app/run.sh\nENV A=1\n";

fn app_context(s: &Setup) {
    s.file("app.txt", "hello\n");
    s.file("run.sh", "#!/bin/sh\n");
    std::fs::set_permissions(s.ctx.path().join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    s.file("Dockerfile", APP);
}

#[test]
fn image_output_is_the_default_and_explicit() {
    let s = setup();
    app_context(&s);
    let iid = s.path("iid");
    let out = s.build_ok(&["-t", "app:1", "--iidfile", iid.to_str().unwrap()]);
    assert!(out.contains("naming to docker.io/library/app:1 done"), "{out}");
    let id = std::fs::read_to_string(&iid).unwrap();
    let out = s.build_ok(&["-t", "app:2", "-o", "type=image"]);
    assert!(out.contains("naming to docker.io/library/app:2 done"), "{out}");
    // `type=docker` without a destination loads into the store, like buildx.
    s.build_ok(&["-t", "app:3", "-o", "type=docker"]);
    s.build_ok(&["-o", "type=image,name=app:4"]);
    // An image output beside a local one: both happen.
    let dest = s.path("both");
    s.build_ok(&["-t", "app:5", "-o", "type=image", "-o", &format!("type=local,dest={}", dest.display())]);
    assert_eq!(std::fs::read_to_string(dest.join("app/app.txt")).unwrap(), "hello\n");
    for t in ["app:1", "app:2", "app:3", "app:4", "app:5"] {
        let v: Value = serde_json::from_str(&s.g.ok(&["inspect", t])).unwrap();
        assert_eq!(v[0]["Id"], id.as_str(), "{t}");
    }
}

/// Loads `archive` into a fresh root; returns the load output and the image's ID.
fn load_fresh(archive: &Path, reference: &str) -> (String, String) {
    let fresh = Gantry::new(BIN);
    let out = fresh.ok(&["load", "-i", archive.to_str().unwrap()]);
    let v: Value = serde_json::from_str(&fresh.ok(&["inspect", reference])).unwrap();
    (out, v[0]["Id"].as_str().unwrap().to_string())
}

#[test]
fn docker_and_oci_archives_load_back_with_the_same_id() {
    let s = setup();
    app_context(&s);
    let before = image_ids(&s);
    let iid = s.path("iid");
    let docker = s.path("app-docker.tar");
    let oci = s.path("app-oci.tar");
    let out = s.build_ok(&[
        "-t",
        "app:1",
        "--iidfile",
        iid.to_str().unwrap(),
        "-o",
        &format!("type=docker,dest={}", docker.display()),
        "-o",
        &format!("type=oci,dest={},name=extra:2", oci.display()),
    ]);
    assert!(out.contains("exporting to docker image format"), "{out}");
    assert!(out.contains("exporting to oci image format"), "{out}");
    assert!(!out.contains("naming to"), "no image output, so nothing is tagged: {out}");
    let id = std::fs::read_to_string(&iid).unwrap();
    // Not tagged, not kept: only the archives hold the image.
    assert_eq!(image_ids(&s), before);
    assert!(!s.g.run(&["inspect", "app:1"]).success());

    let (loaded, docker_id) = load_fresh(&docker, "app:1");
    assert_eq!(docker_id, id);
    assert!(loaded.contains("Loaded image: app:1"), "{loaded}");
    let (_, oci_id) = load_fresh(&oci, &id);
    assert_eq!(oci_id, id);
    let index: Value = serde_json::from_slice(&base::archive_member(&oci, "index.json").unwrap()).unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["io.containerd.image.name"].as_str())
        .collect();
    assert!(names.iter().any(|n| n.ends_with("app:1")) && names.iter().any(|n| n.ends_with("extra:2")), "{index}");

    // The same build again is cached, and writes to stdout with `dest=-`.
    let out =
        s.g.cmd(&["build", "-t", "app:1", "-o", "type=docker,dest=-", s.ctx.path().to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("CACHED").count(), 3, "{stderr}");
    let piped = s.path("piped.tar");
    std::fs::write(&piped, &out.stdout).unwrap();
    assert_eq!(load_fresh(&piped, "app:1").1, id);
}

#[test]
fn local_output_writes_the_filesystem_with_modes_and_links() {
    let s = setup();
    app_context(&s);
    let dest = s.path("out");
    let before = image_ids(&s);
    let out = s.build_ok(&["-t", "app:1", "-o", &format!("type=local,dest={}", dest.display())]);
    assert!(out.contains("exporting to client directory"), "{out}");
    assert_eq!(image_ids(&s), before, "a local export keeps no image");
    let mode = |p: &str| std::fs::symlink_metadata(dest.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(std::fs::read_to_string(dest.join("app/app.txt")).unwrap(), "hello\n");
    assert_eq!(mode("app/app.txt"), 0o640);
    assert_eq!(mode("app/run.sh"), 0o755);
    assert_eq!(mode("bin/tool"), 0o4755);
    assert_eq!(mode("secret"), 0o700);
    assert_eq!(mode("secret/key"), 0o600);
    let tool = std::fs::metadata(dest.join("bin/tool")).unwrap();
    assert_eq!(std::fs::metadata(dest.join("bin/tool-link")).unwrap().ino(), tool.ino(), "hard link kept");
    assert_eq!(std::fs::read_link(dest.join("bin/sym")).unwrap(), Path::new("tool"));
    assert_eq!(tool.mtime(), base::EPOCH as i64);
    if rustix_is_root() {
        assert_eq!((tool.uid(), tool.gid()), (0, 0));
    }

    // The shorthand `-o DIR`, into a directory holding a link planted to escape it.
    let dest2 = s.path("out2");
    let outside = s.path("outside");
    std::fs::create_dir_all(&dest2).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, dest2.join("app")).unwrap();
    let out = s.build_ok(&["-o", dest2.to_str().unwrap()]);
    assert_eq!(out.matches("CACHED").count(), 3, "the cache is used: {out}");
    assert!(std::fs::symlink_metadata(dest2.join("app")).unwrap().is_dir(), "the planted link is replaced");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "nothing written outside");
}

fn rustix_is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

#[test]
fn tar_output_is_the_filesystem_as_one_archive() {
    let s = setup();
    app_context(&s);
    let dest = s.path("fs.tar");
    let out = s.build_ok(&["-o", &format!("type=tar,dest={}", dest.display())]);
    assert!(out.contains("exporting to client tarball"), "{out}");
    let entries = tar_entries(&std::fs::read(&dest).unwrap());
    assert_eq!(entries["app/app.txt"], (b'0', 0o640, "hello\n".to_string()));
    assert_eq!(entries["bin/tool"].1, 0o4755);
    assert_eq!(entries["bin/tool-link"], (b'1', 0o4755, "bin/tool".to_string()));
    assert_eq!(entries["bin/sym"], (b'2', 0o777, "tool".to_string()));
    assert_eq!(entries["secret"].0, b'5');
    // `-o -` is a tar on stdout.
    let out =
        s.g.cmd(&["build", "-q", "-o", "-", s.ctx.path().to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(tar_entries(&out.stdout), entries, "same bytes whatever the destination");
}

#[test]
fn bad_outputs_are_one_error_line() {
    let s = setup();
    app_context(&s);
    let cases = [
        ("type=local", "dest is required for local output"),
        ("dest=x,name=y", "type is required for output"),
        ("type=local,dest", "invalid value dest"),
        ("type=bogus", "exporter \"bogus\" could not be found"),
        ("type=registry", "not supported"),
        ("type=oci,tar=false,dest=x", "tar=false"),
        ("type=\"local", "invalid output"),
    ];
    for (value, needle) in cases {
        let r = s.build(&["-o", value]);
        assert!(!r.success(), "{value}");
        assert_one_error_line(&r.stderr, needle);
        assert!(!r.stderr.contains('#'), "rejected before building: {}", r.stderr);
    }
    let dir = s.path("a-dir");
    std::fs::create_dir_all(&dir).unwrap();
    let r = s.build(&["-o", &format!("type=tar,dest={}", dir.display())]);
    assert_one_error_line(&r.stderr, "is a directory");
    let r = s.build(&["-o", "type=tar", "-o", "type=oci,dest=-"]);
    assert_one_error_line(&r.stderr, "only one output");
}

/// A context archive: `sub/Dockerfile` and the files it copies.
fn context_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(base::EPOCH);
        b.append_data(&mut h, path, data).unwrap();
    };
    add("sub/Dockerfile", b"FROM busybox\nCOPY data/ /data/\nCOPY run.sh /run.sh\n", 0o644);
    add("data/a.txt", b"a\n", 0o644);
    add("data/deep/b.txt", b"b\n", 0o600);
    add("run.sh", b"#!/bin/sh\n", 0o755);
    add(".dockerignore", b"data/deep\n", 0o644);
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Checks the image built from [`context_tar`] through a tar export.
fn assert_context_image(s: &Setup, tag: &str) {
    let dest = s.path(&format!("{tag}.tar").replace(':', "_"));
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), format!("FROM {tag}\n")).unwrap();
    s.g.ok(&["build", "-o", &format!("type=tar,dest={}", dest.display()), ctx.path().to_str().unwrap()]);
    let entries = tar_entries(&std::fs::read(&dest).unwrap());
    assert_eq!(entries["data/a.txt"].2, "a\n");
    assert!(!entries.contains_key("data/deep/b.txt"), ".dockerignore applies");
    assert_eq!(entries["run.sh"].1, 0o755);
}

#[test]
fn tar_context_from_stdin_plain_and_gzip() {
    let s = setup();
    let tar = context_tar();
    let r = s.g.run_stdin(&["build", "-t", "plain:1", "-f", "sub/Dockerfile", "-"], &tar);
    assert!(r.success(), "{}", r.stderr);
    assert_context_image(&s, "plain:1");
    let r = s.g.run_stdin(&["build", "-t", "gz:1", "-f", "sub/Dockerfile", "-"], &gzip(&tar));
    assert!(r.success(), "{}", r.stderr);
    assert_context_image(&s, "gz:1");
    // Without -f, `Dockerfile` at the archive's top is expected.
    let r = s.g.run_stdin(&["build", "-"], &tar);
    assert_one_error_line(&r.stderr, "failed to read dockerfile");
}

#[test]
fn tar_context_from_a_file() {
    let s = setup();
    let path = s.path("ctx.tar.gz");
    std::fs::write(&path, gzip(&context_tar())).unwrap();
    s.g.ok(&["build", "-t", "file:1", "-f", "sub/Dockerfile", path.to_str().unwrap()]);
    assert_context_image(&s, "file:1");
    // A Dockerfile from stdin with an archive context from a file.
    let r =
        s.g.run_stdin(&["build", "-t", "file:2", "-f", "-", path.to_str().unwrap()], b"FROM busybox\nCOPY run.sh /\n");
    assert!(r.success(), "{}", r.stderr);
    // Neither a directory nor an archive.
    let junk = s.path("junk.txt");
    std::fs::write(&junk, "not a tar").unwrap();
    let r = s.g.run(&["build", junk.to_str().unwrap()]);
    assert_one_error_line(&r.stderr, "neither a directory nor a tar archive");
}

#[test]
fn dockerfile_on_stdin_builds_with_an_empty_context() {
    let s = setup();
    let r = s.g.run_stdin(&["build", "-t", "df:1", "-"], b"FROM busybox\nENV FROM_STDIN=1\n");
    assert!(r.success(), "{}", r.stderr);
    let v: Value = serde_json::from_str(&s.g.ok(&["inspect", "df:1"])).unwrap();
    assert!(v[0]["Config"]["Env"].as_array().unwrap().iter().any(|e| e == "FROM_STDIN=1"));
    let r = s.g.run_stdin(&["build", "-"], b"FROM busybox\nCOPY x /x\n");
    assert!(!r.success());
    let r = s.g.run_stdin(&["build", "-f", "-", "-"], b"FROM busybox\n");
    assert_one_error_line(&r.stderr, "invalid argument: can't use stdin for both build context and dockerfile");
    let r = s.g.run_stdin(&["build", "-f", "Dockerfile", "-"], b"FROM busybox\n");
    assert_one_error_line(&r.stderr, "ambiguous Dockerfile source");
}

/// Runs gantry with TMPDIR in a directory of the test's, so what extraction leaves
/// behind (nothing, on success or failure) can be checked.
fn run_in_tmpdir(g: &Gantry, tmp: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let mut child = g
        .cmd(args)
        .env("TMPDIR", tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn hostile_tar_contexts_write_nothing_outside() {
    let s = setup();
    let tmp = s.path("tmp");
    let outside = s.path("outside");
    std::fs::create_dir_all(tmp.join("victim")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let listing = |p: &Path| -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };

    // `../victim/evil`: refused with one line, nothing extracted anywhere.
    let mut raw = RawTar::new(Vec::new());
    raw.file("Dockerfile", b"FROM busybox\n").unwrap();
    raw.file("../victim/evil", b"x").unwrap();
    let r = run_in_tmpdir(&s.g, &tmp, &["build", "-"], &raw.finish().unwrap());
    assert_one_error_line(&r.stderr, "path escapes the root");
    assert_eq!(listing(&tmp), ["victim"], "the temporary context is removed");
    assert!(listing(&tmp.join("victim")).is_empty());

    // An absolute path, and a hard link out.
    for (name, link) in [("/victim-abs", ""), ("h", "../../etc/passwd")] {
        let mut raw = RawTar::new(Vec::new());
        raw.file("Dockerfile", b"FROM busybox\n").unwrap();
        if link.is_empty() {
            raw.file(name, b"x").unwrap();
        } else {
            raw.hardlink(name, link).unwrap();
        }
        let r = run_in_tmpdir(&s.g, &tmp, &["build", "-"], &raw.finish().unwrap());
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.starts_with("Error: unable to prepare context: archive entry"), "{}", r.stderr);
        assert_eq!(listing(&tmp), ["victim"]);
    }

    // A symlink out, then files through it: they land inside the context, and a
    // Dockerfile or .dockerignore linked to a host file reads nothing of the host.
    std::fs::write(outside.join("secret"), "FROM busybox\nENV LEAKED=1\n").unwrap();
    let mut raw = RawTar::new(Vec::new());
    raw.symlink("l", outside.to_str().unwrap()).unwrap();
    raw.file("l/evil", b"x").unwrap();
    raw.symlink("Dockerfile", outside.join("secret").to_str().unwrap()).unwrap();
    let r = run_in_tmpdir(&s.g, &tmp, &["build", "-"], &raw.finish().unwrap());
    assert_one_error_line(&r.stderr, "failed to read dockerfile");
    assert_eq!(listing(&outside), ["secret"]);
    assert_eq!(listing(&tmp), ["victim"]);

    // Fifos where files are read: refused or dropped, never waited on.
    let mut raw = RawTar::new(Vec::new());
    raw.entry("Dockerfile", b'6', 0o644, "", b"").unwrap();
    let r = run_in_tmpdir(&s.g, &tmp, &["build", "-"], &raw.finish().unwrap());
    assert_one_error_line(&r.stderr, "not a regular file");
    let mut raw = RawTar::new(Vec::new());
    raw.file("Dockerfile", b"FROM busybox\n").unwrap();
    raw.entry(".dockerignore", b'6', 0o644, "", b"").unwrap();
    raw.entry("Dockerfile.dockerignore", b'6', 0o644, "", b"").unwrap();
    let r = run_in_tmpdir(&s.g, &tmp, &["build", "-"], &raw.finish().unwrap());
    assert!(r.success(), "{}", r.stderr);

    let mut raw = RawTar::new(Vec::new());
    raw.symlink("l", outside.to_str().unwrap()).unwrap();
    raw.file("l/evil", b"x").unwrap();
    raw.file("Dockerfile", b"FROM busybox\nCOPY . /ctx/\n").unwrap();
    raw.symlink(".dockerignore", outside.join("secret").to_str().unwrap()).unwrap();
    let dest = s.path("ctx-out");
    let r = run_in_tmpdir(
        &s.g,
        &tmp,
        &["build", "-o", &format!("type=local,dest={}", dest.display()), "-"],
        &raw.finish().unwrap(),
    );
    assert!(r.success(), "{}", r.stderr);
    let inside = dest.join("ctx").join(outside.strip_prefix("/").unwrap());
    assert_eq!(std::fs::read_to_string(inside.join("evil")).unwrap(), "x");
    assert_eq!(listing(&outside), ["secret"]);
    assert_eq!(listing(&tmp), ["victim"]);
}

#[test]
fn builder_prune_removes_the_cache_and_system_df_counts_it() {
    let s = setup();
    s.file("big.bin", &"x".repeat(10_000));
    s.file("Dockerfile", "FROM busybox\nCOPY big.bin /big.bin\n");
    s.build_ok(&["-t", "big:1"]);
    let row = df_build_cache(&s);
    assert_ne!(row["TotalCount"], "0", "{row}");
    assert_eq!(row["Size"], "0B", "layers an image uses cost the cache nothing: {row}");

    // Default prune keeps the cache of images that exist: the rebuild is cached.
    let out = s.g.ok(&["builder", "prune", "-f"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
    assert!(s.build_ok(&["-t", "big:1"]).contains("CACHED"));

    // Once the image is gone its layer is the cache's alone.
    s.g.ok(&["rmi", "big:1"]);
    let row = df_build_cache(&s);
    assert_eq!(row["Size"], "10kB", "{row}");
    assert_eq!(row["Reclaimable"], "10kB", "{row}");
    let out = s.g.ok(&["builder", "prune", "--filter", "until=24h", "-f"]);
    assert_eq!(out, "Total reclaimed space: 0B\n", "everything was used within 24h");
    let out = s.g.ok(&["builder", "prune", "-f"]);
    assert!(out.starts_with("Deleted build cache objects:\nsha256:"), "{out}");
    assert!(out.ends_with("\n\nTotal reclaimed space: 10kB\n"), "{out}");

    // -a removes the cache of existing images too: the next build runs every step.
    s.build_ok(&["-t", "big:1"]);
    let out = s.g.ok(&["builder", "prune", "-a", "-f"]);
    assert!(out.contains("Deleted build cache objects:"), "{out}");
    let row = df_build_cache(&s);
    assert_eq!((row["TotalCount"].as_str(), row["Size"].as_str()), (Some("0"), Some("0B")), "{row}");
    let out = s.build_ok(&["-t", "big:1"]);
    assert!(!out.contains("CACHED"), "{out}");
    let text = s.g.ok(&["system", "df"]);
    assert!(text.lines().any(|l| l.starts_with("Build Cache")), "{text}");

    // --keep-storage keeps up to that many bytes; bad values are one line.
    s.g.ok(&["rmi", "big:1"]);
    let out = s.g.ok(&["builder", "prune", "-f", "--keep-storage", "1mb"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
    let r = s.g.run(&["builder", "prune", "-f", "--keep-storage", "lots"]);
    assert_one_error_line(&r.stderr, "invalid size");
    let r = s.g.run(&["builder", "prune", "-f", "--filter", "color=red"]);
    assert_one_error_line(&r.stderr, "invalid filter");
    // Without -f it asks, and "no" removes nothing.
    let r = s.g.run_stdin(&["builder", "prune"], b"n\n");
    assert!(r.stdout.starts_with("WARNING! This will remove all dangling build cache."), "{}", r.stdout);
    assert_eq!(df_build_cache(&s)["Size"], "10kB");
}
