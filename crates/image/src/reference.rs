//! Image references (`busybox`, `quay.io/org/app:1.2`, `name@sha256:...`) with Docker's
//! grammar and normalization.
//!
//! This is a hand-written port of the behaviour of `github.com/distribution/reference`
//! (`ParseNormalizedNamed`, `FamiliarName`, `FamiliarString`, `TagNameOnly`), which is
//! what the docker CLI and daemon use: a user who types `gantry pull Busybox` must get
//! the same answer, and the same error text, as with `docker pull Busybox`.
//!
//! Grammar (after normalization):
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [ domain "/" ] path-component ( "/" path-component )*
//! domain           := host [ ":" port ]
//! host             := domain-name | "[" ipv6-chars "]"
//! domain-name      := domain-component ( "." domain-component )*
//! domain-component := [A-Za-z0-9] | [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]
//! port             := [0-9]+
//! path-component   := alnum ( separator alnum )*
//! alnum            := [a-z0-9]+
//! separator        := "." | "_" | "__" | "-"+
//! tag              := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! digest           := algorithm ":" [0-9A-Fa-f]{32,}
//! algorithm        := [A-Za-z][A-Za-z0-9]* ( [-_+.] [A-Za-z][A-Za-z0-9]* )*
//! ```
//!
//! Normalization: a first path element is a registry domain only when it contains `.`
//! or `:`, is `localhost`, or has upper-case letters; otherwise the domain is
//! `docker.io`. `index.docker.io` becomes `docker.io`, and a single-element path on
//! `docker.io` gets the `library/` namespace of official images.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::Digest;

/// The registry that familiar names like `busybox` or `user/app` live on.
const DEFAULT_DOMAIN: &str = "docker.io";
/// Docker Hub's historical name ("the Docker Index"), still accepted as an alias.
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Namespace of Docker Hub's official images: `busybox` is `library/busybox`.
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag `TagNameOnly` adds to a bare repository name.
const DEFAULT_TAG: &str = "latest";
/// Longest repository name (domain and path) distribution accepts.
const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// Longest tag: one leading character and up to 127 more.
const TAG_LENGTH_MAX: usize = 128;

/// Why a string is not an image reference. The `Display` texts are docker's own
/// messages, because the CLI prints them verbatim and scripts match on them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The string does not match the reference grammar (also: empty string, empty
    /// path components, bad or over-long tag, digest with fewer than 32 hex digits).
    #[error("invalid reference format")]
    InvalidFormat,
    /// Upper-case letters in the repository path, caught before the grammar is applied.
    #[error("invalid reference format: repository name must be lowercase")]
    RepositoryNameUppercase,
    /// Upper-case letters that only the full-grammar check notices: the first element
    /// was taken for a domain because of its upper-case letters (`A_b/c`), yet is no
    /// valid domain. Docker prints this shorter text in that rare case.
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// The name (domain and path, `docker.io/library/` included) exceeds 255 bytes.
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// A bare 64-hex-digit string is an image ID, never a repository name; refusing it
    /// keeps `gantry run <id>` and `gantry run <name>` unambiguous.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexRepositoryName(String),
    /// The digest after `@` is malformed (upper-case hex, upper-case algorithm, ...).
    #[error("invalid checksum digest format")]
    DigestInvalidFormat,
    /// The digest after `@` has a known algorithm but the wrong number of hex digits.
    #[error("invalid checksum digest length")]
    DigestInvalidLength,
    /// The digest after `@` is well-formed but not sha256, the only algorithm we store.
    #[error("unsupported digest algorithm")]
    DigestUnsupported,
    /// [`Reference::with_tag`] was given something that is not a valid tag.
    #[error("invalid tag format")]
    InvalidTag,
}

/// A normalized image reference: a repository (`domain` + `path`), optionally a tag and
/// optionally a digest. Both may be present (`name:tag@sha256:...`), as docker allows.
///
/// The domain is empty only in one corner that distribution also has: a first element
/// with a `.` that is a valid path component but no valid domain (`foo_bar.com/app`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses a reference as the docker CLI does (`ParseNormalizedNamed`):
    /// `busybox` becomes `docker.io/library/busybox`, with no tag added (see
    /// [`Reference::with_default_tag`]).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if is_identifier(s) {
            return Err(ReferenceError::HexRepositoryName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        // Everything before the first ':' must be lower case: checked here, before the
        // grammar, so the user gets the specific message rather than a generic one.
        let remote = remainder.split_once(':').map_or(remainder.as_str(), |(remote, _)| remote);
        if has_upper(remote) {
            return Err(ReferenceError::RepositoryNameUppercase);
        }
        parse_full(&format!("{domain}/{remainder}"))
    }

    /// The registry: `docker.io`, `localhost:5000`, `[::1]:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry: `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full repository name: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The tag, if one was given (`parse` never invents one; see `with_default_tag`).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The pinned manifest digest, if one was given after `@`.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `TagNameOnly`: a bare repository means its `latest` tag; a reference that already
    /// has a tag or a digest is returned unchanged.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The same repository with this tag and no digest (as `docker tag` produces).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_valid_tag(tag) {
            return Err(ReferenceError::InvalidTag);
        }
        Ok(Reference { tag: Some(tag.to_string()), digest: None, ..self.repository() })
    }

    /// The same repository with this digest and no tag: the `RepoDigests` form
    /// `name@sha256:...`.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference { digest: Some(digest), ..self.repository() }
    }

    /// The repository alone, without tag or digest (`TrimNamed`).
    pub fn repository(&self) -> Reference {
        Reference { domain: self.domain.clone(), path: self.path.clone(), tag: None, digest: None }
    }

    /// `FamiliarName`: the short form docker shows in tables, without `docker.io/` and,
    /// for official images, without `library/`: `busybox`, `user/repo`,
    /// `localhost:5000/a/b`, `quay.io/x/y`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            // Only a single-element official name is shortened: `library/a/b` stays.
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.path.clone(),
        }
    }

    /// `FamiliarString`: the familiar name with tag and digest: `busybox:latest`,
    /// `busybox@sha256:...`, `busybox:1@sha256:...`.
    pub fn familiar(&self) -> String {
        let mut out = self.familiar_name();
        self.push_suffix(&mut out);
        out
    }

    fn push_suffix(&self, out: &mut String) {
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(&digest.to_string());
        }
    }
}

/// The full normalized form: `docker.io/library/busybox:latest`.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.name();
        self.push_suffix(&mut out);
        f.write_str(&out)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }
}

