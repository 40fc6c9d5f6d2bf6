//! The hidden helper gantry re-executes itself as to run a container with youki's
//! libcontainer. It is single-threaded by construction (`main` dispatches here before
//! anything can start a thread), which libcontainer's clone-based process creation
//! requires. It stays the container's parent: it forwards signals to the container's
//! process, waits for it, removes the runtime state and exits with the container's
//! status, exactly like `runc run`.

use std::path::PathBuf;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;

use crate::lookup::check_program;
use crate::workload::Workload;

/// The set of `signals` plus SIGCHLD, which the caller takes synchronously
/// (sigwaitinfo, signalfd).
pub(crate) fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialize a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals.iter().chain(&[libc::SIGCHLD]) {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

/// Blocks `signals` and SIGCHLD in this single-threaded process; returns the set.
fn block_forwarded(signals: &[libc::c_int]) -> libc::sigset_t {
    let set = signal_set(signals);
    // SAFETY: blocking signals in this single-threaded process.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    set
}

/// Signals passed on to the container rather than acting on the helper.
pub(crate) const FORWARDED: [libc::c_int; 8] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
];

struct Args {
    root: PathBuf,
    bundle: PathBuf,
    id: String,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    if it.next().map(String::as_str) != Some("run") {
        return Err("usage: run --root DIR --bundle DIR ID".into());
    }
    let (mut root, mut bundle, mut id) = (None, None, None);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--root" => root = it.next().map(PathBuf::from),
            "--bundle" => bundle = it.next().map(PathBuf::from),
            other => id = Some(other.to_string()),
        }
    }
    match (root, bundle, id) {
        (Some(root), Some(bundle), Some(id)) => Ok(Args { root, bundle, id }),
        _ => Err("usage: run --root DIR --bundle DIR ID".into()),
    }
}

/// The file in the bundle where the helper leaves why a container could not start,
/// for the caller to report (stderr belongs to the container).
pub const START_ERROR: &str = "start-error";

/// Entry point of the helper; returns the process exit status. Errors of gantry's own
/// go to stderr as one line and to [`START_ERROR`], with docker's codes: 125 (could
/// not run), 126/127 (the program cannot be executed / is not found).
pub fn main(args: &[String]) -> i32 {
    if args.first().map(String::as_str) == Some("monitor") {
        return monitor_main(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("exec") {
        return match exec(&args[1..]) {
            Ok(code) => code,
            Err((message, code)) => {
                eprintln!("Error: {message}");
                code
            }
        };
    }
    match run(args) {
        Ok(code) => code,
        Err((message, code)) => {
            eprintln!("gantry: {message}");
            if let Ok(a) = parse(args) {
                let _ = std::fs::write(a.bundle.join(START_ERROR), &message);
            }
            code
        }
    }
}

/// `monitor --store ROOT [--attach] ID`: see [`crate::monitor`].
fn monitor_main(args: &[String]) -> i32 {
    let mut root = None;
    let mut id = None;
    let mut attach = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--store" => root = it.next().map(std::path::PathBuf::from),
            "--attach" => attach = true,
            other => id = Some(other.to_string()),
        }
    }
    let (Some(root), Some(id)) = (root, id) else {
        eprintln!("gantry: usage: monitor --store ROOT [--attach] ID");
        return 125;
    };
    match crate::monitor::run(&root, &id, attach) {
        Ok(code) => code,
        Err((message, code)) => {
            // The monitor runs in place of `gantry run`: report as the CLI does.
            eprintln!("Error: {}", message.replace('\n', " "));
            code
        }
    }
}

/// `exec --root STATE --process FILE ID`: a process joins the running container `ID`
/// (libcontainer's tenant); waits for it with signals forwarded, returns its status.
fn exec(args: &[String]) -> Result<i32, (String, i32)> {
    let (mut root, mut process, mut id) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--root" => root = it.next().map(PathBuf::from),
            "--process" => process = it.next().map(PathBuf::from),
            other => id = Some(other.to_string()),
        }
    }
    let (Some(root), Some(process), Some(id)) = (root, process, id) else {
        return Err(("usage: exec --root STATE --process FILE ID".into(), 125));
    };
    let mut spec: oci_spec::runtime::Process = std::fs::read(&process)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| (format!("{}: {e}", process.display()), 125))?;
    let terminal = spec.terminal() == Some(true);
    // With a terminal, the pty comes over a console socket (kept short: path limit).
    let socket = terminal.then(|| root.join(format!("exec-{}.sock", std::process::id())));
    let listener = match &socket {
        Some(p) => {
            let _ = std::fs::remove_file(p);
            Some(std::os::unix::net::UnixListener::bind(p).map_err(|e| (format!("{}: {e}", p.display()), 125))?)
        }
        None => None,
    };
    // A container started from a split bundle: so is the process joining it.
    let container =
        libcontainer::container::Container::load(root.join(&id)).map_err(|e| (format!("container {id}: {e}"), 125))?;
    let workload = Workload::split_process(&mut spec, container.bundle()).map_err(|e| (format!("exec: {e}"), 125))?;
    let split_process = process.with_extension("libcontainer.json");
    let process = if workload.is_split() {
        serde_json::to_vec(&spec)
            .map_err(|e| e.to_string())
            .and_then(|b| std::fs::write(&split_process, b).map_err(|e| e.to_string()))
            .map_err(|e| (format!("{}: {e}", split_process.display()), 125))?;
        &split_process
    } else {
        &process
    };
    let built = ContainerBuilder::new(id, SyscallType::default())
        .with_executor(workload)
        .with_root_path(&root)
        .map_err(|e| (format!("runtime state: {e}"), 125))?
        .with_console_socket(socket.as_ref())
        .as_tenant()
        .with_process(Some(process))
        .with_detach(terminal)
        .build();
    if let Some(p) = &socket {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_file(&split_process);
    let pid = built.map_err(|e| (format!("exec: {e}"), 126))?;
    // As in `run`: block the forwarded signals once the process exists.
    let set = block_forwarded(&FORWARDED);
    match listener {
        Some(l) => {
            let master = crate::console::receive(&l).map_err(|e| (format!("the exec's terminal: {e}"), 126))?;
            // The monitor's relay, attached and unlogged: an exec's output is not
            // the container's log.
            let _raw = crate::console::RawTerminal::enter();
            let io = crate::monitor::Io::Console(master);
            Ok(crate::monitor::pump(&io, &set, pid.as_raw(), pid.as_raw(), None, true, true, &mut None))
        }
        None => Ok(wait_forwarding(pid.as_raw(), &set)),
    }
}

