//! Per-layer progress of pulls and pushes as docker shows it: on a terminal one line per
//! layer, redrawn in place with a bar; otherwise one plain line per change of state
//! (docker drops the moving progress lines when stdout is not a terminal).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gantry_registry::{Progress, Status};

use crate::format::units::human_size_with_precision;

/// Where progress goes: stdout for `pull`/`push`, stderr for `run` pulling its image
/// (its stdout is the container's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Out {
    #[default]
    Stdout,
    Stderr,
}

impl Out {
    pub fn print(self, s: &str) {
        let _ = self.lock().write_all(s.as_bytes());
    }

    fn lock(self) -> Box<dyn Write> {
        match self {
            Out::Stdout => Box::new(std::io::stdout().lock()),
            Out::Stderr => Box::new(std::io::stderr().lock()),
        }
    }

    fn is_terminal(self) -> bool {
        use std::io::IsTerminal;
        match self {
            Out::Stdout => std::io::stdout().is_terminal(),
            Out::Stderr => std::io::stderr().is_terminal(),
        }
    }
}

/// Plain lines: `id: Pull complete`.
#[derive(Default)]
pub struct Lines {
    out: Out,
    last: Mutex<HashMap<String, String>>,
}

impl Progress for Lines {
    fn layer(&self, id: &str, status: Status) {
        if status.amount().is_some() {
            return;
        }
        let text = status.to_string();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.get(id) == Some(&text) {
            return;
        }
        last.insert(id.to_string(), text.clone());
        self.out.print(&format!("{id}: {text}\n"));
    }
}

/// Lines redrawn in place on a terminal.
pub struct Bars {
    out: Out,
    state: Mutex<BarState>,
}

struct BarState {
    order: Vec<String>,
    last_draw: HashMap<String, Instant>,
}

impl Bars {
    pub fn new(out: Out) -> Bars {
        Bars { out, state: Mutex::new(BarState { order: Vec::new(), last_draw: HashMap::new() }) }
    }
}

impl Progress for Bars {
    fn layer(&self, id: &str, status: Status) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let line = match status.amount() {
            Some((cur, total)) => format!("{id}: {status} {}", bar(cur, total)),
            None => format!("{id}: {status}"),
        };
        // Moving bars are redrawn at most ten times a second per layer.
        let now = Instant::now();
        if status.amount().is_some()
            && st.last_draw.get(id).is_some_and(|t| now.duration_since(*t) < Duration::from_millis(100))
        {
            return;
        }
        st.last_draw.insert(id.to_string(), now);
        let mut out = self.out.lock();
        match st.order.iter().position(|x| x == id) {
            None => {
                st.order.push(id.to_string());
                let _ = writeln!(out, "{line}");
            }
            Some(pos) => {
                let up = st.order.len() - pos;
                let _ = write!(out, "\x1b[{up}A\x1b[2K\r{line}\x1b[{up}B\r");
            }
        }
        let _ = out.flush();
    }
}

/// `[=====>        ]  12.3MB/45.6MB`, docker's bar.
fn bar(current: u64, total: u64) -> String {
    const WIDTH: u64 = 50;
    let size = |n: u64| human_size_with_precision(n as f64, 3);
    if total == 0 || current > total {
        return format!("{:>8}", size(current));
    }
    let filled = (WIDTH * current / total).min(WIDTH);
    let mut b = "=".repeat(filled as usize);
    if filled < WIDTH {
        b.push('>');
        b.push_str(&" ".repeat((WIDTH - filled - 1) as usize));
    }
    format!("[{b}] {:>8}/{}", size(current), size(total))
}

/// The display for `out`: bars on a terminal, lines otherwise, nothing when quiet.
pub fn display(out: Out, quiet: bool) -> Box<dyn Progress + Send> {
    if quiet {
        Box::new(gantry_registry::Quiet)
    } else if out.is_terminal() {
        Box::new(Bars::new(out))
    } else {
        Box::new(Lines { out, ..Default::default() })
    }
}
