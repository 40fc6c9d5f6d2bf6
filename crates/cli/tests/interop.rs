//! Interop: gantry's archives are read by docker, podman, skopeo and umoci, and theirs
//! by gantry, with the same image IDs (the config digest, as docker reports it).
//!
//! Every peer runs on a temporary store of its own (`gantry_testkit::peers`); a peer
//! that is missing fails the test. Images are made by `gantry_testkit::base`, so each
//! test knows the expected ID and DiffIDs before any tool reads the archive.
//!
//! Two facts about the peers shape the expectations here:
//! - containers/image (skopeo, podman) rewrites a Docker config as an OCI one when it
//!   writes an OCI layout from a Docker image, so the config digest, hence the image ID,
//!   of *their* OCI archives is the one their index names, not the original ID;
//! - podman records a name without a registry as `localhost/NAME`.

use std::path::{Path, PathBuf};

use gantry_testkit::base::{self, BaseImage};
use gantry_testkit::peers::{Dockerd, Podman, Skopeo, Umoci};
use gantry_testkit::Gantry;
use serde_json::Value;

fn gantry() -> Gantry {
    Gantry::new(env!("CARGO_BIN_EXE_gantry"))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("gantry-interop-").tempdir().expect("temp dir")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `gantry load -i ARCHIVE`, which must succeed and report each tag it loaded.
fn gantry_load(g: &Gantry, archive: &Path, tags: &[&str]) -> String {
    let out = g.ok(&["load", "-i", s(archive)]);
    for tag in tags {
        assert!(
            out.lines().any(|l| l == format!("Loaded image: {tag}")),
            "gantry load should print `Loaded image: {tag}`:\n{out}"
        );
    }
    out
}

fn gantry_id(g: &Gantry, reference: &str) -> String {
    g.ok(&["inspect", "--format", "{{.Id}}", reference]).trim().to_string()
}

/// The references that a `docker load` / `podman load` printed as `Loaded image: REF`
/// (or `Loaded image(s): REF,REF`).
fn loaded_refs(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("Loaded image: ").or_else(|| l.strip_prefix("Loaded image(s): ")))
        .flat_map(|r| r.split(',').map(|x| x.trim().to_string()))
        .filter(|r| !r.is_empty())
        .collect()
}

fn json(bytes: &[u8], what: &str) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{what} is not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// What an OCI image layout inside a tar archive says about its one image.
struct OciImage {
    manifest_digest: String,
    config_digest: String,
    layers: usize,
    ref_name: Option<String>,
}

/// Reads `index.json` and the one manifest it names from an archive holding an OCI
/// layout, checking that the manifest blob is where the index says, with its digest.
fn oci_image(archive: &Path) -> OciImage {
    let layout = base::archive_member(archive, "oci-layout")
        .unwrap_or_else(|| panic!("{} has no oci-layout file", archive.display()));
    assert_eq!(json(&layout, "oci-layout")["imageLayoutVersion"], "1.0.0");
    let index = json(
        &base::archive_member(archive, "index.json")
            .unwrap_or_else(|| panic!("{} has no index.json", archive.display())),
        "index.json",
    );
    let manifests = index["manifests"].as_array().expect("index.json manifests");
    assert_eq!(manifests.len(), 1, "expected one image in {}:\n{index}", archive.display());
    let desc = &manifests[0];
    let manifest_digest = desc["digest"].as_str().expect("manifest digest").to_string();
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
        let data = base::archive_member(archive, &format!("blobs/sha256/{hex}"))
            .unwrap_or_else(|| panic!("{} lacks blob {digest}", archive.display()));
        assert_eq!(base::sha256_digest(&data), digest, "blob content does not match its name");
        data
    };
    let manifest = json(&blob(&manifest_digest), "manifest");
    let config_digest = manifest["config"]["digest"].as_str().expect("config digest").to_string();
    blob(&config_digest);
    OciImage {
        manifest_digest,
        config_digest,
        layers: manifest["layers"].as_array().expect("manifest layers").len(),
        ref_name: desc["annotations"]["org.opencontainers.image.ref.name"].as_str().map(str::to_string),
    }
}

