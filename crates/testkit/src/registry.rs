//! Real registries for gantry's push/pull tests: the CNCF distribution registry
//! (Debian's `docker-registry`, 2.8) on 127.0.0.1 with temporary configuration and
//! storage, optionally behind TLS from a CA made by the test, htpasswd basic auth or
//! token auth from a token service running in the test process; and a [`FaultProxy`]
//! that corrupts, throttles or cuts blob downloads on their way to the client.
//!
//! The client under test is gantry itself; these fixtures only provide servers. Like
//! the other peers, a missing `docker-registry` makes the test fail with the Debian
//! package to install, the registry cannot outlive the test process (it is started with
//! `PR_SET_PDEATHSIG` from a thread that lives as long as it does), and dropping a
//! [`Registry`] kills it and removes its directory.
//!
//! Facts about distribution 2.8 these fixtures rely on (checked by
//! `tests/registry_fixtures.rs`):
//! - htpasswd auth works over plain HTTP (no TLS required) and accepts only bcrypt;
//! - token auth verifies the token's `x5c` certificate chain against `rootcertbundle`,
//!   and requires `iss` = the configured issuer and `aud` = the configured service (a
//!   string);
//! - upload `Location`s are absolute URLs built from the request's `Host` header;
//! - blobs are served directly (200, `Content-Length`, `Range` supported) with
//!   filesystem storage.

mod http;
mod pki;
mod proxy;
mod token;

pub use proxy::{Fault, FaultProxy};
pub use token::{ISSUER as TOKEN_ISSUER, SERVICE as TOKEN_SERVICE, TOKEN_LIFETIME_SECS};

use std::fs;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use token::TokenServer;

/// How long a fresh registry may take to answer `GET /v2/`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A PATH for the registry (it needs none, but keep the environment sane).
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Prefix of the registries' temporary directories (swept when their test process died).
const DIR_PREFIX: &str = "gantry-registry-";

/// The realm of htpasswd challenges.
pub const HTPASSWD_REALM: &str = "gantry-test-registry";

/// How a [`Registry`] is started.
#[derive(Debug, Default, Clone)]
pub struct RegistryOptions {
    /// Serve HTTPS with a server certificate (IP 127.0.0.1, DNS localhost) signed by a
    /// CA made for this registry; see [`Registry::certs_dir`] and [`Registry::ca_pem`].
    pub tls: bool,
    pub auth: RegistryAuth,
}

/// Authentication the registry demands.
#[derive(Debug, Default, Clone)]
pub enum RegistryAuth {
    /// Anyone may pull and push.
    #[default]
    None,
    /// Basic auth against an htpasswd file holding this one user (works over plain HTTP).
    Htpasswd { user: String, password: String },
    /// Bearer tokens from an in-process token service (see the `token` module), which
    /// grants this user whatever it asks for and anonymous clients nothing.
    Token { user: String, password: String },
}

struct Running {
    pid: i32,
    waiter: JoinHandle<Option<ExitStatus>>,
}

/// A running `docker-registry serve` on 127.0.0.1; see the module documentation.
pub struct Registry {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    opts: RegistryOptions,
    storage: PathBuf,
    certs_dir: Option<PathBuf>,
    ca_pem: Option<PathBuf>,
    token: Option<TokenServer>,
    running: Option<Running>,
}

