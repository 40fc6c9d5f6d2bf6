//! Test-only helpers shared by gantry's end-to-end tests: a `gantry` bound to a
//! temporary root, base images made here from Debian's busybox-static, hostile
//! archives, and the peer tools (dockerd, podman, skopeo, umoci).
//!
//! Tests use these helpers so that each test states what it checks, not how to run a
//! process; a missing peer tool makes a test fail loudly, never pass silently.

pub mod base;
pub mod build;
pub mod curl;
pub mod debian;
pub mod hostile;
pub mod peers;
pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The outcome of one gantry invocation, with the streams decoded for assertions.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// A gantry binary bound to one store root (temporary unless given).
pub struct Gantry {
    bin: PathBuf,
    root: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Drop for Gantry {
    /// A temporary store takes its runtime state directory (in /run) with it.
    fn drop(&mut self) {
        if self._tmp.is_some() {
            let _ = std::fs::remove_dir_all(self.state_dir());
        }
    }
}

impl Gantry {
    /// A gantry on a fresh temporary root, removed when dropped.
    pub fn new(bin: impl Into<PathBuf>) -> Gantry {
        let tmp = tempfile::Builder::new().prefix("gantry-test-").tempdir().expect("create temp root");
        let root = tmp.path().join("root");
        Gantry { bin: bin.into(), root, _tmp: Some(tmp) }
    }

    /// The runtime's state directory of this store (gantry's `Executor::state_dir`).
    fn state_dir(&self) -> PathBuf {
        let mut h = gantry_image::Sha256::new();
        h.update(self.root.as_os_str().as_encoded_bytes());
        PathBuf::from("/run/gantry").join(&h.finish().hex()[..12])
    }

    /// A gantry on a root that the caller owns (several processes sharing one store).
    pub fn with_root(bin: impl Into<PathBuf>, root: &Path) -> Gantry {
        Gantry { bin: bin.into(), root: root.to_path_buf(), _tmp: None }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// `gantry --root ROOT ARGS...`, not started.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args).stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).output().expect("start gantry"))
    }

    /// Runs with `stdin` as standard input.
    pub fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gantry");
        let mut pipe = child.stdin.take().expect("stdin pipe");
        let data = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
        let out = child.wait_with_output().expect("wait for gantry");
        let _ = writer.join();
        Run::from(out)
    }

    /// Runs and returns stdout; fails the test (with stderr) on a non-zero exit.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(r.success(), "gantry {args:?} failed ({:?}):\n{}{}", r.code, r.stdout, r.stderr);
        r.stdout
    }

    /// Runs and returns stderr; fails the test if the command succeeded.
    pub fn fail(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(!r.success(), "gantry {args:?} should have failed:\n{}{}", r.stdout, r.stderr);
        r.stderr
    }
}

/// Asserts docker-style failure output: exactly one non-empty line on stderr, which
/// starts with "Error" and contains `needle` (case-insensitive).
pub fn assert_one_error_line(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{stderr}");
    assert!(lines[0].starts_with("Error"), "error line should start with 'Error': {}", lines[0]);
    assert!(
        lines[0].to_lowercase().contains(&needle.to_lowercase()),
        "error line should mention {needle:?}: {}",
        lines[0]
    );
}

/// Fails loudly when a peer tool that a test needs is not installed (CI installs it).
pub fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("{name} is required by this test but is not installed (.ci/run installs it)");
}
