//! `volume create|ls|inspect|rm|prune`: docker's local volumes, kept by the store;
//! a volume is in use while a container (running or not) names it.

use std::collections::{BTreeMap, BTreeSet};

use gantry_runtime::container::ContainerConfig;
use gantry_store::Volume;
use serde_json::{json, Value};

use super::filter::Filters;
use super::system::Pruned;
use super::{confirm, print, Ctx};
use crate::cli::{ContainerPruneArgs, VolumeCreateArgs, VolumeInspectArgs, VolumeLsArgs, VolumeRmArgs};
use crate::error::{msg, print_error, CliError};
use crate::format::{render, Format};

const VOLUME_TABLE: &str = "table {{.Driver}}\t{{.Name}}";

/// Volume name -> the containers that use it.
pub fn users(ctx: &Ctx) -> Result<BTreeMap<String, Vec<String>>, CliError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rec in ctx.store.containers()? {
        let Ok(cfg) = serde_json::from_str::<ContainerConfig>(&rec.config) else { continue };
        for b in cfg.binds {
            if let Some(v) = b.volume {
                out.entry(v).or_default().push(rec.id.clone());
            }
        }
    }
    Ok(out)
}

fn view(ctx: &Ctx, v: &Volume) -> Value {
    json!({
        "CreatedAt": v.created_at,
        "Driver": "local",
        "Labels": if v.labels.is_empty() { Value::Null } else { json!(v.labels) },
        "Mountpoint": ctx.store.volume_path(&v.name),
        "Name": v.name,
        "Options": Value::Null,
        "Scope": "local",
    })
}

/// A new volume record named `name` (or a random anonymous name).
pub fn new_volume(name: Option<&str>, labels: BTreeMap<String, String>) -> Volume {
    let anonymous = name.is_none();
    let name =
        name.map(str::to_string).unwrap_or_else(|| (0..4).map(|_| format!("{:016x}", rand::random::<u64>())).collect());
    Volume {
        name,
        created_at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        labels,
        anonymous,
    }
}

pub fn create(ctx: &Ctx, a: &VolumeCreateArgs) -> Result<(), CliError> {
    let name = match (&a.name, &a.name_flag) {
        (Some(n), Some(f)) if n != f => {
            return Err(CliError::Usage(format!(
                "conflicting options: either specify --name or provide positional arg, not both ({f}, {n})"
            )))
        }
        (Some(n), _) | (None, Some(n)) => Some(n.as_str()),
        (None, None) => None,
    };
    let labels = a
        .label
        .iter()
        .map(|l| l.split_once('=').map_or((l.clone(), String::new()), |(k, v)| (k.into(), v.into())))
        .collect();
    let v = ctx.store.create_volume(&new_volume(name, labels))?;
    print(&format!("{}\n", v.name));
    Ok(())
}

pub fn ls(ctx: &Ctx, a: &VolumeLsArgs) -> Result<(), CliError> {
    let used = users(ctx)?;
    let mut dangling: Option<bool> = None;
    for f in &a.filter {
        match f.split_once('=') {
            Some(("dangling", v)) => dangling = Some(matches!(v, "true" | "1")),
            _ => return Err(CliError::Usage(format!("invalid filter '{f}'"))),
        }
    }
    let rows: Vec<Value> = ctx
        .store
        .volumes()?
        .iter()
        .filter(|v| dangling.is_none_or(|d| d != used.contains_key(&v.name)))
        .map(|v| {
            json!({"Driver": "local", "Name": v.name, "Mountpoint": ctx.store.volume_path(&v.name), "Scope": "local",
                        "Labels": v.labels.iter().map(|(k, x)| format!("{k}={x}")).collect::<Vec<_>>().join(",")})
        })
        .collect();
    let headers = json!({"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE", "Labels": "LABELS"});
    let format = match (&a.format, a.quiet) {
        (Some(f), _) => Format::parse(f, VOLUME_TABLE),
        (None, true) => Format::Raw("{{.Name}}".into()),
        (None, false) => Format::parse(VOLUME_TABLE, VOLUME_TABLE),
    };
    print(&render(&format, &rows, &headers)?);
    Ok(())
}

pub fn inspect(ctx: &Ctx, a: &VolumeInspectArgs) -> Result<(), CliError> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for n in &a.names {
        match ctx.store.volume(n)? {
            Some(v) => found.push(view(ctx, &v)),
            None => missing.push(n),
        }
    }
    match a.format.as_deref() {
        None | Some("") | Some("json") => print(&(super::inspect::pretty(&Value::Array(found)) + "\n")),
        Some(f) => print(&render(&Format::Raw(f.to_string()), &found, &Value::Null)?),
    }
    for n in &missing {
        print_error(&format!("No such volume: {n}"));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CliError::AlreadyReported)
    }
}

pub fn rm(ctx: &Ctx, a: &VolumeRmArgs) -> Result<(), CliError> {
    let used = users(ctx)?;
    let mut failed = false;
    for n in &a.names {
        let result = match ctx.store.volume(n)? {
            None if a.force => Ok(()),
            None => Err(msg(format!("get {n}: no such volume"))),
            Some(_) => match used.get(n) {
                Some(ids) => Err(msg(format!("remove {n}: volume is in use - [{}]", ids.join(", ")))),
                None => ctx.store.remove_volume(n).map_err(CliError::from),
            },
        };
        match result {
            Ok(()) => print(&format!("{n}\n")),
            Err(e) => {
                print_error(&e);
                failed = true;
            }
        }
    }
    if failed {
        Err(CliError::AlreadyReported)
    } else {
        Ok(())
    }
}

/// docker 20.10's prune: every local volume no container uses.
pub fn prune(ctx: &Ctx, a: &ContainerPruneArgs) -> Result<(), CliError> {
    let filters = Filters::parse(&a.filter, &["label", "label!"])?;
    if !a.force && !confirm("WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?") {
        return Ok(());
    }
    let pruned = prune_unused(ctx, &filters)?;
    print(&format!("{}Total reclaimed space: {}\n", pruned.section("Deleted Volumes:"), pruned.human()));
    Ok(())
}

/// Removes every volume no container names whose labels match `filters` (`label`,
/// `label!`): docker 20.10's volume prune (named volumes too, unlike docker 23+).
pub(crate) fn prune_unused(ctx: &Ctx, filters: &Filters) -> Result<Pruned, CliError> {
    let used: BTreeSet<String> = users(ctx)?.into_keys().collect();
    let mut pruned = Pruned::default();
    for v in ctx.store.volumes()? {
        if used.contains(&v.name) || !filters.prune_labels_match(&v.labels) {
            continue;
        }
        let size = ctx.store.volume_size(&v.name);
        ctx.store.remove_volume(&v.name)?;
        pruned.reclaimed += size;
        pruned.items.push(v.name);
    }
    Ok(pruned)
}
