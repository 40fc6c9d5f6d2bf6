//! How failures reach the user: one line on stderr and docker's exit codes (1 for a
//! failed operation, 125 for a command line that could not be parsed).

use std::process::ExitCode;

/// Any failure of a command, already phrased for the user.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] gantry_store::StoreError),
    #[error(transparent)]
    Archive(#[from] gantry_archive::ArchiveError),
    #[error(transparent)]
    Reference(#[from] gantry_image::ReferenceError),
    #[error(transparent)]
    Format(#[from] crate::format::FormatError),
    #[error(transparent)]
    Registry(#[from] gantry_registry::RegistryError),
    #[error("{0}")]
    Msg(String),
    /// Errors already printed (one per failed argument, as `docker rmi a b` does).
    #[error("")]
    AlreadyReported,
    /// A flag value that cannot be used at all: docker's usage errors exit 125.
    #[error("{0}")]
    Usage(String),
}

pub fn msg(s: impl Into<String>) -> CliError {
    CliError::Msg(s.into())
}

/// Prints `Error: ...` on one line. Newlines are folded and every other control
/// character is escaped: messages quote names from hostile archives, which must not
/// reach the terminal as escape sequences.
pub fn print_error(e: &dyn std::fmt::Display) {
    let mut text = String::new();
    for c in e.to_string().chars() {
        match c {
            '\n' => text.push(' '),
            c if c.is_control() => text.extend(c.escape_default()),
            c => text.push(c),
        }
    }
    eprintln!("Error: {text}");
}

pub fn report(e: &CliError) -> ExitCode {
    match e {
        CliError::AlreadyReported => ExitCode::from(1),
        CliError::Usage(_) => {
            print_error(e);
            ExitCode::from(125)
        }
        _ => {
            print_error(e);
            ExitCode::from(1)
        }
    }
}

/// docker's wording for a missing positional argument, per command.
fn missing_argument(command: &str) -> String {
    let need = match command.rsplit(' ').next().unwrap_or("") {
        "tag" => "exactly 2 arguments",
        "history" | "build" | "logs" | "export" | "pull" | "push" | "search" => "exactly 1 argument",
        "exec" => "at least 2 arguments",
        _ => "at least 1 argument",
    };
    format!("\"{command}\" requires {need}.")
}

/// Help and version go to stdout with status 0; real usage errors print docker's
/// two lines and exit 125.
pub fn usage(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        // Too few positionals (`exec CONTAINER` without a command) read the same.
        ErrorKind::MissingRequiredArgument | ErrorKind::WrongNumberOfValues | ErrorKind::TooFewValues => {
            // Like docker: name the command, point at its help, exit 1.
            let rendered = e.render().to_string();
            let command = rendered
                .lines()
                .find_map(|l| l.trim().strip_prefix("Usage: "))
                .map(|u| {
                    u.split_whitespace()
                        .take_while(|w| !w.starts_with('[') && !w.starts_with('<'))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_else(|| "gantry".into());
            eprintln!("Error: {}", missing_argument(&command));
            eprintln!("See '{command} --help'.");
            ExitCode::from(1)
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid arguments");
            let first = first.trim_start_matches("error: ");
            eprintln!("Error: {first}");
            eprintln!("See 'gantry --help'.");
            ExitCode::from(125)
        }
    }
}

impl From<gantry_registry::settings::SettingsError> for CliError {
    fn from(e: gantry_registry::settings::SettingsError) -> Self {
        CliError::Registry(e.into())
    }
}

impl From<gantry_registry::credentials::CredentialsError> for CliError {
    fn from(e: gantry_registry::credentials::CredentialsError) -> Self {
        CliError::Registry(e.into())
    }
}
