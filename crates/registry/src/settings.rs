//! Registry settings, the daemonless counterpart of the registry part of docker's
//! `daemon.json`: insecure registries, docker.io mirrors, transfer concurrency and
//! per-registry TLS material in `certs.d` directories. They decide which endpoints a
//! registry is reached at and with what TLS configuration, following moby's rules.

use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the settings live when `$GANTRY_REGISTRIES_CONFIG` does not say otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/gantry/registries.json";

/// Environment variable naming another settings file (tests, per-user setups).
const CONFIG_ENV: &str = "GANTRY_REGISTRIES_CONFIG";
/// Environment variable naming an extra certs.d directory searched before the others.
const CERTS_D_ENV: &str = "GANTRY_CERTS_D";

/// The hostnames docker treats as Docker Hub.
const DOCKER_HUB_NAMES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
/// Where Docker Hub's distribution API lives.
const DOCKER_HUB_URL: &str = "https://registry-1.docker.io";
const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// Why settings could not be loaded or applied.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The settings file exists but could not be read.
    #[error("cannot read registry settings {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// The settings file is not valid JSON or has a value of the wrong type.
    #[error("invalid registry settings in {}: {source}", path.display())]
    Parse { path: PathBuf, source: serde_json::Error },
    /// The settings file has a value docker would reject (a bad mirror URL, a zero limit, ...).
    #[error("invalid registry settings in {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// A setting built in code (not from a file) is invalid.
    #[error("invalid registry settings: {0}")]
    InvalidEntry(String),
    /// A registry name that cannot name a certs.d directory (it would escape it).
    #[error("invalid registry host {0:?}")]
    InvalidHost(String),
    /// A file in a certs.d directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    CertRead { path: PathBuf, source: io::Error },
    /// A client certificate without its key (docker refuses this too).
    #[error("missing key {} for client certificate {}; CA certificates must use the extension .crt", key.display(), cert.display())]
    MissingKey { cert: PathBuf, key: PathBuf },
    /// A client key without its certificate (docker refuses this too).
    #[error("missing client certificate {} for key {}", cert.display(), key.display())]
    MissingCert { key: PathBuf, cert: PathBuf },
}

/// Registry settings, loaded once per command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// docker's "insecure-registries": "host[:port]" or a CIDR such as "10.0.0.0/8".
    pub insecure: Vec<String>,
    /// docker's "registry-mirrors": base URLs tried before Docker Hub when pulling from docker.io.
    pub mirrors: Vec<String>,
    /// "max-concurrent-downloads": layers pulled in parallel (docker's default 3).
    pub max_concurrent_downloads: usize,
    /// "max-concurrent-uploads": layers pushed in parallel (docker's default 5).
    pub max_concurrent_uploads: usize,
    /// "certs-dirs": directories holding `<host[:port]>/` TLS material, searched in order.
    pub certs_dirs: Vec<PathBuf>,
    /// "upload-chunk-size": bytes per `PATCH` when uploading a layer in chunks
    /// (`Content-Range`), for registries or proxies that limit request sizes; 0 (the
    /// default) uploads a layer in one request.
    pub upload_chunk_size: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            insecure: Vec::new(),
            mirrors: Vec::new(),
            max_concurrent_downloads: 3,
            max_concurrent_uploads: 5,
            certs_dirs: vec![PathBuf::from("/etc/gantry/certs.d"), PathBuf::from("/etc/docker/certs.d")],
            upload_chunk_size: 0,
        }
    }
}

/// The file's shape; every key optional, unknown keys ignored.
#[derive(Deserialize)]
struct RawSettings {
    #[serde(rename = "insecure-registries")]
    insecure: Option<Vec<String>>,
    #[serde(rename = "registry-mirrors")]
    mirrors: Option<Vec<String>>,
    #[serde(rename = "max-concurrent-downloads")]
    max_concurrent_downloads: Option<usize>,
    #[serde(rename = "max-concurrent-uploads")]
    max_concurrent_uploads: Option<usize>,
    #[serde(rename = "certs-dirs")]
    certs_dirs: Option<Vec<PathBuf>>,
    #[serde(rename = "upload-chunk-size")]
    upload_chunk_size: Option<u64>,
}

