//! Container commands, daemonless: `create` records a container; `run`/`start` hand it
//! to gantry's monitor process (exec'd in the foreground, or detached), which keeps
//! its state and logs beside its files; every other command reads those and signals
//! the container's process directly.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use gantry_image::{Digest, ImageConfig};
use gantry_runtime::container::{
    monitor_alive, remove_files, signal_process, wait_monitor, ContainerConfig, RestartPolicy, State, Status,
    STOP_REQUESTED,
};
use gantry_runtime::executor::HELPER_ARG;
use gantry_store::{ContainerRecord, StoreError};
use serde_json::{json, Value};

use super::filter::Filters;
use super::system::Pruned;
use super::{confirm, print, Ctx};
use crate::cli::{
    CommitArgs, ContainerPruneArgs, ContainerVerb, ContainersArgs, ExecArgs, ExportArgs, KillArgs, LogsArgs, PortArgs,
    PsArgs, RmArgs, RunArgs, StartArgs, StopArgs, TopArgs,
};
use crate::error::{msg, print_error, CliError};
use crate::format::units::human_duration;
use crate::format::{render, Format};
use crate::views;

mod mounts;

/// docker's exit status when the container could not be created or started.
const FAILED: u8 = 125;

fn usage(s: impl Into<String>) -> CliError {
    CliError::Usage(s.into())
}

/// `64m`, `1g`, `1024` as docker's `RAMInBytes` reads them.
fn ram_in_bytes(s: &str) -> Result<i64, CliError> {
    let t = s.trim().to_ascii_lowercase();
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = t[digits.len()..].trim_end_matches('b');
    let n: f64 = digits.parse().map_err(|_| usage(format!("invalid size: '{s}'")))?;
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(usage(format!("invalid size: '{s}'"))),
    };
    Ok((n * mult) as i64)
}

/// A docker-like random name (`adjective_surname`).
fn random_name() -> String {
    const LEFT: [&str; 12] =
        ["brave", "calm", "eager", "festive", "gifted", "happy", "jolly", "keen", "loving", "nifty", "quirky", "zen"];
    const RIGHT: [&str; 12] = [
        "turing", "hopper", "lovelace", "ritchie", "thompson", "torvalds", "knuth", "dijkstra", "liskov", "hamilton",
        "kay", "pike",
    ];
    let r = rand::random::<u64>();
    format!("{}_{}", LEFT[(r % 12) as usize], RIGHT[((r >> 8) % 12) as usize])
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `--env-file` lines then `-e` values, in docker's order (later ones win).
fn given_env(files: &[PathBuf], env: &[String]) -> Result<Vec<String>, CliError> {
    let mut given: Vec<String> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| usage(format!("open {}: {e}", f.display())))?;
        given.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from));
    }
    given.extend(env.iter().cloned());
    Ok(given)
}

/// The environment: the image's, then `--env-file`s, then `-e` (`KEY` alone takes the
/// caller's value, and is dropped when the caller has none).
fn environment(image_env: &[String], a: &RunArgs) -> Result<Vec<String>, CliError> {
    let mut env: Vec<String> = image_env.to_vec();
    let mut set = |kv: String| {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k).to_string();
        match env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key) {
            Some(slot) => *slot = kv,
            None => env.push(kv),
        }
    };
    for kv in given_env(&a.env_file, &a.env)? {
        if kv.starts_with('=') {
            return Err(usage(format!("invalid environment variable: {kv}")));
        }
        if kv.contains('=') {
            set(kv);
        } else if let Ok(v) = std::env::var(&kv) {
            set(format!("{kv}={v}"));
        }
    }
    Ok(env)
}

/// The image `run` and `create` use: pulled first when the store lacks it (always,
/// with `--pull always`), as docker does.
fn image_for_run(ctx: &mut Ctx, image: &str, a: &RunArgs) -> Result<Digest, CliError> {
    match (a.pull.as_str(), ctx.store.resolve(image)) {
        ("always", _) => {}
        (_, Ok((id, _))) => return Ok(id),
        (_, Err(StoreError::NoSuchImage(_))) => {
            let tagged = gantry_image::Reference::parse(image).map_err(|e| usage(e.to_string()))?.with_default_tag();
            if a.pull == "never" {
                return Err(usage(format!("No such image: {}", tagged.familiar())));
            }
            eprintln!("Unable to find image '{}' locally", tagged.familiar());
        }
        (_, Err(e)) => return Err(e.into()),
    }
    super::registry::pull_for_run(ctx, image, a.platform.as_deref(), a.quiet)?;
    Ok(ctx.store.resolve(image)?.0)
}

/// `--security-opt` values as docker takes them: `no-new-privileges[:=]BOOL` and
/// `seccomp=unconfined|FILE` (the file's JSON is kept, as docker keeps it);
/// `apparmor=` and `label=` are accepted and change nothing (gantry applies neither
/// AppArmor nor SELinux, like docker on a host without them).
fn security_opts(opts: &[String]) -> Result<(bool, Option<String>), CliError> {
    let (mut no_new_privileges, mut seccomp) = (false, None);
    for opt in opts {
        if opt == "no-new-privileges" {
            no_new_privileges = true;
            continue;
        }
        let Some((key, value)) = opt.split_once(['=', ':']) else {
            return Err(usage(format!("Invalid --security-opt: {opt:?}")));
        };
        match key {
            "no-new-privileges" => {
                no_new_privileges =
                    mounts::parse_bool(value).ok_or_else(|| usage(format!("invalid --security-opt 2: {opt:?}")))?;
            }
            "seccomp" if value == "unconfined" => seccomp = Some(value.to_string()),
            "seccomp" => {
                let text = std::fs::read_to_string(value)
                    .map_err(|e| usage(format!("opening seccomp profile ({value}) failed: {e}")))?;
                seccomp = Some(text);
            }
            "apparmor" | "label" => {}
            "systempaths" if value == "unconfined" => {
                return Err(usage("--security-opt systempaths=unconfined is not supported by gantry"))
            }
            _ => return Err(usage(format!("invalid --security-opt 2: {opt:?}"))),
        }
    }
    Ok((no_new_privileges, seccomp))
}

/// Removes the anonymous volumes a removed container had, unless another uses them.
fn remove_anonymous_volumes(ctx: &Ctx, cfg: &ContainerConfig) -> Result<(), CliError> {
    let used = super::volumes::users(ctx)?;
    for name in cfg.binds.iter().filter_map(|b| b.volume.as_ref()) {
        if ctx.store.volume(name)?.is_some_and(|v| v.anonymous) && !used.contains_key(name) {
            ctx.store.remove_volume(name)?;
        }
    }
    Ok(())
}

