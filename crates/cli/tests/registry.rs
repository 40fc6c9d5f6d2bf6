//! Registries: `push`, `pull`, `login`, `logout`, `search` and `build` FROM pulls against
//! the real CNCF distribution registry (plain HTTP, TLS with a CA made here, htpasswd,
//! a token service), and the faults a network brings: a registry killed mid-pull, a
//! corrupted byte, a cut connection, 429s, wrong passwords. Credentials must never show
//! up in output, logs (even `-D`), or on disk outside a 0600 `config.json`.
//!
//! Every gantry here runs with its own docker config directory (`--config`) and registry
//! settings file, so no test reads or writes the machine's.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use gantry_testkit::base::{self, BaseImage};
use gantry_testkit::registry::{Fault, FaultProxy, Registry, RegistryAuth, RegistryOptions};
use gantry_testkit::{assert_one_error_line, Gantry, Run};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-Pa55word-never-shown";

/// A gantry with a private store, docker config dir and settings file.
struct Client {
    g: Gantry,
    dir: tempfile::TempDir,
    certs: Option<PathBuf>,
}

impl Client {
    fn new() -> Client {
        let dir = tempfile::Builder::new().prefix("gantry-registry-test-").tempdir().expect("temp dir");
        Client { g: Gantry::new(env!("CARGO_BIN_EXE_gantry")), dir, certs: None }
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("docker")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let config = self.config_dir();
        let mut full = vec!["--config", config.to_str().unwrap()];
        full.extend_from_slice(args);
        let mut c = self.g.cmd(&full);
        c.env("GANTRY_REGISTRIES_CONFIG", self.dir.path().join("registries.json"));
        match &self.certs {
            Some(d) => c.env("GANTRY_CERTS_D", d),
            None => c.env_remove("GANTRY_CERTS_D"),
        };
        c.env_remove("DOCKER_CONFIG");
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        run(self.cmd(args))
    }

    fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start gantry");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(r.success(), "gantry {args:?} failed ({:?}):\n{}{}", r.code, r.stdout, r.stderr);
        r.stdout
    }

    fn fail(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, Some(1), "gantry {args:?} should fail with exit 1:\n{}{}", r.stdout, r.stderr);
        r
    }

    /// Loads `img` and tags it `reference`.
    fn load_as(&self, img: &BaseImage, reference: &str) {
        self.ok(&["load", "-i", img.archive.to_str().unwrap()]);
        self.ok(&["tag", &img.id, reference]);
    }

    fn image_id(&self, reference: &str) -> String {
        self.ok(&["inspect", "--format", "{{.Id}}", reference]).trim().to_string()
    }

    fn ingest_leftovers(&self) -> usize {
        std::fs::read_dir(self.g.root().join("ingest")).map(|d| d.count()).unwrap_or(0)
    }

    fn blob_count(&self) -> usize {
        std::fs::read_dir(self.g.root().join("blobs/sha256")).map(|d| d.count()).unwrap_or(0)
    }
}

fn run(mut c: Command) -> Run {
    let out = c.output().expect("start gantry");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn images_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("gantry-registry-images-").tempdir().expect("temp dir")
}

/// A busybox image with one more layer of `mib` MiB of random bytes.
fn image_with_layer(dir: &Path, tag: &str, mib: u64, seed: u64) -> BaseImage {
    base::archive_with_layers(dir, tag, &[("/data/blob".to_string(), mib << 20, seed)])
}

/// A registry holding `REPO:1` (busybox plus a `mib` MiB layer), pushed by gantry.
fn registry_with(repo: &str, mib: u64, seed: u64) -> (Registry, BaseImage, tempfile::TempDir) {
    let reg = Registry::start(RegistryOptions::default());
    let imgs = images_dir();
    let img = image_with_layer(imgs.path(), &format!("{repo}:1"), mib, seed);
    let a = Client::new();
    let name = format!("{}/{repo}:1", reg.host());
    a.load_as(&img, &name);
    a.ok(&["push", &name]);
    (reg, img, imgs)
}

