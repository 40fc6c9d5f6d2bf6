//! Crash safety of `gantry load`: SIGKILL at random moments must never leave a half
//! image or an unverified blob, and the next commands must recover on their own.
//!
//! DESIGN.md: "every multi-step change is ordered so that a crash at any instant leaves
//! a consistent store (at worst unreferenced files that the next GC removes)", and "a
//! blob appears in `blobs/` only complete and verified".
//!
//! The kill moments come from a seeded PRNG; the seed is printed, and
//! `GANTRY_CRASH_SEED=<seed>` replays a run.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use gantry_testkit::base::{self, BaseImage};
use gantry_testkit::{hostile, Gantry};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// Size of the image's big layer: large enough that most kills land while it is being
/// written, small enough that the test stays within a few minutes in a debug build.
const LAYER_SIZE: u64 = 400 << 20;

/// How many loads are killed.
const KILLS: usize = 40;

/// splitmix64: tiny, seedable and good enough to spread kill moments.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn seed() -> u64 {
    match std::env::var("GANTRY_CRASH_SEED") {
        Ok(s) => s.parse().expect("GANTRY_CRASH_SEED must be an integer"),
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64,
    }
}

/// The blobs an image is made of: its config and its layers (uncompressed, by DiffID).
fn expected_blobs(img: &BaseImage) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = img.diff_ids.iter().map(|d| d.trim_start_matches("sha256:").to_string()).collect();
    set.insert(img.id_hex().to_string());
    set
}

/// Hashes every blob not seen before (by name, inode, size and mtime, since blobs are
/// immutable) and fails if one does not match its name.
struct BlobChecker {
    seen: HashMap<String, (u64, u64, i64)>,
}

impl BlobChecker {
    fn check(&mut self, root: &Path, when: &str) {
        use std::os::unix::fs::MetadataExt;
        let dir = root.join("blobs/sha256");
        for name in hostile::blob_names(root) {
            assert!(!name.starts_with('!'), "{when}: blobs/sha256/{} is not a regular file", &name[1..]);
            let Ok(meta) = std::fs::metadata(dir.join(&name)) else { continue }; // removed since listed
            let key = (meta.ino(), meta.len(), meta.mtime_nsec() + meta.mtime() * 1_000_000_000);
            if self.seen.get(&name) == Some(&key) {
                continue;
            }
            let actual = match hostile::sha256_file(&dir.join(&name)) {
                Ok(h) => h,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("{when}: read blob {name}: {e}"),
            };
            assert_eq!(
                actual, name,
                "{when}: blobs/sha256/{name} holds {} bytes hashing to {actual}: a partial or unverified blob",
                key.1
            );
            self.seen.insert(name, key);
        }
    }
}

/// The store after a kill: `images` works, and the image is either entirely there
/// (inspect, every blob present and verified, save works) or entirely absent.
/// Returns whether it was there.
fn check_after_kill(g: &Gantry, img: &BaseImage, blobs: &mut BlobChecker, tmp: &Path, when: &str) -> bool {
    let table = g.run(&["images"]);
    assert!(table.success(), "{when}: `gantry images` failed ({:?}):\n{}{}", table.code, table.stdout, table.stderr);
    let ids = g.ok(&["images", "-a", "-q", "--no-trunc"]);
    let ids: BTreeSet<&str> = ids.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert!(ids.iter().all(|id| *id == img.id), "{when}: unexpected images listed: {ids:?} (only {} may be)", img.id);
    blobs.check(g.root(), when);
    let (repo, tag) = img.tag.rsplit_once(':').unwrap();
    let listed = table.stdout.lines().any(|l| l.split_whitespace().take(2).eq([repo, tag]));
    let inspect = g.run(&["inspect", &img.tag]);
    if ids.is_empty() {
        assert!(!listed, "{when}: `images` lists {} but `images -a -q` lists nothing:\n{}", img.tag, table.stdout);
        assert!(
            !inspect.success(),
            "{when}: inspect {} works but the image is not listed:\n{}",
            img.tag,
            inspect.stdout
        );
        return false;
    }
    assert!(listed, "{when}: image {} is listed by ID but not by tag:\n{}", img.id, table.stdout);
    assert!(inspect.success(), "{when}: image listed but inspect fails:\n{}", inspect.stderr);
    let json: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("inspect prints JSON");
    assert_eq!(json[0]["Id"], img.id, "{when}: inspect shows the wrong ID");
    assert_eq!(json[0]["RootFS"]["Layers"], serde_json::json!(img.diff_ids), "{when}: inspect shows the wrong layers");
    let present = hostile::blob_names(g.root());
    let missing: Vec<_> = expected_blobs(img).difference(&present).cloned().collect();
    assert!(missing.is_empty(), "{when}: image listed but its blobs are missing: {missing:?}");
    let out = tmp.join("saved.tar");
    g.ok(&["save", "-o", out.to_str().unwrap(), &img.tag]);
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    assert!(size > LAYER_SIZE, "{when}: save wrote {size} bytes, less than the big layer");
    std::fs::remove_file(&out).unwrap();
    true
}

