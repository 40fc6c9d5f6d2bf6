//! `gantry build`: from a Dockerfile and a context to an image, step by step, with a
//! content-addressed cache. This crate plans the stages, keys and executes the steps,
//! and writes COPY/ADD layers; RUN plugs in through one narrow interface (issue 4).

pub mod chmod;
pub mod context;
mod copy;
pub mod export;
pub mod fsview;
pub mod layerwriter;

mod exec;
mod options;
mod remote;
mod run;

pub use exec::build;
pub use options::{BaseImages, BuildOptions, BuildResult, Event, FetchBase, Progress, Quiet};

mod error;

pub use error::BuildError;
