//! Typed instructions: what BuildKit's `frontend/dockerfile/instructions` package
//! makes of the parsed tree. Every node is checked here (argument counts, flags and
//! their values, `--mount` specs, HEALTHCHECK options, stage names) with BuildKit's
//! messages, so that a bad Dockerfile fails before anything is built, naming the
//! line, and the builder works on values it can trust.
//!
//! Values are NOT variable-expanded here (that depends on the stage's ARG/ENV state
//! while building): ENV/LABEL/ARG values, COPY sources, WORKDIR etc. are as written,
//! quotes included where the parser keeps them; the builder expands them with
//! [`crate::shell`]. Only what can be checked without expansion is checked; a value
//! containing `$` is checked after expansion by the builder (see [`parse_mount`]).

#![warn(missing_docs)]

mod flags;
mod gofmt;
mod heredoc;
mod mount;
mod suggest;

use std::fmt;
use std::time::Duration;

use crate::ast::{Ast, Heredoc, Node};
use flags::Kind;

pub use mount::{parse_mount, Expander, Mount, MountType, Sharing};

/// One typed instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `FROM [--platform=p] image [AS name]`: starts a stage.
    From(From),
    /// `RUN [--mount ...] [--network ...] [--security ...] cmd`.
    Run(Run),
    /// `CMD`: the default command of the image.
    Cmd(ShellOrExec),
    /// `ENTRYPOINT`. An empty exec form (`ENTRYPOINT []`) clears it.
    Entrypoint(ShellOrExec),
    /// `COPY`.
    Copy(Copy),
    /// `ADD`.
    Add(Add),
    /// `ENV k=v ...`: (key, value as written) pairs.
    Env(Vec<(String, String)>),
    /// `ARG name[=default] ...`: (name, default as written).
    Arg(Vec<(String, Option<String>)>),
    /// `LABEL k=v ...`: (key, value as written) pairs.
    Label(Vec<(String, String)>),
    /// `EXPOSE port[/proto] ...`, sorted as BuildKit sorts them.
    Expose(Vec<String>),
    /// `USER user[:group]`.
    User(String),
    /// `WORKDIR path`.
    Workdir(String),
    /// `VOLUME path ...` (each trimmed, never empty).
    Volume(Vec<String>),
    /// `SHELL ["exe", "arg"]` (JSON form only).
    Shell(Vec<String>),
    /// `STOPSIGNAL sig`.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `ONBUILD instr`: the trigger's text as docker stores it in the image config
    /// (the original line without `ONBUILD `, heredoc bodies appended).
    Onbuild(String),
    /// `MAINTAINER name` (deprecated; sets the image's author).
    Maintainer(String),
}

/// A typed instruction with the node it came from: line numbers for errors and
/// progress, `original` for the history's `created_by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The typed, validated instruction.
    pub instruction: Instruction,
    /// The parsed node it came from.
    pub node: Node,
}

impl Command {
    /// The instruction's first line (1-based).
    pub fn line(&self) -> usize {
        self.node.start_line
    }
}

/// A command line in shell form (run through the stage's SHELL) or exec form (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellOrExec {
    /// Shell form: the rest of the line as written (not expanded).
    Shell(String),
    /// Exec form: the JSON array's elements.
    Exec(Vec<String>),
}

/// `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The base: an image reference, an earlier stage's name, or `scratch` (as written,
    /// may contain `$ARG`s declared before the first FROM).
    pub image: String,
    /// `AS name`, lower-cased (stage names are case-insensitive).
    pub name: Option<String>,
    /// `--platform=` (as written; may be `$BUILDPLATFORM`).
    pub platform: Option<String>,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The command: shell form runs through the stage's SHELL.
    pub cmd: ShellOrExec,
    /// Heredocs of the instruction (`RUN <<EOF`), bodies as parsed.
    pub heredocs: Vec<Heredoc>,
    /// `--mount=` values in order.
    pub mounts: Vec<Mount>,
    /// `--network=` when given: `default`, `none` or `host`.
    pub network: Option<String>,
    /// `--security=` when given: `sandbox` or `insecure`.
    pub security: Option<String>,
}