/// A gantry with `img` loaded, and the path of `gantry save` of it in `format`.
fn gantry_saved(dir: &Path, img: &BaseImage, format: Option<&str>) -> (Gantry, PathBuf) {
    let g = gantry();
    gantry_load(&g, &img.archive, &[&img.tag]);
    assert_eq!(gantry_id(&g, &img.tag), img.id);
    let out = dir.join(format!("gantry-{}.tar", format.unwrap_or("docker-archive")));
    let mut args = vec!["save", "-o", s(&out)];
    if let Some(f) = format {
        args.extend(["--format", f]);
    }
    args.push(&img.tag);
    g.ok(&args);
    (g, out)
}

// ---- docker (Debian's 20.10: classic `docker save` layout) ----

#[test]
fn docker_save_archive_loads_into_gantry_with_the_same_id() {
    let dir = tempdir();
    let img = base::archive_with_layers(dir.path(), "interop/from-docker:v1", &[("srv/data.bin".into(), 300_000, 11)]);
    let d = Dockerd::shared();
    d.docker_ok(&["load", "-i", s(&img.archive)]);
    let saved = dir.path().join("docker-saved.tar");
    d.docker_ok(&["save", "-o", s(&saved), &img.tag]);
    assert!(base::archive_member(&saved, "manifest.json").is_some(), "docker save wrote no manifest.json");

    let g = gantry();
    gantry_load(&g, &saved, &["interop/from-docker:v1"]);
    assert_eq!(gantry_id(&g, "interop/from-docker:v1"), img.id);
    let ids = g.ok(&["images", "-q", "--no-trunc"]);
    assert_eq!(ids.lines().collect::<Vec<_>>(), vec![img.id.as_str()]);
}

#[test]
fn gantry_save_loads_into_docker_with_the_same_id_and_layers() {
    let dir = tempdir();
    let img = base::archive_with_layers(
        dir.path(),
        "interop/to-docker:v1",
        &[("a/one.bin".into(), 200_000, 1), ("b/two.bin".into(), 70_000, 2)],
    );
    let (_g, saved) = gantry_saved(dir.path(), &img, None);

    let d = Dockerd::shared();
    let out = d.docker_ok(&["load", "-i", s(&saved)]);
    assert_eq!(loaded_refs(&out), vec!["interop/to-docker:v1"], "docker load output:\n{out}");
    assert_eq!(d.docker_ok(&["inspect", "--format", "{{.Id}}", &img.tag]).trim(), img.id);
    let layers = d.docker_ok(&["inspect", "--format", "{{json .RootFS.Layers}}", &img.tag]);
    assert_eq!(serde_json::from_str::<Vec<String>>(layers.trim()).unwrap(), img.diff_ids);
}

#[test]
fn gantry_multi_image_save_loads_into_docker_with_both_tags() {
    let dir = tempdir();
    let a = base::busybox_archive(&dir.path().join("a"), "interop/multi-a:latest");
    let b = base::archive_with_layers(&dir.path().join("b"), "interop/multi-b:2", &[("x.bin".into(), 50_000, 5)]);
    assert_ne!(a.id, b.id);
    let g = gantry();
    gantry_load(&g, &a.archive, &[&a.tag]);
    gantry_load(&g, &b.archive, &[&b.tag]);
    let saved = dir.path().join("both.tar");
    g.ok(&["save", "-o", s(&saved), &a.tag, &b.tag]);

    let d = Dockerd::shared();
    let out = d.docker_ok(&["load", "-i", s(&saved)]);
    let mut refs = loaded_refs(&out);
    refs.sort();
    assert_eq!(refs, vec!["interop/multi-a:latest", "interop/multi-b:2"], "docker load output:\n{out}");
    assert_eq!(d.docker_ok(&["inspect", "--format", "{{.Id}}", &a.tag]).trim(), a.id);
    assert_eq!(d.docker_ok(&["inspect", "--format", "{{.Id}}", &b.tag]).trim(), b.id);
}