/// Serialized as the full normalized string, which parses back to the same value.
impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Reference, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// True for a valid tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`. Used to validate `-t`
/// arguments and tags given apart from a name.
pub fn is_valid_tag(s: &str) -> bool {
    let bytes = s.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            bytes.len() <= TAG_LENGTH_MAX
                && is_word(*first)
                && rest.iter().all(|&b| is_word(b) || b == b'.' || b == b'-')
        }
        None => false,
    }
}

/// True when `s` could be (a prefix of) an image ID: 1 to 64 lower-case hex digits,
/// optionally after `sha256:`. Commands that take "image or ID" try this first.
pub fn is_id_prefix(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    (1..=64).contains(&hex.len()) && hex.bytes().all(is_lower_hex)
}

/// `Parse` of distribution: the grammar on an already-normalized string, then the
/// length and digest checks, in distribution's order (so the same error wins).
fn parse_full(s: &str) -> Result<Reference, ReferenceError> {
    let Some(parts) = match_reference(s) else {
        // Distribution retries in lower case to tell "upper case" from "garbage".
        let lower = s.to_lowercase();
        if lower != s && match_reference(&lower).is_some() {
            return Err(ReferenceError::NameContainsUppercase);
        }
        return Err(ReferenceError::InvalidFormat);
    };
    if parts.name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong);
    }
    let digest = parts.digest.map(validate_digest).transpose()?;
    Ok(Reference {
        domain: parts.domain.to_string(),
        path: parts.path.to_string(),
        tag: parts.tag.map(str::to_string),
        digest,
    })
}

/// The pieces of a string that matches the reference grammar.
#[derive(Debug, PartialEq, Eq)]
struct Parts<'a> {
    /// Domain and path together, exactly as written.
    name: &'a str,
    domain: &'a str,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Matches the whole reference grammar (the anchored `ReferenceRegexp`).
fn match_reference(s: &str) -> Option<Parts<'_>> {
    // Neither name nor tag may contain '@', so the first one starts the digest.
    let (name_and_tag, digest) = match s.split_once('@') {
        Some((left, digest)) => (left, Some(digest)),
        None => (s, None),
    };
    if let Some(digest) = digest {
        if !is_digest_syntax(digest) {
            return None;
        }
    }
    // A tag cannot contain '/', and a name has ':' only in its domain, which is always
    // followed by '/': so the tag separator is the first ':' after the last '/'.
    let last_element = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_and_tag[last_element..].find(':') {
        Some(i) => {
            let colon = last_element + i;
            (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
        }
        None => (name_and_tag, None),
    };
    if let Some(tag) = tag {
        if !is_valid_tag(tag) {
            return None;
        }
    }
    let (domain, path) = split_name(name)?;
    Some(Parts { name, domain, path, tag, digest })
}

/// Splits a name into domain and path like the anchored name regexp: the first element
/// is the domain when it is a valid domain (preferred, as the regexp's optional group
/// is greedy); otherwise the whole name must be a path and the domain is empty.
fn split_name(name: &str) -> Option<(&str, &str)> {
    if let Some((first, rest)) = name.split_once('/') {
        if is_domain(first) && is_remote_name(rest) {
            return Some((first, rest));
        }
    }
    is_remote_name(name).then_some(("", name))
}

/// `splitDockerDomain`: decides whether the first element names a registry, and adds
/// Docker Hub's defaults. Returns (domain, remainder), the remainder still carrying any
/// tag and digest.
fn split_docker_domain(s: &str) -> (String, String) {
    let (domain, mut remainder) = match s.split_once('/') {
        // A single element ("ubuntu", "ubuntu:22.04") is always a Docker Hub name, even
        // "localhost" or "example.com": it must not be read as "host:port".
        None => (DEFAULT_DOMAIN, s.to_string()),
        Some((first, rest)) => {
            if first == LEGACY_DEFAULT_DOMAIN {
                (DEFAULT_DOMAIN, rest.to_string())
            } else if first == "localhost" || first.contains(['.', ':']) || has_upper(first) {
                // Upper case is never valid in a path, so such an element can only be
                // meant as a host name.
                (first, rest.to_string())
            } else {
                (DEFAULT_DOMAIN, s.to_string())
            }
        }
    };
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder.insert_str(0, OFFICIAL_REPO_PREFIX);
    }
    (domain.to_string(), remainder)
}

/// `domain-name | [ipv6]`, then an optional `:port`.
fn is_domain(s: &str) -> bool {
    let (host_ok, port) = match s.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            // Any mix of hex digits and colons, like distribution: no zone, no IPv4 tail.
            Some((ipv6, after)) => {
                (!ipv6.is_empty() && ipv6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':'), after)
            }
            None => return false,
        },
        None => match s.find(':') {
            Some(i) => (is_domain_name(&s[..i]), &s[i..]),
            None => (is_domain_name(s), ""),
        },
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// Dot-separated components of ASCII letters, digits and inner hyphens.
fn is_domain_name(s: &str) -> bool {
    s.split('.').all(|component| {
        let bytes = component.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                first.is_ascii_alphanumeric()
                    && last.is_ascii_alphanumeric()
                    && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
            }
            _ => false,
        }
    })
}

/// One or more '/'-separated path components.
fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
fn is_path_component(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    loop {
        let run_start = i;
        while i < bytes.len() && is_lower_alnum(bytes[i]) {
            i += 1;
        }
        if i == run_start {
            // Empty component, leading separator, or separator at the end.
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !is_lower_alnum(bytes[i]) {
            i += 1;
        }
        let sep = &bytes[sep_start..i];
        if !(sep == b"." || sep == b"_" || sep == b"__" || sep.iter().all(|&b| b == b'-')) {
            return false;
        }
    }
}

/// The digest syntax the reference grammar accepts; stricter checks follow in
/// [`validate_digest`].
fn is_digest_syntax(s: &str) -> bool {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return false;
    };
    let algorithm_ok = algorithm.split(['-', '_', '+', '.']).all(|component| {
        let bytes = component.as_bytes();
        bytes.first().is_some_and(u8::is_ascii_alphabetic) && bytes.iter().all(u8::is_ascii_alphanumeric)
    });
    algorithm_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// go-digest's `Validate` on a digest that passed [`is_digest_syntax`], with its error
/// for each case; then only sha256 is accepted, since it is all the store holds.
fn validate_digest(s: &str) -> Result<Digest, ReferenceError> {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return Err(ReferenceError::DigestInvalidFormat);
    };
    let hex_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            // Unknown algorithm: go-digest still calls it malformed unless the name is
            // lower case.
            let lower_case_name = algorithm
                .split(['-', '_', '+', '.'])
                .all(|component| !component.is_empty() && component.bytes().all(is_lower_alnum));
            return Err(if lower_case_name {
                ReferenceError::DigestUnsupported
            } else {
                ReferenceError::DigestInvalidFormat
            });
        }
    };
    if hex.len() != hex_len {
        return Err(ReferenceError::DigestInvalidLength);
    }
    if !hex.bytes().all(is_lower_hex) {
        return Err(ReferenceError::DigestInvalidFormat);
    }
    if algorithm != "sha256" {
        return Err(ReferenceError::DigestUnsupported);
    }
    Digest::from_hex(hex).map_err(|_| ReferenceError::DigestInvalidFormat)
}

