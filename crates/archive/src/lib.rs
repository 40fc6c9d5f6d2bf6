//! Image archives: `load` of docker-archives (classic and Docker 25+ layouts) and OCI
//! archives, plain or compressed; `save` in both formats; `import` of a rootfs tarball.
//!
//! Archives are read in one streaming pass: each layer goes through the layer crate
//! (checked, hashed, written uncompressed) straight into an anonymous ingest file, and
//! nothing becomes visible in the store until the whole archive has been verified.

mod changes;
mod error;
mod import;
mod load;
mod save;
mod walk;

pub use changes::{apply_changes, ChangeError};
pub use error::ArchiveError;
pub use import::{import, ImportOptions};
pub use load::{load, Loaded};
pub use save::{save, SaveFormat};
