//! The Dockerfile frontend, pure (no I/O): a parser that matches BuildKit's exactly,
//! BuildKit's shell-word expansion, typed instructions with validated flags, and
//! `.dockerignore` matching with Docker's semantics.
//!
//! Written here rather than taken from a crate: no Rust crate reproduces BuildKit's
//! parser and lexer quirks (JSON fallback, heredocs, escape directive, expansion
//! operators), and the conformance data in ../shared/conformance/buildkit is the
//! contract.

pub mod ast;
pub mod glob;
pub mod ignore;
pub mod instructions;
pub mod parser;
pub mod shell;

pub use ast::{Ast, Directives, Heredoc, Node, ParseError};
