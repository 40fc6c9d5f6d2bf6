//! The container monitor: gantry's hidden helper watching one container for its
//! whole life, like podman's conmon. It mounts the container's root filesystem,
//! starts the process (libcontainer in this same single-threaded process, or an
//! external runtime), copies its output into docker's json-file log (and to its own
//! stdout/stderr when attached), forwards signals, records the exit status, applies
//! the restart policy and, for `--rm`, removes the container. It holds the
//! container's monitor lock while alive, which is how every other command knows the
//! container runs.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;

use crate::workload::Workload;
use gantry_layer::apply::RootDir;
use gantry_store::Store;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;

use crate::container::{lock_monitor, now_rfc3339, ContainerConfig, State, Status, STOP_REQUESTED};
use crate::executor::Executor;
use crate::lookup::check_program;
use crate::spec::{ContainerSpec, Mount, MountKind, Network, Resources};

type Failure = (String, i32);

/// Whether the container's network is the default one, with outbound NAT.
fn uses_slirp(cfg: &ContainerConfig) -> bool {
    cfg.network == "bridge"
}

/// docker's json-file driver splits a line at 16 KiB.
const MAX_LOG_LINE: usize = 16 * 1024;

/// Where `--init` puts the init process, as docker does.
const INIT_PATH: &str = "/sbin/docker-init";

/// Static inits on the host that `--init` can use (Debian's docker.io ships tini-static).
const INIT_BINARIES: [&str; 4] =
    ["/usr/bin/docker-init", "/usr/libexec/docker/docker-init", "/usr/bin/tini-static", "/usr/sbin/docker-init"];

