//! Registry authentication: the `WWW-Authenticate` challenges of a 401 and the token
//! service of Docker's token spec (anonymous or with credentials, password or identity
//! token), or Basic auth. Tokens are cached per scope for the life of one command.

use std::collections::HashMap;

use base64::Engine;

use crate::credentials::Credentials;
use crate::error::{transport_cause, RegistryError};

/// What a registry asked for in its 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

/// Parses a `WWW-Authenticate` value (`Bearer realm="...",service="...",scope="..."`).
/// Unknown schemes give `None`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// `key="quoted, value",key2=token` pairs; keys lower-cased.
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if chars.next().is_none() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_string();
        }
        out.insert(key.trim().to_ascii_lowercase(), value);
    }
}

/// The `Authorization` value for Basic auth.
pub fn basic_header(creds: &Credentials) -> String {
    let raw = format!("{}:{}", creds.username, creds.secret.expose());
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
}

/// Longest token answer accepted.
const MAX_TOKEN_BODY: usize = 1 << 20;

/// Asks the token service named by a Bearer challenge for a token covering `scopes`.
/// With a password the request is a GET with Basic auth (what docker does); with an
/// identity token it is the OAuth2 refresh-token POST. Without credentials the token
/// is anonymous (enough for public pulls).
pub async fn fetch_token(
    http: &reqwest::Client,
    registry: &str,
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    creds: Option<&Credentials>,
) -> Result<String, RegistryError> {
    let url = reqwest::Url::parse(realm)
        .map_err(|_| RegistryError::Protocol(format!("{registry}: the token realm {realm:?} is not a URL")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(RegistryError::Protocol(format!("{registry}: the token realm {realm:?} is not an http(s) URL")));
    }
    let req = match creds {
        Some(c) if c.identity_token => {
            let mut form = vec![
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", c.secret.expose().to_string()),
                ("client_id", "gantry".to_string()),
            ];
            form.extend(service.map(|s| ("service", s.to_string())));
            form.push(("scope", scopes.join(" ")));
            http.post(url.clone()).form(&form)
        }
        _ => {
            let mut query: Vec<(&str, &str)> = Vec::new();
            if let Some(s) = service {
                query.push(("service", s));
            }
            for s in scopes {
                query.push(("scope", s));
            }
            if let Some(c) = creds {
                query.push(("account", &c.username));
            }
            let req = http.get(url.clone()).query(&query);
            match creds {
                Some(c) => req.header(reqwest::header::AUTHORIZATION, basic_header(c)),
                None => req,
            }
        }
    };
    let shown = format!("{}://{}{}", url.scheme(), url.authority(), url.path());
    let resp =
        req.send().await.map_err(|e| RegistryError::Connect { url: shown.clone(), cause: transport_cause(&e) })?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        let body = crate::client::read_limited(resp, 64 << 10).await.unwrap_or_default();
        let message = match RegistryError::from_parts(status, &body) {
            RegistryError::Api { message, .. } if !message.is_empty() => message,
            _ => "incorrect username or password".to_string(),
        };
        return Err(RegistryError::Unauthorized { registry: registry.to_string(), message });
    }
    if !status.is_success() {
        return Err(RegistryError::from_response(resp).await);
    }
    let body = crate::client::read_limited(resp, MAX_TOKEN_BODY).await?;
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|e| RegistryError::Protocol(format!("{registry}: the token service's answer is not JSON: {e}")))?;
    let token = if answer.token.is_empty() { answer.access_token } else { answer.token };
    if token.is_empty() || token.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
        return Err(RegistryError::Protocol(format!("{registry}: the token service answered without a usable token")));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(parse_challenge("Basic realm=\"Registry Realm\""), Some(Challenge::Basic));
        assert_eq!(
            parse_challenge(
                "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/busybox:pull\""
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge("bearer realm=http://t/token, service=s"),
            Some(Challenge::Bearer { realm: "http://t/token".into(), service: Some("s".into()), scope: None })
        );
        assert_eq!(
            parse_challenge(r#"Bearer realm="a\"b",scope="x,y""#),
            Some(Challenge::Bearer { realm: "a\"b".into(), service: None, scope: Some("x,y".into()) })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge(""), None);
    }
}
