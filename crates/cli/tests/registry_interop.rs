//! Registry interop: images that gantry pushes to a real registry (the CNCF distribution
//! registry, `gantry_testkit::registry`) are pulled intact by gantry, skopeo, podman
//! and docker, images that skopeo and podman push are pulled intact by gantry, and a
//! multi-platform index pushed by skopeo or podman resolves to the platform asked for.
//!
//! "Intact" is checked on content, not exit codes: the image ID (config digest), the
//! manifest digest the registry serves, the DiffIDs, and files read back from inside
//! the image (through `gantry run`, `gantry save`, `podman image mount`, `skopeo copy
//! ... dir:`, `docker run`).
//!
//! Every test starts a registry of its own (plain HTTP on 127.0.0.1, which gantry and
//! docker treat as insecure by default; skopeo and podman are told `--tls-verify=false`)
//! and uses peers on temporary stores; a missing peer fails the test.
//!
//! Facts about the peers these tests rely on:
//! - containers/image (skopeo, podman) rewrites a Docker config as an OCI one when it
//!   converts an image to OCI (`--format oci`), so the image ID of such an image is the
//!   config digest the pushed manifest names, not the original one;
//! - containers/image reuses a blob it knows a registry already has (in whatever
//!   compression) rather than push the one asked for, so each push whose compression
//!   matters goes to a registry of its own;
//! - `skopeo copy --all oci:DIR:NAME` needs NAME to name an image index in the layout's
//!   `index.json` (a layout listing several images without a name is ambiguous to it).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use gantry_testkit::base::{self, BaseImage};
use gantry_testkit::peers::{Dockerd, Podman, Skopeo};
use gantry_testkit::registry::{Registry, RegistryOptions};
use gantry_testkit::{assert_one_error_line, Gantry};
use serde_json::{json, Value};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

fn gantry() -> Gantry {
    Gantry::new(env!("CARGO_BIN_EXE_gantry"))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("gantry-reginterop-").tempdir().expect("temp dir")
}

fn registry() -> Registry {
    Registry::start(RegistryOptions::default())
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn json(bytes: &[u8], what: &str) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{what} is not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn strings(v: &Value, what: &str) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{what} is not a list of strings ({e}): {v}"))
}

// ---- gantry ----

/// `gantry load -i ARCHIVE`, which must report `tag`.
fn gantry_load(g: &Gantry, archive: &Path, tag: &str) {
    let out = g.ok(&["load", "-i", s(archive)]);
    assert!(out.lines().any(|l| l == format!("Loaded image: {tag}")), "gantry load should load {tag}:\n{out}");
}

/// `gantry inspect REF` as JSON (the one object of docker's array).
fn gantry_inspect(g: &Gantry, reference: &str) -> Value {
    let out = g.ok(&["inspect", reference]);
    let v = json(out.as_bytes(), "gantry inspect");
    let arr = v.as_array().unwrap_or_else(|| panic!("gantry inspect should print an array:\n{out}"));
    assert_eq!(arr.len(), 1, "gantry inspect {reference}:\n{out}");
    arr[0].clone()
}

/// `gantry push REF`: returns the manifest digest and size of its `TAG: digest: D size: N` line.
fn gantry_push(g: &Gantry, reference: &str) -> (String, u64) {
    let out = g.ok(&["push", reference]);
    let tag = reference.rsplit_once(':').map(|(_, t)| t).filter(|t| !t.contains('/')).unwrap_or("latest");
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{tag}: digest: ")))
        .unwrap_or_else(|| panic!("gantry push {reference} printed no `{tag}: digest:` line:\n{out}"));
    let rest = line.strip_prefix(&format!("{tag}: digest: ")).unwrap();
    let (digest, size) = rest.split_once(" size: ").unwrap_or_else(|| panic!("malformed push line: {line}"));
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "not a digest in: {line}");
    (digest.to_string(), size.trim().parse().unwrap_or_else(|_| panic!("size in: {line}")))
}

/// `gantry pull ARGS... REF` (one tag or digest): returns the digest of its `Digest:`
/// line, having checked docker's status and last lines.
fn gantry_pull(g: &Gantry, extra: &[&str], reference: &str) -> String {
    let mut args = vec!["pull"];
    args.extend_from_slice(extra);
    args.push(reference);
    let out = g.ok(&args);
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap_or_else(|| panic!("gantry pull {reference} printed no Digest line:\n{out}"))
        .to_string();
    assert!(
        out.lines().any(|l| l.starts_with("Status: Downloaded newer image for ")),
        "gantry pull {reference} should download:\n{out}"
    );
    assert_eq!(out.lines().last(), Some(reference), "docker's last line is the reference:\n{out}");
    digest
}

/// The config and the uncompressed layer tars (base first) of `gantry save REF`.
fn gantry_saved(g: &Gantry, reference: &str, dir: &Path) -> (Value, Vec<Vec<u8>>) {
    let out = dir.join(format!("saved-{}.tar", rand::random::<u64>()));
    g.ok(&["save", "-o", s(&out), reference]);
    let member = |name: &str| {
        base::archive_member(&out, name).unwrap_or_else(|| panic!("gantry save of {reference} lacks {name}"))
    };
    let manifest = json(&member("manifest.json"), "manifest.json");
    let config = json(&member(manifest[0]["Config"].as_str().expect("Config")), "config");
    let layers = strings(&manifest[0]["Layers"], "Layers").iter().map(|l| decompress(member(l))).collect();
    std::fs::remove_file(&out).ok();
    (config, layers)
}

