//! A container as gantry keeps it: the configuration `create` decided (stored as JSON
//! in the container's record) and the live state its monitor writes beside its files
//! (`state.json`, replaced atomically). Liveness is the monitor's flock on
//! `monitor.lock`: a container whose monitor died is reported exited, never running.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use serde::{Deserialize, Serialize};

use crate::RuntimeError;

/// `--restart`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// `no`, `on-failure`, `always` or `unless-stopped`.
    pub name: String,
    pub max_retries: u32,
}

impl RestartPolicy {
    /// Parses docker's `--restart` value.
    pub fn parse(s: &str) -> Result<RestartPolicy, String> {
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let max_retries = match count {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| format!("invalid restart policy format: maximum retry count must be an integer: {c:?}"))?,
        };
        match name {
            "" | "no" if count.is_none() => Ok(RestartPolicy { name: "no".into(), max_retries: 0 }),
            "on-failure" => Ok(RestartPolicy { name: name.into(), max_retries }),
            "always" | "unless-stopped" if count.is_none() => Ok(RestartPolicy { name: name.into(), max_retries: 0 }),
            "no" | "always" | "unless-stopped" => Err(format!(
                "invalid restart policy format: maximum retry count cannot be used with restart policy '{name}'"
            )),
            _ => Err(format!("invalid restart policy format: unknown policy {name:?}")),
        }
    }

    /// Whether a container that ended with `code` starts again, after `restarts`
    /// restarts, unless a user stopped it.
    pub fn restarts(&self, code: i32, restarts: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => code != 0 && (self.max_retries == 0 || restarts < self.max_retries),
            _ => false,
        }
    }
}

/// A bind mount (`-v /host:/ctr[:ro]`, `--mount type=bind`) or a named volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    pub source: PathBuf,
    pub destination: String,
    pub readonly: bool,
    /// The volume's name when `source` is a gantry volume.
    pub volume: Option<String>,
}

/// A tmpfs mount (`--mount type=tmpfs`): memory-backed, empty at every start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tmpfs {
    pub destination: String,
    /// Bytes; the kernel's default (half the memory) when absent.
    pub size: Option<i64>,
    pub mode: Option<u32>,
}

/// What `create` decided; docker's Config and HostConfig folded together. Fields
/// added later read as their defaults from older records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerConfig {
    /// The program (docker's `Path`) and its arguments (`Args`).
    pub path: String,
    pub args: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    /// As given (`name`, `uid:gid`); resolved against the container's own files.
    pub user: String,
    pub hostname: String,
    /// `host` or `none`.
    pub network: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<Tmpfs>,
    pub readonly_rootfs: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub restart: RestartPolicy,
    pub auto_remove: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u64>,
    pub labels: BTreeMap<String, String>,
    /// An external OCI runtime; the builtin executor when absent.
    pub runtime: Option<PathBuf>,
    pub init: bool,
    /// `-p`: host ports relayed to the container's own network namespace.
    pub ports: Vec<crate::ports::PortMap>,
    /// `--security-opt` as given (docker's HostConfig.SecurityOpt).
    pub security_opt: Vec<String>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `--security-opt seccomp=`: `unconfined`, or a profile's JSON; docker's default
    /// profile when absent.
    pub seccomp: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Restarting,
    Exited,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
        }
    }
}

/// What the monitor knows of the container's process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub status: Status,
    /// The container's first process, as seen from the host.
    pub pid: i32,
    pub exit_code: i32,
    /// RFC 3339 with nanoseconds; empty until it happened.
    pub started_at: String,
    pub finished_at: String,
    /// Why gantry could not start the container, if it could not.
    pub error: String,
    pub restart_count: u32,
    pub oom_killed: bool,
    /// Published ports as bound while running (a chosen host port filled in).
    pub ports: Vec<crate::ports::PortMap>,
}

