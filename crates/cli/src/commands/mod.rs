//! One module per family of commands; `run` dispatches the parsed command line.

mod archive;
mod build;
mod builder;
mod containers;
mod filter;
mod images;
mod inspect;
pub mod registry;
mod remove;
mod system;
mod volumes;

use std::process::ExitCode;

use gantry_store::Store;

use crate::cli::{BuilderCommand, Cli, Command, ContainerCommand, ImageCommand, SystemCommand, VolumeCommand};
use crate::error::CliError;

/// What every command gets: the opened store.
pub struct Ctx {
    pub store: Store,
    /// `--runtime`: an external OCI runtime instead of the builtin executor.
    pub runtime: Option<std::path::PathBuf>,
    /// `--config`: docker's client config directory (registry credentials).
    pub config: Option<std::path::PathBuf>,
}

pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let root = cli.root.clone().unwrap_or_else(crate::root::default_root);
    if matches!(cli.command, Command::Version(_)) {
        return system::version(match &cli.command {
            Command::Version(f) => f,
            _ => unreachable!(),
        });
    }
    crate::debug!("store root {}", root.display());
    let mut store = Store::open(&root)?;
    // clap allows only the drivers there are; the store chooses when none is given.
    if let Some(driver) = cli.storage_driver.as_deref().and_then(gantry_store::StorageDriver::parse) {
        store.set_storage_driver(driver);
    }
    let mut ctx = Ctx { store, runtime: cli.runtime.clone(), config: cli.config.clone() };
    let ok = |()| ExitCode::SUCCESS;
    match cli.command {
        Command::Build(a) | Command::Image(ImageCommand::Build(a)) | Command::Builder(BuilderCommand::Build(a)) => {
            build::build(&mut ctx, &a).map(ok)
        }
        Command::Builder(BuilderCommand::Prune(a)) => builder::prune(&mut ctx, &a).map(ok),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::images(&ctx, &a).map(ok),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => images::tag(&mut ctx, &a).map(ok),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => remove::rmi(&mut ctx, &a).map(ok),
        Command::Image(ImageCommand::Prune(a)) => remove::prune(&mut ctx, &a).map(ok),
        Command::Inspect(a) => inspect::inspect(&ctx, &a).map(ok),
        Command::Image(ImageCommand::Inspect(a)) => inspect::inspect_images(&ctx, &a).map(ok),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => inspect::history(&ctx, &a).map(ok),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => archive::save(&ctx, &a).map(ok),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => archive::load(&mut ctx, &a).map(ok),
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => archive::import(&mut ctx, &a).map(ok),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => registry::pull(&mut ctx, &a).map(ok),
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => registry::push(&mut ctx, &a).map(ok),
        Command::Login(a) => registry::login(&mut ctx, &a).map(ok),
        Command::Logout(a) => registry::logout(&mut ctx, &a).map(ok),
        Command::Search(a) => registry::search(&mut ctx, &a).map(ok),
        Command::System(SystemCommand::Df(a)) => system::df(&ctx, &a).map(ok),
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => system::info(&ctx, &a).map(ok),
        Command::System(SystemCommand::Prune(a)) => system::prune(&mut ctx, &a).map(ok),
        Command::Containers(v) => containers::dispatch(&mut ctx, v),
        Command::Container(ContainerCommand::Verb(v)) => containers::dispatch(&mut ctx, *v),
        Command::Rm(a) | Command::Container(ContainerCommand::Rm(a)) => containers::rm(&mut ctx, &a).map(ok),
        Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => containers::ps(&ctx, &a).map(ok),
        Command::Container(ContainerCommand::Inspect(a)) => inspect::inspect_containers(&ctx, &a).map(ok),
        Command::Container(ContainerCommand::Prune(a)) => containers::prune(&mut ctx, &a).map(ok),
        Command::Volume(VolumeCommand::Create(a)) => volumes::create(&ctx, &a).map(ok),
        Command::Volume(VolumeCommand::Ls(a)) => volumes::ls(&ctx, &a).map(ok),
        Command::Volume(VolumeCommand::Inspect(a)) => volumes::inspect(&ctx, &a).map(ok),
        Command::Volume(VolumeCommand::Rm(a)) => volumes::rm(&ctx, &a).map(ok),
        Command::Volume(VolumeCommand::Prune(a)) => volumes::prune(&ctx, &a).map(ok),
        Command::Version(_) => Ok(ExitCode::SUCCESS),
    }
}

/// docker's prune confirmation: prints `question` and ` [y/N] `, and reads a line from
/// stdin; anything but `y`/`Y` (EOF included) is no.
pub fn confirm(question: &str) -> bool {
    use std::io::BufRead;
    print(&format!("{question} [y/N] "));
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y")
}

/// Writes rendered output to stdout, ignoring a closed pipe like docker does.
pub fn print(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}
