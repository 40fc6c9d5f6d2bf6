//! Diagnostics on stderr in logrus's text format (docker's), shown from the level set by
//! `--log-level`, or from `debug` with `-D`. Default `info`: commands stay quiet, so
//! stderr carries only errors.

use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
    Fatal = 4,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }
}

/// `level` is one of clap's accepted values; `-D` forces debug, as in docker.
pub fn init(level: &str, debug: bool) {
    let l = match level {
        _ if debug => Level::Debug,
        "debug" => Level::Debug,
        "warn" => Level::Warn,
        "error" => Level::Error,
        "fatal" => Level::Fatal,
        _ => Level::Info,
    };
    LEVEL.store(l as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

pub fn emit(level: Level, msg: &str) {
    if enabled(level) {
        let time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ");
        eprintln!("time=\"{time}\" level={} msg={:?}", level.name(), msg);
    }
}

/// `debug!("loaded {n} images")`: formats only when debug output is on.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::log::enabled($crate::log::Level::Debug) {
            $crate::log::emit($crate::log::Level::Debug, &format!($($arg)*));
        }
    };
}
