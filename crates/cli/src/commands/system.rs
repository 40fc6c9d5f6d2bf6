//! `system df`, `info` and `version`.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::{print, Ctx};
use crate::cli::{DfArgs, FormatOnly};
use crate::error::{msg, CliError};
use crate::format::{render, units, Format};

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
        let written = super::builder::dir_size(&dir.join("upper"));
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

/// Which snapshotter containers will use: overlayfs where the kernel has it.
fn storage_driver() -> &'static str {
    let fs = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if fs.lines().any(|l| l.trim_end().ends_with("overlay")) {
        "overlay"
    } else {
        // The copy-based snapshotter is not written yet: say so rather than pretend.
        "none (overlayfs unavailable: RUN and containers cannot run)"
    }
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
        "Images": images.len(), "Blobs": blobs, "Driver": storage_driver(), "DockerRootDir": root,
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
            storage_driver(),
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
