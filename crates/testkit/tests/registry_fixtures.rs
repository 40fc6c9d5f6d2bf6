//! The registry fixtures serve what gantry's registry tests rely on: the real
//! distribution registry (plain, TLS, htpasswd, token auth), the in-process token
//! service, and the fault proxy. The client here is curl, so that the fixtures are
//! checked independently of gantry's own client.

use std::path::Path;

use gantry_testkit::base::sha256_digest;
use gantry_testkit::curl::curl;
use gantry_testkit::registry::{
    htpasswd_line, Fault, FaultProxy, Registry, RegistryAuth, RegistryOptions, HTPASSWD_REALM, TOKEN_SERVICE,
};

const OCTETS: &str = "Content-Type: application/octet-stream";

/// Deterministic, incompressible-looking test data.
fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// An absolute URL for a `Location` that may be relative.
fn absolute(base: &str, location: &str) -> String {
    if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location.to_string()
    }
}

/// Pushes `blob` to `repo` (POST, then PUT with `?digest=`); `extra` goes to every curl.
fn push_blob(base: &str, repo: &str, blob: &[u8], extra: &[&str]) -> String {
    let digest = sha256_digest(blob);
    let start = curl(&[extra, &["-X", "POST", &format!("{base}/v2/{repo}/blobs/uploads/")]].concat())
        .expect(202, "start upload");
    let location = absolute(base, start.header("location").expect("upload Location"));
    let sep = if location.contains('?') { '&' } else { '?' };
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("blob");
    std::fs::write(&file, blob).unwrap();
    let put = format!("{location}{sep}digest={digest}");
    let upload = format!("@{}", file.display());
    let args = ["-X", "PUT", "-H", OCTETS, "--data-binary", &upload, &put];
    curl(&[extra, &args[..]].concat()).expect(201, "complete upload");
    digest
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

#[test]
fn plain_registry_serves_and_keeps_its_storage_across_kill_and_restart() {
    // A directory left by a dead test process is swept by the next start.
    let stale = std::env::temp_dir().join(format!("gantry-registry-stale-{}", std::process::id()));
    std::fs::create_dir_all(stale.join("storage")).unwrap();
    std::fs::write(stale.join("owner"), "2147483647").unwrap(); // above any pid_max: dead
    let mut r = Registry::start(RegistryOptions::default());
    assert!(!stale.exists(), "{} was not swept", stale.display());
    assert!(r.host().starts_with("127.0.0.1:") && r.host().ends_with(&r.port().to_string()));
    assert_eq!(r.url(), format!("http://{}", r.host()));
    assert!(r.certs_dir().is_none() && r.ca_pem().is_none() && r.token_realm().is_none());

    let v2 = curl(&[&format!("{}/v2/", r.url())]).expect(200, "GET /v2/");
    assert_eq!(v2.header("docker-distribution-api-version"), Some("registry/2.0"));

    let blob = data(3000, 1);
    let digest = push_blob(&r.url(), "fixtures/plain", &blob, &[]);
    let blob_url = format!("{}/v2/fixtures/plain/blobs/{digest}", r.url());
    assert_eq!(curl(&[&blob_url]).expect(200, "GET blob").body, blob);
    let hex = digest.strip_prefix("sha256:").unwrap();
    let stored = r.storage().join(format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]));
    assert_eq!(std::fs::read(&stored).unwrap(), blob, "blob data at {}", stored.display());

    // An upload left unfinished stays in storage for tests to find.
    let start = curl(&["-X", "POST", &format!("{}/v2/fixtures/plain/blobs/uploads/", r.url())])
        .expect(202, "start an upload left unfinished");
    let uuid = start.header("docker-upload-uuid").expect("Docker-Upload-UUID").to_string();
    let uploads = r.storage().join("docker/registry/v2/repositories/fixtures/plain/_uploads");
    assert!(uploads.join(&uuid).is_dir(), "no {uuid} in {}", uploads.display());

    let pid = r.pid().expect("registry runs");
    r.kill();
    assert!(!r.is_running() && r.pid().is_none());
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "registry {pid} survived kill");
    assert_eq!(curl(&[&blob_url]).code, 7, "nothing should listen on {} after kill", r.host());
    r.kill(); // idempotent

    let port = r.port();
    r.restart();
    assert_eq!(r.port(), port);
    assert_eq!(curl(&[&blob_url]).expect(200, "GET blob after restart").body, blob);
    assert!(uploads.join(&uuid).is_dir(), "the unfinished upload vanished on restart");
    assert!(r.log().contains("listening on 127.0.0.1:"), "log:\n{}", r.log());

    let pid = r.pid().expect("registry runs again");
    let storage = r.storage().to_path_buf();
    drop(r);
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "registry {pid} survived drop");
    assert!(!storage.exists(), "{} left behind", storage.display());
}