/// Runs the monitor of container `id` in the store at `root`; returns the exit status
/// the calling command should end with (the container's, or 125/126/127).
pub fn run(root: &Path, id: &str, attach: bool) -> Result<i32, Failure> {
    let fail = |e: &dyn std::fmt::Display| (e.to_string(), 125);
    let mut store = Store::open(root).map_err(|e| fail(&e))?;
    let rec = store.container(id).map_err(|e| fail(&e))?;
    let cfg: ContainerConfig = serde_json::from_str(&rec.config).map_err(|e| fail(&e))?;
    let dir = store.container_dir(&rec.id);
    // Another command may be looking at the lock this instant: retry briefly.
    let mut lock = None;
    for _ in 0..100 {
        lock = lock_monitor(&dir).map_err(|e| fail(&e))?;
        if lock.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let Some(_lock) = lock else {
        return Err((format!("container {} is already running", rec.id), 125));
    };
    // What a killed predecessor left: its processes and its mount.
    crate::container::kill_orphans(&rec.id);
    gantry_store::unmount_rootfs(&dir);
    let _ = std::fs::remove_file(dir.join(STOP_REQUESTED));
    let mut state = State::load(&dir).map_err(|e| fail(&e))?;
    let layers: Vec<_> = store.layers(&rec.image_id).map_err(|e| fail(&e))?.iter().map(|l| l.diff_id).collect();
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{}-json.log", rec.id)))
        .map_err(|e| fail(&e))?;
    let outcome = loop {
        let result = run_once(&store, &rec.id, &cfg, &dir, &layers, &mut log, attach, &mut state);
        let code = match &result {
            Ok(code) => *code,
            Err((_, code)) => *code,
        };
        state.status = Status::Exited;
        state.exit_code = code;
        state.pid = 0;
        state.finished_at = now_rfc3339();
        if let Err((message, _)) = &result {
            state.error = message.clone();
        }
        let _ = state.save(&dir);
        let stopped = dir.join(STOP_REQUESTED).exists();
        if result.is_err() || !cfg.restart.restarts(code, state.restart_count, stopped) {
            break result;
        }
        state.restart_count += 1;
        state.status = Status::Restarting;
        let _ = state.save(&dir);
        // docker waits 100 ms before the first restart, doubling each time.
        let backoff = 100u64.saturating_mul(1 << state.restart_count.min(10)) / 2;
        std::thread::sleep(std::time::Duration::from_millis(backoff.min(60_000)));
        if dir.join(STOP_REQUESTED).exists() {
            state.status = Status::Exited;
            let _ = state.save(&dir);
            break result;
        }
    };
    if cfg.auto_remove {
        crate::container::record_removed_exit(root, &rec.id, state.exit_code);
        crate::container::remove_files(&dir);
        let _ = store.remove_container(&rec.id);
        // --rm takes the container's anonymous volumes with it, as in docker.
        for name in cfg.binds.iter().filter_map(|b| b.volume.as_ref()) {
            if store.volume(name).ok().flatten().is_some_and(|v| v.anonymous) {
                let _ = store.remove_volume(name);
            }
        }
    }
    outcome
}

/// Why a program could not start, as docker reports it.
fn start_failure(e: crate::RuntimeError) -> Failure {
    match e {
        crate::RuntimeError::Start { message, code } => (message, code),
        other => (other.to_string(), 125),
    }
}

/// The spec of a process joining the running container (`exec`): the container's
/// configuration with this command, extra environment, user and working directory.
pub fn exec_spec(
    cfg: &ContainerConfig,
    dir: &Path,
    id: &str,
    argv: &[String],
    env: &[String],
    user: Option<&str>,
    cwd: Option<&str>,
) -> Result<ContainerSpec, Failure> {
    let mut c = cfg.clone();
    if let Some(u) = user {
        c.user = u.to_string();
    }
    if let Some(w) = cwd {
        c.working_dir = w.to_string();
    }
    for kv in env {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        c.env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        c.env.push(kv.clone());
    }
    let rootfs = dir.join("rootfs");
    let mut s = spec(&c, dir, &rootfs, id, false)?;
    s.args = argv.to_vec();
    check_program(&rootfs, argv.first().map(String::as_str).unwrap_or(""), &s.env, &s.cwd).map_err(start_failure)?;
    Ok(s)
}

/// The container's OCI spec, with its user resolved against its own files.
/// `write_files` is false for an exec: the running container's hosts, hostname and
/// resolv.conf stay as they are (with its own edits).
fn spec(
    cfg: &ContainerConfig,
    dir: &Path,
    rootfs: &Path,
    id: &str,
    write_files: bool,
) -> Result<ContainerSpec, Failure> {
    let root = RootDir::open(rootfs).map_err(|e| (e.to_string(), 125))?;
    let (user, home) = crate::user::resolve_in(&root, &cfg.user).map_err(|e| (e, 125))?;
    let mut env = cfg.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, gantry_image::DEFAULT_PATH_ENV.to_string());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home.filter(|h| !h.is_empty()).unwrap_or_else(|| "/".into())));
    }
    if cfg.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let hostname = if cfg.hostname.is_empty() { id[..12].to_string() } else { cfg.hostname.clone() };
    // Published ports need a namespace of the container's own to relay into.
    // Every mode but host gives the container a namespace of its own (published
    // ports are relayed into it; the default one also gets slirp4netns's NAT).
    let network = if cfg.network == "host" { Network::Host } else { Network::None };
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv = if uses_slirp(cfg) { crate::network::slirp_resolv_conf(&host_resolv) } else { host_resolv };
    let files = [
        ("hostname", format!("{hostname}\n")),
        ("hosts", format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n")),
        ("resolv.conf", resolv),
    ];
    let mut mounts = Vec::new();
    for (name, text) in files {
        let p = dir.join(name);
        if write_files {
            std::fs::write(&p, text).map_err(|e| (format!("{}: {e}", p.display()), 125))?;
        }
        mounts.push(Mount { destination: format!("/etc/{name}"), source: p, kind: MountKind::Bind, readonly: false });
    }
    for b in &cfg.binds {
        mounts.push(Mount {
            destination: b.destination.clone(),
            source: b.source.clone(),
            kind: MountKind::Bind,
            readonly: b.readonly,
        });
    }
    for t in &cfg.tmpfs {
        mounts.push(Mount {
            destination: t.destination.clone(),
            source: Default::default(),
            kind: MountKind::Tmpfs { size: t.size, mode: t.mode },
            readonly: false,
        });
    }
    let mut args: Vec<String> = std::iter::once(cfg.path.clone()).chain(cfg.args.iter().cloned()).collect();
    if cfg.init {
        // docker's --init: its tini, mounted into the container, runs the command.
        let init =
            INIT_BINARIES.iter().map(std::path::PathBuf::from).find(|p| p.exists()).ok_or_else(|| {
                ("--init: no docker-init (tini) on this host; install the tini package".to_string(), 125)
            })?;
        mounts.push(Mount { destination: INIT_PATH.into(), source: init, kind: MountKind::Bind, readonly: true });
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }
    Ok(ContainerSpec {
        rootfs: rootfs.to_path_buf(),
        args,
        env,
        cwd: if cfg.working_dir.is_empty() { "/".into() } else { cfg.working_dir.clone() },
        user,
        terminal: cfg.tty,
        hostname,
        network,
        mounts,
        readonly_rootfs: cfg.readonly_rootfs,
        privileged: cfg.privileged,
        cap_add: cfg.cap_add.clone(),
        cap_drop: cfg.cap_drop.clone(),
        no_new_privileges: cfg.no_new_privileges,
        seccomp: cfg.seccomp.clone(),
        resources: Resources { memory: cfg.memory, cpus: cfg.cpus, pids_limit: cfg.pids_limit },
        cgroups_path: Some(format!("/gantry/{id}")),
        netns_path: None,
    })
}

