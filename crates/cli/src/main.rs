//! `gantry`: docker's image commands, daemonless, over one shared store.

mod cli;
mod commands;
mod error;
mod format;
mod log;
mod root;
mod views;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Writing into a closed pipe (`gantry images | head`) must end quietly, as in Go.
    // SAFETY: resetting a signal disposition before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => return error::usage(e),
    };
    log::init(&args.log_level, args.debug);
    match commands::run(args) {
        Ok(code) => code,
        Err(e) => error::report(&e),
    }
}
