//! `gantry`: docker's image commands, daemonless, over one shared store.

mod cli;
mod commands;
mod error;
mod format;
mod log;
mod progress;
mod root;
mod views;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The container helper must stay single-threaded: dispatch before anything else.
    if std::env::args_os().nth(1).is_some_and(|a| a == gantry_runtime::executor::HELPER_ARG) {
        let argv: Vec<String> = std::env::args_os().skip(2).map(|a| a.to_string_lossy().into_owned()).collect();
        let code = gantry_runtime::helper::main(&argv);
        return ExitCode::from(u8::try_from(code).unwrap_or(125));
    }
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
