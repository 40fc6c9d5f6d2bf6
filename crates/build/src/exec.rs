//! Runs a Dockerfile: plans the stages the target needs, then executes each step,
//! consulting the content-addressed cache first.
//!
//! Every step's key hashes the previous step's key with what determines the step's
//! result: the expanded instruction, the build args it can see, and for COPY/ADD the
//! digest of the selected files (or the key of the stage they come from). A hit
//! replays the recorded config and layers without doing the work; a changed step
//! changes its key and therefore every key after it, and nothing before it.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Instant;

use gantry_dockerfile::instructions::{self, Command, Dockerfile, Instruction, ShellOrExec};
use gantry_dockerfile::shell::Lexer;
use gantry_dockerfile::{ignore, parser};
use gantry_image::{ContainerConfig, Digest, HistoryEntry, ImageConfig, RootFs, Sha256};
use gantry_store::{LayerRecord, NewImage, Store};

use crate::chmod::Chmod;
use crate::context::Context;
use crate::fsview::{clean, FsView, Kind};
use crate::layerwriter::{write_layer, Item, Source};
use crate::options::{BuildOptions, BuildResult, Event, Progress};
use crate::BuildError;

/// Build args every Dockerfile may use without declaring them, kept out of history.
const PROXY_ARGS: [&str; 8] =
    ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy"];
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// A stage's state after some steps: what the image would be if it ended here.
#[derive(Clone)]
struct State {
    config: ImageConfig,
    layers: Vec<LayerRecord>,
    key: Digest,
    view: Option<Rc<FsView>>,
    /// Whether this stage has set CMD (an ENTRYPOINT after it keeps it, before it clears it).
    cmd_set: bool,
}

/// The image's container config, created if absent.
fn cc(cfg: &mut ImageConfig) -> &mut ContainerConfig {
    cfg.config.get_or_insert_with(Default::default)
}

fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn key_of(parts: &[&[u8]]) -> Digest {
    let mut h = Sha256::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finish()
}

fn rfc3339(secs: i64) -> String {
    chrono_free_rfc3339(secs)
}

/// RFC 3339 in UTC without pulling a date crate into the build: days from the epoch
/// to a civil date (Howard Hinnant's algorithm).
fn chrono_free_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

struct Builder<'a> {
    store: &'a mut Store,
    opts: &'a BuildOptions,
    lexer: Lexer,
    context: Context,
    progress: &'a mut dyn Progress,
    next_id: usize,
    consumed_args: BTreeSet<String>,
    now: i64,
}

/// Builds the image `opts` describes and tags it.
pub fn build(store: &mut Store, opts: &BuildOptions, progress: &mut dyn Progress) -> Result<BuildResult, BuildError> {
    let ast = parser::parse(&opts.dockerfile).map_err(|e| BuildError::Dockerfile(e.to_string()))?;
    let df = instructions::parse_dockerfile(&ast).map_err(|e| BuildError::Dockerfile(e.to_string()))?;
    let ignore = read_ignore(opts)?;
    let context = Context::new(&opts.context, ignore)?;
    let now = opts.source_date_epoch.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    });
    let _lease = store.lease()?;
    let mut b = Builder {
        store,
        opts,
        lexer: Lexer::new(df.escape),
        context,
        progress,
        next_id: 1,
        consumed_args: BTreeSet::new(),
        now,
    };
    let meta = b.meta_args(&df)?;
    let target = b.target(&df)?;
    let order = plan(&df, target, &meta, &b.lexer)?;
    let mut results: Vec<Option<State>> = vec![None; df.stages.len()];
    for i in order {
        let st = b.run_stage(&df, i, &results, &meta)?;
        results[i] = Some(st);
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

fn parse_created(s: &str) -> i64 {
    // "YYYY-MM-DDTHH:MM:SS...Z" written by this crate; anything else counts as 0.
    let num = |a: usize, b: usize| s.get(a..b).and_then(|v| v.parse::<i64>().ok());
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(se)) =
        (num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19))
    else {
        return 0;
    };
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + h * 3600 + mi * 60 + se) * 1_000_000_000
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