/// The line `Digest: sha256:...` of a pull.
fn digest_line(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap_or_else(|| panic!("no Digest line in:\n{out}"))
        .to_string()
}

/// The digest a push printed (`TAG: digest: sha256:... size: N`).
fn pushed_digest(out: &str) -> String {
    out.lines()
        .find_map(|l| l.split(": digest: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest line in:\n{out}"))
        .to_string()
}

#[test]
fn push_then_pull_gives_the_same_image_and_digest() {
    let reg = Registry::start(RegistryOptions::default());
    let imgs = images_dir();
    let img = image_with_layer(imgs.path(), "src:1", 3, 7);
    let a = Client::new();
    let name = format!("{}/team/app:1.0", reg.host());
    a.load_as(&img, &name);

    let out = a.ok(&["push", &name]);
    assert!(out.starts_with(&format!("The push refers to repository [{}/team/app]\n", reg.host())), "{out}");
    assert_eq!(out.matches(": Pushed").count(), 2, "both layers uploaded:\n{out}");
    let digest = pushed_digest(&out);
    assert!(out.contains(&format!("1.0: digest: {digest} size: ")), "{out}");

    // A second push uploads nothing; another repository mounts the layers.
    let again = a.ok(&["push", &name]);
    assert_eq!(again.matches(": Layer already exists").count(), 2, "{again}");
    assert_eq!(pushed_digest(&again), digest);
    let other = format!("{}/other/app:2", reg.host());
    a.ok(&["tag", &name, &other]);
    let mounted = a.ok(&["push", &other]);
    assert_eq!(mounted.matches(": Mounted from team/app").count(), 2, "{mounted}");

    // A fresh store pulls the same image: same ID, same digest, recorded as a repo digest.
    let b = Client::new();
    let pulled = b.ok(&["pull", &name]);
    assert!(pulled.starts_with("1.0: Pulling from team/app\n"), "{pulled}");
    assert_eq!(pulled.matches(": Pull complete").count(), 2, "{pulled}");
    assert_eq!(digest_line(&pulled), digest);
    assert!(pulled.contains(&format!("Status: Downloaded newer image for {name}\n")), "{pulled}");
    assert!(pulled.ends_with(&format!("{name}\n")), "{pulled}");
    assert_eq!(b.image_id(&name), img.id);
    let repo_digests = b.ok(&["inspect", "--format", "{{json .RepoDigests}}", &name]);
    assert_eq!(repo_digests.trim(), format!("[\"{}/team/app@{digest}\"]", reg.host()));
    let listed = b.ok(&["images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"]);
    assert_eq!(listed.trim(), format!("{}/team/app 1.0 {digest}", reg.host()));
    // The layers are the image's own: the file in the extra layer reads back.
    let layers = b.ok(&["inspect", "--format", "{{json .RootFS.Layers}}", &name]);
    assert_eq!(serde_json::from_str::<Vec<String>>(layers.trim()).unwrap(), img.diff_ids);

    // Pulling again downloads nothing; by digest works too; -q prints only the reference.
    let again = b.ok(&["pull", &name]);
    assert_eq!(again.matches(": Already exists").count(), 2, "{again}");
    assert!(again.contains(&format!("Status: Image is up to date for {name}")), "{again}");
    let by_digest = format!("{}/team/app@{digest}", reg.host());
    let c = Client::new();
    assert_eq!(c.ok(&["pull", "-q", &by_digest]), format!("{by_digest}\n"));
    assert_eq!(c.image_id(&by_digest), img.id);
    // Pushing the pulled image elsewhere in the same registry reuses the blobs.
    let copy = format!("{}/copy/app:x", reg.host());
    c.ok(&["tag", &by_digest, &copy]);
    let out = c.ok(&["push", &copy]);
    assert_eq!(out.matches(": Mounted from team/app").count(), 2, "{out}");
    assert_eq!(pushed_digest(&out), digest, "the same layers and config make the same manifest");
}

