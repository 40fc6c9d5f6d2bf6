//! `inspect` and `history`.

use gantry_image::ImageConfig;
use serde_json::Value;

use super::{print, Ctx};
use crate::cli::{HistoryArgs, InspectArgs};
use crate::error::{msg, print_error, CliError};
use crate::format::{render, Format};
use crate::views;

/// Loads an image's record and parsed config.
pub fn load_image(ctx: &Ctx, id: &gantry_image::Digest) -> Result<(gantry_store::ImageRecord, ImageConfig), CliError> {
    let img = ctx.store.image(id)?;
    let bytes = ctx.store.read_blob(id)?;
    let cfg = ImageConfig::parse(&bytes).map_err(|e| msg(format!("image {}: {e}", id.short())))?;
    Ok((img, cfg))
}

/// docker prints what it found, then one error per missing name, and exits 1. A name
/// is looked up as an image, then as a container (or only as `--type` says).
pub fn inspect(ctx: &Ctx, a: &InspectArgs) -> Result<(), CliError> {
    inspect_objects(ctx, a, a.kind.as_deref())
}

/// `image inspect`: images only.
pub fn inspect_images(ctx: &Ctx, a: &InspectArgs) -> Result<(), CliError> {
    inspect_objects(ctx, a, Some("image"))
}

/// `container inspect`: containers only.
pub fn inspect_containers(ctx: &Ctx, a: &InspectArgs) -> Result<(), CliError> {
    inspect_objects(ctx, a, Some("container"))
}

fn inspect_objects(ctx: &Ctx, a: &InspectArgs, kind: Option<&str>) -> Result<(), CliError> {
    let _lease = ctx.store.lease()?;
    let mut objects = Vec::new();
    let mut missing = Vec::new();
    for name in &a.names {
        if kind != Some("container") {
            match ctx.store.resolve(name) {
                Ok((id, _)) => {
                    let (img, cfg) = load_image(ctx, &id)?;
                    objects.push(views::inspect_image(&img, &cfg, &ctx.store.root().display().to_string()));
                    continue;
                }
                Err(gantry_store::StoreError::NoSuchImage(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if kind != Some("image") {
            match ctx.store.container(name) {
                Ok(rec) => {
                    objects.push(super::containers::inspect_container(ctx, &rec)?);
                    continue;
                }
                Err(gantry_store::StoreError::NoSuchContainer(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        missing.push(name.clone());
    }
    match a.format.as_deref() {
        None | Some("") | Some("json") => print(&(pretty(&Value::Array(objects)) + "\n")),
        Some(f) => {
            let out = render(&Format::Raw(f.to_string()), &objects, &Value::Null)?;
            print(&out);
        }
    }
    for n in &missing {
        match kind {
            Some("image") => print_error(&format!("No such image: {n}")),
            Some("container") => print_error(&format!("No such container: {n}")),
            _ => print_error(&format!("No such object: {n}")),
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CliError::AlreadyReported)
    }
}

/// JSON indented with four spaces, as docker's inspect writes it.
pub fn pretty(v: &Value) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if v.serialize(&mut ser).is_err() {
        return "[]".into();
    }
    String::from_utf8(buf).unwrap_or_default()
}

const HISTORY_TABLE: &str = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
/// `-H=false`: docker shows the creation timestamp under CREATED AT.
const HISTORY_TABLE_RAW: &str = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

pub fn history(ctx: &Ctx, a: &HistoryArgs) -> Result<(), CliError> {
    let _lease = ctx.store.lease()?;
    let (id, _) = ctx.store.resolve(&a.image)?;
    let (img, cfg) = load_image(ctx, &id)?;
    let layers = ctx.store.layers(&id)?;
    let rows = views::history_rows(&img, &cfg, &layers, a.human, a.no_trunc, views::now_secs());
    let table = if a.human { HISTORY_TABLE } else { HISTORY_TABLE_RAW };
    let format = match (&a.format, a.quiet) {
        (Some(f), _) => Format::parse(f, table),
        (None, true) => Format::Raw("{{.ID}}".into()),
        (None, false) => Format::parse(table, table),
    };
    print(&render(&format, &rows, &views::history_headers())?);
    Ok(())
}
