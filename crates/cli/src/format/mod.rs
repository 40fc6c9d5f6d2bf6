//! Docker's output formatting: `--format` templates, tables and human-readable units.
//!
//! Everything here exists so that gantry's output is indistinguishable from docker's: the same
//! Go template language over the same field names, the same tabwriter layout, the same size
//! and age wording.

// This is a library-style module inside the binary; not every command uses every helper.
#![allow(dead_code)]

mod gofmt;
pub mod table;
pub mod template;
pub mod units;

// Re-exported for callers; unused ones are fine until every command is wired in.
#[allow(unused_imports)]
pub use table::{render, Format, FormatError};
#[allow(unused_imports)]
pub use template::{ExecOptions, Template, TemplateError};
