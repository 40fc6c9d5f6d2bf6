//! `RUN --mount=type=...,key=value` values, parsed with BuildKit's CSV rules, keys,
//! defaults and error messages (`commands_runmount.go`).

use super::gofmt;
use super::suggest;

/// What a `RUN --mount` attaches to the build container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MountType {
    /// A directory of the context, a stage or an image (the default).
    Bind,
    /// A persistent cache directory shared between builds.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A build secret as a file (or an environment variable with `env=`).
    Secret,
    /// The SSH agent socket.
    Ssh,
}

impl MountType {
    /// The name as written in a Dockerfile (`bind`, `cache`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }

    fn parse(s: &str) -> Option<MountType> {
        Some(match s {
            "bind" => MountType::Bind,
            "cache" => MountType::Cache,
            "tmpfs" => MountType::Tmpfs,
            "secret" => MountType::Secret,
            "ssh" => MountType::Ssh,
            _ => return None,
        })
    }
}

/// How concurrent builds share a cache mount (`sharing=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sharing {
    /// Concurrent writers use the same directory (BuildKit's default).
    Shared,
    /// A concurrent writer gets a fresh directory.
    Private,
    /// A concurrent writer waits for the first one to release the directory.
    Locked,
}

impl Sharing {
    /// The name as written in a Dockerfile.
    pub fn as_str(self) -> &'static str {
        match self {
            Sharing::Shared => "shared",
            Sharing::Private => "private",
            Sharing::Locked => "locked",
        }
    }
}

/// One `RUN --mount`. Values are as written unless the mount was parsed with an
/// expander; when a value needs variable expansion and none was given, that key is
/// left unset and `needs_expansion` is true, so the builder re-parses `spec` with
/// [`parse_mount`] and the stage's variables (BuildKit also defers those values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `type=` (default bind).
    pub typ: MountType,
    /// `target=`, `dst=`, `destination=`: where it appears in the container.
    pub target: Option<String>,
    /// `source=`, `src=`: path inside `from` (bind), or the secret's id.
    pub source: Option<String>,
    /// `from=`: stage, image or named context the bind or cache is taken from.
    pub from: Option<String>,
    /// After defaults: bind and secret/ssh mounts are read-only unless `rw`; cache and
    /// tmpfs are writable unless `ro`.
    pub readonly: bool,
    /// `id=`: the cache or secret/ssh id.
    pub id: Option<String>,
    /// `sharing=` (cache only).
    pub sharing: Option<Sharing>,
    /// `mode=` (octal; cache, secret, ssh).
    pub mode: Option<u32>,
    /// `uid=` (cache, secret, ssh).
    pub uid: Option<u32>,
    /// `gid=` (cache, secret, ssh).
    pub gid: Option<u32>,
    /// `required` (secret, ssh): fail when the secret or agent is missing.
    pub required: bool,
    /// `env=` (secret): expose the secret as this environment variable.
    pub env: Option<String>,
    /// `size=` (tmpfs) in bytes.
    pub size: Option<u64>,
    /// The flag value as written, for re-parsing after expansion and for cache keys.
    pub spec: String,
    /// Some value contained `$` and was not parsed (see the type's documentation).
    pub needs_expansion: bool,
}

/// Expands one value (a `$VAR` reference) before it is interpreted.
pub type Expander<'a> = &'a dyn Fn(&str) -> Result<String, String>;

const ALL_KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];
const ALL_TYPES: &[&str] = &["bind", "cache", "tmpfs", "secret", "ssh"];
const ALL_SHARING: &[&str] = &["shared", "private", "locked"];

