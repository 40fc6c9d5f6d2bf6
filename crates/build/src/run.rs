//! RUN: the one place the build meets the container runtime, through a narrow
//! interface: run a process in a writable snapshot of the stage's layers
//! ([`gantry_store::Sandbox`]), then take the changed files from the sandbox's upper
//! directory as the new layer ([`gantry_layer::diff::write_diff`]). The upper directory
//! (overlayfs's own, or the one the copy driver writes from its comparison) then
//! becomes the new layer's snapshot, so the next step unpacks nothing.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Instant;

use gantry_dockerfile::instructions::{parse_mount, Command, Dockerfile, MountType, Run, Sharing, ShellOrExec};
use gantry_image::Digest;
use gantry_layer::apply::RootDir;
use gantry_runtime::helper::START_ERROR;
use gantry_runtime::{ContainerSpec, Executor, Mount, MountKind, Network};

use crate::exec::{key_of, Builder, State, PROXY_ARGS};
use crate::fsview::clean;
use crate::layerwriter::write_stream;
use crate::options::Event;
use crate::BuildError;

/// How many lines of a failing step's output its error repeats.
const TAIL_LINES: usize = 10;

/// Mount points the runtime creates when the image lacks them; such a point is not
/// a change the step made, so it is left out of the layer.
const MOUNT_POINTS: [&str; 9] =
    ["proc", "sys", "dev", "dev/pts", "dev/shm", "dev/mqueue", "etc/hosts", "etc/resolv.conf", "etc/hostname"];