/// `gantry run --rm REF sha256sum FILE`, as `sha256:<hex>`.
fn gantry_file_digest(g: &Gantry, reference: &str, file: &str) -> String {
    let out = g.ok(&["run", "--rm", reference, "sha256sum", file]);
    let hex = out.split_whitespace().next().unwrap_or_else(|| panic!("sha256sum printed nothing: {out:?}"));
    format!("sha256:{hex}")
}

// ---- layers and files ----

/// A layer blob's tar: gzip is undone; zstd cannot be read here (no decoder among the
/// test's dependencies), so tests read zstd images back through gantry instead.
fn decompress(data: Vec<u8>) -> Vec<u8> {
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&data[..]).read_to_end(&mut out).expect("gunzip layer");
        out
    } else {
        assert!(!data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]), "a zstd layer cannot be read by this test");
        data
    }
}

/// The content of the regular file `path` in the image made of `layers` (uncompressed
/// tars, base first): the topmost layer holding it wins.
fn file_in_layers(layers: &[Vec<u8>], path: &str) -> Option<Vec<u8>> {
    let want = path.trim_start_matches('/');
    for layer in layers.iter().rev() {
        let mut ar = tar::Archive::new(&layer[..]);
        for entry in ar.entries().expect("read layer tar") {
            let mut entry = entry.expect("layer entry");
            let name = entry.path().expect("entry path").to_string_lossy().into_owned();
            if name.trim_start_matches("./").trim_end_matches('/') == want {
                assert!(entry.header().entry_type().is_file(), "{path} is not a regular file in the layer");
                let mut data = Vec::new();
                entry.read_to_end(&mut data).expect("read layer file");
                return Some(data);
            }
        }
    }
    None
}

/// The uncompressed layers of a docker-archive (the classic `docker save` layout).
fn archive_layers(archive: &Path) -> Vec<Vec<u8>> {
    let manifest = json(&base::archive_member(archive, "manifest.json").expect("manifest.json"), "manifest.json");
    strings(&manifest[0]["Layers"], "Layers")
        .iter()
        .map(|l| decompress(base::archive_member(archive, l).unwrap_or_else(|| panic!("archive lacks {l}"))))
        .collect()
}

// ---- the registry, seen from outside gantry ----

/// The manifest that the registry's storage holds for `repo:tag`: its digest and bytes,
/// read from disk so that no client's interpretation is involved.
fn stored_manifest(reg: &Registry, repo: &str, tag: &str) -> (String, Vec<u8>) {
    let v2 = reg.storage().join("docker/registry/v2");
    let link = v2.join(format!("repositories/{repo}/_manifests/tags/{tag}/current/link"));
    let digest = std::fs::read_to_string(&link).unwrap_or_else(|e| panic!("{repo}:{tag} is not in the registry: {e}"));
    let hex = digest.strip_prefix("sha256:").expect("sha256 link").to_string();
    let data = std::fs::read(v2.join(format!("blobs/sha256/{}/{hex}/data", &hex[..2]))).expect("manifest blob");
    assert_eq!(base::sha256_digest(&data), digest, "the registry's blob does not match its name");
    (digest, data)
}

/// `skopeo inspect --raw` of a registry image: the manifest bytes and their digest.
fn skopeo_raw(sk: &Skopeo, image: &str) -> (String, Value) {
    let raw = sk.ok(&["inspect", "--tls-verify=false", "--raw", &format!("docker://{image}")]);
    (base::sha256_digest(raw.as_bytes()), json(raw.as_bytes(), "manifest"))
}

/// The image ID (config digest) that a single-image manifest names.
fn config_digest(manifest: &Value) -> String {
    manifest["config"]["digest"].as_str().unwrap_or_else(|| panic!("no config digest in {manifest}")).to_string()
}

/// `skopeo copy docker://IMAGE dir:DIR`: the manifest, config and uncompressed layers,
/// exactly as the registry serves them (a `dir:` copy keeps manifest and config bytes).
fn skopeo_fetch(sk: &Skopeo, image: &str, dir: &Path) -> (Value, Vec<u8>, Vec<Vec<u8>>) {
    sk.ok(&["copy", "--src-tls-verify=false", &format!("docker://{image}"), &format!("dir:{}", s(dir))]);
    let manifest = json(&std::fs::read(dir.join("manifest.json")).expect("dir: manifest.json"), "manifest");
    let blob = |digest: &str| {
        let data = std::fs::read(dir.join(digest.strip_prefix("sha256:").expect("sha256"))).expect("dir: blob");
        assert_eq!(base::sha256_digest(&data), digest, "skopeo fetched a blob that does not match its digest");
        data
    };
    let config = blob(&config_digest(&manifest));
    let layers = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| decompress(blob(l["digest"].as_str().expect("layer digest"))))
        .collect();
    (manifest, config, layers)
}

// ---- 1. gantry to gantry ----

