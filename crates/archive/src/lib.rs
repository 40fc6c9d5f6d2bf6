//! Image archives: `load` of docker-archives (classic and Docker 25+ layouts) and OCI
//! archives, plain or compressed; `save` in both formats; `import` of a rootfs tarball.
//!
//! Archives are read in one streaming pass: each layer goes through the layer crate
//! (checked, hashed, written uncompressed) into an ingest and is linked into `blobs/`
//! as soon as it is complete (content-addressed, and kept from GC by the lease), so no
//! descriptor stays open however many layers there are. Images and tags are recorded
//! in one transaction only once the whole archive has verified; a failed load takes
//! back the blobs it added.

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
