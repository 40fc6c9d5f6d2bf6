//! `build --cache-to/--cache-from type=registry`: a cache exported by one store is
//! imported by another (a fresh machine of a CI fleet), which then takes every step
//! from it and builds the same image ID; `mode=min` keeps a builder stage's records
//! home, `mode=max` sends them; a cache that does not exist, that is not a gantry cache
//! or that lies about its blobs is a warning and records nothing.
//!
//! Runs against the real distribution registry (`docker-registry`) on 127.0.0.1.

use gantry_testkit::build::BuildEnv;
use gantry_testkit::curl::{curl, Resp};
use gantry_testkit::registry::Registry;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const CACHE_CONFIG: &str = "application/vnd.gantry.buildcache.config.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

const DOCKERFILE: &str = "FROM busybox\n\
    RUN echo built > /built\n\
    COPY data.txt /data.txt\n\
    ENV X=1\n\
    RUN cat /data.txt /built > /copy\n";

/// A store with busybox and the test's build context.
fn env(dockerfile: &str) -> BuildEnv {
    let s = BuildEnv::new(BIN);
    s.file("Dockerfile", dockerfile);
    s.file("data.txt", "some data\n");
    s
}

fn sha256(data: &[u8]) -> String {
    gantry_testkit::base::sha256_digest(data)
}

/// Uploads a blob (POST, then PUT with `?digest=`); returns its digest.
fn push_blob(r: &Registry, repo: &str, blob: &[u8]) -> String {
    let digest = sha256(blob);
    let start = curl(&["-X", "POST", &format!("{}/v2/{repo}/blobs/uploads/", r.url())]).expect(202, "start upload");
    let location = start.header("location").expect("upload Location").to_string();
    let location = if location.starts_with('/') { format!("{}{location}", r.url()) } else { location };
    let sep = if location.contains('?') { '&' } else { '?' };
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("blob");
    std::fs::write(&file, blob).unwrap();
    let upload = format!("@{}", file.display());
    let put = format!("{location}{sep}digest={digest}");
    curl(&["-X", "PUT", "-H", "Content-Type: application/octet-stream", "--data-binary", &upload, &put])
        .expect(201, "complete upload");
    digest
}

fn get_manifest(r: &Registry, repo: &str, tag: &str) -> Resp {
    curl(&["-H", &format!("Accept: {OCI_MANIFEST}"), &format!("{}/v2/{repo}/manifests/{tag}", r.url())])
}

fn put_manifest(r: &Registry, repo: &str, tag: &str, manifest: &Value) {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("manifest");
    std::fs::write(&file, serde_json::to_vec(manifest).unwrap()).unwrap();
    let upload = format!("@{}", file.display());
    curl(&[
        "-X",
        "PUT",
        "-H",
        &format!("Content-Type: {OCI_MANIFEST}"),
        "--data-binary",
        &upload,
        &format!("{}/v2/{repo}/manifests/{tag}", r.url()),
    ])
    .expect(201, "put manifest");
}

fn get_blob(r: &Registry, repo: &str, digest: &str) -> Vec<u8> {
    curl(&["-L", &format!("{}/v2/{repo}/blobs/{digest}", r.url())]).expect(200, "get blob").body
}

/// The exported cache at `repo:tag`: its manifest and its cache config.
fn cache_at(r: &Registry, repo: &str, tag: &str) -> (Value, Value) {
    let manifest = get_manifest(r, repo, tag).expect(200, "cache manifest").json();
    let config_digest = manifest["config"]["digest"].as_str().expect("config digest").to_string();
    let config = serde_json::from_slice(&get_blob(r, repo, &config_digest)).expect("cache config is JSON");
    (manifest, config)
}

fn manifest_digest(r: &Registry, repo: &str, tag: &str) -> String {
    get_manifest(r, repo, tag).expect(200, "manifest").header("docker-content-digest").expect("digest").to_string()
}

fn cached(out: &str) -> usize {
    out.matches(" CACHED").count()
}

fn id(s: &BuildEnv, name: &str) -> String {
    s.inspect(name)["Id"].as_str().expect("Id").to_string()
}

