//! `build`: reads the Dockerfile and context, runs the build, prints BuildKit-style
//! progress (`#3 [stage 2/4] COPY . /app`, `#3 CACHED`, `#3 DONE 0.1s`) on stderr, and
//! exports the result where `--output` says.
//!
//! Contexts: a directory; a tar archive (plain, gzip, zstd or xz) given as a path or
//! as `-` on stdin, extracted safely into a private temporary directory (see
//! `gantry_layer::apply`), `-f` then naming a path inside it; or, as docker does, a
//! Dockerfile on stdin (`gantry build - < Dockerfile`) with an empty context.
//!
//! Outputs (buildx's `--output` syntax): `type=image` (the default: stored and tagged),
//! `type=docker[,dest=F]` (without dest, the same as image; with it, a docker-archive),
//! `type=oci,dest=F`, `type=local,dest=DIR` (the image's filesystem), `type=tar,dest=F`
//! (the filesystem as one tar), `type=cacheonly`; `dest=-` is stdout, `-o DIR` is
//! `type=local` and `-o -` is `type=tar` on stdout. With only non-image outputs the image
//! is still built through the cache but neither tagged nor kept as an image (unless it
//! already was one), like buildx with a non-docker output.
//!
//! Registry cache (buildx's `--cache-from`/`--cache-to type=registry,ref=R`; a bare
//! `R` is a registry ref): imported before the build (a failed import, such as a cache
//! that does not exist yet, is a warning, as with BuildKit), exported after a
//! successful one (see `gantry_registry::buildcache`).

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use gantry_archive::SaveFormat;
use gantry_build::fsview::FsView;
use gantry_build::{BuildOptions, Event, Progress};
use gantry_image::{Digest, Reference};
use gantry_layer::apply::{self, RootDir};
use gantry_layer::LayerError;
use gantry_runtime::Network;

use super::Ctx;
use crate::cli::BuildArgs;
use crate::error::{msg, CliError};

/// One step as the live display shows it.
struct StepLine {
    id: usize,
    name: String,
    state: StepState,
}

enum StepState {
    Running(std::time::Instant),
    Cached,
    Done(f64),
    Failed,
}

/// Build progress on stderr: BuildKit's plain lines (`#3 [stage 2/4] COPY . /app`,
/// `#3 CACHED`, `#3 DONE 0.1s`), or on a terminal an updating block like BuildKit's
/// tty display (`[+] Building 1.2s (5/7)` and one ` => ` line per step).
struct Display {
    tty: bool,
    /// The highest step number seen, so exports continue the numbering.
    last: usize,
    steps: Vec<StepLine>,
    /// Lines the last redraw printed (the tty display moves back over them).
    drawn: usize,
    started: std::time::Instant,
}

impl Display {
    fn new(tty: bool) -> Display {
        Display { tty, last: 0, steps: Vec::new(), drawn: 0, started: std::time::Instant::now() }
    }

    fn redraw(&mut self, finished: bool) {
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        let done = self.steps.iter().filter(|s| !matches!(s.state, StepState::Running(_))).count();
        let status = if finished { " FINISHED" } else { "" };
        out.push_str(&format!(
            "\x1b[2K[+] Building {:.1}s ({done}/{}){status}\n",
            self.started.elapsed().as_secs_f64(),
            self.steps.len()
        ));
        for s in &self.steps {
            let (prefix, secs) = match &s.state {
                StepState::Running(t) => ("", t.elapsed().as_secs_f64()),
                StepState::Cached => ("CACHED ", 0.0),
                StepState::Done(d) => ("", *d),
                StepState::Failed => ("ERROR ", 0.0),
            };
            out.push_str(&format!("\x1b[2K => {prefix}{:<60} {secs:.1}s\n", s.name));
        }
        self.drawn = self.steps.len() + 1;
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }

    /// The tty display's last frame; plain output needs nothing.
    fn finish(&mut self) {
        if self.tty && !self.steps.is_empty() {
            self.redraw(true);
        }
    }
}

impl Progress for Display {
    fn event(&mut self, e: Event) {
        if let Event::Started { id, .. } = &e {
            self.last = self.last.max(*id);
        }
        if !self.tty {
            let mut err = std::io::stderr().lock();
            let _ = match e {
                Event::Started { id, name } => writeln!(err, "#{id} {name}"),
                Event::Cached { id } => writeln!(err, "#{id} CACHED\n"),
                Event::Done { id, seconds } => writeln!(err, "#{id} DONE {seconds:.1}s\n"),
                Event::Failed { id, error } => writeln!(err, "#{id} ERROR: {error}"),
                Event::Output { id, seconds, line } => writeln!(err, "#{id} {seconds:.3} {line}"),
            };
            return;
        }
        let (id, state) = match e {
            Event::Started { id, name } => {
                self.steps.push(StepLine { id, name, state: StepState::Running(std::time::Instant::now()) });
                self.redraw(false);
                return;
            }
            Event::Cached { id } => (id, StepState::Cached),
            Event::Done { id, seconds } => (id, StepState::Done(seconds)),
            Event::Failed { id, .. } => (id, StepState::Failed),
            Event::Output { .. } => return,
        };
        if let Some(step) = self.steps.iter_mut().find(|s| s.id == id) {
            step.state = state;
        }
        self.redraw(false);
    }
}

