//! The shapes docker shows: `images` rows, `image inspect` objects and `history` rows,
//! as JSON values that the table and template code render.

use gantry_image::{ContainerConfig, Digest, ImageConfig, Reference};
use gantry_store::{ImageRecord, LayerRecord};
use serde_json::{json, Map, Value};

use crate::format::units;

/// Seconds since the epoch, for "2 weeks ago".
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Nanoseconds since the epoch, for timestamps gantry writes and `until=` filters.
pub fn now_nanos() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// docker's short image ID: 12 hex digits, or the full `sha256:...` with --no-trunc.
pub fn image_id(id: &Digest, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.short()
    }
}

/// One row of `images`, keyed by docker's template field names.
pub fn image_row(img: &ImageRecord, repo: &str, tag: &str, digest: &str, no_trunc: bool, now: i64) -> Value {
    let secs = img.created_unix_nanos.div_euclid(1_000_000_000);
    let size = units::human_size(img.size as f64);
    json!({
        "Containers": "N/A",
        "CreatedAt": units::docker_created_at(secs),
        "CreatedSince": units::time_ago(secs, now),
        "Digest": digest,
        "ID": image_id(&img.id, no_trunc),
        "Repository": repo,
        "SharedSize": "N/A",
        "Size": size,
        "Tag": tag,
        "UniqueSize": "N/A",
        "VirtualSize": size,
    })
}

/// Header names docker prints for each `images` field.
pub fn image_headers() -> Value {
    json!({
        "Containers": "CONTAINERS", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED", "Digest": "DIGEST",
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "SharedSize": "SHARED SIZE", "Size": "SIZE", "Tag": "TAG",
        "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
    })
}

/// The (repository, tag, digest) rows docker shows for one image.
pub fn image_rows(img: &ImageRecord, show_digests: bool) -> Vec<(String, String, String)> {
    if img.tags.is_empty() && img.digests.is_empty() {
        return vec![("<none>".into(), "<none>".into(), "<none>".into())];
    }
    let mut rows = Vec::new();
    let mut digest_repos: Vec<(String, String)> =
        img.digests.iter().filter_map(|d| Some((d.familiar_name(), d.digest()?.to_string()))).collect();
    let mut tags: Vec<&Reference> = img.tags.iter().collect();
    tags.sort_by_key(|r| (r.familiar_name(), r.tag().map(str::to_string)));
    for t in tags {
        let repo = t.familiar_name();
        let digests: Vec<String> = digest_repos.iter().filter(|(r, _)| *r == repo).map(|(_, d)| d.clone()).collect();
        let tag = t.tag().unwrap_or("<none>").to_string();
        if !show_digests || digests.is_empty() {
            rows.push((repo.clone(), tag, "<none>".into()));
        } else {
            for d in digests {
                rows.push((repo.clone(), tag.clone(), d));
            }
        }
        digest_repos.retain(|(r, _)| *r != repo);
    }
    let mut seen = std::collections::BTreeSet::new();
    for (repo, d) in digest_repos {
        if show_digests {
            rows.push((repo, "<none>".into(), d));
        } else if seen.insert(repo.clone()) {
            rows.push((repo, "<none>".into(), String::new()));
        }
    }
    rows
}

fn or_null<T: serde::Serialize>(v: &Option<T>) -> Value {
    v.as_ref().and_then(|v| serde_json::to_value(v).ok()).unwrap_or(Value::Null)
}