#[test]
fn gantry_push_then_pull_into_a_fresh_store_gives_the_same_image_and_digest() {
    let dir = tempdir();
    let reg = registry();
    let host = reg.host();
    let img = base::archive_with_layers(dir.path(), "regint/roundtrip:v1", &[("data/blob.bin".into(), 300_000, 21)]);
    let remote = format!("{host}/regint/roundtrip:v1");
    let by_repo = format!("{host}/regint/roundtrip");

    let g1 = gantry();
    gantry_load(&g1, &img.archive, &img.tag);
    g1.ok(&["tag", &img.tag, &remote]);
    let (digest, size) = gantry_push(&g1, &remote);
    let (stored_digest, stored) = stored_manifest(&reg, "regint/roundtrip", "v1");
    assert_eq!(digest, stored_digest, "push reported another digest than the registry stored");
    assert_eq!(size, stored.len() as u64, "push reported another size than the manifest's");
    let manifest = json(&stored, "pushed manifest");
    assert_eq!(config_digest(&manifest), img.id, "the pushed manifest names the image's config");
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(img.diff_ids.len()), "{manifest}");
    // Like docker, the pushing store records the pushed digest.
    let pushed = gantry_inspect(&g1, &remote);
    assert_eq!(strings(&pushed["RepoDigests"], "RepoDigests"), vec![format!("{by_repo}@{digest}")]);

    // A fresh store pulls the same image under the same digest.
    let g2 = gantry();
    let pulled_digest = gantry_pull(&g2, &[], &remote);
    assert_eq!(pulled_digest, digest);
    let info = gantry_inspect(&g2, &remote);
    assert_eq!(info["Id"], img.id.as_str());
    assert_eq!(strings(&info["RepoTags"], "RepoTags"), vec![remote.clone()]);
    assert_eq!(strings(&info["RepoDigests"], "RepoDigests"), vec![format!("{by_repo}@{digest}")]);
    assert_eq!(strings(&info["RootFS"]["Layers"], "RootFS.Layers"), img.diff_ids);
    let rows =
        g2.ok(&["images", "--digests", "--no-trunc", "--format", "{{.Repository}} {{.Tag}} {{.Digest}} {{.ID}}"]);
    assert_eq!(rows.lines().collect::<Vec<_>>(), vec![format!("{by_repo} v1 {digest} {}", img.id)], "{rows}");

    // What was pulled is what was pushed: the layer tars byte for byte, and a file.
    let (config, layers) = gantry_saved(&g2, &remote, dir.path());
    let diff_ids: Vec<String> = layers.iter().map(|l| base::sha256_digest(l)).collect();
    assert_eq!(diff_ids, img.diff_ids, "gantry save of the pulled image has other layers");
    assert_eq!(strings(&config["rootfs"]["diff_ids"], "diff_ids"), img.diff_ids);
    let original = file_in_layers(&archive_layers(&img.archive), "data/blob.bin").expect("original file");
    assert_eq!(gantry_file_digest(&g2, &remote, "/data/blob.bin"), base::sha256_digest(&original));

    // Pulling again changes nothing; by digest, into another store, gives the image untagged.
    let again = g2.ok(&["pull", &remote]);
    assert!(again.contains(&format!("Status: Image is up to date for {remote}")), "{again}");
    let g3 = gantry();
    let by_digest = format!("{by_repo}@{digest}");
    let out = g3.ok(&["pull", &by_digest]);
    assert!(out.lines().any(|l| l == format!("Digest: {digest}")), "{out}");
    let info = gantry_inspect(&g3, &by_digest);
    assert_eq!(info["Id"], img.id.as_str());
    assert_eq!(strings(&info["RepoTags"], "RepoTags"), Vec::<String>::new());
    assert_eq!(strings(&info["RepoDigests"], "RepoDigests"), vec![by_digest.clone()]);

    // The pulled image pushed to another repository keeps its manifest digest, as with
    // docker (which mounts the blobs it pulled from the same registry).
    let copy = format!("{host}/regint/roundtrip-copy:v2");
    g2.ok(&["tag", &remote, &copy]);
    let (copy_digest, _) = gantry_push(&g2, &copy);
    assert_eq!(copy_digest, digest, "re-pushing a pulled image should give the same manifest");
    assert_eq!(stored_manifest(&reg, "regint/roundtrip-copy", "v2").0, digest);
}

// ---- 2. docker-saved image, pushed by gantry, pulled by skopeo, podman and docker ----