#[test]
fn pull_all_tags_and_default_tag() {
    let reg = Registry::start(RegistryOptions::default());
    let imgs = images_dir();
    let one = image_with_layer(imgs.path(), "one:1", 1, 1);
    let two = image_with_layer(imgs.path(), "two:1", 1, 2);
    let a = Client::new();
    let repo = format!("{}/multi", reg.host());
    a.load_as(&one, &format!("{repo}:latest"));
    a.load_as(&two, &format!("{repo}:v2"));
    let out = a.ok(&["push", "--all-tags", &repo]);
    assert!(out.contains("latest: digest: ") && out.contains("v2: digest: "), "{out}");

    let b = Client::new();
    let out = b.ok(&["pull", &repo]);
    assert!(out.starts_with("Using default tag: latest\nlatest: Pulling from multi\n"), "{out}");
    assert_eq!(b.image_id(&format!("{repo}:latest")), one.id);
    let c = Client::new();
    c.ok(&["pull", "-a", &repo]);
    assert_eq!(c.image_id(&format!("{repo}:latest")), one.id);
    assert_eq!(c.image_id(&format!("{repo}:v2")), two.id);
    assert_one_error_line(&c.fail(&["pull", "-a", &format!("{repo}:v2")]).stderr, "can't be used with --all-tags");
}

#[test]
fn tls_registry_is_verified_against_the_ca_in_certs_d() {
    let reg = Registry::start(RegistryOptions { tls: true, ..Default::default() });
    let imgs = images_dir();
    let img = base::busybox_archive(imgs.path(), "bb:1");
    let mut a = Client::new();
    let name = format!("{}/secure/bb:1", reg.host());
    a.load_as(&img, &name);
    // Loopback is insecure by default (as in docker); --tls-verify demands a trusted CA.
    let r = a.fail(&["push", "--tls-verify", &name]);
    assert_one_error_line(&r.stderr, "certificate");
    a.certs = Some(reg.certs_dir().expect("certs dir").to_path_buf());
    let out = a.ok(&["push", "--tls-verify", &name]);
    let digest = pushed_digest(&out);
    let mut b = Client::new();
    b.certs = a.certs.clone();
    assert_eq!(digest_line(&b.ok(&["pull", "--tls-verify", &name])), digest);
    assert_eq!(b.image_id(&name), img.id);
    // Without --tls-verify the default for loopback applies: TLS, unverified.
    let c = Client::new();
    c.ok(&["pull", &name]);
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(!text.contains(PASSWORD), "{what} shows the password:\n{text}");
    let b64 = base64_of(&format!("{USER}:{PASSWORD}"));
    assert!(!text.contains(&b64), "{what} shows the encoded credentials:\n{text}");
}

