//! A token service for distribution's `token` auth (Docker's token authentication
//! specification), serving `/token` on its own 127.0.0.1 port from a thread of the test
//! process.
//!
//! - `GET /token?service=S&scope=T:NAME:ACTIONS[&scope=...][&offline_token=true]`: with
//!   `Authorization: Basic` of the configured user, every requested action is granted;
//!   without `Authorization`, a token is still issued (200) but grants nothing; with any
//!   other credentials the answer is 401 with a JSON `errors` body.
//! - `POST /token` (the OAuth2 form docker uses for logins): `grant_type=password` with
//!   `username`/`password`, or `grant_type=refresh_token` with a refresh token issued
//!   earlier; `scope` holds space-separated scopes.
//!
//! Tokens are JWTs signed with ES256 whose `x5c` header carries the signing certificate;
//! the registry verifies that chain against its `rootcertbundle` (the same certificate).

use std::collections::HashMap;
use std::io::{self, BufReader};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use super::http;
use super::pki::TokenSigner;

/// The `service` the registry names in its challenges and expects as token audience.
pub const SERVICE: &str = "gantry-test-registry";
/// The `iss` of the tokens, which the registry trusts.
pub const ISSUER: &str = "gantry-test-issuer";
/// Lifetime of an issued token, in seconds.
pub const TOKEN_LIFETIME_SECS: i64 = 300;

struct Shared {
    signer: TokenSigner,
    user: String,
    password: String,
    requests: Mutex<Vec<String>>,
    /// Refresh token -> user it was issued to.
    refresh_tokens: Mutex<HashMap<String, String>>,
}

pub(crate) struct TokenServer {
    server: http::Server,
    shared: Arc<Shared>,
}

impl TokenServer {
    pub fn start(user: &str, password: &str) -> TokenServer {
        let shared = Arc::new(Shared {
            signer: TokenSigner::new(),
            user: user.to_string(),
            password: password.to_string(),
            requests: Mutex::new(Vec::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
        });
        let handler_shared = shared.clone();
        let server = http::Server::start("token-service", |_| {
            move |conn| {
                let _ = handle(&handler_shared, conn);
            }
        });
        TokenServer { server, shared }
    }

    /// `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.server.addr)
    }

    pub fn cert_pem(&self) -> &str {
        &self.shared.signer.cert_pem
    }

    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }
}

fn handle(shared: &Shared, conn: TcpStream) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    let Some(head) = http::read_head(&mut r)? else { return Ok(()) };
    let (method, target) = head.request_line();
    let (method, target) = (method.to_string(), target.to_string());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let authorization = head.get("authorization").map(str::to_string);
    let scheme = match &authorization {
        Some(a) => a.split(' ').next().unwrap_or("").to_ascii_lowercase(),
        None => "none".to_string(),
    };

    if path != "/token" {
        record(shared, format!("{method} {target} authorization={scheme}"));
        return error(&mut w, "404 Not Found", "NOT_FOUND", "no such endpoint");
    }
    match method.as_str() {
        "GET" => {
            record(shared, format!("{method} {target} authorization={scheme}"));
            let q = http::parse_form(query);
            if let Some(resp) = wrong_service(&q) {
                return error(&mut w, "400 Bad Request", "DENIED", &resp);
            }
            let scopes: Vec<String> = q.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect();
            let subject = match authorization.as_deref() {
                None => None,
                Some(a) => match basic_credentials(a) {
                    Some((u, p)) if u == shared.user && p == shared.password => Some(u),
                    _ => return unauthorized(&mut w),
                },
            };
            let offline = q.iter().any(|(k, v)| k == "offline_token" && v == "true");
            let token = issue(shared, subject.as_deref(), &scopes);
            let mut body = json!({
                "token": token,
                "access_token": token,
                "expires_in": TOKEN_LIFETIME_SECS,
                "issued_at": now_rfc3339(),
            });
            if let (true, Some(user)) = (offline, subject.as_deref()) {
                body["refresh_token"] = Value::String(new_refresh_token(shared, user));
            }
            send_json(&mut w, "200 OK", &body)
        }
        "POST" => {
            let form = http::parse_form(&String::from_utf8_lossy(&http::read_body(&head, &mut r)?));
            let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            let grant = field("grant_type").unwrap_or_default();
            record(shared, format!("{method} {target} grant_type={grant} authorization={scheme}"));
            if let Some(resp) = wrong_service(&form) {
                return error(&mut w, "400 Bad Request", "DENIED", &resp);
            }
            let user = match grant.as_str() {
                "password" => {
                    let (u, p) = (field("username").unwrap_or_default(), field("password").unwrap_or_default());
                    if u != shared.user || p != shared.password {
                        return unauthorized(&mut w);
                    }
                    u
                }
                "refresh_token" => {
                    let t = field("refresh_token").unwrap_or_default();
                    match shared.refresh_tokens.lock().unwrap().get(&t) {
                        Some(u) => u.clone(),
                        None => return unauthorized(&mut w),
                    }
                }
                _ => return error(&mut w, "400 Bad Request", "UNSUPPORTED", "unsupported grant_type"),
            };
            let scope_text: Vec<String> = form.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect();
            let scopes: Vec<String> =
                scope_text.iter().flat_map(|s| s.split_whitespace().map(str::to_string)).collect();
            let token = issue(shared, Some(&user), &scopes);
            let body = json!({
                "access_token": token,
                "scope": scopes.join(" "),
                "expires_in": TOKEN_LIFETIME_SECS,
                "issued_at": now_rfc3339(),
                "refresh_token": new_refresh_token(shared, &user),
            });
            send_json(&mut w, "200 OK", &body)
        }
        _ => {
            record(shared, format!("{method} {target} authorization={scheme}"));
            error(&mut w, "405 Method Not Allowed", "UNSUPPORTED", "method not allowed")
        }
    }
}