impl Registry {
    /// Starts a registry on a free port and waits (at most 30 s) until `GET /v2/`
    /// answers 200 or 401; fails the test with the registry's log otherwise.
    pub fn start(opts: RegistryOptions) -> Registry {
        let bin = find_tool("docker-registry", "docker-registry");
        if opts.tls {
            find_tool("curl", "curl"); // the readiness probe over TLS
        }
        sweep_stale_dirs();
        let dir = tempfile::Builder::new().prefix(DIR_PREFIX).tempdir().expect("create registry temp dir");
        let d = dir.path();
        fs::write(d.join("owner"), std::process::id().to_string()).expect("write owner pid");
        fs::create_dir_all(d.join("storage")).expect("create registry storage");
        if opts.tls {
            let files = pki::tls_files();
            fs::create_dir_all(d.join("tls")).expect("create tls dir");
            fs::write(d.join("tls/ca.crt"), &files.ca_pem).expect("write ca.crt");
            fs::write(d.join("tls/server.crt"), &files.cert_pem).expect("write server.crt");
            fs::write(d.join("tls/server.key"), &files.key_pem).expect("write server.key");
        }
        let token = match &opts.auth {
            RegistryAuth::None => None,
            RegistryAuth::Htpasswd { user, password } => {
                fs::write(d.join("htpasswd"), format!("{}\n", htpasswd_line(user, password))).expect("write htpasswd");
                None
            }
            RegistryAuth::Token { user, password } => {
                let t = TokenServer::start(user, password);
                fs::write(d.join("token-signer.crt"), t.cert_pem()).expect("write token rootcertbundle");
                Some(t)
            }
        };
        let storage = d.join("storage");
        let ca_pem = opts.tls.then(|| d.join("tls/ca.crt"));
        let mut r = Registry { bin, dir, port: 0, opts, storage, certs_dir: None, ca_pem, token, running: None };
        // A port picked free can be taken before the registry binds it: try a few.
        for attempt in 1..=3 {
            r.port = free_port();
            r.write_config();
            r.spawn();
            match r.wait_ready() {
                Ok(()) => break,
                Err(log) if attempt < 3 && log.contains("address already in use") => r.kill(),
                Err(log) => panic!("docker-registry did not come up on {}:\n{log}", r.host()),
            }
        }
        if r.opts.tls {
            let certs_dir = r.dir.path().join("certs.d");
            let host_dir = certs_dir.join(r.host());
            fs::create_dir_all(&host_dir).expect("create certs.d");
            fs::copy(r.dir.path().join("tls/ca.crt"), host_dir.join("ca.crt")).expect("copy ca.crt into certs.d");
            r.certs_dir = Some(certs_dir);
        }
        r
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, or `https://...` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.opts.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// The options it was started with.
    pub fn options(&self) -> &RegistryOptions {
        &self.opts
    }

    /// The user and password that the registry accepts, if it demands authentication.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match &self.opts.auth {
            RegistryAuth::None => None,
            RegistryAuth::Htpasswd { user, password } | RegistryAuth::Token { user, password } => {
                Some((user, password))
            }
        }
    }

    /// The filesystem storage root (`docker/registry/v2/...` below it).
    pub fn storage(&self) -> &Path {
        &self.storage
    }

    /// With TLS: a directory laid out like `/etc/docker/certs.d`, holding
    /// `127.0.0.1:PORT/ca.crt` (use `certs_dir()/host()` for skopeo's or podman's
    /// `--cert-dir`).
    pub fn certs_dir(&self) -> Option<&Path> {
        self.certs_dir.as_deref()
    }

    /// With TLS: the CA certificate (PEM) that signed the registry's certificate.
    pub fn ca_pem(&self) -> Option<&Path> {
        self.ca_pem.as_deref()
    }

    /// With token auth: the token service's realm, `http://127.0.0.1:PORT/token`.
    pub fn token_realm(&self) -> Option<String> {
        self.token.as_ref().map(TokenServer::realm)
    }

    /// With token auth: every request the token service received, in order, as
    /// `METHOD TARGET [grant_type=G ]authorization=SCHEME` where SCHEME is the lowercased
    /// scheme of the `Authorization` header (`basic`, `bearer`) or `none`. Bodies (and so
    /// passwords) are never recorded.
    pub fn token_requests(&self) -> Vec<String> {
        self.token.as_ref().map(TokenServer::requests).unwrap_or_default()
    }

    /// Kills the registry (SIGKILL) and waits for it. Idempotent.
    pub fn kill(&mut self) {
        let Some(run) = self.running.take() else { return };
        if !run.waiter.is_finished() {
            // SAFETY: signalling the child we started; it is not reaped before `waiter` ends.
            unsafe { libc::kill(run.pid, libc::SIGKILL) };
        }
        let _ = run.waiter.join();
    }

    /// Starts the registry again (killing it first if it runs) with the same port,
    /// configuration and storage, and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
        if let Err(log) = self.wait_ready() {
            panic!("docker-registry did not come back on {}:\n{log}", self.host());
        }
    }

    /// The registry's process id while it runs.
    pub fn pid(&self) -> Option<i32> {
        self.running.as_ref().filter(|r| !r.waiter.is_finished()).map(|r| r.pid)
    }

    /// Whether the registry process is running.
    pub fn is_running(&self) -> bool {
        self.running.as_ref().is_some_and(|r| !r.waiter.is_finished())
    }

    /// Everything the registry wrote to stdout and stderr so far (all runs).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    fn write_config(&self) {
        let d = self.dir.path();
        let mut c = String::new();
        c.push_str("version: 0.1\n");
        c.push_str("log:\n  level: info\n  formatter: text\n");
        c.push_str(&format!(
            "storage:\n  filesystem:\n    rootdirectory: \"{}\"\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n",
            d.join("storage").display()
        ));
        // A fixed secret keeps upload state valid across restarts.
        c.push_str(&format!("http:\n  addr: 127.0.0.1:{}\n  secret: gantry-test-registry-secret\n", self.port));
        if self.opts.tls {
            c.push_str(&format!(
                "  tls:\n    certificate: \"{}\"\n    key: \"{}\"\n",
                d.join("tls/server.crt").display(),
                d.join("tls/server.key").display()
            ));
        }
        match &self.opts.auth {
            RegistryAuth::None => {}
            RegistryAuth::Htpasswd { .. } => c.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: {HTPASSWD_REALM}\n    path: \"{}\"\n",
                d.join("htpasswd").display()
            )),
            RegistryAuth::Token { .. } => c.push_str(&format!(
                "auth:\n  token:\n    realm: \"{}\"\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    \
                 rootcertbundle: \"{}\"\n",
                self.token_realm().expect("token service"),
                d.join("token-signer.crt").display()
            )),
        }
        fs::write(self.config_path(), c).expect("write registry config");
    }

    fn spawn(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("registry.log"))
            .expect("open registry.log");
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .arg(self.config_path())
            .env_clear() // REGISTRY_* variables would override the configuration
            .env("PATH", SYSTEM_PATH)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        let (pid, waiter) = crate::peers::spawn_tied(cmd, "registry", libc::SIGKILL)
            .unwrap_or_else(|e| panic!("start {}: {e}", self.bin.display()));
        self.running = Some(Running { pid, waiter });
    }

    /// Waits until `GET /v2/` answers 200 or 401. On failure, kills the registry and
    /// returns the tail of its log.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if !self.is_running() {
                self.kill();
                return Err(format!("docker-registry exited during startup; its log ends with:\n{}", self.log_tail()));
            }
            if let Some(200 | 401) = self.probe() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "docker-registry did not answer GET /v2/ within {START_TIMEOUT:?}; its log ends with:\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The status of `GET /v2/`, if the registry answered.
    fn probe(&self) -> Option<u16> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        if self.opts.tls {
            drop(s);
            let ca = self.dir.path().join("tls/ca.crt");
            let out = Command::new(find_tool("curl", "curl"))
                .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--cacert"])
                .arg(ca)
                .arg(format!("{}/v2/", self.url()))
                .stdin(Stdio::null())
                .output()
                .ok()?;
            return String::from_utf8_lossy(&out.stdout).trim().parse().ok();
        }
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let req = format!("GET /v2/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.host());
        s.write_all(req.as_bytes()).ok()?;
        let head = http::read_head(&mut BufReader::new(s)).ok()??;
        Some(head.status())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An htpasswd line `user:HASH` with a bcrypt hash, the only scheme distribution accepts.
pub fn htpasswd_line(user: &str, password: &str) -> String {
    format!("{user}:{}", pki::bcrypt_hash(password))
}

/// Removes directories left in the temporary directory by registries of test processes
/// that died without cleaning up (their registries died with them: parent-death signal).
fn sweep_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return };
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let owner = fs::read_to_string(e.path().join("owner")).ok().and_then(|s| s.trim().parse::<i32>().ok());
        match owner {
            Some(pid) if !Path::new(&format!("/proc/{pid}")).exists() => {
                let _ = fs::remove_dir_all(e.path());
            }
            _ => {} // alive, or not ours to judge (no owner file yet)
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("find a free port").port()
}

fn find_tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain(std::env::split_paths(SYSTEM_PATH)) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("{name} is required by this test but is not installed: apt-get install {package} (.ci/run installs it)");
}