fn base64_of(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n =
            (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// login (wrong, then right), push, pull, logout against a registry requiring auth.
fn authenticated_round_trip(auth: RegistryAuth) {
    let reg = Registry::start(RegistryOptions { auth, ..Default::default() });
    let imgs = images_dir();
    let img = base::busybox_archive(imgs.path(), "bb:1");
    let a = Client::new();
    let name = format!("{}/private/bb:1", reg.host());
    a.load_as(&img, &name);
    let config = a.config_dir().join("config.json");

    // Not logged in: a clear refusal.
    let r = a.fail(&["push", &name]);
    assert_one_error_line(&r.stderr, "unauthorized");
    // A wrong password is refused and nothing is saved.
    let r = a.run_stdin(&["login", "-u", USER, "--password-stdin", &reg.host()], "wrong-password\n");
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert_one_error_line(&r.stderr, "unauthorized");
    assert!(!config.exists(), "a failed login must not write {}", config.display());

    let r = a.run_stdin(&["-D", "login", "-u", USER, "--password-stdin", &reg.host()], &format!("{PASSWORD}\n"));
    assert!(r.success(), "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Login Succeeded"), "{}", r.stdout);
    assert_no_secret("login output", &(r.stdout.clone() + &r.stderr));
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "config.json mode");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(saved["auths"][reg.host()]["auth"], base64_of(&format!("{USER}:{PASSWORD}")));

    let out = a.run(&["-D", "push", &name]);
    assert!(out.success(), "{}{}", out.stdout, out.stderr);
    assert_no_secret("push output", &(out.stdout.clone() + &out.stderr));
    let digest = pushed_digest(&out.stdout);

    // Another client using the same docker config (as after `docker login`) pulls.
    let b = Client::new();
    std::fs::create_dir_all(b.config_dir()).unwrap();
    std::fs::copy(&config, b.config_dir().join("config.json")).unwrap();
    let out = b.run(&["-D", "pull", &name]);
    assert!(out.success(), "{}{}", out.stdout, out.stderr);
    assert_no_secret("pull output", &(out.stdout.clone() + &out.stderr));
    assert_eq!(digest_line(&out.stdout), digest);
    // Nothing of the credentials in the image, its history, or the store's database.
    let inspect = b.ok(&["inspect", &name]) + &b.ok(&["history", "--no-trunc", &name]);
    assert_no_secret("inspect and history", &inspect);
    for entry in std::fs::read_dir(b.g.root()).unwrap().flatten() {
        if entry.path().is_file() {
            assert_no_secret(
                &entry.path().display().to_string(),
                &String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()),
            );
        }
    }
    assert_no_secret("registry log", &reg.log());

    // Logout forgets them; pulling is refused again.
    assert_eq!(b.ok(&["logout", &reg.host()]), format!("Removing login credentials for {}\n", reg.host()));
    assert_eq!(b.ok(&["logout", &reg.host()]), format!("Not logged in to {}\n", reg.host()));
    let c_root = Client::new();
    std::fs::create_dir_all(c_root.config_dir()).unwrap();
    std::fs::copy(b.config_dir().join("config.json"), c_root.config_dir().join("config.json")).unwrap();
    assert_one_error_line(&c_root.fail(&["pull", &name]).stderr, "");
}

#[test]
fn htpasswd_basic_auth() {
    authenticated_round_trip(RegistryAuth::Htpasswd { user: USER.into(), password: PASSWORD.into() });
}

#[test]
fn bearer_token_auth() {
    authenticated_round_trip(RegistryAuth::Token { user: USER.into(), password: PASSWORD.into() });
}