/// `--secret` values as buildx reads them: `id=ID` with `src=`/`source=` (a file) or
/// `env=` (a variable); `type=file|env` may say which; without either, the variable
/// named like the id, else a file named like it.
fn secrets(values: &[String]) -> Result<BTreeMap<String, Vec<u8>>, CliError> {
    let mut out = BTreeMap::new();
    for v in values {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        let mut kind = None;
        for field in v.split(',') {
            match field.split_once('=') {
                Some(("id", x)) => id = Some(x.to_string()),
                Some(("src" | "source", x)) => src = Some(x.to_string()),
                Some(("env", x)) => env = Some(x.to_string()),
                Some(("type", x)) if x == "file" || x == "env" => kind = Some(x.to_string()),
                _ => return Err(CliError::Usage(format!("invalid secret {v:?}: unexpected {field:?}"))),
            }
        }
        let id = id.ok_or_else(|| CliError::Usage(format!("invalid secret {v:?}: id is required")))?;
        let value = match (kind.as_deref(), &src, &env) {
            (Some("env"), _, _) | (None, None, Some(_)) => {
                let var = env.clone().or(src.clone()).unwrap_or_else(|| id.clone());
                std::env::var(&var)
                    .map_err(|_| msg(format!("secret {id}: environment variable {var} is not set")))?
                    .into_bytes()
            }
            _ => {
                let path = src.clone().unwrap_or_else(|| id.clone());
                std::fs::read(&path).map_err(|e| msg(format!("secret {id}: {path}: {e}")))?
            }
        };
        out.insert(id, value);
    }
    Ok(out)
}

fn parse_kv(flag: &str, v: &str, from_env: bool) -> Result<(String, String), CliError> {
    match v.split_once('=') {
        Some((k, val)) if !k.is_empty() => Ok((k.to_string(), val.to_string())),
        None if from_env && !v.is_empty() => Ok((v.to_string(), std::env::var(v).unwrap_or_default())),
        _ => Err(msg(format!("invalid argument {v:?} for \"{flag}\": expected KEY=VALUE"))),
    }
}

// ---------------------------------------------------------------------------------------
// --output
// ---------------------------------------------------------------------------------------

/// Where a file output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dest {
    Stdout,
    File(PathBuf),
}

/// One `--output`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Output {
    /// Stored in the image store and tagged (`-t` plus `name=`).
    Image { names: Vec<String> },
    /// An image archive of the result, with `-t` and `name=` recorded in it.
    Archive { format: SaveFormat, dest: Dest, names: Vec<String> },
    /// The filesystem, written into a directory.
    Local(PathBuf),
    /// The filesystem as one tar.
    Tar(Dest),
    /// Nothing but the cache.
    CacheOnly,
}