#[test]
fn tls_registry_is_trusted_through_the_test_ca_only() {
    let r = Registry::start(RegistryOptions { tls: true, ..Default::default() });
    assert_eq!(r.url(), format!("https://{}", r.host()));
    let ca = r.ca_pem().expect("CA").to_str().unwrap().to_string();
    let certs_ca = r.certs_dir().expect("certs.d").join(r.host()).join("ca.crt");
    assert_eq!(std::fs::read(&certs_ca).unwrap(), std::fs::read(&ca).unwrap());

    curl(&["--cacert", &ca, &format!("{}/v2/", r.url())]).expect(200, "GET /v2/ over TLS");
    curl(&["--capath", "/nonexistent", "--cacert", certs_ca.to_str().unwrap(), &format!("{}/v2/", r.url())])
        .expect(200, "GET /v2/ trusting certs.d/HOST/ca.crt");
    curl(&["--cacert", &ca, &format!("https://localhost:{}/v2/", r.port())]).expect(200, "GET /v2/ via localhost");
    let untrusted = curl(&[&format!("{}/v2/", r.url())]);
    assert_eq!(untrusted.code, 60, "a certificate from the test CA must not verify without it: {}", untrusted.stderr);
    let plain = curl(&[&format!("http://{}/v2/", r.host())]);
    assert_eq!(plain.status, 400, "plain HTTP to a TLS registry: {}", plain.text());
}

#[test]
fn htpasswd_registry_demands_basic_credentials_over_http_and_https() {
    let line = htpasswd_line("alice", "pw");
    assert!(line.starts_with("alice:$2b$04$"), "{line}");

    for tls in [false, true] {
        let auth = RegistryAuth::Htpasswd { user: "alice".into(), password: "s3cret pw".into() };
        let r = Registry::start(RegistryOptions { tls, auth });
        assert_eq!(r.credentials(), Some(("alice", "s3cret pw")));
        let ca = r.ca_pem().map(|p| p.to_str().unwrap().to_string());
        let tls_args: Vec<&str> = ca.as_deref().map(|ca| vec!["--cacert", ca]).unwrap_or_default();
        let v2 = format!("{}/v2/", r.url());
        let anonymous = curl(&[&tls_args[..], &[&v2]].concat()).expect(401, "anonymous GET /v2/");
        assert_eq!(anonymous.header("www-authenticate"), Some(format!("Basic realm=\"{HTPASSWD_REALM}\"").as_str()));
        curl(&[&tls_args[..], &["-u", "alice:wrong", &v2]].concat()).expect(401, "wrong password");
        curl(&[&tls_args[..], &["-u", "alice:s3cret pw", &v2]].concat()).expect(200, "right password");
        let blob = data(100, 2);
        let digest =
            push_blob(&r.url(), "fixtures/basic", &blob, &[&tls_args[..], &["-u", "alice:s3cret pw"]].concat());
        let get = format!("{}/v2/fixtures/basic/blobs/{digest}", r.url());
        curl(&[&tls_args[..], &[&get]].concat()).expect(401, "anonymous blob GET");
    }
}