/// Records a container as `create` does; returns its ID and name.
fn create(ctx: &mut Ctx, a: &RunArgs) -> Result<ContainerRecord, CliError> {
    let [image, command @ ..] = &a.image_and_command[..] else {
        return Err(usage("\"create\" requires at least 1 argument."));
    };
    let image_id = image_for_run(ctx, image, a)?;
    let cfg_bytes = ctx.store.read_blob(&image_id)?;
    let icfg = ImageConfig::parse(&cfg_bytes).map_err(|e| msg(format!("image {}: {e}", image_id.short())))?;
    let c = icfg.config.clone().unwrap_or_default();
    let entrypoint: Vec<String> = match &a.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => c.entrypoint.clone().unwrap_or_default(),
    };
    // A new entrypoint drops the image's CMD, as in docker.
    let cmd: Vec<String> = if !command.is_empty() {
        command.to_vec()
    } else if a.entrypoint.is_some() {
        Vec::new()
    } else {
        c.cmd.clone().unwrap_or_default()
    };
    let mut argv: Vec<String> = entrypoint.iter().chain(&cmd).cloned().collect();
    if argv.is_empty() {
        return Err(usage("No command specified"));
    }
    let path = argv.remove(0);
    let mut ports = Vec::new();
    for p in &a.publish {
        ports.push(gantry_runtime::ports::PortMap::parse(p).map_err(usage)?);
    }
    let network = match a.network.as_str() {
        "default" | "bridge" => "bridge",
        "host" => {
            if !ports.is_empty() {
                eprintln!("WARNING: Published ports are discarded when using host network mode");
                ports.clear();
            }
            "host"
        }
        "none" => {
            if !ports.is_empty() {
                return Err(usage("conflicting options: port publishing and the container type network mode"));
            }
            "none"
        }
        other => return Err(usage(format!("network {other} not found"))),
    };
    let restart = RestartPolicy::parse(&a.restart).map_err(usage)?;
    if a.rm && restart.name != "no" {
        return Err(usage("Conflicting options: --restart and --rm"));
    }
    let mut labels: BTreeMap<String, String> = c.labels.clone().unwrap_or_default().into_iter().collect();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), v.to_string());
    }
    // The name first: a taken one must fail before volumes are made for it.
    let name = match &a.name {
        Some(n) if !valid_name(n.trim_start_matches('/')) => {
            return Err(usage(format!("Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")))
        }
        Some(n) => {
            let n = n.trim_start_matches('/').to_string();
            if let Ok(other) = ctx.store.container(&n) {
                return Err(usage(format!(
                    "Conflict. The container name \"/{n}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.id
                )));
            }
            n
        }
        None => loop {
            let n = random_name();
            if ctx.store.container(&n).is_err() {
                break n;
            }
        },
    };
    let image_volumes: Vec<String> = c.volumes.clone().unwrap_or_default().into_keys().collect();
    let mounts = mounts::mounts(ctx, &a.volume, &a.mount, &image_volumes)?;
    let (no_new_privileges, seccomp) = security_opts(&a.security_opt)?;
    let cfg = ContainerConfig {
        path,
        args: argv,
        entrypoint,
        cmd,
        env: environment(&c.env.clone().unwrap_or_default(), a)?,
        working_dir: a.workdir.clone().or(c.working_dir.clone()).unwrap_or_default(),
        user: a.user.clone().or(c.user.clone()).unwrap_or_default(),
        hostname: a.hostname.clone().unwrap_or_default(),
        network: network.into(),
        tty: a.tty,
        open_stdin: a.interactive,
        binds: mounts.binds,
        tmpfs: mounts.tmpfs,
        readonly_rootfs: a.read_only,
        privileged: a.privileged,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        memory: a.memory.as_deref().map(ram_in_bytes).transpose()?,
        cpus: a.cpus,
        pids_limit: a.pids_limit.filter(|&p| p > 0),
        restart,
        auto_remove: a.rm,
        stop_signal: a.stop_signal.clone().or(c.stop_signal.clone()),
        stop_timeout: a.stop_timeout,
        labels,
        runtime: ctx.runtime.clone(),
        init: a.init,
        ports,
        security_opt: a.security_opt.clone(),
        no_new_privileges,
        seccomp,
    };
    // Capabilities are checked now, not when it starts.
    let caps = gantry_runtime::ContainerSpec {
        cap_add: cfg.cap_add.clone(),
        cap_drop: cfg.cap_drop.clone(),
        privileged: cfg.privileged,
        ..Default::default()
    };
    let caps = caps.capabilities().map_err(|e| usage(e.to_string()))?;
    if let Some(profile) = cfg.seccomp.as_deref().filter(|p| *p != "unconfined") {
        gantry_runtime::seccomp::from_docker_json(profile, &caps)
            .map_err(|e| usage(format!("Decoding seccomp profile failed: {e}")))?;
    }
    let id: String = (0..4).map(|_| format!("{:016x}", rand::random::<u64>())).collect();
    let rec = ContainerRecord {
        id: id.clone(),
        name,
        image_id,
        image_name: image.clone(),
        config: serde_json::to_string(&cfg).map_err(|e| msg(e.to_string()))?,
        created_unix_nanos: views::now_nanos(),
    };
    let dir = ctx.store.container_dir(&id);
    std::fs::create_dir_all(&dir).map_err(|e| msg(format!("{}: {e}", dir.display())))?;
    State::default().save(&dir).map_err(|e| msg(e.to_string()))?;
    if let Err(e) = ctx.store.create_container(&rec) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(match e {
            StoreError::Conflict(m) => usage(m),
            other => other.into(),
        });
    }
    Ok(rec)
}

fn config(rec: &ContainerRecord) -> Result<ContainerConfig, CliError> {
    serde_json::from_str(&rec.config).map_err(|e| msg(format!("container {}: {e}", rec.id)))
}

/// The monitor command for a container.
fn monitor(ctx: &Ctx, id: &str, attach: bool) -> Result<Command, CliError> {
    let exe = std::env::current_exe().map_err(|e| msg(format!("own executable: {e}")))?;
    let mut c = Command::new(exe);
    c.arg(HELPER_ARG).arg("monitor").arg("--store").arg(ctx.store.root());
    if attach {
        c.arg("--attach");
    }
    c.arg(id);
    Ok(c)
}