/// Stage indexes to build, dependencies first; a cycle is an error.
fn plan(df: &Dockerfile, target: usize, meta: &[(String, String)], lexer: &Lexer) -> Result<Vec<usize>, BuildError> {
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
            if let Instruction::Copy(copy) = &c.instruction {
                if let Some(from) = &copy.from {
                    if let Ok(n) = from.parse::<usize>() {
                        if n < df.stages.len() {
                            d.push(n);
                        }
                    } else if let Some(j) = by_name(from, df.stages.len()) {
                        d.push(j);
                    }
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
    Ok(order)
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
                        env: Some(vec![DEFAULT_PATH.into()]),
                        // BuildKit's empty image works in "/".
                        working_dir: Some("/".into()),
                        ..Default::default()
                    }),
                    rootfs: RootFs { kind: "layers".into(), diff_ids: vec![] },
                    ..Default::default()
                },
                layers: vec![],
                key: key_of(&[b"scratch"]),
                view: Some(Rc::new(FsView::empty())),
                cmd_set: false,
            },
            None => self.image_state(&base)?,
        };
        // A built image carries only what BuildKit writes: drop the legacy builder's fields.
        st.config.container = None;
        st.config.container_config = None;
        st.config.docker_version = None;
        st.cmd_set = false;
        self.progress.event(Event::Done { id, seconds: 0.0 });
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
        let id = self.next_id;
        self.next_id += 1;
        self.progress.event(Event::Started { id, name });
        id
    }

    fn image_state(&mut self, name: &str) -> Result<State, BuildError> {
        let (id, _) = self.store.resolve(name).map_err(|_| {
            BuildError::Dockerfile(format!(
                "failed to resolve source metadata for {name}: image not found in the local store (pulling from registries is not implemented yet)"
            ))
        })?;
        let config = ImageConfig::parse(&self.store.read_blob(&id)?)
            .map_err(|e| BuildError::Dockerfile(format!("{name}: {e}")))?;
        let layers = self.store.layers(&id)?;
        Ok(State { config, layers, key: key_of(&[b"image", id.to_string().as_bytes()]), view: None, cmd_set: false })
    }

    fn view(&self, st: &mut State) -> Result<Rc<FsView>, BuildError> {
        if let Some(v) = &st.view {
            return Ok(v.clone());
        }
        let diff_ids: Vec<Digest> = st.layers.iter().map(|l| l.diff_id).collect();
        let v = Rc::new(FsView::new(self.store, &diff_ids)?);
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
            return self.metadata(st, id, began, &format!("ARG {}", shown.join(" ")), |_| Ok(()), args, no_cache);
        }
        let x = |w: &str| self.expand(w, &env, cmd);
        let result = match &cmd.instruction {
            Instruction::Env(pairs) => {
                let mut expanded = Vec::new();
                for (k, v) in pairs {
                    expanded.push((k.clone(), x(v)?));
                }
                let shown: Vec<String> = expanded.iter().map(|(k, v)| format!("{k}={v}")).collect();
                args.extend(expanded.iter().cloned());
                self.metadata(
                    st,
                    id,
                    began,
                    &format!("ENV {}", shown.join(" ")),
                    |cfg| {
                        let c = cc(cfg);
                        let env = c.env.get_or_insert_with(Vec::new);
                        for (k, v) in &expanded {
                            let prefix = format!("{k}=");
                            match env.iter_mut().find(|e| e.starts_with(&prefix)) {
                                Some(slot) => *slot = format!("{k}={v}"),
                                None => env.push(format!("{k}={v}")),
                            }
                        }
                        Ok(())
                    },
                    args,
                    no_cache,
                )
            }
            Instruction::Label(pairs) => {
                let mut expanded = Vec::new();
                for (k, v) in pairs {
                    expanded.push((x(k)?, x(v)?));
                }
                let shown: Vec<String> = expanded.iter().map(|(k, v)| format!("{k}={v}")).collect();
                self.metadata(
                    st,
                    id,
                    began,
                    &format!("LABEL {}", shown.join(" ")),
                    |cfg| {
                        let c = cc(cfg);
                        c.labels.get_or_insert_with(BTreeMap::new).extend(expanded.iter().cloned());
                        Ok(())
                    },
                    args,
                    no_cache,
                )
            }
            Instruction::User(u) => {
                let u = x(u)?;
                self.metadata(
                    st,
                    id,
                    began,
                    &format!("USER {u}"),
                    |cfg| {
                        let c = cc(cfg);
                        c.user = Some(u.clone());
                        Ok(())
                    },
                    args,
                    no_cache,
                )
            }
            Instruction::Expose(ports) => {
                let mut list = Vec::new();
                for p in ports {
                    for w in self.lexer.expand_words(p, &env).map_err(|e| BuildError::at(cmd, e.to_string()))? {
                        list.extend(port_specs(&w).map_err(|e| BuildError::at(cmd, e))?);
                    }
                }
                let shown: Vec<String> = list.iter().map(|p| format!("{p}:{{}}")).collect();
                self.metadata(
                    st,
                    id,
                    began,
                    &format!("EXPOSE map[{}]", shown.join(" ")),
                    |cfg| {
                        let c = cc(cfg);
                        let map = c.exposed_ports.get_or_insert_with(BTreeMap::new);
                        for p in &list {
                            map.insert(p.clone(), serde_json::json!({}));
                        }
                        Ok(())
                    },
                    args,
                    no_cache,
                )
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
                self.metadata(
                    st,
                    id,
                    began,
                    &format!("VOLUME [{}]", list.join(" ")),
                    |cfg| {
                        let c = cc(cfg);
                        let map = c.volumes.get_or_insert_with(BTreeMap::new);
                        for v in &list {
                            map.insert(v.clone(), serde_json::json!({}));
                        }
                        Ok(())
                    },
                    args,
                    no_cache,
                )
            }
            Instruction::StopSignal(s) => {
                let s = x(s)?;
                self.metadata(
                    st,
                    id,
                    began,
                    &format!("STOPSIGNAL {s}"),
                    |cfg| {
                        let c = cc(cfg);
                        c.stop_signal = Some(s.clone());
                        Ok(())
                    },
                    args,
                    no_cache,
                )
            }
            Instruction::Shell(sh) => {
                let sh = sh.clone();
                self.metadata(
                    st,
                    id,
                    began,
                    &format!("SHELL [{}]", sh.join(" ")),
                    |cfg| {
                        let c = cc(cfg);
                        c.shell = Some(sh.clone());
                        Ok(())
                    },
                    args,
                    no_cache,
                )
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
                let cmd_set_here = st.cmd_set;
                if is_cmd {
                    st.cmd_set = true;
                }
                // Whether CMD was set earlier in this stage is already in the parent key
                // (those steps are), so it needs no place in this step's key.
                let shown = format!("{word} [{}]", quoted.join(" "));
                self.metadata(
                    st,
                    id,
                    began,
                    &shown,
                    |cfg| {
                        let c = cc(cfg);
                        if is_cmd {
                            c.cmd = Some(argv.clone());
                        } else {
                            c.entrypoint = Some(argv.clone());
                            if !cmd_set_here {
                                c.cmd = None;
                            }
                        }
                        Ok(())
                    },
                    args,
                    no_cache,
                )
            }
            Instruction::Maintainer(m) => {
                let m = m.clone();
                self.metadata(
                    st,
                    id,
                    began,
                    &format!("MAINTAINER {m}"),
                    |cfg| {
                        cfg.author = Some(m.clone());
                        Ok(())
                    },
                    args,
                    no_cache,
                )
            }
            Instruction::Onbuild(trigger) => {
                let t = trigger.clone();
                self.metadata_no_history(
                    st,
                    id,
                    began,
                    &format!("ONBUILD {t}"),
                    |cfg| {
                        let c = cc(cfg);
                        c.on_build.get_or_insert_with(Vec::new).push(t.clone());
                        Ok(())
                    },
                    no_cache,
                )
            }
            Instruction::Healthcheck(h) => {
                let test = h.test.clone();
                let mut hc = serde_json::Map::new();
                hc.insert("Test".into(), serde_json::json!(test));
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
                self.metadata(
                    st,
                    id,
                    began,
                    &format!("HEALTHCHECK {value}"),
                    |cfg| {
                        let c = cc(cfg);
                        c.healthcheck = Some(value.clone());
                        Ok(())
                    },
                    args,
                    no_cache,
                )
            }
            Instruction::Workdir(w) => {
                let w = x(w)?;
                self.workdir(st, id, began, &w, no_cache)
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
                    add: false,
                };
                self.copy(st, id, began, cmd, &spec, results, df, no_cache)
            }
            Instruction::Add(a) => {
                if a.sources
                    .iter()
                    .any(|s| s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@"))
                {
                    return Err(BuildError::at(cmd, "ADD from a URL or git repository is not supported yet".into()));
                }
                let spec = CopySpec {
                    sources: a.sources.iter().map(|s| x(s)).collect::<Result<_, _>>()?,
                    dest: x(&a.dest)?,
                    from: None,
                    chown: a.chown.as_deref().map(x).transpose()?,
                    chmod: a.chmod.as_deref().map(x).transpose()?,
                    heredocs: a.heredocs.iter().map(|h| (h.name.clone(), h.content.clone())).collect(),
                    exclude: a.exclude.iter().map(|s| x(s)).collect::<Result<_, _>>()?,
                    parents: false,
                    add: true,
                };
                self.copy(st, id, began, cmd, &spec, results, df, no_cache)
            }
            Instruction::Run(_) => {
                Err(BuildError::at(cmd, "RUN needs gantry's container runtime, which is not implemented yet".into()))
            }
            Instruction::From(_) | Instruction::Arg(_) => Ok(()),
        };
        if let Err(e) = &result {
            self.progress.event(Event::Failed { id, error: e.to_string() });
        }
        result
    }

    fn history(&self, created_by: String, layer: bool) -> HistoryEntry {
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
    fn cached<F>(
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
                self.progress.event(Event::Cached { id });
                return Ok(());
            }
        }
        make(self, st)?;
        st.config.created = Some(rfc3339(self.now));
        st.config.rootfs.diff_ids = st.layers.iter().map(|l| l.diff_id).collect();
        let config = self.store.put_bytes(&st.config.to_bytes())?;
        self.store.cache_put(&key, &config, &st.layers)?;
        st.key = key;
        self.progress.event(Event::Done { id, seconds: began.elapsed().as_secs_f64() });
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn metadata<F>(
        &mut self,
        st: &mut State,
        id: usize,
        began: Instant,
        created_by: &str,
        change: F,
        args: &[(String, String)],
        no_cache: bool,
    ) -> Result<(), BuildError>
    where
        F: FnOnce(&mut ImageConfig) -> Result<(), BuildError>,
    {
        let visible: Vec<String> =
            args.iter().filter(|(k, _)| !PROXY_ARGS.contains(&k.as_str())).map(|(k, v)| format!("{k}={v}")).collect();
        let key = key_of(&[st.key.as_bytes(), created_by.as_bytes(), visible.join("\n").as_bytes()]);
        let entry = self.history(created_by.to_string(), false);
        self.cached(st, id, began, key, no_cache, |_, st| {
            change(&mut st.config)?;
            st.config.history.push(entry);
            Ok(())
        })
    }

    fn metadata_no_history<F>(
        &mut self,
        st: &mut State,
        id: usize,
        began: Instant,
        what: &str,
        change: F,
        no_cache: bool,
    ) -> Result<(), BuildError>
    where
        F: FnOnce(&mut ImageConfig) -> Result<(), BuildError>,
    {
        let key = key_of(&[st.key.as_bytes(), what.as_bytes()]);
        self.cached(st, id, began, key, no_cache, |_, st| change(&mut st.config))
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

fn dir_item(path: String, uid: u64, gid: u64, mtime: u64) -> Item<'static> {
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

/// Where a destination really is in the image: each existing component is followed
/// through the image's symlinks (as a chroot would), the rest appended as written.
fn resolve_dest(view: &FsView, dest: &str) -> String {
    let mut resolved = String::new();
    let parts: Vec<&str> = dest.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let next = if resolved.is_empty() { part.to_string() } else { format!("{resolved}/{part}") };
        match view.resolve(&next, true) {
            Some((real, _)) => resolved = real,
            None => {
                let rest = parts[i..].join("/");
                return if resolved.is_empty() { rest } else { format!("{resolved}/{rest}") };
            }
        }
    }
    resolved
}

