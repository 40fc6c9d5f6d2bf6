//! What a container mounts: `-v`, `--mount` and the image's VOLUMEs, checked the way
//! docker checks them (the CLI's parse errors first, then the daemon's), with docker's
//! messages.

use std::collections::BTreeMap;
use std::path::PathBuf;

use gantry_runtime::container::{Bind, Tmpfs};

use super::{ram_in_bytes, usage};
use crate::commands::Ctx;
use crate::error::CliError;

/// One `--mount` as docker's CLI reads it.
#[derive(Debug, Default, PartialEq)]
struct MountFlag {
    kind: String,
    source: Option<String>,
    target: String,
    readonly: bool,
    labels: BTreeMap<String, String>,
    tmpfs_size: Option<i64>,
    tmpfs_mode: Option<u32>,
}

/// `true`/`false` and the other spellings Go's `strconv.ParseBool` takes.
pub(super) fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parses `type=bind,source=/a,target=/b,readonly`; the error is the reason alone.
fn parse_mount_flag(spec: &str) -> Result<MountFlag, String> {
    let mut m = MountFlag { kind: "volume".into(), ..Default::default() };
    let (mut bind_opts, mut volume_opts, mut tmpfs_opts) = (false, false, false);
    // Valid but not supported: said once the options are known to fit the type.
    let mut unsupported = None;
    for field in spec.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let invalid = || format!("invalid value for {key}: {}", value.unwrap_or(""));
        let flag = || match value {
            None => Ok(true),
            Some(v) => parse_bool(v).ok_or_else(invalid),
        };
        match (key.as_str(), value) {
            ("readonly" | "ro", _) => m.readonly = flag()?,
            ("volume-nocopy", _) => {
                volume_opts = true;
                flag()?;
            }
            ("bind-nonrecursive", _) => {
                bind_opts = true;
                if flag()? {
                    unsupported = Some("bind-nonrecursive is not supported: gantry's binds are recursive".to_string());
                }
            }
            (_, None) => return Err(format!("invalid field '{field}' must be a key=value pair")),
            ("type", Some(v)) => m.kind = v.to_ascii_lowercase(),
            ("source" | "src", Some(v)) => m.source = Some(v.to_string()),
            ("target" | "destination" | "dst", Some(v)) => m.target = v.to_string(),
            ("consistency", Some(_)) => {}
            ("bind-propagation", Some(v)) => {
                bind_opts = true;
                match v {
                    "private" | "rprivate" => {}
                    "shared" | "rshared" | "slave" | "rslave" => {
                        unsupported =
                            Some(format!("bind-propagation={v} is not supported: gantry's binds are rprivate"))
                    }
                    _ => return Err(format!("invalid propagation mode: {v}")),
                }
            }
            ("volume-label", Some(v)) => {
                volume_opts = true;
                let (k, v) = v.split_once('=').unwrap_or((v, ""));
                m.labels.insert(k.to_string(), v.to_string());
            }
            ("volume-driver", Some(v)) => {
                volume_opts = true;
                if v != "local" {
                    return Err(format!("volume driver {v} is not supported (only \"local\")"));
                }
            }
            ("volume-opt", Some(_)) => return Err("volume-opt is not supported by gantry's local volumes".into()),
            ("tmpfs-size", Some(v)) => {
                tmpfs_opts = true;
                m.tmpfs_size = Some(ram_in_bytes(v).map_err(|_| invalid())?);
            }
            ("tmpfs-mode", Some(v)) => {
                tmpfs_opts = true;
                m.tmpfs_mode = Some(u32::from_str_radix(v, 8).map_err(|_| invalid())?);
            }
            (_, Some(_)) => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if m.target.is_empty() {
        return Err("target is required".into());
    }
    for (used, prefix, kind) in
        [(bind_opts, "bind", "bind"), (volume_opts, "volume", "volume"), (tmpfs_opts, "tmpfs", "tmpfs")]
    {
        if used && m.kind != kind {
            return Err(format!("cannot mix '{prefix}-*' options with mount type '{}'", m.kind));
        }
    }
    match unsupported {
        Some(why) => Err(why),
        None => Ok(m),
    }
}

/// What a container mounts besides its image.
pub(super) struct Mounts {
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<Tmpfs>,
}

/// Checks a mount the way docker's daemon does.
fn daemon_error(kind: &str, why: impl std::fmt::Display) -> CliError {
    usage(format!("invalid mount config for type \"{kind}\": {why}"))
}

fn absolute<'a>(kind: &str, path: &'a str) -> Result<&'a str, CliError> {
    if path.starts_with('/') {
        Ok(path)
    } else {
        Err(daemon_error(kind, format!("invalid mount path: '{path}' mount path must be absolute")))
    }
}