/// Creates the working directory when the image lacks it, as docker does (root's,
/// 0755), resolved inside the root filesystem.
fn make_workdir(rootfs: &Path, cwd: &str) -> Result<(), Failure> {
    let rel = cwd.trim_start_matches('/').as_bytes();
    let root = RootDir::open(rootfs).map_err(|e| (e.to_string(), 125))?;
    if rel.is_empty() || root.is_dir(rel) {
        return Ok(());
    }
    root.create_dir_all(rel).map_err(|e| (format!("creating the working directory {cwd}: {e}"), 125))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), Failure> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| (format!("pipe: {e}"), 125))?;
    Ok((r, w))
}

/// One start of the container: until its process ends. Returns its exit status.
#[allow(clippy::too_many_arguments)]
fn run_once(
    store: &Store,
    id: &str,
    cfg: &ContainerConfig,
    dir: &Path,
    layers: &[gantry_image::Digest],
    log: &mut std::fs::File,
    attach: bool,
    state: &mut State,
) -> Result<i32, Failure> {
    // A lease while the layers are unpacked and mounted: GC must not sweep a snapshot
    // being made (once mounted, the image's record keeps its chain).
    let rootfs = {
        let _lease = store.lease().map_err(|e| (e.to_string(), 125))?;
        store.mount_rootfs(dir, layers).map_err(|e| (e.to_string(), 125))?
    };
    let _unmount = Unmount(dir);
    let mut spec = spec(cfg, dir, &rootfs, id, true)?;
    // The default network's namespace is made first, so that slirp4netns sets it up
    // while the container is being created rather than after (builtin executor).
    let netns = if uses_slirp(cfg) && cfg.runtime.is_none() {
        Some(crate::network::new_netns().map_err(|e| (format!("network namespace: {e}"), 125))?)
    } else {
        None
    };
    let netns_path =
        netns.as_ref().map(|f| std::path::PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), f.as_raw_fd())));
    spec.netns_path = netns_path.clone();
    let mut slirp: Option<crate::network::Slirp> = match &netns_path {
        Some(p) => Some(crate::network::Slirp::spawn_for_path(p).map_err(|e| (e, 125))?),
        None => None,
    };
    make_workdir(&rootfs, &spec.cwd)?;
    check_program(&rootfs, &cfg.path, &spec.env, &spec.cwd).map_err(start_failure)?;
    let oci = spec.write_bundle(dir).map_err(|e| (e.to_string(), 125))?;
    let state_root = Executor::state_dir(store.root());
    std::fs::create_dir_all(&state_root).map_err(|e| (format!("{}: {e}", state_root.display()), 125))?;
    // With a terminal the runtime makes the pty and hands us its master through a
    // socket (kept short: socket paths have a length limit); otherwise, pipes.
    let console = cfg.tty.then(|| state_root.join(format!("{}.sock", &id[..16.min(id.len())])));
    let listener = match &console {
        Some(path) => {
            let _ = std::fs::remove_file(path);
            Some(UnixListener::bind(path).map_err(|e| (format!("{}: {e}", path.display()), 125))?)
        }
        None => None,
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let stdin: OwnedFd = if attach && cfg.open_stdin && !cfg.tty {
        rustix::io::dup(rustix::stdio::stdin()).map_err(|e| (format!("stdin: {e}"), 125))?
    } else {
        std::fs::File::open("/dev/null").map_err(|e| (format!("/dev/null: {e}"), 125))?.into()
    };
    let mut proxy = None;
    if !cfg.ports.is_empty() {
        let (p, bound) = crate::ports::Proxy::bind(&cfg.ports).map_err(|e| (e, 125))?;
        proxy = Some(p);
        state.ports = bound;
    }
    // The monitor does not pass SIGCONT on (a stopped monitor's resume is its own).
    let forwarded: Vec<libc::c_int> =
        crate::helper::FORWARDED.iter().copied().filter(|s| *s != libc::SIGCONT).collect();
    let mut set = crate::helper::signal_set(&forwarded);
    // The container's process keeps our default signal mask: block only once it exists.
    let mut container;
    let (pid, waited_pid) = match &cfg.runtime {
        None => {
            let _ = delete_stale(&state_root, id);
            let (bundle, workload) = Workload::prepare(dir, &oci).map_err(|e| (e, 125))?;
            let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
                .with_executor(workload)
                .with_root_path(&state_root)
                .map_err(|e| (format!("runtime state: {e}"), 125))?
                .with_console_socket(console.as_ref());
            if console.is_none() {
                builder = builder.with_stdin(stdin).with_stdout(out_w).with_stderr(err_w);
            }
            container = Some(
                builder
                    .as_init(&bundle)
                    .with_systemd(false)
                    // libcontainer 0.7 takes a console socket only when "detached"; the
                    // flag changes nothing else: its process is still our child.
                    .with_detach(console.is_some())
                    .build()
                    .map_err(|e| (format!("creating the container: {e}"), 125))?,
            );
            block(&mut set);
            let c = container.as_mut().ok_or_else(|| ("no container".to_string(), 125))?;
            if spec.network == Network::None && netns.is_none() {
                if let Some(pid) = c.pid() {
                    let _ = crate::ports::loopback_up(pid.as_raw());
                }
            }
            if let Some(s) = slirp.as_mut() {
                s.wait_ready().map_err(|e| (e, 125))?;
            }
            c.start().map_err(|e| (format!("starting the container: {e}"), 125))?;
            let pid = c.pid().map(|p| p.as_raw()).unwrap_or(0);
            (pid, pid)
        }
        Some(runtime) => {
            container = None;
            let pid_file = dir.join("container.pid");
            let _ = std::fs::remove_file(&pid_file);
            let mut c = std::process::Command::new(runtime);
            c.arg("--root").arg(&state_root).arg("run").arg("--pid-file").arg(&pid_file);
            if let Some(sock) = &console {
                // runc hands out the console only when it detaches: the container's
                // process is then re-parented to us, its subreaper.
                // SAFETY: prctl on this process.
                unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
                c.arg("--detach").arg("--console-socket").arg(sock);
            }
            c.arg("--bundle").arg(dir).arg(id);
            c.stdin(std::process::Stdio::from(stdin));
            c.stdout(std::process::Stdio::from(out_w));
            c.stderr(std::process::Stdio::from(err_w));
            block(&mut set);
            let child = c.spawn().map_err(|e| (format!("{}: {e}", runtime.display()), 125))?;
            let runc_pid = child.id() as i32;
            // The container's own pid, once the runtime wrote it (or the runtime ended).
            let mut pid = 0;
            for _ in 0..1000 {
                if let Ok(text) = std::fs::read_to_string(&pid_file) {
                    if let Ok(p) = text.trim().parse() {
                        pid = p;
                        break;
                    }
                }
                // SAFETY: probing our child's existence.
                if unsafe { libc::kill(runc_pid, 0) } != 0 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            std::mem::forget(child); // reaped below with waitpid
            let waited = if console.is_some() { pid } else { runc_pid };
            (if pid > 0 { pid } else { runc_pid }, waited)
        }
    };
    let io = match listener {
        Some(l) => {
            Io::Console(crate::console::receive(&l).map_err(|e| (format!("the container's terminal: {e}"), 125))?)
        }
        None => Io::Pipes(out_r, err_r),
    };
    if let Some(path) = &console {
        let _ = std::fs::remove_file(path);
    }
    if cfg.runtime.is_some() && spec.network == Network::None {
        // An external runtime has started the process already: the network comes up
        // just after it, and a process that ended meanwhile needs none.
        let _ = crate::ports::loopback_up(pid);
        if uses_slirp(cfg) {
            slirp = crate::network::Slirp::start(pid).ok();
        }
    }
    if let Some(p) = proxy.as_mut() {
        p.attach(pid);
    }
    state.status = Status::Running;
    state.pid = pid;
    state.started_at = now_rfc3339();
    state.finished_at.clear();
    state.error.clear();
    let _ = state.save(dir);
    let _raw = (attach && cfg.tty).then(crate::console::RawTerminal::enter).flatten();
    let forward_stdin = attach && cfg.open_stdin && cfg.tty;
    let code = pump(&io, &set, pid, waited_pid, Some(log), attach, forward_stdin, &mut proxy);
    drop(slirp);
    state.ports.clear();
    unblock(&set);
    if let Some(mut c) = container {
        let _ = c.delete(true);
    } else if let Some(runtime) = cfg.runtime.as_ref().filter(|_| console.is_some()) {
        let _ = std::process::Command::new(runtime)
            .arg("--root")
            .arg(&state_root)
            .arg("delete")
            .arg("--force")
            .arg(id)
            .status();
    }
    Ok(code)
}

/// Where the container's output comes from.
pub(crate) enum Io {
    Pipes(OwnedFd, OwnedFd),
    /// The master side of the container's terminal (output, and input when attached).
    Console(OwnedFd),
}

/// Removes what a previous libcontainer run of the same ID left in the state dir.
fn delete_stale(state_root: &Path, id: &str) -> std::io::Result<()> {
    std::fs::remove_dir_all(state_root.join(id))
}

struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        gantry_store::unmount_rootfs(self.0);
    }
}

