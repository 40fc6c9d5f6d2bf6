//! ADD of an HTTP(S) URL: the file is downloaded into a private temporary directory
//! (streamed and hashed, never held in memory), checked against `--checksum` when one
//! is given, and then copied like a context file. As in BuildKit, it is not unpacked
//! even when it is an archive, its mode is 0600, and its mtime is the server's
//! `Last-Modified` when the server sends one.

use std::io::{Read, Write};
use std::path::PathBuf;

use gantry_image::{Digest, Sha256};

/// A downloaded file; its directory is removed on drop.
pub(crate) struct Downloaded {
    pub(crate) url: String,
    pub(crate) dir: PathBuf,
    /// The file's name in `dir`: the last segment of the URL's path.
    pub(crate) name: String,
}

impl Drop for Downloaded {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// True for the sources ADD downloads.
pub(crate) fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Downloads `url`; with `checksum` (`sha256:<hex>`) the content must match it.
pub(crate) fn download(url: &str, checksum: Option<&str>) -> Result<Downloaded, String> {
    let expected = checksum
        .map(|c| {
            c.parse::<Digest>().map_err(|_| format!("invalid checksum {c:?}: only sha256:<64 hex digits> is supported"))
        })
        .transpose()?;
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    let name = parsed
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .unwrap_or("__unnamed__")
        .to_string();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("gantry-add-url-{}-{n}", std::process::id()));
    // create_dir (not _all): nothing planted in the temporary directory is written through.
    std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let d = Downloaded { url: url.to_string(), dir, name };
    let client = reqwest::blocking::Client::builder()
        .user_agent(concat!("gantry/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| format!("{url}: {e}"))?;
    let mut resp = client.get(parsed).send().map_err(|e| format!("{url}: {}", root_cause(&e)))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: invalid response status {}", resp.status()));
    }
    let modified = resp
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map(std::time::SystemTime::from);
    let path = d.dir.join(&d.name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = resp.read(&mut buf).map_err(|e| format!("{url}: {e}"))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let actual = hash.finish();
    if let Some(expected) = expected {
        if actual != expected {
            return Err(format!("digest mismatch {actual}: {expected}"));
        }
    }
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(t) = modified {
        file.set_modified(t).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(d)
}

fn root_cause(e: &reqwest::Error) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
