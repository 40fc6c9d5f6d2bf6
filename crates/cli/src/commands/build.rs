//! `build`: reads the Dockerfile and context, runs the build, prints BuildKit-style
//! progress (`#3 [stage 2/4] COPY . /app`, `#3 CACHED`, `#3 DONE 0.1s`) on stderr.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use gantry_build::{BuildOptions, Event, Progress};
use gantry_image::Reference;

use super::Ctx;
use crate::cli::BuildArgs;
use crate::error::{msg, CliError};

/// Plain progress lines, as `docker build --progress=plain` prints them.
struct Plain;

impl Progress for Plain {
    fn event(&mut self, e: Event) {
        let mut err = std::io::stderr().lock();
        let _ = match e {
            Event::Started { id, name } => writeln!(err, "#{id} {name}"),
            Event::Cached { id } => writeln!(err, "#{id} CACHED\n"),
            Event::Done { id, seconds } => writeln!(err, "#{id} DONE {seconds:.1}s\n"),
            Event::Failed { id, error } => writeln!(err, "#{id} ERROR: {error}"),
        };
    }
}

fn parse_kv(flag: &str, v: &str, from_env: bool) -> Result<(String, String), CliError> {
    match v.split_once('=') {
        Some((k, val)) if !k.is_empty() => Ok((k.to_string(), val.to_string())),
        None if from_env && !v.is_empty() => Ok((v.to_string(), std::env::var(v).unwrap_or_default())),
        _ => Err(msg(format!("invalid argument {v:?} for \"{flag}\": expected KEY=VALUE"))),
    }
}

pub fn build(ctx: &mut Ctx, a: &BuildArgs) -> Result<(), CliError> {
    if !a.context.is_dir() {
        return Err(msg(format!("unable to prepare context: path {:?} not found", a.context.display().to_string())));
    }
    let (dockerfile, dockerfile_name) = match a.file.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| msg(format!("reading Dockerfile from stdin: {e}")))?;
            (s, a.context.join("Dockerfile").display().to_string())
        }
        f => {
            let path = match f {
                Some(f) => std::path::PathBuf::from(f),
                None => a.context.join("Dockerfile"),
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| msg(format!("failed to read dockerfile: open {}: {e}", path.display())))?;
            (text, path.display().to_string())
        }
    };
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
    let mut tags = Vec::new();
    for t in &a.tag {
        tags.push(Reference::parse(t)?.with_default_tag());
    }
    let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => Some(v.parse::<i64>().map_err(|_| msg(format!("invalid SOURCE_DATE_EPOCH {v:?}")))?),
        _ => None,
    };
    let opts = BuildOptions {
        context: a.context.clone(),
        dockerfile,
        dockerfile_name,
        tags,
        build_args,
        target: a.target.clone(),
        no_cache: a.no_cache,
        no_cache_filter: a.no_cache_filter.clone(),
        labels,
        source_date_epoch,
    };
    let result = if a.quiet {
        gantry_build::build(&mut ctx.store, &opts, &mut gantry_build::Quiet)
    } else {
        gantry_build::build(&mut ctx.store, &opts, &mut Plain)
    }
    .map_err(|e| msg(e.to_string()))?;
    for w in &result.warnings {
        eprintln!("{w}");
    }
    if let Some(path) = &a.iidfile {
        std::fs::write(path, result.id.to_string())
            .map_err(|e| msg(format!("writing iidfile {}: {e}", path.display())))?;
    }
    if a.quiet {
        println!("{}", result.id);
    } else {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "writing image {} done", result.id);
        for t in &result.tagged {
            let _ = writeln!(err, "naming to {} done", t.reference);
        }
    }
    Ok(())
}