/// Parses one `--mount` value with BuildKit's rules. Without `expand`, values that
/// contain `$` are left for later (see [`Mount`]), except `from=`, which BuildKit
/// never expands. Errors are BuildKit's messages, without the line.
pub fn parse_mount(spec: &str, expand: Option<Expander<'_>>) -> Result<Mount, String> {
    let fields = csv_fields(spec).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut m = Mount {
        typ: MountType::Bind,
        target: None,
        source: None,
        from: None,
        readonly: false,
        id: None,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
        required: false,
        env: None,
        size: None,
        spec: spec.to_string(),
        needs_expansion: false,
    };
    let mut ro_auto = true;
    let mut type_deferred = false;
    let secret_or_ssh = |t: MountType| t == MountType::Secret || t == MountType::Ssh;

    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => {
                    m.readonly = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.readonly = false;
                    ro_auto = false;
                }
                "required" if secret_or_ssh(m.typ) || type_deferred => m.required = true,
                "required" => return Err(format!("unexpected key '{key}' for mount type '{}'", m.typ.as_str())),
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };

        let value = match expand {
            Some(f) => f(value)?,
            None => {
                if key == "from" {
                    if let Some(i) = value.find('$') {
                        if i != value.len() - 1 {
                            return Err(format!(
                                "'{key}' doesn't support variable expansion, define alias stage instead"
                            ));
                        }
                    }
                } else if value.contains('$') {
                    if !ALL_KEYS.contains(&key.as_str()) {
                        return Err(unexpected_key(&key, field));
                    }
                    m.needs_expansion = true;
                    match key.as_str() {
                        "type" => type_deferred = true,
                        "readonly" | "ro" | "readwrite" | "rw" => ro_auto = false,
                        _ => {}
                    }
                    continue;
                }
                value.to_string()
            }
        };
        let invalid_for = || format!("invalid value for {key}: {value}");
        let some = |v: &str| (!v.is_empty()).then(|| v.to_string());
        match key.as_str() {
            "type" => {
                let lower = value.to_lowercase();
                m.typ = MountType::parse(&lower).ok_or_else(|| {
                    suggest::wrap(format!("unsupported mount type {}", gofmt::quote(&value)), &value, ALL_TYPES, true)
                })?;
            }
            "from" => m.from = some(&value),
            "source" | "src" => m.source = some(&value),
            "target" | "dst" | "destination" => m.target = some(&value),
            "readonly" | "ro" => {
                m.readonly = gofmt::parse_bool(&value).ok_or_else(invalid_for)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.readonly = !gofmt::parse_bool(&value).ok_or_else(invalid_for)?;
                ro_auto = false;
            }
            "required" => {
                if secret_or_ssh(m.typ) || type_deferred {
                    m.required = gofmt::parse_bool(&value).ok_or_else(invalid_for)?;
                } else {
                    return Err(format!("unexpected key '{key}' for mount type '{}'", m.typ.as_str()));
                }
            }
            "size" => {
                if m.typ == MountType::Tmpfs || type_deferred {
                    m.size = Some(ram_in_bytes(&value).ok_or_else(invalid_for)?);
                } else {
                    return Err(format!("unexpected key '{key}' for mount type '{}'", m.typ.as_str()));
                }
            }
            "id" => m.id = some(&value),
            "sharing" => {
                m.sharing = Some(match value.to_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        return Err(suggest::wrap(
                            format!("unsupported sharing value {}", gofmt::quote(&value)),
                            &value,
                            ALL_SHARING,
                            true,
                        ))
                    }
                });
            }
            "mode" => {
                m.mode = Some(gofmt::parse_uint32(&value, 8).ok_or_else(|| format!("invalid value {value} for mode"))?);
            }
            "uid" => {
                m.uid = Some(gofmt::parse_uint32(&value, 10).ok_or_else(|| format!("invalid value {value} for uid"))?);
            }
            "gid" => {
                m.gid = Some(gofmt::parse_uint32(&value, 10).ok_or_else(|| format!("invalid value {value} for gid"))?);
            }
            "env" => m.env = Some(value.clone()),
            _ => return Err(unexpected_key(&key, field)),
        }
    }

    if type_deferred {
        // The rest depends on the type; checked when re-parsed after expansion.
        return Ok(m);
    }

    let file_info_allowed = matches!(m.typ, MountType::Secret | MountType::Ssh | MountType::Cache);
    if !file_info_allowed {
        let t = gofmt::quote(m.typ.as_str());
        if m.mode.is_some() {
            return Err(format!("mode not allowed for {t} type mounts"));
        }
        if m.uid.is_some() {
            return Err(format!("uid not allowed for {t} type mounts"));
        }
        if m.gid.is_some() {
            return Err(format!("gid not allowed for {t} type mounts"));
        }
    }

    if ro_auto {
        m.readonly = !matches!(m.typ, MountType::Cache | MountType::Tmpfs);
    }

    if m.typ == MountType::Secret {
        if m.from.is_some() {
            return Err("secret mount should not have a from".into());
        }
        if m.sharing.is_some() {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_none() && m.target.is_none() && m.id.is_none() && !m.needs_expansion {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if m.source.is_some() && m.id.is_some() {
            return Err("both source and id can't be set".into());
        }
    }

    if m.sharing.is_some() && m.typ != MountType::Cache {
        return Err(format!("invalid cache sharing set for {} mount", m.typ.as_str()));
    }

    Ok(m)
}

fn unexpected_key(key: &str, field: &str) -> String {
    suggest::wrap(format!("unexpected key '{key}' in '{field}'"), key, ALL_KEYS, true)
}

/// docker/go-units `RAMInBytes`: `128m`, `1.5GiB`, `512` (binary multiples).
fn ram_in_bytes(s: &str) -> Option<u64> {
    let num_len = s.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
    let (num, rest) = s.split_at(num_len);
    // Go's pattern: ^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.contains("..") {
        return None;
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    let mut mul: f64 = 1.0;
    if let Some(c) = chars.peek().copied() {
        let m = match c.to_ascii_lowercase() {
            'k' => Some(1024f64),
            'm' => Some(1024f64.powi(2)),
            'g' => Some(1024f64.powi(3)),
            't' => Some(1024f64.powi(4)),
            'p' => Some(1024f64.powi(5)),
            _ => None,
        };
        if let Some(m) = m {
            mul = m;
            chars.next();
        }
    }
    if matches!(chars.peek(), Some('i' | 'I')) {
        chars.next();
    }
    if matches!(chars.peek(), Some('b' | 'B')) {
        chars.next();
    }
    if chars.next().is_some() {
        return None;
    }
    // "1.2.3" matches the pattern but is not a float: Go fails in ParseFloat.
    let size: f64 = num.parse().ok()?;
    Some((size * mul) as u64)
}

/// Go `encoding/csv` on one record with default settings (comma separator, `"`
/// quoting with `""` escapes, no lazy quotes, leading spaces kept).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let rest = &s[i..];
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut field = String::new();
            let mut chars = quoted.char_indices().peekable();
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                            s.len() + 1
                        ))
                    }
                    Some((j, '"')) => match chars.peek() {
                        Some((_, '"')) => {
                            field.push('"');
                            chars.next();
                        }
                        Some((k, ',')) => {
                            fields.push(field);
                            i += 1 + k + 1;
                            break;
                        }
                        None => {
                            fields.push(field);
                            return Ok(fields);
                        }
                        Some(_) => {
                            return Err(format!(
                                "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                                i + 1 + j + 2
                            ))
                        }
                    },
                    Some((_, c)) => field.push(c),
                }
            }
        } else {
            let end = rest.find(',');
            let field = &rest[..end.unwrap_or(rest.len())];
            if let Some(q) = field.find('"') {
                return Err(format!("parse error on line 1, column {}: bare \" in non-quoted-field", i + q + 1));
            }
            fields.push(field.to_string());
            match end {
                Some(e) => i += e + 1,
                None => return Ok(fields),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv() {
        assert_eq!(csv_fields("a,b").unwrap(), vec!["a", "b"]);
        assert_eq!(csv_fields("\"a,b\",c").unwrap(), vec!["a,b", "c"]);
        assert_eq!(csv_fields("\"a\"\"b\"").unwrap(), vec!["a\"b"]);
        assert_eq!(csv_fields("a,").unwrap(), vec!["a", ""]);
        assert_eq!(csv_fields("").unwrap(), vec![""]);
        assert!(csv_fields("a\"b").unwrap_err().contains("bare \" in non-quoted-field"));
        assert!(csv_fields("\"ab").unwrap_err().contains("extraneous or missing"));
        assert!(csv_fields("\"a\"b").unwrap_err().contains("extraneous or missing"));
    }

    #[test]
    fn sizes() {
        assert_eq!(ram_in_bytes("512"), Some(512));
        assert_eq!(ram_in_bytes("1k"), Some(1024));
        assert_eq!(ram_in_bytes("1.5GiB"), Some(1_610_612_736));
        assert_eq!(ram_in_bytes("2 mb"), Some(2 * 1024 * 1024));
        assert_eq!(ram_in_bytes("x"), None);
        assert_eq!(ram_in_bytes("1.2.3"), None);
        assert_eq!(ram_in_bytes("1kx"), None);
    }
}
