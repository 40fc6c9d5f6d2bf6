//! One registry, reached through the first endpoint that answers: every request of the
//! distribution spec a pull or push needs, authenticated on demand (a 401 is answered
//! with a token for the scopes the request needs, then the request is sent again),
//! with 429s waited out as `Retry-After` asks and transient failures retried.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use gantry_image::Digest;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use crate::auth::{basic_header, fetch_token, parse_challenge, Challenge};
use crate::credentials::Credentials;
use crate::error::{transport_cause, RegistryError};
use crate::settings::{Endpoint, Settings};

/// Every manifest type gantry reads, in the order it prefers them.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest or index accepted (containerd's limit).
pub const MAX_MANIFEST: usize = 4 << 20;

/// Attempts for a request that fails transiently (connection lost, 5xx).
pub(crate) const ATTEMPTS: u32 = 6;
/// The longest `Retry-After` gantry waits out by itself; beyond that the 429 is reported.
const MAX_RETRY_AFTER: u64 = 30;

/// A manifest or index as the registry sent it, with the digest of those exact bytes.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// What asking to mount a blob from another repository gave.
pub enum Mount {
    Mounted,
    /// The registry did not mount it but opened an upload instead.
    Upload(String),
}

/// A search hit, from `/v1/search` or made from `_catalog`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SearchResult {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub star_count: u64,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub is_automated: bool,
}

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    /// Bearer tokens by the scopes they were issued for.
    tokens: HashMap<String, String>,
}

/// A connection to one registry.
pub struct Registry {
    http: reqwest::Client,
    endpoint: Endpoint,
    /// The registry as references name it (`docker.io`), for messages and credentials.
    domain: String,
    creds: Option<Credentials>,
    auth: tokio::sync::Mutex<AuthState>,
}

/// The scope a pull of `repo` needs.
pub fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

/// The scope a push to `repo` needs.
pub fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn http_client(endpoint: &Endpoint) -> Result<reqwest::Client, RegistryError> {
    let tls_err = |what: &str, e: reqwest::Error| RegistryError::Connect {
        url: endpoint.url.clone(),
        cause: format!("{what}: {}", transport_cause(&e)),
    };
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("gantry/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(120))
        .redirect(reqwest::redirect::Policy::limited(10))
        .danger_accept_invalid_certs(!endpoint.tls.verify);
    for pem in &endpoint.tls.ca_pems {
        for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| tls_err("reading a CA certificate", e))? {
            b = b.add_root_certificate(cert);
        }
    }
    if let Some((cert, key)) = &endpoint.tls.client {
        let mut pem = cert.clone();
        pem.push(b'\n');
        pem.extend_from_slice(key);
        b = b.identity(reqwest::Identity::from_pem(&pem).map_err(|e| tls_err("reading the client certificate", e))?);
    }
    b.build().map_err(|e| tls_err("setting up TLS", e))
}