fn record(shared: &Shared, line: String) {
    shared.requests.lock().unwrap().push(line);
}

/// An error message when the request names a service other than the registry's.
fn wrong_service(params: &[(String, String)]) -> Option<String> {
    match params.iter().find(|(k, _)| k == "service") {
        Some((_, s)) if s != SERVICE => Some(format!("unknown service {s:?}, expected {SERVICE:?}")),
        _ => None,
    }
}

fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (u, p) = decoded.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn new_refresh_token(shared: &Shared, user: &str) -> String {
    let t = shared.signer.random_hex(24);
    shared.refresh_tokens.lock().unwrap().insert(t.clone(), user.to_string());
    t
}

/// `type:name:actions` -> (type, name, actions). The name may itself hold colons
/// (`repository:host:5000/app:pull`), so the type ends at the first colon and the actions
/// start after the last.
fn parse_scope(scope: &str) -> Option<(String, String, Vec<String>)> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let actions = actions.split(',').filter(|a| !a.is_empty()).map(str::to_string).collect();
    Some((kind.to_string(), name.to_string(), actions))
}

/// A signed JWT for `subject` (None: anonymous, granted nothing).
fn issue(shared: &Shared, subject: Option<&str>, scopes: &[String]) -> String {
    let access: Vec<Value> = match subject {
        None => Vec::new(),
        Some(_) => scopes
            .iter()
            .filter_map(|s| parse_scope(s))
            .map(|(kind, name, actions)| json!({"type": kind, "name": name, "actions": actions}))
            .collect(),
    };
    let now = chrono::Utc::now().timestamp();
    let header = json!({
        "typ": "JWT",
        "alg": "ES256",
        "x5c": [STANDARD.encode(&shared.signer.cert_der)],
    });
    let claims = json!({
        "iss": ISSUER,
        "sub": subject.unwrap_or(""),
        "aud": SERVICE,
        "exp": now + TOKEN_LIFETIME_SECS,
        "nbf": now - 1,
        "iat": now,
        "jti": shared.signer.random_hex(16),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    let sig = shared.signer.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn send_json(w: &mut TcpStream, status: &str, body: &Value) -> io::Result<()> {
    let bytes = serde_json::to_vec(body).unwrap();
    http::respond(w, status, &[("Content-Type", "application/json".to_string())], &bytes)
}

fn error(w: &mut TcpStream, status: &str, code: &str, message: &str) -> io::Result<()> {
    send_json(w, status, &json!({"errors": [{"code": code, "message": message, "detail": null}]}))
}

fn unauthorized(w: &mut TcpStream) -> io::Result<()> {
    let body = json!({"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password", "detail": null}]});
    let bytes = serde_json::to_vec(&body).unwrap();
    let headers = [
        ("Content-Type", "application/json".to_string()),
        ("WWW-Authenticate", "Basic realm=\"gantry-test-token-service\"".to_string()),
    ];
    http::respond(w, "401 Unauthorized", &headers, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_split_at_the_first_and_last_colon() {
        assert_eq!(
            parse_scope("repository:127.0.0.1:5000/app:pull,push"),
            Some(("repository".into(), "127.0.0.1:5000/app".into(), vec!["pull".into(), "push".into()]))
        );
        assert_eq!(parse_scope("registry:catalog:*"), Some(("registry".into(), "catalog".into(), vec!["*".into()])));
        assert_eq!(parse_scope("nonsense"), None);
    }

    #[test]
    fn basic_credentials_decode() {
        let h = format!("Basic {}", STANDARD.encode("alice:s3:cret"));
        assert_eq!(basic_credentials(&h), Some(("alice".into(), "s3:cret".into())));
        assert_eq!(basic_credentials("Bearer abc"), None);
    }
}
