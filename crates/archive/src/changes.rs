//! Dockerfile-style `--change` instructions for `import` (and later `commit`).
//!
//! A deliberately small parser: only the instructions docker accepts here, in JSON or
//! shell form. The full BuildKit-exact parser belongs to the dockerfile crate; this
//! moves onto it when that crate exists.

use std::collections::BTreeMap;

use gantry_image::ContainerConfig;

/// Why a `--change` value was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("{0} is not a valid change command")]
    NotAllowed(String),
    #[error("invalid change {0:?}: {1}")]
    Invalid(String, &'static str),
}

/// Applies each change, in order, to `cfg`.
pub fn apply_changes(cfg: &mut ContainerConfig, changes: &[String]) -> Result<(), ChangeError> {
    for change in changes {
        let trimmed = change.trim();
        let (word, rest) = trimmed.split_once(|c: char| c.is_whitespace()).unwrap_or((trimmed, ""));
        let rest = rest.trim();
        let bad = |why| ChangeError::Invalid(change.clone(), why);
        match word.to_ascii_uppercase().as_str() {
            "CMD" => cfg.cmd = Some(command(rest)),
            "ENTRYPOINT" => cfg.entrypoint = Some(command(rest)),
            "ENV" => {
                let env = cfg.env.get_or_insert_with(Vec::new);
                for (k, v) in pairs(rest).ok_or_else(|| bad("expected KEY=VALUE"))? {
                    let prefix = format!("{k}=");
                    env.retain(|e| !e.starts_with(&prefix));
                    env.push(format!("{k}={v}"));
                }
            }
            "LABEL" => {
                let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in pairs(rest).ok_or_else(|| bad("expected KEY=VALUE"))? {
                    labels.insert(k, v);
                }
            }
            "EXPOSE" => {
                let ports = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in words(rest).ok_or_else(|| bad("unterminated quote"))? {
                    let p = if p.contains('/') { p } else { format!("{p}/tcp") };
                    let (num, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                    let valid_num = !num.is_empty()
                        && num.split('-').all(|n| n.parse::<u16>().is_ok())
                        && matches!(proto, "tcp" | "udp" | "sctp");
                    if !valid_num {
                        return Err(bad("expected PORT[/PROTOCOL]"));
                    }
                    ports.insert(p.clone(), serde_json::json!({}));
                }
            }
            "USER" => cfg.user = Some(single(rest).ok_or_else(|| bad("expected one user"))?),
            "WORKDIR" => cfg.working_dir = Some(single(rest).ok_or_else(|| bad("expected one directory"))?),
            "STOPSIGNAL" => cfg.stop_signal = Some(single(rest).ok_or_else(|| bad("expected one signal"))?),
            "VOLUME" => {
                let vols = cfg.volumes.get_or_insert_with(BTreeMap::new);
                let list = json_array(rest).or_else(|| words(rest)).ok_or_else(|| bad("unterminated quote"))?;
                if list.is_empty() {
                    return Err(bad("VOLUME needs at least one path"));
                }
                for v in list {
                    vols.insert(v, serde_json::json!({}));
                }
            }
            "ONBUILD" => {
                if rest.is_empty() {
                    return Err(bad("ONBUILD needs an instruction"));
                }
                cfg.on_build.get_or_insert_with(Vec::new).push(rest.to_string());
            }
            "" => return Err(bad("empty change")),
            // docker names the refused instruction in lower case
            other => return Err(ChangeError::NotAllowed(other.to_ascii_lowercase())),
        }
    }
    Ok(())
}

fn json_array(s: &str) -> Option<Vec<String>> {
    if s.starts_with('[') {
        serde_json::from_str(s).ok()
    } else {
        None
    }
}

/// Exec form when `s` is a JSON string array, otherwise shell form via `/bin/sh -c`.
fn command(s: &str) -> Vec<String> {
    json_array(s).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), s.into()])
}

fn single(s: &str) -> Option<String> {
    let w = words(s)?;
    if w.len() == 1 {
        w.into_iter().next()
    } else {
        None
    }
}

/// Shell-like words: quotes group, backslash escapes; `None` on an unterminated quote.
fn words(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        q if q == c => break,
                        '\\' if c == '"' => cur.push(chars.next()?),
                        other => cur.push(other),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

/// `K=V K2="V 2"`, or the legacy `K V with spaces` form.
fn pairs(s: &str) -> Option<Vec<(String, String)>> {
    let w = words(s)?;
    if w.is_empty() {
        return None;
    }
    if !w[0].contains('=') {
        let (k, v) = s.split_once(char::is_whitespace)?;
        return Some(vec![(k.to_string(), words(v.trim())?.join(" "))]);
    }
    w.into_iter()
        .map(|kv| kv.split_once('=').filter(|(k, _)| !k.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<ContainerConfig, ChangeError> {
        let mut cfg = ContainerConfig::default();
        apply_changes(&mut cfg, &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        Ok(cfg)
    }

    #[test]
    fn applies_every_allowed_instruction() {
        let cfg = apply(&[
            r#"CMD ["/bin/sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /init --flag",
            r#"ENV A=1 B="two words""#,
            "ENV A=3",
            "ENV LEGACY value with spaces",
            "EXPOSE 80 443/udp",
            r#"LABEL a=b "c d"=e"#,
            "USER 1000:1000",
            "VOLUME /data /cache",
            r#"VOLUME ["/j"]"#,
            "WORKDIR /app",
            "STOPSIGNAL SIGTERM",
            "ONBUILD RUN true",
        ])
        .unwrap();
        assert_eq!(cfg.cmd.unwrap(), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(cfg.entrypoint.unwrap(), ["/bin/sh", "-c", "/init --flag"]);
        assert_eq!(cfg.env.unwrap(), ["B=two words", "A=3", "LEGACY=value with spaces"]);
        let ports: Vec<_> = cfg.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["443/udp", "80/tcp"]);
        let labels = cfg.labels.unwrap();
        assert_eq!(labels["a"], "b");
        assert_eq!(labels["c d"], "e");
        assert_eq!(cfg.user.unwrap(), "1000:1000");
        assert_eq!(cfg.volumes.unwrap().into_keys().collect::<Vec<_>>(), ["/cache", "/data", "/j"]);
        assert_eq!(cfg.working_dir.unwrap(), "/app");
        assert_eq!(cfg.stop_signal.unwrap(), "SIGTERM");
        assert_eq!(cfg.on_build.unwrap(), ["RUN true"]);
    }

    #[test]
    fn refuses_bad_changes() {
        for bad in ["RUN true", "FROM x", "", "ENV", "EXPOSE http", "EXPOSE 99999", "USER a b", "LABEL \"x", "VOLUME"] {
            assert!(apply(&[bad]).is_err(), "{bad:?} accepted");
        }
        assert_eq!(apply(&["RUN x"]).unwrap_err().to_string(), "run is not a valid change command");
    }
}
