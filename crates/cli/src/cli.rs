//! The command line, shaped like docker's: the same commands, aliases and flags.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "gantry", version, about = "Build, store and run container images, without a daemon")]
pub struct Cli {
    /// Root of the image store
    #[arg(long, global = true, env = "GANTRY_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")
    #[arg(short = 'l', long, default_value = "info", value_parser = ["debug", "info", "warn", "error", "fatal"])]
    pub log_level: String,
    /// Enable debug mode
    #[arg(short = 'D', long, global = true)]
    pub debug: bool,
    /// OCI runtime binary to run containers and RUN steps with, instead of the builtin one
    #[arg(long, global = true, env = "GANTRY_RUNTIME", value_name = "PATH")]
    pub runtime: Option<PathBuf>,
    /// Location of client config files (docker's: config.json with registry credentials)
    #[arg(long, global = true, value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// How containers' and RUN steps' root filesystems are made: "overlay", or "copy"
    /// where overlayfs is unavailable (default: overlay when the kernel has it)
    #[arg(long, global = true, env = "GANTRY_STORAGE_DRIVER", value_name = "DRIVER", value_parser = ["overlay", "copy"])]
    pub storage_driver: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// List images
    Images(ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Return low-level information on images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Search registries for images
    Search(SearchArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage gantry's store
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage builds
    #[command(subcommand)]
    Builder(BuilderCommand),
    #[command(flatten)]
    Containers(ContainerVerb),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Show the gantry version information
    Version(FormatOnly),
    /// Display system-wide information
    Info(FormatOnly),
}

/// The container commands docker has both at the top level and under `container`.
#[derive(Subcommand, Debug)]
pub enum ContainerVerb {
    /// Create and run a new container from an image
    Run(Box<RunArgs>),
    /// Create a new container
    Create(Box<RunArgs>),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
}

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    #[command(flatten)]
    Verb(Box<ContainerVerb>),
    /// Remove one or more containers
    #[command(visible_aliases = ["remove"])]
    Rm(RmArgs),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Remove all stopped containers
    Prune(ContainerPruneArgs),
}

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Bind mount a volume (/host/path:/container/path[:ro])
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|volume|tmpfs,source=...,target=...[,readonly])
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    /// Security options (no-new-privileges[:true|false], seccomp=unconfined|PROFILE.json)
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long, default_value = "missing", value_parser = ["always", "missing", "never"])]
    pub pull: String,
    /// Set platform if server is multi-platform capable
    #[arg(long, env = "DOCKER_DEFAULT_PLATFORM", value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Suppress the pull output
    #[arg(short, long)]
    pub quiet: bool,
    /// Connect a container to a network (host, none)
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/tcp])
    #[arg(short, long)]
    pub publish: Vec<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Set meta data on a container
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<u64>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// The image, then the command and its arguments
    #[arg(value_name = "IMAGE [COMMAND] [ARG...]", trailing_var_arg = true, allow_hyphen_values = true, num_args = 1.., required = true)]
    pub image_and_command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long = "workdir")]
    pub workdir: Option<String>,
    /// The container, then the command and its arguments
    #[arg(value_name = "CONTAINER COMMAND [ARG...]", trailing_var_arg = true, allow_hyphen_values = true, num_args = 2.., required = true)]
    pub container_and_command: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(visible_aliases = ["list"])]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectArgs),
    /// Remove one or more volumes
    #[command(visible_aliases = ["remove"])]
    Rm(VolumeRmArgs),
    /// Remove all unused local volumes
    Prune(ContainerPruneArgs),
}

#[derive(Args, Debug)]
pub struct VolumeCreateArgs {
    /// Specify volume name
    #[arg(long = "name")]
    pub name_flag: Option<String>,
    /// Specify volume driver name
    #[arg(short, long, default_value = "local", value_parser = ["local"])]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long = "label")]
    pub label: Vec<String>,
    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct VolumeLsArgs {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
    /// Pretty-print volumes using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Provide filter values (e.g. 'dangling=true')
    #[arg(short, long)]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumeInspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(value_name = "VOLUME", num_args = 1.., required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumeRmArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    pub force: bool,
    #[arg(value_name = "VOLUME", num_args = 1.., required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Options for ps (default -ef)
    #[arg(value_name = "ps OPTIONS", trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(value_name = "CONTAINER", num_args = 1.., required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait for stop before killing it
    #[arg(short, long)]
    pub time: Option<u64>,
    #[arg(value_name = "CONTAINER", num_args = 1.., required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(value_name = "CONTAINER", num_args = 1.., required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(value_name = "CONTAINER", num_args = 1.., required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Pretty-print containers using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, default_value_t = -1)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    pub latest: bool,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ContainersArgs {
    #[arg(value_name = "CONTAINER", num_args = 1.., required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. 'until=<timestamp>', 'label=<key>=<value>')
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// List images
    #[command(visible_aliases = ["list"])]
    Ls(ImagesArgs),
    /// Remove one or more images
    #[command(visible_aliases = ["remove", "rmi"])]
    Rm(RmiArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Save one or more images to a tar archive
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
}

// --- `builder` (build-outputs work) ---

#[derive(Subcommand, Debug)]
// Parsed once per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum BuilderCommand {
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

#[derive(Args, Debug)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Amount of disk space to keep for cache
    #[arg(long = "keep-storage", value_name = "bytes")]
    pub keep_storage: Option<String>,
}

// --- end of `builder` ---

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show gantry disk usage
    Df(DfArgs),
    /// Display system-wide information
    Info(FormatOnly),
    /// Remove unused data
    Prune(SystemPruneArgs),
}

