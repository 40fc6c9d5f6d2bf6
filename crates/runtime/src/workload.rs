//! The last steps of gantry's libcontainer init before the container's program runs:
//! the seccomp filter from a cached program (see [`crate::filter`]), then the
//! capabilities. libcontainer would compile the profile in every container it starts;
//! instead it is given a bundle without the profile and with two more capabilities
//! (CAP_SYS_ADMIN to install a filter without no_new_privs, CAP_SETPCAP to shrink the
//! bounding set), and [`Workload`] installs the filter and drops to the container's
//! capabilities right before `execve`, in runc's order: filter first, then capabilities.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::{Capability, LinuxCapabilities, Process, Spec};

use crate::filter::Program;

/// The directory inside a bundle holding the configuration libcontainer is given.
const SPLIT_BUNDLE: &str = "libcontainer";

/// gantry's executor for libcontainer: finishes what was taken out of the bundle,
/// then runs the program as libcontainer's default executor does.
#[derive(Clone, Default)]
pub struct Workload {
    program: Option<Arc<Program>>,
    capabilities: Option<LinuxCapabilities>,
}

impl Workload {
    /// The bundle libcontainer is to run for `bundle` (whose configuration is `spec`)
    /// and the executor that finishes it: `bundle` itself, or its split form when the
    /// seccomp program can be cached.
    pub fn prepare(bundle: &Path, spec: &Spec) -> Result<(PathBuf, Workload), String> {
        let mut split = spec.clone();
        let workload = Workload::split(&mut split)?;
        if !workload.is_split() {
            return Ok((bundle.to_path_buf(), workload));
        }
        if let Some(root) = split.root_mut() {
            if root.path().is_relative() {
                root.set_path(bundle.join(root.path()));
            }
        }
        let dir = bundle.join(SPLIT_BUNDLE);
        let path = dir.join("config.json");
        std::fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|()| split.save(&path).map_err(|e| e.to_string()))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((dir, workload))
    }

    /// Takes the seccomp profile out of `spec` when its program can be cached, and
    /// lets the process keep the capabilities it needs to install it.
    fn split(spec: &mut Spec) -> Result<Workload, String> {
        let Some(program) = profile_program(spec)? else {
            return Ok(Workload::default());
        };
        if let Some(linux) = spec.linux_mut() {
            linux.set_seccomp(None);
        }
        let mut w = Workload { program: Some(Arc::new(program)), capabilities: None };
        if let Some(process) = spec.process_mut() {
            w.take_capabilities(process);
        }
        Ok(w)
    }

    /// For a process joining a container whose bundle was split: the container's
    /// program (from its original bundle) and the process's capabilities.
    pub fn split_process(process: &mut Process, split_bundle: &Path) -> Result<Workload, String> {
        let Some(bundle) = original_bundle(split_bundle) else {
            return Ok(Workload::default());
        };
        let path = bundle.join("config.json");
        let spec = Spec::load(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let Some(program) = profile_program(&spec)? else {
            return Ok(Workload::default());
        };
        let mut w = Workload { program: Some(Arc::new(program)), capabilities: None };
        w.take_capabilities(process);
        Ok(w)
    }

    /// Whether anything was taken out of the bundle.
    pub fn is_split(&self) -> bool {
        self.program.is_some()
    }

    fn take_capabilities(&mut self, process: &mut Process) {
        let Some(caps) = process.capabilities().clone() else { return };
        let mut widened = caps.clone();
        let add = |set: &Option<oci_spec::runtime::Capabilities>| {
            let mut set = set.clone().unwrap_or_default();
            set.extend([Capability::SysAdmin, Capability::Setpcap]);
            Some(set)
        };
        widened.set_bounding(add(caps.bounding()));
        widened.set_effective(add(caps.effective()));
        widened.set_permitted(add(caps.permitted()));
        process.set_capabilities(Some(widened));
        self.capabilities = Some(caps);
    }
}

/// The program of `spec`'s seccomp profile, if it has one gantry compiles.
fn profile_program(spec: &Spec) -> Result<Option<Program>, String> {
    match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(profile) => Program::cached(profile, &crate::Executor::program_cache()),
        None => Ok(None),
    }
}

/// The bundle a split one was made from.
fn original_bundle(split: &Path) -> Option<&Path> {
    (split.file_name()? == SPLIT_BUNDLE).then(|| split.parent()).flatten()
}

impl Executor for Workload {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(program) = &self.program {
            program.load().map_err(|e| ExecutorError::Other(format!("installing the seccomp filter: {e}")))?;
        }
        if let Some(caps) = &self.capabilities {
            let syscall = libcontainer::syscall::syscall::create_syscall();
            libcontainer::capabilities::drop_privileges(caps, syscall.as_ref())
                .map_err(|e| ExecutorError::Other(format!("dropping capabilities: {e}")))?;
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}