/// Reads a whole (small) body, refusing more than `max` bytes.
pub(crate) async fn read_limited(resp: Response, max: usize) -> Result<Vec<u8>, RegistryError> {
    let url = resp.url().clone();
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(RegistryError::Protocol(format!("{url}: the answer is larger than {max} bytes")));
    }
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| RegistryError::Connect { url: url.to_string(), cause: transport_cause(&e) })?;
        if out.len() + chunk.len() > max {
            return Err(RegistryError::Protocol(format!("{url}: the answer is larger than {max} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Seconds a 429 asks to wait (`Retry-After: 5`; an HTTP date or nothing counts as 1).
fn retry_after(headers: &HeaderMap) -> u64 {
    headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()).unwrap_or(1)
}

pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(5))
}

impl Registry {
    /// Connects to the registry of `domain`: the first endpoint (mirror, TLS, then plain
    /// HTTP where allowed) whose `/v2/` answers. Mirrors serve pulls only.
    pub async fn connect(
        settings: &Settings,
        domain: &str,
        creds: Option<Credentials>,
        tls_verify: Option<bool>,
        for_push: bool,
    ) -> Result<Registry, RegistryError> {
        // When every endpoint fails, the last one's error is the telling one: for an
        // insecure registry that is plain HTTP, as with docker.
        let mut last_err = None;
        for endpoint in settings.endpoints(domain, tls_verify)? {
            if for_push && endpoint.mirror {
                continue;
            }
            let http = http_client(&endpoint)?;
            let reg =
                Registry { http, endpoint, domain: domain.to_string(), creds: creds.clone(), auth: Default::default() };
            match reg.ping().await {
                Ok(()) => return Ok(reg),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| RegistryError::Protocol(format!("{domain}: no endpoint to reach it"))))
    }

    /// `GET /v2/`: learns how the registry wants to be authenticated.
    async fn ping(&self) -> Result<(), RegistryError> {
        let url = self.url("/v2/");
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| RegistryError::Connect { url: format!("Get {url:?}"), cause: transport_cause(&e) })?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => {
                self.auth.lock().await.challenge = challenge_of(resp.headers());
                Ok(())
            }
            // A plain web server is not a registry: try the next endpoint.
            _ => Err(RegistryError::from_response(resp).await),
        }
    }

    /// Checks the credentials against the registry (what `login` does before saving
    /// them): a token must be granted, or Basic auth must be accepted.
    pub async fn verify_credentials(&self) -> Result<(), RegistryError> {
        let challenge = self.auth.lock().await.challenge.clone();
        match challenge {
            None => Ok(()),
            Some(Challenge::Bearer { realm, service, .. }) => {
                fetch_token(&self.http, &self.domain, &realm, service.as_deref(), &[], self.creds.as_ref()).await?;
                Ok(())
            }
            Some(Challenge::Basic) => {
                let resp = self.send(&[], || self.http.get(self.url("/v2/"))).await?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(RegistryError::from_response(resp).await)
                }
            }
        }
    }

    /// The registry as references name it.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The endpoint in use, e.g. `http://127.0.0.1:5000`.
    pub fn base_url(&self) -> &str {
        &self.endpoint.url
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.endpoint.url, path)
    }

    /// The `Authorization` value for `scopes`, fetching a token when the registry
    /// wants one and none is cached.
    async fn authorization(&self, scopes: &[String], fresh: bool) -> Result<Option<String>, RegistryError> {
        let mut state = self.auth.lock().await;
        match state.challenge.clone() {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.creds.as_ref().map(basic_header)),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = scopes.join(" ");
                if !fresh {
                    if let Some(t) = state.tokens.get(&key) {
                        return Ok(Some(format!("Bearer {t}")));
                    }
                }
                let token =
                    fetch_token(&self.http, &self.domain, &realm, service.as_deref(), scopes, self.creds.as_ref())
                        .await?;
                state.tokens.insert(key, token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// Sends a request built by `make` (again on every attempt), authenticating as
    /// `scopes` need. Returns the response whatever its status, except: a 401 is
    /// answered once with fresh auth, a 429 is waited out (up to `MAX_RETRY_AFTER`),
    /// and lost connections or 5xx are retried with backoff.
    pub(crate) async fn send(
        &self,
        scopes: &[String],
        make: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let mut fresh_auth = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = make();
            if let Some(h) = self.authorization(scopes, fresh_auth).await? {
                req = req.header(AUTHORIZATION, h);
            }
            let built = req.build().map_err(|e| RegistryError::Protocol(format!("building a request: {e}")))?;
            let shown = format!("{} {:?}", title_case(built.method()), strip_query(built.url()));
            let result = self.http.execute(built).await;
            let resp = match result {
                Ok(r) => r,
                Err(e) if attempt < ATTEMPTS && (e.is_connect() || e.is_request() || e.is_timeout()) => {
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(RegistryError::Connect { url: shown, cause: transport_cause(&e) }),
            };
            match resp.status() {
                StatusCode::UNAUTHORIZED if !fresh_auth => {
                    // The challenge may name another realm or scope than the ping's.
                    if let Some(c) = challenge_of(resp.headers()) {
                        self.auth.lock().await.challenge = Some(c);
                    }
                    fresh_auth = true;
                }
                StatusCode::UNAUTHORIZED => {
                    let body = read_limited(resp, 64 << 10).await.unwrap_or_default();
                    let message = match RegistryError::from_parts(StatusCode::UNAUTHORIZED, &body) {
                        RegistryError::Api { message, .. } => message,
                        _ => String::new(),
                    };
                    return Err(RegistryError::Unauthorized { registry: self.domain.clone(), message });
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    let wait = retry_after(resp.headers());
                    if wait > MAX_RETRY_AFTER || attempt >= ATTEMPTS {
                        return Err(RegistryError::TooManyRequests {
                            registry: self.domain.clone(),
                            retry_after: wait,
                        });
                    }
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
                s if s.is_server_error() && attempt < ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                _ => return Ok(resp),
            }
        }
    }

    /// Fetches a manifest or index by tag or digest; by digest, the bytes are verified.
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Result<Fetched, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let resp = self.send(&[pull_scope(repo)], || self.http.get(&url).header(ACCEPT, MANIFEST_ACCEPT)).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            let err = RegistryError::from_response(resp).await;
            return Err(match err {
                RegistryError::Api { ref code, .. } if code == "NAME_UNKNOWN" || code == "NAME_INVALID" => err,
                _ => RegistryError::ManifestUnknown(format!("{}/{repo}:{reference}", self.domain)),
            });
        }
        if !resp.status().is_success() {
            return Err(RegistryError::from_response(resp).await);
        }
        let media_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let bytes = read_limited(resp, MAX_MANIFEST).await?;
        let digest = Digest::of(&bytes);
        if let Ok(expected) = reference.parse::<Digest>() {
            if expected != digest {
                return Err(RegistryError::DigestMismatch {
                    what: format!("manifest {repo}@{reference}"),
                    expected,
                    actual: digest,
                });
            }
        }
        // Registries that send a generic type: the manifest's own mediaType decides.
        let media_type = match media_type.as_str() {
            "" | "application/json" | "text/plain" | "application/octet-stream" => {
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("mediaType").and_then(|m| m.as_str()).map(str::to_string))
                    .unwrap_or(media_type)
            }
            _ => media_type,
        };
        Ok(Fetched { bytes, media_type, digest })
    }

    /// Stores a manifest under `reference` (a tag or its digest) and returns the digest
    /// the registry reports (checked against the bytes when it sends one).
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let resp = self
            .send(&[push_scope(repo)], || self.http.put(&url).header(CONTENT_TYPE, media_type).body(bytes.to_vec()))
            .await?;
        if !resp.status().is_success() {
            return Err(RegistryError::from_response(resp).await);
        }
        let digest = Digest::of(bytes);
        if let Some(claimed) = resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()) {
            if claimed.parse::<Digest>().ok() != Some(digest) {
                return Err(RegistryError::Protocol(format!(
                    "{}: the registry stored the manifest under another digest ({claimed})",
                    self.domain
                )));
            }
        }
        Ok(digest)
    }

    /// `HEAD` of a blob: its size when the repository has it.
    pub async fn blob_size(
        &self,
        repo: &str,
        digest: &Digest,
        scopes: &[String],
    ) -> Result<Option<u64>, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let resp = self.send(scopes, || self.http.head(&url)).await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(resp.content_length().unwrap_or(0))),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(RegistryError::from_parts(s, &[])),
        }
    }

    /// Starts downloading a blob from byte `offset` (a `Range` request when not 0).
    /// Returns the response and the offset its body starts at (0 when the registry
    /// ignored the range).
    pub async fn get_blob(&self, repo: &str, digest: &Digest, offset: u64) -> Result<(Response, u64), RegistryError> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let resp = self
            .send(&[pull_scope(repo)], || {
                let req = self.http.get(&url);
                if offset > 0 {
                    req.header(reqwest::header::RANGE, format!("bytes={offset}-"))
                } else {
                    req
                }
            })
            .await?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT if offset > 0 => Ok((resp, offset)),
            StatusCode::OK => Ok((resp, 0)),
            _ => Err(RegistryError::from_response(resp).await),
        }
    }

    /// Asks the registry to mount `digest` from repository `from` into `repo`.
    pub async fn mount_blob(&self, repo: &str, digest: &Digest, from: &str) -> Result<Mount, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/blobs/uploads/"));
        let scopes = [push_scope(repo), pull_scope(from)];
        let resp = self
            .send(&scopes, || {
                self.http
                    .post(&url)
                    .query(&[("mount", digest.to_string().as_str()), ("from", from)])
                    .header(CONTENT_LENGTH, 0)
            })
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => Ok(Mount::Upload(self.location(&resp)?)),
            _ => Err(RegistryError::from_response(resp).await),
        }
    }

    /// Opens an upload session; returns its location.
    pub async fn start_upload(&self, repo: &str) -> Result<String, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/blobs/uploads/"));
        let resp = self.send(&[push_scope(repo)], || self.http.post(&url).header(CONTENT_LENGTH, 0)).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(RegistryError::from_response(resp).await);
        }
        self.location(&resp)
    }

    /// Sends bytes to an upload session: the whole blob (`PUT ?digest=`, monolithic,
    /// when `finish`) or one part (`PATCH`, with `Content-Range` when `range_start` is
    /// given, a streamed part otherwise). Returns the session's next location.
    pub async fn upload(
        &self,
        repo: &str,
        location: &str,
        body: reqwest::Body,
        len: Option<u64>,
        range_start: Option<u64>,
        finish: Option<&Digest>,
    ) -> Result<String, RegistryError> {
        let mut url = reqwest::Url::parse(location)
            .map_err(|_| RegistryError::Protocol(format!("{}: bad upload location {location:?}", self.domain)))?;
        let method = match finish {
            Some(d) => {
                url.query_pairs_mut().append_pair("digest", &d.to_string());
                Method::PUT
            }
            None => Method::PATCH,
        };
        let auth = self.authorization(&[push_scope(repo)], false).await?;
        let mut req = self.http.request(method, url.clone()).header(CONTENT_TYPE, "application/octet-stream");
        if let Some(h) = auth {
            req = req.header(AUTHORIZATION, h);
        }
        if let Some(n) = len {
            req = req.header(CONTENT_LENGTH, n);
            if let (Some(start), true) = (range_start, n > 0) {
                req = req.header("content-range", format!("{start}-{}", start + n - 1));
            }
        }
        let resp = req.body(body).send().await.map_err(|e| RegistryError::Connect {
            url: format!("{} {:?}", if finish.is_some() { "Put" } else { "Patch" }, strip_query(&url)),
            cause: transport_cause(&e),
        })?;
        let expected = if finish.is_some() { StatusCode::CREATED } else { StatusCode::ACCEPTED };
        if resp.status() != expected {
            return Err(RegistryError::from_response(resp).await);
        }
        match finish {
            Some(_) => Ok(String::new()),
            None => self.location(&resp),
        }
    }

    /// The absolute URL in a `Location` header (registries may send relative ones).
    fn location(&self, resp: &Response) -> Result<String, RegistryError> {
        let raw =
            resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(|| {
                RegistryError::Protocol(format!("{}: an upload answer without a Location", self.domain))
            })?;
        resp.url()
            .join(raw)
            .map(|u| u.to_string())
            .map_err(|_| RegistryError::Protocol(format!("{}: bad upload location {raw:?}", self.domain)))
    }

    /// Every tag of `repo`, following the spec's `Link` pagination.
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut out = Vec::new();
        let mut next = Some(format!("/v2/{repo}/tags/list"));
        while let Some(path) = next.take() {
            let url = self.url(&path);
            let resp = self.send(&[pull_scope(repo)], || self.http.get(&url)).await?;
            if !resp.status().is_success() {
                return Err(RegistryError::from_response(resp).await);
            }
            next = next_link(resp.headers());
            let body = read_limited(resp, MAX_MANIFEST).await?;
            let list: TagList = serde_json::from_slice(&body)
                .map_err(|e| RegistryError::Protocol(format!("{}: bad tag list: {e}", self.domain)))?;
            out.extend(list.tags.unwrap_or_default());
        }
        Ok(out)
    }

    /// Repository names from `_catalog`, at most `limit`.
    pub async fn catalog(&self, limit: usize) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Vec<String>,
        }
        let mut out = Vec::new();
        let mut next = Some("/v2/_catalog?n=1000".to_string());
        let scopes = ["registry:catalog:*".to_string()];
        while let Some(path) = next.take() {
            let url = self.url(&path);
            let resp = self.send(&scopes, || self.http.get(&url)).await?;
            if !resp.status().is_success() {
                return Err(RegistryError::from_response(resp).await);
            }
            next = next_link(resp.headers());
            let body = read_limited(resp, MAX_MANIFEST).await?;
            let c: Catalog = serde_json::from_slice(&body)
                .map_err(|e| RegistryError::Protocol(format!("{}: bad catalog: {e}", self.domain)))?;
            out.extend(c.repositories);
            if out.len() >= limit {
                out.truncate(limit);
                break;
            }
        }
        Ok(out)
    }

    /// Docker Hub's (and some registries') `/v1/search`; `None` when the registry has no
    /// such API.
    pub async fn search_v1(&self, term: &str, limit: usize) -> Result<Option<Vec<SearchResult>>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            results: Vec<SearchResult>,
        }
        let url = self.url("/v1/search");
        let n = limit.to_string();
        let resp = self.send(&[], || self.http.get(&url).query(&[("q", term), ("n", n.as_str())])).await?;
        if resp.status() == StatusCode::NOT_FOUND || resp.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(RegistryError::from_response(resp).await);
        }
        let body = read_limited(resp, MAX_MANIFEST).await?;
        match serde_json::from_slice::<Answer>(&body) {
            Ok(a) => Ok(Some(a.results)),
            Err(_) => Ok(None),
        }
    }
}

