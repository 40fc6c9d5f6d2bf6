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

/// docker's `filters.Args`: `key=value` pairs by key. Values of one key are
/// alternatives, keys must all hold (labels excepted: see `match_kv_list`).
#[derive(Default, Debug)]
pub struct Filters {
    fields: std::collections::BTreeMap<String, Vec<String>>,
}

impl Filters {
    /// Parses `--filter` values as docker's CLI does (key lower-cased, both sides
    /// trimmed), then rejects keys not in `allowed` as the daemon does.
    pub fn parse(raw: &[String], allowed: &[&str]) -> Result<Filters, CliError> {
        let f = Filters::parse_any(raw)?;
        f.validate(allowed)?;
        Ok(f)
    }

    /// The CLI's half of `parse`: only the `key=value` shape is checked.
    pub fn parse_any(raw: &[String]) -> Result<Filters, CliError> {
        let mut f = Filters::default();
        for r in raw {
            let (key, value) = r.split_once('=').ok_or_else(|| {
                CliError::Usage(format!(
                    "invalid argument {r:?} for \"-f, --filter\" flag: bad format of filter (expected name=value)"
                ))
            })?;
            let key = key.trim().to_ascii_lowercase();
            let values = f.fields.entry(key).or_default();
            let value = value.trim().to_string();
            if !values.contains(&value) {
                values.push(value);
            }
        }
        Ok(f)
    }

    /// The daemon's half: keys outside `allowed` are `Invalid filter`.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), CliError> {
        match self.fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(bad) => Err(invalid(bad)),
            None => Ok(()),
        }
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.fields.get(key).map_or(&[], Vec::as_slice)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    /// docker's `Args.Match`: some value equals `source` or, as a Go regular
    /// expression, matches somewhere in it (an invalid expression matches nothing).
    pub fn matches(&self, key: &str, source: &str) -> bool {
        self.get(key).iter().any(|p| p == source || regex_find(p, source))
    }

    /// docker's `Args.MatchKVList`: every value (`key` or `key=value`) must be among
    /// `labels`; true when the filter has no such key.
    pub fn match_kv_list(&self, key: &str, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.get(key).iter().all(|kv| match kv.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(kv),
        })
    }

    /// The daemon's `matchLabels` for prune: every `label` holds and not every
    /// `label!` does.
    pub fn prune_labels_match(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.match_kv_list("label", labels) && !(self.contains("label!") && self.match_kv_list("label!", labels))
    }

    /// The single `until=` of a prune, in Unix nanoseconds (docker refuses two).
    pub fn until(&self) -> Result<Option<i64>, CliError> {
        match self.get("until") {
            [] => Ok(None),
            [one] => parse_until(one).map(Some),
            _ => Err(msg("more than one until filter specified")),
        }
    }
}

/// Whether `pattern` matches somewhere in `text`, as Go's `regexp.MatchString` (the
/// `regex` crate shares RE2's syntax); an invalid pattern matches nothing.
pub fn regex_find(pattern: &str, text: &str) -> bool {
    regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text))
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

    #[test]
    fn go_regex_syntax() {
        for (p, t) in [
            ("web", "/my-web-1"),
            ("^/web$", "/web"),
            ("^web", "web1"),
            ("w.b", "wxb"),
            ("a[0-9]+z", "xa12z"),
            ("^(foo|bar)-\\d$", "bar-7"),
            ("colou?r", "color"),
            ("[^a-z]", "ab1"),
            ("x*", ""),
            ("a.*z$", "abcz"),
        ] {
            assert!(regex_find(p, t), "{p} should match {t}");
        }
        for (p, t) in [
            ("^web$", "/web"),
            ("^web", "/web"),
            ("a[0-9]+z", "az"),
            ("^(foo|bar)$", "foobar"),
            ("[^a-z]", "abc"),
            ("(", "("),
            ("a{3}", "aa"),
            ("\\q", "q"),
            ("*", "*"),
        ] {
            assert!(!regex_find(p, t), "{p} should not match {t}");
        }
    }

    #[test]
    fn filter_args() {
        let f = Filters::parse(&["label=a".into(), "label=b=1".into(), "Name= x ".into()], &["label", "name"]).unwrap();
        assert_eq!(f.get("name"), ["x"]);
        let mut labels = std::collections::BTreeMap::new();
        labels.insert("a".to_string(), String::new());
        assert!(!f.match_kv_list("label", &labels), "every label value must hold");
        labels.insert("b".to_string(), "1".to_string());
        assert!(f.match_kv_list("label", &labels));
        assert!(matches!(Filters::parse(&["nope".into()], &[]), Err(CliError::Usage(_))));
        let e = Filters::parse(&["color=red".into()], &["label"]).unwrap_err();
        assert_eq!(e.to_string(), "Invalid filter 'color'");
        let neg = Filters::parse(&["label!=a".into()], &["label!"]).unwrap();
        assert!(!neg.prune_labels_match(&labels) && neg.prune_labels_match(&Default::default()));
        assert!(Filters::parse(&["until=1".into(), "until=2".into()], &["until"]).unwrap().until().is_err());
    }
}
