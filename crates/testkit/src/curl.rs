//! `curl` as an independent HTTP client for tests that talk to a registry directly
//! (checking fixtures, planting hostile content), so they do not depend on gantry's own.

use std::process::{Command, Stdio};

use crate::require_tool;

/// What curl received: its exit code, the final response's status and headers, the body.
pub struct Resp {
    pub code: i32,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub stderr: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Asserts curl succeeded with HTTP `status`; `what` names the request.
    pub fn expect(self, status: u16, what: &str) -> Resp {
        assert_eq!(
            (self.code, self.status),
            (0, status),
            "{what}: curl exit {} status {}\nheaders: {:?}\nbody: {}\nstderr: {}",
            self.code,
            self.status,
            self.headers,
            self.text(),
            self.stderr
        );
        self
    }
}

/// Runs `curl -sS ARGS...`, capturing the headers of the last response and the body.
pub fn curl(args: &[&str]) -> Resp {
    let tmp = tempfile::tempdir().expect("temp dir");
    let body_path = tmp.path().join("body");
    let out = Command::new(require_tool("curl"))
        .args(["-sS", "--max-time", "30", "-D", "-", "-o"])
        .arg(&body_path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    // The last header block (after any `100 Continue`).
    let block = head.trim_end().rsplit("\r\n\r\n").next().unwrap_or("").to_string();
    let mut lines = block.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers =
        lines.filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))).collect();
    Resp {
        code: out.status.code().unwrap_or(-1),
        status,
        headers,
        body: std::fs::read(&body_path).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