/// Splits one `--output` value like Go's `encoding/csv` (which buildx uses): commas
/// separate fields; a field in double quotes may hold commas, `""` is a quote.
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("extraneous or missing \" in quoted-field".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("extraneous or missing \" in quoted-field".into()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("bare \" in non-quoted-field".into()),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

fn file_dest(kind: &str, dest: Option<String>) -> Result<Dest, CliError> {
    match dest.as_deref() {
        None | Some("-") => Ok(Dest::Stdout),
        Some("") => Err(msg(format!("output file is required for {kind} exporter"))),
        Some(p) => {
            let path = PathBuf::from(p);
            if path.is_dir() {
                return Err(msg(format!("destination file {p} is a directory")));
            }
            Ok(Dest::File(path))
        }
    }
}

/// Parses one `--output` value with buildx's rules and messages.
fn parse_output(s: &str) -> Result<Output, CliError> {
    let fields = csv_fields(s).map_err(|e| msg(format!("invalid output {s:?}: {e}")))?;
    if fields.len() == 1 && fields[0] == s && !s.starts_with("type=") {
        return Ok(if s == "-" { Output::Tar(Dest::Stdout) } else { Output::Local(PathBuf::from(s)) });
    }
    let (mut kind, mut dest, mut names) = (String::new(), None, Vec::new());
    for field in &fields {
        let (key, value) = field.split_once('=').ok_or_else(|| msg(format!("invalid value {field}")))?;
        match key.trim().to_ascii_lowercase().as_str() {
            "type" => kind = value.to_string(),
            "dest" => dest = Some(value.to_string()),
            "name" => names.extend(value.split(',').filter(|n| !n.is_empty()).map(str::to_string)),
            "push" if value == "true" => return Err(msg("pushing an image is not supported yet")),
            "tar" if value == "false" => {
                return Err(msg(format!("tar=false (an unpacked layout) is not supported by the {kind} exporter")))
            }
            // Compression and annotation options do not change what gantry writes
            // (archives carry uncompressed layers).
            other => crate::debug!("ignoring output option {other}"),
        }
    }
    match kind.as_str() {
        "" => Err(msg("type is required for output")),
        "image" | "moby" => Ok(Output::Image { names }),
        "registry" => Err(msg("pushing an image is not supported yet")),
        // buildx: the docker exporter without a destination loads the image.
        "docker" if dest.is_none() => Ok(Output::Image { names }),
        "docker" => Ok(Output::Archive { format: SaveFormat::Docker, dest: file_dest("docker", dest)?, names }),
        "oci" => Ok(Output::Archive { format: SaveFormat::Oci, dest: file_dest("oci", dest)?, names }),
        "tar" => Ok(Output::Tar(file_dest("tar", dest)?)),
        "local" => match dest {
            Some(d) if !d.is_empty() => Ok(Output::Local(PathBuf::from(d))),
            _ => Err(msg("dest is required for local output")),
        },
        "cacheonly" => Ok(Output::CacheOnly),
        other => Err(msg(format!("exporter {other:?} could not be found"))),
    }
}

/// Writes through a temporary file renamed into place, so a failed export never
/// leaves half a file under the requested name; devices and pipes are written
/// directly, stdout through a buffer.
fn write_file<F>(dest: &Dest, write: F) -> Result<(), CliError>
where
    F: FnOnce(&mut dyn Write) -> Result<(), CliError>,
{
    let path = match dest {
        Dest::Stdout => {
            let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            write(&mut out)?;
            return out.flush().map_err(|e| msg(format!("writing to stdout: {e}")));
        }
        Dest::File(p) => p,
    };
    let open_err = |e: std::io::Error| msg(format!("failed to open {}: {e}", path.display()));
    if path.exists() && !path.is_file() {
        let mut f = BufWriter::with_capacity(1 << 20, File::options().write(true).open(path).map_err(open_err)?);
        write(&mut f)?;
        return f.flush().map_err(open_err);
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into());
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    // Created exclusively: a planted file or symlink makes this fail, never redirects it.
    let tmp = dir.join(format!(".{name}.gantry-{}-{nanos:08x}", std::process::id()));
    let f = File::options().write(true).create_new(true).open(&tmp).map_err(open_err)?;
    let result = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, &f);
        write(&mut w)?;
        w.flush().map_err(open_err)?;
        drop(w);
        f.sync_all().map_err(open_err)?;
        std::fs::rename(&tmp, path).map_err(open_err)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

// ---------------------------------------------------------------------------------------
// Context
// ---------------------------------------------------------------------------------------

/// A private temporary directory (mode 0700), removed with everything in it when
/// dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Result<TempDir, CliError> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::temp_dir();
        for attempt in 0..100u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let p = base.join(format!("gantry-{what}-{}-{nanos:08x}-{attempt}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&p) {
                Ok(()) => return Ok(TempDir(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(msg(format!("unable to prepare context: {}: {e}", base.display()))),
            }
        }
        Err(msg(format!("unable to prepare context: no temporary directory in {}", base.display())))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

/// Makes every directory below `dir` writable again (an archive may have made some
/// read-only), never following symlinks, so the tree can be removed without root.
fn make_removable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let p = entry.path();
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700));
            make_removable(&p);
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::fs::remove_dir_all(&self.0).is_err() {
            make_removable(&self.0);
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A build context ready for the builder.
struct Prepared {
    context: PathBuf,
    dockerfile: String,
    dockerfile_name: String,
    /// Temporary directories to remove once the build is done.
    _temp: Vec<TempDir>,
}

/// An archive error phrased for a context (the layer crate speaks of layers).
fn context_error(e: LayerError) -> CliError {
    let text = match e {
        LayerError::Entry { path, problem } => format!("archive entry {path:?}: {problem}"),
        LayerError::Read(e) => format!("reading the archive: {e}"),
        LayerError::Write(e) => format!("extracting the archive: {e}"),
        LayerError::Corrupt(m) => format!("the archive is truncated or corrupt: {m}"),
        LayerError::UnsupportedCompression(c) => format!("the archive is compressed with {c}, which is not supported"),
    };
    msg(format!("unable to prepare context: {text}"))
}

/// Reads up to `n` bytes (fewer only at the end of the input).
fn read_prefix(r: &mut dyn Read, n: usize) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut buf).map_err(|e| msg(format!("unable to prepare context: {e}")))?;
    Ok(buf)
}

/// Extracts an archive context, then reads the Dockerfile (`-f`, default `Dockerfile`)
/// from inside it, every path resolved inside the extracted tree, unless `given` (from
/// stdin) replaces it.
fn archive_context(
    input: &mut dyn Read,
    prefix: Vec<u8>,
    file: Option<&str>,
    given: Option<String>,
) -> Result<Prepared, CliError> {
    let tree = TempDir::new("context")?;
    apply::extract(std::io::Cursor::new(prefix).chain(input), tree.path()).map_err(context_error)?;
    let root = RootDir::open(tree.path()).map_err(context_error)?;
    let name = file.unwrap_or("Dockerfile").trim_start_matches("./");
    let read = |path: &str| -> std::io::Result<String> {
        let mut s = String::new();
        root.open_file(path.as_bytes())?.read_to_string(&mut s)?;
        Ok(s)
    };
    let beside_ignore = if given.is_some() { None } else { read(&format!("{name}.dockerignore")).ok() };
    let dockerfile = match given {
        Some(text) => text,
        None => read(name).map_err(|e| msg(format!("failed to read dockerfile: {e}")))?,
    };
    // The builder reads `.dockerignore` files with plain opens: give it copies made
    // here, so a planted `.dockerignore -> /etc/shadow` can never reach the host.
    let prep = |e: std::io::Error| msg(format!("unable to prepare context: {e}"));
    let ignore = tree.path().join(".dockerignore");
    if std::fs::symlink_metadata(&ignore).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        // A link (read inside the tree here) or a fifo or device (dropped: reading one
        // could block or touch hardware).
        let content = read(".dockerignore").ok();
        std::fs::remove_file(&ignore).map_err(prep)?;
        if let Some(content) = content {
            std::fs::write(&ignore, content).map_err(prep)?;
        }
    }
    let meta = TempDir::new("dockerfile")?;
    let base = Path::new(name).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or("Dockerfile".into());
    if let Some(content) = beside_ignore {
        std::fs::write(meta.path().join(format!("{base}.dockerignore")), content).map_err(prep)?;
    }
    Ok(Prepared {
        context: tree.path().to_path_buf(),
        dockerfile,
        dockerfile_name: meta.path().join(base).display().to_string(),
        _temp: vec![tree, meta],
    })
}