/// `COPY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// Source paths or patterns as written (heredoc sources are in `heredocs`).
    pub sources: Vec<String>,
    /// The destination as written.
    pub dest: String,
    /// Sources given as heredocs (`COPY <<EOF /dst`): `name` is the file name to
    /// create, `content` the body (`<<-` tabs stripped), `expand` false when the
    /// delimiter was quoted.
    pub heredocs: Vec<Heredoc>,
    /// `--from=` stage, image or context.
    pub from: Option<String>,
    /// `--chown=user[:group]` (names resolved in the destination stage at build time).
    pub chown: Option<String>,
    /// `--chmod=`, checked: octal up to 07777 or symbolic (`u+rwx,go-w`).
    pub chmod: Option<String>,
    /// `--link`: copy onto an empty layer that is merged, so it survives base changes.
    pub link: bool,
    /// `--parents`: keep the source's parent directories (below a `/./` marker).
    pub parents: bool,
    /// `--exclude=` patterns in order.
    pub exclude: Vec<String>,
}

/// `ADD`: COPY's fields (except `--from` and `--parents`, which ADD does not take)
/// and ADD's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    /// Source paths, URLs or git references as written (heredocs are in `heredocs`).
    pub sources: Vec<String>,
    /// The destination as written.
    pub dest: String,
    /// Sources given as heredocs, as in [`Copy::heredocs`].
    pub heredocs: Vec<Heredoc>,
    /// `--chown=`.
    pub chown: Option<String>,
    /// `--chmod=`, checked like COPY's.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--exclude=` patterns in order.
    pub exclude: Vec<String>,
    /// `--checksum=` for a remote source.
    pub checksum: Option<String>,
    /// `--keep-git-dir`: keep `.git` of a git source.
    pub keep_git_dir: bool,
    /// `--unpack` when given: force (`true`) or prevent (`false`) archive extraction.
    pub unpack: Option<bool>,
}

/// `HEALTHCHECK`, as it goes into the image config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", exe, args...]` or `["CMD-SHELL", "command line"]`.
    pub test: Vec<String>,
    /// `--interval=` when given; for every duration, zero means "inherit", as in
    /// docker.
    pub interval: Option<Duration>,
    /// `--timeout=` when given.
    pub timeout: Option<Duration>,
    /// `--start-period=` when given.
    pub start_period: Option<Duration>,
    /// `--start-interval=` when given.
    pub start_interval: Option<Duration>,
    /// `--retries=` when given.
    pub retries: Option<u32>,
}

/// A build stage: its FROM and the commands up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// FROM's base as written.
    pub base: String,
    /// `--platform=` of the FROM, as written.
    pub platform: Option<String>,
    /// The stage's instructions after its FROM, in order.
    pub commands: Vec<Command>,
    /// The FROM node (its line, its original text).
    pub from_node: Node,
}

/// A typed Dockerfile, split into stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// ARGs before the first FROM (usable in FROM lines; every command here is an
    /// [`Instruction::Arg`]).
    pub meta_args: Vec<Command>,
    /// At least one.
    pub stages: Vec<Stage>,
    /// The escape character from the `# escape=` directive, for expansion.
    pub escape: char,
}

/// A Dockerfile that parses but is not valid, with BuildKit's message and the line
/// of the offending instruction. Displays like BuildKit:
/// `dockerfile parse error on line N: <message>`; `line` is 0 for a problem of the
/// whole file (no stage at all), which displays as the message alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstructionError {
    /// The instruction's first line (1-based), 0 for the whole file.
    pub line: usize,
    /// BuildKit's message, without the line.
    pub message: String,
}

impl fmt::Display for InstructionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "dockerfile parse error on line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for InstructionError {}

/// Types and validates every instruction and splits them into stages (BuildKit's
/// `instructions.Parse`, plus its "no stages" and duplicate-name checks). Stops at
/// the first error.
pub fn parse_dockerfile(ast: &Ast) -> Result<Dockerfile, InstructionError> {
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &ast.children {
        let instruction = parse_node(node)?;
        match instruction {
            Instruction::From(from) => {
                if let Some(name) = &from.name {
                    if stages.iter().any(|s| s.name.as_ref() == Some(name)) {
                        // BuildKit reports this through its linter (DuplicateStageName);
                        // a later `--from=name` could not be resolved, so it is an error
                        // here.
                        return Err(error(
                            node,
                            format!("Duplicate stage name {}, stage names should be unique", gofmt::quote(name)),
                        ));
                    }
                }
                stages.push(Stage {
                    name: from.name,
                    base: from.image,
                    platform: from.platform,
                    commands: Vec::new(),
                    from_node: node.clone(),
                });
            }
            Instruction::Arg(_) if stages.is_empty() => meta_args.push(Command { instruction, node: node.clone() }),
            instruction => match stages.last_mut() {
                Some(stage) => stage.commands.push(Command { instruction, node: node.clone() }),
                None => {
                    return Err(error(node, "no build stage in current context".into()));
                }
            },
        }
    }
    if stages.is_empty() {
        return Err(InstructionError { line: 0, message: "dockerfile contains no stages to build".into() });
    }
    Ok(Dockerfile { meta_args, stages, escape: ast.directives.escape })
}

