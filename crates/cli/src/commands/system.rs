//! `system df`, `system prune`, `info` and `version`.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::filter::Filters;
use super::{confirm, print, Ctx};
use crate::cli::{DfArgs, FormatOnly, SystemPruneArgs};
use crate::error::{msg, CliError};
use crate::format::{render, units, Format};

/// What one prune removed, as docker lists it, and the bytes that freed: the prune
/// commands and `system prune` share the work and differ only in what they print.
#[derive(Default, Debug)]
pub(crate) struct Pruned {
    pub items: Vec<String>,
    pub reclaimed: u64,
    /// Layers (diff IDs) `reclaimed` counts, so that a later prune does not count
    /// them again.
    pub layers: Vec<gantry_image::Digest>,
}

impl Pruned {
    /// docker's section: the header, one line per item and a blank line; nothing
    /// when nothing was removed.
    pub fn section(&self, header: &str) -> String {
        if self.items.is_empty() {
            return String::new();
        }
        let mut s = format!("{header}\n");
        for i in &self.items {
            s.push_str(i);
            s.push('\n');
        }
        s.push('\n');
        s
    }

    /// The reclaimed bytes as docker prints them (go-units `HumanSize`).
    pub fn human(&self) -> String {
        units::human_size_with_precision(self.reclaimed as f64, 4)
    }
}

/// The filter keys every pruner `system prune` runs accepts.
const PRUNE_FILTERS: [&str; 3] = ["label", "label!", "until"];

/// docker 20.10's confirmation: what will go, then the filters (naturally sorted).
fn prune_warning(a: &SystemPruneArgs, filters: &Filters) -> String {
    let mut warnings = vec!["all stopped containers", "all networks not used by at least one container"];
    if a.volumes {
        warnings.push("all volumes not used by at least one container");
    }
    warnings.push(match a.all {
        true => "all images without at least one container associated to them",
        false => "all dangling images",
    });
    warnings.push(if a.all { "all build cache" } else { "all dangling build cache" });
    let mut shown: Vec<String> =
        PRUNE_FILTERS.iter().flat_map(|k| filters.get(k).iter().map(move |v| format!("{k}={v}"))).collect();
    shown.sort_by(|x, y| natural_cmp(x, y));
    let mut text = String::from("WARNING! This will remove:");
    for w in warnings {
        text.push_str(&format!("\n  - {w}"));
    }
    text.push('\n');
    if !shown.is_empty() {
        text.push_str("\n  Items to be pruned will be filtered with:");
        for f in &shown {
            text.push_str(&format!("\n  - {f}"));
        }
        text.push('\n');
    }
    text.push_str("\nAre you sure you want to continue?");
    text
}

/// `sortorder.NaturalLess`: runs of digits compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        let (Some(x), Some(y)) = (a.chars().next(), b.chars().next()) else { return a.len().cmp(&b.len()) };
        if x.is_ascii_digit() && y.is_ascii_digit() {
            let da = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
            let db = b.find(|c: char| !c.is_ascii_digit()).unwrap_or(b.len());
            let (na, nb) = (a[..da].trim_start_matches('0'), b[..db].trim_start_matches('0'));
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb)).then_with(|| da.cmp(&db));
            if o.is_ne() {
                return o;
            }
            (a, b) = (&a[da..], &b[db..]);
        } else {
            if x != y {
                return x.cmp(&y);
            }
            (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]);
        }
    }
}

