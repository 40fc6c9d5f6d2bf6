//! `images` and `tag`.

use gantry_image::Reference;

use super::filter::ImageFilter;
use super::{print, Ctx};
use crate::cli::{ImagesArgs, TagArgs};
use crate::error::{msg, CliError};
use crate::format::{render, Format};
use crate::views;

const DEFAULT_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DIGESTS_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

pub fn images(ctx: &Ctx, a: &ImagesArgs) -> Result<(), CliError> {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.reference {
        filters.push(format!("reference={r}"));
    }
    let all = ctx.store.images()?;
    let filter =
        ImageFilter::parse(&filters, &all, &ctx.store, &["dangling", "label", "before", "since", "reference"])?;
    let now = views::now_secs();
    let mut rows = Vec::new();
    for img in &all {
        let Some(img) = filter.apply(img, a.all) else { continue };
        for (repo, tag, digest) in views::image_rows(&img, a.digests) {
            rows.push(views::image_row(&img, &repo, &tag, &digest, a.no_trunc, now));
        }
    }
    let table = if a.digests { DIGESTS_TABLE } else { DEFAULT_TABLE };
    // As in docker, an explicit --format wins over -q.
    let format = match (&a.format, a.quiet) {
        (Some(f), _) => Format::parse(f, table),
        (None, true) => Format::Raw("{{.ID}}".into()),
        (None, false) => Format::parse(table, table),
    };
    print(&render(&format, &rows, &views::image_headers())?);
    Ok(())
}

pub fn tag(ctx: &mut Ctx, a: &TagArgs) -> Result<(), CliError> {
    let (id, _) = ctx.store.resolve(&a.source)?;
    let target = Reference::parse(&a.target)?;
    if target.digest().is_some() {
        return Err(msg(format!("refusing to create a tag with a digest reference: {}", a.target)));
    }
    ctx.store.tag(id, &target.with_default_tag())?;
    Ok(())
}
