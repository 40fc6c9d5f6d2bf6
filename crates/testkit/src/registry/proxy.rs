//! A fault-injecting HTTP/1.1 proxy in front of a plain-HTTP [`Registry`].
//!
//! Each client connection carries one request: it is forwarded (body included, whether
//! framed by `Content-Length` or chunked) on a fresh upstream connection with
//! `Connection: close`, the response is streamed back with `Connection: close`, and both
//! connections are closed. The `Host` header is forwarded unchanged, so the registry
//! builds its upload `Location`s with the proxy's address; any `Location` naming the
//! registry's own address is rewritten to the proxy's all the same.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http::{self, Head};
use super::Registry;

/// What the proxy breaks. Only `GET`s of blobs (`/v2/NAME/blobs/DIGEST`, not uploads)
/// are affected; everything else passes through unchanged.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Flips one byte in the middle of the body of the first blob `GET` whose body is
    /// larger than 1 KiB.
    CorruptBlob,
    /// Answers the first `times` blob `GET`s with 429 Too Many Requests, a
    /// `Retry-After: retry_after_secs` header and the distribution spec's JSON error body
    /// (code `TOOMANYREQUESTS`), then passes them through.
    TooManyRequests { times: usize, retry_after_secs: u64 },
    /// Closes the connection after `bytes` body bytes of the first blob `GET` whose body
    /// is larger than `bytes` (clients should resume with `Range: bytes=N-`).
    CutBlob { bytes: u64 },
}

struct State {
    upstream: SocketAddr,
    upstream_host: String,
    proxy_host: String,
    fault: Fault,
    served: Mutex<usize>,
    requests: Mutex<Vec<String>>,
}

impl State {
    /// Claims one firing of the fault if it has fired fewer than `limit` times.
    fn claim(&self, limit: usize) -> bool {
        let mut served = self.served.lock().unwrap();
        if *served < limit {
            *served += 1;
            true
        } else {
            false
        }
    }
}

/// See the module documentation.
pub struct FaultProxy {
    server: http::Server,
    state: Arc<State>,
}

impl FaultProxy {
    /// Starts a proxy on a free 127.0.0.1 port in front of `upstream`, which must serve
    /// plain HTTP.
    pub fn start(upstream: &Registry, fault: Fault) -> FaultProxy {
        assert!(upstream.ca_pem().is_none(), "FaultProxy forwards plain HTTP; start the registry without tls");
        let mut state = None;
        let server = http::Server::start("fault-proxy", |addr| {
            let st = Arc::new(State {
                upstream: SocketAddr::from(([127, 0, 0, 1], upstream.port())),
                upstream_host: upstream.host(),
                proxy_host: addr.to_string(),
                fault,
                served: Mutex::new(0),
                requests: Mutex::new(Vec::new()),
            });
            state = Some(st.clone());
            move |conn| {
                let _ = handle(&st, conn);
            }
        });
        let state = state.expect("fault proxy state");
        FaultProxy { server, state }
    }

    /// `127.0.0.1:PORT` of the proxy: use it as the registry host.
    pub fn host(&self) -> String {
        self.server.addr.to_string()
    }

    pub fn port(&self) -> u16 {
        self.server.addr.port()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// How many times the fault fired.
    pub fn faults_served(&self) -> usize {
        *self.state.served.lock().unwrap()
    }

    /// Every request seen, in order, as `METHOD TARGET`, followed by ` Range: VALUE` when
    /// the request had a `Range` header.
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }
}

/// `/v2/NAME/blobs/DIGEST` (not `/v2/NAME/blobs/uploads/...`).
fn is_blob_path(path: &str) -> bool {
    path.starts_with("/v2/")
        && path
            .rsplit_once("/blobs/")
            .is_some_and(|(name, digest)| name.len() > "/v2/".len() && digest.contains(':') && !digest.contains('/'))
}