/// `system prune`: stopped containers, then (with `--volumes`) unused volumes, then
/// dangling images (unused with `-a`), then dangling build cache (all with `-a`),
/// each section printed as it completes, as docker does; gantry has no networks to
/// prune. As in docker, only the filter's shape is checked before the prompt.
pub fn prune(ctx: &mut Ctx, a: &SystemPruneArgs) -> Result<(), CliError> {
    let filters = Filters::parse_any(&a.filter)?;
    if a.volumes && filters.contains("until") {
        return Err(msg("The \"until\" filter is not supported with \"--volumes\""));
    }
    if !a.force && !confirm(&prune_warning(a, &filters)) {
        return Ok(());
    }
    filters.validate(&PRUNE_FILTERS)?;
    let until = filters.until()?;
    let mut reclaimed = 0u64;
    let containers = super::containers::prune_stopped(ctx, &filters)?;
    print(&containers.section("Deleted Containers:"));
    reclaimed += containers.reclaimed;
    if a.volumes {
        let volumes = super::volumes::prune_unused(ctx, &filters)?;
        print(&volumes.section("Deleted Volumes:"));
        reclaimed += volumes.reclaimed;
    }
    let image_filters: Vec<String> =
        PRUNE_FILTERS.iter().flat_map(|k| filters.get(k).iter().map(move |v| format!("{k}={v}"))).collect();
    let images = super::remove::prune_images(ctx, a.all, &image_filters)?;
    print(&images.section("Deleted Images:"));
    reclaimed += images.reclaimed;
    // The build cache ignores label filters: docker's builder accepts them and does
    // nothing with them. Layers just counted for images are not counted twice.
    let cache = super::builder::prune_cache(ctx, a.all, until, None, &images.layers)?;
    print(&cache.section("Deleted build cache objects:"));
    reclaimed += cache.reclaimed;
    print(&format!("Total reclaimed space: {}\n", Pruned { reclaimed, ..Default::default() }.human()));
    Ok(())
}

const DF_TABLE: &str = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";

/// `Reclaimable` as docker prints it: size and share of the total.
fn reclaimable(reclaim: u64, total: u64) -> String {
    if total == 0 {
        return units::human_size_with_precision(reclaim as f64, 4);
    }
    format!("{} ({}%)", units::human_size_with_precision(reclaim as f64, 4), reclaim * 100 / total)
}

pub fn df(ctx: &Ctx, a: &DfArgs) -> Result<(), CliError> {
    if a.verbose {
        return Err(msg("system df --verbose is not supported yet"));
    }
    let images = ctx.store.images()?;
    let containers = ctx.store.containers()?;
    let in_use: HashSet<_> = containers.iter().map(|c| c.image_id).collect();
    // Layers count once; those of images containers use are not reclaimable.
    let mut seen = HashSet::new();
    let mut size = 0u64;
    let mut active_layers = HashSet::new();
    for img in &images {
        for l in ctx.store.layers(&img.id)? {
            if in_use.contains(&img.id) {
                active_layers.insert(l.diff_id);
            }
            if seen.insert(l.diff_id) {
                size += l.content_size;
            }
        }
    }
    let mut active_size = 0u64;
    for img in images.iter().filter(|i| in_use.contains(&i.id)) {
        for l in ctx.store.layers(&img.id)? {
            if active_layers.remove(&l.diff_id) {
                active_size += l.content_size;
            }
        }
    }
    // Containers: the size of what each wrote (its upper dir); stopped ones reclaimable.
    let (mut running, mut c_size, mut c_reclaim) = (0usize, 0u64, 0u64);
    for c in &containers {
        let dir = ctx.store.container_dir(&c.id);
        let written = gantry_store::disk_usage(&dir.join("upper"));
        c_size += written;
        let live = gantry_runtime::container::State::live(&dir)
            .is_ok_and(|s| s.status == gantry_runtime::container::Status::Running);
        if live {
            running += 1;
        } else {
            c_reclaim += written;
        }
    }
    let used_volumes = super::volumes::users(ctx)?;
    let volumes = ctx.store.volumes()?;
    let (mut v_size, mut v_reclaim) = (0u64, 0u64);
    for v in &volumes {
        let n = ctx.store.volume_size(&v.name);
        v_size += n;
        if !used_volumes.contains_key(&v.name) {
            v_reclaim += n;
        }
    }
    let human = |n: u64| units::human_size_with_precision(n as f64, 4);
    // Build cache as `builder prune` sees it (see builder.rs): SIZE is what only the
    // cache holds, all of it reclaimable; docker prints no percentage on this row.
    let cache = super::builder::CacheUsage::load(&ctx.store)?;
    let cache_size = human(cache.size());
    let rows = vec![
        json!({"Type": "Images", "TotalCount": images.len().to_string(), "Active": in_use.len().to_string(),
               "Size": human(size), "Reclaimable": reclaimable(size - active_size.min(size), size)}),
        json!({"Type": "Containers", "TotalCount": containers.len().to_string(), "Active": running.to_string(),
               "Size": human(c_size), "Reclaimable": reclaimable(c_reclaim, c_size)}),
        json!({"Type": "Local Volumes", "TotalCount": volumes.len().to_string(), "Active": used_volumes.len().to_string(),
               "Size": human(v_size), "Reclaimable": reclaimable(v_reclaim, v_size)}),
        json!({"Type": "Build Cache", "TotalCount": cache.records.len().to_string(), "Active": "0",
               "Size": cache_size, "Reclaimable": cache_size}),
    ];
    let headers = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
    let format = Format::parse(a.format.as_deref().unwrap_or(DF_TABLE), DF_TABLE);
    print(&render(&format, &rows, &headers)?);
    Ok(())
}

