//! Runs a Dockerfile: plans the stages the target needs, then executes each step,
//! consulting the content-addressed cache first.
//!
//! Every step's key hashes the previous step's key with what determines the step's
//! result: the expanded instruction, the build args it can see, and for COPY/ADD the
//! digest of the selected files (or the key of the stage they come from). A hit
//! replays the recorded config and layers without doing the work; a changed step
//! changes its key and therefore every key after it, and nothing before it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gantry_dockerfile::instructions::{self, Command, Dockerfile, Instruction, ShellOrExec};
use gantry_dockerfile::shell::Lexer;
use gantry_dockerfile::{ignore, parser};
use gantry_image::{ContainerConfig, Digest, HistoryEntry, ImageConfig, RootFs, Sha256};
use gantry_store::{LayerRecord, NewImage, Store};

use crate::context::Context;
use crate::copy::{resolve_owner, CopySpec};
use crate::fsview::{clean, FsView, Kind};
use crate::layerwriter::{write_layer, Item, Source};
use crate::options::{BuildOptions, BuildResult, Event, Progress};
use crate::BuildError;

/// Build args every Dockerfile may use without declaring them, kept out of history.
pub(crate) const PROXY_ARGS: [&str; 8] =
    ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy"];
const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// A stage's state after some steps: what the image would be if it ended here.
#[derive(Clone)]
pub(crate) struct State {
    pub(crate) config: ImageConfig,
    pub(crate) layers: Vec<LayerRecord>,
    pub(crate) key: Digest,
    pub(crate) view: Option<Arc<FsView>>,
    /// Whether this stage has set CMD (an ENTRYPOINT after it keeps it, before it clears it).
    pub(crate) cmd_set: bool,
}

/// What a thread building one stage of a wave returns: the stage, its final state, and
/// the build args it consumed.
type StageOutcome = Result<(usize, State, BTreeSet<String>), BuildError>;

/// Stages in dependency order, and each stage's dependencies.
type Plan = (Vec<usize>, Vec<Vec<usize>>);

/// A metadata instruction's effect on the image config.
type Change = Box<dyn FnOnce(&mut ImageConfig)>;

/// The image's container config, created if absent.
pub(crate) fn cc(cfg: &mut ImageConfig) -> &mut ContainerConfig {
    cfg.config.get_or_insert_with(Default::default)
}

fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub(crate) fn key_of(parts: &[&[u8]]) -> Digest {
    let mut h = Sha256::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finish()
}

/// RFC 3339 in UTC, as BuildKit writes `created`.
fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

pub(crate) struct Builder<'a> {
    pub(crate) store: &'a mut Store,
    pub(crate) opts: &'a BuildOptions,
    pub(crate) lexer: Lexer,
    pub(crate) context: &'a Context,
    /// Progress events, shared by the threads of independent stages.
    pub(crate) progress: &'a (dyn Fn(Event) + Sync),
    /// Step numbers, shared likewise.
    pub(crate) next_id: &'a AtomicUsize,
    pub(crate) consumed_args: BTreeSet<String>,
    pub(crate) now: i64,
}