#[test]
fn token_registry_accepts_tokens_from_the_token_service_for_what_they_grant() {
    let auth = RegistryAuth::Token { user: "bob".into(), password: "tok-pw".into() };
    let r = Registry::start(RegistryOptions { tls: false, auth });
    let realm = r.token_realm().expect("token realm");
    assert!(realm.starts_with("http://127.0.0.1:") && realm.ends_with("/token"), "{realm}");
    let v2 = format!("{}/v2/", r.url());

    let challenge = curl(&[&v2]).expect(401, "anonymous GET /v2/");
    assert_eq!(
        challenge.header("www-authenticate"),
        Some(format!("Bearer realm=\"{realm}\",service=\"{TOKEN_SERVICE}\"").as_str())
    );
    let uploads = format!("{}/v2/fixtures/tok/blobs/uploads/", r.url());
    let push_challenge = curl(&["-X", "POST", &uploads]).expect(401, "anonymous upload");
    let www = push_challenge.header("www-authenticate").unwrap().to_string();
    // distribution lists the actions in no fixed order.
    assert!(
        www.contains("scope=\"repository:fixtures/tok:pull,push\"")
            || www.contains("scope=\"repository:fixtures/tok:push,pull\""),
        "{www}"
    );

    // The user gets what it asks for.
    let scope = "scope=repository%3Afixtures%2Ftok%3Apull%2Cpush";
    let url = format!("{realm}?service={TOKEN_SERVICE}&{scope}");
    let granted = curl(&["-u", "bob:tok-pw", &url]).expect(200, "token for bob").json();
    let token = granted["token"].as_str().expect("token").to_string();
    assert_eq!(granted["access_token"].as_str(), Some(token.as_str()));
    assert_eq!(granted["expires_in"], 300);
    assert!(granted["issued_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{granted}");
    curl(&["-H", &bearer(&token), &v2]).expect(200, "GET /v2/ with bob's token");
    let blob = data(2000, 3);
    let digest = push_blob(&r.url(), "fixtures/tok", &blob, &["-H", &bearer(&token)]);
    let blob_url = format!("{}/v2/fixtures/tok/blobs/{digest}", r.url());
    assert_eq!(curl(&["-H", &bearer(&token), &blob_url]).expect(200, "pull with bob's token").body, blob);
    let other = format!("{}/v2/fixtures/other/blobs/uploads/", r.url());
    curl(&["-X", "POST", "-H", &bearer(&token), &other]).expect(401, "push to a repository not granted");

    // Anonymous clients get a token (200) that grants nothing.
    let anon = curl(&[&url]).expect(200, "anonymous token").json();
    let anon_token = anon["token"].as_str().expect("anonymous token").to_string();
    let denied = curl(&["-X", "POST", "-H", &bearer(&anon_token), &uploads]);
    assert!(matches!(denied.status, 401 | 403), "anonymous token pushed: {} {}", denied.status, denied.text());
    let www = denied.header("www-authenticate").unwrap_or("").to_string();
    assert!(www.contains("insufficient_scope"), "{www}");
    let denied = curl(&["-H", &bearer(&anon_token), &blob_url]);
    assert!(matches!(denied.status, 401 | 403), "anonymous token pulled: {}", denied.status);

    // Wrong credentials are refused by the token service itself.
    let refused = curl(&["-u", "bob:nope", &url]).expect(401, "token with a wrong password");
    assert_eq!(refused.json()["errors"][0]["code"], "UNAUTHORIZED");
    let refused = curl(&[&format!("{realm}?service=elsewhere&{scope}")]).expect(400, "token for another service");
    assert_eq!(refused.json()["errors"][0]["code"], "DENIED");

    // The OAuth2 form: password grant, then refresh grant.
    let form = format!(
        "grant_type=password&username=bob&password=tok-pw&service={TOKEN_SERVICE}&client_id=gantry&\
         access_type=offline&scope=repository%3Afixtures%2Ftok%3Apull"
    );
    let oauth = curl(&["-d", &form, &realm]).expect(200, "password grant").json();
    let refresh = oauth["refresh_token"].as_str().expect("refresh_token").to_string();
    let access = oauth["access_token"].as_str().expect("access_token").to_string();
    assert_eq!(oauth["scope"], "repository:fixtures/tok:pull");
    curl(&["-H", &bearer(&access), &blob_url]).expect(200, "pull with the password grant's token");
    let form = format!(
        "grant_type=refresh_token&refresh_token={refresh}&service={TOKEN_SERVICE}&client_id=gantry&\
         scope=repository%3Afixtures%2Ftok%3Apull+repository%3Afixtures%2Fother%3Apull"
    );
    let refreshed = curl(&["-d", &form, &realm]).expect(200, "refresh grant").json();
    let access = refreshed["access_token"].as_str().expect("access_token").to_string();
    curl(&["-H", &bearer(&access), &blob_url]).expect(200, "pull with the refreshed token");
    let bad = "grant_type=password&username=bob&password=nope&service=gantry-test-registry&client_id=gantry";
    curl(&["-d", bad, &realm]).expect(401, "password grant with a wrong password");
    curl(&["-d", "grant_type=refresh_token&refresh_token=bogus", &realm]).expect(401, "bogus refresh token");

    let requests = r.token_requests();
    assert!(
        requests.iter().any(|l| l.starts_with("GET /token?") && l.ends_with("authorization=basic")),
        "{requests:?}"
    );
    assert!(requests.iter().any(|l| l.starts_with("GET /token?") && l.ends_with("authorization=none")), "{requests:?}");
    assert!(requests.iter().any(|l| l.starts_with("POST /token grant_type=refresh_token")), "{requests:?}");
    assert!(!requests.iter().any(|l| l.contains("tok-pw")), "a password was recorded: {requests:?}");
}

#[test]
fn corrupt_blob_flips_one_byte_of_the_first_large_blob_only() {
    let r = Registry::start(RegistryOptions::default());
    let small = data(1000, 4);
    let large = data(4096, 5);
    let small_digest = push_blob(&r.url(), "fixtures/corrupt", &small, &[]);
    let large_digest = push_blob(&r.url(), "fixtures/corrupt", &large, &[]);
    let p = FaultProxy::start(&r, Fault::CorruptBlob);
    let via = |d: &str| format!("{}/v2/fixtures/corrupt/blobs/{d}", p.url());

    curl(&["-I", &via(&large_digest)]).expect(200, "HEAD is not faulted");
    assert_eq!(curl(&[&via(&small_digest)]).expect(200, "small blob").body, small, "a blob under 1 KiB was changed");
    assert_eq!(p.faults_served(), 0);
    let got = curl(&[&via(&large_digest)]).expect(200, "corrupted blob").body;
    assert_eq!(got.len(), large.len());
    let diffs: Vec<usize> = (0..got.len()).filter(|&i| got[i] != large[i]).collect();
    assert_eq!(diffs, vec![2048], "exactly the middle byte should differ");
    assert_eq!(p.faults_served(), 1);
    assert_eq!(curl(&[&via(&large_digest)]).expect(200, "second GET").body, large, "only the first GET is faulted");
    assert_eq!(p.faults_served(), 1);
    assert_eq!(p.requests().len(), 4, "{:?}", p.requests());
}

#[test]
fn too_many_requests_answers_429_with_retry_after_then_passes() {
    let r = Registry::start(RegistryOptions::default());
    let blob = data(500, 6);
    let digest = push_blob(&r.url(), "fixtures/busy", &blob, &[]);
    let p = FaultProxy::start(&r, Fault::TooManyRequests { times: 2, retry_after_secs: 3 });
    let url = format!("{}/v2/fixtures/busy/blobs/{digest}", p.url());

    curl(&[&format!("{}/v2/", p.url())]).expect(200, "GET /v2/ is not throttled");
    curl(&["-I", &url]).expect(200, "HEAD is not throttled");
    for n in 1..=2 {
        let busy = curl(&[&url]).expect(429, "throttled GET");
        assert_eq!(busy.header("retry-after"), Some("3"));
        assert_eq!(busy.json()["errors"][0]["code"], "TOOMANYREQUESTS");
        assert_eq!(p.faults_served(), n);
    }
    assert_eq!(curl(&[&url]).expect(200, "GET after the throttling").body, blob);
    assert_eq!(p.faults_served(), 2);
}

#[test]
fn cut_blob_closes_the_first_download_and_range_resumes_it() {
    let r = Registry::start(RegistryOptions::default());
    let blob = data(4096, 7);
    let digest = push_blob(&r.url(), "fixtures/cut", &blob, &[]);
    let p = FaultProxy::start(&r, Fault::CutBlob { bytes: 1000 });
    let url = format!("{}/v2/fixtures/cut/blobs/{digest}", p.url());

    let cut = curl(&[&url]);
    assert_eq!((cut.code, cut.status), (18, 200), "a cut transfer is partial: {}", cut.stderr);
    assert_eq!(cut.body, &blob[..1000]);
    assert_eq!(p.faults_served(), 1);
    let rest = curl(&["-H", "Range: bytes=1000-", &url]).expect(206, "resumed GET");
    assert_eq!(rest.body, &blob[1000..]);
    assert_eq!(rest.header("content-range"), Some("bytes 1000-4095/4096"));
    assert_eq!(p.faults_served(), 1);
    let path = format!("/v2/fixtures/cut/blobs/{digest}");
    assert_eq!(p.requests(), vec![format!("GET {path}"), format!("GET {path} Range: bytes=1000-")]);
}

#[test]
fn proxy_forwards_pushes_and_points_upload_locations_at_itself() {
    let r = Registry::start(RegistryOptions::default());
    let p = FaultProxy::start(&r, Fault::CorruptBlob);
    assert_ne!(p.host(), r.host());

    // Chunked PATCH, then an empty PUT.
    let blob = data(300_000, 8);
    let digest = sha256_digest(&blob);
    let start = curl(&["-X", "POST", &format!("{}/v2/fixtures/via/blobs/uploads/", p.url())]).expect(202, "POST");
    let location = absolute(&p.url(), start.header("location").unwrap());
    assert!(location.starts_with(&format!("{}/v2/fixtures/via/blobs/uploads/", p.url())), "{location}");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("blob");
    std::fs::write(&file, &blob).unwrap();
    let upload = format!("@{}", file.display());
    let patch =
        curl(&["-X", "PATCH", "-H", "Transfer-Encoding: chunked", "-H", OCTETS, "--data-binary", &upload, &location])
            .expect(202, "chunked PATCH");
    assert_eq!(patch.header("range"), Some("0-299999"));
    let location = absolute(&p.url(), patch.header("location").unwrap());
    assert!(location.starts_with(&p.url()), "{location}");
    curl(&["-X", "PUT", "-H", "Content-Length: 0", &format!("{location}&digest={digest}")]).expect(201, "PUT");
    let direct = format!("{}/v2/fixtures/via/blobs/{digest}", r.url());
    assert_eq!(curl(&[&direct]).expect(200, "GET from the registry").body, blob);

    // A monolithic PUT whose client waits for `100 Continue`.
    let small = data(5000, 9);
    let start = curl(&["-X", "POST", &format!("{}/v2/fixtures/via/blobs/uploads/", p.url())]).expect(202, "POST");
    let location = absolute(&p.url(), start.header("location").unwrap());
    std::fs::write(&file, &small).unwrap();
    let put = format!("{location}&digest={}", sha256_digest(&small));
    let began = std::time::Instant::now();
    // (Go parses an x-www-form-urlencoded PUT body as a form: name the type.)
    let args = ["-X", "PUT", "-H", "Expect: 100-continue", "--expect100-timeout", "20", "-H", OCTETS];
    curl(&[&args[..], &["--data-binary", &upload, &put]].concat()).expect(201, "PUT with Expect: 100-continue");
    assert!(began.elapsed().as_secs() < 10, "the proxy did not answer 100 Continue");
    let direct = format!("{}/v2/fixtures/via/blobs/{}", r.url(), sha256_digest(&small));
    assert_eq!(curl(&[&direct]).expect(200, "GET from the registry").body, small);
    assert_eq!(p.faults_served(), 0, "uploads are never faulted");
}