// ---- podman ----

#[test]
fn podman_loads_gantry_docker_archive_with_the_same_id() {
    let dir = tempdir();
    let img = base::archive_with_layers(dir.path(), "interop/to-podman:v1", &[("opt/p.bin".into(), 100_000, 3)]);
    let (_g, saved) = gantry_saved(dir.path(), &img, None);

    let p = Podman::new();
    let out = p.ok(&["load", "-i", s(&saved)]);
    let refs = loaded_refs(&out);
    assert_eq!(refs.len(), 1, "podman load output:\n{out}");
    assert!(refs[0].ends_with("interop/to-podman:v1"), "podman named it {}", refs[0]);
    let id = p.ok(&["image", "inspect", "--format", "{{.Id}}", &refs[0]]);
    assert_eq!(id.trim(), img.id_hex());
    let layers = p.ok(&["image", "inspect", "--format", "{{json .RootFS.Layers}}", &refs[0]]);
    assert_eq!(serde_json::from_str::<Vec<String>>(layers.trim()).unwrap(), img.diff_ids);
}

#[test]
fn podman_loads_gantry_oci_archive() {
    let dir = tempdir();
    let img = base::archive_with_layers(dir.path(), "interop/to-podman-oci:v1", &[("opt/q.bin".into(), 100_000, 4)]);
    let (_g, saved) = gantry_saved(dir.path(), &img, Some("oci-archive"));
    let oci = oci_image(&saved);

    let p = Podman::new();
    let out = p.ok(&["load", "-i", s(&saved)]);
    let refs = loaded_refs(&out);
    assert_eq!(refs.len(), 1, "podman load output:\n{out}");
    assert_eq!(refs[0], "docker.io/interop/to-podman-oci:v1", "podman names the image from ref.name:\n{out}");
    let id = p.ok(&["image", "inspect", "--format", "{{.Id}}", &refs[0]]);
    assert_eq!(format!("sha256:{}", id.trim()), oci.config_digest);
    let layers = p.ok(&["image", "inspect", "--format", "{{json .RootFS.Layers}}", &refs[0]]);
    assert_eq!(serde_json::from_str::<Vec<String>>(layers.trim()).unwrap(), img.diff_ids);
}

#[test]
fn podman_docker_archive_loads_into_gantry_with_the_same_id() {
    let dir = tempdir();
    let img = base::archive_with_layers(dir.path(), "interop/from-podman:v1", &[("etc/p.conf".into(), 4_000, 6)]);
    let p = Podman::new();
    p.ok(&["load", "-i", s(&img.archive)]);
    let saved = dir.path().join("podman-docker.tar");
    p.ok(&["save", "--format", "docker-archive", "-o", s(&saved), "interop/from-podman:v1"]);
    let manifest = json(&base::archive_member(&saved, "manifest.json").expect("manifest.json"), "manifest.json");
    let tag = manifest[0]["RepoTags"][0].as_str().expect("podman wrote a RepoTag").to_string();
    assert!(tag.ends_with("interop/from-podman:v1"), "podman wrote {tag}");

    let g = gantry();
    gantry_load(&g, &saved, &[&tag]);
    assert_eq!(gantry_id(&g, &tag), img.id);
}