/// One place a registry can be reached at, in the order to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL without trailing slash, e.g. "https://registry-1.docker.io" or "http://127.0.0.1:5000".
    pub url: String,
    /// The host[:port] the URL talks to (for TLS names and certs.d lookups).
    pub host: String,
    /// How to set up TLS for this endpoint (meaningless for http URLs).
    pub tls: Tls,
    /// A pull-only docker.io mirror: never used for push.
    pub mirror: bool,
}

/// TLS configuration for one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// Verify the server's certificate; false for insecure registries.
    pub verify: bool,
    /// Extra CA certificates (PEM): every `*.crt` in `<certs_dir>/<host[:port]>/`.
    pub ca_pems: Vec<Vec<u8>>,
    /// Client certificate and key (PEM) from a `*.cert` file and the `*.key` of the same stem.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl Settings {
    /// Reads `$GANTRY_REGISTRIES_CONFIG` if set, else [`DEFAULT_CONFIG`]; a missing file means
    /// defaults. A non-empty `$GANTRY_CERTS_D` is searched before the configured certs dirs.
    pub fn load() -> Result<Settings, SettingsError> {
        let path = non_empty_env(CONFIG_ENV).map_or_else(|| PathBuf::from(DEFAULT_CONFIG), PathBuf::from);
        Self::load_from(&path, non_empty_env(CERTS_D_ENV).map(PathBuf::from))
    }

    /// [`Settings::load`] without the environment, so tests need not mutate it.
    fn load_from(path: &Path, extra_certs_dir: Option<PathBuf>) -> Result<Settings, SettingsError> {
        let mut settings = match fs::read(path) {
            Ok(bytes) => Self::from_json(&bytes, path)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Settings::default(),
            Err(source) => return Err(SettingsError::Read { path: path.to_path_buf(), source }),
        };
        if let Some(dir) = extra_certs_dir {
            settings.certs_dirs.insert(0, dir);
        }
        Ok(settings)
    }

    /// Parses a settings file's contents; `source` names the file in errors. Unknown keys
    /// are ignored (the file may be shared with other tools); wrong types and values are errors.
    pub fn from_json(bytes: &[u8], source: &Path) -> Result<Settings, SettingsError> {
        let invalid = |message: String| SettingsError::Invalid { path: source.to_path_buf(), message };
        let mut settings = Settings::default();
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(settings);
        }
        let raw: RawSettings = serde_json::from_slice(bytes)
            .map_err(|source_err| SettingsError::Parse { path: source.to_path_buf(), source: source_err })?;
        if let Some(insecure) = raw.insecure {
            for entry in &insecure {
                parse_insecure(entry).map_err(invalid)?;
            }
            settings.insecure = insecure;
        }
        if let Some(mirrors) = raw.mirrors {
            for mirror in &mirrors {
                parse_mirror(mirror).map_err(invalid)?;
            }
            settings.mirrors = mirrors;
        }
        if let Some(n) = raw.max_concurrent_downloads {
            if n == 0 {
                return Err(invalid("max-concurrent-downloads must be at least 1".into()));
            }
            settings.max_concurrent_downloads = n;
        }
        if let Some(n) = raw.max_concurrent_uploads {
            if n == 0 {
                return Err(invalid("max-concurrent-uploads must be at least 1".into()));
            }
            settings.max_concurrent_uploads = n;
        }
        if let Some(dirs) = raw.certs_dirs {
            settings.certs_dirs = dirs;
        }
        if let Some(n) = raw.upload_chunk_size {
            settings.upload_chunk_size = n;
        }
        Ok(settings)
    }

    /// Where to reach `domain` (a reference's domain: "docker.io", "127.0.0.1:5000", "quay.io"),
    /// in the order to try. `tls_verify` is a command's `--tls-verify`: `Some(false)` makes the
    /// registry insecure, `Some(true)` forces verification even for loopback, `None` follows
    /// the settings.
    pub fn endpoints(&self, domain: &str, tls_verify: Option<bool>) -> Result<Vec<Endpoint>, SettingsError> {
        let mut endpoints = Vec::new();
        if is_docker_hub(domain) {
            for mirror in &self.mirrors {
                let (url, host) = parse_mirror(mirror).map_err(SettingsError::InvalidEntry)?;
                let tls = if url.starts_with("https://") {
                    let verify = self.is_secure(&host, tls_verify)?;
                    self.tls_for(&host, verify)?
                } else {
                    Tls::default()
                };
                endpoints.push(Endpoint { url, host, tls, mirror: true });
            }
            // Like moby: Docker Hub is always secure unless the command says otherwise, and
            // uses the system roots only (no certs.d lookup).
            let verify = tls_verify.unwrap_or(true);
            let tls = Tls { verify, ..Tls::default() };
            endpoints.push(Endpoint { url: DOCKER_HUB_URL.into(), host: DOCKER_HUB_HOST.into(), tls, mirror: false });
            if !verify {
                endpoints.push(plain_http(DOCKER_HUB_HOST));
            }
            return Ok(endpoints);
        }
        let verify = self.is_secure(domain, tls_verify)?;
        let tls = self.tls_for(domain, verify)?;
        endpoints.push(Endpoint { url: format!("https://{domain}"), host: domain.to_string(), tls, mirror: false });
        if !verify {
            // docker tries TLS first, then plain HTTP, for insecure registries.
            endpoints.push(plain_http(domain));
        }
        Ok(endpoints)
    }

    /// Whether TLS must be verified for `hostport`: the flag wins, then the insecure list
    /// (exact host[:port] or CIDR), then docker's built-in loopback exception.
    fn is_secure(&self, hostport: &str, tls_verify: Option<bool>) -> Result<bool, SettingsError> {
        if let Some(verify) = tls_verify {
            return Ok(verify);
        }
        let host = host_of(hostport);
        if is_loopback(host) {
            return Ok(false);
        }
        let ip = host.parse::<IpAddr>().ok();
        for entry in &self.insecure {
            match parse_insecure(entry).map_err(SettingsError::InvalidEntry)? {
                Insecure::Host(listed) if listed.eq_ignore_ascii_case(hostport) => return Ok(false),
                Insecure::Cidr(cidr) if ip.is_some_and(|ip| cidr.contains(ip)) => return Ok(false),
                _ => {}
            }
        }
        Ok(true)
    }

    /// TLS material for `hostport` from every certs dir (docker's certs.d layout).
    fn tls_for(&self, hostport: &str, verify: bool) -> Result<Tls, SettingsError> {
        if hostport.is_empty()
            || hostport == "."
            || hostport == ".."
            || hostport.contains(['/', '\\', '\0'])
            || hostport.starts_with('.')
        {
            return Err(SettingsError::InvalidHost(hostport.to_string()));
        }
        let mut tls = Tls { verify, ..Tls::default() };
        for dir in &self.certs_dirs {
            read_certs_dir(&dir.join(hostport), &mut tls)?;
        }
        Ok(tls)
    }
}