/// Types and validates one node (BuildKit's `ParseInstruction`).
pub fn parse_node(node: &Node) -> Result<Instruction, InstructionError> {
    parse_inner(node).map_err(|m| error(node, m))
}

fn error(node: &Node, message: String) -> InstructionError {
    InstructionError { line: node.start_line, message }
}

/// Instruction names, for "did you mean" (BuildKit offers them upper-cased).
const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

fn parse_inner(node: &Node) -> Result<Instruction, String> {
    let args = &node.args;
    match node.keyword.to_lowercase().as_str() {
        "env" => {
            no_flags(node)?;
            Ok(Instruction::Env(parse_kvps(args, "ENV")?))
        }
        "maintainer" => {
            exactly_one(args, "MAINTAINER")?;
            no_flags(node)?;
            Ok(Instruction::Maintainer(args[0].clone()))
        }
        "label" => {
            no_flags(node)?;
            Ok(Instruction::Label(parse_kvps(args, "LABEL")?))
        }
        "add" => parse_add(node),
        "copy" => parse_copy(node),
        "from" => parse_from(node),
        "onbuild" => parse_onbuild(node),
        "workdir" => {
            exactly_one(args, "WORKDIR")?;
            no_flags(node)?;
            Ok(Instruction::Workdir(args[0].clone()))
        }
        "run" => parse_run(node),
        "cmd" => {
            no_flags(node)?;
            Ok(Instruction::Cmd(shell_or_exec(node)))
        }
        "healthcheck" => parse_healthcheck(node),
        "entrypoint" => {
            no_flags(node)?;
            Ok(Instruction::Entrypoint(shell_or_exec(node)))
        }
        "expose" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            no_flags(node)?;
            let mut ports = args.clone();
            ports.sort();
            Ok(Instruction::Expose(ports))
        }
        "user" => {
            exactly_one(args, "USER")?;
            no_flags(node)?;
            Ok(Instruction::User(args[0].clone()))
        }
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            no_flags(node)?;
            let mut volumes = Vec::with_capacity(args.len());
            for v in args {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                volumes.push(v.to_string());
            }
            Ok(Instruction::Volume(volumes))
        }
        "stopsignal" => {
            // BuildKit does not look at STOPSIGNAL's flags.
            exactly_one(args, "STOPSIGNAL")?;
            Ok(Instruction::StopSignal(args[0].clone()))
        }
        "arg" => parse_arg(node),
        "shell" => {
            no_flags(node)?;
            if !node.json {
                return Err(not_json("SHELL", &node.original));
            }
            if args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            Ok(Instruction::Shell(args.clone()))
        }
        _ => {
            let written = written_keyword(node);
            Err(suggest::wrap(format!("unknown instruction: {written}"), &written, INSTRUCTIONS, false))
        }
    }
}

/// The keyword as the user wrote it (BuildKit reports `FOO` for `FOO bar` and
/// `foo` for `foo bar`); our parser lower-cases `keyword`, `original` keeps it.
fn written_keyword(node: &Node) -> String {
    match node.original.split_whitespace().next() {
        Some(w) if w.eq_ignore_ascii_case(&node.keyword) => w.to_string(),
        _ => node.keyword.clone(),
    }
}

fn no_flags(node: &Node) -> Result<(), String> {
    flags::parse(&node.flags, &[]).map(|_| ())
}

fn exactly_one(args: &[String], cmd: &str) -> Result<(), String> {
    if args.len() == 1 {
        Ok(())
    } else {
        Err(format!("{cmd} requires exactly one argument"))
    }
}

fn at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}

fn no_destination(cmd: &str) -> String {
    format!("{cmd} requires at least two arguments, but only one was provided. Destination could not be determined")
}

