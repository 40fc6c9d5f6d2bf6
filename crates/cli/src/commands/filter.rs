//! `--filter` for `images` and `image prune`, with docker's keys and errors.

use std::collections::HashSet;

use gantry_dockerfile::glob;
use gantry_image::{Digest, Reference};
use gantry_store::{ImageRecord, Store};

use crate::error::{msg, CliError};

/// Parsed `--filter` values. Several values of one key are alternatives (OR); different
/// keys must all hold (AND), as in docker.
#[derive(Default)]
pub struct ImageFilter {
    dangling: Option<bool>,
    labels: Vec<(String, Option<String>, bool)>,
    before: Option<i64>,
    since: Option<i64>,
    until: Option<i64>,
    references: Vec<String>,
    /// Images that are some other image's parent: hidden when untagged, unless `-a`.
    parents: HashSet<Digest>,
}

fn invalid(f: &str) -> CliError {
    msg(format!("Invalid filter '{f}'"))
}

impl ImageFilter {
    /// `allowed` lists the keys the command accepts.
    pub fn parse(
        filters: &[String],
        images: &[ImageRecord],
        store: &Store,
        allowed: &[&str],
    ) -> Result<ImageFilter, CliError> {
        let mut f = ImageFilter { parents: images.iter().filter_map(|i| i.parent).collect(), ..Default::default() };
        for raw in filters {
            let (key, value) = raw.split_once('=').ok_or_else(|| {
                CliError::Usage(format!(
                    "invalid argument {raw:?} for \"-f, --filter\" flag: bad format of filter (expected name=value)"
                ))
            })?;
            let key = key.trim().to_ascii_lowercase();
            if !allowed.contains(&key.as_str()) {
                return Err(invalid(&key));
            }
            match key.as_str() {
                "dangling" => {
                    let v = match value.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(msg(format!("Invalid filter 'dangling={value}'"))),
                    };
                    if f.dangling.is_some_and(|d| d != v) {
                        return Err(msg("Invalid filter 'dangling': conflicting values"));
                    }
                    f.dangling = Some(v);
                }
                "label" | "label!" => {
                    let (k, v) = match value.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (value.to_string(), None),
                    };
                    f.labels.push((k, v, key == "label!"));
                }
                "before" | "since" => {
                    let (id, _) = store.resolve(value)?;
                    let created = images.iter().find(|i| i.id == id).map(|i| i.created_unix_nanos).unwrap_or(0);
                    if key == "before" {
                        f.before = Some(created)
                    } else {
                        f.since = Some(created)
                    }
                }
                "until" => f.until = Some(parse_until(value)?),
                "reference" => f.references.push(value.to_string()),
                _ => return Err(invalid(&key)),
            }
        }
        Ok(f)
    }

    /// The image as this filter shows it (a reference filter also trims the tags
    /// shown), or `None` when filtered out.
    pub fn apply(&self, img: &ImageRecord, show_all: bool) -> Option<ImageRecord> {
        let mut img = img.clone();
        if !self.references.is_empty() {
            let keep = |r: &Reference| self.references.iter().any(|p| familiar_match(p, r));
            img.tags.retain(keep);
            img.digests.retain(keep);
            if img.tags.is_empty() && img.digests.is_empty() {
                return None;
            }
        }
        let untagged = img.tags.is_empty();
        if untagged && img.digests.is_empty() && !show_all && self.parents.contains(&img.id) {
            return None;
        }
        if let Some(d) = self.dangling {
            if d != untagged {
                return None;
            }
        }
        for (k, v, negate) in &self.labels {
            let matches = match v {
                Some(v) => img.labels.get(k) == Some(v),
                None => img.labels.contains_key(k),
            };
            if matches == *negate {
                return None;
            }
        }
        if self.before.is_some_and(|b| img.created_unix_nanos >= b)
            || self.since.is_some_and(|s| img.created_unix_nanos <= s)
        {
            return None;
        }
        if self.until.is_some_and(|u| img.created_unix_nanos >= u) {
            return None;
        }
        Some(img)
    }
}

/// A time for `until=` filters, in Unix nanoseconds, in docker's forms: Unix seconds
/// (fractions allowed), RFC 3339, `2006-01-02[T15[:04[:05]]]` (UTC, where docker uses
/// the local zone; gantry's machines run in UTC), or a Go duration before now (`24h`,
/// `1h30m`, `500ms`; a leading `-` means after now).
pub(crate) fn parse_until(v: &str) -> Result<i64, CliError> {
    let bad = || msg(format!("invalid filter 'until={v}': expected a timestamp or a duration like 24h"));
    if let Ok(secs) = v.parse::<f64>() {
        return Ok((secs * 1e9) as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return t.timestamp_nanos_opt().ok_or_else(bad);
    }
    for layout in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, layout) {
            return t.and_utc().timestamp_nanos_opt().ok_or_else(bad);
        }
    }
    if let Some((day, hour)) = v.split_once('T') {
        if let (Ok(d), Ok(h)) = (chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d"), hour.parse::<u32>()) {
            return d.and_hms_opt(h, 0, 0).and_then(|t| t.and_utc().timestamp_nanos_opt()).ok_or_else(bad);
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).and_then(|t| t.and_utc().timestamp_nanos_opt()).ok_or_else(bad);
    }
    let (sign, mut rest) = match v.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, v.strip_prefix('+').unwrap_or(v)),
    };
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let n: f64 = rest[..split].parse().map_err(|_| bad())?;
        rest = &rest[split..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
    Ok(now - (sign * total * 1e9) as i64)
}

/// docker's `reference.FamiliarMatch`: the pattern is matched against `name:tag`, then
/// against the name alone.
fn familiar_match(pattern: &str, r: &Reference) -> bool {
    glob::matches(pattern, &r.familiar()) || glob::matches(pattern, &r.familiar_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_forms() {
        assert_eq!(parse_until("10").unwrap(), 10_000_000_000);
        assert!(parse_until("2000-01-01T00:00:00Z").unwrap() == 946_684_800_000_000_000);
        assert!(parse_until("24h").is_ok());
        assert!(parse_until("1h30m").is_ok());
        assert!(parse_until("soon").is_err());
        assert!(parse_until("5x").is_err());
        assert_eq!(parse_until("1970-01-02").unwrap(), 86_400_000_000_000);
        assert_eq!(parse_until("1970-01-02T01").unwrap(), 90_000_000_000_000);
        assert_eq!(parse_until("1970-01-02T01:30").unwrap(), 91_800_000_000_000);
        assert_eq!(parse_until("1970-01-02T01:30:00.5").unwrap(), 91_800_500_000_000);
        assert!(parse_until("-24h").unwrap() > parse_until("24h").unwrap(), "a negative duration is after now");
        assert!(parse_until("1500ms").is_ok() && parse_until("10us").is_ok() && parse_until("3ns").is_ok());
        assert!(parse_until("-").is_err());
    }
}
