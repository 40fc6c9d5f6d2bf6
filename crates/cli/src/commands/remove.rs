//! `rmi` and `image prune`, following docker's rules for when removing a name only
//! untags and when it deletes the image.

use std::collections::{BTreeSet, HashMap};

use gantry_image::{Digest, Reference};

use super::filter::ImageFilter;
use super::system::Pruned;
use super::{confirm, print, Ctx};
use crate::cli::{PruneArgs, RmiArgs};
use crate::error::{msg, print_error, CliError};

/// What one removal did, in order: ("Untagged"|"Deleted", what).
#[derive(Default)]
struct Removal {
    events: Vec<(&'static str, String)>,
    reclaimed: u64,
    /// The layers (diff IDs) whose bytes `reclaimed` counts.
    released: Vec<Digest>,
    /// How many images use each layer chain ID: read once per command and kept up to
    /// date as images go, so removing many images is not quadratic.
    chain_users: Option<HashMap<Digest, usize>>,
}

pub fn rmi(ctx: &mut Ctx, a: &RmiArgs) -> Result<(), CliError> {
    let mut failed = false;
    let mut deleted_any = false;
    for name in &a.images {
        match remove_one(ctx, name, a.force, !a.no_prune) {
            Ok(r) => {
                deleted_any |= r.events.iter().any(|(k, _)| *k == "Deleted");
                let text: String = r.events.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
                print(&text);
            }
            Err(e) => {
                print_error(&e);
                failed = true;
            }
        }
    }
    if !deleted_any {
        return if failed { Err(CliError::AlreadyReported) } else { Ok(()) };
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
    let by_reference = matched.is_some();
    let img = ctx.store.image(&id)?;
    let refs: Vec<Reference> = match matched {
        Some(r) => {
            let mut refs = vec![r.clone()];
            // A tag removed with no other tag left in its repository takes that
            // repository's digest references with it.
            if r.digest().is_none() && !img.tags.iter().any(|t| t.name() == r.name() && *t != r) {
                refs.extend(img.digests.iter().filter(|d| d.name() == r.name()).cloned());
            }
            refs
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
            // Docker checks the hard conflict before untagging anything.
            if !ctx.store.children(&id)?.is_empty() {
                return Err(msg(format!(
                    "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                    id.short()
                )));
            }
            img.tags.iter().chain(&img.digests).cloned().collect()
        }
    };
    // An image a container uses stays; without -f docker refuses even the untagging.
    if let Some(user) = ctx.store.containers_using(&id)?.first() {
        if !force {
            let short = &user[..12];
            return Err(msg(match by_reference {
                true => format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {short} is using its referenced image {}",
                    id.short()
                ),
                false => format!("conflict: unable to delete {} (must be forced) - image is being used by container {short}", id.short()),
            }));
        }
    }
    let mut out = Removal::default();
    delete(ctx, id, &refs, prune_parents, "Untagged", "Deleted", &mut out)?;
    Ok(out)
}

/// Removes `refs` and, if nothing else references the image, deletes it, reporting
/// it and the layer chains released with it; then its untagged parents nothing else
/// needs (unless `--no-prune`). A reference another process adds meanwhile keeps the
/// image: the store decides in one transaction.
fn delete(
    ctx: &mut Ctx,
    id: Digest,
    refs: &[Reference],
    prune_parents: bool,
    untagged: &'static str,
    deleted_word: &'static str,
    out: &mut Removal,
) -> Result<(), CliError> {
    let img = ctx.store.image(&id)?;
    let layers = ctx.store.layers(&id)?;
    let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id).collect();
    if out.chain_users.is_none() {
        let mut users: HashMap<Digest, usize> = HashMap::new();
        for layers in ctx.store.all_image_layers()?.values() {
            for c in gantry_store::chain_ids(layers) {
                *users.entry(c).or_default() += 1;
            }
        }
        out.chain_users = Some(users);
    }
    let (removed, deleted) = ctx.store.remove_image(&id, refs, true)?;
    for r in removed {
        out.events.push((untagged, r.familiar()));
    }
    if !deleted {
        return Ok(());
    }
    out.events.push((deleted_word, id.to_string()));
    let chains = gantry_store::chain_ids(&diff_ids);
    let users = out.chain_users.get_or_insert_with(HashMap::new);
    // A chain is released when this image was its only user (docker reports by chain).
    let released = chains.iter().rev().take_while(|c| users.get(*c).copied().unwrap_or(0) <= 1).count();
    for i in (layers.len() - released..layers.len()).rev() {
        out.events.push((deleted_word, chains[i].to_string()));
        out.reclaimed += layers[i].content_size;
        out.released.push(layers[i].diff_id);
    }
    for c in &chains {
        if let Some(n) = users.get_mut(c) {
            *n = n.saturating_sub(1);
        }
    }
    if let Some(parent) = img.parent.filter(|_| prune_parents) {
        if let Ok(p) = ctx.store.image(&parent) {
            if p.tags.is_empty() && p.digests.is_empty() {
                delete(ctx, parent, &[], true, untagged, deleted_word, out)?;
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
        if !confirm(&format!("{warning}\nAre you sure you want to continue?")) {
            print("Total reclaimed space: 0B\n");
            return Ok(());
        }
    }
    let pruned = prune_images(ctx, a.all, &a.filter)?;
    print(&format!("{}Total reclaimed space: {}\n", pruned.section("Deleted Images:"), pruned.human()));
    Ok(())
}

/// Removes dangling images (every unused one with `all`) that match `filters`
/// (`until`, `label`, `label!`, `dangling`); lists them as docker does
/// (`untagged: ref`, `deleted: id`), with the bytes of the layers released.
pub(crate) fn prune_images(ctx: &mut Ctx, all: bool, filters: &[String]) -> Result<Pruned, CliError> {
    let images = ctx.store.images()?;
    let mut filters = filters.to_vec();
    let mut all = all;
    // `dangling=false` is docker's other spelling of --all.
    filters.retain(|f| {
        let off = matches!(f.as_str(), "dangling=false" | "dangling=0");
        all |= off;
        !off && !matches!(f.as_str(), "dangling=true" | "dangling=1")
    });
    let filter = ImageFilter::parse(&filters, &images, &ctx.store, &["until", "label", "label!"])?;
    let parents: BTreeSet<Digest> = images.iter().filter_map(|i| i.parent).collect();
    let mut removal = Removal::default();
    for img in &images {
        let dangling = img.tags.is_empty() && img.digests.is_empty();
        if !all && (!dangling || parents.contains(&img.id)) {
            continue;
        }
        if filter.apply(img, true).is_none() {
            continue;
        }
        // Images containers use are not unused: docker leaves them, tags and all.
        if !ctx.store.containers_using(&img.id)?.is_empty() {
            continue;
        }
        let refs: Vec<Reference> = img.tags.iter().chain(&img.digests).cloned().collect();
        // Another command may have removed it since the listing: nothing to do then.
        match delete(ctx, img.id, &refs, true, "untagged", "deleted", &mut removal) {
            Err(CliError::Store(gantry_store::StoreError::NoSuchImage(_))) => continue,
            r => r?,
        }
    }
    // Never wait for a running command (a load reading stdin may hold its lease for
    // long): if one is working, the next prune sweeps the blobs.
    let gc = ctx.store.gc(false)?;
    if gc.skipped {
        crate::debug!("blob sweep skipped: another command holds the store; the next prune collects");
    } else {
        crate::debug!("swept {} unreferenced blob(s), {} abandoned ingest file(s)", gc.removed.len(), gc.swept_ingest);
    }
    Ok(Pruned {
        items: removal.events.iter().map(|(k, v)| format!("{k}: {v}")).collect(),
        reclaimed: removal.reclaimed,
        layers: removal.released,
    })
}
