//! The peer tools that interop tests compare gantry with: a private `dockerd`, and
//! `podman`, `skopeo` and `umoci` on temporary stores.
//!
//! Every peer runs on state of its own in a temporary directory, never on the host's
//! default stores (`/var/lib/docker`, `/var/lib/containers`), so tests can run in
//! parallel, on a developer's machine as in CI, and leave nothing behind. A missing
//! tool panics with a message naming the Debian package: an interop test must fail,
//! not pass silently, where its peer is absent (`.ci/run` installs them all).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Run;

/// How long a fresh dockerd may take to answer `docker version`.
const DOCKERD_START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long dockerd may take to shut down after SIGTERM before it is killed.
const DOCKERD_STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Prefix of the temporary directories of dockerd instances (swept when stale).
const DOCKERD_DIR_PREFIX: &str = "gantry-dockerd-";

/// A PATH that finds the daemons' helpers (containerd, runc, docker-init) even when
/// the test runs with a minimal environment.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn tool_missing(name: &str, package: &str) -> ! {
    panic!("{name} is required by this test but is not installed: apt-get install {package} (.ci/run installs it)");
}

/// Like [`crate::require_tool`], with the Debian package to install in the message.
fn find_tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(std::env::split_paths(SYSTEM_PATH));
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    tool_missing(name, package)
}

fn output(mut cmd: Command, what: &str) -> Run {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("start {what}: {e}"));
    Run::from(out)
}

/// Returns stdout of a run that must have succeeded, or fails the test with its streams.
fn expect_ok(what: &str, args: &[&str], r: Run) -> String {
    assert!(r.success(), "{what} {args:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}", r.code, r.stdout, r.stderr);
    r.stdout
}

/// A private docker daemon (Debian's docker.io) on a temporary data-root, exec-root
/// and unix socket, with no iptables or bridge changes to the host.
///
/// Tests in one binary share one with [`Dockerd::shared`] (a daemon takes a few
/// seconds to start); [`Dockerd::start`] gives one of its own that stops on drop.
/// Either way the daemon cannot outlive the test process: it is started with
/// `PR_SET_PDEATHSIG` from a thread that lives exactly as long as the daemon (the
/// signal follows the creating *thread*, so it must not be a test's thread), the shared
/// one is stopped by an `atexit` handler, and directories left by a killed run are
/// swept by the next start.
pub struct Dockerd {
    dir: PathBuf,
    sock: PathBuf,
    client: PathBuf,
    pid: i32,
    waiter: Mutex<Option<JoinHandle<Option<ExitStatus>>>>,
}

static SHARED_DOCKERD: OnceLock<Dockerd> = OnceLock::new();

extern "C" fn stop_shared_dockerd() {
    if let Some(d) = SHARED_DOCKERD.get() {
        d.stop();
    }
}