#[test]
fn docker_built_image_pushed_by_gantry_is_pulled_intact_by_skopeo_podman_and_docker() {
    let dir = tempdir();
    let reg = registry();
    let host = reg.host();
    let base_img = base::busybox_archive(&dir.path().join("base"), "regint/docker-base:v1");
    let d = Dockerd::shared();
    d.docker_ok(&["load", "-i", s(&base_img.archive)]);

    // A real docker image: built by docker's (legacy) builder with a RUN step.
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM regint/docker-base:v1\n\
         RUN mkdir -p /data && echo built-by-docker > /data/built.txt && chmod 600 /data/built.txt\n\
         ENV GREETING=hello\n\
         CMD [\"cat\", \"/data/built.txt\"]\n",
    )
    .unwrap();
    let tag = "regint/docker-built:v1";
    let out = d
        .docker_cmd(&["build", "--network", "host", "-t", tag, s(&ctx)])
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("start docker build");
    assert!(
        out.status.success(),
        "docker build failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let id = d.docker_ok(&["inspect", "--format", "{{.Id}}", tag]).trim().to_string();
    let diff_ids: Vec<String> =
        serde_json::from_str(d.docker_ok(&["inspect", "--format", "{{json .RootFS.Layers}}", tag]).trim()).unwrap();
    assert_eq!(diff_ids.len(), 2, "busybox plus the RUN layer");
    let saved = dir.path().join("docker-saved.tar");
    d.docker_ok(&["save", "-o", s(&saved), tag]);
    // Gone from docker, so that its pull below downloads every layer.
    d.docker_ok(&["rmi", tag, &base_img.tag]);

    let g = gantry();
    gantry_load(&g, &saved, tag);
    let remote = format!("{host}/regint/docker-built:v1");
    g.ok(&["tag", tag, &remote]);
    let (digest, _) = gantry_push(&g, &remote);
    assert_eq!(stored_manifest(&reg, "regint/docker-built", "v1").0, digest);

    // skopeo: the manifest and config gantry pushed, and the file in the top layer.
    let sk = Skopeo::new();
    let (raw_digest, manifest) = skopeo_raw(&sk, &remote);
    assert_eq!(raw_digest, digest);
    assert_eq!(manifest["mediaType"], DOCKER_MANIFEST, "gantry pushes docker's manifest type");
    let (_, config, layers) = skopeo_fetch(&sk, &remote, &dir.path().join("skopeo-dir"));
    assert_eq!(base::sha256_digest(&config), id, "the config skopeo pulled is not docker's");
    let layer_ids: Vec<String> = layers.iter().map(|l| base::sha256_digest(l)).collect();
    assert_eq!(layer_ids, diff_ids, "the layers skopeo pulled are not docker's");
    assert_eq!(file_in_layers(&layers, "data/built.txt").as_deref(), Some(&b"built-by-docker\n"[..]));
    let config = json(&config, "config");
    assert!(strings(&config["config"]["Env"], "Env").contains(&"GREETING=hello".to_string()), "{config}");

    // podman: same ID, digest and DiffIDs; the file read from the mounted image.
    let p = Podman::new();
    p.ok(&["pull", "--tls-verify=false", &remote]);
    let info = json(p.ok(&["image", "inspect", &remote]).as_bytes(), "podman image inspect");
    let info = &info[0];
    assert_eq!(format!("sha256:{}", info["Id"].as_str().expect("Id")), id);
    assert_eq!(info["Digest"], digest.as_str());
    assert_eq!(strings(&info["RootFS"]["Layers"], "RootFS.Layers"), diff_ids);
    let mount = p.ok(&["image", "mount", &remote]);
    let rootfs = PathBuf::from(mount.trim());
    let built = std::fs::read(rootfs.join("data/built.txt"));
    let busybox = std::fs::read(rootfs.join("bin/busybox"));
    p.ok(&["image", "unmount", &remote]);
    assert_eq!(built.expect("podman's image has /data/built.txt"), b"built-by-docker\n");
    assert_eq!(busybox.expect("podman's image has /bin/busybox"), std::fs::read(base::busybox_binary()).unwrap());

    // docker itself pulls it back (127.0.0.0/8 is insecure to docker) as the image it built.
    let out = d.docker_ok(&["pull", &remote]);
    assert!(out.contains(&format!("Digest: {digest}")), "docker pull output:\n{out}");
    assert_eq!(d.docker_ok(&["inspect", "--format", "{{.Id}}", &remote]).trim(), id);
    let repo_digests = d.docker_ok(&["inspect", "--format", "{{json .RepoDigests}}", &remote]);
    let repo_digests: Vec<String> = serde_json::from_str(repo_digests.trim()).unwrap();
    assert_eq!(repo_digests, vec![format!("{host}/regint/docker-built@{digest}")]);
    let layers = d.docker_ok(&["inspect", "--format", "{{json .RootFS.Layers}}", &remote]);
    assert_eq!(serde_json::from_str::<Vec<String>>(layers.trim()).unwrap(), diff_ids);
    let out = d.docker_ok(&["run", "--rm", "--network", "none", &remote]);
    assert_eq!(out, "built-by-docker\n");
    d.docker_ok(&["rmi", &remote]);
}

// ---- 3. skopeo- and podman-pushed images, pulled by gantry ----

/// Checks that `remote` pulled into `g` is `img` with image ID `id` (and the file of its
/// extra layer), the manifest digest being `digest`.
fn assert_gantry_pulled(g: &Gantry, remote: &str, digest: &str, id: &str, img: &BaseImage, file: &str) {
    let pulled = gantry_pull(g, &[], remote);
    assert_eq!(pulled, digest, "gantry's Digest line is not the manifest the registry serves");
    let info = gantry_inspect(g, remote);
    assert_eq!(info["Id"], id);
    assert_eq!(strings(&info["RootFS"]["Layers"], "RootFS.Layers"), img.diff_ids);
    let repo = remote.rsplit_once(':').expect("tagged").0;
    assert_eq!(strings(&info["RepoDigests"], "RepoDigests"), vec![format!("{repo}@{digest}")]);
    let original = file_in_layers(&archive_layers(&img.archive), file).expect("original file");
    assert_eq!(gantry_file_digest(g, remote, file), base::sha256_digest(&original), "{file} differs");
    let busybox = base::sha256_file(&base::busybox_binary());
    assert_eq!(gantry_file_digest(g, remote, "/bin/busybox"), busybox, "/bin/busybox differs");
}

/// The media types of a manifest's layers.
fn layer_types(manifest: &Value) -> Vec<&str> {
    let layers = manifest["layers"].as_array().unwrap_or_else(|| panic!("no layers in {manifest}"));
    layers.iter().map(|l| l["mediaType"].as_str().unwrap_or("")).collect()
}

/// One way skopeo and podman are asked to push an image.
struct PeerPush {
    tag: &'static str,
    /// `--format oci` (containers/image converts the manifest and rewrites the config).
    oci: bool,
    /// zstd layers (skopeo's `--dest-compress-format`, podman's `--compression-format`).
    zstd: bool,
    manifest_type: &'static str,
    layer_type: &'static str,
}

/// The pushes tested. Each goes to a registry of its own: containers/image reuses a blob
/// it knows a registry has (in whatever compression) instead of pushing the one asked for.
const PEER_PUSHES: &[PeerPush] = &[
    PeerPush {
        tag: "docker",
        oci: false,
        zstd: false,
        manifest_type: DOCKER_MANIFEST,
        layer_type: "application/vnd.docker.image.rootfs.diff.tar.gzip",
    },
    PeerPush { tag: "oci", oci: true, zstd: false, manifest_type: OCI_MANIFEST, layer_type: OCI_LAYER_GZIP },
    PeerPush { tag: "oci-zstd", oci: true, zstd: true, manifest_type: OCI_MANIFEST, layer_type: OCI_LAYER_ZSTD },
];

/// Checks what a peer pushed as `remote` for `push` of `img`, then that gantry pulls it
/// intact; `who` and `args` say what pushed it.
fn assert_peer_push_pulled(push: &PeerPush, remote: &str, img: &BaseImage, file: &str, who: &str, args: &[&str]) {
    let sk = Skopeo::new();
    let (digest, manifest) = skopeo_raw(&sk, remote);
    assert_eq!(manifest["mediaType"], push.manifest_type, "{who} {args:?} pushed {manifest}");
    assert_eq!(layer_types(&manifest), vec![push.layer_type; img.diff_ids.len()], "{who} {args:?} pushed {manifest}");
    // A Docker image keeps its config, hence its ID; an OCI conversion rewrites it.
    let id = config_digest(&manifest);
    if !push.oci {
        assert_eq!(id, img.id, "{who} {args:?} pushed another config");
    }
    assert_gantry_pulled(&gantry(), remote, &digest, &id, img, file);
}

#[test]
fn skopeo_pushed_images_are_pulled_intact_by_gantry() {
    let dir = tempdir();
    let img = base::archive_with_layers(dir.path(), "regint/skopeo:v1", &[("opt/s.bin".into(), 200_000, 31)]);
    let sk = Skopeo::new();
    let src = format!("docker-archive:{}", s(&img.archive));
    for push in PEER_PUSHES {
        let reg = registry();
        let remote = format!("{}/regint/skopeo:{}", reg.host(), push.tag);
        let dest = format!("docker://{remote}");
        let mut args = vec!["copy", "--dest-tls-verify=false"];
        if push.oci {
            args.extend(["--format", "oci"]);
        }
        if push.zstd {
            args.extend(["--dest-compress-format", "zstd"]);
        }
        args.extend([src.as_str(), dest.as_str()]);
        sk.ok(&args);
        assert_peer_push_pulled(push, &remote, &img, "/opt/s.bin", "skopeo", &args);
    }
}

#[test]
fn podman_pushed_images_are_pulled_intact_by_gantry() {
    let dir = tempdir();
    let img = base::archive_with_layers(dir.path(), "regint/podman:v1", &[("srv/p.bin".into(), 150_000, 41)]);
    let p = Podman::new();
    let out = p.ok(&["load", "-i", s(&img.archive)]);
    // podman names it localhost/... or docker.io/... depending on its version.
    let local = out
        .lines()
        .find_map(|l| l.strip_prefix("Loaded image: ").or_else(|| l.strip_prefix("Loaded image(s): ")))
        .unwrap_or_else(|| panic!("podman load printed no name:\n{out}"))
        .trim()
        .to_string();
    assert!(local.ends_with("regint/podman:v1"), "podman loaded {local}");
    for push in PEER_PUSHES {
        let reg = registry();
        let remote = format!("{}/regint/podman:{}", reg.host(), push.tag);
        let dest = format!("docker://{remote}");
        let mut args = vec!["push", "--tls-verify=false"];
        if push.oci {
            args.extend(["--format", "oci"]);
        }
        if push.zstd {
            args.extend(["--compression-format", "zstd"]);
        }
        args.extend([local.as_str(), dest.as_str()]);
        p.ok(&args);
        assert_peer_push_pulled(push, &remote, &img, "/srv/p.bin", "podman", &args);
    }
}

// ---- 4. multi-platform indexes ----

/// One image of a multi-platform layout.
#[derive(Clone)]
struct PlatformImage {
    os: &'static str,
    arch: &'static str,
    variant: Option<&'static str>,
    config_digest: String,
    manifest_digest: String,
    diff_ids: Vec<String>,
}

impl PlatformImage {
    fn platform(&self) -> String {
        match self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.arch),
            None => format!("{}/{}", self.os, self.arch),
        }
    }

    /// The content of its `/platform` file.
    fn marker(&self) -> String {
        format!("{}\n", self.platform())
    }
}