#[test]
fn podman_oci_archive_loads_into_gantry_with_its_config_as_id() {
    let dir = tempdir();
    let img = base::archive_with_layers(dir.path(), "interop/from-podman-oci:v1", &[("etc/q.conf".into(), 4_000, 7)]);
    let p = Podman::new();
    p.ok(&["load", "-i", s(&img.archive)]);
    let saved = dir.path().join("podman-oci.tar");
    p.ok(&["save", "--format", "oci-archive", "-o", s(&saved), "interop/from-podman-oci:v1"]);
    let oci = oci_image(&saved);
    assert_eq!(oci.layers, img.diff_ids.len());

    let g = gantry();
    let out = gantry_load(&g, &saved, &[]);
    assert!(out.starts_with("Loaded image"), "gantry load output:\n{out}");
    let ids = g.ok(&["images", "-q", "--no-trunc"]);
    assert_eq!(ids.lines().collect::<Vec<_>>(), vec![oci.config_digest.as_str()], "gantry images after load:\n{ids}");
    let diff_ids = g.ok(&["inspect", "--format", "{{json .RootFS.Layers}}", &oci.config_digest]);
    assert_eq!(serde_json::from_str::<Vec<String>>(diff_ids.trim()).unwrap(), img.diff_ids);
}

// ---- skopeo ----

#[test]
fn skopeo_inspects_gantry_docker_archive() {
    let dir = tempdir();
    let img = base::archive_with_layers(dir.path(), "interop/skopeo-docker:v1", &[("k.bin".into(), 10_000, 8)]);
    let (_g, saved) = gantry_saved(dir.path(), &img, None);
    let sk = Skopeo::new();
    let src = format!("docker-archive:{}", s(&saved));
    let info = json(sk.ok(&["inspect", &src]).as_bytes(), "skopeo inspect");
    assert!(info["Digest"].as_str().is_some_and(|d| d.starts_with("sha256:")), "{info}");
    let layers: Vec<String> = serde_json::from_value(info["Layers"].clone()).expect("Layers");
    assert_eq!(layers, img.diff_ids, "docker-archive layers are the uncompressed tars");
    let config = sk.ok(&["inspect", "--config", "--raw", &src]);
    assert_eq!(base::sha256_digest(config.as_bytes()), img.id);

    // The OCI layout that gantry's docker-archive also carries (as docker 25+ writes it).
    let oci = oci_image(&saved);
    assert_eq!(oci.config_digest, img.id);
    let src = format!("oci-archive:{}", s(&saved));
    let info = json(sk.ok(&["inspect", &src]).as_bytes(), "skopeo inspect oci-archive");
    assert_eq!(info["Digest"], oci.manifest_digest.as_str());
}

#[test]
fn skopeo_inspects_gantry_oci_archive() {
    let dir = tempdir();
    let img = base::archive_with_layers(dir.path(), "interop/skopeo-oci:v1", &[("k.bin".into(), 10_000, 9)]);
    let (_g, saved) = gantry_saved(dir.path(), &img, Some("oci-archive"));
    assert!(base::archive_member(&saved, "manifest.json").is_none(), "--format oci-archive is a pure OCI archive");
    let oci = oci_image(&saved);
    assert_eq!(oci.config_digest, img.id, "an OCI archive keeps the config bytes, hence the image ID");
    let sk = Skopeo::new();
    let src = format!("oci-archive:{}", s(&saved));
    let info = json(sk.ok(&["inspect", &src]).as_bytes(), "skopeo inspect");
    assert_eq!(info["Digest"], oci.manifest_digest.as_str());
    assert_eq!(info["Layers"].as_array().map(Vec::len), Some(img.diff_ids.len()), "{info}");
    let config = sk.ok(&["inspect", "--config", "--raw", &src]);
    assert_eq!(base::sha256_digest(config.as_bytes()), img.id);
    // The image is addressable by the name in its index, as `skopeo copy` and umoci need.
    let name = oci.ref_name.as_deref().expect("index.json names the image (org.opencontainers.image.ref.name)");
    let info = json(sk.ok(&["inspect", &format!("{src}:{name}")]).as_bytes(), "skopeo inspect by name");
    assert_eq!(info["Digest"], oci.manifest_digest.as_str());
    // skopeo can also copy it out (it reads and verifies every blob).
    let copy = dir.path().join("copy");
    sk.ok(&["copy", &src, &format!("dir:{}", s(&copy))]);
}