/// The argv of a RUN: exec form as written; shell form through the stage's SHELL, with
/// the heredoc bodies passed to the shell (a lone heredoc is the script itself).
fn argv(run: &Run, shell: &[String]) -> Vec<String> {
    match &run.cmd {
        ShellOrExec::Exec(args) => args.clone(),
        ShellOrExec::Shell(line) => {
            let line = line.trim();
            let script = match &run.heredocs[..] {
                [h] if line.trim_start_matches("<<").trim_start_matches('-').trim_matches(['"', '\'']) == h.name => {
                    h.content.clone()
                }
                [] => line.to_string(),
                docs => {
                    let mut s = line.to_string();
                    for h in docs {
                        s.push('\n');
                        s.push_str(&h.content);
                        s.push_str(&h.name);
                    }
                    s
                }
            };
            let mut v = shell.to_vec();
            v.push(script);
            v
        }
    }
}

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run(
        &mut self,
        st: &mut State,
        id: usize,
        began: Instant,
        cmd: &Command,
        run: &Run,
        args: &[(String, String)],
        results: &[Option<State>],
        df: &Dockerfile,
        no_cache: bool,
    ) -> Result<(), BuildError> {
        if run.security.as_deref() == Some("insecure") {
            return Err(BuildError::at(cmd, "RUN --security=insecure is not allowed".into()));
        }
        let c = st.config.config.clone().unwrap_or_default();
        let shell = c.shell.clone().unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
        let argv = argv(run, &shell);
        // History names the build args the command sees, as BuildKit does (`|2 A=1 B=2 ...`).
        let env_names: Vec<String> =
            c.env.iter().flatten().map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k).to_string()).collect();
        let mut visible: Vec<(String, String)> = Vec::new();
        for (k, v) in args {
            // Build args only (ENV entries share the scope), shown with their final value.
            if PROXY_ARGS.contains(&k.as_str()) || !self.consumed_args.contains(k) {
                continue;
            }
            match visible.iter_mut().find(|(vk, _)| vk == k) {
                Some(slot) => slot.1 = v.clone(),
                None => visible.push((k.clone(), v.clone())),
            }
        }
        let mut shown: Vec<String> = visible.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !shown.is_empty() {
            shown.insert(0, format!("|{}", shown.len()));
        }
        shown.extend(argv.iter().cloned());
        let created_by = format!("RUN {} # buildkit", shown.join(" "));
        let network = match run.network.as_deref() {
            None | Some("default") => self.opts.network,
            Some("none") => Network::None,
            Some("host") => Network::Host,
            Some(other) => return Err(BuildError::at(cmd, format!("unsupported network mode {other:?}"))),
        };
        let mut env = c.env.clone().unwrap_or_default();
        // As BuildKit: a RUN whose image sets no PATH gets the default one (not in the image).
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, gantry_image::DEFAULT_PATH_ENV.to_string());
        }
        for (k, v) in args {
            if !env_names.contains(k) {
                env.push(format!("{k}={v}"));
            }
        }
        let user = c.user.clone().unwrap_or_default();
        let cwd = c.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into());
        // Mount values may use the stage's variables, as in BuildKit.
        let env_pairs: Vec<(String, String)> = env
            .iter()
            .map(|e| e.split_once('=').map_or((e.clone(), String::new()), |(k, v)| (k.into(), v.into())))
            .collect();
        let mut mounts = Vec::new();
        for m in &run.mounts {
            let m = if m.needs_expansion {
                let expand =
                    |w: &str| self.lexer.expand_word(w, &env_pairs).map(|e| e.value).map_err(|e| e.to_string());
                parse_mount(&m.spec, Some(&expand)).map_err(|e| BuildError::at(cmd, e))?
            } else {
                m.clone()
            };
            mounts.push(m);
        }
        let mut mount_keys = Vec::new();
        let mut sources = Vec::new();
        for m in &mounts {
            let (key, source) = self.mount_source(m, cmd, results, df)?;
            mount_keys.push(key);
            sources.push(source);
        }
        let key = key_of(&[
            st.key.as_bytes(),
            created_by.as_bytes(),
            format!("{network:?}").as_bytes(),
            env.join("\n").as_bytes(),
            user.as_bytes(),
            cwd.as_bytes(),
            mount_keys.join("\n").as_bytes(),
        ]);
        let entry = self.history(created_by, true);
        self.cached(st, id, began, key, no_cache, |b, st| {
            let diff_ids: Vec<Digest> = st.layers.iter().map(|l| l.diff_id).collect();
            let mut sandbox = b.store.sandbox(&diff_ids)?;
            let root = RootDir::open(sandbox.rootfs()).map_err(|e| BuildError::Layer(e.to_string()))?;
            let (user, _) = gantry_runtime::user::resolve_in(&root, &user).map_err(|e| BuildError::at(cmd, e))?;
            let mut created: Vec<String> =
                MOUNT_POINTS.iter().copied().filter(|p| !root.exists(p.as_bytes())).map(String::from).collect();
            let mut run_mounts = Vec::new();
            let mut run_env = env.clone();
            let mut _locks = Vec::new();
            let mut _secrets = Vec::new();
            for (i, (m, source)) in mounts.iter().zip(&sources).enumerate() {
                let rel = clean(&mount_target(m, &cwd));
                // The target and any parent the runtime makes for it are not the step's.
                let mut prefix = String::new();
                for part in rel.split('/').filter(|p| !p.is_empty()) {
                    prefix = if prefix.is_empty() { part.to_string() } else { format!("{prefix}/{part}") };
                    if !root.is_dir(prefix.as_bytes()) && root.open_file(prefix.as_bytes()).is_err() {
                        created.push(prefix.clone());
                    }
                }
                let scratch = sandbox.dir().join(format!("mount-{i}"));
                match b.attach_mount(m, source, &scratch, cmd)? {
                    Attached::Mount(mount, lock) => {
                        run_mounts.push(Mount { destination: format!("/{rel}"), ..mount });
                        _locks.extend(lock);
                    }
                    Attached::Secret(mount, guard) => {
                        run_mounts.push(Mount { destination: format!("/{rel}"), ..mount });
                        _secrets.push(guard);
                    }
                    Attached::Env(k, v) => run_env.push(format!("{k}={v}")),
                    Attached::Nothing => {}
                }
            }
            let files = sandbox.dir().join("files");
            std::fs::create_dir_all(&files).map_err(|e| BuildError::Layer(format!("{}: {e}", files.display())))?;
            let write = |name: &str, text: String| {
                let p = files.join(name);
                std::fs::write(&p, text).map_err(|e| BuildError::Layer(format!("{}: {e}", p.display())))?;
                Ok::<_, BuildError>(p)
            };
            let hosts = write(
                "hosts",
                "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n".into(),
            )?;
            let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            let resolv = write("resolv.conf", resolv)?;
            let bind = |destination: &str, source| Mount {
                destination: destination.into(),
                source,
                kind: MountKind::Bind,
                readonly: false,
            };
            let spec = ContainerSpec {
                rootfs: sandbox.rootfs().to_path_buf(),
                args: argv.clone(),
                env: run_env,
                cwd: cwd.clone(),
                user,
                hostname: "buildkitsandbox".into(),
                network,
                mounts: [bind("/etc/hosts", hosts), bind("/etc/resolv.conf", resolv)]
                    .into_iter()
                    .chain(run_mounts)
                    .collect(),
                ..Default::default()
            };
            let cid = format!("build-{:016x}", unique_id());
            let spec = ContainerSpec { cgroups_path: Some(format!("/gantry/{cid}")), ..spec };
            spec.write_bundle(sandbox.dir()).map_err(|e| BuildError::at(cmd, e.to_string()))?;
            let executor = match &b.opts.runtime {
                Some(path) => Executor::External { runtime: path.clone() },
                None => Executor::builtin().map_err(|e| BuildError::Layer(e.to_string()))?,
            };
            let state = Executor::state_dir(b.store.root());
            let status = b.execute(&executor, &state, sandbox.dir(), &cid, id, cmd, &argv)?;
            if status != 0 {
                // BuildKit's words; a program that could not even start says why.
                let why = std::fs::read_to_string(sandbox.dir().join(START_ERROR))
                    .map(|e| e.trim().to_string())
                    .unwrap_or_else(|_| format!("exit code: {status}"));
                return Err(BuildError::at(
                    cmd,
                    format!("process \"{}\" did not complete successfully: {why}", argv.join(" ")),
                ));
            }
            sandbox.unmount()?;
            for i in 0..mounts.len() {
                gantry_store::unmount_rootfs(&sandbox.dir().join(format!("mount-{i}")));
            }
            let skip: Vec<&[u8]> = created.iter().map(|p| p.as_bytes()).collect();
            let upper = sandbox.changes()?;
            let rec = write_stream(b.store, |out| {
                gantry_layer::diff::write_diff(&upper, &skip, out)
                    .map(|s| s.content_size)
                    .map_err(|e| BuildError::Layer(format!("reading the changes of RUN: {e}")))
            })?;
            st.layers.push(rec);
            st.view = None;
            let chain: Vec<Digest> = st.layers.iter().map(|l| l.diff_id).collect();
            // Mount points made only for the run are not part of the snapshot either:
            // removed inside the upper dir (the RUN may have planted links there).
            let upper_root = RootDir::open(&upper).map_err(|e| BuildError::Layer(e.to_string()))?;
            for p in created.iter().rev() {
                let _ = upper_root.remove(p.as_bytes());
            }
            b.store.commit_sandbox(sandbox, &chain)?;
            st.config.history.push(entry);
            Ok(())
        })
    }

    /// Runs the container, showing its output as the step's log lines, and returns
    /// its exit status. The last lines are kept for the error of a failing step.
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &self,
        executor: &Executor,
        state: &std::path::Path,
        bundle: &std::path::Path,
        cid: &str,
        id: usize,
        cmd: &Command,
        argv: &[String],
    ) -> Result<i32, BuildError> {
        let (reader, writer) = std::io::pipe().map_err(|e| BuildError::Layer(format!("pipe: {e}")))?;
        let mut command = executor.command(state, bundle, cid);
        command.stdin(Stdio::null());
        command.stdout(writer.try_clone().map_err(|e| BuildError::Layer(format!("pipe: {e}")))?);
        command.stderr(writer);
        let started = Instant::now();
        let mut child = command.spawn().map_err(|e| BuildError::at(cmd, format!("starting {argv:?}: {e}")))?;
        // The command holds the write ends; drop ours so the reader sees the end.
        drop(command);
        let mut tail: std::collections::VecDeque<String> = Default::default();
        for line in BufReader::new(reader).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
            (self.progress)(Event::Output { id, seconds: started.elapsed().as_secs_f64(), line: line.clone() });
            tail.push_back(line);
            if tail.len() > TAIL_LINES {
                tail.pop_front();
            }
        }
        let status = child.wait().map_err(|e| BuildError::at(cmd, format!("waiting for {argv:?}: {e}")))?;
        Ok(status.code().unwrap_or(128))
    }
}

