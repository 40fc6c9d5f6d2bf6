/// Why a build failed. Messages name the Dockerfile line where there is one.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Store(#[from] gantry_store::StoreError),
    #[error("reading layer: {0}")]
    Layer(String),
    /// A problem with the build context (missing or forbidden source).
    #[error("{0}")]
    Context(String),
    /// The Dockerfile is invalid or names something that does not exist; the message
    /// names the line where there is one.
    #[error("{0}")]
    Dockerfile(String),
}

impl BuildError {
    /// An error of one instruction, citing its Dockerfile line like BuildKit does.
    pub fn at(cmd: &gantry_dockerfile::instructions::Command, message: String) -> BuildError {
        BuildError::Dockerfile(format!("Dockerfile:{}: {}: {message}", cmd.node.start_line, cmd.node.original.trim()))
    }
}
