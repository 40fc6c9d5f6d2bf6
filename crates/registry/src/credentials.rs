//! Docker's client configuration (`config.json`): registry credentials stored inline in
//! `auths` or in credential helpers (`credsStore`, `credHelpers`), read and written the
//! way the docker CLI does so that `docker login` and `gantry login` share one file.

use std::ffi::{CStr, OsStr};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The key docker uses for Docker Hub in `auths` and with helpers.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// The hostnames that mean Docker Hub.
const DOCKER_HUB_NAMES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
/// What helpers print when they hold nothing for a registry (docker-credential-helpers).
const HELPER_NOT_FOUND: &str = "credentials not found in native keychain";
/// The username helpers use for identity tokens.
const TOKEN_USERNAME: &str = "<token>";
/// Longest helper error message kept, so a chatty helper cannot flood the terminal.
const MAX_HELPER_MESSAGE: usize = 200;

/// Decodes `auth` values with or without padding (docker writes padded, other tools vary).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why credentials could not be read, stored or erased. Messages never hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The config file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// The config file is not JSON.
    #[error("{} is not valid JSON: {source}", path.display())]
    Parse { path: PathBuf, source: serde_json::Error },
    /// The config file is JSON but not in docker's shape (the message says where).
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// The config file (or its directory) could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    /// The configured helper name cannot name a program.
    #[error("invalid credential helper name {0:?}")]
    InvalidHelper(String),
    /// The helper program is not installed.
    #[error("credential helper {program} not found in PATH")]
    HelperNotFound { program: String },
    /// The helper program could not be started or waited for.
    #[error("cannot run credential helper {program}: {source}")]
    HelperRun { program: String, source: io::Error },
    /// The helper exited with an error; `message` is the first line it printed.
    #[error("credential helper {program} failed: {message}")]
    HelperFailed { program: String, message: String },
    /// The helper succeeded but did not print the expected JSON.
    #[error("credential helper {program} returned invalid output")]
    HelperOutput { program: String },
}

/// A password or identity token; Debug never shows it and there is no Display, so it
/// cannot end up in logs or error messages by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    /// The secret itself, for the one place that must send it (an HTTP header, a helper's stdin).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Credentials for one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The account name (empty for identity tokens from helpers).
    pub username: String,
    /// The password or identity token.
    pub secret: Secret,
    /// The secret is an OAuth refresh ("identity") token, not a password (docker stores these
    /// as "identitytoken"; helpers return username "<token>").
    pub identity_token: bool,
}

/// Docker's client config file, kept as a whole JSON object so unknown keys survive a rewrite.
pub struct DockerConfig {
    path: PathBuf,
    json: Map<String, Value>,
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The JSON holds secrets; show only where it lives.
        f.debug_struct("DockerConfig").field("path", &self.path).finish_non_exhaustive()
    }
}

/// What a helper prints for `get`.
#[derive(Deserialize)]
struct HelperCredentials {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// What a helper reads for `store`.
#[derive(Serialize)]
struct HelperStore<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret")]
    secret: &'a str,
}