/// Where a RUN mount's content comes from, decided before the cache lookup.
enum MountSource {
    /// A directory or file of the context, and what the ignore rules hide below it.
    Context(std::path::PathBuf, Vec<String>),
    /// A path of another stage's or image's filesystem.
    Stage(Box<State>, String),
    None,
}

/// Removes a directory (and what is in it) when dropped.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a mount gives the container.
enum Attached {
    Mount(Mount, Option<std::fs::File>),
    /// A secret file, removed with the guard.
    Secret(Mount, RemoveOnDrop),
    Env(String, String),
    Nothing,
}

/// The target a mount appears at (relative ones under the working directory).
fn mount_target(m: &gantry_dockerfile::instructions::Mount, cwd: &str) -> String {
    let t = match (&m.target, m.typ) {
        (Some(t), _) => t.clone(),
        (None, MountType::Secret) => format!("/run/secrets/{}", m.id.clone().or(m.source.clone()).unwrap_or_default()),
        (None, _) => String::new(),
    };
    if t.starts_with('/') {
        t
    } else {
        format!("{cwd}/{t}")
    }
}

impl Builder<'_> {
    /// Resolves a mount's source and what it adds to the step's cache key: a context
    /// bind adds the digest of the files it shows, a stage bind the stage's key, a
    /// secret only its id (never its value).
    fn mount_source(
        &mut self,
        m: &gantry_dockerfile::instructions::Mount,
        cmd: &Command,
        results: &[Option<State>],
        df: &Dockerfile,
    ) -> Result<(String, MountSource), BuildError> {
        let spec = format!(
            "{}|{}|{:?}|{:?}|{}",
            m.typ.as_str(),
            m.target.clone().unwrap_or_default(),
            m.source,
            m.id,
            m.readonly
        );
        match m.typ {
            MountType::Bind => {
                let source = m.source.clone().unwrap_or_default();
                match &m.from {
                    Some(from) => {
                        let state =
                            self.copy_source(from, results, df).map_err(|e| BuildError::at(cmd, e.to_string()))?;
                        Ok((format!("{spec}|{}", state.key), MountSource::Stage(Box::new(state), source)))
                    }
                    None => {
                        let roots = self
                            .context
                            .select(if source.is_empty() { "." } else { &source })
                            .map_err(|e| BuildError::at(cmd, e.to_string()))?;
                        let digest = self.context.digest(self.store, &roots)?;
                        let root = std::fs::canonicalize(self.context.root())
                            .map_err(|e| BuildError::Context(e.to_string()))?;
                        let path = std::fs::canonicalize(root.join(clean(&source)))
                            .map_err(|e| BuildError::at(cmd, format!("mount source {source}: {e}")))?;
                        if !path.starts_with(&root) {
                            return Err(BuildError::at(
                                cmd,
                                format!("mount source {source} is outside the build context"),
                            ));
                        }
                        let hidden = match &roots[..] {
                            [root] => self.context.hidden(root)?,
                            _ => Vec::new(),
                        };
                        Ok((format!("{spec}|{digest}"), MountSource::Context(path, hidden)))
                    }
                }
            }
            MountType::Cache | MountType::Tmpfs | MountType::Secret => Ok((spec, MountSource::None)),
            MountType::Ssh => Err(BuildError::at(cmd, "RUN --mount=type=ssh is not supported yet".into())),
        }
    }

    /// Makes a mount ready in the sandbox's scratch directory `scratch`.
    fn attach_mount(
        &mut self,
        m: &gantry_dockerfile::instructions::Mount,
        source: &MountSource,
        scratch: &std::path::Path,
        cmd: &Command,
    ) -> Result<Attached, BuildError> {
        let io = |what: &std::path::Path, e: std::io::Error| BuildError::Layer(format!("{}: {e}", what.display()));
        let bind = |source: std::path::PathBuf, readonly: bool| Mount {
            destination: String::new(),
            source,
            kind: MountKind::Bind,
            readonly,
        };
        match (m.typ, source) {
            (MountType::Bind, MountSource::Context(path, hidden)) => {
                if !path.is_dir() || (m.readonly && hidden.is_empty()) {
                    Ok(Attached::Mount(bind(path.clone(), m.readonly), None))
                } else {
                    // Writes go to a scratch overlay and vanish with the step, and what
                    // .dockerignore leaves out of the context is not there, as in BuildKit.
                    let top = self.store.mount_scratch_over(path, scratch, hidden)?;
                    Ok(Attached::Mount(bind(top, m.readonly), None))
                }
            }
            (MountType::Bind, MountSource::Stage(state, source)) => {
                let diff_ids: Vec<Digest> = state.layers.iter().map(|l| l.diff_id).collect();
                let mut state = (**state).clone();
                let view = self.view(&mut state)?;
                let real = view.resolve_path(source, true).ok_or_else(|| {
                    BuildError::at(
                        cmd,
                        format!("mount source {source:?} not found in {}", m.from.clone().unwrap_or_default()),
                    )
                })?;
                let top = self.store.mount_rootfs(scratch, &diff_ids)?;
                Ok(Attached::Mount(bind(top.join(real), m.readonly), None))
            }
            (MountType::Cache, _) => {
                let id = m.id.clone().or(m.target.clone()).unwrap_or_default();
                let dir = self.store.root().join("cache-mounts").join(key_of(&[id.as_bytes()]).hex());
                if !dir.exists() {
                    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(m.mode.unwrap_or(0o755)))
                        .map_err(|e| io(&dir, e))?;
                    let _ = std::os::unix::fs::chown(&dir, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)));
                }
                // locked: one RUN at a time; private: a fresh directory when it is busy.
                let lock_path = dir.with_extension("lock");
                let lock = std::fs::File::options()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)
                    .map_err(|e| io(&lock_path, e))?;
                let busy = rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err();
                match m.sharing.unwrap_or(Sharing::Shared) {
                    Sharing::Locked if busy => {
                        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
                            .map_err(|e| io(&lock_path, e.into()))?;
                        Ok(Attached::Mount(bind(dir, m.readonly), Some(lock)))
                    }
                    Sharing::Private if busy => {
                        std::fs::create_dir_all(scratch).map_err(|e| io(scratch, e))?;
                        Ok(Attached::Mount(bind(scratch.to_path_buf(), m.readonly), None))
                    }
                    Sharing::Shared => {
                        drop(lock);
                        Ok(Attached::Mount(bind(dir, m.readonly), None))
                    }
                    _ => Ok(Attached::Mount(bind(dir, m.readonly), Some(lock))),
                }
            }
            (MountType::Tmpfs, _) => Ok(Attached::Mount(
                Mount {
                    destination: String::new(),
                    source: Default::default(),
                    kind: MountKind::Tmpfs { size: None, mode: None },
                    readonly: false,
                },
                None,
            )),
            (MountType::Secret, _) => {
                let id =
                    m.id.clone()
                        .or(m.source.clone())
                        .or(m.target.as_ref().and_then(|t| t.rsplit('/').next().map(String::from)))
                        .unwrap_or_default();
                let Some(value) = self.opts.secrets.get(&id) else {
                    if m.required {
                        return Err(BuildError::at(cmd, format!("secret {id} not found")));
                    }
                    return Ok(Attached::Nothing);
                };
                if let Some(var) = &m.env {
                    if m.target.is_none() {
                        return Ok(Attached::Env(var.clone(), String::from_utf8_lossy(value).into_owned()));
                    }
                }
                // On a tmpfs (/run), never the store's disk, created with its final
                // mode, and removed when the step ends.
                use std::os::unix::fs::OpenOptionsExt;
                let dir = gantry_runtime::Executor::state_dir(self.store.root())
                    .join("secrets")
                    .join(format!("{:016x}", unique_id()));
                std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
                let guard = RemoveOnDrop(dir.clone());
                let file = dir.join("secret");
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(m.mode.unwrap_or(0o400))
                    .open(&file)
                    .map_err(|e| io(&file, e))?;
                std::io::Write::write_all(&mut f, value).map_err(|e| io(&file, e))?;
                let _ = std::os::unix::fs::chown(&file, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)));
                Ok(Attached::Secret(bind(file, true), guard))
            }
            (MountType::Ssh, _) | (MountType::Bind, MountSource::None) => Ok(Attached::Nothing),
        }
    }
}