/// The snapshotter new containers and RUN steps use: the store's choice
/// (`--storage-driver`, else overlay where it can be mounted, else copy).
fn storage_driver(ctx: &Ctx) -> &'static str {
    ctx.store.storage_driver().name()
}

fn template_or<F: FnOnce() -> String>(format: &Option<String>, value: &Value, default: F) -> Result<(), CliError> {
    match format.as_deref() {
        None | Some("") => print(&default()),
        Some("json") => print(&(serde_json::to_string(value).unwrap_or_default() + "\n")),
        Some(f) => print(&render(&Format::Raw(f.to_string()), std::slice::from_ref(value), &Value::Null)?),
    }
    Ok(())
}

pub fn info(ctx: &Ctx, a: &FormatOnly) -> Result<(), CliError> {
    let images = ctx.store.images()?;
    let containers = ctx.store.containers()?;
    let running = containers
        .iter()
        .filter(|c| {
            gantry_runtime::container::State::live(&ctx.store.container_dir(&c.id))
                .is_ok_and(|s| s.status == gantry_runtime::container::Status::Running)
        })
        .count();
    let stopped = containers.len() - running;
    let executor =
        ctx.runtime.as_ref().map(|r| r.display().to_string()).unwrap_or_else(|| "libcontainer (builtin)".into());
    let blobs = std::fs::read_dir(ctx.store.root().join("blobs/sha256")).map(|d| d.count()).unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let root = ctx.store.root().display().to_string();
    let value = json!({
        "Containers": containers.len(), "ContainersRunning": running, "ContainersPaused": 0, "ContainersStopped": stopped,
        "DefaultRuntime": executor,
        "Images": images.len(), "Blobs": blobs, "Driver": storage_driver(ctx), "DockerRootDir": root,
        "ServerVersion": env!("CARGO_PKG_VERSION"), "KernelVersion": kernel, "OSType": "linux",
        "Architecture": std::env::consts::ARCH, "NCPU": ncpu, "Name": host, "Daemonless": true,
    });
    template_or(&a.format, &value, || {
        format!(
            "Client:\n Context:    default\n Debug Mode: false\n\nServer:\n Containers: {}\n  Running: {}\n  Paused: 0\n  Stopped: {}\n \
             Images: {}\n Server Version: {} (gantry, daemonless)\n Storage Driver: {}\n Default Runtime: {}\n Docker Root Dir: {}\n \
             Blobs: {}\n Kernel Version: {}\n OSType: linux\n Architecture: {}\n CPUs: {}\n Name: {}\n",
            containers.len(),
            running,
            stopped,
            images.len(),
            env!("CARGO_PKG_VERSION"),
            storage_driver(ctx),
            executor,
            root,
            blobs,
            kernel,
            std::env::consts::ARCH,
            ncpu,
            host
        )
    })
}

pub fn version(a: &FormatOnly) -> Result<std::process::ExitCode, CliError> {
    let v = env!("CARGO_PKG_VERSION");
    let arch = super::archive::host_arch();
    let value = json!({
        "Client": {"Platform": {"Name": "gantry"}, "Version": v, "ApiVersion": "1.41", "Os": "linux", "Arch": arch},
        "Server": {"Platform": {"Name": "gantry (daemonless)"}, "Version": v, "Os": "linux", "Arch": arch},
    });
    template_or(&a.format, &value, || {
        format!(
            "Client: gantry\n Version:           {v}\n API version:       1.41\n OS/Arch:           linux/{arch}\n\n\
             Server: gantry (daemonless)\n Engine:\n  Version:          {v}\n  OS/Arch:          linux/{arch}\n"
        )
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["label=a10", "until=1h", "label=a9", "label!=x", "label=a09"];
        v.sort_by(|x, y| natural_cmp(x, y));
        assert_eq!(v, ["label!=x", "label=a9", "label=a09", "label=a10", "until=1h"]);
    }
}