impl DockerConfig {
    /// The directory docker uses: explicit (`--config`) first, then `$DOCKER_CONFIG`, then
    /// `$HOME/.docker` (the passwd entry's home when `$HOME` is unset, as docker does).
    pub fn dir(explicit: Option<&Path>) -> PathBuf {
        if let Some(dir) = explicit {
            return dir.to_path_buf();
        }
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).or_else(passwd_home);
        home.unwrap_or_default().join(".docker")
    }

    /// Loads `<dir>/config.json`; a missing or empty file is an empty config, broken JSON an
    /// error naming the file.
    pub fn load(dir: &Path) -> Result<DockerConfig, CredentialsError> {
        let path = dir.join("config.json");
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(CredentialsError::Read { path, source }),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(DockerConfig { path, json: Map::new() });
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(json)) => Ok(DockerConfig { path, json }),
            Ok(_) => Err(CredentialsError::Invalid { path, message: "the top level is not a JSON object".into() }),
            Err(source) => Err(CredentialsError::Parse { path, source }),
        }
    }

    /// The config file's path, for messages such as docker's "Login Succeeded" notice.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Credentials for a registry domain as it appears in a reference ("docker.io",
    /// "127.0.0.1:5000"). Like docker: the `credHelpers` helper for the registry, else the
    /// `credsStore` helper, else the `auths` entry (URL-form keys match by hostname).
    pub fn get(&self, domain: &str) -> Result<Option<Credentials>, CredentialsError> {
        self.get_in(domain, &search_path())
    }

    /// Saves credentials to the helper if one applies, else inline in `auths`; the file is
    /// rewritten atomically with mode 0600, keeping every other key.
    pub fn store(&mut self, domain: &str, creds: &Credentials) -> Result<(), CredentialsError> {
        self.store_in(domain, creds, &search_path())
    }

    /// True when credentials for `domain` go to a credential helper rather than into
    /// the file (docker warns about the file).
    pub fn uses_helper(&self, domain: &str) -> Result<bool, CredentialsError> {
        Ok(self.helper_for(&registry_key(domain))?.is_some())
    }

    /// Removes a registry's credentials (from its helper and every `auths` key naming the same
    /// host); `Ok(false)` when there were none.
    pub fn erase(&mut self, domain: &str) -> Result<bool, CredentialsError> {
        self.erase_in(domain, &search_path())
    }

    fn get_in(&self, domain: &str, search: &OsStr) -> Result<Option<Credentials>, CredentialsError> {
        let key = registry_key(domain);
        if let Some(helper) = self.helper_for(&key)? {
            return helper_get(&helper, &key, search);
        }
        let Some(auths) = self.auths()? else { return Ok(None) };
        let entry = match auths.get_key_value(&key) {
            Some(entry) => Some(entry),
            None => auths.iter().find(|(k, _)| same_registry(k, &key)),
        };
        match entry {
            Some((k, value)) => self.decode_entry(k, value),
            None => Ok(None),
        }
    }

    fn store_in(&mut self, domain: &str, creds: &Credentials, search: &OsStr) -> Result<(), CredentialsError> {
        let key = registry_key(domain);
        let entry = match self.helper_for(&key)? {
            Some(helper) => {
                let username = if creds.identity_token { TOKEN_USERNAME } else { &creds.username };
                let input = HelperStore { server_url: &key, username, secret: creds.secret.expose() };
                let input = serde_json::to_vec(&input).map_err(|e| CredentialsError::HelperRun {
                    program: helper_program(&helper),
                    source: io::Error::other(e),
                })?;
                run_helper(&helper, "store", &input, search, Some(creds.secret.expose()))?;
                // Like docker: an empty entry keeps the registry listed as logged in.
                Map::new()
            }
            None => inline_entry(creds),
        };
        self.auths_mut()?.insert(key, Value::Object(entry));
        self.save()
    }

    fn erase_in(&mut self, domain: &str, search: &OsStr) -> Result<bool, CredentialsError> {
        let key = registry_key(domain);
        let mut erased = false;
        if let Some(helper) = self.helper_for(&key)? {
            match run_helper(&helper, "erase", key.as_bytes(), search, None) {
                Ok(_) => erased = true,
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let removed = match self.json.get_mut("auths") {
            Some(Value::Object(auths)) => {
                let before = auths.len();
                auths.retain(|k, _| !same_registry(k, &key));
                auths.len() != before
            }
            _ => false,
        };
        if removed {
            self.save()?;
        }
        Ok(erased || removed)
    }

    /// The helper for a registry key: `credHelpers` (an empty name there means the file
    /// itself, as in docker), else `credsStore`.
    fn helper_for(&self, key: &str) -> Result<Option<String>, CredentialsError> {
        let helper = match self.json.get("credHelpers") {
            None | Some(Value::Null) => None,
            Some(Value::Object(helpers)) => match helpers.get_key_value(key) {
                Some(entry) => Some(entry),
                None => helpers.iter().find(|(k, _)| same_registry(k, key)),
            },
            Some(_) => return Err(self.invalid("\"credHelpers\" is not a JSON object")),
        };
        let name = match helper {
            Some((_, Value::String(name))) => name,
            Some((k, _)) => return Err(self.invalid(&format!("the credHelpers entry for {k} is not a string"))),
            None => match self.json.get("credsStore") {
                None | Some(Value::Null) => return Ok(None),
                Some(Value::String(name)) => name,
                Some(_) => return Err(self.invalid("\"credsStore\" is not a string")),
            },
        };
        if name.is_empty() {
            return Ok(None);
        }
        if name.contains(['/', '\0']) {
            return Err(CredentialsError::InvalidHelper(name.clone()));
        }
        Ok(Some(name.clone()))
    }

    fn auths(&self) -> Result<Option<&Map<String, Value>>, CredentialsError> {
        match self.json.get("auths") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(auths)) => Ok(Some(auths)),
            Some(_) => Err(self.invalid("\"auths\" is not a JSON object")),
        }
    }

    fn auths_mut(&mut self) -> Result<&mut Map<String, Value>, CredentialsError> {
        if matches!(self.json.get("auths"), None | Some(Value::Null)) {
            self.json.insert("auths".into(), Value::Object(Map::new()));
        }
        let err = self.invalid("\"auths\" is not a JSON object");
        match self.json.get_mut("auths") {
            Some(Value::Object(auths)) => Ok(auths),
            _ => Err(err),
        }
    }

    /// Reads an `auths` entry like docker: base64 "auth" ("user:pass", split at the first
    /// ':'), else "username"/"password"; an "identitytoken" wins over the password.
    fn decode_entry(&self, key: &str, value: &Value) -> Result<Option<Credentials>, CredentialsError> {
        let invalid = || self.invalid(&format!("the auths entry for {key} is not valid"));
        let entry = value.as_object().ok_or_else(invalid)?;
        let field = |name: &str| match entry.get(name) {
            None | Some(Value::Null) => Ok(""),
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(invalid()),
        };
        let mut username = field("username")?.to_string();
        let mut password = field("password")?.to_string();
        let auth = field("auth")?;
        if !auth.is_empty() {
            let decoded = LENIENT_BASE64.decode(auth.trim()).ok().and_then(|d| String::from_utf8(d).ok());
            let decoded = decoded.ok_or_else(invalid)?;
            let (user, pass) = decoded.split_once(':').filter(|(user, _)| !user.is_empty()).ok_or_else(invalid)?;
            username = user.to_string();
            password = pass.trim_end_matches('\0').to_string();
        }
        let token = field("identitytoken")?;
        if !token.is_empty() {
            return Ok(Some(Credentials { username, secret: Secret::new(token.to_string()), identity_token: true }));
        }
        if username.is_empty() && password.is_empty() {
            return Ok(None);
        }
        Ok(Some(Credentials { username, secret: Secret::new(password), identity_token: false }))
    }

    fn invalid(&self, message: &str) -> CredentialsError {
        CredentialsError::Invalid { path: self.path.clone(), message: message.to_string() }
    }

    /// Writes the file atomically: a 0600 temp file in the same directory (created 0700),
    /// fsync, rename over the target (through a symlink, as docker does), keeping its owner.
    fn save(&self) -> Result<(), CredentialsError> {
        let target = fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let write_err = |source: io::Error| CredentialsError::Write { path: target.clone(), source };
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(write_err)?;

        let mut bytes = Vec::new();
        let mut ser =
            serde_json::Serializer::with_formatter(&mut bytes, serde_json::ser::PrettyFormatter::with_indent(b"\t"));
        self.json.serialize(&mut ser).map_err(|e| write_err(io::Error::other(e)))?;

        let mut tmp = tempfile::Builder::new().prefix(".config.json").tempfile_in(&dir).map_err(write_err)?;
        tmp.as_file().set_permissions(fs::Permissions::from_mode(0o600)).map_err(write_err)?;
        if let Ok(meta) = fs::metadata(&target) {
            // Best effort, like docker: keep a file owned by its user when root rewrites it.
            let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid()));
        }
        tmp.write_all(&bytes).map_err(write_err)?;
        tmp.as_file().sync_all().map_err(write_err)?;
        tmp.persist(&target).map_err(|e| write_err(e.error))?;
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// An inline `auths` entry as docker writes it.
fn inline_entry(creds: &Credentials) -> Map<String, Value> {
    let mut entry = Map::new();
    if creds.identity_token {
        if !creds.username.is_empty() {
            entry.insert("auth".into(), json!(STANDARD.encode(format!("{}:", creds.username))));
        }
        entry.insert("identitytoken".into(), json!(creds.secret.expose()));
    } else {
        entry.insert("auth".into(), json!(STANDARD.encode(format!("{}:{}", creds.username, creds.secret.expose()))));
    }
    entry
}