/// An OCI image layout holding one image per platform (busybox plus a layer with a
/// `/platform` file naming it), listed by an image index named `all`; each image is
/// also named by its platform with `/` as `-` (`linux-arm64`).
struct MultiLayout {
    dir: PathBuf,
    index_digest: String,
    images: Vec<PlatformImage>,
}

/// Writes `data` as a blob of the layout; returns its descriptor fields.
fn put_blob(layout: &Path, data: &[u8]) -> (String, usize) {
    let digest = base::sha256_digest(data);
    let path = layout.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap());
    std::fs::write(&path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    (digest, data.len())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A layer tar holding the one file `name` with `content`.
fn one_file_layer(name: &str, content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(base::EPOCH);
    h.set_size(content.len() as u64);
    b.append_data(&mut h, name, content).unwrap();
    b.into_inner().unwrap()
}

fn multi_platform_layout(dir: &Path, platforms: &[(&'static str, &'static str, Option<&'static str>)]) -> MultiLayout {
    let layout = dir.join("multi-layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let bb = base::busybox_archive(&dir.join("bb"), "");
    let bb_layer = archive_layers(&bb.archive).remove(0);
    let (bb_gz, bb_gz_size) = put_blob(&layout, &gzip(&bb_layer));

    let mut images = Vec::new();
    let mut index_entries = Vec::new();
    let mut named = Vec::new();
    for &(os, arch, variant) in platforms {
        let mut img = PlatformImage {
            os,
            arch,
            variant,
            config_digest: String::new(),
            manifest_digest: String::new(),
            diff_ids: Vec::new(),
        };
        let layer = one_file_layer("platform", img.marker().as_bytes());
        img.diff_ids = vec![bb.diff_ids[0].clone(), base::sha256_digest(&layer)];
        let (layer_gz, layer_gz_size) = put_blob(&layout, &gzip(&layer));
        let mut config = json!({
            "architecture": arch,
            "config": {"Cmd": ["/bin/sh"], "Env": [base::PATH_ENV]},
            "created": base::CREATED,
            "history": [
                {"created": base::CREATED, "created_by": base::BUSYBOX_CREATED_BY},
                {"created": base::CREATED, "created_by": format!("platform marker {}", img.platform())},
            ],
            "os": os,
            "rootfs": {"diff_ids": img.diff_ids, "type": "layers"},
        });
        if let Some(v) = variant {
            config["variant"] = json!(v);
        }
        let (config_digest, config_size) = put_blob(&layout, &serde_json::to_vec(&config).unwrap());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": bb_gz, "size": bb_gz_size},
                {"mediaType": OCI_LAYER_GZIP, "digest": layer_gz, "size": layer_gz_size},
            ],
        });
        let (manifest_digest, manifest_size) = put_blob(&layout, &serde_json::to_vec(&manifest).unwrap());
        let mut platform = json!({"architecture": arch, "os": os});
        if let Some(v) = variant {
            platform["variant"] = json!(v);
        }
        index_entries.push(json!({
            "mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": manifest_size, "platform": platform,
        }));
        named.push(json!({
            "mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": img.platform().replace('/', "-")},
        }));
        img.config_digest = config_digest;
        img.manifest_digest = manifest_digest;
        images.push(img);
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index_entries});
    let (index_digest, index_size) = put_blob(&layout, &serde_json::to_vec(&index).unwrap());
    let mut top = vec![json!({
        "mediaType": OCI_INDEX, "digest": index_digest, "size": index_size,
        "annotations": {"org.opencontainers.image.ref.name": "all"},
    })];
    top.extend(named);
    let top = json!({"schemaVersion": 2, "manifests": top});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    MultiLayout { dir: layout, index_digest, images }
}