fn prepare_context(a: &BuildArgs) -> Result<Prepared, CliError> {
    let from_stdin = a.context.as_os_str() == "-";
    let file = a.file.as_deref();
    if from_stdin && file == Some("-") {
        return Err(msg("invalid argument: can't use stdin for both build context and dockerfile"));
    }
    if from_stdin {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let prefix = read_prefix(&mut input, 512)?;
        if apply::looks_like_archive(&prefix) {
            return archive_context(&mut input, prefix, file, None);
        }
        // Not an archive: the Dockerfile itself, with an empty context.
        if file.is_some() {
            return Err(msg("ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles"));
        }
        let mut bytes = prefix;
        input.read_to_end(&mut bytes).map_err(|e| msg(format!("reading Dockerfile from stdin: {e}")))?;
        let dockerfile = String::from_utf8(bytes)
            .map_err(|_| msg("unable to prepare context: stdin is neither an archive nor a Dockerfile"))?;
        let empty = TempDir::new("context")?;
        return Ok(Prepared {
            context: empty.path().to_path_buf(),
            dockerfile,
            dockerfile_name: empty.path().join("Dockerfile").display().to_string(),
            _temp: vec![empty],
        });
    }
    if a.context.is_file() {
        let mut f = File::open(&a.context)
            .map_err(|e| msg(format!("unable to prepare context: {}: {e}", a.context.display())))?;
        let prefix = read_prefix(&mut f, 512)?;
        if !apply::looks_like_archive(&prefix) {
            return Err(msg(format!(
                "unable to prepare context: path {:?} is neither a directory nor a tar archive",
                a.context.display().to_string()
            )));
        }
        if file == Some("-") {
            let mut dockerfile = String::new();
            std::io::stdin()
                .read_to_string(&mut dockerfile)
                .map_err(|e| msg(format!("reading Dockerfile from stdin: {e}")))?;
            return archive_context(&mut f, prefix, None, Some(dockerfile));
        }
        return archive_context(&mut f, prefix, file, None);
    }
    if !a.context.is_dir() {
        return Err(msg(format!("unable to prepare context: path {:?} not found", a.context.display().to_string())));
    }
    let (dockerfile, dockerfile_name) = match file {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| msg(format!("reading Dockerfile from stdin: {e}")))?;
            (s, a.context.join("Dockerfile").display().to_string())
        }
        f => {
            let path = match f {
                Some(f) => PathBuf::from(f),
                None => a.context.join("Dockerfile"),
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| msg(format!("failed to read dockerfile: open {}: {e}", path.display())))?;
            (text, path.display().to_string())
        }
    };
    Ok(Prepared { context: a.context.clone(), dockerfile, dockerfile_name, _temp: Vec::new() })
}