/// Starts a container's monitor in the background and waits until the container
/// runs (or failed to start: then its error, with docker's exit status).
fn start_detached(ctx: &Ctx, rec: &ContainerRecord) -> Result<(), (CliError, u8)> {
    let fail = |e: CliError| (e, FAILED);
    let mut c = monitor(ctx, &rec.id, false).map_err(fail)?;
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    // SAFETY: setsid in the child before exec: the monitor outlives this command and
    // must not get the terminal's signals.
    unsafe {
        c.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let dir = ctx.store.container_dir(&rec.id);
    // "Started" means a start newer than any before this one.
    let before = State::load(&dir).map(|s| s.started_at).unwrap_or_default();
    let mut child = c.spawn().map_err(|e| fail(msg(format!("starting the monitor: {e}"))))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let state = State::load(&dir).map_err(|e| fail(msg(e.to_string())))?;
        let started = !state.started_at.is_empty() && state.started_at != before;
        if started && matches!(state.status, Status::Running | Status::Restarting) {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let state = State::load(&dir).unwrap_or_default();
            if !state.started_at.is_empty() && state.started_at != before && state.error.is_empty() {
                return Ok(()); // it ran and already ended
            }
            let code = status.code().and_then(|c| u8::try_from(c).ok()).filter(|c| (125..=127).contains(c));
            let message = if state.error.is_empty() {
                format!("the container's monitor failed (exit status {:?})", status.code())
            } else {
                state.error
            };
            return Err((msg(message), code.unwrap_or(FAILED)));
        }
        if std::time::Instant::now() > deadline {
            return Err((msg("the container did not start within 60 s"), FAILED));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Replaces this process with the container's monitor, attached to our stdio: its
/// exit status (the container's) becomes ours, and signals reach it directly.
fn exec_attached(ctx: &Ctx, id: &str) -> CliError {
    match monitor(ctx, id, true) {
        Ok(mut c) => msg(format!("starting the monitor: {}", c.exec())),
        Err(e) => e,
    }
}

/// Runs one of the commands docker has both at the top level and under `container`.
pub fn dispatch(ctx: &mut Ctx, verb: ContainerVerb) -> Result<ExitCode, CliError> {
    let ok = |()| ExitCode::SUCCESS;
    match verb {
        ContainerVerb::Run(a) => run(ctx, &a),
        ContainerVerb::Create(a) => create_cmd(ctx, &a),
        ContainerVerb::Start(a) => start(ctx, &a),
        ContainerVerb::Stop(a) => stop(ctx, &a).map(ok),
        ContainerVerb::Restart(a) => restart(ctx, &a).map(ok),
        ContainerVerb::Kill(a) => kill(ctx, &a).map(ok),
        ContainerVerb::Logs(a) => logs(ctx, &a).map(ok),
        ContainerVerb::Wait(a) => wait(ctx, &a).map(ok),
        ContainerVerb::Exec(a) => exec(ctx, &a),
        ContainerVerb::Commit(a) => commit(ctx, &a).map(ok),
        ContainerVerb::Export(a) => export(ctx, &a).map(ok),
        ContainerVerb::Top(a) => top(ctx, &a).map(ok),
        ContainerVerb::Port(a) => port(ctx, &a).map(ok),
    }
}

pub fn run(ctx: &mut Ctx, a: &RunArgs) -> Result<ExitCode, CliError> {
    let rec = match create(ctx, a) {
        Ok(r) => r,
        Err(e) => return fail_with(e, FAILED),
    };
    if a.detach {
        return match start_detached(ctx, &rec) {
            Ok(()) => {
                print(&format!("{}\n", rec.id));
                Ok(ExitCode::SUCCESS)
            }
            Err((e, code)) => fail_with(e, code),
        };
    }
    Err(exec_attached(ctx, &rec.id))
}

fn fail_with(e: CliError, code: u8) -> Result<ExitCode, CliError> {
    print_error(&e);
    Ok(ExitCode::from(code))
}

pub fn create_cmd(ctx: &mut Ctx, a: &RunArgs) -> Result<ExitCode, CliError> {
    match create(ctx, a) {
        Ok(rec) => {
            print(&format!("{}\n", rec.id));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => fail_with(e, FAILED),
    }
}

/// Runs `f` for each named container, printing docker's per-container errors; exits 1
/// if any failed.
fn each(
    ctx: &mut Ctx,
    names: &[String],
    mut f: impl FnMut(&mut Ctx, &ContainerRecord) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let mut failed = false;
    for n in names {
        let result = ctx.store.container(n).map_err(CliError::from).and_then(|rec| f(ctx, &rec));
        if let Err(e) = result {
            print_error(&e);
            failed = true;
        }
    }
    if failed {
        Err(CliError::AlreadyReported)
    } else {
        Ok(())
    }
}

fn running(ctx: &Ctx, rec: &ContainerRecord) -> Result<State, CliError> {
    State::live(&ctx.store.container_dir(&rec.id)).map_err(|e| msg(e.to_string()))
}

pub fn start(ctx: &mut Ctx, a: &StartArgs) -> Result<ExitCode, CliError> {
    if a.attach || a.interactive {
        let [name] = &a.containers[..] else {
            return Err(usage("you cannot start and attach multiple containers at once"));
        };
        let rec = ctx.store.container(name)?;
        return Err(exec_attached(ctx, &rec.id));
    }
    let names = a.containers.clone();
    each(ctx, &names, |ctx, rec| {
        if !matches!(running(ctx, rec)?.status, Status::Running | Status::Restarting) {
            start_detached(ctx, rec).map_err(|(e, _)| e)?;
        }
        Ok(())
    })
    .map(|()| {
        for n in &a.containers {
            print(&format!("{n}\n"));
        }
        ExitCode::SUCCESS
    })
}

/// docker's signal names and numbers (`KILL`, `SIGTERM`, `9`).
fn signal_number(s: &str) -> Result<i32, CliError> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return Err(msg(format!("Invalid signal: {s}"))),
    };
    Ok(n)
}

/// Stops a running container: its stop signal, then SIGKILL after `timeout`.
fn stop_one(ctx: &Ctx, rec: &ContainerRecord, timeout: Option<u64>) -> Result<(), CliError> {
    let dir = ctx.store.container_dir(&rec.id);
    let state = running(ctx, rec)?;
    if !matches!(state.status, Status::Running | Status::Restarting) {
        return Ok(());
    }
    let cfg = config(rec)?;
    let _ = std::fs::write(dir.join(STOP_REQUESTED), b"");
    let sig = signal_number(cfg.stop_signal.as_deref().unwrap_or("TERM"))?;
    signal_process(&rec.id, state.pid, sig);
    let secs = timeout.or(cfg.stop_timeout).unwrap_or(10);
    if !wait_monitor(&dir, Some(Duration::from_secs(secs))) {
        let state = State::load(&dir).map_err(|e| msg(e.to_string()))?;
        signal_process(&rec.id, state.pid, libc::SIGKILL);
        wait_monitor(&dir, None);
    }
    Ok(())
}

pub fn stop(ctx: &mut Ctx, a: &StopArgs) -> Result<(), CliError> {
    let names = a.containers.clone();
    let mut done = Vec::new();
    let r = each(ctx, &names, |ctx, rec| {
        stop_one(ctx, rec, a.time)?;
        done.push(rec.id.clone());
        Ok(())
    });
    for n in names.iter().filter(|n| ctx.store.container(n).is_ok_and(|r| done.contains(&r.id))) {
        print(&format!("{n}\n"));
    }
    r
}

pub fn restart(ctx: &mut Ctx, a: &StopArgs) -> Result<(), CliError> {
    let names = a.containers.clone();
    each(ctx, &names, |ctx, rec| {
        stop_one(ctx, rec, a.time)?;
        start_detached(ctx, rec).map_err(|(e, _)| e)?;
        Ok(())
    })?;
    for n in &names {
        print(&format!("{n}\n"));
    }
    Ok(())
}

pub fn kill(ctx: &mut Ctx, a: &KillArgs) -> Result<(), CliError> {
    let sig = signal_number(&a.signal)?;
    let names = a.containers.clone();
    each(ctx, &names, |ctx, rec| {
        let state = running(ctx, rec)?;
        if !matches!(state.status, Status::Running | Status::Restarting) {
            return Err(msg(format!("Cannot kill container: {}: Container {} is not running", rec.name, rec.id)));
        }
        if sig == libc::SIGKILL || sig == libc::SIGTERM {
            let _ = std::fs::write(ctx.store.container_dir(&rec.id).join(STOP_REQUESTED), b"");
        }
        signal_process(&rec.id, state.pid, sig);
        print(&format!("{}\n", rec.name));
        Ok(())
    })
}

fn remove_one(ctx: &mut Ctx, rec: &ContainerRecord, force: bool, volumes: bool) -> Result<(), CliError> {
    let dir = ctx.store.container_dir(&rec.id);
    let state = running(ctx, rec)?;
    if matches!(state.status, Status::Running | Status::Restarting) {
        if !force {
            return Err(msg(format!(
                "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                rec.id
            )));
        }
        let _ = std::fs::write(dir.join(STOP_REQUESTED), b"");
        signal_process(&rec.id, state.pid, libc::SIGKILL);
        wait_monitor(&dir, None);
    }
    // Held while the container goes: a `start` meanwhile waits, then finds it gone.
    let _lock = loop {
        match gantry_runtime::container::lock_monitor(&dir).map_err(|e| msg(e.to_string()))? {
            Some(l) => break l,
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    gantry_runtime::container::kill_orphans(&rec.id);
    ctx.store.remove_container(&rec.id)?;
    remove_files(&dir);
    if volumes {
        remove_anonymous_volumes(ctx, &config(rec)?)?;
    }
    Ok(())
}

pub fn rm(ctx: &mut Ctx, a: &RmArgs) -> Result<(), CliError> {
    let names = a.containers.clone();
    each(ctx, &names, |ctx, rec| {
        remove_one(ctx, rec, a.force, a.volumes)?;
        Ok(())
    })
    .inspect(|()| {
        for n in &names {
            print(&format!("{n}\n"));
        }
    })
}

pub fn prune(ctx: &mut Ctx, a: &ContainerPruneArgs) -> Result<(), CliError> {
    let filters = Filters::parse(&a.filter, &["until", "label", "label!"])?;
    if !a.force && !confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?") {
        return Ok(());
    }
    let pruned = prune_stopped(ctx, &filters)?;
    print(&format!("{}Total reclaimed space: {}\n", pruned.section("Deleted Containers:"), pruned.human()));
    Ok(())
}

/// Removes the containers that are not running (created or exited) and match the
/// prune filters (`until`, `label`, `label!`), as docker's `ContainersPrune`; the
/// space reclaimed is what they wrote (their upper directories).
pub(crate) fn prune_stopped(ctx: &mut Ctx, filters: &Filters) -> Result<Pruned, CliError> {
    let until = filters.until()?;
    let mut pruned = Pruned::default();
    for rec in ctx.store.containers()? {
        if !matches!(running(ctx, &rec)?.status, Status::Exited | Status::Created) {
            continue;
        }
        if until.is_some_and(|u| rec.created_unix_nanos >= u) || !filters.prune_labels_match(&config(&rec)?.labels) {
            continue;
        }
        let written = gantry_store::disk_usage(&ctx.store.container_dir(&rec.id).join("upper"));
        match remove_one(ctx, &rec, false, false) {
            // Another command removed it meanwhile.
            Err(CliError::Store(StoreError::NoSuchContainer(_))) => continue,
            r => r?,
        }
        pruned.reclaimed += written;
        pruned.items.push(rec.id);
    }
    Ok(pruned)
}

pub fn wait(ctx: &mut Ctx, a: &ContainersArgs) -> Result<(), CliError> {
    let names = a.containers.clone();
    let root = ctx.store.root().to_path_buf();
    each(ctx, &names, |ctx, rec| {
        let dir = ctx.store.container_dir(&rec.id);
        // A created container is waited for until it has run, as docker does.
        loop {
            let s = State::live(&dir).map_err(|e| msg(e.to_string()))?;
            if s.status != Status::Created || !dir.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        wait_monitor(&dir, None);
        // A --rm container is gone (or going) by now: its monitor left the status
        // behind before removing anything, so that record wins.
        let code = match gantry_runtime::container::removed_exit_code(&root, &rec.id) {
            Some(code) => code,
            None => State::load(&dir).map(|s| s.exit_code).unwrap_or(0),
        };
        print(&format!("{code}\n"));
        Ok(())
    })
}

/// `exec`: a process joins the running container, through the container's executor
/// (gantry's helper, or `runc exec`). In the foreground this command becomes that
/// process's parent by exec, so its exit status and signals are the command's.
pub fn exec(ctx: &mut Ctx, a: &ExecArgs) -> Result<ExitCode, CliError> {
    let [name, argv @ ..] = &a.container_and_command[..] else {
        return Err(usage("\"exec\" requires at least 2 arguments."));
    };
    let rec = ctx.store.container(name)?;
    if !matches!(running(ctx, &rec)?.status, Status::Running) {
        return Err(msg(format!("Container {} is not running", rec.id)));
    }
    let cfg = config(&rec)?;
    let dir = ctx.store.container_dir(&rec.id);
    let env = given_env(&a.env_file, &a.env)?;
    let spec = match gantry_runtime::monitor::exec_spec(
        &cfg,
        &dir,
        &rec.id,
        argv,
        &env,
        a.user.as_deref(),
        a.workdir.as_deref(),
    ) {
        Ok(s) => s,
        Err((message, code)) => return fail_with(msg(message), u8::try_from(code).unwrap_or(FAILED)),
    };
    let spec = gantry_runtime::ContainerSpec { terminal: a.tty, privileged: a.privileged || spec.privileged, ..spec };
    let process = dir.join(format!("exec-{:016x}.json", rand::random::<u64>()));
    spec.write_process(&process).map_err(|e| msg(e.to_string()))?;
    let state = gantry_runtime::Executor::state_dir(ctx.store.root());
    let mut c = match &cfg.runtime {
        Some(runtime) => {
            let mut c = Command::new(runtime);
            c.arg("--root").arg(&state).arg("exec").arg("--process").arg(&process);
            if a.tty {
                c.arg("--tty");
            }
            c.arg(&rec.id);
            c
        }
        None => {
            let exe = std::env::current_exe().map_err(|e| msg(format!("own executable: {e}")))?;
            let mut c = Command::new(exe);
            c.arg(HELPER_ARG).arg("exec").arg("--root").arg(&state).arg("--process").arg(&process).arg(&rec.id);
            c
        }
    };
    if !a.interactive {
        c.stdin(Stdio::null());
    }
    if a.detach {
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        // SAFETY: setsid in the child before exec, as for a detached monitor.
        unsafe {
            c.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        c.spawn().map_err(|e| msg(format!("exec: {e}")))?;
        return Ok(ExitCode::SUCCESS);
    }
    Err(msg(format!("exec: {}", c.exec())))
}

/// `top`: the host's `ps` (with the given options, `-ef` by default), only the rows of
/// the container's processes, as docker does.
pub fn top(ctx: &Ctx, a: &TopArgs) -> Result<(), CliError> {
    let rec = ctx.store.container(&a.container)?;
    if !matches!(running(ctx, &rec)?.status, Status::Running | Status::Restarting) {
        return Err(msg(format!("Container {} is not running", rec.id)));
    }
    let pids: Vec<u32> = gantry_runtime::container::cgroup_pids(&rec.id).into_iter().map(|p| p as u32).collect();
    let args: Vec<String> = if a.ps_options.is_empty() { vec!["-ef".into()] } else { a.ps_options.clone() };
    let out = Command::new("ps").args(&args).output().map_err(|e| msg(format!("ps: {e}")))?;
    if !out.status.success() {
        return Err(msg(format!("ps: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
        return Err(msg("Couldn't find PID field in ps output"));
    };
    let mut shown = format!("{header}\n");
    for line in lines {
        let pid = line.split_whitespace().nth(col).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            shown.push_str(line);
            shown.push('\n');
        }
    }
    print(&shown);
    Ok(())
}

/// `port`: the published ports of a running container (`80/tcp -> 0.0.0.0:8080`),
/// or the host address of one.
pub fn port(ctx: &Ctx, a: &PortArgs) -> Result<(), CliError> {
    let rec = ctx.store.container(&a.container)?;
    let state = running(ctx, &rec)?;
    let mut out = String::new();
    for p in &state.ports {
        let key = format!("{}/{}", p.container_port, p.proto);
        match &a.port {
            None => out.push_str(&format!("{key} -> {}:{}\n", p.host_ip, p.host_port)),
            Some(q) if *q == key || *q == p.container_port.to_string() => {
                out.push_str(&format!("{}:{}\n", p.host_ip, p.host_port))
            }
            Some(_) => {}
        }
    }
    if let (Some(q), true) = (&a.port, out.is_empty()) {
        return Err(msg(format!("No public port '{q}' published for {}", rec.name)));
    }
    print(&out);
    Ok(())
}

/// `commit`: the container's changes as a new layer on its image, with the
/// container's settings (and `--change`s) as the image's config, as docker makes it.
pub fn commit(ctx: &mut Ctx, a: &CommitArgs) -> Result<(), CliError> {
    let rec = ctx.store.container(&a.container)?;
    let cfg = config(&rec)?;
    let reference = a.reference.as_deref().map(gantry_image::Reference::parse).transpose()?;
    let _lease = ctx.store.lease()?;
    let parent = ImageConfig::parse(&ctx.store.read_blob(&rec.image_id)?)
        .map_err(|e| msg(format!("image {}: {e}", rec.image_id.short())))?;
    let binds: Vec<String> = cfg.binds.iter().map(|b| b.destination.clone()).collect();
    // Paused while its changes are read, unless told otherwise, as docker does.
    let paused = match (a.pause, running(ctx, &rec)?.status) {
        (true, Status::Running) => Some(gantry_runtime::container::Frozen::freeze(&rec.id).map_err(msg)?),
        _ => None,
    };
    let layer = gantry_runtime::commit::commit_layer(&ctx.store, &rec, &binds).map_err(|e| msg(e.to_string()))?;
    drop(paused);
    let mut image = parent.clone();
    let mut c = parent.config.clone().unwrap_or_default();
    c.cmd = (!cfg.cmd.is_empty()).then(|| cfg.cmd.clone());
    c.entrypoint = (!cfg.entrypoint.is_empty()).then(|| cfg.entrypoint.clone());
    c.env = Some(cfg.env.clone());
    c.working_dir = (!cfg.working_dir.is_empty()).then(|| cfg.working_dir.clone());
    c.user = (!cfg.user.is_empty()).then(|| cfg.user.clone());
    c.labels = (!cfg.labels.is_empty()).then(|| cfg.labels.clone());
    c.stop_signal = cfg.stop_signal.clone();
    gantry_archive::apply_changes(&mut c, &a.change).map_err(|e| usage(e.to_string()))?;
    let now = gantry_runtime::container::now_rfc3339();
    image.config = Some(c);
    image.created = Some(now.clone());
    image.author = a.author.clone();
    image.comment = a.message.clone();
    image.container = Some(rec.id.clone());
    image.history.push(gantry_image::HistoryEntry {
        created: Some(now),
        created_by: Some(cfg.cmd.join(" ")),
        author: a.author.clone(),
        comment: a.message.clone(),
        ..Default::default()
    });
    image.rootfs.diff_ids.push(layer.diff_id);
    let id = ctx.store.put_bytes(&image.to_bytes())?;
    let mut layers = ctx.store.layers(&rec.image_id)?;
    layers.push(layer);
    let new = gantry_store::NewImage {
        id,
        created_unix_nanos: views::now_nanos(),
        layers,
        labels: image.labels().cloned().unwrap_or_default(),
        parent: Some(rec.image_id),
    };
    let refs: Vec<gantry_image::Reference> = reference.map(|r| r.with_default_tag()).into_iter().collect();
    ctx.store.put_image(&new, &refs)?;
    print(&format!("{id}\n"));
    Ok(())
}

/// `export`: the container's root filesystem as a tar, to a file or stdout.
pub fn export(ctx: &Ctx, a: &ExportArgs) -> Result<(), CliError> {
    use std::io::{IsTerminal, Write};
    let rec = ctx.store.container(&a.container)?;
    let live = matches!(running(ctx, &rec)?.status, Status::Running | Status::Restarting);
    let _lease = ctx.store.lease()?;
    match &a.output {
        Some(path) => {
            let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
            let file = std::fs::File::create(&tmp).map_err(|e| msg(format!("{}: {e}", tmp.display())))?;
            let mut out = std::io::BufWriter::new(file);
            let done = gantry_runtime::commit::export(&ctx.store, &rec, live, &mut out)
                .map_err(|e| msg(e.to_string()))
                .and_then(|()| out.flush().map_err(|e| msg(e.to_string())));
            if let Err(e) = done {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, path).map_err(|e| msg(format!("{}: {e}", path.display())))
        }
        None => {
            if std::io::stdout().is_terminal() {
                return Err(msg("cowardly refusing to save to a terminal. Use the -o flag or redirect"));
            }
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            gantry_runtime::commit::export(&ctx.store, &rec, live, &mut out).map_err(|e| msg(e.to_string()))?;
            out.flush().map_err(|e| msg(e.to_string()))
        }
    }
}

// ---------------------------------------------------------------------------------
// ps
// ---------------------------------------------------------------------------------

const PS_TABLE: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&chrono::Utc))
}

fn since(s: &str) -> String {
    let d = parse_time(s).map(|t| (chrono::Utc::now() - t).to_std().unwrap_or_default()).unwrap_or_default();
    human_duration(d)
}

/// docker's STATUS column.
fn status_text(state: &State) -> String {
    match state.status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", since(&state.started_at)),
        Status::Restarting => format!("Restarting ({}) {} ago", state.exit_code, since(&state.finished_at)),
        Status::Exited => format!("Exited ({}) {} ago", state.exit_code, since(&state.finished_at)),
    }
}

fn created_rfc3339(nanos: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(nanos).format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// The keys `ps --filter` takes: docker's, less `expose`, `publish` and `isolation`.
const PS_FILTERS: [&str; 12] = [
    "ancestor", "before", "exited", "health", "id", "is-task", "label", "name", "network", "since", "status", "volume",
];

/// The states docker's `status=` accepts.
const STATES: [&str; 7] = ["paused", "restarting", "removing", "running", "dead", "created", "exited"];

/// `ps --filter`, resolved once before listing, as docker's `foldFilter` does.
struct PsFilter {
    f: Filters,
    exited: Vec<i32>,
    /// Containers listed before (newer than) this one are skipped; then it, too.
    before: Option<String>,
    /// Listing stops at this container.
    since: Option<String>,
    /// The images named by `ancestor=` and their descendants.
    ancestors: Option<HashSet<Digest>>,
    /// Containers some `id=` value is a unique prefix of.
    ids: Option<HashSet<String>>,
}

impl PsFilter {
    fn parse(ctx: &Ctx, raw: &[String], recs: &[ContainerRecord]) -> Result<PsFilter, CliError> {
        let f = Filters::parse(raw, &PS_FILTERS)?;
        let mut exited = Vec::new();
        for v in f.get("exited") {
            exited.push(v.parse::<i32>().map_err(|_| msg(format!("strconv.Atoi: parsing {v:?}: invalid syntax")))?);
        }
        if let Some(v) = f.get("status").iter().find(|v| !STATES.contains(&v.as_str())) {
            return Err(msg(format!("Unrecognised filter value for status: {v}")));
        }
        if let Some(v) =
            f.get("health").iter().find(|v| !["starting", "healthy", "unhealthy", "none"].contains(&v.as_str()))
        {
            return Err(msg(format!("Unrecognised filter value for health: {v}")));
        }
        if f.contains("is-task") && !matches!(f.get("is-task"), [v] if v == "true" || v == "false") {
            return Err(msg(format!("Invalid filter 'is-task=[{}]'", f.get("is-task").join(" "))));
        }
        let pick = |key: &str| -> Result<Option<String>, CliError> {
            match f.get(key).last() {
                Some(v) => Ok(Some(ctx.store.container(v)?.id)),
                None => Ok(None),
            }
        };
        let (before, since) = (pick("before")?, pick("since")?);
        let ancestors = match f.contains("ancestor") {
            false => None,
            true => {
                let mut set = HashSet::new();
                // An image that cannot be found matches nothing (docker only logs it).
                let mut todo: Vec<Digest> =
                    f.get("ancestor").iter().filter_map(|v| ctx.store.resolve(v).ok().map(|(id, _)| id)).collect();
                while let Some(id) = todo.pop() {
                    if set.insert(id) {
                        todo.extend(ctx.store.children(&id)?);
                    }
                }
                Some(set)
            }
        };
        let ids = f.contains("id").then(|| {
            let mut set = HashSet::new();
            for v in f.get("id") {
                let hits: Vec<&ContainerRecord> = recs.iter().filter(|r| r.id.starts_with(v.as_str())).collect();
                match hits[..] {
                    [one] => drop(set.insert(one.id.clone())),
                    _ => {
                        if let Some(r) = hits.iter().find(|r| r.id == *v) {
                            set.insert(r.id.clone());
                        }
                    }
                }
            }
            set
        });
        Ok(PsFilter { f, exited, before, since, ancestors, ids })
    }

    /// Whether the container's name matches: with or without docker's leading `/`.
    fn name_matches(&self, name: &str) -> bool {
        let slashed = format!("/{name}");
        self.f.matches("name", &slashed) || self.f.matches("name", name)
    }

    /// Every check but `before`/`since` and the running/limit ones, in docker's order.
    fn keeps(&self, rec: &ContainerRecord, state: &State, cfg: &ContainerConfig) -> bool {
        let live = matches!(state.status, Status::Running | Status::Restarting);
        if self.f.contains("name") && !self.name_matches(&rec.name) {
            return false;
        }
        if self.ids.as_ref().is_some_and(|ids| !ids.contains(&rec.id) || !self.f.matches("id", &rec.id)) {
            return false;
        }
        if !self.f.match_kv_list("label", &cfg.labels) {
            return false;
        }
        if !self.exited.is_empty() && (live || state.started_at.is_empty() || !self.exited.contains(&state.exit_code)) {
            return false;
        }
        if self.f.contains("status") && !self.f.matches("status", state.status.as_str()) {
            return false;
        }
        // gantry has no health checks (health `none`) and no swarm tasks.
        if self.f.contains("health") && !self.f.get("health").iter().any(|h| h == "none") {
            return false;
        }
        if self.f.get("is-task").iter().any(|t| t == "true") {
            return false;
        }
        if self.f.contains("volume") {
            let mounted = self.f.get("volume").iter().any(|v| {
                cfg.binds.iter().any(|b| {
                    b.destination == *v || b.volume.as_deref().map_or(b.source.to_string_lossy() == *v, |n| n == v)
                })
            });
            if !mounted {
                return false;
            }
        }
        if self.ancestors.as_ref().is_some_and(|a| !a.contains(&rec.image_id)) {
            return false;
        }
        if self.f.contains("network") && !self.f.get("network").contains(&cfg.network) {
            return false;
        }
        true
    }
}

/// docker's SIZE: what the container wrote and, as `virtual`, that plus its image.
fn size_text(ctx: &Ctx, rec: &ContainerRecord) -> String {
    let written = gantry_store::disk_usage(&ctx.store.container_dir(&rec.id).join("upper"));
    let image = ctx.store.image(&rec.image_id).map(|i| i.size).unwrap_or(0);
    let human = |n: u64| crate::format::units::human_size(n as f64);
    match written + image {
        0 => human(written),
        total => format!("{} (virtual {})", human(written), human(total)),
    }
}

pub fn ps(ctx: &Ctx, a: &PsArgs) -> Result<(), CliError> {
    let recs = ctx.store.containers()?;
    let mut filter = PsFilter::parse(ctx, &a.filter, &recs)?;
    let limit = if a.latest && a.last == -1 { 1 } else { a.last };
    // A status filter lists stopped containers too, as in docker.
    let show_all = a.all || filter.f.contains("status");
    let table = a.format.as_deref().is_none_or(|f| f == "table");
    let sizes = a.size || a.format.as_deref().is_some_and(|f| f.contains(".Size"));
    let now = views::now_secs();
    let mut rows = Vec::new();
    for rec in &recs {
        if let Some(b) = &filter.before {
            if *b == rec.id {
                filter.before = None;
            }
            continue;
        }
        if filter.since.as_deref() == Some(rec.id.as_str()) {
            break;
        }
        let state = running(ctx, rec)?;
        let live = matches!(state.status, Status::Running | Status::Restarting);
        if !live && !show_all && limit <= 0 {
            continue;
        }
        let cfg = config(rec)?;
        if !filter.keeps(rec, &state, &cfg) {
            continue;
        }
        if limit > 0 && rows.len() as i64 == limit {
            break;
        }
        let command: String =
            std::iter::once(cfg.path.clone()).chain(cfg.args.iter().cloned()).collect::<Vec<_>>().join(" ");
        let command = if a.no_trunc { command } else { views::ellipsis(&command, 20) };
        let labels: Vec<String> = cfg.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        rows.push(json!({
            "ID": if a.no_trunc { rec.id.clone() } else { rec.id[..12].to_string() },
            "Image": rec.image_name,
            "Command": format!("{command:?}"),
            "CreatedAt": created_rfc3339(rec.created_unix_nanos),
            "RunningFor": crate::format::units::time_ago(rec.created_unix_nanos / 1_000_000_000, now),
            "Ports": state.ports.iter().map(|p| p.display()).collect::<Vec<_>>().join(", "),
            "Status": status_text(&state),
            "State": state.status.as_str(),
            "Size": if sizes { size_text(ctx, rec) } else { "0B".to_string() },
            "Names": rec.name,
            "Labels": labels.join(","),
            "Mounts": cfg.binds.iter().map(|b| b.source.display().to_string()).collect::<Vec<_>>().join(","),
            "Networks": cfg.network,
        }));
    }
    let headers = json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "Status": "STATUS", "State": "STATE", "Size": "SIZE",
        "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
    });
    let with_size = format!("{PS_TABLE}\t{{{{.Size}}}}");
    let default_table = if a.size && table { with_size.as_str() } else { PS_TABLE };
    let format = match (&a.format, a.quiet) {
        (Some(f), _) => Format::parse(f, default_table),
        (None, true) => Format::Raw("{{.ID}}".into()),
        (None, false) => Format::parse(default_table, default_table),
    };
    print(&render(&format, &rows, &headers)?);
    Ok(())
}

// ---------------------------------------------------------------------------------
// logs
// ---------------------------------------------------------------------------------

/// `--since`: an RFC 3339 time, Unix seconds, or a duration before now (`42m`, `10s`, `1h`).
fn since_cutoff(s: &str) -> Result<chrono::DateTime<chrono::Utc>, CliError> {
    if let Some(t) = parse_time(s) {
        return Ok(t);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return chrono::DateTime::from_timestamp(secs as i64, 0)
            .ok_or_else(|| usage(format!("invalid value for \"since\": {s}")));
    }
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().map_err(|_| usage(format!("invalid value for \"since\": {s}")))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "ms" => n / 1000.0,
        _ => return Err(usage(format!("invalid value for \"since\": {s}"))),
    };
    Ok(chrono::Utc::now() - chrono::Duration::milliseconds((secs * 1000.0) as i64))
}

fn write_entry(v: &Value, a: &LogsArgs) {
    use std::io::Write;
    let mut line = String::new();
    if a.timestamps {
        line.push_str(v["time"].as_str().unwrap_or(""));
        line.push(' ');
    }
    // --details: the entry's extra attributes, as `k=v,k2=v2 `.
    if let Some(attrs) = v["attrs"].as_object().filter(|m| a.details && !m.is_empty()) {
        let pairs: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
        line.push_str(&pairs.join(","));
        line.push(' ');
    }
    line.push_str(v["log"].as_str().unwrap_or(""));
    if v["stream"] == "stderr" {
        let _ = std::io::stderr().write_all(line.as_bytes());
    } else {
        print(&line);
    }
}

pub fn logs(ctx: &Ctx, a: &LogsArgs) -> Result<(), CliError> {
    use std::io::{BufRead, Seek};
    let rec = ctx.store.container(&a.container)?;
    let dir = ctx.store.container_dir(&rec.id);
    let path = dir.join(format!("{}-json.log", rec.id));
    let tail: Option<usize> = match a.tail.as_str() {
        "all" | "" => None,
        n => Some(n.parse::<i64>().map(|n| n.max(0) as usize).map_err(|_| usage(format!("invalid tail value: {n}")))?),
    };
    let cutoff = a.since.as_deref().map(since_cutoff).transpose()?;
    let until = a.until.as_deref().map(since_cutoff).transpose()?;
    let time = |v: &Value| v["time"].as_str().and_then(parse_time);
    let after_until = |v: &Value| until.is_some_and(|u| time(v).is_some_and(|t| t > u));
    let keep = |v: &Value| cutoff.is_none_or(|c| time(v).is_some_and(|t| t >= c)) && !after_until(v);
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(msg(format!("{}: {e}", path.display()))),
    };
    let mut offset = 0u64;
    if let Some(f) = &mut file {
        let mut entries: Vec<Value> = Vec::new();
        let mut reader = std::io::BufReader::new(&mut *f);
        let mut line = String::new();
        while reader.read_line(&mut line).map_err(|e| msg(e.to_string()))? > 0 {
            if line.ends_with('\n') {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if keep(&v) {
                        entries.push(v);
                    }
                }
                offset += line.len() as u64;
            }
            line.clear();
        }
        let skip = tail.map_or(0, |t| entries.len().saturating_sub(t));
        for v in &entries[skip..] {
            write_entry(v, a);
        }
    }
    if !a.follow {
        return Ok(());
    }
    loop {
        let alive = monitor_alive(&dir);
        if file.is_none() {
            file = std::fs::File::open(&path).ok();
        }
        if let Some(f) = &mut file {
            f.seek(std::io::SeekFrom::Start(offset)).map_err(|e| msg(e.to_string()))?;
            let mut reader = std::io::BufReader::new(&mut *f);
            let mut line = String::new();
            while reader.read_line(&mut line).map_err(|e| msg(e.to_string()))? > 0 {
                if !line.ends_with('\n') {
                    break;
                }
                offset += line.len() as u64;
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if after_until(&v) {
                        return Ok(());
                    }
                    write_entry(&v, a);
                }
                line.clear();
            }
        }
        // Following stops with the container, or once --until has passed.
        if !alive || until.is_some_and(|u| chrono::Utc::now() > u) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------