/// The platforms of the multi-platform tests: the host's (linux/amd64, which every
/// other image here is too) deliberately not first.
const PLATFORMS: &[(&str, &str, Option<&str>)] =
    &[("linux", "arm64", None), ("linux", "amd64", None), ("linux", "arm", Some("v7"))];

/// The images that the index pushed as `remote` lists, as `layout` made them but with
/// the manifest and config digests the registry serves (a peer converting the manifests
/// changes them). Each must be there, once.
fn pushed_images(sk: &Skopeo, layout: &MultiLayout, remote: &str, index: &Value) -> Vec<PlatformImage> {
    let repo = remote.rsplit_once(':').expect("tagged").0;
    let entries = index["manifests"].as_array().unwrap_or_else(|| panic!("not an index: {index}"));
    assert_eq!(entries.len(), layout.images.len(), "{index}");
    let mut images = Vec::new();
    for img in &layout.images {
        let found: Vec<&Value> = entries
            .iter()
            .filter(|e| {
                e["platform"]["os"] == img.os
                    && e["platform"]["architecture"] == img.arch
                    && e["platform"]["variant"].as_str() == img.variant
            })
            .collect();
        assert_eq!(found.len(), 1, "one {} entry expected in {index}", img.platform());
        let digest = found[0]["digest"].as_str().expect("entry digest").to_string();
        let (actual, manifest) = skopeo_raw(sk, &format!("{repo}@{digest}"));
        assert_eq!(actual, digest, "the registry serves another manifest than the index names");
        images.push(PlatformImage { manifest_digest: digest, config_digest: config_digest(&manifest), ..img.clone() });
    }
    images
}