/// Hop-by-hop headers the proxy does not forward (it sets `Connection: close` itself and
/// answers `Expect: 100-continue` on its own).
fn hop_by_hop(name: &str) -> bool {
    ["connection", "keep-alive", "proxy-connection", "expect", "upgrade", "te"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

fn handle(st: &State, client: TcpStream) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut cr = BufReader::new(client.try_clone()?);
    let mut cw = client;
    // A TLS handshake (clients try HTTPS first on loopback) is answered as a plain HTTP
    // server answers it: with a 400 and a closed connection, not with silence.
    if cr.fill_buf()?.first() == Some(&0x16) {
        cw.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")?;
        return Ok(());
    }
    let Some(head) = http::read_head(&mut cr)? else { return Ok(()) };
    let (method, target) = head.request_line();
    let (method, target) = (method.to_string(), target.to_string());
    let path = target.split('?').next().unwrap_or("");
    let mut line = format!("{method} {target}");
    if let Some(range) = head.get("range") {
        line.push_str(&format!(" Range: {range}"));
    }
    st.requests.lock().unwrap().push(line);
    let blob_get = method == "GET" && is_blob_path(path);

    if let Fault::TooManyRequests { times, retry_after_secs } = st.fault {
        if blob_get && st.claim(times) {
            let body = br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"too many requests","detail":null}]}"#;
            let headers =
                [("Content-Type", "application/json".to_string()), ("Retry-After", retry_after_secs.to_string())];
            http::respond(&mut cw, "429 Too Many Requests", &headers, body)?;
            let _ = cw.shutdown(Shutdown::Write);
            return Ok(());
        }
    }

    if head.get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        cw.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        cw.flush()?;
    }
    let mut up_head = Head {
        first: head.first.clone(),
        headers: head.headers.iter().filter(|(n, _)| !hop_by_hop(n)).cloned().collect(),
    };
    up_head.headers.push(("Connection".into(), "close".into()));

    let upstream = TcpStream::connect_timeout(&st.upstream, Duration::from_secs(10))?;
    upstream.set_read_timeout(Some(Duration::from_secs(60)))?;
    {
        let mut uw = BufWriter::new(upstream.try_clone()?);
        uw.write_all(&up_head.to_bytes())?;
        http::copy_body(&head, &mut cr, &mut uw)?;
        uw.flush()?;
    }
    let mut ur = BufReader::new(upstream);
    let Some(mut resp) = http::read_head(&mut ur)? else { return Ok(()) };
    while (100..200).contains(&resp.status()) && resp.status() != 101 {
        match http::read_head(&mut ur)? {
            Some(next) => resp = next,
            None => return Ok(()),
        }
    }
    let status = resp.status();
    let mut headers = Vec::with_capacity(resp.headers.len() + 1);
    for (n, v) in &resp.headers {
        if hop_by_hop(n) {
            continue;
        }
        if n.eq_ignore_ascii_case("location") {
            headers.push((n.clone(), v.replace(&st.upstream_host, &st.proxy_host)));
        } else {
            headers.push((n.clone(), v.clone()));
        }
    }
    headers.push(("Connection".into(), "close".into()));
    let resp = Head { first: resp.first, headers };
    cw.write_all(&resp.to_bytes())?;

    let len = resp.content_length();
    let faultable = blob_get && (status == 200 || status == 206);
    match (&st.fault, len) {
        (Fault::CorruptBlob, Some(len)) if faultable && len > 1024 && st.claim(1) => {
            http::copy_exact(&mut ur, &mut cw, len / 2)?;
            let mut b = [0u8; 1];
            ur.read_exact(&mut b)?;
            b[0] ^= 0xff;
            cw.write_all(&b)?;
            io::copy(&mut ur, &mut cw)?;
        }
        (Fault::CutBlob { bytes }, Some(len)) if faultable && len > *bytes && st.claim(1) => {
            http::copy_exact(&mut ur, &mut cw, *bytes)?;
            cw.flush()?;
            let _ = cw.shutdown(Shutdown::Both);
            return Ok(());
        }
        _ => {
            io::copy(&mut ur, &mut cw)?;
        }
    }
    cw.flush()?;
    let _ = cw.shutdown(Shutdown::Write);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_paths_exclude_uploads_and_manifests() {
        assert!(is_blob_path("/v2/library/app/blobs/sha256:abcd"));
        assert!(!is_blob_path("/v2/app/blobs/uploads/"));
        assert!(!is_blob_path("/v2/app/blobs/uploads/0b7a-uuid"));
        assert!(!is_blob_path("/v2/app/manifests/sha256:abcd"));
        assert!(!is_blob_path("/v2/blobs/sha256:abcd"));
    }
}