/// BuildKit's `errNotJSON`, with its hint about unescaped Windows paths.
fn not_json(cmd: &str, original: &str) -> String {
    let lower = original.to_lowercase().replace(&format!("{} ", cmd.to_lowercase()), "");
    let bytes = lower.as_bytes();
    let has_drive_path =
        bytes.windows(4).any(|w| w[0] == b'"' && w[1].is_ascii_lowercase() && w[2] == b':' && w[3] == b'\\');
    let extra = if has_drive_path && !lower.contains("\\\\") && lower.contains('[') && lower.contains(']') {
        format!(". It looks like '{lower}' includes a file path without an escaped back-slash. JSON requires back-slashes to be escaped such as [\"c:\\\\path\\\\to\\\\file.exe\", \"/parameter\"]")
    } else {
        String::new()
    };
    format!("{cmd} requires the arguments to be in JSON form{extra}")
}

/// ENV and LABEL arguments come from the parser as (key, value, separator) triples,
/// the separator being `=` or empty for the legacy `ENV k v` form.
fn parse_kvps(args: &[String], cmd: &str) -> Result<Vec<(String, String)>, String> {
    if args.is_empty() {
        return Err(at_least_one(cmd));
    }
    let triples = args.chunks_exact(3);
    if !triples.remainder().is_empty() {
        return Err(format!("Bad input to {cmd}, too many arguments"));
    }
    let mut out = Vec::with_capacity(args.len() / 3);
    for kv in triples {
        if kv[0].is_empty() {
            return Err(format!("{cmd} names can not be blank"));
        }
        out.push((kv[0].clone(), kv[1].clone()));
    }
    Ok(out)
}

fn parse_arg(node: &Node) -> Result<Instruction, String> {
    // BuildKit does not look at ARG's flags.
    if node.args.is_empty() {
        return Err(at_least_one("ARG"));
    }
    let mut out = Vec::with_capacity(node.args.len());
    for a in &node.args {
        match a.split_once('=') {
            Some(("", _)) => return Err("ARG names can not be blank".into()),
            Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
            None => out.push((a.clone(), None)),
        }
    }
    Ok(Instruction::Arg(out))
}

/// BuildKit's `handleJSONArgs`: exec form keeps the elements, shell form joins the
/// words with spaces.
fn shell_or_exec(node: &Node) -> ShellOrExec {
    shell_or_exec_of(&node.args, node.json)
}

fn shell_or_exec_of(args: &[String], json: bool) -> ShellOrExec {
    if json {
        ShellOrExec::Exec(args.to_vec())
    } else {
        ShellOrExec::Shell(args.join(" "))
    }
}

fn parse_from(node: &Node) -> Result<Instruction, String> {
    let args = &node.args;
    let name = match args.len() {
        3 if args[1].eq_ignore_ascii_case("as") => {
            let name = args[2].to_lowercase();
            if !valid_stage_name(&name) {
                return Err(format!(
                    "invalid name for build stage: {}, name can't start with a number or contain symbols",
                    gofmt::quote(&args[2])
                ));
            }
            Some(name)
        }
        1 => None,
        _ => return Err("FROM requires either one or three arguments".into()),
    };
    let flags = flags::parse(&node.flags, &[("platform", Kind::Str)])?;
    Ok(Instruction::From(From { image: args[0].clone(), name, platform: flags.non_empty("platform") }))
}

/// `^[a-z][a-z0-9-_.]*$`.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z')) && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
}

fn parse_onbuild(node: &Node) -> Result<Instruction, String> {
    let trigger = match &node.nested {
        Some(nested) => nested.keyword.clone(),
        None => match node.args.first() {
            Some(a) => a.split_whitespace().next().unwrap_or("").to_string(),
            None => return Err(at_least_one("ONBUILD")),
        },
    };
    no_flags(node)?;
    let trigger = trigger.trim().to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "MAINTAINER" | "FROM" => return Err(format!("{trigger} isn't allowed as an ONBUILD trigger")),
        _ => {}
    }
    let mut expression = if node.original.is_empty() {
        node.nested.as_ref().map(|n| n.original.clone()).unwrap_or_else(|| node.args.join(" "))
    } else {
        strip_onbuild(&node.original).to_string()
    };
    // Heredocs may hang on the ONBUILD node or on its nested instruction.
    let heredocs = match &node.nested {
        Some(n) if node.heredocs.is_empty() => &n.heredocs,
        _ => &node.heredocs,
    };
    for h in heredocs {
        expression.push('\n');
        expression.push_str(&h.content);
        expression.push_str(&h.name);
    }
    Ok(Instruction::Onbuild(expression))
}