/// gantry pulls each platform of the multi-platform `remote` (whose index has digest
/// `index_digest` and lists `images`), and refuses a platform the index lacks.
fn assert_platforms_resolve(images: &[PlatformImage], remote: &str, index_digest: &str, dir: &Path) {
    let repo = remote.rsplit_once(':').expect("tagged").0;
    let image = |platform: &str| images.iter().find(|i| i.platform() == platform).expect("platform image");

    // No --platform: the host's image; the digest is the index's, as docker reports it.
    let g = gantry();
    assert_eq!(gantry_pull(&g, &[], remote), index_digest, "the Digest line names the index");
    let amd64 = image("linux/amd64");
    let info = gantry_inspect(&g, remote);
    assert_eq!(info["Id"], amd64.config_digest.as_str(), "pulled {info}");
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Os"], "linux");
    assert_eq!(strings(&info["RootFS"]["Layers"], "RootFS.Layers"), amd64.diff_ids);
    assert_eq!(strings(&info["RepoDigests"], "RepoDigests"), vec![format!("{repo}@{index_digest}")]);
    assert_eq!(g.ok(&["run", "--rm", remote, "cat", "/platform"]), amd64.marker());

    // A platform the index lacks: docker's error, exit 1, and the store unchanged.
    let r = g.run(&["pull", "--platform", "linux/s390x", remote]);
    assert_eq!(r.code, Some(1), "pull of a missing platform should exit 1:\n{}{}", r.stdout, r.stderr);
    assert_one_error_line(&r.stderr, "no matching manifest for linux/s390x");
    let ids = g.ok(&["images", "-q", "--no-trunc"]);
    assert_eq!(ids.lines().collect::<Vec<_>>(), vec![amd64.config_digest.as_str()], "{ids}");

    // Each other platform on request, in a store of its own.
    for (platform, arch, variant) in [("linux/arm64", "arm64", None), ("linux/arm/v7", "arm", Some("v7"))] {
        let want = image(platform);
        let g = gantry();
        assert_eq!(gantry_pull(&g, &["--platform", platform], remote), index_digest);
        let info = gantry_inspect(&g, remote);
        assert_eq!(info["Id"], want.config_digest.as_str(), "--platform {platform} pulled {info}");
        assert_eq!(info["Architecture"], arch);
        assert_eq!(info["Os"], "linux");
        if let Some(v) = variant {
            assert_eq!(info["Variant"], v, "--platform {platform}");
        }
        assert_eq!(strings(&info["RootFS"]["Layers"], "RootFS.Layers"), want.diff_ids);
        let (config, layers) = gantry_saved(&g, remote, dir);
        assert_eq!(config["architecture"], arch);
        assert_eq!(file_in_layers(&layers, "platform"), Some(want.marker().into_bytes()), "--platform {platform}");
    }

    // linux/arm64/v8 is linux/arm64 (an arm64 entry without a variant), as for docker.
    let g = gantry();
    gantry_pull(&g, &["--platform", "linux/arm64/v8"], remote);
    assert_eq!(gantry_inspect(&g, remote)["Id"], image("linux/arm64").config_digest.as_str());

    // By the index's digest: the host's image, untagged, with that repo digest.
    let g = gantry();
    let by_index = format!("{repo}@{index_digest}");
    let out = g.ok(&["pull", &by_index]);
    assert!(out.lines().any(|l| l == format!("Digest: {index_digest}")), "{out}");
    let info = gantry_inspect(&g, &by_index);
    assert_eq!(info["Id"], amd64.config_digest.as_str());
    assert_eq!(strings(&info["RepoTags"], "RepoTags"), Vec::<String>::new());
    assert_eq!(strings(&info["RepoDigests"], "RepoDigests"), vec![by_index.clone()]);

    // By one platform's manifest digest: that image, whatever the host is.
    let arm64 = image("linux/arm64");
    let by_manifest = format!("{repo}@{}", arm64.manifest_digest);
    let out = g.ok(&["pull", &by_manifest]);
    assert!(out.lines().any(|l| l == format!("Digest: {}", arm64.manifest_digest)), "{out}");
    let info = gantry_inspect(&g, &by_manifest);
    assert_eq!(info["Id"], arm64.config_digest.as_str());
    assert_eq!(info["Architecture"], "arm64");
}