#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Prune volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show only images matching REPOSITORY[:TAG]
    pub reference: Option<String>,
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    pub no_prune: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
    /// Return JSON for specified type
    #[arg(long = "type", value_parser = ["image", "container"])]
    pub kind: Option<String>,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    pub image: String,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long = "human", default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Archive format: docker-archive (default) or oci-archive
    #[arg(long, default_value = "docker-archive", value_parser = ["docker-archive", "oci-archive"])]
    pub format: String,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// A tarball (plain, gzip, zstd or xz) or - for STDIN
    pub file: String,
    /// REPOSITORY[:TAG] for the new image
    pub reference: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. 'until=<timestamp>')
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct FormatOnly {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The build context: a directory, a tar archive (plain, gzip, zstd or xz), or -
    /// to read an archive or a Dockerfile from STDIN
    #[arg(value_name = "PATH | -")]
    pub context: PathBuf,
    /// Output destination (format: "type=local,dest=path")
    #[arg(short, long = "output", value_name = "stringArray")]
    pub output: Vec<String>,
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short, long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: 'PATH/Dockerfile'; '-' reads it from STDIN)
    #[arg(short, long)]
    pub file: Option<String>,
    /// Set build-time variables (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Do not cache specified stages
    #[arg(long = "no-cache-filter")]
    pub no_cache_filter: Vec<String>,
    /// Set metadata for an image
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Set target platform for build (only the host's platform: gantry does not emulate)
    #[arg(long)]
    pub platform: Option<String>,
    /// Always attempt to pull all referenced images
    #[arg(long)]
    pub pull: bool,
    /// Set type of progress output (auto, plain, tty)
    #[arg(long, default_value = "auto", value_parser = ["auto", "plain", "tty"])]
    pub progress: String,
    /// Set the networking mode for the RUN instructions during build (host, none)
    #[arg(long, default_value = "default", value_parser = ["default", "host", "none"])]
    pub network: String,
    /// `--secret`, `--cache-from`, `--cache-to`, boxed: `BuildArgs` is the largest
    /// variant of the command enums (clippy's `large_enum_variant`).
    #[command(flatten)]
    pub buildkit: Box<BuildKitArgs>,
}

/// `build` flags that come from BuildKit/buildx, in buildx's syntax.
#[derive(Args, Debug, Default)]
pub struct BuildKitArgs {
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or "id=x,env=VAR")
    #[arg(long)]
    pub secret: Vec<String>,
    /// External cache sources (e.g., "user/app:cache", "type=registry,ref=user/app:cache")
    #[arg(long = "cache-from", value_name = "stringArray")]
    pub cache_from: Vec<String>,
    /// Cache export destinations (e.g., "type=registry,ref=user/app:cache[,mode=max]")
    #[arg(long = "cache-to", value_name = "stringArray")]
    pub cache_to: Vec<String>,
    /// Clamp every timestamp of the result to this Unix time (overrides SOURCE_DATE_EPOCH)
    #[arg(long, value_name = "SECONDS")]
    pub source_date_epoch: Option<i64>,
}

// --- registries ---

/// `--tls-verify` (podman's flag): `false` allows plain HTTP and unverified TLS for this
/// command; `true` verifies even registries docker treats as insecure (loopback).
#[derive(Args, Debug, Clone)]
pub struct TlsVerify {
    /// Require HTTPS and verify certificates (default: per registry settings; loopback is insecure)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub tls_verify: Option<bool>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Skip image verification (accepted for compatibility; gantry verifies digests always)
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", hide = true)]
    pub disable_content_trust: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, env = "DOCKER_DEFAULT_PLATFORM", value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub tls: TlsVerify,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tagged images in the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Skip image signing (accepted for compatibility)
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", hide = true)]
    pub disable_content_trust: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub tls: TlsVerify,
    #[arg(value_name = "NAME[:TAG]")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub tls: TlsVerify,
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Filter output based on conditions provided
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    #[command(flatten)]
    pub tls: TlsVerify,
    #[arg(value_name = "TERM")]
    pub term: String,
}