/// `(?i)^\s*ONBUILD\s*` removed.
fn strip_onbuild(original: &str) -> &str {
    let t = original.trim_start();
    match t.get(..7) {
        Some(k) if k.eq_ignore_ascii_case("onbuild") => t[7..].trim_start(),
        _ => original,
    }
}

fn parse_run(node: &Node) -> Result<Instruction, String> {
    let flags = flags::parse(&node.flags, &[("mount", Kind::Strs), ("network", Kind::Str), ("security", Kind::Str)])?;
    let cmd = shell_or_exec(node);
    let mut mounts = Vec::new();
    for spec in flags.strings("mount") {
        mounts.push(parse_mount(&spec, None)?);
    }
    let network = flags.string("network");
    if let Some(n) = &network {
        if !matches!(n.as_str(), "default" | "none" | "host") {
            return Err(format!("invalid network mode {}", gofmt::quote(n)));
        }
    }
    let security = flags.string("security");
    if let Some(s) = &security {
        if !matches!(s.as_str(), "insecure" | "sandbox") {
            return Err(format!("security {} is not valid", gofmt::quote(s)));
        }
    }
    Ok(Instruction::Run(Run { cmd, heredocs: node.heredocs.clone(), mounts, network, security }))
}

/// Splits COPY/ADD arguments into sources, heredoc sources and destination
/// (BuildKit's `parseSourcesAndDest`).
fn sources_and_dest(node: &Node, cmd: &str) -> Result<(Vec<String>, Vec<Heredoc>, String), String> {
    let Some((dest, srcs)) = node.args.split_last() else {
        return Err(no_destination(cmd));
    };
    if heredoc::parse_word(dest).is_some() {
        return Err(format!("{cmd} cannot accept a heredoc as a destination"));
    }
    let mut sources = Vec::new();
    let mut heredocs = Vec::new();
    for src in srcs {
        match heredoc::parse_word(src) {
            Some(word) => {
                // BuildKit: an unknown name yields empty content.
                let content =
                    node.heredocs.iter().find(|h| h.name == word.name).map(|h| h.content.clone()).unwrap_or_default();
                let content = if word.chomp { chomp(&content) } else { content };
                heredocs.push(Heredoc {
                    name: word.name,
                    content,
                    expand: word.expand,
                    chomp: word.chomp,
                    file_descriptor: 0,
                });
            }
            None => sources.push(src.clone()),
        }
    }
    Ok((sources, heredocs, dest.clone()))
}

/// `<<-`: leading tabs removed from every line (idempotent, so harmless when the
/// parser already did it).
fn chomp(s: &str) -> String {
    s.split_inclusive('\n').map(|l| l.trim_start_matches('\t')).collect()
}

/// `--chmod`: octal up to 07777, or symbolic (Dockerfile 1.14+). Values with `$` are
/// checked by the builder after expansion.
fn check_chmod(chmod: &Option<String>) -> Result<(), String> {
    let Some(v) = chmod else { return Ok(()) };
    if v.contains('$') {
        return Ok(());
    }
    let ok = match gofmt::parse_uint32(v, 8) {
        Some(p) => p <= 0o7777,
        None => valid_symbolic_mode(v),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid chmod parameter: '{v}'. it should be octal string and between 0 and 07777"))
    }
}

/// `[ugoa]*([-+=]([rwxXst]*|[ugo]))+` clauses separated by commas.
fn valid_symbolic_mode(v: &str) -> bool {
    !v.is_empty()
        && v.split(',').all(|clause| {
            let rest = clause.trim_start_matches(['u', 'g', 'o', 'a']);
            let mut chars = rest.chars().peekable();
            let mut actions = 0;
            while let Some(op) = chars.next() {
                if !matches!(op, '+' | '-' | '=') {
                    return false;
                }
                actions += 1;
                if matches!(chars.peek(), Some('u' | 'g' | 'o')) {
                    chars.next();
                    continue;
                }
                while matches!(chars.peek(), Some('r' | 'w' | 'x' | 'X' | 's' | 't')) {
                    chars.next();
                }
            }
            actions > 0
        })
}