/// The key docker files a registry under: Docker Hub's v1 URL, else host[:port].
fn registry_key(domain: &str) -> String {
    let host = convert_to_hostname(domain);
    if is_docker_hub(host) {
        DOCKER_HUB_KEY.to_string()
    } else {
        host.to_string()
    }
}

/// Whether a stored key names the registry filed under `key` (docker's ConvertToHostname match).
fn same_registry(stored: &str, key: &str) -> bool {
    if stored == key {
        return true;
    }
    let host = convert_to_hostname(stored);
    if key == DOCKER_HUB_KEY {
        is_docker_hub(host)
    } else {
        host.eq_ignore_ascii_case(key)
    }
}

/// docker's ConvertToHostname: drop an http(s) scheme and any path.
fn convert_to_hostname(url: &str) -> &str {
    let stripped = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => rest,
        _ => url,
    };
    stripped.split('/').next().unwrap_or(stripped)
}

fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB_NAMES.iter().any(|name| name.eq_ignore_ascii_case(host))
}

/// Asks a helper for a registry's credentials; "not found" means none.
fn helper_get(helper: &str, key: &str, search: &OsStr) -> Result<Option<Credentials>, CredentialsError> {
    let out = match run_helper(helper, "get", key.as_bytes(), search, None) {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let creds: HelperCredentials =
        serde_json::from_slice(&out).map_err(|_| CredentialsError::HelperOutput { program: helper_program(helper) })?;
    if creds.secret.is_empty() {
        return Ok(None);
    }
    let identity_token = creds.username == TOKEN_USERNAME;
    let username = if identity_token { String::new() } else { creds.username };
    Ok(Some(Credentials { username, secret: Secret::new(creds.secret), identity_token }))
}

fn is_not_found(err: &CredentialsError) -> bool {
    matches!(err, CredentialsError::HelperFailed { message, .. } if message == HELPER_NOT_FOUND)
}

fn helper_program(helper: &str) -> String {
    format!("docker-credential-{helper}")
}

/// Runs `docker-credential-<helper> <action>` with `input` on stdin (secrets travel only
/// there) and returns its stdout. A failure's message is the helper's first output line,
/// bounded, with `secret` blanked out should the helper echo it.
fn run_helper(
    helper: &str,
    action: &str,
    input: &[u8],
    search: &OsStr,
    secret: Option<&str>,
) -> Result<Vec<u8>, CredentialsError> {
    let program = helper_program(helper);
    let Some(exe) = find_program(&program, search) else {
        return Err(CredentialsError::HelperNotFound { program });
    };
    let run_err = |source: io::Error| CredentialsError::HelperRun { program: program.clone(), source };
    let mut attempts = 0;
    let mut child = loop {
        let spawned =
            Command::new(&exe).arg(action).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
        match spawned {
            // A just-written helper can be briefly "busy" while another thread forks.
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 5 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.map_err(run_err)?,
        }
    };
    // The input is small; a helper that exits without reading it is judged by its status.
    let written = child.stdin.take().map_or(Ok(()), |mut stdin| stdin.write_all(input));
    let out = child.wait_with_output().map_err(run_err)?;
    if !out.status.success() {
        let message = first_line(&out.stdout)
            .or_else(|| first_line(&out.stderr))
            .unwrap_or_else(|| format!("exited with {}", out.status));
        let message = match secret {
            Some(s) if !s.is_empty() => message.replace(s, "<redacted>"),
            _ => message,
        };
        return Err(CredentialsError::HelperFailed { program, message });
    }
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(run_err(e)),
        _ => Ok(out.stdout),
    }
}