/// The plain-HTTP fallback endpoint of an insecure registry.
fn plain_http(host: &str) -> Endpoint {
    Endpoint { url: format!("http://{host}"), host: host.to_string(), tls: Tls::default(), mirror: false }
}

/// Adds the CA certificates and the first client pair found in `dir`, like moby's
/// `ReadCertsDirectory`: `*.crt` are CAs, `*.cert` + `*.key` of the same stem a client pair.
fn read_certs_dir(dir: &Path, tls: &mut Tls) -> Result<(), SettingsError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => return Ok(()),
        Err(source) => return Err(SettingsError::CertRead { path: dir.to_path_buf(), source }),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| SettingsError::CertRead { path: dir.to_path_buf(), source })?;
        files.push(entry.path());
    }
    files.sort();
    let read =
        |path: &Path| fs::read(path).map_err(|source| SettingsError::CertRead { path: path.to_path_buf(), source });
    for file in &files {
        match file.extension().and_then(|e| e.to_str()) {
            Some("crt") => tls.ca_pems.push(read(file)?),
            Some("cert") => {
                let key = file.with_extension("key");
                if !key.exists() {
                    return Err(SettingsError::MissingKey { cert: file.clone(), key });
                }
                let pair = (read(file)?, read(&key)?);
                tls.client.get_or_insert(pair);
            }
            Some("key") => {
                let cert = file.with_extension("cert");
                if !cert.exists() {
                    return Err(SettingsError::MissingCert { key: file.clone(), cert });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether a reference domain means Docker Hub.
fn is_docker_hub(domain: &str) -> bool {
    DOCKER_HUB_NAMES.iter().any(|name| name.eq_ignore_ascii_case(domain))
}

/// The host part of "host[:port]" ("[::1]:5000" gives "::1"; a bare IPv6 literal is kept whole).
fn host_of(hostport: &str) -> &str {
    if let Some(rest) = hostport.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match hostport.split_once(':') {
        Some((host, port)) if !port.contains(':') => host,
        _ => hostport,
    }
}

/// docker's built-in insecure registries: 127.0.0.0/8, ::1 and localhost.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One parsed "insecure-registries" entry.
enum Insecure {
    Host(String),
    Cidr(Cidr),
}

/// Parses an "insecure-registries" entry; like moby, an http:// or https:// prefix is dropped.
fn parse_insecure(entry: &str) -> Result<Insecure, String> {
    let lower = entry.to_ascii_lowercase();
    let stripped = if lower.starts_with("http://") {
        &entry[7..]
    } else if lower.starts_with("https://") {
        &entry[8..]
    } else if entry.contains("://") {
        return Err(format!("insecure registry {entry:?} should not contain '://'"));
    } else {
        entry
    };
    let stripped = stripped.trim_end_matches('/');
    if stripped.is_empty() {
        return Err(format!("insecure registry {entry:?} is empty"));
    }
    if stripped.contains('/') {
        return Cidr::parse(stripped)
            .map(Insecure::Cidr)
            .ok_or_else(|| format!("insecure registry {entry:?} is neither host[:port] nor a CIDR"));
    }
    Ok(Insecure::Host(stripped.to_string()))
}

/// Parses a "registry-mirrors" entry into (base URL without trailing slash, host[:port]).
/// A scheme-less entry means https, as in older moby; user info, queries and fragments are refused.
fn parse_mirror(mirror: &str) -> Result<(String, String), String> {
    let (scheme, rest) = match mirror.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => ("http", rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => ("https", rest),
        Some((scheme, _)) => return Err(format!("invalid mirror: unsupported scheme {scheme:?}")),
        None => ("https", mirror),
    };
    let host = rest.split('/').next().unwrap_or_default();
    // Checked first and without echoing the URL: user info may hold a password.
    if host.contains('@') {
        return Err("invalid mirror: user info in a mirror URL is not supported".into());
    }
    if host.is_empty() || rest.contains(['?', '#']) || rest.contains(char::is_whitespace) {
        return Err(format!("invalid mirror {mirror:?}"));
    }
    Ok((format!("{scheme}://{}", rest.trim_end_matches('/')), host.to_string()))
}

/// An IP network such as 10.0.0.0/8 or fd00::/8.
struct Cidr {
    addr: IpAddr,
    prefix: u32,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = s.split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        let prefix: u32 = prefix.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An environment variable's value, treating empty as unset.
fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: &str) -> Settings {
        Settings::from_json(json.as_bytes(), Path::new("/test/registries.json")).unwrap()
    }

    fn no_certs(mut s: Settings) -> Settings {
        s.certs_dirs.clear();
        s
    }

    fn urls(endpoints: &[Endpoint]) -> Vec<(&str, bool, bool)> {
        endpoints.iter().map(|e| (e.url.as_str(), e.tls.verify, e.mirror)).collect()
    }

    #[test]
    fn defaults_match_docker() {
        let s = Settings::default();
        assert_eq!(s.max_concurrent_downloads, 3);
        assert_eq!(s.max_concurrent_uploads, 5);
        assert!(s.insecure.is_empty() && s.mirrors.is_empty());
        assert_eq!(s.certs_dirs, vec![PathBuf::from("/etc/gantry/certs.d"), PathBuf::from("/etc/docker/certs.d")]);
        assert_eq!(settings(""), s);
        assert_eq!(settings("{}"), s);
    }

    #[test]
    fn parses_all_keys_and_ignores_unknown_ones() {
        let s = settings(
            r#"{"insecure-registries": ["reg.local:5000", "10.0.0.0/8"],
                "registry-mirrors": ["https://mirror.example:5000/"],
                "max-concurrent-downloads": 7, "max-concurrent-uploads": 2,
                "certs-dirs": ["/a"], "debug": true, "log-level": "warn"}"#,
        );
        assert_eq!(s.insecure, vec!["reg.local:5000", "10.0.0.0/8"]);
        assert_eq!(s.mirrors, vec!["https://mirror.example:5000/"]);
        assert_eq!((s.max_concurrent_downloads, s.max_concurrent_uploads), (7, 2));
        assert_eq!(s.certs_dirs, vec![PathBuf::from("/a")]);
    }

    #[test]
    fn broken_files_are_errors_naming_the_file() {
        let path = Path::new("/etc/x/registries.json");
        for bad in [
            "{",
            r#"{"max-concurrent-downloads": "3"}"#,
            r#"{"max-concurrent-downloads": -1}"#,
            r#"{"max-concurrent-uploads": 0}"#,
            r#"{"insecure-registries": "reg:5000"}"#,
            r#"{"insecure-registries": ["10.0.0.0/99"]}"#,
            r#"{"insecure-registries": ["ftp://reg"]}"#,
            r#"{"registry-mirrors": ["ftp://mirror"]}"#,
            "[]",
        ] {
            let err = Settings::from_json(bad.as_bytes(), path).unwrap_err().to_string();
            assert!(err.contains("/etc/x/registries.json"), "{bad}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        let err = Settings::from_json(br#"{"registry-mirrors": ["https://user:hunter2@m.example"]}"#, path)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn load_missing_file_gives_defaults_and_certs_d_goes_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load_from(&dir.path().join("none.json"), Some(PathBuf::from("/t/certs"))).unwrap();
        assert_eq!(s.certs_dirs[0], PathBuf::from("/t/certs"));
        assert_eq!(s.certs_dirs.len(), 3);
        let file = dir.path().join("r.json");
        fs::write(&file, r#"{"max-concurrent-uploads": 9}"#).unwrap();
        assert_eq!(Settings::load_from(&file, None).unwrap().max_concurrent_uploads, 9);
        fs::write(&file, "{oops").unwrap();
        let err = Settings::load_from(&file, None).unwrap_err().to_string();
        assert!(err.contains(&file.display().to_string()), "{err}");
    }

    #[test]
    fn secure_registry_has_one_verified_https_endpoint() {
        let s = no_certs(Settings::default());
        let e = s.endpoints("quay.io", None).unwrap();
        assert_eq!(urls(&e), vec![("https://quay.io", true, false)]);
        assert_eq!(e[0].host, "quay.io");
    }

    #[test]
    fn loopback_is_insecure_by_default() {
        let s = no_certs(Settings::default());
        for domain in ["127.0.0.1:5000", "127.1.2.3", "localhost:5000", "LOCALHOST", "[::1]:5000"] {
            let e = s.endpoints(domain, None).unwrap();
            assert_eq!(
                urls(&e),
                vec![
                    (format!("https://{domain}").as_str(), false, false),
                    (format!("http://{domain}").as_str(), false, false)
                ],
                "{domain}"
            );
        }
        assert!(s.endpoints("128.0.0.1:5000", None).unwrap()[0].tls.verify);
    }

    #[test]
    fn listed_hosts_and_cidrs_are_insecure() {
        let s = no_certs(settings(
            r#"{"insecure-registries": ["reg.local:5000", "http://plain.local", "10.0.0.0/8", "fd00::/8"]}"#,
        ));
        let insecure = |d: &str| !s.endpoints(d, None).unwrap()[0].tls.verify;
        assert!(insecure("reg.local:5000"));
        assert!(insecure("REG.local:5000"));
        assert!(!insecure("reg.local"));
        assert!(!insecure("reg.local:5001"));
        assert!(insecure("plain.local"));
        assert!(insecure("10.1.2.3:5000"));
        assert!(insecure("10.255.0.1"));
        assert!(!insecure("11.0.0.1"));
        assert!(insecure("[fd12::1]:443"));
        assert!(!insecure("[fe80::1]:443"));
        assert!(!insecure("ten.example"));
        assert_eq!(s.endpoints("10.0.0.1", None).unwrap().len(), 2);
    }

    #[test]
    fn tls_verify_flag_overrides_settings() {
        let s = no_certs(settings(r#"{"insecure-registries": ["reg.local:5000"]}"#));
        assert_eq!(
            urls(&s.endpoints("127.0.0.1:5000", Some(true)).unwrap()),
            vec![("https://127.0.0.1:5000", true, false)]
        );
        assert_eq!(
            urls(&s.endpoints("reg.local:5000", Some(true)).unwrap()),
            vec![("https://reg.local:5000", true, false)]
        );
        assert_eq!(
            urls(&s.endpoints("quay.io", Some(false)).unwrap()),
            vec![("https://quay.io", false, false), ("http://quay.io", false, false)]
        );
    }

    #[test]
    fn docker_hub_goes_to_registry_1_after_mirrors() {
        let s = no_certs(settings(
            r#"{"registry-mirrors": ["https://mirror.example:5000/", "http://plain.mirror", "m3.example/path/"],
                "insecure-registries": ["docker.io", "registry-1.docker.io"]}"#,
        ));
        for domain in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            let e = s.endpoints(domain, None).unwrap();
            assert_eq!(
                urls(&e),
                vec![
                    ("https://mirror.example:5000", true, true),
                    ("http://plain.mirror", false, true),
                    ("https://m3.example/path", true, true),
                    ("https://registry-1.docker.io", true, false),
                ]
            );
            assert_eq!(e[0].host, "mirror.example:5000");
            assert_eq!(e[3].host, "registry-1.docker.io");
        }
        // Mirrors are only for Docker Hub.
        assert_eq!(s.endpoints("quay.io", None).unwrap().len(), 1);
    }

    #[test]
    fn insecure_mirror_skips_verification() {
        let s = no_certs(settings(
            r#"{"registry-mirrors": ["https://10.1.1.1:5000"], "insecure-registries": ["10.0.0.0/8"]}"#,
        ));
        let e = s.endpoints("docker.io", None).unwrap();
        assert_eq!(
            urls(&e),
            vec![("https://10.1.1.1:5000", false, true), ("https://registry-1.docker.io", true, false)]
        );
    }

    #[test]
    fn certs_d_supplies_cas_and_client_pairs_from_every_dir() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let host = first.path().join("reg.example:5000");
        fs::create_dir(&host).unwrap();
        fs::write(host.join("ca.crt"), "CA1").unwrap();
        fs::write(host.join("client.cert"), "CERT").unwrap();
        fs::write(host.join("client.key"), "KEY").unwrap();
        fs::write(host.join("README"), "ignored").unwrap();
        let host2 = second.path().join("reg.example:5000");
        fs::create_dir(&host2).unwrap();
        fs::write(host2.join("other.crt"), "CA2").unwrap();
        fs::create_dir(second.path().join("mirror.example")).unwrap();
        fs::write(second.path().join("mirror.example/m.crt"), "MCA").unwrap();

        let s = Settings {
            certs_dirs: vec![first.path().to_path_buf(), second.path().to_path_buf(), first.path().join("missing")],
            mirrors: vec!["https://mirror.example".into()],
            ..Settings::default()
        };
        let e = s.endpoints("reg.example:5000", None).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].tls.ca_pems, vec![b"CA1".to_vec(), b"CA2".to_vec()]);
        assert_eq!(e[0].tls.client, Some((b"CERT".to_vec(), b"KEY".to_vec())));
        let e = s.endpoints("docker.io", None).unwrap();
        assert_eq!(e[0].tls.ca_pems, vec![b"MCA".to_vec()]);
        assert!(e[1].tls.ca_pems.is_empty());
        assert!(s.endpoints("other.example", None).unwrap()[0].tls.ca_pems.is_empty());
    }

    #[test]
    fn unpaired_client_cert_or_key_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("reg.example");
        fs::create_dir(&host).unwrap();
        fs::write(host.join("client.cert"), "CERT").unwrap();
        let s = Settings { certs_dirs: vec![dir.path().to_path_buf()], ..Settings::default() };
        let err = s.endpoints("reg.example", None).unwrap_err().to_string();
        assert!(err.contains("client.key") && err.contains("client.cert"), "{err}");
        fs::rename(host.join("client.cert"), host.join("lonely.key")).unwrap();
        let err = s.endpoints("reg.example", None).unwrap_err().to_string();
        assert!(err.contains("lonely.cert") && err.contains("lonely.key"), "{err}");
    }

    #[test]
    fn hosts_cannot_escape_certs_dirs() {
        let s = Settings::default();
        for bad in ["..", "a/../b", ""] {
            assert!(matches!(s.endpoints(bad, Some(true)), Err(SettingsError::InvalidHost(_))), "{bad}");
        }
    }

    #[test]
    fn host_of_handles_ports_and_ipv6() {
        assert_eq!(host_of("reg:5000"), "reg");
        assert_eq!(host_of("reg"), "reg");
        assert_eq!(host_of("[::1]:5000"), "::1");
        assert_eq!(host_of("::1"), "::1");
    }
}