/// docker's `container.Config` as `inspect` prints it: every field present, the
/// `omitempty` ones only when set.
pub fn container_config(c: &ContainerConfig) -> Value {
    let mut m = Map::new();
    let s = |v: &Option<String>| Value::String(v.clone().unwrap_or_default());
    let b = |v: Option<bool>| Value::Bool(v.unwrap_or(false));
    m.insert("Hostname".into(), s(&c.hostname));
    m.insert("Domainname".into(), s(&c.domainname));
    m.insert("User".into(), s(&c.user));
    m.insert("AttachStdin".into(), b(c.attach_stdin));
    m.insert("AttachStdout".into(), b(c.attach_stdout));
    m.insert("AttachStderr".into(), b(c.attach_stderr));
    if c.exposed_ports.as_ref().is_some_and(|p| !p.is_empty()) {
        m.insert("ExposedPorts".into(), or_null(&c.exposed_ports));
    }
    m.insert("Tty".into(), b(c.tty));
    m.insert("OpenStdin".into(), b(c.open_stdin));
    m.insert("StdinOnce".into(), b(c.stdin_once));
    m.insert("Env".into(), or_null(&c.env));
    m.insert("Cmd".into(), or_null(&c.cmd));
    if c.healthcheck.is_some() {
        m.insert("Healthcheck".into(), or_null(&c.healthcheck));
    }
    if c.args_escaped == Some(true) {
        m.insert("ArgsEscaped".into(), Value::Bool(true));
    }
    m.insert("Image".into(), s(&c.image));
    m.insert("Volumes".into(), or_null(&c.volumes));
    m.insert("WorkingDir".into(), s(&c.working_dir));
    m.insert("Entrypoint".into(), or_null(&c.entrypoint));
    if c.network_disabled == Some(true) {
        m.insert("NetworkDisabled".into(), Value::Bool(true));
    }
    if c.mac_address.as_ref().is_some_and(|a| !a.is_empty()) {
        m.insert("MacAddress".into(), or_null(&c.mac_address));
    }
    m.insert("OnBuild".into(), or_null(&c.on_build));
    m.insert("Labels".into(), or_null(&c.labels));
    if c.stop_signal.as_ref().is_some_and(|s| !s.is_empty()) {
        m.insert("StopSignal".into(), or_null(&c.stop_signal));
    }
    if c.stop_timeout.is_some() {
        m.insert("StopTimeout".into(), or_null(&c.stop_timeout));
    }
    if c.shell.as_ref().is_some_and(|s| !s.is_empty()) {
        m.insert("Shell".into(), or_null(&c.shell));
    }
    Value::Object(m)
}

/// Go's zero `time.Time` as docker prints it.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// An RFC 3339 time as Go's `time.Time` marshals it after parsing it: the fraction
/// without trailing zeros, and the zone offset kept (`Z` for UTC).
pub fn go_time(s: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos > 0 {
        out.push_str(format!(".{nanos:09}").trim_end_matches('0'));
    }
    match t.offset().local_minus_utc() {
        0 => out.push('Z'),
        secs => {
            let (sign, secs) = if secs < 0 { ('-', -secs) } else { ('+', secs) };
            out.push_str(&format!("{sign}{:02}:{:02}", secs / 3600, secs % 3600 / 60));
        }
    }
    Some(out)
}

