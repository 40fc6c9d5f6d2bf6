//! Running processes in containers: OCI runtime bundles generated with Docker's
//! defaults, and the executors that run them (youki's libcontainer inside gantry's
//! single-threaded helper, or an external OCI runtime such as runc).

pub mod commit;
pub mod console;
pub mod container;
pub mod executor;
pub mod filter;
pub mod helper;
pub mod lookup;
pub mod monitor;
pub mod network;
pub mod ports;
pub mod seccomp;
pub mod spec;
pub mod user;
pub mod workload;

use std::path::Path;

pub use executor::Executor;
pub use spec::{ContainerSpec, Mount, MountKind, Network, Resources, User};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// A configuration that cannot be run (unknown capability, bad user...).
    #[error("{0}")]
    Invalid(String),
    /// The container's process could not be started; the code is docker's (126, 127).
    #[error("{message}")]
    Start { message: String, code: i32 },
    #[error("container runtime: {0}")]
    Runtime(String),
}

impl RuntimeError {
    pub fn io(path: &Path, source: std::io::Error) -> RuntimeError {
        RuntimeError::Io { path: path.display().to_string(), source }
    }
}