fn challenge_of(headers: &HeaderMap) -> Option<Challenge> {
    headers.get_all(WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()).find_map(parse_challenge)
}

/// The path of a `Link: </v2/...?n=100&last=x>; rel="next"` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("link")?.to_str().ok()?;
    if !v.contains("rel=\"next\"") {
        return None;
    }
    let start = v.find('<')? + 1;
    let end = v[start..].find('>')? + start;
    let target = &v[start..end];
    // Only a path on the same registry is followed.
    target.starts_with("/v2/").then(|| target.to_string())
}

fn title_case(m: &Method) -> String {
    let s = m.as_str();
    let mut out = s[..1].to_string();
    out.push_str(&s[1..].to_ascii_lowercase());
    out
}

/// A URL for messages: upload locations carry state (and some registries signatures)
/// in their query, which is noise at best.
fn strip_query(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_retry_after() {
        let mut h = HeaderMap::new();
        h.insert("link", "</v2/x/tags/list?n=2&last=b>; rel=\"next\"".parse().unwrap());
        assert_eq!(next_link(&h).as_deref(), Some("/v2/x/tags/list?n=2&last=b"));
        h.insert("link", "<https://elsewhere/v2/x>; rel=\"next\"".parse().unwrap());
        assert_eq!(next_link(&h), None);
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), 7);
        h.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), 1);
    }
}
