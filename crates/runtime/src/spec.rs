//! The OCI runtime configuration (`config.json`) of a container, with Docker's
//! defaults: the same namespaces, capabilities, mounts, masked and read-only paths,
//! device rules and seccomp profile that `docker run` gives, so that a program behaves
//! the same under gantry as under docker.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use crate::RuntimeError;

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel knows, in kernel order (index = capability number).
pub const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const MASKED_PATHS: [&str; 10] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Which network a container sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// The host's own network namespace (`--network host`, and RUN in builds by default).
    #[default]
    Host,
    /// A namespace of its own with only a loopback interface (`--network none`).
    None,
}

/// A mount beyond the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub destination: String,
    pub source: PathBuf,
    /// `bind` or `tmpfs`.
    pub kind: MountKind,
    pub readonly: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    /// Size in bytes and mode, the kernel's defaults when absent.
    Tmpfs {
        size: Option<i64>,
        mode: Option<u32>,
    },
}

/// The numeric identity a process runs as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Cgroup limits (`--memory`, `--cpus`, `--pids-limit`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
}

/// What a container is made of, independent of the OCI encoding.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub rootfs: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: User,
    pub terminal: bool,
    pub hostname: String,
    pub network: Network,
    pub mounts: Vec<Mount>,
    pub readonly_rootfs: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    /// `--security-opt seccomp=`: `unconfined`, or a profile's JSON in docker's format;
    /// docker's default profile when absent. Privileged containers have none.
    pub seccomp: Option<String>,
    pub resources: Resources,
    /// The cgroup the container is placed in, relative to the hierarchy roots.
    pub cgroups_path: Option<String>,
    /// A network namespace made beforehand to join instead of a new one (so its
    /// networking can be set up while the container is being created).
    pub netns_path: Option<PathBuf>,
}

/// `NET_ADMIN` and `cap_net_admin` to `CAP_NET_ADMIN`, as docker accepts both.
fn normalize_cap(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// Every capability this process may hand on (its bounding set): `--privileged` and
/// `--cap-add ALL` mean these, as in docker (a VM may withhold some, such as
/// CAP_SYS_RESOURCE, and asking for one the kernel refuses fails the start).
fn available_capabilities() -> Vec<String> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_string())))
        .and_then(|hex| u64::from_str_radix(&hex, 16).ok())
        .unwrap_or(u64::MAX);
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

impl ContainerSpec {
    /// The capabilities the process gets: docker's defaults, or all when privileged,
    /// then `--cap-add`, then `--cap-drop` (`ALL` accepted in both).
    pub fn capabilities(&self) -> Result<Vec<String>, RuntimeError> {
        let known = |c: &str| ALL_CAPABILITIES.contains(&c) || c == "CAP_ALL";
        let mut caps: Vec<String> = if self.privileged {
            available_capabilities()
        } else {
            DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
        };
        let adds: Vec<String> = self.cap_add.iter().map(|c| normalize_cap(c)).collect();
        let drops: Vec<String> = self.cap_drop.iter().map(|c| normalize_cap(c)).collect();
        for c in adds.iter().chain(&drops) {
            if !known(c) {
                return Err(RuntimeError::Invalid(format!("unknown capability: {c:?}")));
            }
        }
        if drops.iter().any(|c| c == "CAP_ALL") {
            caps.clear();
        } else {
            caps.retain(|c| !drops.contains(c));
        }
        if adds.iter().any(|c| c == "CAP_ALL") {
            caps = available_capabilities();
            caps.retain(|c| !drops.contains(c));
        } else {
            for c in adds {
                if !caps.contains(&c) && !drops.contains(&c) {
                    caps.push(c);
                }
            }
        }
        Ok(caps)
    }