#[test]
fn a_cache_exported_by_one_store_builds_the_same_image_on_another() {
    let reg = Registry::start(Default::default());
    let cache_ref = format!("{}/cache/app:ci", reg.host());
    let to = format!("type=registry,ref={cache_ref}");

    let a = env(DOCKERFILE);
    let out = a.build_ok(&["-t", "app:1", "--progress", "plain", "--cache-to", &to]);
    assert_eq!(cached(&out), 0, "{out}");
    assert!(out.contains("exporting cache to registry"), "{out}");

    // The cache is one OCI manifest whose config is gantry's cache config and whose
    // layers reference every blob (so the registry keeps them).
    let (manifest, config) = cache_at(&reg, "cache/app", "ci");
    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], CACHE_CONFIG);
    let referenced: Vec<&str> =
        manifest["layers"].as_array().unwrap().iter().map(|d| d["digest"].as_str().unwrap()).collect();
    let records = config["records"].as_array().expect("records");
    assert_eq!(records.len(), 4, "one record per step after FROM: {config:#}");
    for rec in records {
        assert!(referenced.contains(&rec["config"]["digest"].as_str().unwrap()), "{rec}");
        for diff_id in rec["layers"].as_array().unwrap() {
            let blob = &config["layers"][diff_id.as_str().unwrap()];
            assert!(referenced.contains(&blob["digest"].as_str().unwrap()), "{diff_id} -> {blob}");
        }
    }
    let first_export = manifest_digest(&reg, "cache/app", "ci");

    // Another machine: same base, same context, nothing built yet.
    let b = env(DOCKERFILE);
    assert_eq!(id(&a, "busybox"), id(&b, "busybox"));
    let from = format!("type=registry,ref={cache_ref}");
    let out = b.build_ok(&["-t", "app:1", "--progress", "plain", "--cache-from", &from, "--cache-to", &to]);
    assert!(out.contains(&format!("importing cache manifest from {cache_ref}")), "{out}");
    assert_eq!(cached(&out), 4, "every step comes from the imported cache:\n{out}");
    assert_eq!(id(&a, "app:1"), id(&b, "app:1"));
    assert_eq!(b.files("app:1")["copy"].3, "some data\nbuilt\n");
    // Re-exporting the same records writes the same manifest: nothing changed.
    assert_eq!(manifest_digest(&reg, "cache/app", "ci"), first_export);

    // Importing again skips what the store has; docker's legacy form (a bare ref).
    let out = b.build_ok(&["-t", "app:2", "--progress", "plain", "--cache-from", &cache_ref]);
    assert!(out.contains("0 records imported, 4 already present"), "{out}");
    assert_eq!(cached(&out), 4, "{out}");

    // A changed source: the steps before it still hit, the rest are built.
    let c = env(DOCKERFILE);
    c.file("data.txt", "other data\n");
    let out = c.build_ok(&["-t", "app:3", "--progress", "plain", "--cache-from", &from]);
    assert_eq!(cached(&out), 1, "only the RUN before the COPY hits:\n{out}");
    assert_eq!(c.files("app:3")["copy"].3, "other data\nbuilt\n");
}

#[test]
fn min_keeps_builder_stages_home_and_max_sends_them() {
    let reg = Registry::start(Default::default());
    let dockerfile = "FROM busybox AS builder\n\
        RUN echo compiled > /artifact\n\
        FROM busybox\n\
        COPY --from=builder /artifact /artifact\n\
        RUN cat /artifact > /again\n";
    let min_ref = format!("{}/cache/multi:min", reg.host());
    let max_ref = format!("{}/cache/multi:max", reg.host());
    let a = env(dockerfile);
    a.build_ok(&[
        "-t",
        "multi:1",
        "--cache-to",
        &format!("type=registry,ref={min_ref}"),
        "--cache-to",
        &format!("type=registry,ref={max_ref},mode=max"),
    ]);
    let (_, min) = cache_at(&reg, "cache/multi", "min");
    let (_, max) = cache_at(&reg, "cache/multi", "max");
    assert_eq!(min["records"].as_array().unwrap().len(), 2, "{min:#}");
    assert_eq!(max["records"].as_array().unwrap().len(), 3, "{max:#}");

    let b = env(dockerfile);
    let out = b.build_ok(&["-t", "multi:1", "--progress", "plain", "--cache-from", &min_ref]);
    assert_eq!(cached(&out), 2, "the builder's RUN runs again, the final stage hits:\n{out}");
    assert_eq!(id(&a, "multi:1"), id(&b, "multi:1"));

    let c = env(dockerfile);
    let out = c.build_ok(&["-t", "multi:1", "--progress", "plain", "--cache-from", &max_ref]);
    assert_eq!(cached(&out), 3, "{out}");
    assert_eq!(id(&a, "multi:1"), id(&c, "multi:1"));
}

