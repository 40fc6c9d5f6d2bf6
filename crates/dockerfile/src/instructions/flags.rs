//! Instruction flags (`--from=x`, `--link`), checked like BuildKit's `BFlags`: each
//! instruction declares the flags it takes, and anything else is an error with
//! BuildKit's wording.

use super::suggest;

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--link`, `--link=true`, `--link=false` (any case).
    Bool,
    /// `--from=x`, given at most once.
    Str,
    /// `--mount=x`, repeatable.
    Strs,
}

/// The flags an instruction was given, after validation.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    /// (name, values) in the order first seen; bools hold "true"/"false".
    used: Vec<(&'static str, Vec<String>)>,
}

impl Flags {
    /// The value of a string flag, `None` when not given.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.values(name).and_then(|v| v.last().cloned())
    }

    /// The value of a string flag, `None` when not given or given empty (BuildKit
    /// treats `--chown=` like no `--chown`).
    pub(crate) fn non_empty(&self, name: &str) -> Option<String> {
        self.string(name).filter(|s| !s.is_empty())
    }

    /// A bool flag: `None` when not given.
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        self.values(name).and_then(|v| v.last()).map(|v| v == "true")
    }

    /// Every value of a repeatable flag, in order.
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        self.values(name).map(<[String]>::to_vec).unwrap_or_default()
    }

    fn values(&self, name: &str) -> Option<&[String]> {
        self.used.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_slice())
    }
}

/// Checks `given` (the node's flags as written) against `allowed`, BuildKit's
/// `BFlags.Parse`: `--` ends the flags; unknown, repeated and malformed flags are
/// errors.
pub(crate) fn parse(given: &[String], allowed: &[(&'static str, Kind)]) -> Result<Flags, String> {
    let mut flags = Flags::default();
    for a in given {
        if a == "--" {
            break;
        }
        if !a.starts_with("--") {
            return Err(format!("arg should start with -- : {a}"));
        }
        let (flag_name, value) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (a.as_str(), None),
        };
        let arg = &flag_name[2..];
        let Some(&(name, kind)) = allowed.iter().find(|(n, _)| *n == arg) else {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            return Err(suggest::wrap(format!("unknown flag: {flag_name}"), arg, &names, true));
        };
        let slot = match flags.used.iter().position(|(n, _)| *n == name) {
            Some(i) => {
                if kind != Kind::Strs {
                    return Err(format!("duplicate flag specified: {flag_name}"));
                }
                i
            }
            None => {
                flags.used.push((name, Vec::new()));
                flags.used.len() - 1
            }
        };
        let stored = match kind {
            Kind::Bool => match value {
                Some("") => return Err(format!("missing a value on flag: {flag_name}")),
                None => "true".to_string(),
                Some(v) => match v.to_lowercase().as_str() {
                    "true" => "true".to_string(),
                    "false" => "false".to_string(),
                    _ => return Err(format!("expecting boolean value for flag {flag_name}, not: {v}")),
                },
            },
            Kind::Str | Kind::Strs => match value {
                None => return Err(format!("missing a value on flag: {flag_name}")),
                Some(v) => v.to_string(),
            },
        };
        flags.used[slot].1.push(stored);
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses() {
        let spec = [("from", Kind::Str), ("link", Kind::Bool), ("mount", Kind::Strs)];
        let f = parse(&v(&["--from=a", "--link", "--mount=x", "--mount=y"]), &spec).unwrap();
        assert_eq!(f.string("from").as_deref(), Some("a"));
        assert_eq!(f.bool("link"), Some(true));
        assert_eq!(f.strings("mount"), v(&["x", "y"]));
        let f = parse(&v(&["--link=FALSE", "--", "--bogus"]), &spec).unwrap();
        assert_eq!(f.bool("link"), Some(false));
        assert_eq!(parse(&v(&["--form=a"]), &spec).unwrap_err(), "unknown flag: --form (did you mean from?)");
        assert_eq!(parse(&v(&["--from"]), &spec).unwrap_err(), "missing a value on flag: --from");
        assert_eq!(parse(&v(&["--link="]), &spec).unwrap_err(), "missing a value on flag: --link");
        assert_eq!(parse(&v(&["--link=yes"]), &spec).unwrap_err(), "expecting boolean value for flag --link, not: yes");
        assert_eq!(parse(&v(&["--from=a", "--from=b"]), &spec).unwrap_err(), "duplicate flag specified: --from");
        assert_eq!(parse(&v(&["-x"]), &spec).unwrap_err(), "arg should start with -- : -x");
    }
}
