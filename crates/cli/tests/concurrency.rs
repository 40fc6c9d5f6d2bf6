//! Many gantry processes on one store at once, as `alias docker=gantry` users and CI
//! jobs will run them: loads of different images (two of them with the same content
//! under different tags, two sharing a layer) while other processes tag, untag, remove
//! and prune. No daemon serializes them: every command must succeed on its own (the
//! store handles contention with SQLite transactions and locks; the test never
//! retries), and the final state must be exactly what the commands asked for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use gantry_testkit::base::{self, BaseImage};
use gantry_testkit::hostile::{self, Layout};
use gantry_testkit::Gantry;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// Loads per loading thread: each loads its image, removes it (`rmi` of its tag) and
/// loads it again, so loads overlap removals of the same and of shared content.
const LOAD_ROUNDS: usize = 3;
/// Rounds of the tagging thread: `tag` each round, `rmi` (untag) the odd ones.
const TAG_ROUNDS: usize = 30;
/// The least number of `image prune -f` rounds; pruning goes on while loads run.
const PRUNE_ROUNDS: usize = 8;

/// The failures of every thread, reported together at the end.
type Failures = Arc<Mutex<Vec<String>>>;

/// Runs one command on the shared root; a non-zero exit is recorded, never retried.
fn must(g: &Gantry, args: &[&str], failures: &Failures) -> String {
    let r = g.run(args);
    if !r.success() || r.stderr.contains("panicked") {
        failures.lock().unwrap().push(format!("gantry {args:?} exited {:?}:\n{}{}", r.code, r.stdout, r.stderr));
    }
    r.stdout
}

fn hexes(img: &BaseImage) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = img.diff_ids.iter().map(|d| d.trim_start_matches("sha256:").to_string()).collect();
    set.insert(img.id_hex().to_string());
    set
}

fn inspect(g: &Gantry, reference: &str) -> serde_json::Value {
    let out = g.ok(&["inspect", reference]);
    let json: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("inspect {reference}: {e}:\n{out}"));
    json[0].clone()
}

fn archive(img: &BaseImage) -> &str {
    img.archive.to_str().unwrap()
}