const STATE: &str = "state.json";
const MONITOR_LOCK: &str = "monitor.lock";
/// Present when a user stopped the container: the restart policy leaves it stopped.
pub const STOP_REQUESTED: &str = "stop-requested";

/// Now in docker's time format (RFC 3339, nanoseconds, UTC).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

impl State {
    /// The state as last written (a container never started reads as created).
    pub fn load(dir: &Path) -> Result<State, RuntimeError> {
        let p = dir.join(STATE);
        match std::fs::read(&p) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| RuntimeError::Invalid(format!("{}: {e}", p.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(RuntimeError::io(&p, e)),
        }
    }

    /// The state as it truly is: a running state whose monitor is gone is exited.
    pub fn live(dir: &Path) -> Result<State, RuntimeError> {
        let mut s = State::load(dir)?;
        if matches!(s.status, Status::Running | Status::Restarting) && !monitor_alive(dir) {
            s.status = Status::Exited;
            if s.finished_at.is_empty() {
                s.exit_code = 255;
                s.error = "the container's monitor died".into();
            }
        }
        Ok(s)
    }

    /// Replaces the state file atomically.
    pub fn save(&self, dir: &Path) -> Result<(), RuntimeError> {
        let tmp = dir.join(format!(".{STATE}.{}", std::process::id()));
        let bytes = serde_json::to_vec(self).map_err(|e| RuntimeError::Invalid(e.to_string()))?;
        std::fs::write(&tmp, bytes).map_err(|e| RuntimeError::io(&tmp, e))?;
        std::fs::rename(&tmp, dir.join(STATE)).map_err(|e| RuntimeError::io(&dir.join(STATE), e))
    }
}

/// Takes the monitor lock of a container; `None` when another monitor holds it.
pub fn lock_monitor(dir: &Path) -> Result<Option<File>, RuntimeError> {
    let p = dir.join(MONITOR_LOCK);
    let f = File::options().create(true).truncate(false).write(true).open(&p).map_err(|e| RuntimeError::io(&p, e))?;
    match flock(&f, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(f)),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(RuntimeError::io(&p, e.into())),
    }
}

/// Whether a monitor is watching the container now.
pub fn monitor_alive(dir: &Path) -> bool {
    let Ok(f) = File::open(dir.join(MONITOR_LOCK)) else { return false };
    match flock(&f, FlockOperation::NonBlockingLockShared) {
        Ok(()) => false,
        Err(_) => true,
    }
}

