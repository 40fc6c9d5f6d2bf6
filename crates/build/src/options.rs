//! What a build is asked to do, and what it reports while doing it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use gantry_image::{Digest, Reference};
use gantry_store::Tagged;

/// One `gantry build` invocation, command line already parsed.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub context: PathBuf,
    /// The Dockerfile's text, and its name (for `<name>.dockerignore` and messages).
    pub dockerfile: String,
    pub dockerfile_name: String,
    pub tags: Vec<Reference>,
    /// `--build-arg K=V` (K alone is resolved from the environment by the caller).
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--no-cache-filter`: stages whose steps never hit the cache.
    pub no_cache_filter: Vec<String>,
    /// `--label`: added to the final image's labels.
    pub labels: BTreeMap<String, String>,
    /// `--platform`: must be the host's (gantry builds natively, without emulation).
    pub platform: Option<String>,
    /// `SOURCE_DATE_EPOCH`: every timestamp of the result is clamped to it.
    pub source_date_epoch: Option<i64>,
    /// The network RUN steps get unless they say otherwise (`--network`; host by default).
    pub network: gantry_runtime::Network,
    /// An external OCI runtime for RUN (runc's command line) instead of the builtin one.
    pub runtime: Option<PathBuf>,
    /// `--secret id=...`: secrets RUN --mount=type=secret can use, by id. Never part of
    /// a layer, the history or a cache key.
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// Gets base images the store lacks (`FROM` of an image never pulled) or, with
    /// `--pull`, every base image again; `None` means only the store is used.
    pub base_images: Option<BaseImages>,
}

/// Fetches a base image into the store by name (a registry pull, done by the caller, so
/// the builder stays free of network code). Called at most once per name and build.
pub trait FetchBase: Send + Sync {
    fn fetch(&self, store: &mut gantry_store::Store, name: &str) -> Result<(), String>;
}

/// How the builder gets base images from elsewhere.
#[derive(Clone)]
pub struct BaseImages {
    pub fetcher: std::sync::Arc<dyn FetchBase>,
    /// `--pull`: fetch every base image even when the store has one by that name.
    pub always: bool,
}

impl std::fmt::Debug for BaseImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaseImages").field("always", &self.always).finish_non_exhaustive()
    }
}

/// What a build made.
#[derive(Debug)]
pub struct BuildResult {
    pub id: Digest,
    pub tagged: Vec<Tagged>,
    /// Docker's warnings (e.g. build args no stage used).
    pub warnings: Vec<String>,
}

/// A step's progress, numbered like BuildKit's `#N` lines.
#[derive(Debug, Clone)]
pub enum Event {
    /// `[stage-name 2/5] COPY . /app`
    Started {
        id: usize,
        name: String,
    },
    Cached {
        id: usize,
    },
    Done {
        id: usize,
        seconds: f64,
    },
    Failed {
        id: usize,
        error: String,
    },
    /// A line a RUN step's process printed, `seconds` after it started.
    Output {
        id: usize,
        seconds: f64,
        line: String,
    },
}

/// Receives progress events; the CLI renders them (plain lines or a live display).
pub trait Progress {
    fn event(&mut self, event: Event);
}

/// Discards progress (`-q`, library use).
pub struct Quiet;

impl Progress for Quiet {
    fn event(&mut self, _: Event) {}
}