// ---------------------------------------------------------------------------------------
// --cache-from, --cache-to
// ---------------------------------------------------------------------------------------

/// One registry cache to import or export.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CacheRef {
    reference: Reference,
    /// `mode=max`: every record the build touched; `min` (the default, as BuildKit's):
    /// only those of the result's own layers.
    max: bool,
    /// `ignore-error=true`: a failed export is a warning.
    ignore_error: bool,
}

/// Parses one `--cache-from`/`--cache-to` value with buildx's rules: fields without `=`
/// are registry refs; otherwise `type=registry,ref=R[,mode=min|max][,ignore-error=B]`.
fn parse_cache(flag: &str, v: &str) -> Result<Vec<CacheRef>, CliError> {
    let fields = csv_fields(v).map_err(|e| msg(format!("invalid {flag} {v:?}: {e}")))?;
    let reference = |r: &str| -> Result<Reference, CliError> {
        let parsed = Reference::parse(r).map_err(|e| msg(format!("invalid {flag} ref {r:?}: {e}")))?;
        Ok(if parsed.digest().is_some() { parsed } else { parsed.with_default_tag() })
    };
    if fields.iter().all(|f| !f.contains('=')) {
        return fields
            .iter()
            .filter(|f| !f.is_empty())
            .map(|f| Ok(CacheRef { reference: reference(f)?, max: false, ignore_error: false }))
            .collect();
    }
    let (mut kind, mut r, mut max, mut ignore_error) = (String::new(), None, false, false);
    for field in &fields {
        let (key, value) = field.split_once('=').ok_or_else(|| msg(format!("invalid value {field}")))?;
        match key.to_ascii_lowercase().as_str() {
            "type" => kind = value.to_string(),
            "ref" => r = Some(value.to_string()),
            "mode" => {
                max = match value {
                    "min" => false,
                    "max" => true,
                    _ => return Err(msg(format!("invalid cache mode {value:?}: expected min or max"))),
                }
            }
            "ignore-error" => {
                ignore_error =
                    value.parse().map_err(|_| msg(format!("invalid ignore-error {value:?}: expected true or false")))?
            }
            // Layer compression and manifest-format options: gantry's format is fixed.
            other => crate::debug!("ignoring cache option {other}"),
        }
    }
    match kind.as_str() {
        "" => Err(msg(format!("type required form> {v:?}"))),
        "registry" => {
            let r = r
                .filter(|r| !r.is_empty())
                .ok_or_else(|| msg(format!("{flag}: ref is required for registry cache")))?;
            Ok(vec![CacheRef { reference: reference(&r)?, max, ignore_error }])
        }
        other => Err(msg(format!("{flag}: cache type {other:?} is not supported (gantry supports type=registry)"))),
    }
}

/// Imports each `--cache-from` cache; a failure is a warning (the build goes on with
/// what the store has), as BuildKit's missing cache is.
fn import_caches(ctx: &mut Ctx, caches: &[CacheRef], quiet: bool) -> Result<(), CliError> {
    if caches.is_empty() {
        return Ok(());
    }
    let rt = super::registry::runtime()?;
    for c in caches {
        let name = c.reference.familiar();
        let started = std::time::Instant::now();
        let result = rt.block_on(async {
            let settings = gantry_registry::settings::Settings::load()?;
            let reg = super::registry::connect(ctx, &settings, c.reference.domain(), None, false).await?;
            let opts = gantry_registry::buildcache::CacheOptions {
                concurrency: settings.max_concurrent_downloads,
                progress: &gantry_registry::Quiet,
            };
            Ok::<_, CliError>(gantry_registry::buildcache::import(&mut ctx.store, &reg, &c.reference, &opts).await?)
        });
        match result {
            Ok(done) if !quiet => eprintln!(
                "importing cache manifest from {name}: {} records imported, {} already present, {} layers downloaded ({:.1}s)",
                done.records,
                done.present,
                done.layers_fetched,
                started.elapsed().as_secs_f64()
            ),
            Ok(_) => {}
            Err(e) => eprintln!("WARNING: importing cache manifest from {name}: {e}"),
        }
    }
    Ok(())
}

