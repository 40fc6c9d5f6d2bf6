//! Which program runs a bundle. gantry's own executor is youki's libcontainer, run in
//! gantry re-executed as a hidden single-threaded helper (libcontainer clones the
//! calling process, unsafe in a multi-threaded one); an external OCI runtime such as
//! runc runs the same bundle with its `run` command. Either way the caller gets a
//! process whose exit status is the container's.

use std::path::{Path, PathBuf};
use std::process::Command;

use gantry_image::Sha256;

/// The hidden subcommand `main` dispatches to [`crate::helper::main`] before anything else.
pub const HELPER_ARG: &str = "__container-helper";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executor {
    /// libcontainer inside `exe` (gantry itself) re-executed as the helper.
    Builtin { exe: PathBuf },
    /// An OCI runtime binary with runc's command line (`--root DIR run --bundle B ID`).
    External { runtime: PathBuf },
}

impl Executor {
    /// gantry's own executor, through the running executable.
    pub fn builtin() -> Result<Executor, crate::RuntimeError> {
        let exe = std::env::current_exe().map_err(|e| crate::RuntimeError::Runtime(format!("own executable: {e}")))?;
        Ok(Executor::Builtin { exe })
    }

    /// The runtime's state directory for a store: under /run (cleared at boot, like
    /// the containers it describes), short so that socket paths in it stay valid.
    pub fn state_dir(store_root: &Path) -> PathBuf {
        let mut h = Sha256::new();
        h.update(store_root.as_os_str().as_encoded_bytes());
        let hex = h.finish().hex();
        PathBuf::from("/run/gantry").join(&hex[..12])
    }

    /// Where compiled seccomp programs are kept: one directory for every store, as a
    /// program is named by its profile's digest (cleared at boot with the rest of /run).
    pub fn program_cache() -> PathBuf {
        PathBuf::from("/run/gantry/seccomp")
    }

    /// The command that runs the container `id` of `bundle` in the foreground; the
    /// caller chooses its stdio. It exits with the container's status (128 + signal
    /// when killed by one).
    pub fn command(&self, state: &Path, bundle: &Path, id: &str) -> Command {
        let mut c = match self {
            Executor::Builtin { exe } => {
                let mut c = Command::new(exe);
                c.arg(HELPER_ARG).arg("run").arg("--root").arg(state);
                c
            }
            Executor::External { runtime } => {
                let mut c = Command::new(runtime);
                c.arg("--root").arg(state).arg("run");
                c
            }
        };
        c.arg("--bundle").arg(bundle).arg(id);
        c
    }

    /// A short name for `gantry info`.
    pub fn name(&self) -> String {
        match self {
            Executor::Builtin { .. } => "libcontainer (builtin)".into(),
            Executor::External { runtime } => runtime.display().to_string(),
        }
    }
}