#[test]
fn parallel_loads_tags_removals_and_prunes_on_one_store() {
    let tmp = tempfile::Builder::new().prefix("gantry-concurrency-").tempdir().unwrap();
    let dir = tmp.path().join("archives");
    let root = tmp.path().join("root");
    let layer = |path: &str, mib: u64, seed: u64| (path.to_string(), mib << 20, seed);

    // Loaded in parallel. bb1 and bb2 are the same image under two tags; big2 and big3
    // share their last layer with each other and with rm4, which is removed meanwhile.
    let shared = layer("data/shared", 4, 999);
    let loads: Vec<BaseImage> = vec![
        base::busybox_archive(&dir, "conc/bb1:latest"),
        base::busybox_archive(&dir, "conc/bb2:latest"),
        base::archive_with_layers(&dir, "conc/big1:latest", &[layer("data/one", 24, 101)]),
        base::archive_with_layers(&dir, "conc/big2:latest", &[layer("data/two", 24, 102), shared.clone()]),
        base::archive_with_layers(&dir, "conc/big3:latest", &[layer("data/three", 8, 103), shared.clone()]),
        hostile::valid(&dir, Layout::Docker25, "conc/d25:1"),
        hostile::valid(&dir, Layout::Oci, "conc/oci:1"),
    ];
    assert_eq!(loads[0].id, loads[1].id, "bb1 and bb2 should be one image under two tags");
    // Loaded first, then removed in parallel with the loads.
    let removes: Vec<BaseImage> = vec![
        base::archive_with_layers(&dir, "conc/rm1:latest", &[layer("data/r1", 4, 201)]),
        base::archive_with_layers(&dir, "conc/rm2:latest", &[layer("data/r2", 4, 202)]),
        base::archive_with_layers(&dir, "conc/rm3:latest", &[layer("data/r3", 4, 203)]),
        base::archive_with_layers(&dir, "conc/rm4:latest", std::slice::from_ref(&shared)),
    ];
    assert_eq!(removes[3].diff_ids[1], loads[3].diff_ids[2], "rm4 should share big2's last layer");
    // Loaded first, then tagged and untagged in parallel.
    let keep = base::archive_with_layers(&dir, "conc/keep:latest", &[layer("data/k", 1, 301)]);

    let setup = Gantry::with_root(BIN, &root);
    for img in removes.iter().chain([&keep]) {
        let out = setup.ok(&["load", "-i", archive(img)]);
        assert!(out.contains(&format!("Loaded image: {}", img.tag)), "setup load printed:\n{out}");
    }

    let failures: Failures = Arc::new(Mutex::new(Vec::new()));
    let threads = loads.len() + 3;
    let barrier = Arc::new(Barrier::new(threads));
    let mut handles = Vec::new();
    let loading = Arc::new(AtomicUsize::new(loads.len()));
    for img in loads.clone() {
        let (root, failures, barrier, loading) = (root.clone(), failures.clone(), barrier.clone(), loading.clone());
        handles.push(std::thread::spawn(move || {
            let g = Gantry::with_root(BIN, &root);
            barrier.wait();
            for round in 0..LOAD_ROUNDS {
                if round > 0 {
                    must(&g, &["rmi", &img.tag], &failures);
                }
                let out = must(&g, &["load", "-i", archive(&img)], &failures);
                if !out.contains(&format!("Loaded image: {}", img.tag)) {
                    failures.lock().unwrap().push(format!("load {round} of {} printed:\n{out}", img.tag));
                }
            }
            loading.fetch_sub(1, Ordering::SeqCst);
        }));
    }
    {
        let (root, failures, barrier, removes) = (root.clone(), failures.clone(), barrier.clone(), removes.clone());
        handles.push(std::thread::spawn(move || {
            let g = Gantry::with_root(BIN, &root);
            barrier.wait();
            for img in &removes {
                must(&g, &["rmi", &img.tag], &failures);
            }
        }));
    }
    {
        let (root, failures, barrier) = (root.clone(), failures.clone(), barrier.clone());
        handles.push(std::thread::spawn(move || {
            let g = Gantry::with_root(BIN, &root);
            barrier.wait();
            for i in 0..TAG_ROUNDS {
                let t = format!("conc/keep:t{i}");
                must(&g, &["tag", "conc/keep:latest", &t], &failures);
                if i % 2 == 1 {
                    must(&g, &["rmi", &t], &failures);
                }
            }
        }));
    }
    {
        let (root, failures, barrier, loading) = (root.clone(), failures.clone(), barrier.clone(), loading.clone());
        handles.push(std::thread::spawn(move || {
            let g = Gantry::with_root(BIN, &root);
            barrier.wait();
            let mut rounds = 0;
            while rounds < PRUNE_ROUNDS || loading.load(Ordering::SeqCst) > 0 {
                must(&g, &["image", "prune", "-f"], &failures);
                must(&g, &["images", "-a"], &failures);
                rounds += 1;
            }
            eprintln!("{rounds} prune rounds ran during the loads");
        }));
    }
    for h in handles {
        h.join().expect("a test thread panicked");
    }
    let failures = failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "{} commands failed under contention:\n{}", failures.len(), failures.join("\n---\n"));

    // The final state: exactly the loaded images (with all their tags) and keep.
    let g = Gantry::with_root(BIN, &root);
    let mut want_tags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for img in loads.iter().chain([&keep]) {
        want_tags.entry(img.id.clone()).or_default().insert(img.tag.clone());
    }
    for i in (0..TAG_ROUNDS).step_by(2) {
        want_tags.get_mut(&keep.id).unwrap().insert(format!("conc/keep:t{i}"));
    }
    for img in loads.iter().chain([&keep]) {
        let json = inspect(&g, &img.tag);
        assert_eq!(json["Id"], img.id, "{} has the wrong ID", img.tag);
        assert_eq!(json["RootFS"]["Layers"], serde_json::json!(img.diff_ids), "{} has the wrong layers", img.tag);
        let tags: BTreeSet<String> =
            json["RepoTags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
        assert_eq!(&tags, &want_tags[&img.id], "{} has the wrong tags", img.tag);
    }
    for i in (1..TAG_ROUNDS).step_by(2) {
        let r = g.run(&["inspect", &format!("conc/keep:t{i}")]);
        assert!(!r.success(), "conc/keep:t{i} was removed but still resolves:\n{}", r.stdout);
    }
    for img in &removes {
        let r = g.run(&["inspect", &img.tag]);
        assert!(!r.success(), "{} was removed but still resolves:\n{}", img.tag, r.stdout);
    }
    let ids = g.ok(&["images", "-a", "-q", "--no-trunc"]);
    let ids: BTreeSet<String> = ids.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    let want_ids: BTreeSet<String> = want_tags.keys().cloned().collect();
    assert_eq!(ids, want_ids, "images -a -q --no-trunc should list exactly the loaded images and keep");

    // Blobs: every image's blobs present and verified; after a prune, nothing else.
    let want_blobs: BTreeSet<String> = loads.iter().chain([&keep]).flat_map(hexes).collect();
    let present = hostile::blob_names(g.root());
    let missing: Vec<_> = want_blobs.difference(&present).collect();
    assert!(
        missing.is_empty(),
        "blobs of present images are missing (deleted by a concurrent rmi/prune?): {missing:?}"
    );
    assert_eq!(hostile::corrupt_blobs(g.root()), vec![], "blobs whose content does not match their name");
    let out = g.ok(&["image", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "image prune -f printed:\n{out}");
    assert_eq!(hostile::blob_names(g.root()), want_blobs, "after prune, blobs/ should hold exactly the images' blobs");
    let leftovers = hostile::ingest_leftovers(g.root());
    assert!(leftovers.is_empty(), "ingest/ still holds files: {leftovers:?}");
    // Nothing reachable was lost: every image still saves.
    let out = tmp.path().join("all.tar");
    let mut args = vec!["save", "-o", out.to_str().unwrap()];
    let tags: Vec<&str> = loads.iter().chain([&keep]).map(|i| i.tag.as_str()).collect();
    args.extend(tags);
    g.ok(&args);
    assert!(Path::new(&out).metadata().unwrap().len() > 60 << 20, "save of every image is too small");
}