impl Dockerd {
    /// The daemon shared by every test of this test binary, started on first use and
    /// stopped when the process exits.
    pub fn shared() -> &'static Dockerd {
        SHARED_DOCKERD.get_or_init(|| {
            let d = Dockerd::start();
            // SAFETY: registering a plain `extern "C" fn` with no arguments.
            let rc = unsafe { libc::atexit(stop_shared_dockerd) };
            assert_eq!(rc, 0, "atexit failed: the shared dockerd would outlive the tests");
            d
        })
    }

    /// Starts a private dockerd and waits (at most 60 s) until `docker version` answers.
    pub fn start() -> Dockerd {
        let dockerd = find_tool("dockerd", "docker.io");
        let client = docker_client();
        sweep_stale_dirs();
        let dir = tempfile::Builder::new()
            .prefix(DOCKERD_DIR_PREFIX)
            .tempdir_in("/tmp") // a short path: the sockets below must fit in 108 bytes
            .expect("create dockerd temp dir")
            .keep();
        fs::write(dir.join("owner"), std::process::id().to_string()).expect("write owner pid");
        fs::write(dir.join("daemon.json"), "{}\n").expect("write daemon.json");
        fs::create_dir_all(dir.join("client")).expect("create client config dir");
        let sock = dir.join("docker.sock");
        let log = fs::File::create(dir.join("dockerd.log")).expect("create dockerd.log");

        let mut cmd = Command::new(&dockerd);
        cmd.arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args(["--iptables=false", "--bridge=none"])
            .env("PATH", system_path())
            .env_remove("DOCKER_HOST")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        // SIGTERM: dockerd then stops its containerd and exits.
        let (pid, waiter) =
            spawn_tied(cmd, "dockerd", libc::SIGTERM).unwrap_or_else(|e| panic!("start {}: {e}", dockerd.display()));
        let d = Dockerd { dir, sock, client, pid, waiter: Mutex::new(Some(waiter)) };

        let deadline = Instant::now() + DOCKERD_START_TIMEOUT;
        loop {
            if d.exited() {
                let log = d.log_tail();
                d.stop();
                panic!("dockerd exited during startup; its log ends with:\n{log}");
            }
            if d.sock.exists() && d.docker(&["version", "--format", "{{.Server.Version}}"]).success() {
                return d;
            }
            if Instant::now() > deadline {
                let log = d.log_tail();
                d.stop();
                panic!("dockerd did not answer `docker version` within 60 s; its log ends with:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The daemon's socket, for tools that take a `unix://` host.
    pub fn socket(&self) -> &Path {
        &self.sock
    }

    /// The daemon's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// `docker -H unix://SOCK ARGS...`, not started: Debian's 20.10 client
    /// (`/usr/bin/docker`) with a private client config directory.
    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.client);
        c.arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("client"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .stdin(Stdio::null());
        c
    }

    /// Runs `docker ARGS...` against this daemon.
    pub fn docker(&self, args: &[&str]) -> Run {
        output(self.docker_cmd(args), "docker")
    }

    /// Runs `docker ARGS...` and returns its stdout; fails the test if it fails.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        expect_ok("docker", args, self.docker(args))
    }

    fn exited(&self) -> bool {
        match self.waiter.lock().unwrap().as_ref() {
            Some(h) => h.is_finished(),
            None => true,
        }
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Stops the daemon (SIGTERM, then SIGKILL after 20 s), unmounts what it left
    /// mounted and removes its directory. Idempotent.
    fn stop(&self) {
        let Some(waiter) = self.waiter.lock().unwrap().take() else { return };
        if !waiter.is_finished() {
            // SAFETY: signalling the child we started; it is not reaped before `waiter` ends.
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
            let deadline = Instant::now() + DOCKERD_STOP_TIMEOUT;
            while !waiter.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if !waiter.is_finished() {
                // SAFETY: as above.
                unsafe { libc::kill(self.pid, libc::SIGKILL) };
            }
        }
        let _ = waiter.join();
        // dockerd stops the containerd it started; make sure of it (containerd's pidfile).
        kill_pidfile(&self.dir.join("exec/containerd/containerd.pid"));
        remove_tree(&self.dir);
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Debian's docker 20.10 client, which matches Debian's dockerd, when both it and
/// another (e.g. /usr/local/bin/docker) are installed.
fn docker_client() -> PathBuf {
    let debian = Path::new("/usr/bin/docker");
    if debian.is_file() {
        return debian.to_path_buf();
    }
    find_tool("docker", "docker.io")
}

fn system_path() -> String {
    match std::env::var("PATH") {
        Ok(p) if !p.is_empty() => format!("{SYSTEM_PATH}:{p}"),
        _ => SYSTEM_PATH.to_string(),
    }
}

/// Spawns `cmd` from a thread of its own that waits for it, so the thread lives exactly
/// as long as the child, and the kernel sends the child `signal` when the thread — that
/// is, the test process — dies: no peer outlives a killed test. Returns the child's pid
/// and the thread, which yields the exit status.
pub(crate) fn spawn_tied(
    mut cmd: Command,
    name: &str,
    signal: libc::c_int,
) -> std::io::Result<(i32, JoinHandle<Option<ExitStatus>>)> {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl, getppid and _exit are async-signal-safe; nothing is allocated.
    unsafe {
        let parent = libc::getpid();
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::Builder::new().name(format!("{name}-waiter")).spawn(move || match cmd.spawn() {
        Ok(mut child) => {
            let _ = tx.send(Ok(child.id() as i32));
            child.wait().ok()
        }
        Err(e) => {
            let _ = tx.send(Err(e));
            None
        }
    })?;
    let pid = rx.recv().map_err(|_| std::io::Error::other(format!("{name} waiter thread died")))??;
    Ok((pid, waiter))
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn kill_pidfile(pidfile: &Path) {
    let Ok(text) = fs::read_to_string(pidfile) else { return };
    let Ok(pid) = text.trim().parse::<i32>() else { return };
    if pid <= 1 || !pid_alive(pid) {
        return;
    }
    // Only if it is still the containerd this directory's daemon started.
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let dir = pidfile.parent().and_then(|p| p.parent()).and_then(|p| p.parent()).unwrap_or(pidfile);
    if !String::from_utf8_lossy(&cmdline).contains(&*dir.to_string_lossy()) {
        return;
    }
    // SAFETY: plain signal to a process whose command line names our directory.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    for _ in 0..100 {
        if !pid_alive(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes directories that dockerd instances of dead test processes left in /tmp
/// (a test process killed by a signal runs no cleanup; its daemon died with it).
fn sweep_stale_dirs() {
    let Ok(entries) = fs::read_dir("/tmp") else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().starts_with(DOCKERD_DIR_PREFIX) {
            continue;
        }
        let dir = e.path();
        let owner = fs::read_to_string(dir.join("owner")).ok().and_then(|s| s.trim().parse::<i32>().ok());
        if matches!(owner, Some(pid) if pid_alive(pid)) {
            continue;
        }
        let daemon = fs::read_to_string(dir.join("docker.pid")).ok().and_then(|s| s.trim().parse::<i32>().ok());
        if matches!(daemon, Some(pid) if pid_alive(pid)) {
            continue; // still shutting down: leave it for a later sweep
        }
        kill_pidfile(&dir.join("exec/containerd/containerd.pid"));
        remove_tree(&dir);
    }
}

/// Mount points at or below `dir`, deepest first (from /proc/self/mountinfo).
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    found
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts everything below `dir` (lazily), then removes it.
fn remove_tree(dir: &Path) {
    use std::os::unix::ffi::OsStrExt;
    for m in mounts_under(dir) {
        let Ok(c) = std::ffi::CString::new(m.as_os_str().as_bytes()) else { continue };
        // SAFETY: a valid NUL-terminated path.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
    let _ = fs::remove_dir_all(dir);
}

/// podman (Debian's package) on a temporary store: `--root`, `--runroot`, `--tmpdir`,
/// the vfs storage driver (no mounts to clean up) and a `containers.conf` with runc and
/// lower default ulimits, which this machine's hybrid cgroups and missing
/// CAP_SYS_RESOURCE require (see DESIGN.md). Removed on drop.
pub struct Podman {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Podman {
    /// A podman with an empty store of its own.
    pub fn new() -> Podman {
        let bin = find_tool("podman", "podman");
        let dir = tempfile::Builder::new().prefix("gantry-podman-").tempdir().expect("create podman temp dir");
        let d = dir.path();
        for sub in ["root", "runroot", "tmp", "networks", "volumes"] {
            fs::create_dir_all(d.join(sub)).expect("create podman dirs");
        }
        let conf = format!(
            "[containers]\n\
             default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             \n\
             [engine]\n\
             runtime = \"runc\"\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             events_logfile_path = \"{events}\"\n\
             \n\
             [network]\n\
             network_config_dir = \"{networks}\"\n",
            events = d.join("events.log").display(),
            networks = d.join("networks").display(),
        );
        fs::write(d.join("containers.conf"), conf).expect("write containers.conf");
        let storage = format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            d.join("root").display(),
            d.join("runroot").display()
        );
        fs::write(d.join("storage.conf"), storage).expect("write storage.conf");
        Podman { bin, dir }
    }

    /// The temporary directory holding this podman's store and configuration.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `podman --root ... ARGS...` on this store, not started.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut c = Command::new(&self.bin);
        c.arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .arg("--volumepath")
            .arg(d.join("volumes"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(args)
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", d.join("storage.conf"))
            .env("TMPDIR", d.join("tmp"))
            .env("PATH", system_path())
            .env_remove("CONTAINER_HOST")
            .env_remove("CONTAINER_CONNECTION")
            .stdin(Stdio::null());
        c
    }

    /// Runs `podman ARGS...` on this store.
    pub fn run(&self, args: &[&str]) -> Run {
        output(self.cmd(args), "podman")
    }

    /// Runs `podman ARGS...` and returns its stdout; fails the test if it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        expect_ok("podman", args, self.run(args))
    }
}

impl Default for Podman {
    fn default() -> Self {
        Podman::new()
    }
}

/// skopeo (Debian's package) with no signature policy checks (the transports tested
/// are local archives) and a private temporary directory.
pub struct Skopeo {
    bin: PathBuf,
    tmp: tempfile::TempDir,
}

impl Skopeo {
    /// A skopeo runner; fails the test if skopeo is not installed.
    pub fn new() -> Skopeo {
        let bin = find_tool("skopeo", "skopeo");
        let tmp = tempfile::Builder::new().prefix("gantry-skopeo-").tempdir().expect("create skopeo temp dir");
        Skopeo { bin, tmp }
    }

    /// `skopeo --insecure-policy --tmpdir TMP ARGS...`, not started.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--insecure-policy")
            .arg("--tmpdir")
            .arg(self.tmp.path())
            .args(args)
            .env("TMPDIR", self.tmp.path())
            .stdin(Stdio::null());
        c
    }

    /// Runs `skopeo ARGS...`.
    pub fn run(&self, args: &[&str]) -> Run {
        output(self.cmd(args), "skopeo")
    }

    /// Runs `skopeo ARGS...` and returns its stdout; fails the test if it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        expect_ok("skopeo", args, self.run(args))
    }
}

impl Default for Skopeo {
    fn default() -> Self {
        Skopeo::new()
    }
}

/// umoci (Debian's package): the OCI image-layout reference tool, which verifies
/// every blob digest it reads, so it is a strict validator of gantry's OCI output.
pub struct Umoci {
    bin: PathBuf,
}

impl Umoci {
    /// A umoci runner; fails the test if umoci is not installed.
    pub fn new() -> Umoci {
        Umoci { bin: find_tool("umoci", "umoci") }
    }

    /// `umoci ARGS...`, not started.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args).stdin(Stdio::null());
        c
    }

    /// Runs `umoci ARGS...`.
    pub fn run(&self, args: &[&str]) -> Run {
        output(self.cmd(args), "umoci")
    }

    /// Runs `umoci ARGS...` and returns its stdout; fails the test if it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        expect_ok("umoci", args, self.run(args))
    }
}

impl Default for Umoci {
    fn default() -> Self {
        Umoci::new()
    }
}

#[cfg(test)]
mod tests {
    //! The peers start here, and they accept the testkit's base images with the IDs and
    //! DiffIDs that `base` computed: what every interop test relies on.
    use super::*;
    use crate::base;

    #[test]
    fn dockerd_loads_the_base_with_its_id_and_stops_cleanly() {
        let tmp = tempfile::tempdir().unwrap();
        let img = base::archive_with_layers(tmp.path(), "testkit/dockerd", &[("data/x.bin".into(), 4096, 1)]);
        let d = Dockerd::start();
        let dir = d.dir.clone();
        let pid = d.pid();
        let out = d.docker_ok(&["load", "-i", img.archive.to_str().unwrap()]);
        assert!(out.contains("Loaded image: testkit/dockerd:latest"), "{out}");
        let id = d.docker_ok(&["inspect", "--format", "{{.Id}}", "testkit/dockerd"]);
        assert_eq!(id.trim(), img.id);
        let diff_ids = d.docker_ok(&["inspect", "--format", "{{json .RootFS.Layers}}", "testkit/dockerd"]);
        assert_eq!(serde_json::from_str::<Vec<String>>(diff_ids.trim()).unwrap(), img.diff_ids);
        drop(d);
        assert!(!pid_alive(pid), "dockerd {pid} still runs after drop");
        assert!(!dir.exists(), "{} left behind", dir.display());
        assert!(mounts_under(&dir).is_empty(), "mounts left under {}", dir.display());
    }

    #[test]
    fn podman_loads_the_base_with_its_id() {
        let tmp = tempfile::tempdir().unwrap();
        let img = base::busybox_archive(tmp.path(), "testkit/podman");
        let p = Podman::new();
        p.ok(&["load", "-i", img.archive.to_str().unwrap()]);
        let id = p.ok(&["image", "inspect", "--format", "{{.Id}}", "testkit/podman:latest"]);
        assert_eq!(id.trim(), img.id_hex());
        let out = p.ok(&["run", "--rm", "--network", "none", "testkit/podman", "/bin/sh", "-c", "echo hi from $0"]);
        assert_eq!(out.trim(), "hi from /bin/sh");
    }

    #[test]
    fn skopeo_and_umoci_read_the_base() {
        let tmp = tempfile::tempdir().unwrap();
        let img = base::busybox_archive(tmp.path(), "testkit/skopeo");
        let s = Skopeo::new();
        let src = format!("docker-archive:{}", img.archive.display());
        let raw = s.ok(&["inspect", "--config", "--raw", &src]);
        assert_eq!(base::sha256_digest(raw.as_bytes()), img.id);
        let layout = tmp.path().join("layout");
        s.ok(&["copy", &src, &format!("oci:{}:v1", layout.display())]);
        let u = Umoci::new();
        let bundle = tmp.path().join("bundle");
        u.ok(&["unpack", "--image", &format!("{}:v1", layout.display()), bundle.to_str().unwrap()]);
        let busybox = bundle.join("rootfs/bin/busybox");
        assert_eq!(fs::read(busybox).unwrap(), fs::read(base::busybox_binary()).unwrap());
        let sh = fs::read_link(bundle.join("rootfs/bin/sh")).unwrap();
        assert_eq!(sh, Path::new("busybox"));
    }
}