/// Builds the image `opts` describes and tags it.
pub fn build(
    store: &mut Store,
    opts: &BuildOptions,
    progress: &mut (dyn Progress + Send),
) -> Result<BuildResult, BuildError> {
    let ast = parser::parse(&opts.dockerfile).map_err(|e| BuildError::Dockerfile(e.to_string()))?;
    let df = instructions::parse_dockerfile(&ast).map_err(|e| BuildError::Dockerfile(e.to_string()))?;
    let ignore = read_ignore(opts)?;
    let context = Context::new(&opts.context, ignore)?;
    let now = opts.source_date_epoch.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    });
    if let Some(p) = &opts.platform {
        check_platform(p)?;
    }
    let _lease = store.lease()?;
    let sink = Mutex::new(progress);
    let report = |e: Event| {
        if let Ok(mut p) = sink.lock() {
            p.event(e);
        }
    };
    let next_id = AtomicUsize::new(1);
    let lexer = Lexer::new(df.escape);
    let mut b = Builder {
        store,
        opts,
        lexer,
        context: &context,
        progress: &report,
        next_id: &next_id,
        consumed_args: BTreeSet::new(),
        now,
    };
    let meta = b.meta_args(&df)?;
    let target = b.target(&df)?;
    let mut results: Vec<Option<State>> = vec![None; df.stages.len()];
    for wave in waves(&df, target, &meta, &lexer)? {
        if let [i] = wave[..] {
            results[i] = Some(b.run_stage(&df, i, &results, &meta)?);
            continue;
        }
        // Independent stages at once, each on its own store connection (the store is
        // built for several writers; the process's lease covers every thread).
        let root = b.store.root().to_path_buf();
        let (context, report, next_id, done) = (&context, &report, &next_id, &results);
        let (df, meta) = (&df, &meta);
        let outcomes: Vec<StageOutcome> = std::thread::scope(|scope| {
            let handles: Vec<_> = wave
                .iter()
                .map(|&i| {
                    let root = root.clone();
                    scope.spawn(move || {
                        let mut store = Store::open(&root)?;
                        let mut w = Builder {
                            store: &mut store,
                            opts,
                            lexer,
                            context,
                            progress: report,
                            next_id,
                            consumed_args: BTreeSet::new(),
                            now,
                        };
                        let st = w.run_stage(df, i, done, meta)?;
                        Ok((i, st, w.consumed_args))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(BuildError::Dockerfile("a build thread panicked".into()))))
                .collect()
        });
        for outcome in outcomes {
            let (i, st, consumed) = outcome?;
            results[i] = Some(st);
            b.consumed_args.extend(consumed);
        }
    }
    let mut fin = results[target].take().ok_or_else(|| BuildError::Dockerfile("target stage was not built".into()))?;
    if !opts.labels.is_empty() {
        let labels = fin.config.config.get_or_insert_with(Default::default).labels.get_or_insert_with(BTreeMap::new);
        labels.extend(opts.labels.clone());
    }
    let bytes = fin.config.to_bytes();
    let id = b.store.put_bytes(&bytes)?;
    let new = NewImage {
        id,
        created_unix_nanos: fin.config.created.as_deref().map(parse_created).unwrap_or(0),
        layers: std::mem::take(&mut fin.layers),
        labels: fin.config.labels().cloned().unwrap_or_default(),
        parent: None,
    };
    let tagged = b.store.put_image(&new, &opts.tags)?;
    let mut warnings = Vec::new();
    let unused: Vec<&String> =
        opts.build_args.keys().filter(|k| !b.consumed_args.contains(*k) && !PROXY_ARGS.contains(&k.as_str())).collect();
    if !unused.is_empty() {
        let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        warnings.push(format!("[Warning] One or more build-args [{}] were not consumed", names.join(" ")));
    }
    Ok(BuildResult { id, tagged, warnings })
}

/// Unix nanoseconds of a config's `created`; 0 when unparsable.
fn parse_created(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).ok().and_then(|t| t.timestamp_nanos_opt()).unwrap_or(0)
}

/// gantry builds natively: a requested platform must be the host's (`linux/amd64`,
/// `linux/amd64/v1`-style variants accepted for amd64).
fn check_platform(p: &str) -> Result<(), BuildError> {
    let host = format!("linux/{}", oci_arch());
    let normalized = p.trim().to_ascii_lowercase();
    let base = normalized.strip_suffix("/v1").or_else(|| normalized.strip_suffix("/v2")).unwrap_or(&normalized);
    if base == host || base == oci_arch() {
        return Ok(());
    }
    Err(BuildError::Dockerfile(format!(
        "platform {p:?} is not supported: gantry builds natively for {host} only (no emulation)"
    )))
}