#[test]
fn skopeo_oci_archive_loads_into_gantry() {
    let dir = tempdir();
    let img = base::archive_with_layers(dir.path(), "interop/from-skopeo:v1", &[("s.bin".into(), 120_000, 10)]);
    let sk = Skopeo::new();
    let out = dir.path().join("skopeo-oci.tar");
    sk.ok(&[
        "copy",
        &format!("docker-archive:{}", s(&img.archive)),
        &format!("oci-archive:{}:interop/from-skopeo:v1", s(&out)),
    ]);
    let oci = oci_image(&out);
    assert_eq!(oci.layers, img.diff_ids.len());

    let g = gantry();
    let loaded = gantry_load(&g, &out, &[]);
    assert!(loaded.starts_with("Loaded image"), "gantry load output:\n{loaded}");
    let ids = g.ok(&["images", "-q", "--no-trunc"]);
    assert_eq!(ids.lines().collect::<Vec<_>>(), vec![oci.config_digest.as_str()], "gantry images after load:\n{ids}");
    // skopeo gzips layers for an OCI destination: the DiffIDs are still the tars'.
    let diff_ids = g.ok(&["inspect", "--format", "{{json .RootFS.Layers}}", &oci.config_digest]);
    assert_eq!(serde_json::from_str::<Vec<String>>(diff_ids.trim()).unwrap(), img.diff_ids);
}

// ---- umoci ----

/// `umoci unpack` of the one image of the OCI layout in `layout_dir`, checked for the
/// busybox rootfs.
fn umoci_unpacks(layout_dir: &Path, bundle: &Path) {
    let u = Umoci::new();
    let tags = u.ok(&["ls", "--layout", s(layout_dir)]);
    let tags: Vec<&str> = tags.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        tags.len(),
        1,
        "the OCI index should name its image (org.opencontainers.image.ref.name) so that umoci and skopeo can address it: {tags:?}"
    );
    let image = format!("{}:{}", s(layout_dir), tags[0]);
    u.ok(&["stat", "--image", &image]);
    u.ok(&["unpack", "--image", &image, s(bundle)]);
    let rootfs = bundle.join("rootfs");
    let busybox = std::fs::read(rootfs.join("bin/busybox")).expect("unpacked rootfs has /bin/busybox");
    assert_eq!(busybox, std::fs::read(base::busybox_binary()).unwrap(), "/bin/busybox differs");
    assert_eq!(std::fs::read_link(rootfs.join("bin/sh")).expect("/bin/sh symlink"), Path::new("busybox"));
    let config = json(&std::fs::read(bundle.join("config.json")).expect("bundle config.json"), "config.json");
    assert_eq!(config["process"]["args"], serde_json::json!(["/bin/sh"]));
}

#[test]
fn umoci_unpacks_gantry_oci_archive() {
    let dir = tempdir();
    let img = base::archive_with_layers(dir.path(), "interop/umoci:v1", &[("u/data.bin".into(), 30_000, 12)]);
    let (_g, saved) = gantry_saved(dir.path(), &img, Some("oci-archive"));
    let layout = dir.path().join("layout");
    base::unpack_archive(&saved, &layout);
    umoci_unpacks(&layout, &dir.path().join("bundle"));
    let data = std::fs::read(dir.path().join("bundle/rootfs/u/data.bin")).expect("extra layer file");
    assert_eq!(data.len(), 30_000);
}

#[test]
fn umoci_unpacks_the_oci_layout_inside_gantry_docker_archive() {
    let dir = tempdir();
    let img = base::busybox_archive(dir.path(), "interop/umoci-docker:v1");
    let (_g, saved) = gantry_saved(dir.path(), &img, None);
    let layout = dir.path().join("layout");
    base::unpack_archive(&saved, &layout);
    umoci_unpacks(&layout, &dir.path().join("bundle"));
}