/// A container ID no other RUN of any process uses at the same time: the process,
/// a per-process counter and the clock.
fn unique_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    (u64::from(std::process::id()) << 40) ^ (n << 24) ^ (t as u64 & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_dockerfile::Heredoc;

    fn run(cmd: ShellOrExec, heredocs: Vec<Heredoc>) -> Run {
        Run { cmd, heredocs, mounts: vec![], network: None, security: None }
    }

    #[test]
    fn argv_follows_buildkit() {
        let sh = vec!["/bin/sh".to_string(), "-c".to_string()];
        assert_eq!(argv(&run(ShellOrExec::Shell("echo hi".into()), vec![]), &sh), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(argv(&run(ShellOrExec::Exec(vec!["a".into(), "b".into()]), vec![]), &sh), ["a", "b"]);
        let doc = |name: &str, content: &str| Heredoc {
            name: name.into(),
            content: content.into(),
            expand: true,
            chomp: false,
            file_descriptor: 0,
        };
        let lone = run(ShellOrExec::Shell("<<EOF".into()), vec![doc("EOF", "echo a\necho b\n")]);
        assert_eq!(argv(&lone, &sh), ["/bin/sh", "-c", "echo a\necho b\n"]);
        let inline = run(ShellOrExec::Shell("cat <<EOF > /x".into()), vec![doc("EOF", "hello\n")]);
        assert_eq!(argv(&inline, &sh), ["/bin/sh", "-c", "cat <<EOF > /x\nhello\nEOF"]);
    }
}
