//! `rmi` and `image prune`, following docker's rules for when removing a name only
//! untags and when it deletes the image.

use std::collections::BTreeSet;
use std::io::BufRead;

use gantry_image::{Digest, Reference};

use super::filter::ImageFilter;
use super::{print, Ctx};
use crate::cli::{PruneArgs, RmiArgs};
use crate::error::{msg, print_error, CliError};
use crate::format::units;
use crate::views;

/// What one removal did, in order: ("Untagged"|"Deleted", what).
struct Removal {
    events: Vec<(&'static str, String)>,
    reclaimed: u64,
}

pub fn rmi(ctx: &mut Ctx, a: &RmiArgs) -> Result<(), CliError> {
    let mut failed = false;
    for name in &a.images {
        match remove_one(ctx, name, a.force, !a.no_prune) {
            Ok(r) => {
                let text: String = r.events.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
                print(&text);
            }
            Err(e) => {
                print_error(&e);
                failed = true;
            }
        }
    }
    // Sweep now if nobody is working; otherwise the next collection does it.
    let gc = ctx.store.gc(false)?;
    if gc.skipped {
        crate::debug!("blob sweep skipped: another command holds the store; the next prune collects");
    } else {
        crate::debug!("swept {} unreferenced blob(s)", gc.removed.len());
    }
    if failed {
        Err(CliError::AlreadyReported)
    } else {
        Ok(())
    }
}

fn remove_one(ctx: &mut Ctx, name: &str, force: bool, prune_parents: bool) -> Result<Removal, CliError> {
    let (id, matched) = ctx.store.resolve(name)?;
    let mut out = Removal { events: Vec::new(), reclaimed: 0 };
    let img = ctx.store.image(&id)?;
    match matched {
        Some(r) => {
            ctx.store.untag(&r)?;
            out.events.push(("Untagged", r.familiar()));
            let img = ctx.store.image(&id)?;
            // A tag removed with no other tag left in its repository takes that
            // repository's digest references with it.
            if r.digest().is_none() && !img.tags.iter().any(|t| t.name() == r.name()) {
                for d in img.digests.iter().filter(|d| d.name() == r.name()) {
                    ctx.store.untag(d)?;
                    out.events.push(("Untagged", d.familiar()));
                }
            }
            let img = ctx.store.image(&id)?;
            if !img.tags.is_empty() || !img.digests.is_empty() {
                return Ok(out);
            }
        }
        None => {
            let repos: BTreeSet<String> = img.tags.iter().chain(&img.digests).map(Reference::name).collect();
            let single = repos.len() <= 1 && img.tags.len() <= 1;
            if !single && !force {
                return Err(msg(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    id.short()
                )));
            }
            for r in img.tags.iter().chain(&img.digests) {
                ctx.store.untag(r)?;
                out.events.push(("Untagged", r.familiar()));
            }
        }
    }
    if !ctx.store.children(&id)?.is_empty() {
        return Err(msg(format!(
            "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
            id.short()
        )));
    }
    delete(ctx, id, prune_parents, &mut out)?;
    Ok(out)
}

/// Deletes an untagged image, reporting it and the layers that go with it; then its
/// untagged parents that nothing else needs (unless `--no-prune`).
fn delete(ctx: &mut Ctx, id: Digest, prune_parents: bool, out: &mut Removal) -> Result<(), CliError> {
    let img = ctx.store.image(&id)?;
    let layers = ctx.store.layers(&id)?;
    let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id).collect();
    let uses = ctx.store.layer_use_counts(&diff_ids)?;
    ctx.store.delete_image(&id)?;
    out.events.push(("Deleted", id.to_string()));
    let chains = views::chain_ids(&diff_ids);
    for i in (0..layers.len()).rev() {
        if uses[i] > 1 {
            break;
        }
        out.events.push(("Deleted", chains[i].to_string()));
        out.reclaimed += layers[i].content_size;
    }
    if let Some(parent) = img.parent.filter(|_| prune_parents) {
        if let Ok(p) = ctx.store.image(&parent) {
            if p.tags.is_empty() && p.digests.is_empty() && ctx.store.children(&parent)?.is_empty() {
                delete(ctx, parent, true, out)?;
            }
        }
    }
    Ok(())
}

pub fn prune(ctx: &mut Ctx, a: &PruneArgs) -> Result<(), CliError> {
    if !a.force {
        let warning = if a.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        print(&format!("{warning}\nAre you sure you want to continue? [y/N] "));
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y") {
            print("Total reclaimed space: 0B\n");
            return Ok(());
        }
    }
    let images = ctx.store.images()?;
    let mut filters = a.filter.clone();
    let mut all = a.all;
    // `dangling=false` is docker's other spelling of --all.
    filters.retain(|f| {
        let off = matches!(f.as_str(), "dangling=false" | "dangling=0");
        all |= off;
        !off && !matches!(f.as_str(), "dangling=true" | "dangling=1")
    });
    let filter = ImageFilter::parse(&filters, &images, &ctx.store, &["until", "label", "label!"])?;
    let parents: BTreeSet<Digest> = images.iter().filter_map(|i| i.parent).collect();
    let mut removal = Removal { events: Vec::new(), reclaimed: 0 };
    for img in &images {
        let dangling = img.tags.is_empty() && img.digests.is_empty();
        if !all && (!dangling || parents.contains(&img.id)) {
            continue;
        }
        if filter.apply(img, true).is_none() || ctx.store.image(&img.id).is_err() {
            continue;
        }
        if !ctx.store.children(&img.id)?.is_empty() {
            continue;
        }
        for r in img.tags.iter().chain(&img.digests) {
            ctx.store.untag(r)?;
            removal.events.push(("untagged", r.familiar()));
        }
        let before = removal.events.len();
        delete(ctx, img.id, true, &mut removal)?;
        for e in &mut removal.events[before..] {
            e.0 = "deleted";
        }
    }
    let gc = ctx.store.gc(true)?;
    crate::debug!("swept {} unreferenced blob(s), {} abandoned ingest file(s)", gc.removed.len(), gc.swept_ingest);
    let mut text = String::new();
    if !removal.events.is_empty() {
        text.push_str("Deleted Images:\n");
        for (k, v) in &removal.events {
            text.push_str(&format!("{k}: {v}\n"));
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        units::human_size_with_precision(removal.reclaimed as f64, 4)
    ));
    print(&text);
    Ok(())
}
