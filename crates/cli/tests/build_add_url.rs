//! ADD of an HTTP URL, as BuildKit does it: downloaded (never unpacked, even when it is
//! an archive), mode 0600, mtime from `Last-Modified`, into a directory destination by
//! the URL's last path segment or as the named file; `--checksum` verified.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use gantry_testkit::base;
use gantry_testkit::Gantry;

/// Serves `files` (path -> body) over HTTP/1.1 on 127.0.0.1, one request per
/// connection, with a fixed Last-Modified; 404 for anything else. Counts requests.
fn serve(files: Vec<(&'static str, Vec<u8>)>) -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(Mutex::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).map(|n| n == 0).unwrap_or(true) || h == "\r\n" {
                    break;
                }
            }
            *counter.lock().unwrap() += 1;
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let _ = match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => conn
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Sat, 01 Jan 2000 00:00:00 GMT\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| conn.write_all(body)),
                None => conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            };
        }
    });
    (format!("http://{addr}"), hits)
}

fn sha256_hex(data: &[u8]) -> String {
    base::sha256_digest(data).trim_start_matches("sha256:").to_string()
}

fn build(g: &Gantry, dir: &Path, dockerfile: &str) -> gantry_testkit::Run {
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    g.run(&["build", "-q", "-t", "added", dir.to_str().unwrap()])
}

#[test]
fn add_url_downloads_verifies_and_never_unpacks() {
    let tmp = tempfile::tempdir().unwrap();
    let img = base::busybox_archive(tmp.path(), "bb:1");
    let g = Gantry::new(env!("CARGO_BIN_EXE_gantry"));
    g.ok(&["load", "-i", img.archive.to_str().unwrap()]);
    // A real gzip'd tar, which ADD would unpack were it a local file.
    let mut tgz = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut tgz, flate2::Compression::default());
        let mut t = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, "inner.txt", &b"hi"[..]).unwrap();
        t.into_inner().unwrap().finish().unwrap();
    }
    let text = b"hello from the web\n".to_vec();
    let (url, hits) = serve(vec![("/files/notes.txt", text.clone()), ("/a.tar.gz", tgz.clone())]);
    let ctx = tempfile::tempdir().unwrap();
    let df = format!(
        "FROM bb:1\nADD {url}/files/notes.txt /dl/\nADD --checksum=sha256:{} {url}/a.tar.gz /archive.tgz\nADD {url}/files/notes.txt /renamed\n",
        sha256_hex(&tgz)
    );
    let r = build(&g, ctx.path(), &df);
    assert!(r.success(), "{}{}", r.stdout, r.stderr);
    let out = g.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "added",
        "sh",
        "-c",
        "cat /dl/notes.txt; stat -c '%a %s %Y %u' /dl/notes.txt /archive.tgz /renamed; ls /dl",
    ]);
    assert_eq!(
        out,
        format!(
            "hello from the web\n600 {} 946684800 0\n600 {} 946684800 0\n600 {} 946684800 0\nnotes.txt\n",
            text.len(),
            tgz.len(),
            text.len()
        )
    );
    assert_eq!(*hits.lock().unwrap(), 3);

    // A wrong checksum: one clear error naming the line, no image.
    let bad = format!("FROM bb:1\nADD --checksum=sha256:{} {url}/files/notes.txt /x\n", "0".repeat(64));
    let r = build(&g, ctx.path(), &bad);
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("digest mismatch"), "{}", r.stderr);
    // A URL that answers 404, and a malformed checksum.
    let r = build(&g, ctx.path(), &format!("FROM bb:1\nADD {url}/missing /x\n"));
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("404"), "{}", r.stderr);
    let r = build(&g, ctx.path(), &format!("FROM bb:1\nADD --checksum=md5:abc {url}/files/notes.txt /x\n"));
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("invalid checksum"), "{}", r.stderr);
}