#[test]
fn multi_platform_index_pushed_by_skopeo_resolves_to_the_requested_platform() {
    let dir = tempdir();
    let reg = registry();
    let layout = multi_platform_layout(dir.path(), PLATFORMS);
    let remote = format!("{}/regint/multi-skopeo:v1", reg.host());
    let sk = Skopeo::new();
    sk.ok(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:all", s(&layout.dir)),
        &format!("docker://{remote}"),
    ]);
    let (index_digest, index) = skopeo_raw(&sk, &remote);
    assert_eq!(index["mediaType"], OCI_INDEX, "{index}");
    assert_eq!(index_digest, layout.index_digest, "skopeo pushed the layout's index unchanged");
    let images = pushed_images(&sk, &layout, &remote, &index);
    for (pushed, ours) in images.iter().zip(&layout.images) {
        assert_eq!(pushed.manifest_digest, ours.manifest_digest, "skopeo pushed the layout's manifests unchanged");
        assert_eq!(pushed.config_digest, ours.config_digest);
    }
    assert_platforms_resolve(&images, &remote, &index_digest, dir.path());
}

#[test]
fn multi_platform_list_pushed_by_podman_resolves_to_the_requested_platform() {
    let dir = tempdir();
    let layout = multi_platform_layout(dir.path(), PLATFORMS);
    let p = Podman::new();
    let list = "localhost/regint/multi-list";
    p.ok(&["manifest", "create", list]);
    for img in &layout.images {
        let src = format!("oci:{}:{}", s(&layout.dir), img.platform().replace('/', "-"));
        let mut args = vec!["manifest", "add", "--os", img.os, "--arch", img.arch];
        if let Some(v) = img.variant {
            args.extend(["--variant", v]);
        }
        args.extend([list, src.as_str()]);
        p.ok(&args);
    }
    let sk = Skopeo::new();
    // As they are (an OCI index of the OCI manifests), and converted to Docker's
    // manifest list of schema2 manifests. A registry each (see PEER_PUSHES).
    for (format, list_type) in [(None, OCI_INDEX), (Some("v2s2"), DOCKER_MANIFEST_LIST)] {
        let reg = registry();
        let remote = format!("{}/regint/multi-podman:{}", reg.host(), format.unwrap_or("oci"));
        let dest = format!("docker://{remote}");
        let mut args = vec!["manifest", "push", "--all", "--tls-verify=false"];
        if let Some(f) = format {
            args.extend(["--format", f]);
        }
        args.extend([list, dest.as_str()]);
        p.ok(&args);
        let (index_digest, index) = skopeo_raw(&sk, &remote);
        assert_eq!(index["mediaType"], list_type, "podman {args:?} pushed {index}");
        let images = pushed_images(&sk, &layout, &remote, &index);
        if format.is_none() {
            for (pushed, ours) in images.iter().zip(&layout.images) {
                assert_eq!(pushed.manifest_digest, ours.manifest_digest, "podman pushed the images unchanged");
            }
        }
        assert_platforms_resolve(&images, &remote, &index_digest, dir.path());
    }
}

// ---- 5. pull --all-tags ----

#[test]
fn pull_all_tags_pulls_every_tag_that_skopeo_pushed() {
    let dir = tempdir();
    let reg = registry();
    let host = reg.host();
    let one = base::busybox_archive(&dir.path().join("one"), "regint/all:one");
    let two = base::archive_with_layers(&dir.path().join("two"), "regint/all:two", &[("two.bin".into(), 20_000, 51)]);
    assert_ne!(one.id, two.id);
    let sk = Skopeo::new();
    let mut digests = Vec::new();
    for (img, tag) in [(&one, "one"), (&two, "two")] {
        let dest = format!("{host}/regint/all:{tag}");
        sk.ok(&[
            "copy",
            "--dest-tls-verify=false",
            &format!("docker-archive:{}", s(&img.archive)),
            &format!("docker://{dest}"),
        ]);
        digests.push(skopeo_raw(&sk, &dest).0);
    }
    // A tag of another repository, which -a must not pull.
    sk.ok(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-archive:{}", s(&two.archive)),
        &format!("docker://{host}/regint/other:x"),
    ]);

    let g = gantry();
    let repo = format!("{host}/regint/all");
    let out = g.ok(&["pull", "-a", &repo]);
    for (tag, digest) in ["one", "two"].iter().zip(&digests) {
        assert!(out.lines().any(|l| l == format!("{tag}: Pulling from regint/all")), "{out}");
        assert!(out.lines().any(|l| l == format!("Digest: {digest}")), "{out}");
    }
    assert_eq!(out.lines().last(), Some(repo.as_str()), "docker's last line is the repository:\n{out}");
    let rows = g.ok(&["images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    let mut rows: Vec<&str> = rows.lines().collect();
    rows.sort();
    assert_eq!(rows, vec![format!("{repo}:one {}", one.id), format!("{repo}:two {}", two.id)]);
    for (tag, digest) in ["one", "two"].iter().zip(&digests) {
        let info = gantry_inspect(&g, &format!("{repo}:{tag}"));
        assert_eq!(strings(&info["RepoDigests"], "RepoDigests"), vec![format!("{repo}@{digest}")]);
    }
    let original = file_in_layers(&archive_layers(&two.archive), "two.bin").expect("original file");
    assert_eq!(gantry_file_digest(&g, &format!("{repo}:two"), "/two.bin"), base::sha256_digest(&original));

    // A tag with -a is docker's usage error.
    let err = g.fail(&["pull", "-a", &format!("{repo}:one")]);
    assert_one_error_line(&err, "tag can't be used with --all-tags/-a");
}