// inspect
// ---------------------------------------------------------------------------------

/// docker's container JSON (the fields gantry knows).
pub fn inspect_container(ctx: &Ctx, rec: &ContainerRecord) -> Result<Value, CliError> {
    let dir = ctx.store.container_dir(&rec.id);
    let state = running(ctx, rec)?;
    let cfg = config(rec)?;
    let zero = "0001-01-01T00:00:00Z";
    let or_zero = |s: &str| if s.is_empty() { zero.to_string() } else { s.to_string() };
    let live = matches!(state.status, Status::Running | Status::Restarting);
    let mounts: Vec<Value> = cfg
        .binds
        .iter()
        .map(|b| match &b.volume {
            Some(name) => json!({"Type": "volume", "Name": name, "Source": b.source, "Destination": b.destination,
                                 "Driver": "local", "Mode": "", "RW": !b.readonly, "Propagation": ""}),
            None => json!({"Type": "bind", "Source": b.source, "Destination": b.destination, "Mode": "",
                           "RW": !b.readonly, "Propagation": "rprivate"}),
        })
        .chain(cfg.tmpfs.iter().map(|t| {
            json!({"Type": "tmpfs", "Source": "", "Destination": t.destination, "Mode": "", "RW": true,
                   "Propagation": ""})
        }))
        .collect();
    Ok(json!({
        "Id": rec.id,
        "Created": created_rfc3339(rec.created_unix_nanos),
        "Path": cfg.path,
        "Args": cfg.args,
        "State": {
            "Status": state.status.as_str(),
            "Running": live,
            "Paused": false,
            "Restarting": state.status == Status::Restarting,
            "OOMKilled": state.oom_killed,
            "Dead": false,
            "Pid": if live { state.pid } else { 0 },
            "ExitCode": state.exit_code,
            "Error": state.error,
            "StartedAt": or_zero(&state.started_at),
            "FinishedAt": or_zero(&state.finished_at),
        },
        "Image": rec.image_id.to_string(),
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": dir.join(format!("{}-json.log", rec.id)),
        "Name": format!("/{}", rec.name),
        "RestartCount": state.restart_count,
        "NetworkSettings": {
            "Ports": state.ports.iter().map(|p| (format!("{}/{}", p.container_port, p.proto),
                json!([{"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}]))).collect::<serde_json::Map<String, Value>>(),
        },
        "Driver": "overlay2",
        "Platform": "linux",
        "HostConfig": {
            "Binds": cfg.binds.iter().map(|b| format!("{}:{}{}", b.source.display(), b.destination, if b.readonly { ":ro" } else { "" })).collect::<Vec<_>>(),
            "NetworkMode": match cfg.network.as_str() { "none" => "none", "host" => "host", _ => "default" },
            "PortBindings": cfg.ports.iter().map(|p| (format!("{}/{}", p.container_port, p.proto),
                json!([{"HostIp": if p.host_ip == "0.0.0.0" { "" } else { p.host_ip.as_str() }, "HostPort": if p.host_port == 0 { String::new() } else { p.host_port.to_string() }}]))).collect::<serde_json::Map<String, Value>>(),
            "RestartPolicy": {"Name": cfg.restart.name, "MaximumRetryCount": cfg.restart.max_retries},
            "AutoRemove": cfg.auto_remove,
            "CapAdd": cfg.cap_add,
            "CapDrop": cfg.cap_drop,
            "Privileged": cfg.privileged,
            "ReadonlyRootfs": cfg.readonly_rootfs,
            "Memory": cfg.memory.unwrap_or(0),
            "NanoCpus": cfg.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
            "PidsLimit": cfg.pids_limit,
            "Runtime": cfg.runtime.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "gantry".into()),
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": if cfg.hostname.is_empty() { rec.id[..12].to_string() } else { cfg.hostname.clone() },
            "User": cfg.user,
            "Tty": cfg.tty,
            "OpenStdin": cfg.open_stdin,
            "Env": cfg.env,
            "Cmd": cfg.cmd,
            "Image": rec.image_name,
            "WorkingDir": cfg.working_dir,
            "Entrypoint": if cfg.entrypoint.is_empty() { Value::Null } else { json!(cfg.entrypoint) },
            "Labels": cfg.labels,
            "StopSignal": cfg.stop_signal,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_signals() {
        assert_eq!(ram_in_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("512").unwrap(), 512);
        assert_eq!(ram_in_bytes("2kb").unwrap(), 2048);
        assert!(ram_in_bytes("lots").is_err());
        assert_eq!(signal_number("KILL").unwrap(), 9);
        assert_eq!(signal_number("sigterm").unwrap(), 15);
        assert_eq!(signal_number("10").unwrap(), 10);
        assert!(signal_number("NOPE").is_err());
        assert!(valid_name("web-1") && !valid_name("-x") && !valid_name("a b"));
    }
}
