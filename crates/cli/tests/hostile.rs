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