/// `-v` values (`/host:/ctr[:ro|rw]` binds a host path, `name:/ctr` a named volume,
/// created if missing), then `--mount` values, then an anonymous volume for each
/// VOLUME of the image that neither covers, as docker makes them.
pub(super) fn mounts(
    ctx: &Ctx,
    volumes: &[String],
    mount_flags: &[String],
    image_volumes: &[String],
) -> Result<Mounts, CliError> {
    let mut out = Mounts { binds: Vec::new(), tmpfs: Vec::new() };
    // A named volume (made if missing), or a new anonymous one.
    let volume = |name: Option<&str>, labels: BTreeMap<String, String>| -> Result<(PathBuf, String), CliError> {
        let vol = ctx
            .store
            .create_volume(&crate::commands::volumes::new_volume(name, labels))
            .map_err(|e| usage(e.to_string()))?;
        Ok((ctx.store.volume_path(&vol.name), vol.name))
    };
    for v in volumes {
        let parts: Vec<&str> = v.split(':').collect();
        let (src, dst, mode) = match parts[..] {
            [src, dst] => (src, dst, ""),
            [src, dst, mode] => (src, dst, mode),
            _ => return Err(usage(format!("invalid volume specification: '{v}'"))),
        };
        if !dst.starts_with('/') {
            return Err(usage(format!("invalid volume specification: '{v}': invalid mount config for type \"bind\": invalid mount path: '{dst}' mount path must be absolute")));
        }
        let readonly = match mode {
            "" | "rw" => false,
            "ro" => true,
            other => return Err(usage(format!("invalid mode: {other}"))),
        };
        if src.starts_with('/') {
            let source = PathBuf::from(src);
            if !source.exists() {
                // docker creates a missing bind source directory (for -v, not --mount).
                std::fs::create_dir_all(&source).map_err(|e| usage(format!("{src}: {e}")))?;
            }
            out.binds.push(Bind { source, destination: dst.to_string(), readonly, volume: None });
        } else {
            let (source, name) = volume(Some(src), BTreeMap::new())?;
            out.binds.push(Bind { source, destination: dst.to_string(), readonly, volume: Some(name) });
        }
    }
    for spec in mount_flags {
        let m = parse_mount_flag(spec)
            .map_err(|why| usage(format!("invalid argument \"{spec}\" for \"--mount\" flag: {why}")))?;
        let target = absolute(&m.kind, &m.target)?.to_string();
        match m.kind.as_str() {
            "bind" => {
                let src = m.source.as_deref().unwrap_or("");
                if src.is_empty() {
                    return Err(daemon_error("bind", "field Source must not be empty"));
                }
                let source = PathBuf::from(absolute("bind", src)?);
                if std::fs::symlink_metadata(&source).is_err() {
                    return Err(daemon_error("bind", format!("bind source path does not exist: {src}")));
                }
                out.binds.push(Bind { source, destination: target, readonly: m.readonly, volume: None });
            }
            "volume" => {
                let (source, name) = volume(m.source.as_deref().filter(|s| !s.is_empty()), m.labels)?;
                out.binds.push(Bind { source, destination: target, readonly: m.readonly, volume: Some(name) });
            }
            "tmpfs" => {
                if m.source.is_some() {
                    return Err(daemon_error("tmpfs", "field Source must not be specified"));
                }
                out.tmpfs.push(Tmpfs { destination: target, size: m.tmpfs_size, mode: m.tmpfs_mode });
            }
            other => return Err(daemon_error(other, "mount type unknown")),
        }
    }
    let mut seen = std::collections::HashSet::new();
    let targets = out.binds.iter().map(|b| &b.destination).chain(out.tmpfs.iter().map(|t| &t.destination));
    for t in targets {
        if !seen.insert(t.trim_end_matches('/').to_string()) {
            return Err(usage(format!("Duplicate mount point: {t}")));
        }
    }
    for path in image_volumes {
        if seen.contains(path.trim_end_matches('/')) {
            continue;
        }
        let (source, name) = volume(None, BTreeMap::new())?;
        out.binds.push(Bind { source, destination: path.clone(), readonly: false, volume: Some(name) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_flags_as_docker_reads_them() {
        let m = parse_mount_flag("type=bind,src=/a,dst=/b,readonly").unwrap();
        assert_eq!(
            (m.kind.as_str(), m.source.as_deref(), m.target.as_str(), m.readonly),
            ("bind", Some("/a"), "/b", true)
        );
        let m = parse_mount_flag("target=/data,volume-label=a=b,ro=false").unwrap();
        assert_eq!((m.kind.as_str(), m.source, m.readonly), ("volume", None, false));
        assert_eq!(m.labels.get("a").map(String::as_str), Some("b"));
        let m = parse_mount_flag("Type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert_eq!((m.tmpfs_size, m.tmpfs_mode), (Some(1 << 20), Some(0o1770)));
    }

    #[test]
    fn bad_mount_flags_say_why() {
        let cases = [
            ("type=bind,source=/tmp", "target is required"),
            ("type=bind,src=/tmp,dst=/x,foo=bar", "unexpected key 'foo' in 'foo=bar'"),
            ("dst=/x,readonly=maybe", "invalid value for readonly: maybe"),
            ("type=volume,dst=/x,bind-propagation=rshared", "cannot mix 'bind-*' options with mount type 'volume'"),
            ("type=tmpfs,dst=/x,tmpfs-size=abc", "invalid value for tmpfs-size: abc"),
            ("type=bind,dst=/x,volume-nocopy", "cannot mix 'volume-*' options with mount type 'bind'"),
            ("type=bind,src=/a,dst=/x,bind-propagation=weird", "invalid propagation mode: weird"),
            ("dst=/x,oops", "invalid field 'oops' must be a key=value pair"),
            (
                "type=bind,src=/a,dst=/x,bind-propagation=rshared",
                "bind-propagation=rshared is not supported: gantry's binds are rprivate",
            ),
        ];
        for (spec, why) in cases {
            assert_eq!(parse_mount_flag(spec), Err(why.to_string()), "{spec}");
        }
    }
}
