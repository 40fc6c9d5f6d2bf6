//! `save`, `load` and `import`.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::Path;

use gantry_archive::{ImportOptions, SaveFormat};
use gantry_image::{Digest, Reference};

use super::{print, Ctx};
use crate::cli::{ImportArgs, LoadArgs, SaveArgs};
use crate::error::{msg, CliError};

/// The images to save, each with the references to record in the archive. A bare
/// repository name saves every tag of it, as docker does.
fn select(ctx: &Ctx, names: &[String]) -> Result<Vec<(Digest, Vec<Reference>)>, CliError> {
    let mut out: Vec<(Digest, Vec<Reference>)> = Vec::new();
    let mut add = |id: Digest, r: Option<Reference>| {
        let pos = out.iter().position(|(i, _)| *i == id).unwrap_or_else(|| {
            out.push((id, Vec::new()));
            out.len() - 1
        });
        if let Some(r) = r {
            if !out[pos].1.contains(&r) {
                out[pos].1.push(r);
            }
        }
    };
    let images = ctx.store.images()?;
    for name in names {
        if let Ok(r) = Reference::parse(name) {
            if r.tag().is_none() && r.digest().is_none() {
                let tagged: Vec<_> = images
                    .iter()
                    .flat_map(|i| i.tags.iter().filter(|t| t.name() == r.name()).map(move |t| (i.id, t.clone())))
                    .collect();
                if !tagged.is_empty() {
                    for (id, t) in tagged {
                        add(id, Some(t));
                    }
                    continue;
                }
            }
        }
        let (id, r) = ctx.store.resolve(name)?;
        add(id, r.filter(|r| r.tag().is_some()));
    }
    Ok(out)
}

pub fn save(ctx: &Ctx, a: &SaveArgs) -> Result<(), CliError> {
    let format = if a.format == "oci-archive" { SaveFormat::Oci } else { SaveFormat::Docker };
    // Chosen under the lease, so no collection can remove them before they are written.
    let _lease = ctx.store.lease()?;
    let images = select(ctx, &a.images)?;
    crate::debug!("saving {} image(s) as {}", images.len(), a.format);
    match &a.output {
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                return Err(msg("cowardly refusing to save to a terminal. Use the -o flag or redirect"));
            }
            gantry_archive::save(&ctx.store, &images, BufWriter::with_capacity(1 << 20, stdout.lock()), format)?;
        }
        Some(path) => save_to_path(ctx, &images, path, format)?,
    }
    Ok(())
}

/// Writes through a temporary file renamed into place, so a failed save never leaves
/// a half archive under the requested name. Devices and pipes are written directly.
fn save_to_path(
    ctx: &Ctx,
    images: &[(Digest, Vec<Reference>)],
    path: &Path,
    format: SaveFormat,
) -> Result<(), CliError> {
    let direct = path.exists() && !path.is_file();
    let open_err = |e: std::io::Error| msg(format!("failed to save image: {}: {e}", path.display()));
    if direct {
        let f = File::options().write(true).open(path).map_err(open_err)?;
        gantry_archive::save(&ctx.store, images, BufWriter::with_capacity(1 << 20, f), format)?;
        return Ok(());
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "archive".into());
    // An unpredictable name created exclusively: a planted symlink cannot redirect it.
    let tmp = dir.join(format!(".{name}.gantry-{}-{:016x}", std::process::id(), random_u64()));
    let f = File::options().write(true).create_new(true).open(&tmp).map_err(open_err)?;
    // Not synced: an archive is the user's output, not store content, and docker does
    // not sync it either; the rename only makes a half-written archive impossible.
    let result = gantry_archive::save(&ctx.store, images, BufWriter::with_capacity(1 << 20, &f), format)
        .map_err(CliError::from)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(open_err));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub fn load(ctx: &mut Ctx, a: &LoadArgs) -> Result<(), CliError> {
    let input: Box<dyn Read> = match &a.input {
        Some(p) => Box::new(File::open(p).map_err(|e| msg(format!("open {}: {e}", p.display())))?),
        None => {
            if std::io::stdin().is_terminal() {
                return Err(msg("requested load from stdin, but stdin is empty"));
            }
            Box::new(std::io::stdin().lock())
        }
    };
    let loaded = gantry_archive::load(&mut ctx.store, input)?;
    crate::debug!("archive verified and committed: {} image(s)", loaded.len());
    let mut text = String::new();
    for img in &loaded {
        for t in &img.tags {
            if let Some(prev) = &t.previous {
                text.push_str(&format!(
                    "The image {} already exists, renaming the old one with ID {prev} to empty string\n",
                    t.reference.familiar()
                ));
            }
            text.push_str(&format!("Loaded image: {}\n", t.reference.familiar()));
        }
        if img.tags.is_empty() {
            text.push_str(&format!("Loaded image ID: {}\n", img.id));
        }
    }
    print(&text);
    Ok(())
}

pub fn import(ctx: &mut Ctx, a: &ImportArgs) -> Result<(), CliError> {
    let reference = a.reference.as_deref().map(Reference::parse).transpose()?.map(Reference::with_default_tag);
    if reference.as_ref().is_some_and(|r| r.digest().is_some()) {
        return Err(msg("import: a digest reference cannot be the new image's name"));
    }
    let (os, arch) = match a.platform.as_deref() {
        None => ("linux".to_string(), host_arch().to_string()),
        Some(p) => {
            let mut parts = p.split('/');
            match (parts.next(), parts.next()) {
                (Some(os), Some(arch)) if !os.is_empty() && !arch.is_empty() => (os.to_string(), arch.to_string()),
                _ => return Err(msg(format!("invalid platform {p:?}: expected os/arch"))),
            }
        }
    };
    let opts = ImportOptions {
        changes: a.change.clone(),
        message: a.message.clone(),
        // docker uploads a local file as the request body, so the daemon sees "-" too.
        source: "-".into(),
        architecture: arch,
        os,
        created: crate::format::units::rfc3339_nano(crate::views::now_nanos()),
    };
    if a.file.starts_with("http://") || a.file.starts_with("https://") {
        return Err(msg("import from a URL is not supported yet: download the tarball and import the file"));
    }
    let input: Box<dyn Read> = if a.file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(&a.file).map_err(|e| msg(format!("open {}: {e}", a.file)))?)
    };
    let (id, _) = gantry_archive::import(&mut ctx.store, input, &opts, reference.as_ref())?;
    print(&format!("{id}\n"));
    let _ = std::io::stdout().flush();
    Ok(())
}

/// Randomness for temporary names, from the kernel (no dependency needed for 8 bytes).
fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    if let Ok(mut f) = File::open("/dev/urandom") {
        let _ = f.read_exact(&mut buf);
    }
    u64::from_ne_bytes(buf) ^ crate::views::now_nanos() as u64
}

/// The OCI name of the architecture gantry runs on.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}