/// Exports the records the build touched (since `since`) to one `--cache-to` cache.
fn export_cache(ctx: &Ctx, cache: &CacheRef, id: &Digest, since: i64) -> Result<(), CliError> {
    let mut records = ctx.store.cache_records_used_since(since)?;
    if !cache.max {
        // mode=min: the records of the result's own layers (a builder stage's layers
        // stay home), as BuildKit's min exports only the result's.
        let own: HashSet<Digest> = ctx.store.layers(id)?.iter().map(|l| l.diff_id).collect();
        records.retain(|r| r.layers.iter().all(|l| own.contains(&l.diff_id)));
    }
    let rt = super::registry::runtime()?;
    rt.block_on(async {
        let settings = gantry_registry::settings::Settings::load()?;
        let reg = super::registry::connect(ctx, &settings, cache.reference.domain(), None, true).await?;
        let opts = gantry_registry::buildcache::CacheOptions {
            concurrency: settings.max_concurrent_uploads,
            progress: &gantry_registry::Quiet,
        };
        gantry_registry::buildcache::export(&ctx.store, &reg, &cache.reference, &records, &opts).await?;
        Ok(())
    })
}

fn now_unix_nanos() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------

fn parse_refs(names: &[String]) -> Result<Vec<Reference>, CliError> {
    let mut out: Vec<Reference> = Vec::new();
    for n in names {
        let r = Reference::parse(n)?.with_default_tag();
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Writes one non-image output of the built image `id`.
fn export(ctx: &Ctx, id: &Digest, output: &Output, tags: &[Reference]) -> Result<(), CliError> {
    let view = || -> Result<FsView, CliError> {
        let layers: Vec<Digest> = ctx.store.layers(id)?.iter().map(|l| l.diff_id).collect();
        FsView::new(&ctx.store, &layers).map_err(|e| msg(e.to_string()))
    };
    let export_err = |e: gantry_build::export::ExportError| msg(format!("exporting: {e}"));
    match output {
        Output::Image { .. } | Output::CacheOnly => Ok(()),
        Output::Archive { format, dest, names } => {
            let mut refs = tags.to_vec();
            for r in parse_refs(names)? {
                if !refs.contains(&r) {
                    refs.push(r);
                }
            }
            write_file(dest, |w| Ok(gantry_archive::save(&ctx.store, &[(*id, refs)], w, *format)?))
        }
        Output::Tar(dest) => {
            let view = view()?;
            write_file(dest, |w| gantry_build::export::write_tar(&ctx.store, &view, w).map(drop).map_err(export_err))
        }
        Output::Local(dir) => {
            let view = view()?;
            std::fs::create_dir_all(dir).map_err(|e| msg(format!("failed to create {}: {e}", dir.display())))?;
            gantry_build::export::write_dir(&ctx.store, &view, dir).map_err(export_err)
        }
    }
}

fn export_name(output: &Output) -> &'static str {
    match output {
        Output::Archive { format: SaveFormat::Docker, .. } => "exporting to docker image format",
        Output::Archive { format: SaveFormat::Oci, .. } => "exporting to oci image format",
        Output::Local(_) => "exporting to client directory",
        Output::Tar(_) => "exporting to client tarball",
        Output::Image { .. } | Output::CacheOnly => "exporting cache",
    }
}

pub fn build(ctx: &mut Ctx, a: &BuildArgs) -> Result<(), CliError> {
    let mut outputs =
        a.output.iter().filter(|o| !o.is_empty()).map(|o| parse_output(o)).collect::<Result<Vec<_>, _>>()?;
    if outputs.is_empty() {
        outputs.push(Output::Image { names: Vec::new() });
    }
    let to_stdout = outputs
        .iter()
        .filter(|o| matches!(o, Output::Tar(Dest::Stdout) | Output::Archive { dest: Dest::Stdout, .. }))
        .count();
    if to_stdout > 1 {
        return Err(msg("only one output can be written to stdout"));
    }
    if to_stdout == 1 && std::io::stdout().is_terminal() {
        let kind = outputs
            .iter()
            .find_map(|o| match o {
                Output::Tar(Dest::Stdout) => Some("tar"),
                Output::Archive { dest: Dest::Stdout, format: SaveFormat::Oci, .. } => Some("oci"),
                Output::Archive { dest: Dest::Stdout, .. } => Some("docker"),
                _ => None,
            })
            .unwrap_or("tar");
        return Err(msg(format!("output file is required for {kind} exporter. refusing to write to console")));
    }
    if let Some(Output::Local(dir)) = outputs.iter().find(|o| matches!(o, Output::Local(d) if d.is_file())) {
        return Err(msg(format!("destination directory {} is a file", dir.display())));
    }
    let mut cache_from = Vec::new();
    for v in &a.buildkit.cache_from {
        cache_from.extend(parse_cache("--cache-from", v)?);
    }
    let mut cache_to = Vec::new();
    for v in &a.buildkit.cache_to {
        cache_to.extend(parse_cache("--cache-to", v)?);
    }
    if let Some(c) = cache_to.iter().find(|c| c.reference.digest().is_some()) {
        return Err(msg(format!("--cache-to: cannot export cache to a digest reference: {}", c.reference)));
    }
    let tags = parse_refs(&a.tag)?;
    let store_image = outputs.iter().any(|o| matches!(o, Output::Image { .. }));
    let mut store_tags = Vec::new();
    if store_image {
        store_tags = tags.clone();
        for o in &outputs {
            if let Output::Image { names } = o {
                for r in parse_refs(names)? {
                    if !store_tags.contains(&r) {
                        store_tags.push(r);
                    }
                }
            }
        }
    }

    let prepared = prepare_context(a)?;
    let mut build_args = BTreeMap::new();
    for v in &a.build_arg {
        // `--build-arg K` takes K from the environment, and is dropped when unset.
        if !v.contains('=') && std::env::var_os(v).is_none() {
            continue;
        }
        let (k, val) = parse_kv("--build-arg", v, true)?;
        build_args.insert(k, val);
    }
    let mut labels = BTreeMap::new();
    for v in &a.label {
        let (k, val) = parse_kv("--label", v, false)?;
        labels.insert(k, val);
    }
    let source_date_epoch = match (a.buildkit.source_date_epoch, std::env::var("SOURCE_DATE_EPOCH")) {
        (Some(t), _) => Some(t),
        (None, Ok(v)) if !v.is_empty() => {
            Some(v.parse::<i64>().map_err(|_| msg(format!("invalid SOURCE_DATE_EPOCH {v:?}")))?)
        }
        _ => None,
    };
    let base_images = Some(gantry_build::BaseImages {
        fetcher: std::sync::Arc::new(super::registry::BuildBases {
            config: ctx.config.clone(),
            tls_verify: None,
            done: Default::default(),
        }),
        always: a.pull,
    });
    let opts = BuildOptions {
        context: prepared.context.clone(),
        dockerfile: prepared.dockerfile.clone(),
        dockerfile_name: prepared.dockerfile_name.clone(),
        tags: store_tags,
        build_args,
        target: a.target.clone(),
        no_cache: a.no_cache,
        no_cache_filter: a.no_cache_filter.clone(),
        labels,
        platform: a.platform.clone(),
        source_date_epoch,
        network: if a.network == "none" { Network::None } else { Network::Host },
        runtime: ctx.runtime.clone(),
        secrets: secrets(&a.buildkit.secret)?,
        base_images,
    };
    // Images that existed before: a non-image output must not remove one of them.
    let existing: HashSet<Digest> =
        if store_image { HashSet::new() } else { ctx.store.images()?.iter().map(|i| i.id).collect() };
    // auto: the live display on a terminal, plain lines otherwise (as docker does).
    let tty = match a.progress.as_str() {
        "tty" => true,
        "plain" => false,
        _ => std::io::stderr().is_terminal(),
    };
    // --no-cache uses no cache at all: nothing to import.
    if !a.no_cache {
        import_caches(ctx, &cache_from, a.quiet)?;
    }
    // Records the build uses or makes from now on are the ones a cache export sends.
    let since = now_unix_nanos();
    let mut plain = Display::new(tty);
    let result = if a.quiet {
        gantry_build::build(&mut ctx.store, &opts, &mut gantry_build::Quiet)
    } else {
        gantry_build::build(&mut ctx.store, &opts, &mut plain)
    };
    plain.finish();
    let result = result.map_err(|e| msg(e.to_string()))?;
    drop(prepared);
    for w in &result.warnings {
        eprintln!("{w}");
    }
    let id = result.id;

    // Exports, under a lease so no collection removes a blob being read.
    let exported = (|| {
        let _lease = ctx.store.lease()?;
        for output in &outputs {
            if matches!(output, Output::Image { .. } | Output::CacheOnly) {
                continue;
            }
            let started = std::time::Instant::now();
            plain.last += 1;
            let step = plain.last;
            if !a.quiet {
                plain.event(Event::Started { id: step, name: export_name(output).to_string() });
            }
            export(ctx, &id, output, &tags)?;
            if !a.quiet {
                plain.event(Event::Done { id: step, seconds: started.elapsed().as_secs_f64() });
            }
        }
        for cache in &cache_to {
            let started = std::time::Instant::now();
            plain.last += 1;
            let step = plain.last;
            if !a.quiet {
                let name = format!("exporting cache to registry {}", cache.reference.familiar());
                plain.event(Event::Started { id: step, name });
            }
            match export_cache(ctx, cache, &id, since) {
                Ok(()) => {
                    if !a.quiet {
                        plain.event(Event::Done { id: step, seconds: started.elapsed().as_secs_f64() });
                    }
                }
                Err(e) if cache.ignore_error => {
                    if !a.quiet {
                        plain.event(Event::Done { id: step, seconds: started.elapsed().as_secs_f64() });
                    }
                    eprintln!("WARNING: exporting cache to {}: {e}", cache.reference.familiar());
                }
                Err(e) => {
                    if !a.quiet {
                        plain.event(Event::Failed { id: step, error: e.to_string() });
                    }
                    return Err(e);
                }
            }
        }
        Ok::<(), CliError>(())
    })();
    if !store_image && !existing.contains(&id) {
        // Built only for its outputs: the cache keeps its layers, the image goes.
        ctx.store.remove_image(&id, &[], true)?;
    }
    plain.finish();
    exported?;

    if let Some(path) = &a.iidfile {
        std::fs::write(path, id.to_string()).map_err(|e| msg(format!("writing iidfile {}: {e}", path.display())))?;
    }
    if a.quiet {
        if to_stdout == 0 {
            println!("{id}");
        }
    } else if store_image {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "writing image {id} done");
        for t in &result.tagged {
            let _ = writeln!(err, "naming to {} done", t.reference);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv() {
        assert_eq!(csv_fields("type=local,dest=out").unwrap(), ["type=local", "dest=out"]);
        assert_eq!(csv_fields(r#"type=image,"name=a,b""#).unwrap(), ["type=image", "name=a,b"]);
        assert_eq!(csv_fields(r#""a""b""#).unwrap(), [r#"a"b"#]);
        assert_eq!(csv_fields("a,,b").unwrap(), ["a", "", "b"]);
        assert!(csv_fields(r#"a"b"#).is_err());
        assert!(csv_fields(r#""ab"#).is_err());
    }

    #[test]
    fn outputs() {
        let local = |p: &str| Output::Local(PathBuf::from(p));
        assert_eq!(parse_output("out").unwrap(), local("out"));
        assert_eq!(parse_output("type=local,dest=out").unwrap(), local("out"));
        assert_eq!(parse_output("-").unwrap(), Output::Tar(Dest::Stdout));
        assert_eq!(parse_output("type=tar").unwrap(), Output::Tar(Dest::Stdout));
        assert_eq!(parse_output("type=tar,dest=x.tar").unwrap(), Output::Tar(Dest::File("x.tar".into())));
        assert_eq!(parse_output("type=image").unwrap(), Output::Image { names: vec![] });
        assert_eq!(parse_output("type=docker").unwrap(), Output::Image { names: vec![] });
        assert_eq!(
            parse_output(r#"type=docker,dest=i.tar,"name=a:1,b""#).unwrap(),
            Output::Archive {
                format: SaveFormat::Docker,
                dest: Dest::File("i.tar".into()),
                names: vec!["a:1".into(), "b".into()]
            }
        );
        assert_eq!(
            parse_output("type=oci,dest=-").unwrap(),
            Output::Archive { format: SaveFormat::Oci, dest: Dest::Stdout, names: vec![] }
        );
        assert_eq!(parse_output("type=cacheonly").unwrap(), Output::CacheOnly);
        let err = |s: &str| parse_output(s).unwrap_err().to_string();
        assert_eq!(err("type=local"), "dest is required for local output");
        assert_eq!(err("dest=x,name=y"), "type is required for output");
        assert_eq!(parse_output("dest=x").unwrap(), local("dest=x"), "one field without type= is a directory");
        assert_eq!(err("type=local,dest"), "invalid value dest");
        assert_eq!(err("type=nope"), "exporter \"nope\" could not be found");
        assert_eq!(err("type=tar,dest=/"), "destination file / is a directory");
    }

    #[test]
    fn cache_refs() {
        let parse = |v: &str| parse_cache("--cache-to", v);
        let one = |v: &str| parse(v).unwrap().remove(0);
        let c = one("type=registry,ref=127.0.0.1:5000/cache");
        assert_eq!(c.reference.to_string(), "127.0.0.1:5000/cache:latest");
        assert!(!c.max && !c.ignore_error);
        let c = one("type=registry,ref=reg.example/a/b:ci,mode=max,ignore-error=true,image-manifest=true");
        assert_eq!(c.reference.to_string(), "reg.example/a/b:ci");
        assert!(c.max && c.ignore_error);
        let bare = parse("reg.example/x:1,reg.example/y").unwrap();
        assert_eq!(bare.len(), 2);
        assert_eq!(bare[1].reference.to_string(), "reg.example/y:latest");
        let err = |v: &str| parse(v).unwrap_err().to_string();
        assert!(err("type=local,dest=x").contains("not supported"));
        assert!(err("ref=x,mode=max").contains("type required"));
        assert!(err("type=registry").contains("ref is required"));
        assert!(err("type=registry,ref=x,mode=all").contains("invalid cache mode"));
        assert!(err("type=registry,ref=UPPER").contains("invalid --cache-to ref"));
        assert!(err("type=registry,ref").contains("invalid value ref"));
    }
}