fn parse_copy(node: &Node) -> Result<Instruction, String> {
    if node.args.len() < 2 {
        return Err(no_destination("COPY"));
    }
    let flags = flags::parse(
        &node.flags,
        &[
            ("exclude", Kind::Strs),
            ("parents", Kind::Bool),
            ("chown", Kind::Str),
            ("from", Kind::Str),
            ("chmod", Kind::Str),
            ("link", Kind::Bool),
        ],
    )?;
    let (sources, heredocs, dest) = sources_and_dest(node, "COPY")?;
    let chmod = flags.non_empty("chmod");
    check_chmod(&chmod)?;
    Ok(Instruction::Copy(Copy {
        sources,
        dest,
        heredocs,
        from: flags.non_empty("from"),
        chown: flags.non_empty("chown"),
        chmod,
        link: flags.bool("link").unwrap_or(false),
        parents: flags.bool("parents").unwrap_or(false),
        exclude: flags.strings("exclude"),
    }))
}

fn parse_add(node: &Node) -> Result<Instruction, String> {
    if node.args.len() < 2 {
        return Err(no_destination("ADD"));
    }
    let flags = flags::parse(
        &node.flags,
        &[
            ("exclude", Kind::Strs),
            ("chown", Kind::Str),
            ("chmod", Kind::Str),
            ("link", Kind::Bool),
            ("keep-git-dir", Kind::Bool),
            ("checksum", Kind::Str),
            ("unpack", Kind::Bool),
        ],
    )?;
    let (sources, heredocs, dest) = sources_and_dest(node, "ADD")?;
    let chmod = flags.non_empty("chmod");
    check_chmod(&chmod)?;
    Ok(Instruction::Add(Add {
        sources,
        dest,
        heredocs,
        chown: flags.non_empty("chown"),
        chmod,
        link: flags.bool("link").unwrap_or(false),
        exclude: flags.strings("exclude"),
        checksum: flags.non_empty("checksum"),
        keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
        unpack: flags.bool("unpack"),
    }))
}

fn parse_healthcheck(node: &Node) -> Result<Instruction, String> {
    let Some((first, rest)) = node.args.split_first() else {
        return Err(at_least_one("HEALTHCHECK"));
    };
    let typ = first.to_uppercase();
    if typ == "NONE" {
        // BuildKit does not look at the flags of HEALTHCHECK NONE.
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Instruction::Healthcheck(Healthcheck {
            test: vec![typ],
            interval: None,
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: None,
        }));
    }
    let flags = flags::parse(
        &node.flags,
        &[
            ("interval", Kind::Str),
            ("timeout", Kind::Str),
            ("start-period", Kind::Str),
            ("start-interval", Kind::Str),
            ("retries", Kind::Str),
        ],
    )?;
    let test = match typ.as_str() {
        "CMD" => match shell_or_exec_of(rest, node.json) {
            ShellOrExec::Exec(v) if v.is_empty() => return Err("Missing command after HEALTHCHECK CMD".into()),
            ShellOrExec::Exec(v) => {
                let mut t = vec!["CMD".to_string()];
                t.extend(v);
                t
            }
            ShellOrExec::Shell(s) => vec!["CMD-SHELL".to_string(), s],
        },
        _ => return Err(format!("Unknown type {} in HEALTHCHECK (try CMD)", gofmt::quote(&typ))),
    };
    let duration = |name: &str| -> Result<Option<Duration>, String> {
        let Some(v) = flags.non_empty(name) else {
            return Ok(None);
        };
        let ns = gofmt::parse_duration(&v)?;
        if ns != 0 && ns < 1_000_000 {
            return Err(format!("Interval {} cannot be less than 1ms", gofmt::quote(name)));
        }
        Ok(Some(Duration::from_nanos(ns.unsigned_abs())))
    };
    let interval = duration("interval")?;
    let timeout = duration("timeout")?;
    let start_period = duration("start-period")?;
    let start_interval = duration("start-interval")?;
    let retries = match flags.non_empty("retries") {
        None => None,
        Some(v) => {
            let n = gofmt::parse_int32(&v)?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            u32::try_from(n).ok()
        }
    };
    Ok(Instruction::Healthcheck(Healthcheck { test, interval, timeout, start_period, start_interval, retries }))
}