#[test]
fn a_missing_or_foreign_cache_is_a_warning() {
    let reg = Registry::start(Default::default());
    let s = env(DOCKERFILE);
    // A repository that does not exist, then a tag that does not.
    let r = s.build(&["-t", "x:1", "--progress", "plain", "--cache-from", &format!("{}/nothing/here", reg.host())]);
    assert!(r.success(), "{}", r.stderr);
    assert!(r.stderr.contains("WARNING: importing cache manifest from"), "{}", r.stderr);
    s.g.ok(&["tag", "busybox", &format!("{}/plain/image:1", reg.host())]);
    s.g.ok(&["push", &format!("{}/plain/image:1", reg.host())]);
    let r = s.build(&["-t", "x:2", "--progress", "plain", "--cache-from", &format!("{}/plain/image:2", reg.host())]);
    assert!(r.success(), "{}", r.stderr);
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
    // An image is not a cache.
    let r = s.build(&["-t", "x:3", "--progress", "plain", "--cache-from", &format!("{}/plain/image:1", reg.host())]);
    assert!(r.success(), "{}", r.stderr);
    assert!(r.stderr.contains("is not a gantry build cache"), "{}", r.stderr);
    // Flags are checked before anything runs.
    let r = s.build(&["-t", "x:4", "--cache-to", "type=local,dest=/tmp/x"]);
    assert!(!r.success());
    assert!(r.stderr.contains("not supported"), "{}", r.stderr);
}

#[test]
fn a_lying_cache_records_nothing() {
    let reg = Registry::start(Default::default());
    let cache_ref = format!("{}/cache/app:good", reg.host());
    let a = env(DOCKERFILE);
    a.build_ok(&["-t", "app:1", "--cache-to", &format!("type=registry,ref={cache_ref}")]);
    let (manifest, config) = cache_at(&reg, "cache/app", "good");

    // Writes `config` as the cache config of tag `tag` (the same blobs referenced).
    let publish = |tag: &str, config: &[u8]| {
        let digest = push_blob(&reg, "cache/app", config);
        let mut m = manifest.clone();
        m["config"] = serde_json::json!({"mediaType": CACHE_CONFIG, "digest": digest, "size": config.len()});
        put_manifest(&reg, "cache/app", tag, &m);
    };
    // Every layer's blob swapped with another's: the download fails its DiffID check.
    let mut swapped = config.clone();
    let layers = swapped["layers"].as_object_mut().unwrap();
    let keys: Vec<String> = layers.keys().cloned().collect();
    assert!(keys.len() >= 3, "base and two RUN layers: {keys:?}");
    let first = layers[&keys[0]].clone();
    for i in 0..keys.len() {
        let next = if i + 1 < keys.len() { layers[&keys[i + 1]].clone() } else { first.clone() };
        layers.insert(keys[i].clone(), next);
    }
    publish("swapped", &serde_json::to_vec(&swapped).unwrap());
    // A record given another record's config: its layers do not match.
    let mut crossed = config.clone();
    let recs = crossed["records"].as_array_mut().unwrap();
    let (fewest, most) = (
        recs.iter().map(|r| r["layers"].as_array().unwrap().len()).min().unwrap(),
        recs.iter().map(|r| r["layers"].as_array().unwrap().len()).max().unwrap(),
    );
    assert!(fewest < most, "{recs:?}");
    let big = recs.iter().find(|r| r["layers"].as_array().unwrap().len() == most).unwrap()["config"].clone();
    for r in recs.iter_mut() {
        r["config"] = big.clone();
    }
    publish("crossed", &serde_json::to_vec(&crossed).unwrap());
    // Not JSON at all, and JSON of the wrong shape.
    publish("garbage", b"\x00\x01 not json");
    publish("shape", br#"{"schemaVersion":1,"records":[{"key":"sha256:00","config":{},"layers":[]}],"layers":{}}"#);
    // A manifest whose config blob is missing from the registry.
    let mut missing = manifest.clone();
    missing["config"]["digest"] = Value::String(format!("sha256:{}", "0".repeat(64)));
    let r = curl(&[
        "-X",
        "PUT",
        "-H",
        &format!("Content-Type: {OCI_MANIFEST}"),
        "--data-binary",
        &serde_json::to_string(&missing).unwrap(),
        &format!("{}/v2/cache/app/manifests/missing", reg.url()),
    ]);
    assert_ne!(r.status, 201, "distribution checks that referenced blobs exist");

    for (tag, needle) in [
        ("swapped", "digest mismatch"),
        ("crossed", "does not have its record's layers"),
        ("garbage", "invalid build cache"),
        ("shape", "invalid build cache"),
    ] {
        // A fresh store each time: a store that has the records never looks further.
        let b = env(DOCKERFILE);
        let from = format!("{}/cache/app:{tag}", reg.host());
        let out = b.build_ok(&["-t", "lie:1", "--progress", "plain", "--cache-from", &from]);
        assert!(out.contains("WARNING: importing cache manifest from"), "{tag}: {out}");
        assert!(out.contains(needle), "{tag}: {out}");
        let warnings: Vec<&str> = out.lines().filter(|l| l.starts_with("WARNING")).collect();
        assert_eq!(warnings.len(), 1, "one line per failed import: {out}");
        // Nothing was recorded: the build after the lie runs every step.
        assert_eq!(cached(&out), 0, "{tag}: {out}");
    }
}