/// `<Dockerfile>.dockerignore` beside the Dockerfile wins over the context's.
fn read_ignore(opts: &BuildOptions) -> Result<ignore::IgnorePatterns, BuildError> {
    let df_path = std::path::Path::new(&opts.dockerfile_name);
    let beside = df_path.file_name().map(|n| df_path.with_file_name(format!("{}.dockerignore", n.to_string_lossy())));
    let candidates = beside.into_iter().chain([opts.context.join(".dockerignore")]);
    for p in candidates {
        match std::fs::read_to_string(&p) {
            Ok(text) => {
                return ignore::IgnorePatterns::parse(&text)
                    .map_err(|e| BuildError::Context(format!("{}: {e}", p.display())));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(BuildError::Context(format!("{}: {e}", p.display()))),
        }
    }
    ignore::IgnorePatterns::parse("").map_err(|e| BuildError::Context(e.to_string()))
}

/// The stages to build, in waves: every stage's dependencies are in earlier waves, so
/// the stages of one wave can run at once. A cycle is an error.
fn waves(
    df: &Dockerfile,
    target: usize,
    meta: &[(String, String)],
    lexer: &Lexer,
) -> Result<Vec<Vec<usize>>, BuildError> {
    let (order, deps) = plan(df, target, meta, lexer)?;
    let mut level = vec![0usize; df.stages.len()];
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in order {
        level[i] = deps[i].iter().map(|&d| level[d] + 1).max().unwrap_or(0);
        if out.len() <= level[i] {
            out.resize(level[i] + 1, Vec::new());
        }
        out[level[i]].push(i);
    }
    Ok(out)
}

/// Stage indexes to build, dependencies first, with each stage's dependencies; a cycle
/// is an error.
fn plan(df: &Dockerfile, target: usize, meta: &[(String, String)], lexer: &Lexer) -> Result<Plan, BuildError> {
    let by_name = |name: &str, before: usize| -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        df.stages[..before].iter().position(|s| s.name.as_deref() == Some(lower.as_str()))
    };
    let mut deps: Vec<Vec<usize>> = Vec::new();
    for (i, stage) in df.stages.iter().enumerate() {
        let mut d = Vec::new();
        let base = lexer.expand_word(&stage.base, &meta).map(|e| e.value).unwrap_or_else(|_| stage.base.clone());
        if let Some(j) = by_name(&base, i) {
            d.push(j);
        }
        for c in &stage.commands {
            let froms: Vec<&String> = match &c.instruction {
                Instruction::Copy(copy) => copy.from.iter().collect(),
                Instruction::Run(run) => run.mounts.iter().filter_map(|m| m.from.as_ref()).collect(),
                _ => Vec::new(),
            };
            for from in froms {
                if let Ok(n) = from.parse::<usize>() {
                    if n < df.stages.len() {
                        d.push(n);
                    }
                } else if let Some(j) = by_name(from, df.stages.len()) {
                    d.push(j);
                }
            }
        }
        deps.push(d);
    }
    let mut order = Vec::new();
    let mut state = vec![0u8; df.stages.len()]; // 0 new, 1 visiting, 2 done
    fn visit(
        i: usize,
        deps: &[Vec<usize>],
        state: &mut [u8],
        order: &mut Vec<usize>,
        df: &Dockerfile,
    ) -> Result<(), BuildError> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                let name = df.stages[i].name.clone().unwrap_or_else(|| i.to_string());
                return Err(BuildError::Dockerfile(format!("circular dependency detected on stage: {name}")));
            }
            _ => {}
        }
        state[i] = 1;
        for &d in &deps[i] {
            visit(d, deps, state, order, df)?;
        }
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    visit(target, &deps, &mut state, &mut order, df)?;
    Ok((order, deps))
}