/// `docker image inspect`'s object for one image.
pub fn inspect_image(img: &ImageRecord, cfg: &ImageConfig, root: &str) -> Value {
    let mut m = Map::new();
    m.insert("Id".into(), json!(img.id.to_string()));
    // Docker lists references sorted by their full normalized names.
    let sorted = |refs: &[Reference]| {
        let mut v: Vec<&Reference> = refs.iter().collect();
        v.sort_by_key(|r| r.to_string());
        v.into_iter().map(Reference::familiar).collect::<Vec<_>>()
    };
    m.insert("RepoTags".into(), json!(sorted(&img.tags)));
    m.insert("RepoDigests".into(), json!(sorted(&img.digests)));
    m.insert("Parent".into(), json!(img.parent.map(|p| p.to_string()).unwrap_or_default()));
    m.insert("Comment".into(), json!(cfg.comment.clone().unwrap_or_default()));
    let created = cfg.created.as_deref().and_then(go_time).unwrap_or_else(|| ZERO_TIME.into());
    m.insert("Created".into(), json!(created));
    m.insert("Container".into(), json!(cfg.container.clone().unwrap_or_default()));
    m.insert("ContainerConfig".into(), container_config(&cfg.container_config.clone().unwrap_or_default()));
    m.insert("DockerVersion".into(), json!(cfg.docker_version.clone().unwrap_or_default()));
    m.insert("Author".into(), json!(cfg.author.clone().unwrap_or_default()));
    m.insert("Config".into(), cfg.config.as_ref().map(container_config).unwrap_or(Value::Null));
    m.insert("Architecture".into(), json!(cfg.architecture));
    if let Some(v) = cfg.variant.as_ref().filter(|v| !v.is_empty()) {
        m.insert("Variant".into(), json!(v));
    }
    m.insert("Os".into(), json!(cfg.os));
    if let Some(v) = cfg.os_version.as_ref().filter(|v| !v.is_empty()) {
        m.insert("OsVersion".into(), json!(v));
    }
    m.insert("Size".into(), json!(img.size));
    m.insert("VirtualSize".into(), json!(img.size));
    m.insert("GraphDriver".into(), json!({"Data": {"Root": root}, "Name": "gantry"}));
    m.insert(
        "RootFS".into(),
        json!({"Type": cfg.rootfs.kind, "Layers": cfg.rootfs.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()}),
    );
    let last_tag = img.last_tagged_unix_nanos.map(units::rfc3339_nano).unwrap_or_else(|| ZERO_TIME.into());
    m.insert("Metadata".into(), json!({"LastTagTime": last_tag}));
    Value::Object(m)
}

/// `history` rows, newest first, with docker's field names.
pub fn history_rows(
    img: &ImageRecord,
    cfg: &ImageConfig,
    layers: &[LayerRecord],
    human: bool,
    no_trunc: bool,
    now: i64,
) -> Vec<Value> {
    let sizes: std::collections::HashMap<Digest, u64> = layers.iter().map(|l| (l.diff_id, l.content_size)).collect();
    // A config without history has no rows, as in docker.
    let entries = cfg.history_with_layers();
    let n = entries.len();
    entries
        .into_iter()
        .enumerate()
        .rev()
        .map(|(i, (h, layer))| {
            let id = if i + 1 == n { image_id(&img.id, no_trunc) } else { "<missing>".to_string() };
            let created_nanos = h
                .created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .and_then(|t| t.timestamp_nanos_opt())
                .unwrap_or(0);
            let secs = created_nanos.div_euclid(1_000_000_000);
            let size = layer.and_then(|d| sizes.get(&d).copied()).unwrap_or(0);
            let created_by = h.created_by.clone().unwrap_or_default().replace('\t', " ");
            let created_by = if no_trunc { created_by } else { ellipsis(&created_by, 45) };
            let comment = h.comment.clone().unwrap_or_default();
            json!({
                "Comment": comment,
                "CreatedAt": rfc3339_seconds(secs),
                "CreatedBy": created_by,
                "CreatedSince": if human { units::time_ago(secs, now) } else { rfc3339_seconds(secs) },
                "ID": id,
                "Size": if human { units::human_size(size as f64) } else { size.to_string() },
            })
        })
        .collect()
}

pub fn history_headers() -> Value {
    json!({"Comment": "COMMENT", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY", "CreatedSince": "CREATED",
           "ID": "IMAGE", "Size": "SIZE"})
}

/// docker's `stringutils.Ellipsis`: at most `max` characters, the last one `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Go's `time.RFC3339` of a Unix time, in UTC (docker prints local time; gantry's
/// tests and CI run in UTC, where the two agree).
pub fn rfc3339_seconds(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_like_go() {
        assert_eq!(go_time("2001-01-01T02:00:00.5+02:00").unwrap(), "2001-01-01T02:00:00.5+02:00");
        assert_eq!(go_time("2000-01-01T00:00:00Z").unwrap(), "2000-01-01T00:00:00Z");
        assert_eq!(go_time("2000-01-01T00:00:00.123000000Z").unwrap(), "2000-01-01T00:00:00.123Z");
        assert_eq!(go_time("2000-01-01T00:00:00-05:30").unwrap(), "2000-01-01T00:00:00-05:30");
        assert!(go_time("yesterday").is_none());
    }
}
