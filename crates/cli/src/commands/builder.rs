//! `builder prune`, and the build-cache accounting that `system df` shares with it.
//!
//! gantry's build cache is the store's cache records: one per executed step, naming
//! the image state (config and layers) after that step. Docker's words map onto them
//! as follows, so that `prune` and `df` agree:
//!
//! - A record is **dangling** when no stored image was built from it: its layer chain
//!   is not a prefix of any image's layers (the image was removed, or the build
//!   failed or was superseded). `builder prune` removes dangling records; `-a` removes
//!   every record. Records of images that still exist are kept by default, so
//!   rebuilding them stays cached.
//! - The cache's **size** is what only the cache holds: the content size (as docker
//!   counts layers) of each distinct layer that some record references and no image
//!   uses. Layers shared with images cost the cache nothing. `system df` prints that
//!   as SIZE and RECLAIMABLE (what `builder prune -a` frees); ACTIVE is 0, since no
//!   gantry build holds records once it has finished.
//! - `--filter until=<duration|timestamp>` (or `unused-for=`) keeps records used more
//!   recently; `--keep-storage` removes least recently used records first and stops
//!   once the cache size is at most that many bytes.

use std::collections::{HashMap, HashSet};

use gantry_image::Digest;
use gantry_store::{CacheRecord, Store};

use super::filter::parse_until;
use super::system::Pruned;
use super::{confirm, print, Ctx};
use crate::cli::BuilderPruneArgs;
use crate::error::{msg, CliError};

/// The cache records with what is needed to size them and tell dangling ones.
pub(crate) struct CacheUsage {
    /// Least recently used first.
    pub records: Vec<CacheRecord>,
    /// Layers some image uses: they cost the cache nothing.
    image_layers: HashSet<Digest>,
    /// Every image's layer chain, bottom first.
    chains: Vec<Vec<Digest>>,
}

impl CacheUsage {
    pub fn load(store: &Store) -> Result<CacheUsage, CliError> {
        let records = store.cache_records()?;
        let by_image = store.all_image_layers()?;
        let chains: Vec<Vec<Digest>> =
            store.images()?.iter().map(|i| by_image.get(&i.id).cloned().unwrap_or_default()).collect();
        let image_layers = chains.iter().flatten().copied().collect();
        Ok(CacheUsage { records, image_layers, chains })
    }

    /// No image was built from this record (see the module notes).
    pub fn is_dangling(&self, r: &CacheRecord) -> bool {
        let layers: Vec<Digest> = r.layers.iter().map(|l| l.diff_id).collect();
        !self.chains.iter().any(|c| c.starts_with(&layers))
    }

    /// Content sizes of the layers only the cache holds, each counted once.
    fn cache_only_layers(&self) -> HashMap<Digest, u64> {
        self.records
            .iter()
            .flat_map(|r| &r.layers)
            .filter(|l| !self.image_layers.contains(&l.diff_id))
            .map(|l| (l.diff_id, l.content_size))
            .collect()
    }

    /// The cache's size: what removing every record would free.
    pub fn size(&self) -> u64 {
        self.cache_only_layers().values().sum()
    }
}

/// go-units `RAMInBytes`, which docker's `--keep-storage` takes: a number with an
/// optional binary unit (`b`, `k`, `m`, `g`, `t`, `p`, optionally followed by `b` or
/// `ib`, any case): `512m`, `1gb`, `1.5GiB`.
fn parse_bytes(s: &str) -> Result<u64, CliError> {
    let bad = || msg(format!("invalid argument {s:?} for \"--keep-storage\" flag: invalid size: '{s}'"));
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim_start_matches(' ').to_ascii_lowercase();
    let unit = unit.strip_suffix("ib").or_else(|| unit.strip_suffix('b')).unwrap_or(&unit);
    let scale: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    Ok((n * scale) as u64)
}

pub fn prune(ctx: &mut Ctx, a: &BuilderPruneArgs) -> Result<(), CliError> {
    let keep_storage = a.keep_storage.as_deref().map(parse_bytes).transpose()?;
    let mut until: Option<i64> = None;
    for f in &a.filter {
        let (key, value) =
            f.split_once('=').ok_or_else(|| msg(format!("bad format of filter (expected name=value): {f}")))?;
        match key.trim().to_ascii_lowercase().as_str() {
            "until" | "unused-for" => {
                let t = parse_until(value)?;
                until = Some(until.map_or(t, |u| u.min(t)));
            }
            other => return Err(msg(format!("Invalid filter '{other}'"))),
        }
    }
    if !a.force {
        let warning = if a.all {
            "WARNING! This will remove all build cache. Are you sure you want to continue?"
        } else {
            "WARNING! This will remove all dangling build cache. Are you sure you want to continue?"
        };
        if !confirm(warning) {
            print("Total reclaimed space: 0B\n");
            return Ok(());
        }
    }
    let pruned = prune_cache(ctx, a.all, until, keep_storage, &[])?;
    print(&format!("{}Total reclaimed space: {}\n", pruned.section("Deleted build cache objects:"), pruned.human()));
    Ok(())
}

