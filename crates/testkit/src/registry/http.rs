//! Just enough HTTP/1.1 for the fixtures: reading a message head, copying a body
//! framed by `Content-Length` or chunked encoding, and writing a small response.
//! Every connection carries one exchange and is then closed.

use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A listener on a free 127.0.0.1 port whose connections are each handled on a thread
/// of their own; stopped (and its accept thread joined) on drop.
pub(crate) struct Server {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds, then asks `make` (given the bound address) for the connection handler.
    pub fn start<H: Fn(TcpStream) + Send + Sync + 'static>(name: &str, make: impl FnOnce(SocketAddr) -> H) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind {name}: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{name} address: {e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = Arc::new(make(addr));
        let thread = {
            let stop = stop.clone();
            let conn_name = format!("{name}-conn");
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(conn) = conn else { continue };
                        let handle = handle.clone();
                        let _ = std::thread::Builder::new().name(conn_name.clone()).spawn(move || handle(conn));
                    }
                })
                .unwrap_or_else(|e| panic!("spawn {name} thread: {e}"))
        };
        Server { addr, stop, thread: Some(thread) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)); // wake accept()
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Longest message head accepted (request line or status line plus headers).
const MAX_HEAD: usize = 64 * 1024;

/// A request or response head: its first line and its headers in order.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub first: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body length announced by `Content-Length`, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.get("content-length").and_then(|v| v.trim().parse().ok())
    }

    /// Whether the body is sent with chunked transfer coding.
    pub fn chunked(&self) -> bool {
        self.get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    /// The head as sent on the wire, ending with the blank line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.first);
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    /// For a request: (method, target).
    pub fn request_line(&self) -> (&str, &str) {
        let mut parts = self.first.split(' ');
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
    }

    /// For a response: the status code (0 if unparsable).
    pub fn status(&self) -> u16 {
        self.first.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }
}

/// Reads one message head. `Ok(None)` when the peer closed before sending anything.
pub(crate) fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut lines = Vec::new();
    let mut total = 0;
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            if lines.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a message head"));
        }
        total += n;
        if total > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "message head too large"));
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        if line.is_empty() {
            if lines.is_empty() {
                continue; // tolerate stray blank lines before a request
            }
            break;
        }
        lines.push(String::from_utf8_lossy(&line).into_owned());
    }
    let first = lines.remove(0);
    let headers = lines
        .into_iter()
        .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_string(), v.trim().to_string())))
        .collect();
    Ok(Some(Head { first, headers }))
}

/// Copies the body framed by `head` from `r` to `w` unchanged (chunk framing included).
/// A head with neither framing has no body (requests; responses here are read to EOF).
pub(crate) fn copy_body(head: &Head, r: &mut impl BufRead, w: &mut impl Write) -> io::Result<()> {
    if head.chunked() {
        loop {
            let mut line = Vec::new();
            if r.read_until(b'\n', &mut line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a chunked body"));
            }
            w.write_all(&line)?;
            let text = String::from_utf8_lossy(&line);
            let size_text = text.trim().split(';').next().unwrap_or("").trim().to_string();
            let size = u64::from_str_radix(&size_text, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {size_text:?}")))?;
            if size == 0 {
                // Trailers, then the final blank line.
                loop {
                    let mut t = Vec::new();
                    if r.read_until(b'\n', &mut t)? == 0 {
                        return Ok(());
                    }
                    w.write_all(&t)?;
                    if t == b"\r\n" || t == b"\n" {
                        return Ok(());
                    }
                }
            }
            copy_exact(r, w, size + 2)?; // the data and its CRLF
        }
    } else if let Some(len) = head.content_length() {
        copy_exact(r, w, len)
    } else {
        Ok(())
    }
}

/// Reads the body framed by `head` into memory (bodies of token requests are small).
pub(crate) fn read_body(head: &Head, r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    if head.chunked() {
        let mut raw = Vec::new();
        copy_body(head, r, &mut raw)?;
        return Ok(dechunk(&raw));
    }
    let mut body = Vec::new();
    if let Some(len) = head.content_length() {
        r.take(len.min(MAX_HEAD as u64)).read_to_end(&mut body)?;
    }
    Ok(body)
}

fn dechunk(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(pos) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..pos]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        rest = &rest[pos + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
    out
}

/// Copies exactly `n` bytes, failing if the reader ends first.
pub(crate) fn copy_exact(r: &mut impl Read, w: &mut impl Write, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), w)?;
    if copied < n {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("body ended after {copied} of {n} bytes")));
    }
    Ok(())
}

/// Writes a complete response with a body and `Connection: close`.
pub(crate) fn respond(w: &mut impl Write, status: &str, headers: &[(&str, String)], body: &[u8]) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    w.write_all(head.as_bytes())?;
    w.write_all(body)?;
    w.flush()
}

/// Decodes `application/x-www-form-urlencoded` text (a query string or a form body)
/// into its pairs, in order.
pub(crate) fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_plus_and_percent_escapes() {
        let f = parse_form("scope=repository%3Afoo%2Fbar%3Apull%2Cpush&a+b=c+d&bad=%zz&end=%4");
        assert_eq!(f[0], ("scope".into(), "repository:foo/bar:pull,push".into()));
        assert_eq!(f[1], ("a b".into(), "c d".into()));
        assert_eq!(f[2], ("bad".into(), "%zz".into()));
        assert_eq!(f[3], ("end".into(), "%4".into()));
    }

    #[test]
    fn chunked_bodies_are_copied_with_their_framing_and_decoded() {
        let raw = b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\nNEXT";
        let head =
            Head { first: "POST / HTTP/1.1".into(), headers: vec![("Transfer-Encoding".into(), "chunked".into())] };
        let mut r = io::BufReader::new(&raw[..]);
        let mut out = Vec::new();
        copy_body(&head, &mut r, &mut out).unwrap();
        assert_eq!(out, &raw[..raw.len() - 4]);
        let mut r = io::BufReader::new(&raw[..]);
        assert_eq!(read_body(&head, &mut r).unwrap(), b"hello world");
    }
}
