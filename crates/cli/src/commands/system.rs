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
    let mut seen = HashSet::new();
    let mut size = 0u64;
    for img in &images {
        for l in ctx.store.layers(&img.id)? {
            if seen.insert(l.diff_id) {
                size += l.content_size;
            }
        }
    }
    let zero = |t: &str| json!({"Type": t, "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"});
    // Build cache as `builder prune` sees it (see builder.rs): SIZE is what only the
    // cache holds, all of it reclaimable; docker prints no percentage on this row.
    let cache = super::builder::CacheUsage::load(&ctx.store)?;
    let cache_size = units::human_size_with_precision(cache.size() as f64, 4);
    let rows = vec![
        json!({"Type": "Images", "TotalCount": images.len().to_string(), "Active": "0",
               "Size": units::human_size_with_precision(size as f64, 4), "Reclaimable": reclaimable(size, size)}),
        zero("Containers"),
        zero("Local Volumes"),
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
        "copy"
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
    let blobs = std::fs::read_dir(ctx.store.root().join("blobs/sha256")).map(|d| d.count()).unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let root = ctx.store.root().display().to_string();
    let value = json!({
        "Containers": 0, "ContainersRunning": 0, "ContainersPaused": 0, "ContainersStopped": 0,
        "Images": images.len(), "Blobs": blobs, "Driver": storage_driver(), "DockerRootDir": root,
        "ServerVersion": env!("CARGO_PKG_VERSION"), "KernelVersion": kernel, "OSType": "linux",
        "Architecture": std::env::consts::ARCH, "NCPU": ncpu, "Name": host, "Daemonless": true,
    });
    template_or(&a.format, &value, || {
        format!(
            "Client:\n Context:    default\n Debug Mode: false\n\nServer:\n Containers: 0\n  Running: 0\n  Paused: 0\n  Stopped: 0\n \
             Images: {}\n Server Version: {} (gantry, daemonless)\n Storage Driver: {}\n Docker Root Dir: {}\n \
             Blobs: {}\n Kernel Version: {}\n OSType: linux\n Architecture: {}\n CPUs: {}\n Name: {}\n",
            images.len(),
            env!("CARGO_PKG_VERSION"),
            storage_driver(),
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