/// COPY/ADD after word expansion.
struct CopySpec {
    sources: Vec<String>,
    dest: String,
    from: Option<String>,
    chown: Option<String>,
    chmod: Option<String>,
    heredocs: Vec<(String, String)>,
    exclude: Vec<String>,
    parents: bool,
    add: bool,
}

/// `--chown` value to ids, names looked up in the image's /etc/passwd and /etc/group.
fn resolve_owner(store: &Store, view: &FsView, spec: &str) -> Result<(u64, u64), BuildError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str, field: usize| -> Result<u64, BuildError> {
        if let Ok(n) = name.parse::<u64>() {
            return Ok(n);
        }
        if name == "root" {
            return Ok(0);
        }
        let text = view.read_small(store, file, 4 << 20)?.unwrap_or_default();
        String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.first() == Some(&name)).then(|| f.get(field).and_then(|v| v.parse::<u64>().ok())).flatten()
            })
            .next()
            .ok_or_else(|| {
                BuildError::Context(format!(
                    "unable to find user {name}: no matching entries in {} file",
                    if file.ends_with("passwd") { "passwd" } else { "group" }
                ))
            })
    };
    let uid = lookup("/etc/passwd", user, 2)?;
    let gid = match group {
        Some(g) => lookup("/etc/group", g, 2)?,
        None => {
            if user.parse::<u64>().is_ok() {
                uid
            } else {
                lookup("/etc/passwd", user, 3)?
            }
        }
    };
    Ok((uid, gid))
}

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)]
    fn copy(
        &mut self,
        st: &mut State,
        id: usize,
        began: Instant,
        cmd: &Command,
        spec: &CopySpec,
        results: &[Option<State>],
        df: &Dockerfile,
        no_cache: bool,
    ) -> Result<(), BuildError> {
        let word = if spec.add { "ADD" } else { "COPY" };
        let workdir = st.config.config.as_ref().and_then(|c| c.working_dir.clone()).unwrap_or_else(|| "/".into());
        let dest_is_dir_syntax = spec.dest.ends_with('/') || spec.dest == "." || spec.dest.ends_with("/.");
        let dest =
            if spec.dest.starts_with('/') { clean(&spec.dest) } else { clean(&format!("{workdir}/{}", spec.dest)) };
        let chmod = spec.chmod.as_deref().map(Chmod::parse).transpose().map_err(|e| BuildError::at(cmd, e))?;
        let mode_of = |mode: u32, kind: Kind| chmod.as_ref().map_or(mode, |c| c.apply(mode, kind == Kind::Dir));
        let exclude = ignore::IgnorePatterns::new(&spec.exclude).map_err(|e| BuildError::at(cmd, e.to_string()))?;
        // The source side: the context, or another stage's / image's filesystem.
        let source_state = match &spec.from {
            None => None,
            Some(from) => Some(self.copy_source(from, results, df).map_err(|e| BuildError::at(cmd, e.to_string()))?),
        };
        let mut created_by = word.to_string();
        for s in &spec.sources {
            created_by.push(' ');
            created_by.push_str(s);
        }
        for (name, _) in &spec.heredocs {
            created_by.push_str(&format!(" <<{name}"));
        }
        created_by.push(' ');
        created_by.push_str(&spec.dest);
        // What the step depends on, for its key.
        let (roots, source_digest, mut source_stage) = match &source_state {
            None => {
                let mut roots = Vec::new();
                for s in &spec.sources {
                    roots.extend(self.context.select(s).map_err(|e| BuildError::at(cmd, e.to_string()))?);
                }
                let d = self.context.digest(self.store, &roots)?;
                (roots, d, None)
            }
            Some(src) => (Vec::new(), src.key, Some(src.clone())),
        };
        let heredoc_digest =
            key_of(&spec.heredocs.iter().flat_map(|(n, c)| [n.as_bytes(), c.as_bytes()]).collect::<Vec<_>>());
        let key = key_of(&[
            st.key.as_bytes(),
            created_by.as_bytes(),
            source_digest.as_bytes(),
            heredoc_digest.as_bytes(),
            spec.chown.as_deref().unwrap_or("").as_bytes(),
            spec.chmod.as_deref().unwrap_or("").as_bytes(),
            spec.exclude.join("\n").as_bytes(),
            if spec.parents { b"parents" } else { b"" },
            workdir.as_bytes(),
        ]);
        let entry = self.history(format!("{created_by} # buildkit"), true);
        let now = self.now.max(0) as u64;
        self.cached(st, id, began, key, no_cache, |b, st| {
            let view = b.view(st)?;
            // Context files become root's unless --chown says otherwise; files from
            // another stage or image keep their owners (docker and BuildKit alike).
            let chown = match &spec.chown {
                Some(c) => Some(resolve_owner(b.store, &view, c).map_err(|e| BuildError::at(cmd, e.to_string()))?),
                None => None,
            };
            let (uid, gid) = chown.unwrap_or((0, 0));
            // Writing through a symlink the image already has writes where it points.
            let dest = resolve_dest(&view, &dest);
            let dir_source = roots.iter().any(|r| r.is_dir)
                || source_stage.as_mut().is_some_and(|src| {
                    b.view(src).is_ok_and(|v| spec.sources.iter().any(|s| v.is_dir(s)))
                });
            let dest_is_dir = dest_is_dir_syntax || dest.is_empty() || dir_source || view.is_dir(&dest);
            let mut items: Vec<Item> = Vec::new();
            let mut count = 0;
            let target = |rel: &str, base: &str, root_is_dir: bool| -> String {
                let leaf = if root_is_dir { rel.to_string() } else if dest_is_dir { base.to_string() } else { String::new() };
                clean(&format!("{dest}/{leaf}"))
            };
            for root in &roots {
                count += 1;
                let base = root.name.clone();
                for e in &root.entries {
                    if root.is_dir && e.rel.is_empty() {
                        continue; // the directory itself: its contents go to dest
                    }
                    if !e.rel.is_empty() && exclude.is_excluded(&e.rel) {
                        continue;
                    }
                    // --parents keeps each source's path in the context below dest.
                    let path = if spec.parents {
                        clean(&format!("{dest}/{}/{}", root.path, e.rel))
                    } else {
                        target(&e.rel, &base, root.is_dir)
                    };
                    let mode = mode_of(e.mode, e.kind);
                    let source = if e.kind == Kind::File { Source::Disk(e.abs.clone()) } else { Source::Empty };
                    items.push(Item { path, kind: e.kind, mode, uid, gid, mtime: e.mtime, size: e.size, link: e.link.clone(), source });
                }
            }
            let source_view;
            if let Some(src) = source_stage.as_mut() {
                source_view = b.view(src)?;
                for s in &spec.sources {
                    let Some((resolved, entry)) = source_view.resolve(s, true) else {
                        return Err(BuildError::at(cmd, format!("\"/{}\": not found", clean(s))));
                    };
                    count += 1;
                    let is_dir = entry.kind == Kind::Dir;
                    // A followed symlink keeps its own name in the destination.
                    let base = clean(s).rsplit('/').next().unwrap_or("").to_string();
                    for (p, e) in source_view.walk(&resolved) {
                        let rel = p.strip_prefix(&resolved).unwrap_or("").trim_start_matches('/');
                        if is_dir && rel.is_empty() {
                            continue;
                        }
                        if !rel.is_empty() && exclude.is_excluded(rel) {
                            continue;
                        }
                        let path = if spec.parents { clean(&format!("{dest}/{p}")) } else { target(rel, &base, is_dir) };
                        let mode = mode_of(e.mode, e.kind);
                        let (kind, link, size) = match e.kind {
                            // Hard links may point outside what is copied: copy their data.
                            Kind::Hardlink => (Kind::File, None, source_view.resolve(e.link.as_deref().unwrap_or(""), false).map(|(_, t)| t.size).unwrap_or(0)),
                            k => (k, e.link.clone(), e.size),
                        };
                        let source = if kind == Kind::File { Source::View(&source_view, e.clone()) } else { Source::Empty };
                        let (uid, gid) = chown.unwrap_or((e.uid, e.gid));
                        items.push(Item { path, kind, mode, uid, gid, mtime: e.mtime, size, link, source });
                    }
                }
            }
            for (name, content) in &spec.heredocs {
                count += 1;
                let path = if dest_is_dir { clean(&format!("{dest}/{name}")) } else { dest.clone() };
                let bytes = content.clone().into_bytes();
                items.push(Item { path, kind: Kind::File, mode: mode_of(0o644, Kind::File), uid, gid, mtime: now, size: bytes.len() as u64, link: None, source: Source::Bytes(bytes) });
            }
            if count > 1 && !dest_is_dir && !spec.parents {
                return Err(BuildError::at(cmd, format!("When using {word} with more than one source file, the destination must be a directory and end with a /")));
            }
            // Parent directories the destination needs and the image lacks.
            let mut prefix = String::new();
            let dir_of_dest = if dest_is_dir { dest.clone() } else { dest.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default() };
            for part in dir_of_dest.split('/').filter(|p| !p.is_empty()) {
                prefix = if prefix.is_empty() { part.to_string() } else { format!("{prefix}/{part}") };
                if !view.is_dir(&prefix) && !items.iter().any(|i| i.path == prefix) {
                    // BuildKit creates every missing directory of the path as --chown's owner.
                    items.push(dir_item(prefix.clone(), uid, gid, now));
                }
            }
            let rec = write_layer(b.store, b.clamp(items))?;
            st.layers.push(rec);
            st.view = None;
            st.config.history.push(entry);
            Ok(())
        })
    }

    /// With SOURCE_DATE_EPOCH, no timestamp in a layer is later than the epoch, so two
    /// builds of the same inputs are byte-identical.
    fn clamp<'i>(&self, mut items: Vec<Item<'i>>) -> Vec<Item<'i>> {
        if let Some(epoch) = self.opts.source_date_epoch {
            let epoch = epoch.max(0) as u64;
            for i in &mut items {
                i.mtime = i.mtime.min(epoch);
            }
        }
        items
    }

    /// `COPY --from=`: a stage by name or index, else an image in the store.
    fn copy_source(&mut self, from: &str, results: &[Option<State>], df: &Dockerfile) -> Result<State, BuildError> {
        let lower = from.to_ascii_lowercase();
        let index = from
            .parse::<usize>()
            .ok()
            .or_else(|| df.stages.iter().position(|s| s.name.as_deref() == Some(lower.as_str())));
        if let Some(i) = index {
            return results
                .get(i)
                .cloned()
                .flatten()
                .ok_or_else(|| BuildError::Dockerfile(format!("stage {from} is not built before it is used")));
        }
        self.image_state(from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for secs in [0i64, 946_684_800, 1_795_000_000, 4_102_444_800] {
            let s = rfc3339(secs);
            assert_eq!(parse_created(&s), secs * 1_000_000_000, "{s}");
        }
        assert_eq!(rfc3339(946_684_800), "2000-01-01T00:00:00Z");
    }
}