fn run(args: &[String]) -> Result<i32, (String, i32)> {
    let a = parse(args).map_err(|e| (e, 125))?;
    let spec = oci_spec::runtime::Spec::load(a.bundle.join("config.json")).map_err(|e| (e.to_string(), 125))?;
    if let (Some(process), Some(root)) = (spec.process(), spec.root()) {
        let argv = process.args().clone().unwrap_or_default();
        let env = process.env().clone().unwrap_or_default();
        let rootfs = if root.path().is_absolute() { root.path().clone() } else { a.bundle.join(root.path()) };
        let cwd = process.cwd().to_string_lossy().into_owned();
        check_program(&rootfs, argv.first().map(String::as_str).unwrap_or(""), &env, &cwd).map_err(|e| match e {
            crate::RuntimeError::Start { message, code } => (message, code),
            other => (other.to_string(), 125),
        })?;
    }
    std::fs::create_dir_all(&a.root).map_err(|e| (format!("{}: {e}", a.root.display()), 125))?;
    let (bundle, workload) = Workload::prepare(&a.bundle, &spec).map_err(|e| (e, 125))?;
    let failed = |what: &str, e: libcontainer::error::LibcontainerError| (format!("{what}: {e}"), 125);
    let mut container = ContainerBuilder::new(a.id.clone(), SyscallType::default())
        .with_executor(workload)
        .with_root_path(&a.root)
        .map_err(|e| failed("runtime state", e))?
        .as_init(&bundle)
        .with_systemd(false)
        .with_detach(false)
        .build()
        .map_err(|e| failed("creating the container", e))?;
    // From here on the container exists: signals meant for it are taken synchronously
    // (the init process was cloned before this mask, so it keeps the default one).
    let set = block_forwarded(&FORWARDED);
    // A namespace of its own starts with loopback down: bring it up, as docker does.
    let own_net = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()).is_some_and(|ns| {
        ns.iter().any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network && n.path().is_none())
    });
    if let (true, Some(pid)) = (own_net, container.pid()) {
        let _ = crate::ports::loopback_up(pid.as_raw());
    }
    let started = container.start();
    let code = match (started, container.pid()) {
        (Ok(()), Some(pid)) => wait_forwarding(pid.as_raw(), &set),
        (Err(e), _) => {
            let _ = container.delete(true);
            return Err(failed("starting the container", e));
        }
        (Ok(()), None) => 125,
    };
    let _ = container.delete(true);
    Ok(code)
}

/// Waits for `pid`, passing forwarded signals on to it; returns its exit status the
/// way a shell reports it.
fn wait_forwarding(pid: libc::pid_t, set: &libc::sigset_t) -> i32 {
    loop {
        // Reap every child that ended (libcontainer's intermediate processes too),
        // until the container's own process is among them.
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer.
            let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if r == pid {
                if libc::WIFSIGNALED(status) {
                    return 128 + libc::WTERMSIG(status);
                }
                return libc::WEXITSTATUS(status);
            }
            if r == 0 {
                break;
            }
            if r < 0 {
                return 125; // no child left: the container's process is gone unseen
            }
        }
        // SAFETY: the set is initialized; the signals in it are blocked.
        let timeout = libc::timespec { tv_sec: 0, tv_nsec: 500_000_000 };
        let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) };
        if sig > 0 && sig != libc::SIGCHLD {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, sig) };
        }
        if caller_gone() {
            // Whoever reads our output (a build) is gone, killed or interrupted: the
            // container must not outlive it. Killing its PID 1 ends them all.
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// True when our stdout is a pipe whose reader has gone (POLLERR on its write end).
fn caller_gone() -> bool {
    let mut p = libc::pollfd { fd: 1, events: 0, revents: 0 };
    // SAFETY: polling our own stdout without waiting.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & libc::POLLERR != 0
}