#[test]
fn login_refuses_bad_flag_combinations() {
    let a = Client::new();
    let r = a.run_stdin(&["login", "--password-stdin", "127.0.0.1:1"], "x\n");
    assert_eq!(r.code, Some(1));
    assert_one_error_line(&r.stderr, "Must provide --username with --password-stdin");
    let r = a.run(&["login", "-u", "x", "-p", "y", "--password-stdin", "127.0.0.1:1"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("mutually exclusive"), "{}", r.stderr);
    let r = a.run(&["login", "127.0.0.1:1"]);
    assert_eq!(r.code, Some(1));
    assert_one_error_line(&r.stderr, "non TTY");
    // A registry that is not there: one line, nothing saved.
    let r = a.run(&["login", "-u", "x", "-p", "y", "127.0.0.1:1"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.lines().last().unwrap_or("").contains("127.0.0.1:1"), "{}", r.stderr);
    assert!(!a.config_dir().join("config.json").exists());
}

#[test]
fn corrupted_layer_fails_the_pull_and_stores_nothing() {
    let (reg, img, _imgs) = registry_with("c", 2, 3);
    let proxy = FaultProxy::start(&reg, Fault::CorruptBlob);
    let b = Client::new();
    let via = format!("{}/c:1", proxy.host());
    let r = b.fail(&["pull", &via]);
    assert_one_error_line(&r.stderr, "digest");
    assert_eq!(proxy.faults_served(), 1);
    assert_eq!(b.ok(&["images", "-q"]), "");
    assert_eq!(b.blob_count(), 0, "no layer or config of a failed pull is kept");
    assert_eq!(b.ingest_leftovers(), 0);
    // The next pull (the proxy corrupts only once) succeeds.
    b.ok(&["pull", &via]);
    assert_eq!(b.image_id(&via), img.id);
}

#[test]
fn cut_download_resumes_with_a_range_request() {
    let (reg, img, _imgs) = registry_with("r", 4, 4);
    let proxy = FaultProxy::start(&reg, Fault::CutBlob { bytes: 1 << 20 });
    let b = Client::new();
    let via = format!("{}/r:1", proxy.host());
    b.ok(&["pull", &via]);
    assert_eq!(proxy.faults_served(), 1);
    assert!(proxy.requests().iter().any(|r| r.contains("Range: bytes=")), "{:#?}", proxy.requests());
    assert_eq!(b.image_id(&via), img.id);
}

#[test]
fn too_many_requests_is_waited_out_or_reported() {
    let (reg, _, _imgs) = registry_with("t", 1, 5);
    let proxy = FaultProxy::start(&reg, Fault::TooManyRequests { times: 2, retry_after_secs: 1 });
    let b = Client::new();
    b.ok(&["pull", &format!("{}/t:1", proxy.host())]);
    assert_eq!(proxy.faults_served(), 2);
    // A Retry-After longer than gantry waits by itself is reported, not slept through.
    let slow = FaultProxy::start(&reg, Fault::TooManyRequests { times: 100, retry_after_secs: 3600 });
    let c = Client::new();
    let r = c.fail(&["pull", &format!("{}/t:1", slow.host())]);
    assert_one_error_line(&r.stderr, "toomanyrequests");
    assert_eq!(c.ok(&["images", "-q"]), "");
}

#[test]
fn registry_killed_mid_pull_then_restarted() {
    let (mut reg, img, _imgs) = registry_with("k", 96, 9);
    let name = format!("{}/k:1", reg.host());
    let b = Client::new();
    let mut child = b
        .cmd(&["pull", &name])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the registry once the download has started (or the pull has finished).
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(20) {
        if child.try_wait().unwrap().is_some()
            || b.ingest_leftovers() > 0
            || std::fs::read_dir(b.g.root().join("blobs/sha256")).map(|d| d.count() > 0).unwrap_or(false)
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    reg.kill();
    std::thread::sleep(std::time::Duration::from_millis(500));
    reg.restart();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        assert_eq!(b.image_id(&name), img.id);
    } else {
        assert_one_error_line(&stderr, &reg.host());
        assert_eq!(b.ok(&["images", "-q"]), "");
    }
    // Either way the next pull succeeds and nothing partial is left.
    b.ok(&["pull", &name]);
    assert_eq!(b.image_id(&name), img.id);
    assert_eq!(b.ingest_leftovers(), 0);
    b.ok(&["run", "--rm", "--network", "none", &name, "test", "-s", "/data/blob"]);
}

#[test]
fn bad_references_and_dead_registries() {
    let a = Client::new();
    assert_one_error_line(&a.fail(&["pull", "Busybox"]).stderr, "repository name must be lowercase");
    assert_one_error_line(&a.fail(&["pull", "bad::ref"]).stderr, "invalid reference format");
    // A port nobody listens on: one line naming the address, exit 1.
    let r = a.fail(&["pull", "127.0.0.1:1/x:1"]);
    assert_one_error_line(&r.stderr, "127.0.0.1:1");
    let r = a.fail(&["push", "127.0.0.1:1/absent:1"]);
    assert_one_error_line(&r.stderr, "An image does not exist locally with the tag: 127.0.0.1:1/absent");
    let r = a.run(&["pull"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("\"gantry pull\" requires exactly 1 argument"), "{}", r.stderr);
    assert_one_error_line(
        &a.fail(&["pull", "--platform", "linux/", "127.0.0.1:1/x"]).stderr,
        "unknown operating system",
    );
    // A registry that has no such tag.
    let reg = Registry::start(RegistryOptions::default());
    let r = a.fail(&["pull", &format!("{}/nothing:here", reg.host())]);
    assert_one_error_line(&r.stderr, "not found");
}

#[test]
fn search_matches_the_catalog() {
    let reg = Registry::start(RegistryOptions::default());
    let imgs = images_dir();
    let img = base::busybox_archive(imgs.path(), "s:1");
    let a = Client::new();
    a.ok(&["load", "-i", img.archive.to_str().unwrap()]);
    for repo in ["tools/busybox", "apps/web", "busybox-extra"] {
        let name = format!("{}/{repo}:1", reg.host());
        a.ok(&["tag", &img.id, &name]);
        a.ok(&["push", &name]);
    }
    let out = a.ok(&["search", &format!("{}/busybox", reg.host())]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("DESCRIPTION"), "{out}");
    let names: Vec<&str> = lines[1..].iter().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, vec![format!("{}/busybox-extra", reg.host()), format!("{}/tools/busybox", reg.host())]);
    let out = a.ok(&["search", "--limit", "1", "--format", "{{.Name}}", &format!("{}/busybox", reg.host())]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_one_error_line(
        &a.fail(&["search", "--filter", "color=red", &format!("{}/x", reg.host())]).stderr,
        "Invalid filter",
    );
    assert_one_error_line(
        &a.fail(&["search", "--limit", "0", &format!("{}/x", reg.host())]).stderr,
        "outside the range",
    );
}

#[test]
fn run_and_create_pull_a_missing_image_like_docker() {
    let (reg, img, _imgs) = registry_with("runme", 1, 21);
    let name = format!("{}/runme:1", reg.host());
    let b = Client::new();
    // --pull never: the store alone.
    let r = b.run(&["run", "--rm", "--pull", "never", &name, "true"]);
    assert_one_error_line(&r.stderr, &format!("No such image: {name}"));
    assert_eq!(r.code, Some(125));
    // Missing: pulled, the pull's lines on stderr, stdout the container's alone.
    let r = b.run(&["run", "--rm", &name, "sh", "-c", "wc -c < /data/blob"]);
    assert!(r.success(), "{r:?}");
    assert_eq!(r.stdout.trim(), (1 << 20).to_string(), "stdout is the container's output only");
    assert!(r.stderr.starts_with(&format!("Unable to find image '{name}' locally\n")), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("Status: Downloaded newer image for {name}")), "{}", r.stderr);
    assert_eq!(b.image_id(&name), img.id);
    // Present: no pull.
    let r = b.run(&["run", "--rm", &name, "true"]);
    assert!(r.success() && r.stderr.is_empty(), "{r:?}");
    b.ok(&["rmi", &name]);
    let r = b.run(&["create", "-q", "--name", "made", &name]);
    // As in docker, -q keeps the "Unable to find" line and drops the pull's.
    assert!(r.success() && r.stderr == format!("Unable to find image '{name}' locally\n"), "{r:?}");
    assert_eq!(r.stdout.trim().len(), 64, "create prints the ID alone: {}", r.stdout);
    // --pull always takes a moved tag.
    let imgs = images_dir();
    let moved = image_with_layer(imgs.path(), "runme:2", 1, 22);
    let a = Client::new();
    a.load_as(&moved, &name);
    a.ok(&["push", &name]);
    b.ok(&["run", "--rm", &name, "true"]);
    assert_eq!(b.image_id(&name), img.id, "missing only: the local image is used");
    b.ok(&["run", "--rm", "--pull", "always", &name, "true"]);
    assert_eq!(b.image_id(&name), moved.id);
    // Nowhere to be found: docker's lines, 125, nothing made.
    let r = b.run(&["run", "--rm", &format!("{}/nope:1", reg.host()), "true"]);
    assert_eq!(r.code, Some(125));
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
    assert_eq!(b.ok(&["ps", "-aq"]).lines().count(), 1, "only the created container");
}

#[test]
fn build_pulls_missing_bases_and_pull_refreshes() {
    let reg = Registry::start(RegistryOptions::default());
    let imgs = images_dir();
    let first = image_with_layer(imgs.path(), "b1:1", 1, 11);
    let second = image_with_layer(imgs.path(), "b2:1", 1, 12);
    let a = Client::new();
    let base_ref = format!("{}/base/bb:1", reg.host());
    a.load_as(&first, &base_ref);
    a.ok(&["push", &base_ref]);

    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), format!("FROM {base_ref}\nCOPY f /f\n")).unwrap();
    std::fs::write(ctx.path().join("f"), "x").unwrap();
    let b = Client::new();
    b.ok(&["build", "-q", "-t", "out:1", ctx.path().to_str().unwrap()]);
    assert_eq!(b.image_id(&base_ref), first.id, "the base was pulled into the store");
    // The registry moves the tag; a plain build keeps the local base, --pull takes the new one.
    a.load_as(&second, &base_ref);
    a.ok(&["push", &base_ref]);
    b.ok(&["build", "-q", "-t", "out:2", ctx.path().to_str().unwrap()]);
    assert_eq!(b.image_id(&base_ref), first.id);
    b.ok(&["build", "-q", "--pull", "-t", "out:3", ctx.path().to_str().unwrap()]);
    assert_eq!(b.image_id(&base_ref), second.id);
    let layers = b.ok(&["inspect", "--format", "{{len .RootFS.Layers}}", "out:3"]);
    assert_eq!(layers.trim(), "3");
    // A base that no registry has: one clear line.
    std::fs::write(ctx.path().join("Dockerfile"), format!("FROM {}/nope:1\n", reg.host())).unwrap();
    let r = b.fail(&["build", "-q", ctx.path().to_str().unwrap()]);
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
}