    /// The OCI runtime configuration.
    pub fn to_oci(&self) -> Result<Spec, RuntimeError> {
        let caps = self.capabilities()?;
        let mut namespaces =
            vec![json!({"type": "pid"}), json!({"type": "ipc"}), json!({"type": "uts"}), json!({"type": "mount"})];
        if self.network != Network::Host {
            namespaces.push(match &self.netns_path {
                Some(p) => json!({"type": "network", "path": p}),
                None => json!({"type": "network"}),
            });
        }
        let mut mounts = vec![
            json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
            json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
            json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                   "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
            json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                   "options": ["nosuid", "noexec", "nodev", if self.privileged { "rw" } else { "ro" }]}),
            json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                   "options": ["nosuid", "noexec", "nodev"]}),
            json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                   "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        ];
        for m in &self.mounts {
            let mut options: Vec<String> = Vec::new();
            let (kind, source) = match m.kind {
                MountKind::Bind => {
                    options.extend(["rbind".into(), "rprivate".into()]);
                    ("bind", m.source.to_string_lossy().into_owned())
                }
                MountKind::Tmpfs { size, mode } => {
                    options.extend(["nosuid".into(), "nodev".into(), "noexec".into()]);
                    options.extend(size.map(|s| format!("size={s}")));
                    options.extend(mode.map(|m| format!("mode={m:o}")));
                    ("tmpfs", "tmpfs".to_string())
                }
            };
            options.push(if m.readonly { "ro" } else { "rw" }.into());
            mounts.push(json!({"destination": m.destination, "type": kind, "source": source, "options": options}));
        }
        let mut linux = json!({
            "namespaces": namespaces,
            "resources": self.resources_json(),
        });
        if !self.privileged {
            linux["maskedPaths"] = json!(MASKED_PATHS);
            linux["readonlyPaths"] = json!(READONLY_PATHS);
            let seccomp = match self.seccomp.as_deref() {
                None => Some(crate::seccomp::docker_default(&caps)),
                Some("unconfined") => None,
                Some(profile) => Some(
                    crate::seccomp::from_docker_json(profile, &caps)
                        .map_err(|e| RuntimeError::Invalid(format!("seccomp profile: {e}")))?,
                ),
            };
            if let Some(seccomp) = seccomp {
                linux["seccomp"] = serde_json::to_value(seccomp).map_err(|e| RuntimeError::Invalid(e.to_string()))?;
            }
        }
        if let Some(path) = &self.cgroups_path {
            linux["cgroupsPath"] = json!(path);
        }
        let spec = json!({
            "ociVersion": "1.0.2",
            "process": self.process_json(&caps),
            "root": {"path": self.rootfs, "readonly": self.readonly_rootfs},
            "hostname": self.hostname,
            "mounts": mounts,
            "linux": linux,
        });
        let mut spec = spec;
        // Only when set: libcontainer 0.7 loads seccomp after dropping capabilities
        // whenever the field is present, even as false, and then fails without NNP.
        if self.no_new_privileges {
            spec["process"]["noNewPrivileges"] = json!(true);
        }
        serde_json::from_value(spec).map_err(|e| RuntimeError::Invalid(format!("runtime configuration: {e}")))
    }

    fn process_json(&self, caps: &[String]) -> Value {
        json!({
            "terminal": self.terminal,
            "user": {
                "uid": self.user.uid,
                "gid": self.user.gid,
                "additionalGids": self.user.additional_gids,
            },
            "args": self.args,
            "env": self.env,
            "cwd": if self.cwd.is_empty() { "/" } else { self.cwd.as_str() },
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        })
    }

    /// The OCI process alone (`process.json`), for a process joining a running
    /// container (`exec`): same capabilities as the container's.
    pub fn write_process(&self, path: &Path) -> Result<(), RuntimeError> {
        let caps = self.capabilities()?;
        let mut p = self.process_json(&caps);
        if self.no_new_privileges {
            p["noNewPrivileges"] = json!(true);
        }
        let process: oci_spec::runtime::Process =
            serde_json::from_value(p).map_err(|e| RuntimeError::Invalid(format!("process: {e}")))?;
        let bytes = serde_json::to_vec(&process).map_err(|e| RuntimeError::Invalid(e.to_string()))?;
        std::fs::write(path, bytes).map_err(|e| RuntimeError::io(path, e))
    }

    fn resources_json(&self) -> Value {
        // Docker's device rules: nothing but the usual character devices.
        let dev = |kind: &str, major: Option<i64>, minor: Option<i64>, access: &str| json!({"allow": true, "type": kind, "major": major, "minor": minor, "access": access});
        let mut devices = vec![json!({"allow": false, "access": "rwm"})];
        if self.privileged {
            devices = vec![json!({"allow": true, "access": "rwm"})];
        } else {
            devices.extend([
                dev("c", None, None, "m"),
                dev("b", None, None, "m"),
                dev("c", Some(1), Some(3), "rwm"),
                dev("c", Some(1), Some(8), "rwm"),
                dev("c", Some(1), Some(7), "rwm"),
                dev("c", Some(5), Some(0), "rwm"),
                dev("c", Some(1), Some(5), "rwm"),
                dev("c", Some(1), Some(9), "rwm"),
                dev("c", Some(136), None, "rwm"),
                dev("c", Some(5), Some(2), "rwm"),
                dev("c", Some(10), Some(200), "rwm"),
            ]);
        }
        let mut r = json!({"devices": devices});
        if let Some(m) = self.resources.memory {
            // Docker sets the swap limit to twice the memory when none is given.
            r["memory"] = json!({"limit": m, "swap": m.saturating_mul(2)});
        }
        if let Some(c) = self.resources.cpus {
            let period = 100_000u64;
            r["cpu"] = json!({"quota": (c * period as f64) as i64, "period": period});
        }
        if let Some(p) = self.resources.pids_limit {
            r["pids"] = json!({"limit": p});
        }
        r
    }

    /// Writes `config.json` into `bundle`; returns what it holds.
    pub fn write_bundle(&self, bundle: &Path) -> Result<Spec, RuntimeError> {
        let spec = self.to_oci()?;
        let path = bundle.join("config.json");
        let bytes = serde_json::to_vec_pretty(&spec).map_err(|e| RuntimeError::Invalid(e.to_string()))?;
        std::fs::write(&path, bytes).map_err(|e| RuntimeError::io(&path, e))?;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            rootfs: "/r".into(),
            args: vec!["/bin/sh".into()],
            env: vec!["PATH=/bin".into()],
            hostname: "abc".into(),
            ..Default::default()
        }
    }

    #[test]
    fn docker_defaults() {
        let s = serde_json::to_value(spec().to_oci().unwrap()).unwrap();
        let caps = s["process"]["capabilities"]["bounding"].as_array().unwrap();
        assert_eq!(caps.len(), 14);
        assert!(s["process"]["capabilities"].get("inheritable").is_none());
        let ns: Vec<&str> =
            s["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount"]);
        assert_eq!(s["linux"]["maskedPaths"].as_array().unwrap().len(), 10);
        assert_eq!(s["linux"]["readonlyPaths"][4], "/proc/sysrq-trigger");
        let dests: Vec<&str> =
            s["mounts"].as_array().unwrap().iter().map(|m| m["destination"].as_str().unwrap()).collect();
        assert_eq!(dests, ["/proc", "/dev", "/dev/pts", "/sys", "/dev/mqueue", "/dev/shm"]);
        assert_eq!(s["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    }

    #[test]
    fn capability_adjustments() {
        let mut s = spec();
        s.cap_add = vec!["net_admin".into()];
        s.cap_drop = vec!["CAP_CHOWN".into()];
        let caps = s.capabilities().unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        s.cap_drop = vec!["ALL".into()];
        assert_eq!(s.capabilities().unwrap(), ["CAP_NET_ADMIN"]);
        s.cap_add = vec!["CAP_BOGUS".into()];
        assert!(s.capabilities().is_err());
        let mut p = spec();
        p.privileged = true;
        assert_eq!(p.capabilities().unwrap(), available_capabilities());
        assert!(available_capabilities().contains(&"CAP_SYS_ADMIN".to_string()));
        let v = serde_json::to_value(p.to_oci().unwrap()).unwrap();
        assert!(v["linux"].get("seccomp").is_none() || v["linux"]["seccomp"].is_null());
    }

    #[test]
    fn limits_and_network() {
        let mut s = spec();
        s.network = Network::None;
        s.resources = Resources { memory: Some(64 << 20), cpus: Some(0.5), pids_limit: Some(10) };
        let v = serde_json::to_value(s.to_oci().unwrap()).unwrap();
        assert!(v["linux"]["namespaces"].as_array().unwrap().iter().any(|n| n["type"] == "network"));
        assert_eq!(v["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(v["linux"]["resources"]["cpu"]["quota"], 50_000);
        assert_eq!(v["linux"]["resources"]["pids"]["limit"], 10);
    }
}