/// Whether process `pid` has a file open under `dir` (an ingest file, named or
/// anonymous: an `O_TMPFILE` inode shows in /proc as `<dir>/#<inode> (deleted)`).
fn has_open_file_under(pid: u32, dir: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(dir)))
}

/// Starts a load, waits until it has an ingest file open (it is writing a blob), lets
/// it write a little longer and SIGKILLs it: a kill that surely lands mid-write.
/// Returns how many files the dead load left in `ingest/` (none, when the store writes
/// into anonymous `O_TMPFILE` inodes; named files on filesystems without them).
fn kill_mid_write(g: &Gantry, archive: &str, full: Duration) -> usize {
    let ingest = g.root().join("ingest").canonicalize().expect("the store has an ingest/ directory");
    let mut child = g.cmd(&["load", "-i", archive]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + full * 5;
    while !has_open_file_under(child.id(), &ingest) {
        assert!(Instant::now() < deadline, "the load opened nothing in ingest/ within {:?}", full * 5);
        assert!(child.try_wait().unwrap().is_none(), "the load ended before it opened anything in ingest/");
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(full / 10);
    let _ = child.kill();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the load finished before it could be killed mid-write");
    hostile::ingest_leftovers(g.root()).len()
}

#[test]
fn killed_loads_leave_a_consistent_store() {
    let seed = seed();
    eprintln!("crash test seed: {seed} (replay with GANTRY_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let tmp = tempfile::Builder::new().prefix("gantry-crash-").tempdir().unwrap();
    let img = base::archive_with_layers(
        &tmp.path().join("archives"),
        "crash/big:1",
        &[("data/big".to_string(), LAYER_SIZE, 7), ("data/small".to_string(), 1 << 20, 8)],
    );
    let archive = img.archive.to_str().unwrap().to_string();
    eprintln!("archive written in {:?}", started.elapsed());

    // How long an uninterrupted load takes, on roots of its own (the faster of two, so
    // that a slow first run does not push kill moments past the end of later loads).
    let mut full = Duration::MAX;
    for n in 0..2 {
        let scratch_root = tmp.path().join(format!("scratch-{n}"));
        let scratch = Gantry::with_root(BIN, &scratch_root);
        let t0 = Instant::now();
        let out = scratch.ok(&["load", "-i", &archive]);
        full = full.min(t0.elapsed());
        assert!(out.contains("Loaded image: crash/big:1"), "unexpected load output:\n{out}");
        std::fs::remove_dir_all(&scratch_root).unwrap();
    }
    eprintln!("uninterrupted load: {full:?}");

    let g = Gantry::with_root(BIN, &tmp.path().join("root"));
    let mut blobs = BlobChecker { seen: HashMap::new() };
    let (mut absent, mut complete, mut writing) = (0, 0, 0);
    for i in 0..KILLS {
        let delay = full.mul_f64(rng.unit());
        let mut child = g.cmd(&["load", "-i", &archive]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(delay);
        let exited_first = child.try_wait().unwrap();
        // Only an indication (the process runs on until the signal lands), for the
        // check below that the kills exercise more than process start-up.
        let ingest = g.root().join("ingest");
        let was_writing = ingest.exists() && has_open_file_under(child.id(), &ingest.canonicalize().unwrap());
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let when = format!("kill {i} after {delay:?} ({status}{})", if was_writing { ", mid-write" } else { "" });
        if let Some(s) = exited_first {
            assert!(s.success(), "{when}: an uninterrupted load failed: {s}");
        }
        writing += was_writing as usize;
        let there = check_after_kill(&g, &img, &mut blobs, tmp.path(), &when);
        eprintln!("{when}: image {}", if there { "complete" } else { "absent" });
        if there {
            complete += 1;
            // Remove it, so that the next kill interrupts a real load again.
            g.ok(&["rmi", &img.tag]);
            assert!(!g.run(&["inspect", &img.tag]).success(), "{when}: inspect works after rmi");
        } else {
            absent += 1;
        }
    }
    eprintln!(
        "{absent} kills left no image ({writing} of all kills landed mid-write), {complete} came after the load \
         completed; {:?} so far",
        started.elapsed()
    );
    assert!(writing >= KILLS / 4, "only {writing} of {KILLS} kills landed mid-write: the layer is too small");

    // Recovery by the next load: it succeeds and sweeps what a dead load left in ingest/.
    let left = kill_mid_write(&g, &archive, full);
    eprintln!("a load killed mid-write left {left} files in ingest/");
    assert!(!check_after_kill(&g, &img, &mut blobs, tmp.path(), "after a mid-write kill"), "image appeared");
    let out = g.ok(&["load", "-i", &archive]);
    assert!(out.contains("Loaded image: crash/big:1"), "load after the kills printed:\n{out}");
    let leftovers = hostile::ingest_leftovers(g.root());
    assert!(leftovers.is_empty(), "the next load did not sweep ingest/ of dead loads: {leftovers:?}");
    assert!(check_after_kill(&g, &img, &mut blobs, tmp.path(), "after the recovery load"), "image absent");

    // Recovery by prune: with no image left, loads killed mid-write leave only garbage,
    // and `image prune -f` removes all of it.
    g.ok(&["rmi", &img.tag]);
    for _ in 0..3 {
        kill_mid_write(&g, &archive, full);
    }
    let out = g.ok(&["image", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "image prune -f printed:\n{out}");
    let leftovers = hostile::ingest_leftovers(g.root());
    assert!(leftovers.is_empty(), "image prune -f did not sweep ingest/ of dead loads: {leftovers:?}");
    let blobs_left = hostile::blob_names(g.root());
    assert!(blobs_left.is_empty(), "with no image, prune should leave no blobs, left: {blobs_left:?}");

    // And the store is whole: load, prune, exactly the image's blobs, all verified.
    let out = g.ok(&["load", "-i", &archive]);
    assert!(out.contains("Loaded image: crash/big:1"), "final load printed:\n{out}");
    let out = g.ok(&["image", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "image prune -f printed:\n{out}");
    assert!(hostile::ingest_leftovers(g.root()).is_empty(), "ingest/ not empty after load + prune");
    assert_eq!(
        hostile::blob_names(g.root()),
        expected_blobs(&img),
        "blobs/ should hold exactly the image's config and layers"
    );
    assert_eq!(hostile::corrupt_blobs(g.root()), vec![], "blobs whose content does not match their name");
    assert!(check_after_kill(&g, &img, &mut blobs, tmp.path(), "after recovery"), "image absent after recovery");
    let saved: PathBuf = tmp.path().join("final.tar");
    g.ok(&["save", "-o", saved.to_str().unwrap(), &img.tag]);
    let again = Gantry::with_root(BIN, &tmp.path().join("again"));
    let out = again.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert!(out.contains("Loaded image: crash/big:1"), "the recovered image's save does not load:\n{out}");
    assert!(again.ok(&["images", "-q", "--no-trunc"]).contains(&img.id), "the saved image loaded with another ID");
    eprintln!("total {:?}", started.elapsed());
}

/// Holds an exclusive flock on a file, as a live writer does on its named ingest file;
/// the lock lasts as long as the open file, i.e. until this is dropped.
struct Locked {
    _file: std::fs::File,
}

impl Locked {
    fn create(path: &Path) -> Locked {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::create(path).unwrap();
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(rc, 0, "flock {}: {}", path.display(), std::io::Error::last_os_error());
        Locked { _file: f }
    }
}

/// Where the filesystem has no `O_TMPFILE`, a writer's partial blob is a named file in
/// `ingest/` held under its flock, and a killed writer leaves it behind. Such files
/// (flock free) are swept by the next `load` and by `image prune`; a file whose writer
/// still holds its lock is never touched. Planted files stand in for both, since this
/// filesystem gives gantry anonymous inodes.
#[test]
fn dead_writers_ingest_files_are_swept_and_live_ones_kept() {
    let tmp = tempfile::Builder::new().prefix("gantry-sweep-").tempdir().unwrap();
    let g = Gantry::with_root(BIN, &tmp.path().join("root"));
    let img = base::busybox_archive(&tmp.path().join("archives"), "sweep/bb:1");
    g.ok(&["load", "-i", img.archive.to_str().unwrap()]);
    let ingest = g.root().join("ingest");
    assert!(ingest.is_dir(), "the store has no ingest/ directory");

    let dead = ingest.join("4194303-00000000deadbeef");
    std::fs::write(&dead, vec![7u8; 1 << 20]).unwrap();
    let live_path = ingest.join("4194302-00000000feedface");
    let live = Locked::create(&live_path);
    let out = g.ok(&["load", "-i", img.archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: sweep/bb:1"), "load printed:\n{out}");
    assert!(!dead.exists(), "load did not sweep a dead writer's ingest file");
    assert!(live_path.exists(), "load removed an ingest file whose writer still holds its lock");

    std::fs::write(&dead, vec![7u8; 1 << 20]).unwrap();
    let out = g.ok(&["image", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "image prune -f printed:\n{out}");
    assert!(!dead.exists(), "image prune -f did not sweep a dead writer's ingest file");
    assert!(live_path.exists(), "image prune -f removed an ingest file whose writer still holds its lock");

    drop(live);
    g.ok(&["image", "prune", "-f"]);
    assert_eq!(hostile::ingest_leftovers(g.root()), Vec::<PathBuf>::new(), "ingest/ after the writer died");
    assert_eq!(hostile::blob_names(g.root()), expected_blobs(&img), "prune touched the image's blobs");
}
