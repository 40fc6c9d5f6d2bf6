//! Where the store lives: `--root`, else `GANTRY_ROOT`, else `/var/lib/gantry` for
//! root and `$XDG_DATA_HOME/gantry` (or `~/.local/share/gantry`) for anyone else.

use std::path::PathBuf;

pub fn default_root() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/gantry");
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("gantry");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".local/share/gantry")
}