impl Builder<'_> {
    fn meta_args(&mut self, df: &Dockerfile) -> Result<Vec<(String, String)>, BuildError> {
        let platform = format!("linux/{}", oci_arch());
        let mut meta: Vec<(String, String)> = vec![
            ("TARGETPLATFORM".into(), platform.clone()),
            ("TARGETOS".into(), "linux".into()),
            ("TARGETARCH".into(), oci_arch().into()),
            ("TARGETVARIANT".into(), String::new()),
            ("BUILDPLATFORM".into(), platform),
            ("BUILDOS".into(), "linux".into()),
            ("BUILDARCH".into(), oci_arch().into()),
            ("BUILDVARIANT".into(), String::new()),
        ];
        for cmd in &df.meta_args {
            if let Instruction::Arg(args) = &cmd.instruction {
                for (k, default) in args {
                    self.consumed_args.insert(k.clone());
                    let value = match self.opts.build_args.get(k) {
                        Some(v) => Some(v.clone()),
                        None => default.as_ref().map(|d| self.expand(d, &meta, cmd)).transpose()?,
                    };
                    if let Some(v) = value {
                        meta.push((k.clone(), v));
                    }
                }
            }
        }
        Ok(meta)
    }

    fn target(&self, df: &Dockerfile) -> Result<usize, BuildError> {
        if df.stages.is_empty() {
            return Err(BuildError::Dockerfile("the Dockerfile has no stage (no FROM)".into()));
        }
        match &self.opts.target {
            None => Ok(df.stages.len() - 1),
            Some(t) => {
                let lower = t.to_ascii_lowercase();
                df.stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(lower.as_str()))
                    .ok_or_else(|| BuildError::Dockerfile(format!("target stage \"{t}\" could not be found")))
            }
        }
    }

    fn expand(&self, word: &str, env: &[(String, String)], cmd: &Command) -> Result<String, BuildError> {
        self.lexer.expand_word(word, &env).map(|e| e.value).map_err(|e| BuildError::at(cmd, e.to_string()))
    }

    fn run_stage(
        &mut self,
        df: &Dockerfile,
        i: usize,
        results: &[Option<State>],
        meta: &[(String, String)],
    ) -> Result<State, BuildError> {
        let stage = &df.stages[i];
        let label = stage.name.clone().unwrap_or_else(|| format!("stage-{i}"));
        let total = stage.commands.len() + 1;
        let base = self
            .lexer
            .expand_word(&stage.base, &meta)
            .map(|e| e.value)
            .map_err(|e| BuildError::Dockerfile(e.to_string()))?;
        if let Some(p) = &stage.platform {
            let p =
                self.lexer.expand_word(p, &meta).map(|e| e.value).map_err(|e| BuildError::Dockerfile(e.to_string()))?;
            check_platform(&p).map_err(|e| {
                BuildError::Dockerfile(format!("FROM --platform on line {}: {e}", stage.from_node.start_line))
            })?;
        }
        let id = self.start(format!("[{label} 1/{total}] FROM {base}"));
        let lower = base.to_ascii_lowercase();
        let earlier = df.stages[..i].iter().position(|s| s.name.as_deref() == Some(lower.as_str()));
        let mut st = match earlier {
            Some(j) => {
                results[j].clone().ok_or_else(|| BuildError::Dockerfile(format!("stage {base} was not built")))?
            }
            None if lower == "scratch" => State {
                config: ImageConfig {
                    architecture: oci_arch().into(),
                    os: "linux".into(),
                    config: Some(ContainerConfig {
                        env: Some(vec![gantry_image::DEFAULT_PATH_ENV.into()]),
                        // BuildKit's empty image works in "/".
                        working_dir: Some("/".into()),
                        ..Default::default()
                    }),
                    rootfs: RootFs { kind: "layers".into(), diff_ids: vec![] },
                    ..Default::default()
                },
                layers: vec![],
                key: key_of(&[b"scratch"]),
                view: Some(Arc::new(FsView::empty())),
                cmd_set: false,
            },
            None => self.image_state(&base)?,
        };
        // A built image carries only what BuildKit writes: drop the legacy builder's fields.
        st.config.container = None;
        st.config.container_config = None;
        st.config.docker_version = None;
        st.cmd_set = false;
        (self.progress)(Event::Done { id, seconds: 0.0 });
        let no_cache = self.opts.no_cache
            || stage.name.as_ref().is_some_and(|n| self.opts.no_cache_filter.iter().any(|f| f.eq_ignore_ascii_case(n)));
        let mut args: Vec<(String, String)> = Vec::new();
        // The base's ONBUILD triggers run first, and are not inherited any further.
        let triggers = st.config.config.as_mut().and_then(|c| c.on_build.take()).unwrap_or_default();
        if !triggers.is_empty() {
            st.key = key_of(&[st.key.as_bytes(), b"onbuild triggers consumed"]);
        }
        for trigger in &triggers {
            let bad = |e: String| BuildError::Dockerfile(format!("ONBUILD trigger {trigger:?} of {base}: {e}"));
            let ast = parser::parse(trigger).map_err(|e| bad(e.to_string()))?;
            for node in &ast.children {
                let instruction = instructions::parse_node(node).map_err(|e| bad(e.to_string()))?;
                let cmd = Command { instruction, node: node.clone() };
                let name = format!("[{label} 1/{total}] ONBUILD {}", trigger.trim());
                self.step(&mut st, &cmd, &name, &mut args, meta, results, df, no_cache)?;
            }
        }
        for (n, cmd) in stage.commands.iter().enumerate() {
            let name = format!("[{label} {}/{total}] {}", n + 2, cmd.node.original.trim());
            self.step(&mut st, cmd, &name, &mut args, meta, results, df, no_cache)?;
        }
        Ok(st)
    }

    fn start(&mut self, name: String) -> usize {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        (self.progress)(Event::Started { id, name });
        id
    }

    pub(crate) fn image_state(&mut self, name: &str) -> Result<State, BuildError> {
        let present = self.store.resolve(name).is_ok();
        if let Some(b) = &self.opts.base_images {
            if b.always || !present {
                b.fetcher.fetch(self.store, name).map_err(|e| {
                    BuildError::Dockerfile(format!("failed to resolve source metadata for {name}: {e}"))
                })?;
            }
        }
        let (id, _) = self.store.resolve(name).map_err(|_| {
            BuildError::Dockerfile(format!(
                "failed to resolve source metadata for {name}: image not found in the local store"
            ))
        })?;
        let config = ImageConfig::parse(&self.store.read_blob(&id)?)
            .map_err(|e| BuildError::Dockerfile(format!("{name}: {e}")))?;
        let layers = self.store.layers(&id)?;
        Ok(State { config, layers, key: key_of(&[b"image", id.to_string().as_bytes()]), view: None, cmd_set: false })
    }

    pub(crate) fn view(&self, st: &mut State) -> Result<Arc<FsView>, BuildError> {
        if let Some(v) = &st.view {
            return Ok(v.clone());
        }
        let diff_ids: Vec<Digest> = st.layers.iter().map(|l| l.diff_id).collect();
        let v = Arc::new(FsView::new(self.store, &diff_ids)?);
        st.view = Some(v.clone());
        Ok(v)
    }

    /// The environment words are expanded against: the image's Env, then this stage's
    /// ARG and ENV declarations in order, the later winning (BuildKit adds each ARG to
    /// the build environment, so an ARG after an ENV of the same name wins there, while
    /// the image's own Env keeps the ENV value).
    fn env(st: &State, scope: &[(String, String)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = st
            .config
            .config
            .as_ref()
            .and_then(|c| c.env.as_ref())
            .into_iter()
            .flatten()
            .map(|e| {
                let (k, v) = e.split_once('=').unwrap_or((e, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        env.extend(scope.iter().cloned());
        env
    }

    /// Runs one instruction as a numbered step; any failure is reported as its event.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        st: &mut State,
        cmd: &Command,
        name: &str,
        args: &mut Vec<(String, String)>,
        meta: &[(String, String)],
        results: &[Option<State>],
        df: &Dockerfile,
        no_cache: bool,
    ) -> Result<(), BuildError> {
        let id = self.start(name.to_string());
        let began = Instant::now();
        let result = self.dispatch(st, cmd, id, began, args, meta, results, df, no_cache);
        if let Err(e) = &result {
            (self.progress)(Event::Failed { id, error: e.to_string() });
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &mut self,
        st: &mut State,
        cmd: &Command,
        id: usize,
        began: Instant,
        args: &mut Vec<(String, String)>,
        meta: &[(String, String)],
        results: &[Option<State>],
        df: &Dockerfile,
        no_cache: bool,
    ) -> Result<(), BuildError> {
        let env = Self::env(st, args);
        // ARG changes only what later steps can see; it is recorded in history too.
        if let Instruction::Arg(list) = &cmd.instruction {
            let mut shown = Vec::new();
            for (k, default) in list {
                self.consumed_args.insert(k.clone());
                let value = match self.opts.build_args.get(k) {
                    Some(v) => Some(v.clone()),
                    None => match default {
                        Some(d) => Some(self.expand(d, &env, cmd)?),
                        None => meta.iter().rev().find(|(mk, _)| mk == k).map(|(_, v)| v.clone()),
                    },
                };
                shown.push(match default {
                    Some(d) => format!("{k}={d}"),
                    None => k.clone(),
                });
                if let Some(v) = value {
                    args.push((k.clone(), v));
                }
            }
            return self.metadata(st, id, began, &format!("ARG {}", shown.join(" ")), Box::new(|_| {}), args, no_cache);
        }
        let x = |w: &str| self.expand(w, &env, cmd);
        // Metadata instructions become a history text and a change to the config.
        let (created_by, change): (String, Change) = match &cmd.instruction {
            Instruction::Env(pairs) => {
                let mut expanded = Vec::new();
                for (k, v) in pairs {
                    expanded.push((k.clone(), x(v)?));
                }
                let shown: Vec<String> = expanded.iter().map(|(k, v)| format!("{k}={v}")).collect();
                args.extend(expanded.iter().cloned());
                let change = move |cfg: &mut ImageConfig| {
                    let env = cc(cfg).env.get_or_insert_with(Vec::new);
                    for (k, v) in expanded {
                        let prefix = format!("{k}=");
                        match env.iter_mut().find(|e| e.starts_with(&prefix)) {
                            Some(slot) => *slot = format!("{k}={v}"),
                            None => env.push(format!("{k}={v}")),
                        }
                    }
                };
                (format!("ENV {}", shown.join(" ")), Box::new(change))
            }
            Instruction::Label(pairs) => {
                let mut expanded = Vec::new();
                for (k, v) in pairs {
                    expanded.push((x(k)?, x(v)?));
                }
                let shown: Vec<String> = expanded.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let change =
                    move |cfg: &mut ImageConfig| cc(cfg).labels.get_or_insert_with(BTreeMap::new).extend(expanded);
                (format!("LABEL {}", shown.join(" ")), Box::new(change))
            }
            Instruction::User(u) => {
                let u = x(u)?;
                (format!("USER {u}"), Box::new(move |cfg: &mut ImageConfig| cc(cfg).user = Some(u)))
            }
            Instruction::Expose(ports) => {
                let mut list = Vec::new();
                for p in ports {
                    for w in self.lexer.expand_words(p, &env).map_err(|e| BuildError::at(cmd, e.to_string()))? {
                        list.extend(port_specs(&w).map_err(|e| BuildError::at(cmd, e))?);
                    }
                }
                let shown: Vec<String> = list.iter().map(|p| format!("{p}:{{}}")).collect();
                let change = move |cfg: &mut ImageConfig| {
                    let map = cc(cfg).exposed_ports.get_or_insert_with(BTreeMap::new);
                    map.extend(list.into_iter().map(|p| (p, serde_json::json!({}))));
                };
                (format!("EXPOSE map[{}]", shown.join(" ")), Box::new(change))
            }
            Instruction::Volume(vols) => {
                let mut list = Vec::new();
                for v in vols {
                    let v = x(v)?;
                    if v.is_empty() {
                        return Err(BuildError::at(cmd, "VOLUME specified can not be an empty string".into()));
                    }
                    list.push(v);
                }
                let shown = format!("VOLUME [{}]", list.join(" "));
                let change = move |cfg: &mut ImageConfig| {
                    let map = cc(cfg).volumes.get_or_insert_with(BTreeMap::new);
                    map.extend(list.into_iter().map(|v| (v, serde_json::json!({}))));
                };
                (shown, Box::new(change))
            }
            Instruction::StopSignal(s) => {
                let s = x(s)?;
                (format!("STOPSIGNAL {s}"), Box::new(move |cfg: &mut ImageConfig| cc(cfg).stop_signal = Some(s)))
            }
            Instruction::Shell(sh) => {
                let sh = sh.clone();
                (format!("SHELL [{}]", sh.join(" ")), Box::new(move |cfg: &mut ImageConfig| cc(cfg).shell = Some(sh)))
            }
            Instruction::Cmd(c) | Instruction::Entrypoint(c) => {
                let is_cmd = matches!(cmd.instruction, Instruction::Cmd(_));
                let shell = st
                    .config
                    .config
                    .as_ref()
                    .and_then(|c| c.shell.clone())
                    .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                let argv = match c {
                    ShellOrExec::Exec(v) => v.clone(),
                    ShellOrExec::Shell(s) => shell.into_iter().chain([s.clone()]).collect(),
                };
                let quoted: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
                let word = if is_cmd { "CMD" } else { "ENTRYPOINT" };
                // An ENTRYPOINT clears CMD unless this stage set one before it. Whether it
                // did is already in the parent key (those steps are), not this step's.
                let keep_cmd = st.cmd_set;
                st.cmd_set |= is_cmd;
                let change = move |cfg: &mut ImageConfig| {
                    let c = cc(cfg);
                    if is_cmd {
                        c.cmd = Some(argv);
                    } else {
                        c.entrypoint = Some(argv);
                        if !keep_cmd {
                            c.cmd = None;
                        }
                    }
                };
                (format!("{word} [{}]", quoted.join(" ")), Box::new(change))
            }
            Instruction::Maintainer(m) => {
                let m = m.clone();
                (format!("MAINTAINER {m}"), Box::new(move |cfg: &mut ImageConfig| cfg.author = Some(m)))
            }
            Instruction::Healthcheck(h) => {
                let mut hc = serde_json::Map::new();
                hc.insert("Test".into(), serde_json::json!(h.test));
                for (k, v) in [
                    ("Interval", h.interval),
                    ("Timeout", h.timeout),
                    ("StartPeriod", h.start_period),
                    ("StartInterval", h.start_interval),
                ] {
                    if let Some(d) = v {
                        hc.insert(k.into(), serde_json::json!(d.as_nanos() as u64));
                    }
                }
                if let Some(r) = h.retries {
                    hc.insert("Retries".into(), serde_json::json!(r));
                }
                let value = serde_json::Value::Object(hc);
                (
                    format!("HEALTHCHECK {value}"),
                    Box::new(move |cfg: &mut ImageConfig| cc(cfg).healthcheck = Some(value)),
                )
            }
            Instruction::Onbuild(trigger) => {
                // Docker records no history entry for ONBUILD.
                let t = trigger.clone();
                let key = format!("ONBUILD {t}");
                let change =
                    Box::new(move |cfg: &mut ImageConfig| cc(cfg).on_build.get_or_insert_with(Vec::new).push(t));
                return self.metadata_no_history(st, id, began, &key, change, no_cache);
            }
            Instruction::Workdir(w) => {
                let w = x(w)?;
                return self.workdir(st, id, began, &w, no_cache);
            }
            Instruction::Copy(c) => {
                let spec = CopySpec {
                    sources: c.sources.iter().map(|s| x(s)).collect::<Result<_, _>>()?,
                    dest: x(&c.dest)?,
                    from: c.from.as_deref().map(x).transpose()?,
                    chown: c.chown.as_deref().map(x).transpose()?,
                    chmod: c.chmod.as_deref().map(x).transpose()?,
                    heredocs: c.heredocs.iter().map(|h| (h.name.clone(), h.content.clone())).collect(),
                    exclude: c.exclude.iter().map(|s| x(s)).collect::<Result<_, _>>()?,
                    parents: c.parents,
                    link: c.link,
                    add: false,
                    remote: Vec::new(),
                };
                return self.copy(st, id, began, cmd, &spec, results, df, no_cache);
            }
            Instruction::Add(a) => {
                let sources: Vec<String> = a.sources.iter().map(|s| x(s)).collect::<Result<_, _>>()?;
                if sources.iter().any(|s| s.starts_with("git@") || s.ends_with(".git")) {
                    return Err(BuildError::at(cmd, "ADD of a git repository is not supported".into()));
                }
                let checksum = a.checksum.as_deref().map(x).transpose()?;
                let urls = sources.iter().filter(|s| crate::remote::is_url(s)).count();
                if checksum.is_some() && (urls != 1 || sources.len() != 1) {
                    return Err(BuildError::at(cmd, "checksum can't be specified for multiple sources".into()));
                }
                let mut remote = Vec::new();
                for s in sources.iter().filter(|s| crate::remote::is_url(s)) {
                    remote.push(crate::remote::download(s, checksum.as_deref()).map_err(|e| BuildError::at(cmd, e))?);
                }
                let spec = CopySpec {
                    remote,
                    sources,
                    dest: x(&a.dest)?,
                    from: None,
                    chown: a.chown.as_deref().map(x).transpose()?,
                    chmod: a.chmod.as_deref().map(x).transpose()?,
                    heredocs: a.heredocs.iter().map(|h| (h.name.clone(), h.content.clone())).collect(),
                    exclude: a.exclude.iter().map(|s| x(s)).collect::<Result<_, _>>()?,
                    parents: false,
                    link: a.link,
                    add: true,
                };
                return self.copy(st, id, began, cmd, &spec, results, df, no_cache);
            }
            Instruction::Run(run) => return self.run(st, id, began, cmd, run, args, results, df, no_cache),
            Instruction::From(_) | Instruction::Arg(_) => return Ok(()),
        };
        self.metadata(st, id, began, &created_by, change, args, no_cache)
    }

    pub(crate) fn history(&self, created_by: String, layer: bool) -> HistoryEntry {
        HistoryEntry {
            created: Some(rfc3339(self.now)),
            created_by: Some(created_by),
            comment: Some(HISTORY_COMMENT.into()),
            empty_layer: !layer,
            ..Default::default()
        }
    }

    /// Runs a step through the cache: `key` names its result; on a miss `make` makes
    /// the new config and layer, which are recorded under `key`.
    pub(crate) fn cached<F>(
        &mut self,
        st: &mut State,
        id: usize,
        began: Instant,
        key: Digest,
        no_cache: bool,
        make: F,
    ) -> Result<(), BuildError>
    where
        F: FnOnce(&mut Self, &mut State) -> Result<(), BuildError>,
    {
        if !no_cache {
            if let Some(rec) = self.store.cache_get(&key)? {
                let config = ImageConfig::parse(&self.store.read_blob(&rec.config)?)
                    .map_err(|e| BuildError::Layer(format!("cached config {}: {e}", rec.config)))?;
                let same_layers = rec.layers.len() == st.layers.len();
                st.config = config;
                st.layers = rec.layers;
                st.key = key;
                if !same_layers {
                    st.view = None;
                }
                (self.progress)(Event::Cached { id });
                return Ok(());
            }
        }
        make(self, st)?;
        st.config.created = Some(rfc3339(self.now));
        st.config.rootfs.diff_ids = st.layers.iter().map(|l| l.diff_id).collect();
        let config = self.store.put_bytes(&st.config.to_bytes())?;
        self.store.cache_put(&key, &config, &st.layers)?;
        st.key = key;
        (self.progress)(Event::Done { id, seconds: began.elapsed().as_secs_f64() });
        Ok(())
    }

    /// A metadata step: the config changes, history gains an empty-layer entry.
    #[allow(clippy::too_many_arguments)]
    fn metadata(
        &mut self,
        st: &mut State,
        id: usize,
        began: Instant,
        created_by: &str,
        change: Change,
        args: &[(String, String)],
        no_cache: bool,
    ) -> Result<(), BuildError> {
        let visible: Vec<String> =
            args.iter().filter(|(k, _)| !PROXY_ARGS.contains(&k.as_str())).map(|(k, v)| format!("{k}={v}")).collect();
        let key = key_of(&[st.key.as_bytes(), created_by.as_bytes(), visible.join("\n").as_bytes()]);
        let entry = self.history(created_by.to_string(), false);
        self.cached(st, id, began, key, no_cache, |_, st| {
            change(&mut st.config);
            st.config.history.push(entry);
            Ok(())
        })
    }

    /// A config change docker keeps out of history (ONBUILD).
    fn metadata_no_history(
        &mut self,
        st: &mut State,
        id: usize,
        began: Instant,
        what: &str,
        change: Change,
        no_cache: bool,
    ) -> Result<(), BuildError> {
        let key = key_of(&[st.key.as_bytes(), what.as_bytes()]);
        self.cached(st, id, began, key, no_cache, |_, st| {
            change(&mut st.config);
            Ok(())
        })
    }

    /// WORKDIR sets the working directory and, like BuildKit, creates it (`mkdir -p`,
    /// owned by USER) in a layer of its own unless it is `/`.
    fn workdir(
        &mut self,
        st: &mut State,
        id: usize,
        began: Instant,
        w: &str,
        no_cache: bool,
    ) -> Result<(), BuildError> {
        let current = st.config.config.as_ref().and_then(|c| c.working_dir.clone()).unwrap_or_else(|| "/".into());
        // BuildKit keeps an absolute WORKDIR as written and joins (cleaning) a relative one.
        let wd = if w.starts_with('/') { w.to_string() } else { format!("/{}", clean(&format!("{current}/{w}"))) };
        let created_by = format!("WORKDIR {wd}");
        let user = st.config.config.as_ref().and_then(|c| c.user.clone()).unwrap_or_default();
        let key = key_of(&[st.key.as_bytes(), created_by.as_bytes(), user.as_bytes()]);
        let layer = wd != "/";
        let entry = self.history(created_by, layer);
        let now = self.now.max(0) as u64;
        self.cached(st, id, began, key, no_cache, move |b, st| {
            st.config.config.get_or_insert_with(Default::default).working_dir = Some(wd.clone());
            if layer {
                let view = b.view(st)?;
                let (uid, gid) = if user.is_empty() { (0, 0) } else { resolve_owner(b.store, &view, &user)? };
                let mut items = Vec::new();
                let path = clean(&wd);
                let mut prefix = String::new();
                for part in path.split('/') {
                    prefix = if prefix.is_empty() { part.to_string() } else { format!("{prefix}/{part}") };
                    if !view.is_dir(&prefix) {
                        items.push(dir_item(prefix.clone(), uid, gid, now));
                    }
                }
                let rec = write_layer(b.store, b.clamp(items))?;
                st.layers.push(rec);
                st.view = None;
            }
            st.config.history.push(entry);
            Ok(())
        })
    }
}

pub(crate) fn dir_item(path: String, uid: u64, gid: u64, mtime: u64) -> Item<'static> {
    Item { path, kind: Kind::Dir, mode: 0o755, uid, gid, mtime, size: 0, link: None, source: Source::Empty }
}

/// One EXPOSE word as docker's nat.ParsePortSpecs reads it: `80`, `80/udp`, or a
/// range `9000-9002[/proto]`, expanded to one `port/proto` per port.
fn port_specs(word: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    let bad = || format!("invalid containerPort: {word}");
    if !matches!(proto.to_ascii_lowercase().as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (a.parse::<u16>().map_err(|_| bad())?, b.parse::<u16>().map_err(|_| bad())?),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{}", proto.to_ascii_lowercase())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dockerfile(text: &str) -> Dockerfile {
        instructions::parse_dockerfile(&parser::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn independent_stages_share_a_wave() {
        let df = dockerfile(
            "FROM scratch AS a\nCOPY x /x\nFROM scratch AS b\nCOPY y /y\nFROM scratch AS unused\n\
             FROM a AS c\nCOPY --from=b /y /y\nFROM scratch\nCOPY --from=c /x /x\n",
        );
        let w = waves(&df, df.stages.len() - 1, &[], &Lexer::new('\\')).unwrap();
        assert_eq!(w, vec![vec![0, 1], vec![3], vec![4]], "a and b at once; unused never");
        let chain = dockerfile("FROM scratch AS a\nFROM a AS b\nFROM b\n");
        assert_eq!(waves(&chain, 2, &[], &Lexer::new('\\')).unwrap(), vec![vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn dates_round_trip() {
        for secs in [0i64, 946_684_800, 1_795_000_000, 4_102_444_800] {
            let s = rfc3339(secs);
            assert_eq!(parse_created(&s), secs * 1_000_000_000, "{s}");
        }
        assert_eq!(rfc3339(946_684_800), "2000-01-01T00:00:00Z");
    }
}