/// Waits until no monitor watches the container, or `timeout` passes; true if none does.
pub fn wait_monitor(dir: &Path, timeout: Option<std::time::Duration>) -> bool {
    let start = std::time::Instant::now();
    loop {
        if !monitor_alive(dir) {
            return true;
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The cgroup directories of a container, whatever the hierarchy layout (v1 or
/// hybrid: one per controller; v2: one).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .map(|h| h.flatten().map(|h| h.path().join("gantry").join(id)).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("/sys/fs/cgroup/gantry").join(id));
    dirs.retain(|d| d.is_dir());
    dirs
}

/// The host PIDs in a container's cgroups.
pub fn cgroup_pids(id: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = cgroup_dirs(id)
        .iter()
        .flat_map(|d| {
            std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// A running container's processes held still (docker's pause, which `commit` uses so
/// that it reads a consistent filesystem), through the cgroup freezer of v1 or v2;
/// they run again when this is dropped.
pub struct Frozen {
    /// The freezer file and what thaws it.
    thaw: Option<(PathBuf, &'static str)>,
}

impl Frozen {
    /// Freezes container `id` and waits until the kernel says every process is frozen.
    pub fn freeze(id: &str) -> Result<Frozen, String> {
        let dirs = cgroup_dirs(id);
        let (file, freeze, thaw, done) = if let Some(d) = dirs.iter().find(|d| d.join("freezer.state").exists()) {
            (d.join("freezer.state"), "FROZEN", "THAWED", (d.join("freezer.state"), "FROZEN"))
        } else if let Some(d) = dirs.iter().find(|d| d.join("cgroup.freeze").exists()) {
            (d.join("cgroup.freeze"), "1", "0", (d.join("cgroup.events"), "frozen 1"))
        } else {
            return Err(format!("container {id} has no freezer cgroup to pause it with"));
        };
        std::fs::write(&file, freeze).map_err(|e| format!("pausing {id}: {}: {e}", file.display()))?;
        let frozen = Frozen { thaw: Some((file, thaw)) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read_to_string(&done.0).is_ok_and(|s| s.lines().any(|l| l.trim() == done.1)) {
            if std::time::Instant::now() > deadline {
                return Err(format!("pausing {id}: its processes did not freeze within 10 s"));
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Ok(frozen)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Some((file, thaw)) = self.thaw.take() {
            let _ = std::fs::write(file, thaw);
        }
    }
}

/// Kills what is left of a container whose monitor died (its processes outlive it):
/// everything in its cgroups, which are then removed.
pub fn kill_orphans(id: &str) {
    for _ in 0..100 {
        let pids = cgroup_pids(id);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            // SAFETY: a signal to a member of the container's own cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    for d in cgroup_dirs(id) {
        let _ = std::fs::remove_dir(d);
    }
}

/// Sends `sig` to the container's process `pid` only if that PID still belongs to
/// the container (its cgroup says so): a PID freed and reused meanwhile is spared.
pub fn signal_process(id: &str, pid: i32, sig: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    if !cgroups.contains(&format!("/gantry/{id}")) {
        return false;
    }
    // SAFETY: signalling a process verified to be the container's.
    unsafe { libc::kill(pid, sig) == 0 }
}

fn exits_dir(store_root: &Path) -> PathBuf {
    store_root.join("containers").join(".exits")
}

/// Records the exit status of a container removed on exit (`--rm`), for `wait`.
pub fn record_removed_exit(store_root: &Path, id: &str, code: i32) {
    let dir = exits_dir(store_root);
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(id), code.to_string());
    // Statuses a day old are of no use to a `wait` any more.
    let day = std::time::Duration::from_secs(86_400);
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|age| age > day)) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The exit status a removed container left (see [`record_removed_exit`]).
pub fn removed_exit_code(store_root: &Path, id: &str) -> Option<i32> {
    std::fs::read_to_string(exits_dir(store_root).join(id)).ok().and_then(|s| s.trim().parse().ok())
}

/// Removes a container's files (its root filesystem unmounted first).
pub fn remove_files(dir: &Path) {
    gantry_store::unmount_rootfs(dir);
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies() {
        assert_eq!(RestartPolicy::parse("no").unwrap().name, "no");
        let p = RestartPolicy::parse("on-failure:2").unwrap();
        assert!(p.restarts(1, 0, false) && p.restarts(1, 1, false) && !p.restarts(1, 2, false));
        assert!(!p.restarts(0, 0, false));
        let a = RestartPolicy::parse("always").unwrap();
        assert!(a.restarts(0, 100, false) && !a.restarts(0, 0, true));
        assert!(RestartPolicy::parse("always:3").is_err());
        assert!(RestartPolicy::parse("sometimes").is_err());
        assert!(RestartPolicy::parse("on-failure:x").is_err());
    }

    #[test]
    fn a_running_state_without_monitor_reads_exited() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(State::live(d.path()).unwrap().status, Status::Created);
        let s = State { status: Status::Running, pid: 1, ..Default::default() };
        s.save(d.path()).unwrap();
        assert_eq!(State::live(d.path()).unwrap().status, Status::Exited);
        let lock = lock_monitor(d.path()).unwrap().unwrap();
        assert!(lock_monitor(d.path()).unwrap().is_none());
        assert!(monitor_alive(d.path()));
        assert_eq!(State::live(d.path()).unwrap().status, Status::Running);
        drop(lock);
        assert!(!monitor_alive(d.path()));
    }
}