#[test]
fn chunked_upload_when_configured() {
    let first = Registry::start(RegistryOptions::default());
    let second = Registry::start(RegistryOptions::default());
    let imgs = images_dir();
    let img = image_with_layer(imgs.path(), "ch:1", 3, 21);
    let a = Client::new();
    let one = format!("{}/ch:1", first.host());
    a.load_as(&img, &one);
    // The first push compresses (streaming); the second uploads the kept bytes in 1 MiB
    // PATCHes with Content-Range.
    a.ok(&["push", &one]);
    std::fs::write(a.dir.path().join("registries.json"), r#"{"upload-chunk-size": 1048576}"#).unwrap();
    let two = format!("{}/ch:1", second.host());
    a.ok(&["tag", &one, &two]);
    let digest = pushed_digest(&a.ok(&["push", &two]));
    let b = Client::new();
    assert_eq!(digest_line(&b.ok(&["pull", &two])), digest);
    assert_eq!(b.image_id(&two), img.id);
    // A broken settings file is one clear line naming it.
    std::fs::write(a.dir.path().join("registries.json"), "{").unwrap();
    assert_one_error_line(&a.fail(&["push", &two]).stderr, "registries.json");
}

#[test]
fn docker_hub_names_go_to_the_configured_mirror() {
    // No internet here: a local registry stands in for a docker.io mirror, holding
    // library/busybox as Docker Hub would.
    let mirror = Registry::start(RegistryOptions::default());
    let imgs = images_dir();
    let img = base::busybox_archive(imgs.path(), "bb:1");
    let a = Client::new();
    let on_mirror = format!("{}/library/busybox:latest", mirror.host());
    a.load_as(&img, &on_mirror);
    a.ok(&["push", &on_mirror]);
    let b = Client::new();
    std::fs::write(
        b.dir.path().join("registries.json"),
        format!(r#"{{"registry-mirrors": ["http://{}"]}}"#, mirror.host()),
    )
    .unwrap();
    let out = b.ok(&["pull", "busybox"]);
    assert!(out.contains("latest: Pulling from library/busybox"), "{out}");
    assert!(out.contains("Status: Downloaded newer image for busybox:latest"), "{out}");
    assert!(out.ends_with("docker.io/library/busybox:latest\n"), "{out}");
    assert_eq!(b.image_id("busybox"), img.id);
    // Pushing to docker.io never goes to a mirror.
    let r = b.fail(&["push", "busybox"]);
    assert!(r.stderr.contains("registry-1.docker.io"), "{}", r.stderr);
}