/// The first non-empty line of a helper's output, trimmed and bounded.
fn first_line(output: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(output);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut line = line.to_string();
    if line.len() > MAX_HELPER_MESSAGE {
        let mut end = MAX_HELPER_MESSAGE;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    Some(line)
}

/// The first executable file named `program` in a PATH-style list of directories.
fn find_program(program: &str, search: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(search)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The process's PATH, or the usual system directories when it is unset.
fn search_path() -> std::ffi::OsString {
    std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into())
}

/// The current user's home directory from the passwd database.
fn passwd_home() -> Option<PathBuf> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to overwrite.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live, correctly sized storage owned by this frame.
    let rc = unsafe { libc::getpwuid_r(libc::getuid(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
        return None;
    }
    // SAFETY: on success pw_dir points at a NUL-terminated string inside `buf`.
    let dir = unsafe { CStr::from_ptr(pwd.pw_dir) };
    Some(PathBuf::from(OsStr::from_bytes(dir.to_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with(json: &str) -> (tempfile::TempDir, DockerConfig) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("config.json"), json).unwrap();
        let config = DockerConfig::load(dir.path()).unwrap();
        (dir, config)
    }

    fn password(user: &str, pass: &str) -> Credentials {
        Credentials { username: user.into(), secret: Secret::new(pass.into()), identity_token: false }
    }

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    /// A fake helper recording its argv and stdin next to itself; it answers `get` with what
    /// `store` saved, or docker's "not found" message.
    fn fake_helper(name: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            "#!/bin/sh\nd=$(dirname \"$0\")\necho \"$@\" >> \"$d/args\"\ncat > \"$d/$1.stdin\"\ncase \"$1\" in\n\
             get) if [ -f \"$d/stored\" ]; then cat \"$d/stored\"; else echo '{HELPER_NOT_FOUND}'; exit 1; fi ;;\n\
             store) cp \"$d/store.stdin\" \"$d/stored\" ;;\n\
             erase) if [ -f \"$d/stored\" ]; then rm \"$d/stored\"; else echo '{HELPER_NOT_FOUND}'; exit 1; fi ;;\n\
             esac\n"
        );
        let path = dir.path().join(format!("docker-credential-{name}"));
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[test]
    fn dir_prefers_explicit() {
        assert_eq!(DockerConfig::dir(Some(Path::new("/x/cfg"))), PathBuf::from("/x/cfg"));
        assert!(DockerConfig::dir(None).ends_with(".docker") || std::env::var_os("DOCKER_CONFIG").is_some());
    }

    #[test]
    fn missing_or_empty_file_is_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = DockerConfig::load(dir.path()).unwrap();
        assert_eq!(config.path(), dir.path().join("config.json"));
        assert_eq!(config.get("docker.io").unwrap(), None);
        let (_d, config) = config_with("\n");
        assert_eq!(config.get("quay.io").unwrap(), None);
    }

    #[test]
    fn broken_json_is_an_error_naming_the_file() {
        let (dir, _) = config_with("{}");
        fs::write(dir.path().join("config.json"), "{\"auths\": ").unwrap();
        let err = DockerConfig::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&dir.path().join("config.json").display().to_string()), "{err}");
        fs::write(dir.path().join("config.json"), "[1]").unwrap();
        assert!(DockerConfig::load(dir.path()).is_err());
    }

    #[test]
    fn auths_entries_decode_like_docker() {
        let (_d, config) = config_with(&format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "fields.example": {{"username": "bob", "password": "pw"}},
                "token.example": {{"auth": "{}", "identitytoken": "refresh"}},
                "https://url.example:5000/v1/": {{"auth": "{}"}},
                "http://plain.example": {{"auth": "{}"}},
                "empty.example": {{}}
            }}}}"#,
            b64("alice:pa:ss:word"),
            b64("carol:"),
            b64("dave:x"),
            STANDARD.encode("erin:y").trim_end_matches('='),
        ));
        let hub = config.get("docker.io").unwrap().unwrap();
        assert_eq!((hub.username.as_str(), hub.secret.expose(), hub.identity_token), ("alice", "pa:ss:word", false));
        assert_eq!(config.get("index.docker.io").unwrap(), Some(hub));
        assert_eq!(config.get("fields.example").unwrap(), Some(password("bob", "pw")));
        let token = config.get("token.example").unwrap().unwrap();
        assert_eq!((token.username.as_str(), token.secret.expose(), token.identity_token), ("carol", "refresh", true));
        assert_eq!(config.get("url.example:5000").unwrap(), Some(password("dave", "x")));
        assert_eq!(config.get("plain.example").unwrap(), Some(password("erin", "y")));
        assert_eq!(config.get("empty.example").unwrap(), None);
        assert_eq!(config.get("other.example").unwrap(), None);
        assert_eq!(config.get("url.example").unwrap(), None);
    }

    #[test]
    fn exact_key_wins_over_url_forms() {
        let (_d, config) = config_with(&format!(
            r#"{{"auths": {{"https://reg.example/v1/": {{"auth": "{}"}}, "reg.example": {{"auth": "{}"}}}}}}"#,
            b64("old:1"),
            b64("new:2"),
        ));
        assert_eq!(config.get("reg.example").unwrap(), Some(password("new", "2")));
    }

    #[test]
    fn store_round_trips_and_preserves_other_keys() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("cfg");
        let mut config = DockerConfig::load(&dir).unwrap();
        config.store("127.0.0.1:5000", &password("u", "p:w")).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        let file = dir.join("config.json");
        assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);

        let mut json: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
        assert_eq!(json["auths"]["127.0.0.1:5000"]["auth"], json!(b64("u:p:w")));
        json["psFormat"] = json!("table {{.ID}}");
        json["proxies"] = json!({"default": {"httpProxy": "http://proxy:3128"}});
        fs::write(&file, serde_json::to_vec(&json).unwrap()).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();

        let mut config = DockerConfig::load(&dir).unwrap();
        let token = Credentials { username: "me".into(), secret: Secret::new("tok".into()), identity_token: true };
        config.store("docker.io", &token).unwrap();
        let reloaded = DockerConfig::load(&dir).unwrap();
        assert_eq!(reloaded.get("docker.io").unwrap(), Some(token));
        assert_eq!(reloaded.get("127.0.0.1:5000").unwrap(), Some(password("u", "p:w")));
        let json: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
        assert_eq!(json["psFormat"], json!("table {{.ID}}"));
        assert_eq!(json["proxies"]["default"]["httpProxy"], json!("http://proxy:3128"));
        assert_eq!(json["auths"][DOCKER_HUB_KEY]["identitytoken"], json!("tok"));
        assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        // No temp files left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn store_follows_a_symlinked_config() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        fs::write(&real, "{}").unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("config.json")).unwrap();
        let mut config = DockerConfig::load(dir.path()).unwrap();
        config.store("reg.example", &password("u", "p")).unwrap();
        assert!(fs::symlink_metadata(dir.path().join("config.json")).unwrap().file_type().is_symlink());
        assert!(fs::read_to_string(&real).unwrap().contains("reg.example"));
    }

    #[test]
    fn erase_removes_every_key_for_the_host() {
        let (dir, mut config) = config_with(&format!(
            r#"{{"auths": {{"reg.example": {{"auth": "{a}"}}, "https://reg.example/v2/": {{"auth": "{a}"}},
                 "keep.example": {{"auth": "{a}"}}}}, "HttpHeaders": {{"X": "1"}}}}"#,
            a = b64("u:p")
        ));
        assert!(config.erase("reg.example").unwrap());
        assert!(!config.erase("reg.example").unwrap());
        let reloaded = DockerConfig::load(dir.path()).unwrap();
        assert_eq!(reloaded.get("reg.example").unwrap(), None);
        assert_eq!(reloaded.get("keep.example").unwrap(), Some(password("u", "p")));
        assert!(fs::read_to_string(dir.path().join("config.json")).unwrap().contains("HttpHeaders"));
    }

    #[test]
    fn helpers_get_store_and_erase_through_stdin() {
        let helper = fake_helper("fake");
        let search = helper.path().as_os_str();
        let (dir, mut config) =
            config_with(r#"{"credsStore": "fake", "credHelpers": {"file.example": ""}, "auths": {}}"#);

        assert_eq!(config.get_in("docker.io", search).unwrap(), None);
        assert_eq!(fs::read_to_string(helper.path().join("get.stdin")).unwrap(), DOCKER_HUB_KEY);

        config.store_in("docker.io", &password("alice", "s3cret"), search).unwrap();
        let stored: Value = serde_json::from_slice(&fs::read(helper.path().join("store.stdin")).unwrap()).unwrap();
        assert_eq!(stored, json!({"ServerURL": DOCKER_HUB_KEY, "Username": "alice", "Secret": "s3cret"}));
        let file = fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert!(!file.contains("s3cret") && file.contains(DOCKER_HUB_KEY), "{file}");
        assert_eq!(config.get_in("docker.io", search).unwrap(), Some(password("alice", "s3cret")));

        let token = Credentials { username: String::new(), secret: Secret::new("tok".into()), identity_token: true };
        config.store_in("docker.io", &token, search).unwrap();
        let stored: Value = serde_json::from_slice(&fs::read(helper.path().join("store.stdin")).unwrap()).unwrap();
        assert_eq!(stored["Username"], json!(TOKEN_USERNAME));
        assert_eq!(config.get_in("docker.io", search).unwrap(), Some(token));

        // An empty credHelpers entry means the file itself.
        config.store_in("file.example", &password("f", "fp"), search).unwrap();
        assert!(fs::read_to_string(dir.path().join("config.json")).unwrap().contains(&b64("f:fp")));

        assert!(config.erase_in("docker.io", search).unwrap());
        assert_eq!(fs::read_to_string(helper.path().join("erase.stdin")).unwrap(), DOCKER_HUB_KEY);
        assert_eq!(config.get_in("docker.io", search).unwrap(), None);
        assert!(!config.erase_in("docker.io", search).unwrap());

        // Secrets never travel in argv.
        let args = fs::read_to_string(helper.path().join("args")).unwrap();
        assert!(args.lines().all(|l| ["get", "store", "erase"].contains(&l)), "{args}");
    }

    #[test]
    fn cred_helpers_win_over_creds_store() {
        let helper = fake_helper("fake");
        let (_d, mut config) = config_with(r#"{"credsStore": "absent", "credHelpers": {"reg.example": "fake"}}"#);
        config.store_in("reg.example", &password("u", "p"), helper.path().as_os_str()).unwrap();
        assert_eq!(config.get_in("reg.example", helper.path().as_os_str()).unwrap(), Some(password("u", "p")));
        let err = config.get_in("other.example", helper.path().as_os_str()).unwrap_err().to_string();
        assert_eq!(err, "credential helper docker-credential-absent not found in PATH");
    }

    #[test]
    fn helper_failures_report_the_first_line_without_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker-credential-bad");
        fs::write(&path, "#!/bin/sh\nread line\necho \"\"\necho \"boom: $line\"\necho second line\nexit 3\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        let (_d, mut config) = config_with(r#"{"credsStore": "bad"}"#);
        let err = config.get_in("reg.example", dir.path().as_os_str()).unwrap_err().to_string();
        assert_eq!(err, "credential helper docker-credential-bad failed: boom: reg.example");
        let err = config.store_in("reg.example", &password("u", "hunter2"), dir.path().as_os_str()).unwrap_err();
        let err = err.to_string();
        assert!(
            err.starts_with("credential helper docker-credential-bad failed: boom: ") && !err.contains("hunter2"),
            "{err}"
        );

        fs::write(&path, "#!/bin/sh\necho not json\n").unwrap();
        let err = config.get_in("reg.example", dir.path().as_os_str()).unwrap_err().to_string();
        assert_eq!(err, "credential helper docker-credential-bad returned invalid output");
    }

    #[test]
    fn secrets_stay_out_of_debug_and_errors() {
        let creds = password("user", "hunter2");
        let debug = format!("{creds:?}");
        assert!(!debug.contains("hunter2") && debug.contains("Secret(<redacted>)"), "{debug}");
        let auth = b64("nocolon-hunter2");
        let (_d, config) = config_with(&format!(r#"{{"auths": {{"reg.example": {{"auth": "{auth}"}}}}}}"#));
        assert!(!format!("{config:?}").contains(&auth));
        let err = config.get("reg.example").unwrap_err().to_string();
        assert!(!err.contains("hunter2") && !err.contains(&auth) && err.contains("reg.example"), "{err}");
        let (_d, config) = config_with(r#"{"auths": {"reg.example": {"auth": "!!hunter2!!"}}}"#);
        let err = config.get("reg.example").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn first_line_is_bounded() {
        let long = "é".repeat(300);
        let line = first_line(long.as_bytes()).unwrap();
        assert!(line.len() <= MAX_HELPER_MESSAGE + 3);
        assert_eq!(first_line(b"\n  \n"), None);
    }
}