/// Removes dangling cache records (all with `all`) last used before `until`, least
/// recently used first until the cache is at most `keep_storage` bytes; lists the
/// records removed with the bytes of the layers released (see the module notes),
/// less those of `counted`: layers an image prune just reported.
pub(crate) fn prune_cache(
    ctx: &mut Ctx,
    all: bool,
    until: Option<i64>,
    keep_storage: Option<u64>,
    counted: &[Digest],
) -> Result<Pruned, CliError> {
    let usage = CacheUsage::load(&ctx.store)?;
    let sizes = usage.cache_only_layers();
    // How many records use each cache-only layer: a layer is freed with its last one.
    let mut users: HashMap<Digest, usize> = HashMap::new();
    for r in &usage.records {
        let distinct: HashSet<Digest> = r.layers.iter().map(|l| l.diff_id).filter(|d| sizes.contains_key(d)).collect();
        for d in distinct {
            *users.entry(d).or_default() += 1;
        }
    }
    let mut remaining = usage.size();
    let mut reclaimed = 0u64;
    let mut deleted: Vec<Digest> = Vec::new();
    for r in &usage.records {
        if keep_storage.is_some_and(|keep| remaining <= keep) {
            break;
        }
        if !all && !usage.is_dangling(r) {
            continue;
        }
        if until.is_some_and(|u| r.last_used_unix_nanos >= u) {
            continue;
        }
        let distinct: HashSet<Digest> = r.layers.iter().map(|l| l.diff_id).collect();
        for d in distinct {
            let Some(n) = users.get_mut(&d) else { continue };
            *n -= 1;
            if *n == 0 {
                let size = sizes.get(&d).copied().unwrap_or(0);
                remaining = remaining.saturating_sub(size);
                if !counted.contains(&d) {
                    reclaimed += size;
                }
            }
        }
        deleted.push(r.key);
    }
    ctx.store.cache_remove(&deleted)?;
    // RUN --mount=type=cache directories are build cache too; `-a` without filters
    // removes them (a cache mount in use by a running build keeps its open files).
    if all && until.is_none() && keep_storage.is_none() {
        let mounts = ctx.store.root().join("cache-mounts");
        if let Ok(entries) = std::fs::read_dir(&mounts) {
            for e in entries.flatten() {
                reclaimed += gantry_store::disk_usage(&e.path());
                let _ =
                    if e.path().is_dir() { std::fs::remove_dir_all(e.path()) } else { std::fs::remove_file(e.path()) };
            }
        }
    }
    // Never wait for a running command: if one is working, the next prune sweeps.
    let gc = ctx.store.gc(false)?;
    if gc.skipped {
        crate::debug!("blob sweep skipped: another command holds the store; the next prune collects");
    } else {
        crate::debug!("swept {} unreferenced blob(s)", gc.removed.len());
    }
    Ok(Pruned { items: deleted.iter().map(|k| k.to_string()).collect(), reclaimed, layers: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("0").unwrap(), 0);
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("1k").unwrap(), 1024);
        assert_eq!(parse_bytes("1gb").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5m").unwrap(), 3 << 19);
        assert_eq!(parse_bytes("2 MB").unwrap(), 2 << 20);
        for bad in ["", "gb", "1x", "-1", "1.2.3k"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn until_values() {
        let now = crate::views::now_nanos();
        let day = parse_until("24h").unwrap();
        assert!((now - day - 86_400_000_000_000).abs() < 5_000_000_000);
        let mixed = parse_until("1h30m").unwrap();
        assert!((now - mixed - 5_400_000_000_000).abs() < 5_000_000_000);
        assert_eq!(parse_until("1700000000").unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(parse_until("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(parse_until("1970-01-02").unwrap(), 86_400_000_000_000);
        for bad in ["", "h", "10x", "1h30"] {
            assert!(parse_until(bad).is_err(), "{bad}");
        }
    }
}
