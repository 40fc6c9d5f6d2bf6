//! `gantry load` against hostile and broken archives (built by `gantry_testkit::hostile`).
//!
//! For every archive: the load fails with one docker-style error line that names the
//! problem, exits non-zero without panicking, leaves the store exactly as it was (same
//! `images -a --no-trunc`, same blobs, nothing in `ingest/`), and writes nothing outside
//! the store: each load runs in a fresh working directory inside a watched temporary
//! tree, and neither that tree nor the host's `/`, `/etc` or `/tmp` may gain a file
//! named like a hostile entry (`escape`, `evil`, `outside`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gantry_testkit::base::{self, BaseImage};
use gantry_testkit::hostile::{self, Layout};
use gantry_testkit::{assert_one_error_line, Gantry, Run};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// Words that only a hostile entry's name contains.
const HOSTILE_WORDS: [&str; 3] = ["escape", "evil", "outside"];

/// Host paths a hostile entry would reach if it got out.
const HOST_PATHS: [&str; 7] = ["/etc/evil", "/evil", "/escape", "/outside", "/tmp/evil", "/tmp/escape", "/tmp/outside"];

/// Words that name a path leaving the destination root.
const ESCAPE_WORDS: &[&str] = &["escape", "outside", "breakout", "unsafe", "traversal"];

/// Words that say a file the metadata names is not in the archive.
const MISSING_WORDS: &[&str] = &["missing", "not found", "no such", "no file", "absent"];

/// How the archive reaches gantry.
#[derive(Clone, Copy, Debug)]
enum Via {
    File,
    Stdin,
}

/// One store with a good image already loaded, and the tree that is watched for escapes.
struct Scene {
    /// Everything the test creates lives below here (watched as a whole).
    tmp: tempfile::TempDir,
    g: Gantry,
    archives: PathBuf,
    good: BaseImage,
    images_before: String,
    blobs_before: std::collections::BTreeSet<String>,
    runs: usize,
}

impl Scene {
    fn new() -> Scene {
        for p in HOST_PATHS {
            assert!(!Path::new(p).exists(), "{p} exists before the test: remove it, it would hide an escape");
        }
        let tmp = tempfile::Builder::new().prefix("gantry-hostile-").tempdir().expect("temp dir");
        let archives = tmp.path().join("archives");
        let g = Gantry::with_root(BIN, &tmp.path().join("store/root"));
        let good = base::busybox_archive(&archives, "good/busybox:1");
        let out = g.ok(&["load", "-i", good.archive.to_str().unwrap()]);
        assert!(out.contains("Loaded image: good/busybox:1"), "load of the good image printed:\n{out}");
        let images_before = g.ok(&["images", "-a", "--no-trunc"]);
        assert!(images_before.contains(good.id_hex()), "images does not list the good image:\n{images_before}");
        let blobs_before = hostile::blob_names(g.root());
        assert!(!blobs_before.is_empty(), "loading the good image stored no blobs");
        Scene { tmp, g, archives, good, images_before, blobs_before, runs: 0 }
    }