/// Exactly 64 lower-case hex digits: an image ID, which distribution calls an identifier.
fn is_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(is_lower_hex)
}

/// Whether lower-casing changes `s` (Unicode-aware, like Go's `strings.ToLower` test).
fn has_upper(s: &str) -> bool {
    s.to_lowercase() != s
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// Go's `\w`: ASCII letters, digits and underscore.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX_F: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    const HEX_A: &str = "86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";

    fn sha(hex: &str) -> String {
        format!("sha256:{hex}")
    }

    fn ok(s: &str) -> Reference {
        match Reference::parse(s) {
            Ok(r) => r,
            Err(e) => panic!("{s:?} rejected: {e}"),
        }
    }

    /// (input, domain, path, tag, digest hex).
    type ComponentCase = (&'static str, &'static str, &'static str, Option<&'static str>, Option<&'static str>);

    /// Parsing succeeds with exactly these parts.
    #[test]
    fn parses_components() {
        let table: &[ComponentCase] = &[
            ("busybox", "docker.io", "library/busybox", None, None),
            ("busybox:latest", "docker.io", "library/busybox", Some("latest"), None),
            ("busybox:1.36.1-musl", "docker.io", "library/busybox", Some("1.36.1-musl"), None),
            ("library/busybox", "docker.io", "library/busybox", None, None),
            ("docker.io/busybox", "docker.io", "library/busybox", None, None),
            ("docker.io/library/busybox", "docker.io", "library/busybox", None, None),
            ("index.docker.io/busybox", "docker.io", "library/busybox", None, None),
            ("index.docker.io/library/busybox", "docker.io", "library/busybox", None, None),
            ("index.docker.io/docker/docker", "docker.io", "docker/docker", None, None),
            ("docker/docker", "docker.io", "docker/docker", None, None),
            ("docker.io/docker/docker", "docker.io", "docker/docker", None, None),
            ("library/foo/bar", "docker.io", "library/foo/bar", None, None),
            ("docker.io/library/foo/bar", "docker.io", "library/foo/bar", None, None),
            ("store/foo/bar", "docker.io", "store/foo/bar", None, None),
            ("other/library", "docker.io", "other/library", None, None),
            ("fooo/bar", "docker.io", "fooo/bar", None, None),
            ("ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base", None, None),
            ("test_com", "docker.io", "library/test_com", None, None),
            ("test_com/foo", "docker.io", "test_com/foo", None, None),
            ("test.com:tag", "docker.io", "library/test.com", Some("tag"), None),
            ("test.com:5000", "docker.io", "library/test.com", Some("5000"), None),
            ("test.com/foo", "test.com", "foo", None, None),
            ("test.com/repo:tag", "test.com", "repo", Some("tag"), None),
            ("test:5000/repo", "test:5000", "repo", None, None),
            ("test:5000/repo:tag", "test:5000", "repo", Some("tag"), None),
            ("test:8080/foo", "test:8080", "foo", None, None),
            ("test.com:8080/foo", "test.com:8080", "foo", None, None),
            ("test-com:8080/foo", "test-com:8080", "foo", None, None),
            ("xn--n3h.com/foo", "xn--n3h.com", "foo", None, None),
            ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo", None, None),
            ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", Some("xn--n3h.com"), None),
            ("localhost/foo", "localhost", "foo", None, None),
            ("localhost:5000/foo/bar", "localhost:5000", "foo/bar", None, None),
            ("localhost", "docker.io", "library/localhost", None, None),
            ("localhost:5000", "docker.io", "library/localhost", Some("5000"), None),
            ("docker.io:443/foo", "docker.io:443", "foo", None, None),
            ("127.0.0.1:5000/docker/docker", "127.0.0.1:5000", "docker/docker", None, None),
            ("127.0.0.1:5000/library/debian", "127.0.0.1:5000", "library/debian", None, None),
            ("127.0.0.1:5000/debian", "127.0.0.1:5000", "debian", None, None),
            ("127.0.0.1:8000/private/moonbase", "127.0.0.1:8000", "private/moonbase", None, None),
            ("192.168.0.1", "docker.io", "library/192.168.0.1", None, None),
            ("192.168.0.1:80", "docker.io", "library/192.168.0.1", Some("80"), None),
            ("192.168.0.1:8/debian", "192.168.0.1:8", "debian", None, None),
            ("192.168.1.1/repo", "192.168.1.1", "repo", None, None),
            ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", Some("5050"), None),
            ("example.com/private/moonbase", "example.com", "private/moonbase", None, None),
            ("example.com:8000/privatebasee", "example.com:8000", "privatebasee", None, None),
            ("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux", None, None),
            (
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
                "sub-dom1.foo.com",
                "bar/baz/quux",
                Some("some-long-tag"),
                None,
            ),
            (
                "b.gcr.io/test.example.com/my-app:test.example.com",
                "b.gcr.io",
                "test.example.com/my-app",
                Some("test.example.com"),
                None,
            ),
            ("gcr.io/library/busybox", "gcr.io", "library/busybox", None, None),
            ("quay.io/x/y", "quay.io", "x/y", None, None),
            (
                "registry.io/foo/project--id.module--name.ver---sion--name",
                "registry.io",
                "foo/project--id.module--name.ver---sion--name",
                None,
                None,
            ),
            (
                "example.com/some_separator__underscore/myimage",
                "example.com",
                "some_separator__underscore/myimage",
                None,
                None,
            ),
            ("docker-rules/docker", "docker.io", "docker-rules/docker", None, None),
            ("docker---rules/docker", "docker.io", "docker---rules/docker", None, None),
            ("dock__er/docker", "docker.io", "dock__er/docker", None, None),
            ("d/docker", "docker.io", "d/docker", None, None),
            ("jess/t", "docker.io", "jess/t", None, None),
            ("a", "docker.io", "library/a", None, None),
            ("0", "docker.io", "library/0", None, None),
            ("a.b.c", "docker.io", "library/a.b.c", None, None),
            // Upper case in the first element makes it a domain.
            ("Foo/bar", "Foo", "bar", None, None),
            ("FOO/bar", "FOO", "bar", None, None),
            ("Docker/docker", "Docker", "docker", None, None),
            ("Asdf.com/foo/bar", "Asdf.com", "foo/bar", None, None),
            // Tags may have upper case.
            ("lowercase:Uppercase", "docker.io", "library/lowercase", Some("Uppercase"), None),
            ("test.com:8000/foo:TAG5", "test.com:8000", "foo", Some("TAG5"), None),
            ("foo:_tag", "docker.io", "library/foo", Some("_tag"), None),
            ("foo:1.-_", "docker.io", "library/foo", Some("1.-_"), None),
            // A 64-char name that is not hex, and a hex one that is not a bare name.
            (
                "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
                "docker.io",
                "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
                None,
                None,
            ),
            (
                "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
                "docker.io",
                "library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
                None,
                None,
            ),
            (
                "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
                "docker.io",
                "library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
                None,
                None,
            ),
            ("dbcc1", "docker.io", "library/dbcc1", None, None),
            // "sha256:<hex>" is the name "sha256" with a 64-character tag.
            (
                "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "docker.io",
                "library/sha256",
                Some(HEX_F),
                None,
            ),
            // IPv6 registries.
            ("[fc00::1]:5000/docker", "[fc00::1]:5000", "docker", None, None),
            ("[fc00::1]:5000/docker/docker", "[fc00::1]:5000", "docker/docker", None, None),
            ("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000", "library/debian", None, None),
            ("[2001:db8::1]/repo", "[2001:db8::1]", "repo", None, None),
            ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", Some("tag"), None),
            ("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "repo", None, None),
            ("[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000", "repo", Some("tag"), None),
            ("[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", None, None),
            ("[::1]:5000/repo", "[::1]:5000", "repo", None, None),
            ("[::1]/repo", "[::1]", "repo", None, None),
            ("[fd00123123123]:75050/repo", "[fd00123123123]:75050", "repo", None, None),
            ("[ABCDEF]/repo", "[ABCDEF]", "repo", None, None),
            // Digests, with and without a tag.
            (
                "busybox@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
                "docker.io",
                "library/busybox",
                None,
                Some(HEX_A),
            ),
            (
                "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
                "docker.io",
                "library/busybox",
                Some("latest"),
                Some(HEX_A),
            ),
            (
                "test:5000/repo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "test:5000",
                "repo",
                None,
                Some(HEX_F),
            ),
            (
                "test:5000/repo:tag@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "test:5000",
                "repo",
                Some("tag"),
                Some(HEX_F),
            ),
            (
                "[2001:db8::1]:5000/repo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "[2001:db8::1]:5000",
                "repo",
                None,
                Some(HEX_F),
            ),
            (
                "[2001:db8::1]:5000/repo:tag@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "[2001:db8::1]:5000",
                "repo",
                Some("tag"),
                Some(HEX_F),
            ),
            (
                "localhost:8080@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "docker.io",
                "library/localhost",
                Some("8080"),
                Some(HEX_F),
            ),
            (
                "localhost@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "docker.io",
                "library/localhost",
                None,
                Some(HEX_F),
            ),
            // A first element with '.' that is no valid domain but a valid path: the
            // whole name is the path and the domain is empty, as in distribution.
            ("foo_bar.com/x", "", "foo_bar.com/x", None, None),
            ("a.b_c/d:tag", "", "a.b_c/d", Some("tag"), None),
            ("foo_bar.com:8080", "docker.io", "library/foo_bar.com", Some("8080"), None),
            ("foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", Some("8080"), None),
        ];
        for &(input, domain, path, tag, digest) in table {
            let r = ok(input);
            assert_eq!(r.domain(), domain, "domain of {input:?}");
            assert_eq!(r.path(), path, "path of {input:?}");
            assert_eq!(r.tag(), tag, "tag of {input:?}");
            assert_eq!(r.digest().map(|d| d.hex()), digest.map(str::to_string), "digest of {input:?}");
            let name = if domain.is_empty() { path.to_string() } else { format!("{domain}/{path}") };
            assert_eq!(r.name(), name, "name of {input:?}");
        }
    }

    /// (input, Display, familiar name, familiar string).
    #[test]
    fn normalized_and_familiar_forms() {
        let d = sha(HEX_A);
        let table: Vec<(String, String, &str, String)> = vec![
            ("busybox".into(), "docker.io/library/busybox".into(), "busybox", "busybox".into()),
            ("busybox:latest".into(), "docker.io/library/busybox:latest".into(), "busybox", "busybox:latest".into()),
            ("docker.io/library/busybox:1".into(), "docker.io/library/busybox:1".into(), "busybox", "busybox:1".into()),
            ("index.docker.io/library/busybox".into(), "docker.io/library/busybox".into(), "busybox", "busybox".into()),
            ("library/busybox".into(), "docker.io/library/busybox".into(), "busybox", "busybox".into()),
            ("docker.io/ubuntu".into(), "docker.io/library/ubuntu".into(), "ubuntu", "ubuntu".into()),
            ("fooo/bar".into(), "docker.io/fooo/bar".into(), "fooo/bar", "fooo/bar".into()),
            ("index.docker.io/fooo/bar".into(), "docker.io/fooo/bar".into(), "fooo/bar", "fooo/bar".into()),
            (
                "nonlibrary/ubuntu".into(),
                "docker.io/nonlibrary/ubuntu".into(),
                "nonlibrary/ubuntu",
                "nonlibrary/ubuntu".into(),
            ),
            ("library/foo/bar".into(), "docker.io/library/foo/bar".into(), "library/foo/bar", "library/foo/bar".into()),
            ("user/repo:v1".into(), "docker.io/user/repo:v1".into(), "user/repo", "user/repo:v1".into()),
            (
                "localhost:5000/a/b".into(),
                "localhost:5000/a/b".into(),
                "localhost:5000/a/b",
                "localhost:5000/a/b".into(),
            ),
            ("localhost/a".into(), "localhost/a".into(), "localhost/a", "localhost/a".into()),
            ("quay.io/x/y:z".into(), "quay.io/x/y:z".into(), "quay.io/x/y", "quay.io/x/y:z".into()),
            (
                "example.com/privatebase".into(),
                "example.com/privatebase".into(),
                "example.com/privatebase",
                "example.com/privatebase".into(),
            ),
            (
                "127.0.0.1:8000/privatebase".into(),
                "127.0.0.1:8000/privatebase".into(),
                "127.0.0.1:8000/privatebase",
                "127.0.0.1:8000/privatebase".into(),
            ),
            (
                "gcr.io/library/busybox".into(),
                "gcr.io/library/busybox".into(),
                "gcr.io/library/busybox",
                "gcr.io/library/busybox".into(),
            ),
            ("Foo/bar".into(), "Foo/bar".into(), "Foo/bar", "Foo/bar".into()),
            ("[::1]:5000/repo:t".into(), "[::1]:5000/repo:t".into(), "[::1]:5000/repo", "[::1]:5000/repo:t".into()),
            ("foo_bar.com/x".into(), "foo_bar.com/x".into(), "foo_bar.com/x", "foo_bar.com/x".into()),
            (format!("busybox@{d}"), format!("docker.io/library/busybox@{d}"), "busybox", format!("busybox@{d}")),
            (
                format!("busybox:latest@{d}"),
                format!("docker.io/library/busybox:latest@{d}"),
                "busybox",
                format!("busybox:latest@{d}"),
            ),
            (format!("busybox:1@{d}"), format!("docker.io/library/busybox:1@{d}"), "busybox", format!("busybox:1@{d}")),
            (format!("user/app@{d}"), format!("docker.io/user/app@{d}"), "user/app", format!("user/app@{d}")),
            (format!("quay.io/a/b:c@{d}"), format!("quay.io/a/b:c@{d}"), "quay.io/a/b", format!("quay.io/a/b:c@{d}")),
        ];
        for (input, display, familiar_name, familiar) in &table {
            let r = ok(input);
            assert_eq!(&r.to_string(), display, "Display of {input:?}");
            assert_eq!(r.familiar_name(), *familiar_name, "familiar_name of {input:?}");
            assert_eq!(&r.familiar(), familiar, "familiar of {input:?}");
            // Both printed forms parse back to the same reference.
            assert_eq!(ok(display), r, "{display:?} re-parsed");
            assert_eq!(ok(familiar), r, "{familiar:?} re-parsed");
            assert_eq!(input.parse::<Reference>(), Ok(r));
        }
    }

    #[test]
    fn rejects_with_docker_messages() {
        use ReferenceError::*;
        let hex64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
        let long_path = format!("{}a", "a/".repeat(128));
        let long_namespace =
            format!("{}/docker", ["this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255"; 4].join("_"));
        let long_tag = format!("busybox:{}", "t".repeat(129));
        let table: Vec<(String, ReferenceError)> = vec![
            // Grammar.
            ("".into(), InvalidFormat),
            (":justtag".into(), InvalidFormat),
            (":tag".into(), InvalidFormat),
            ("name:".into(), InvalidFormat),
            ("name@".into(), InvalidFormat),
            ("name:@".into(), InvalidFormat),
            (format!("@{}", sha(HEX_F)), InvalidFormat),
            ("a//b".into(), InvalidFormat),
            ("a/".into(), InvalidFormat),
            ("/a".into(), InvalidFormat),
            ("docker.io/".into(), InvalidFormat),
            ("docker/".into(), InvalidFormat),
            ("docker///docker".into(), InvalidFormat),
            ("docker.io/docker///docker".into(), InvalidFormat),
            ("-docker".into(), InvalidFormat),
            ("-foo".into(), InvalidFormat),
            ("-docker/docker".into(), InvalidFormat),
            ("-docker.io/docker/docker".into(), InvalidFormat),
            ("docker-/docker".into(), InvalidFormat),
            ("-docker-/docker".into(), InvalidFormat),
            ("____/____".into(), InvalidFormat),
            ("_docker/_docker".into(), InvalidFormat),
            ("docker_/docker_".into(), InvalidFormat),
            ("dock..er/docker".into(), InvalidFormat),
            ("dock_.er/docker".into(), InvalidFormat),
            ("dock-.er/docker".into(), InvalidFormat),
            ("do___cker/docker".into(), InvalidFormat),
            ("example.com/__underscore/myimage".into(), InvalidFormat),
            ("example.com/..dots/myimage".into(), InvalidFormat),
            ("example.com/.dots/myimage".into(), InvalidFormat),
            ("example.com/nodouble..dots/myimage".into(), InvalidFormat),
            ("foo.com/a-/a/a".into(), InvalidFormat),
            ("foo/-bar".into(), InvalidFormat),
            ("foo/bar-".into(), InvalidFormat),
            ("docker./docker".into(), InvalidFormat),
            (".docker/docker".into(), InvalidFormat),
            ("do__cker:8080/docker".into(), InvalidFormat),
            ("foo_bar.com:8080/app".into(), InvalidFormat),
            ("bad_hostname.com:8080/myapp:tag".into(), InvalidFormat),
            ("foo.com:http/bar".into(), InvalidFormat),
            ("localhost:http/name".into(), InvalidFormat),
            ("aa/asdf$$^/aa".into(), InvalidFormat),
            ("a^a".into(), InvalidFormat),
            ("https://github.com/docker/docker".into(), InvalidFormat),
            ("busybox latest".into(), InvalidFormat),
            (" busybox".into(), InvalidFormat),
            ("busybox:invalid~tag".into(), InvalidFormat),
            ("busybox:-tag".into(), InvalidFormat),
            ("busybox:.tag".into(), InvalidFormat),
            ("busybox:a:b".into(), InvalidFormat),
            ("busybox:a/b".into(), InvalidFormat),
            ("docker.io/foo:bar/baz".into(), InvalidFormat),
            (long_tag, InvalidFormat),
            ("busybox@sha256:badbadbadbad".into(), InvalidFormat),
            ("busybox@bad".into(), InvalidFormat),
            ("busybox@2bad:ffffffffffffffffffffffffffffffffffff".into(), InvalidFormat),
            (format!("busybox@sha256:{HEX_F}@{}", sha(HEX_F)), InvalidFormat),
            (format!("busybox@sha256:{}g", &HEX_F[1..]), InvalidFormat),
            (format!("busybox@sha256+:{HEX_F}"), InvalidFormat),
            ("busybox@sha256".into(), InvalidFormat),
            ("[fc00::1]".into(), InvalidFormat),
            ("[fc00::1]:5000".into(), InvalidFormat),
            ("[2001:db8::1]:tag".into(), InvalidFormat),
            ("fc00::1:5000/debian".into(), InvalidFormat),
            ("[fe80::1%eth0]:5000/debian".into(), InvalidFormat),
            ("[fe80::1%@invalidzone]:5000/repo".into(), InvalidFormat),
            ("[2001:db8:3:4::192.0.2.33]:5000/debian".into(), InvalidFormat),
            ("[fd00:1:2::3]75050/repo".into(), InvalidFormat),
            ("[fd00:1:2::3]::75050/repo".into(), InvalidFormat),
            ("[]/repo".into(), InvalidFormat),
            ("[::1/repo".into(), InvalidFormat),
            ("[::1]:/repo".into(), InvalidFormat),
            ("héllo".into(), InvalidFormat),
            ("localhost:5000/ünïcode".into(), InvalidFormat),
            // Upper case in the repository.
            ("docker/Docker".into(), RepositoryNameUppercase),
            ("docker.io/docker/Docker".into(), RepositoryNameUppercase),
            ("Busybox".into(), RepositoryNameUppercase),
            ("Uppercase:tag".into(), RepositoryNameUppercase),
            ("test:5000/Uppercase/lowercase:tag".into(), RepositoryNameUppercase),
            ("localhost:5000/Foo".into(), RepositoryNameUppercase),
            ("Foo/FarB".into(), RepositoryNameUppercase),
            (format!("busybox@SHA256:{HEX_F}"), RepositoryNameUppercase),
            ("Äpfel".into(), RepositoryNameUppercase),
            // A first element taken as a domain for its upper case, yet no domain.
            ("A_b/c".into(), NameContainsUppercase),
            ("Foo_bar.com/x".into(), NameContainsUppercase),
            // Length of the whole name.
            (format!("{long_path}:tag"), NameTooLong),
            (long_namespace, NameTooLong),
            (format!("localhost/{}", "a".repeat(246)), NameTooLong),
            (format!("docker.io/library/{}", "a".repeat(238)), NameTooLong),
            ("a".repeat(238), NameTooLong),
            // Bare image IDs.
            (hex64.into(), HexRepositoryName(hex64.into())),
            (HEX_F.into(), HexRepositoryName(HEX_F.into())),
            // Digests that pass the grammar but not go-digest.
            (format!("repo@sha256:{}", "f".repeat(34)), DigestInvalidLength),
            (format!("repo@sha256:{}", "f".repeat(65)), DigestInvalidLength),
            (format!("repo@sha256:{}", HEX_F.to_uppercase()), DigestInvalidFormat),
            (format!("repo@sha256:{}A", &HEX_F[1..]), DigestInvalidFormat),
            (format!("repo@invaliddigest:{HEX_F}"), DigestUnsupported),
            (format!("repo@md5:{}", "f".repeat(32)), DigestUnsupported),
            (format!("repo@sha256+b64:{HEX_F}"), DigestUnsupported),
            (format!("repo:tag@Sha256:{HEX_F}"), DigestInvalidFormat),
            (format!("repo:tag@Md5:{HEX_F}"), DigestInvalidFormat),
            (format!("repo@sha512:{}", "f".repeat(128)), DigestUnsupported),
            (format!("xn--7o8h.com/myimage:xn--7o8h.com@sha512:{}", "f".repeat(128)), DigestUnsupported),
            (format!("repo@sha512:{HEX_F}"), DigestInvalidLength),
            (format!("repo@sha384:{}", "f".repeat(96)), DigestUnsupported),
            (format!("repo@sha384:{}", "F".repeat(96)), DigestInvalidFormat),
        ];
        for (input, want) in &table {
            assert_eq!(Reference::parse(input).as_ref(), Err(want), "parse({input:?})");
        }
    }

    #[test]
    fn error_texts_are_dockers() {
        use ReferenceError::*;
        let table = [
            (InvalidFormat, "invalid reference format"),
            (RepositoryNameUppercase, "invalid reference format: repository name must be lowercase"),
            (NameContainsUppercase, "repository name must be lowercase"),
            (NameTooLong, "repository name must not be more than 255 characters"),
            (DigestInvalidFormat, "invalid checksum digest format"),
            (DigestInvalidLength, "invalid checksum digest length"),
            (DigestUnsupported, "unsupported digest algorithm"),
            (InvalidTag, "invalid tag format"),
        ];
        for (error, text) in table {
            assert_eq!(error.to_string(), text);
        }
        assert_eq!(
            Reference::parse(HEX_F).unwrap_err().to_string(),
            format!("invalid repository name ({HEX_F}), cannot specify 64-byte hexadecimal strings")
        );
    }

    #[test]
    fn name_length_limit_is_255_bytes_of_domain_and_path() {
        // docker.io/library/ is 18 bytes: 237 more make exactly 255.
        assert_eq!(ok(&"a".repeat(237)).name().len(), 255);
        assert_eq!(Reference::parse(&"a".repeat(238)), Err(ReferenceError::NameTooLong));
        // A long tag does not count (distribution's "tag-puts-this-over-max" case).
        let r = ok(&format!("{}a:tag-puts-this-over-max", "a/".repeat(117)));
        assert_eq!(r.name().len(), 10 + 235);
        let r = ok(&format!("localhost/{}", "a".repeat(245)));
        assert_eq!(r.name().len(), 255);
    }

    #[test]
    fn default_tag_only_for_bare_names() {
        // (input, with_default_tag Display): distribution's TagNameOnly / ParseDockerRef.
        let d = sha(HEX_A);
        let table: Vec<(String, String)> = vec![
            ("busybox".into(), "docker.io/library/busybox:latest".into()),
            ("busybox:latest".into(), "docker.io/library/busybox:latest".into()),
            ("busybox:1".into(), "docker.io/library/busybox:1".into()),
            ("library/busybox".into(), "docker.io/library/busybox:latest".into()),
            ("docker.io/busybox".into(), "docker.io/library/busybox:latest".into()),
            ("docker.io/library/busybox".into(), "docker.io/library/busybox:latest".into()),
            ("docker.io/busybox:latest".into(), "docker.io/library/busybox:latest".into()),
            ("library/busybox:latest".into(), "docker.io/library/busybox:latest".into()),
            ("gcr.io/library/busybox".into(), "gcr.io/library/busybox:latest".into()),
            (format!("busybox@{d}"), format!("docker.io/library/busybox@{d}")),
            (format!("gcr.io/library/busybox:latest@{d}"), format!("gcr.io/library/busybox:latest@{d}")),
        ];
        for (input, want) in &table {
            assert_eq!(&ok(input).with_default_tag().to_string(), want, "{input:?}");
        }
        assert_eq!(ok("busybox").with_default_tag().familiar(), "busybox:latest");
    }

    #[test]
    fn builders() {
        let digest: Digest = match sha(HEX_A).parse() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let r = ok(&format!("quay.io/a/b:c@{}", sha(HEX_F)));

        let tagged = r.with_tag("v2").unwrap();
        assert_eq!(tagged.to_string(), "quay.io/a/b:v2");
        assert_eq!(tagged.digest(), None);
        let max = "x".repeat(128);
        for tag in ["TAG5", "_", "a.b-c_d", max.as_str()] {
            assert_eq!(r.with_tag(tag).map(|t| t.tag().map(str::to_string)), Ok(Some(tag.to_string())));
        }
        let over = "x".repeat(129);
        for bad in ["", "-foo", ".foo", "a:b", "a/b", "a@b", "a b", "é", over.as_str()] {
            assert_eq!(r.with_tag(bad), Err(ReferenceError::InvalidTag), "{bad:?}");
        }

        let digested = r.with_digest(digest);
        assert_eq!(digested.to_string(), format!("quay.io/a/b@{}", sha(HEX_A)));
        assert_eq!(digested.tag(), None);
        assert_eq!(ok("busybox:1").with_digest(digest).familiar(), format!("busybox@{}", sha(HEX_A)));

        let repo = r.repository();
        assert_eq!(repo.to_string(), "quay.io/a/b");
        assert_eq!((repo.tag(), repo.digest()), (None, None));
        assert_eq!(repo.domain(), "quay.io");
        assert_eq!(repo.path(), "a/b");

        let official = ok("busybox:1.36");
        assert_eq!(official.with_tag("musl").unwrap().familiar(), "busybox:musl");
        assert_eq!(official.repository().familiar(), "busybox");
    }

    #[test]
    fn serde_uses_the_normalized_string() {
        let r = ok("busybox:1");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"docker.io/library/busybox:1\"");
        assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
        assert!(serde_json::from_str::<Reference>("\"Not Valid\"").is_err());
    }

    #[test]
    fn tags() {
        let max = "a".repeat(128);
        let over = "a".repeat(129);
        for good in ["latest", "1", "_", "A", "v1.2.3-rc.1", "a__b", "a--b", "A_b.C-d", "9...", max.as_str()] {
            assert!(is_valid_tag(good), "{good:?}");
        }
        for bad in ["", ".", "-", ".a", "-a", "a:b", "a/b", "a@b", "a+b", "a b", "ä", over.as_str()] {
            assert!(!is_valid_tag(bad), "{bad:?}");
        }
    }

    #[test]
    fn id_prefixes() {
        let full = sha(HEX_F);
        for good in ["a", "0", "abc123", "sha256:a", "sha256:abc", HEX_F, full.as_str()] {
            assert!(is_id_prefix(good), "{good:?}");
        }
        let long = format!("{HEX_F}0");
        for bad in ["", "sha256:", "sha256", "g", "ABC", "abc-", "sha512:abc", "sha256:ABC", " a", long.as_str()] {
            assert!(!is_id_prefix(bad), "{bad:?}");
        }
    }

    #[test]
    fn identifiers() {
        for (input, is_id) in [
            ("da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821", true),
            ("7EC43B381E5AEFE6E04EFB0B3F0693FF2A4A50652D64AEC573905F2DB5889A1C", false),
            ("da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf", false),
            ("sha256:da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821", false),
            ("da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf98218482", false),
        ] {
            assert_eq!(is_identifier(input), is_id, "{input:?}");
        }
    }

    /// distribution's domain-regexp vectors.
    #[test]
    fn domains() {
        for (input, valid) in [
            ("test.com", true),
            ("test.com:10304", true),
            ("test.com:http", false),
            ("localhost", true),
            ("localhost:8080", true),
            ("a", true),
            ("a.b", true),
            ("ab.cd.com", true),
            ("a-b.com", true),
            ("-ab.com", false),
            ("ab-.com", false),
            ("ab.c-om", true),
            ("ab.-com", false),
            ("ab.com-", false),
            ("0101.com", true),
            ("001a.com", true),
            ("b.gbc.io:443", true),
            ("b.gbc.io", true),
            ("xn--n3h.com", true),
            ("Asdf.com", true),
            ("192.168.1.1:75050", true),
            ("192.168.1.1:750050", true),
            ("[fd00:1:2::3]:75050", true),
            ("[fd00:1:2::3]75050", false),
            ("[fd00:1:2::3]::75050", false),
            ("[fd00:1:2::3%eth0]:75050", false),
            ("[fd00123123123]:75050", true),
            ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050", true),
            ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:750505", true),
            ("fd00:1:2::3:75050", false),
            ("", false),
            (".", false),
            ("a.", false),
            (".a", false),
            ("a..b", false),
            ("a:", false),
            (":80", false),
            ("a_b.com", false),
            ("[]", false),
            ("[::1]x", false),
            ("[::g]", false),
            ("é.com", false),
        ] {
            assert_eq!(is_domain(input), valid, "{input:?}");
        }
    }

    /// distribution's anchored-name-regexp vectors: (input, Some((domain, path))) or None.
    #[test]
    fn name_splitting() {
        let long = format!("{}a", "a/".repeat(128));
        let long_path = format!("{}a", "a/".repeat(127));
        let table: Vec<(&str, Option<(&str, &str)>)> = vec![
            ("", None),
            ("short", Some(("", "short"))),
            ("simple/name", Some(("simple", "name"))),
            ("library/ubuntu", Some(("library", "ubuntu"))),
            ("docker/stevvooe/app", Some(("docker", "stevvooe/app"))),
            ("aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb", Some(("aa", "aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb"))),
            ("aa/aa/bb/bb/bb", Some(("aa", "aa/bb/bb/bb"))),
            ("a/a/a/a", Some(("a", "a/a/a"))),
            ("a/a/a/a/", None),
            ("a//a/a", None),
            ("a", Some(("", "a"))),
            ("a/aa", Some(("a", "aa"))),
            ("a/aa/a", Some(("a", "aa/a"))),
            ("foo.com", Some(("", "foo.com"))),
            ("foo.com/", None),
            ("foo.com:8080/bar", Some(("foo.com:8080", "bar"))),
            ("foo.com:http/bar", None),
            ("foo.com/bar", Some(("foo.com", "bar"))),
            ("foo.com/bar/baz", Some(("foo.com", "bar/baz"))),
            ("localhost:8080/bar", Some(("localhost:8080", "bar"))),
            ("sub-dom1.foo.com/bar/baz/quux", Some(("sub-dom1.foo.com", "bar/baz/quux"))),
            ("blog.foo.com/bar/baz", Some(("blog.foo.com", "bar/baz"))),
            ("a^a", None),
            ("aa/asdf$$^/aa", None),
            ("asdf$$^/aa", None),
            ("aa-a/a", Some(("aa-a", "a"))),
            (&long, Some(("a", &long_path))),
            ("a-/a/a/a", None),
            ("foo.com/a-/a/a", None),
            ("-foo/bar", None),
            ("foo/bar-", None),
            ("foo-/bar", None),
            ("foo/-bar", None),
            ("_foo/bar", None),
            ("foo_bar", Some(("", "foo_bar"))),
            ("foo_bar.com", Some(("", "foo_bar.com"))),
            ("foo_bar.com:8080", None),
            ("foo_bar.com:8080/app", None),
            ("foo.com/foo_bar", Some(("foo.com", "foo_bar"))),
            ("____/____", None),
            ("_docker/_docker", None),
            ("docker_/docker_", None),
            ("b.gcr.io/test.example.com/my-app", Some(("b.gcr.io", "test.example.com/my-app"))),
            ("xn--n3h.com/myimage", Some(("xn--n3h.com", "myimage"))),
            ("xn--7o8h.com/myimage", Some(("xn--7o8h.com", "myimage"))),
            ("example.com/xn--7o8h.com/myimage", Some(("example.com", "xn--7o8h.com/myimage"))),
            (
                "example.com/some_separator__underscore/myimage",
                Some(("example.com", "some_separator__underscore/myimage")),
            ),
            ("example.com/__underscore/myimage", None),
            ("example.com/..dots/myimage", None),
            ("example.com/.dots/myimage", None),
            ("example.com/nodouble..dots/myimage", None),
            ("docker./docker", None),
            (".docker/docker", None),
            ("docker-/docker", None),
            ("-docker/docker", None),
            ("do..cker/docker", None),
            ("do__cker:8080/docker", None),
            ("do__cker/docker", Some(("", "do__cker/docker"))),
            (
                "registry.io/foo/project--id.module--name.ver---sion--name",
                Some(("registry.io", "foo/project--id.module--name.ver---sion--name")),
            ),
            ("Asdf.com/foo/bar", Some(("Asdf.com", "foo/bar"))),
            ("Foo/FarB", None),
        ];
        for (input, want) in table {
            assert_eq!(split_name(input), want, "{input:?}");
        }
    }

    /// distribution's reference-regexp vectors: (input, Some((name, tag, digest))).
    #[test]
    fn reference_grammar() {
        let d = "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912";
        type Matched<'a> = Option<(&'a str, Option<&'a str>, Option<&'a str>)>;
        let table: Vec<(String, Matched)> = vec![
            ("registry.com:8080/myapp:tag".into(), Some(("registry.com:8080/myapp", Some("tag"), None))),
            (format!("registry.com:8080/myapp@{d}"), Some(("registry.com:8080/myapp", None, Some(d)))),
            (format!("registry.com:8080/myapp:tag2@{d}"), Some(("registry.com:8080/myapp", Some("tag2"), Some(d)))),
            ("registry.com:8080/myapp@sha256:badbadbadbad".into(), None),
            ("registry.com:8080/myapp:invalid~tag".into(), None),
            ("bad_hostname.com:8080/myapp:tag".into(), None),
            (format!("localhost:8080@{d}"), Some(("localhost", Some("8080"), Some(d)))),
            (format!("localhost:8080/name@{d}"), Some(("localhost:8080/name", None, Some(d)))),
            (format!("localhost:http/name@{d}"), None),
            (format!("localhost@{d}"), Some(("localhost", None, Some(d)))),
            ("registry.com:8080/myapp@bad".into(), None),
            ("registry.com:8080/myapp@2bad".into(), None),
            // Digest grammar: at least 32 hex digits, any case, any algorithm shape.
            (
                format!("a@SHA256:{}", "A".repeat(32)),
                Some(("a", None, Some("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))),
            ),
            (format!("a@sha256:{}", "a".repeat(31)), None),
            (
                format!("a@a.b-c_d+e:{}", "a".repeat(32)),
                Some(("a", None, Some("a.b-c_d+e:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))),
            ),
            (format!("a@a..b:{}", "a".repeat(32)), None),
            (format!("a@a.1:{}", "a".repeat(32)), None),
            (format!("a@:{}", "a".repeat(32)), None),
        ];
        for (input, want) in &table {
            let got = match_reference(input).map(|p| (p.name, p.tag, p.digest));
            assert_eq!(got, *want, "{input:?}");
        }
    }

    /// Feeds thousands of random and mutated strings to `parse`: it must never panic,
    /// and whatever it accepts must print to a string that parses back to itself.
    #[test]
    fn never_panics_and_round_trips() {
        struct Lcg(u64);
        impl Lcg {
            fn next(&mut self) -> u64 {
                self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                self.0 >> 33
            }
            fn below(&mut self, n: usize) -> usize {
                (self.next() % n as u64) as usize
            }
        }
        let alphabet: Vec<char> = "abcf019AZ._-_/:@[]sha256 é\u{212a}\0".chars().collect();
        let seeds = [
            "busybox".to_string(),
            "docker.io/library/busybox:latest".to_string(),
            "localhost:5000/a/b:c".to_string(),
            "[::1]:5000/repo:tag".to_string(),
            "a.b_c/d".to_string(),
            format!("quay.io/x/y:z@{}", sha(HEX_A)),
            format!("busybox@sha512:{}", "f".repeat(128)),
            HEX_F.to_string(),
        ];
        let mut rng = Lcg(0x5eed);
        let mut accepted = 0;
        for round in 0..6000 {
            let input: String = if round % 2 == 0 {
                let len = rng.below(24);
                (0..len).map(|_| alphabet[rng.below(alphabet.len())]).collect()
            } else {
                let mut chars: Vec<char> = seeds[rng.below(seeds.len())].chars().collect();
                for _ in 0..=rng.below(3) {
                    let at = rng.below(chars.len() + 1);
                    match rng.below(3) {
                        0 => chars.insert(at, alphabet[rng.below(alphabet.len())]),
                        1 if at < chars.len() => {
                            chars.remove(at);
                        }
                        _ if at < chars.len() => chars[at] = alphabet[rng.below(alphabet.len())],
                        _ => {}
                    }
                }
                chars.into_iter().collect()
            };
            if let Ok(r) = Reference::parse(&input) {
                accepted += 1;
                let printed = r.to_string();
                assert_eq!(Reference::parse(&printed).as_ref(), Ok(&r), "{input:?} printed as {printed:?}");
                let _ = (r.familiar(), r.familiar_name(), r.clone().with_default_tag(), r.repository());
            }
            let _ = (is_valid_tag(&input), is_id_prefix(&input));
        }
        // The mutations keep enough inputs valid for the round-trip check to mean something.
        assert!(accepted > 500, "only {accepted} inputs accepted");
    }
}