fn block(set: &mut libc::sigset_t) {
    // SAFETY: blocking signals in this single-threaded process.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, set, std::ptr::null_mut()) };
}

fn unblock(set: &libc::sigset_t) {
    // SAFETY: as above.
    unsafe { libc::sigprocmask(libc::SIG_UNBLOCK, set, std::ptr::null_mut()) };
}

/// One json-file log line, as docker's json-file driver writes it.
fn log_line(log: &mut Option<&mut std::fs::File>, stream: &str, line: &[u8]) {
    let Some(log) = log else { return };
    let entry = serde_json::json!({"log": String::from_utf8_lossy(line), "stream": stream, "time": now_rfc3339()});
    if let Ok(mut bytes) = serde_json::to_vec(&entry) {
        bytes.push(b'\n');
        let _ = log.write_all(&bytes);
    }
}

/// Copies the container's output to the log (and to our stdio when attached),
/// our stdin to its terminal when asked, and forwards signals, until the waited
/// process ends and its output is drained. Published ports are relayed meanwhile.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pump(
    io: &Io,
    set: &libc::sigset_t,
    pid: i32,
    waited: i32,
    mut log: Option<&mut std::fs::File>,
    attach: bool,
    forward_stdin: bool,
    proxy: &mut Option<crate::ports::Proxy>,
) -> i32 {
    // SAFETY: signalfd on an initialized set; the fd is owned from here on.
    let sfd = unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) };
    let sfd = (sfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(sfd) });
    let streams: Vec<(RawFd, &str)> = match io {
        Io::Pipes(out, err) => vec![(out.as_raw_fd(), "stdout"), (err.as_raw_fd(), "stderr")],
        Io::Console(master) => vec![(master.as_raw_fd(), "stdout")],
    };
    let master = match io {
        Io::Console(m) => {
            if attach {
                crate::console::copy_window_size(m.as_raw_fd());
            }
            Some(m.as_raw_fd())
        }
        Io::Pipes(..) => None,
    };
    let mut stdin_open = forward_stdin && master.is_some();
    let mut open = vec![true; streams.len()];
    let mut partial: Vec<Vec<u8>> = vec![Vec::new(); streams.len()];
    let mut code: Option<i32> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Reap first: the process may have ended before the signal fd existed.
        if code.is_none() {
            code = reap(waited);
        }
        if code.is_some() && open.iter().all(|o| !o) {
            break;
        }
        let mut fds: Vec<libc::pollfd> = Vec::new();
        for (i, (fd, _)) in streams.iter().enumerate() {
            if open[i] {
                fds.push(libc::pollfd { fd: *fd, events: libc::POLLIN, revents: 0 });
            }
        }
        if stdin_open && code.is_none() {
            fds.push(libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 });
        }
        if let Some(s) = &sfd {
            fds.push(libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        if let Some(p) = proxy.as_ref().filter(|_| code.is_none()) {
            fds.extend(p.fds().into_iter().map(|(fd, events)| libc::pollfd { fd, events, revents: 0 }));
        }
        // Once the process ended, wait for the rest of its output only briefly:
        // a daemonized grandchild may hold the pipes open.
        let timeout = if code.is_some() { 200 } else { 1000 };
        // SAFETY: fds is a valid array of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n == 0 && code.is_some() {
            break;
        }
        for p in &fds {
            if p.revents == 0 {
                continue;
            }
            if sfd.as_ref().is_some_and(|s| s.as_raw_fd() == p.fd) {
                // SAFETY: reading one siginfo record from the signal fd.
                let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
                let size = std::mem::size_of::<libc::signalfd_siginfo>();
                let r = unsafe { libc::read(p.fd, &mut info as *mut _ as *mut libc::c_void, size) };
                let sig = info.ssi_signo as i32;
                if r as usize != size || sig == libc::SIGCHLD {
                    continue;
                }
                match master {
                    // A terminal's size follows ours rather than the signal passing on.
                    Some(m) if sig == libc::SIGWINCH => crate::console::copy_window_size(m),
                    _ if pid > 0 => unsafe {
                        libc::kill(pid, sig);
                    },
                    _ => {}
                }
                continue;
            }
            if p.fd == 0 {
                // SAFETY: reading our stdin into our buffer.
                let r = unsafe { libc::read(0, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
                if r <= 0 {
                    stdin_open = false;
                } else if let Some(m) = master {
                    let _ = rustix::io::write(unsafe { std::os::fd::BorrowedFd::borrow_raw(m) }, &buf[..r as usize]);
                }
                continue;
            }
            let Some(i) = streams.iter().position(|(fd, _)| *fd == p.fd) else {
                if let Some(px) = proxy.as_mut() {
                    px.handle(p.fd);
                }
                continue;
            };
            let stream = streams[i].1;
            // SAFETY: reading into our buffer from an fd we own.
            let r = unsafe { libc::read(p.fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if r <= 0 {
                // EOF, or EIO from a terminal whose last writer closed it.
                open[i] = false;
                if !partial[i].is_empty() {
                    log_line(&mut log, stream, &std::mem::take(&mut partial[i]));
                }
                continue;
            }
            let data = &buf[..r as usize];
            if attach {
                let _ = if i == 0 { std::io::stdout().write_all(data) } else { std::io::stderr().write_all(data) };
                let _ = if i == 0 { std::io::stdout().flush() } else { std::io::stderr().flush() };
            }
            // Lines are logged as they end; one longer than docker's 16 KiB is logged
            // in pieces, so a process writing no newline cannot grow the monitor.
            let mut rest = data;
            while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
                partial[i].extend_from_slice(&rest[..=nl]);
                log_line(&mut log, stream, &std::mem::take(&mut partial[i]));
                rest = &rest[nl + 1..];
            }
            partial[i].extend_from_slice(rest);
            while partial[i].len() >= MAX_LOG_LINE {
                let piece: Vec<u8> = partial[i].drain(..MAX_LOG_LINE).collect();
                log_line(&mut log, stream, &piece);
            }
        }
    }
    for (i, rest) in partial.iter().enumerate() {
        if !rest.is_empty() {
            log_line(&mut log, streams[i].1, rest);
        }
    }
    code.unwrap_or(255)
}

/// Reaps ended children; the exit status of `waited` once it ended.
fn reap(waited: i32) -> Option<i32> {
    let mut found = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r <= 0 {
            break;
        }
        if r == waited {
            found =
                Some(if libc::WIFSIGNALED(status) { 128 + libc::WTERMSIG(status) } else { libc::WEXITSTATUS(status) });
        }
    }
    found
}