    /// Runs `gantry load` (from the file or on stdin) in a fresh working directory two
    /// levels below the watched tree.
    fn load(&mut self, archive: &Path, via: Via) -> Run {
        self.runs += 1;
        let cwd = self.tmp.path().join(format!("runs/{}/cwd", self.runs));
        fs::create_dir_all(&cwd).unwrap();
        let mut cmd: Command = match via {
            Via::File => self.g.cmd(&["load", "-i", archive.to_str().unwrap()]),
            Via::Stdin => self.g.cmd(&["load"]),
        };
        cmd.current_dir(&cwd).stdout(Stdio::piped()).stderr(Stdio::piped());
        let out = match via {
            Via::File => cmd.output().expect("start gantry"),
            Via::Stdin => {
                let mut child = cmd.stdin(Stdio::piped()).spawn().expect("start gantry");
                let mut pipe = child.stdin.take().unwrap();
                let data = fs::read(archive).unwrap();
                // gantry may stop reading as soon as it sees the defect: a broken pipe
                // here is expected, not an error.
                let writer = std::thread::spawn(move || {
                    let _ = pipe.write_all(&data);
                });
                let out = child.wait_with_output().expect("wait for gantry");
                writer.join().unwrap();
                out
            }
        };
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Loads `archive`, which must be refused with one error line containing one of
    /// `needles`, and checks that the store and the host are untouched.
    fn refused(&mut self, archive: &Path, via: Via, needles: &[&str]) {
        let what = format!("{} ({via:?})", archive.file_name().unwrap().to_string_lossy());
        let r = self.load(archive, via);
        assert!(!r.stderr.contains("panicked"), "{what}: gantry panicked:\n{}", r.stderr);
        assert!(
            matches!(r.code, Some(c) if c != 0),
            "{what}: load should fail with a non-zero exit, got {:?}\nstdout:\n{}\nstderr:\n{}",
            r.code,
            r.stdout,
            r.stderr
        );
        assert!(!r.stdout.contains("Loaded image"), "{what}: a refused load reported an image:\n{}", r.stdout);
        assert_one_error_line(&r.stderr, "");
        let control: Vec<char> = r.stderr.trim_end().chars().filter(|c| c.is_control()).collect();
        assert!(
            control.is_empty(),
            "{what}: the error line carries raw control characters {control:?} (terminal escapes from the archive \
             must be quoted): {:?}",
            r.stderr
        );
        eprintln!("{what}: {}", r.stderr.trim());
        let line = r.stderr.trim().to_lowercase();
        assert!(
            needles.iter().any(|n| line.contains(&n.to_lowercase())),
            "{what}: the error should name the problem (one of {needles:?}): {}",
            r.stderr.trim()
        );
        self.assert_untouched(&what);
    }

    /// The store is as it was after the good load, and nothing escaped.
    fn assert_untouched(&self, what: &str) {
        let images = self.g.ok(&["images", "-a", "--no-trunc"]);
        assert_eq!(images, self.images_before, "{what}: `images -a --no-trunc` changed after a refused load");
        let blobs = hostile::blob_names(self.g.root());
        let added: Vec<_> = blobs.difference(&self.blobs_before).collect();
        let removed: Vec<_> = self.blobs_before.difference(&blobs).collect();
        assert!(
            added.is_empty() && removed.is_empty(),
            "{what}: blobs changed after a refused load: added {added:?} (a verified earlier layer of the refused \
             image, or a partial write?), removed {removed:?}"
        );
        let leftovers = hostile::ingest_leftovers(self.g.root());
        assert!(leftovers.is_empty(), "{what}: ingest/ not cleaned after the failed load: {leftovers:?}");
        let escaped = hostile::find_names(self.tmp.path(), &HOSTILE_WORDS);
        assert!(escaped.is_empty(), "{what}: hostile entries were written: {escaped:?}");
        for p in HOST_PATHS {
            assert!(!Path::new(p).exists(), "{what}: {p} was created on the host");
        }
    }

    /// After the refusals the store still works: the good image is intact and a valid
    /// archive of the hostile builders' kind loads.
    fn still_works(&mut self) {
        let out = self.g.ok(&["inspect", "good/busybox:1"]);
        assert!(out.contains(&self.good.id), "inspect of the good image lost its ID:\n{out}");
        let tag = "hostile/after:1";
        let v = hostile::valid(&self.archives, Layout::Docker25, tag);
        let r = self.load(&v.archive, Via::File);
        assert!(r.success(), "a valid load after the refusals failed:\n{}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains(&format!("Loaded image: {tag}")), "unexpected load output:\n{}", r.stdout);
        let images = self.g.ok(&["images", "-a", "--no-trunc"]);
        assert!(images.contains(&v.id), "images does not list {} after loading it:\n{images}", v.id);
        assert!(hostile::ingest_leftovers(self.g.root()).is_empty());
        assert_eq!(hostile::corrupt_blobs(self.g.root()), vec![], "blobs whose content does not match their name");
    }
}

/// The control: the builders' archives, with nothing wrong, load in every layout, from
/// a file, gzip-compressed and on stdin, as exactly the image the builder describes.
/// Without this, a hostile test could pass because the builders write garbage.
#[test]
fn control_archives_load() {
    let mut s = Scene::new();
    for layout in Layout::ALL {
        for (i, via) in [Via::File, Via::Stdin].into_iter().enumerate() {
            for gz in [false, true] {
                let tag = format!("hostile/ok-{i}{}:{}", gz as u8, layout.name());
                let v = hostile::valid(&s.archives, layout, &tag);
                let archive = if gz { hostile::gzip(&v.archive) } else { v.archive.clone() };
                let r = s.load(&archive, via);
                assert!(r.success(), "control {layout:?} {via:?} gz={gz} failed:\n{}{}", r.stdout, r.stderr);
                assert!(
                    r.stdout.contains(&format!("Loaded image: {tag}")),
                    "control {layout:?} {via:?} gz={gz}: unexpected output:\n{}",
                    r.stdout
                );
                let out = s.g.ok(&["inspect", &tag]);
                let json: serde_json::Value = serde_json::from_str(&out).expect("inspect prints JSON");
                assert_eq!(json[0]["Id"], v.id, "control {layout:?}: wrong image ID");
                assert_eq!(json[0]["RootFS"]["Layers"], serde_json::json!(v.diff_ids), "control {layout:?}: {out}");
                assert_eq!(json[0]["RepoTags"], serde_json::json!([tag]), "control {layout:?}: {out}");
            }
        }
    }
    assert!(hostile::ingest_leftovers(s.g.root()).is_empty());
    assert_eq!(hostile::corrupt_blobs(s.g.root()), vec![]);
    assert!(hostile::find_names(s.tmp.path(), &HOSTILE_WORDS).is_empty());
}

/// Words that say the input ended too soon.
const TRUNCATED_WORDS: &[&str] = &["truncated", "unexpected end", "unexpected eof", "incomplete", "short"];

#[test]
fn truncated_archive_is_refused() {
    let mut s = Scene::new();
    for layout in Layout::ALL {
        let a = hostile::truncated(&s.archives, layout);
        s.refused(&a, Via::File, TRUNCATED_WORDS);
    }
    // A real `docker save` layout (layers first, manifest.json last), cut 1 MiB before
    // its end: inside the last 2 MiB layer, with the metadata lost too.
    let real = base::archive_with_layers(&s.archives, "hostile/cut:1", &[("data/cut".into(), 2 << 20, 4242)]);
    let len = fs::metadata(&real.archive).unwrap().len();
    hostile::truncate(&real.archive, len - (1 << 20));
    s.refused(&real.archive, Via::File, TRUNCATED_WORDS);
    s.refused(&real.archive, Via::Stdin, TRUNCATED_WORDS);
    s.still_works();
}

#[test]
fn layer_not_matching_its_digest_is_refused() {
    let mut s = Scene::new();
    for layout in Layout::ALL {
        let a = hostile::layer_digest_mismatch(&s.archives, layout);
        s.refused(&a, Via::File, &["digest", "diffid", "diff id", "mismatch", "does not match"]);
    }
    s.still_works();
}

#[test]
fn entry_with_dotdot_is_refused() {
    let mut s = Scene::new();
    for layout in Layout::ALL {
        let a = hostile::entry_dotdot(&s.archives, layout);
        s.refused(&a, Via::File, ESCAPE_WORDS);
    }
    s.still_works();
}

#[test]
fn entry_with_absolute_path_is_refused() {
    let mut s = Scene::new();
    let needles = [ESCAPE_WORDS, &["absolute", "/etc/evil"]].concat();
    for layout in Layout::ALL {
        let a = hostile::entry_absolute(&s.archives, layout);
        s.refused(&a, Via::File, &needles);
    }
    s.still_works();
}

#[test]
fn symlink_climbing_out_is_refused() {
    let mut s = Scene::new();
    let needles = [ESCAPE_WORDS, &["symlink", "symbolic link"]].concat();
    for layout in Layout::ALL {
        let a = hostile::symlink_climb(&s.archives, layout);
        s.refused(&a, Via::File, &needles);
    }
    s.still_works();
}

#[test]
fn hardlink_climbing_out_is_refused() {
    let mut s = Scene::new();
    let needles = [ESCAPE_WORDS, &["hardlink", "hard link"]].concat();
    for layout in Layout::ALL {
        let a = hostile::hardlink_climb(&s.archives, layout);
        s.refused(&a, Via::File, &needles);
    }
    s.still_works();
}

/// The same escapes smuggled in the names that override a header's own (pax `path` and
/// `linkpath` records, GNU long names): a check must read the name an extractor uses.
#[test]
fn escapes_in_pax_and_gnu_long_names_are_refused() {
    let mut s = Scene::new();
    let symlink = [ESCAPE_WORDS, &["symlink", "symbolic link"]].concat();
    for layout in Layout::ALL {
        let a = hostile::entry_dotdot_pax(&s.archives, layout);
        s.refused(&a, Via::File, ESCAPE_WORDS);
        let a = hostile::entry_dotdot_gnu_longname(&s.archives, layout);
        s.refused(&a, Via::File, ESCAPE_WORDS);
        let a = hostile::symlink_climb_pax(&s.archives, layout);
        s.refused(&a, Via::File, &symlink);
    }
    s.still_works();
}

#[test]
fn manifest_naming_a_missing_file_is_refused() {
    let mut s = Scene::new();
    for layout in Layout::ALL {
        let a = hostile::missing_layer(&s.archives, layout);
        s.refused(&a, Via::File, MISSING_WORDS);
    }
    s.still_works();
}

#[test]
fn invalid_manifest_json_is_refused() {
    let mut s = Scene::new();
    for layout in [Layout::Classic, Layout::Docker25] {
        let a = hostile::manifest_invalid_json(&s.archives, layout);
        s.refused(&a, Via::File, &["manifest"]);
    }
    s.still_works();
}

#[test]
fn invalid_config_json_is_refused() {
    let mut s = Scene::new();
    for layout in Layout::ALL {
        let a = hostile::config_invalid_json(&s.archives, layout);
        s.refused(&a, Via::File, &["config"]);
    }
    s.still_works();
}

#[test]
fn unknown_layer_media_type_is_refused() {
    let mut s = Scene::new();
    let a = hostile::oci_unknown_media_type(&s.archives);
    s.refused(&a, Via::File, &["media type", "mediatype", hostile::UNKNOWN_LAYER_MEDIA_TYPE]);
    s.still_works();
}

#[test]
fn outer_entry_climbing_out_is_refused() {
    let mut s = Scene::new();
    let needles = [ESCAPE_WORDS, &["../../evil"]].concat();
    for layout in Layout::ALL {
        let a = hostile::outer_entry_climb(&s.archives, layout);
        s.refused(&a, Via::File, &needles);
    }
    s.still_works();
}

#[test]
fn config_not_matching_its_digest_is_refused() {
    let mut s = Scene::new();
    for layout in [Layout::Docker25, Layout::Oci] {
        let a = hostile::config_digest_mismatch(&s.archives, layout);
        s.refused(&a, Via::File, &["digest", "mismatch", "does not match"]);
    }
    s.still_works();
}

/// A header that fails its checksum, named with terminal escapes: refused as not a
/// (valid) tar, and the name is never echoed raw (it could clear the screen, retitle
/// the terminal or forge a second error line).
#[test]
fn corrupt_header_with_control_characters_is_refused_quoted() {
    let mut s = Scene::new();
    let a = hostile::corrupt_header(&s.archives);
    let needles = ["not a tar", "corrupt", "checksum", "cksum", "truncated", "invalid"];
    s.refused(&a, Via::File, &needles);
    s.refused(&a, Via::Stdin, &needles);
    s.still_works();
}

/// The same defences hold when the archive arrives on stdin (no seeking, no second
/// look, and the writer may still be writing when gantry gives up).
#[test]
fn hostile_archives_on_stdin_are_refused() {
    let mut s = Scene::new();
    let a = hostile::entry_dotdot(&s.archives, Layout::Docker25);
    s.refused(&a, Via::Stdin, ESCAPE_WORDS);
    let a = hostile::truncated(&s.archives, Layout::Classic);
    s.refused(&a, Via::Stdin, TRUNCATED_WORDS);
    let a = hostile::layer_digest_mismatch(&s.archives, Layout::Oci);
    s.refused(&a, Via::Stdin, &["digest", "diffid", "diff id", "mismatch", "does not match"]);
    let a = hostile::symlink_climb(&s.archives, Layout::Classic);
    let needles = [ESCAPE_WORDS, &["symlink", "symbolic link"]].concat();
    s.refused(&hostile::gzip(&a), Via::Stdin, &needles);
    let a = hostile::outer_entry_climb(&s.archives, Layout::Oci);
    s.refused(&a, Via::Stdin, &[ESCAPE_WORDS, &["../../evil"]].concat());
    s.still_works();
}

/// Behind a decompressor: gzip-compressed hostile archives are refused the same way,
/// and a gzip stream cut short is reported as truncated.
#[test]
fn gzipped_hostile_archives_are_refused() {
    let mut s = Scene::new();
    let escape = ESCAPE_WORDS;
    let digest: &[&str] = &["digest", "diffid", "diff id", "mismatch", "does not match"];
    let cases: Vec<(PathBuf, Vec<&str>)> = vec![
        (hostile::entry_dotdot(&s.archives, Layout::Classic), escape.to_vec()),
        (hostile::entry_absolute(&s.archives, Layout::Oci), [escape, &["absolute", "/etc/evil"]].concat()),
        (hostile::hardlink_climb(&s.archives, Layout::Docker25), [escape, &["hardlink", "hard link"]].concat()),
        (hostile::layer_digest_mismatch(&s.archives, Layout::Docker25), digest.to_vec()),
        (hostile::config_digest_mismatch(&s.archives, Layout::Oci), digest.to_vec()),
        (hostile::missing_layer(&s.archives, Layout::Classic), MISSING_WORDS.to_vec()),
        (hostile::oci_unknown_media_type(&s.archives), vec!["media type", "mediatype"]),
        (hostile::outer_entry_climb(&s.archives, Layout::Docker25), [escape, &["../../evil"]].concat()),
        (hostile::truncated(&s.archives, Layout::Docker25), vec!["truncated", "unexpected", "eof", "incomplete"]),
    ];
    for (archive, needles) in cases {
        let gz = hostile::gzip(&archive);
        s.refused(&gz, Via::File, &needles);
    }
    for layout in Layout::ALL {
        let a = hostile::truncated_gzip(&s.archives, layout);
        s.refused(&a, Via::File, &["truncated", "unexpected end", "unexpected eof", "incomplete", "corrupt"]);
    }
    s.still_works();
}

// ---------------------------------------------------------------------------------------
// Resource limits: descriptors, time and memory stay bounded whatever the archive
// ---------------------------------------------------------------------------------------

/// How a bounded run ended: the outcome, and the peak resident memory of the gantry
/// process itself (from `wait4`, so other tests' children do not count).
struct Bounded {
    run: Run,
    max_rss_kib: u64,
}

/// Runs `cmd` to its end, with `RLIMIT_NOFILE` lowered to `nofile` if given; a run
/// still going after `timeout` is killed and fails the test (a hang must not hang the
/// suite).
// The child is reaped by `wait4` (which reports its rusage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run_bounded(mut cmd: Command, nofile: Option<u64>, timeout: std::time::Duration) -> Bounded {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    if let Some(n) = nofile {
        // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit { rlim_cur: n as libc::rlim_t, rlim_max: n as libc::rlim_t };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start gantry");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let pid = child.id() as libc::pid_t;
    let deadline = std::time::Instant::now() + timeout;
    let mut status = 0;
    // SAFETY: rusage is plain old data; all zeros is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on our own child, with valid pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert_eq!(r, 0, "wait4: {}", std::io::Error::last_os_error());
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            // SAFETY: as above; reaps the killed child.
            unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            panic!("gantry did not finish within {timeout:?}: killed\nstderr so far:\n{}", err.join().unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Bounded {
        run: Run { code, stdout: out.join().unwrap(), stderr: err.join().unwrap() },
        max_rss_kib: usage.ru_maxrss as u64,
    }
}

/// B4: an archive of 1,100 layers (four images) loads with only 256 file descriptors:
/// a staged layer holds no descriptor once it is hashed.
#[test]
fn archive_with_more_layers_than_descriptors_loads() {
    let mut s = Scene::new();
    let images = hostile::many_layers(&s.archives, 4, 275, false);
    let archive = images[0].archive.to_str().unwrap().to_string();
    let b = run_bounded(s.g.cmd(&["load", "-i", &archive]), Some(256), std::time::Duration::from_secs(300));
    assert!(b.run.success(), "load with 256 descriptors failed:\n{}{}", b.run.stdout, b.run.stderr);
    for img in &images {
        assert!(b.run.stdout.contains(&format!("Loaded image: {}", img.tag)), "output:\n{}", b.run.stdout);
    }
    let out = s.g.ok(&["inspect", &images[3].tag]);
    let json: serde_json::Value = serde_json::from_str(&out).expect("inspect prints JSON");
    assert_eq!(json[0]["Id"], images[3].id);
    assert_eq!(json[0]["RootFS"]["Layers"], serde_json::json!(images[3].diff_ids));
    let blobs = hostile::blob_names(s.g.root());
    let expected = images.iter().flat_map(|i| i.diff_ids.iter().chain([&i.id])).map(|d| d[7..].to_string());
    let missing: Vec<String> = expected.filter(|d| !blobs.contains(d)).collect();
    assert!(missing.is_empty(), "{} blobs missing after the load", missing.len());
    assert!(hostile::ingest_leftovers(s.g.root()).is_empty());
    s.still_works();
}

/// B4: layers are linked into the store as they are read, so a load that fails after
/// reading 1,100 of them (the last image's config names a wrong DiffID) must remove
/// every blob it added, and none that was there before.
#[test]
fn failed_load_of_many_layers_removes_what_it_linked() {
    let mut s = Scene::new();
    let images = hostile::many_layers(&s.archives, 4, 275, true);
    // The first layer of the archive is already in the store: the failed load must
    // leave it there.
    let first = hostile::many_layers(&s.archives.join("first"), 1, 1, false);
    assert_eq!(first[0].diff_ids[0], images[0].diff_ids[0]);
    let r = s.load(&first[0].archive, Via::File);
    assert!(r.success(), "loading the one-layer image failed:\n{}{}", r.stdout, r.stderr);
    s.images_before = s.g.ok(&["images", "-a", "--no-trunc"]);
    s.blobs_before = hostile::blob_names(s.g.root());
    assert!(s.blobs_before.contains(&images[0].diff_ids[0][7..]));
    s.refused(&images[0].archive, Via::File, &["diff id", "diffid", "digest"]);
    let b = run_bounded(
        s.g.cmd(&["load", "-i", images[0].archive.to_str().unwrap()]),
        Some(256),
        std::time::Duration::from_secs(300),
    );
    assert!(!b.run.success());
    assert_one_error_line(&b.run.stderr, "diff id");
    s.assert_untouched("many layers, refused with 256 descriptors");
    s.still_works();
}

/// B5: indexes nested four deep, each naming the next 200 times, load at once (each is
/// expanded once), and an index listing more than 10,000 descriptors is refused by name.
#[test]
fn nested_indexes_are_expanded_once() {
    let mut s = Scene::new();
    let v = hostile::nested_index(&s.archives, 4, 200);
    let b =
        run_bounded(s.g.cmd(&["load", "-i", v.archive.to_str().unwrap()]), None, std::time::Duration::from_secs(20));
    assert!(b.run.success(), "nested index load failed:\n{}{}", b.run.stdout, b.run.stderr);
    assert!(b.run.stdout.contains(&format!("Loaded image ID: {}", v.id)), "output:\n{}", b.run.stdout);
    s.images_before = s.g.ok(&["images", "-a", "--no-trunc"]);
    s.blobs_before = hostile::blob_names(s.g.root());
    let wide = hostile::nested_index(&s.archives, 0, 10_001);
    s.refused(&wide.archive, Via::File, &["index.json"]);
    s.still_works();
}

/// Peak memory a refused flood may cost: the 64 MiB budget plus the process itself.
const MAX_RSS_KIB: u64 = 128 * 1024;

/// B6: archives of many 4 KiB files, of 16 MiB JSON-looking files, or of endless links
/// are refused with one line naming the entry where the limit was reached, and the load
/// stays within bounded memory.
#[test]
fn floods_of_small_files_and_links_are_refused_in_bounded_memory() {
    let mut s = Scene::new();
    let cases = [
        (hostile::small_file_flood(&s.archives, 40_000, 4096), "memory"),
        (hostile::small_file_flood(&s.archives, 12, 16 << 20), "memory"),
        (hostile::link_flood(&s.archives, 100_001), "links"),
    ];
    for (archive, needle) in cases {
        let what = archive.file_name().unwrap().to_string_lossy().into_owned();
        let b =
            run_bounded(s.g.cmd(&["load", "-i", archive.to_str().unwrap()]), None, std::time::Duration::from_secs(300));
        eprintln!("{what}: peak RSS {} KiB: {}", b.max_rss_kib, b.run.stderr.trim());
        assert!(matches!(b.run.code, Some(c) if c != 0), "{what}: should fail:\n{}{}", b.run.stdout, b.run.stderr);
        assert_one_error_line(&b.run.stderr, needle);
        assert!(b.run.stderr.contains("archive entry \""), "{what}: the error should name the entry: {}", b.run.stderr);
        assert!(b.max_rss_kib < MAX_RSS_KIB, "{what}: gantry peaked at {} KiB of memory", b.max_rss_kib);
        s.assert_untouched(&what);
    }
    s.still_works();
}

/// B7: a file no manifest names (a README beside the image, or a stray tar) is ignored,
/// and a stray tar is not kept in the store.
#[test]
fn unreferenced_files_are_ignored() {
    let mut s = Scene::new();
    let readme: Vec<u8> = b"This archive holds an image. \x1b[1mLoad it\x1b[0m with docker load.\n"
        .iter()
        .copied()
        .cycle()
        .take(6 * 1024)
        .collect();
    let stray = hostile::stray_layer(7, 6 * 1024);
    let stray_hex = hostile::sha256_hex(&stray);
    for layout in Layout::ALL {
        for (name, data) in [("README.txt", &readme), ("stray.tar", &stray)] {
            let stem = name.split('.').next().unwrap_or(name).to_lowercase();
            let tag = format!("hostile/extra-{stem}:{}", layout.name());
            let v = hostile::valid_with_extra_file(&s.archives, layout, &tag, name, data);
            let r = s.load(&v.archive, Via::File);
            assert!(r.success(), "{layout:?} with {name}: load failed:\n{}{}", r.stdout, r.stderr);
            assert!(r.stdout.contains(&format!("Loaded image: {tag}")), "{layout:?}: output:\n{}", r.stdout);
            let blobs = hostile::blob_names(s.g.root());
            assert!(!blobs.contains(&stray_hex), "{layout:?}: the unreferenced {name} was kept as a blob");
        }
    }
    assert_eq!(hostile::corrupt_blobs(s.g.root()), vec![]);
    s.still_works();
}

/// B7: a layer the manifest names that is not a tar fails the load with one short line,
/// without echoing the entry's bytes raw.
#[test]
fn referenced_garbage_layer_is_refused_in_one_short_line() {
    let mut s = Scene::new();
    for layout in Layout::ALL {
        let a = hostile::garbage_layer(&s.archives, layout);
        s.refused(&a, Via::File, &["corrupt", "not a tar", "checksum"]);
        let r = s.load(&a, Via::File);
        let line = r.stderr.trim();
        assert!(line.len() < 600, "{layout:?}: the error line is {} bytes long: {line}", line.len());
        assert!(line.contains("layer"), "{layout:?}: the error should name the layer: {line}");
    }
    s.still_works();
}
