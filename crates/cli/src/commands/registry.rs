//! `pull`, `push`, `login`, `logout` and `search`: docker's commands over the registry
//! client, with docker's output lines.

use std::io::{IsTerminal, Read};

use gantry_image::{Platform, Reference};
use gantry_registry::credentials::{Credentials, DockerConfig, Secret};
use gantry_registry::pull::PullOptions;
use gantry_registry::push::PushOptions;
use gantry_registry::settings::Settings;
use gantry_registry::Registry;
use serde_json::json;

use super::{print, Ctx};
use crate::cli::{LoginArgs, LogoutArgs, PullArgs, PushArgs, SearchArgs};
use crate::error::{msg, CliError};
use crate::format::table::{render, Format};
use crate::progress::Out;

/// A runtime for one command: registry work is network-bound, the CPU-heavy parts run
/// on tokio's blocking threads.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| msg(format!("starting the network runtime: {e}")))
}

fn docker_config(ctx: &Ctx) -> Result<DockerConfig, CliError> {
    Ok(DockerConfig::load(&DockerConfig::dir(ctx.config.as_deref()))?)
}

/// Connects to the registry of `domain` with the credentials of the docker config.
pub async fn connect(
    ctx: &Ctx,
    settings: &Settings,
    domain: &str,
    tls_verify: Option<bool>,
    for_push: bool,
) -> Result<Registry, CliError> {
    let config = docker_config(ctx)?;
    Ok(gantry_registry::connect(settings, &config, domain, tls_verify, for_push).await?)
}

/// `FROM` images a build does not find in the store, pulled quietly (once per name).
pub struct BuildBases {
    pub config: Option<std::path::PathBuf>,
    pub tls_verify: Option<bool>,
    pub done: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl gantry_build::FetchBase for BuildBases {
    fn fetch(&self, store: &mut gantry_store::Store, name: &str) -> Result<(), String> {
        let reference = Reference::parse(name).map_err(|e| e.to_string())?.with_default_tag();
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        if !done.insert(reference.to_string()) {
            return Ok(());
        }
        let fail = |e: CliError| e.to_string();
        let rt = runtime().map_err(fail)?;
        rt.block_on(async {
            let settings = Settings::load()?;
            let config = DockerConfig::load(&DockerConfig::dir(self.config.as_deref()))?;
            let reg = gantry_registry::connect(&settings, &config, reference.domain(), self.tls_verify, false).await?;
            let opts = PullOptions {
                platform: None,
                concurrency: settings.max_concurrent_downloads,
                progress: &gantry_registry::Quiet,
            };
            gantry_registry::pull::pull(store, &reg, &reference, &opts).await?;
            Ok::<_, CliError>(())
        })
        .map_err(fail)
    }
}

async fn pull_tagged(
    ctx: &mut Ctx,
    settings: &Settings,
    reg: &Registry,
    reference: &Reference,
    platform: Option<Platform>,
    quiet: bool,
    out: Out,
) -> Result<(), CliError> {
    let what = gantry_registry::manifest::reference_in_repository(reference);
    if !quiet {
        out.print(&format!("{what}: Pulling from {}\n", reference.path()));
    }
    let progress = crate::progress::display(out, quiet);
    let opts = PullOptions { platform, concurrency: settings.max_concurrent_downloads, progress: progress.as_ref() };
    let pulled = gantry_registry::pull::pull(&mut ctx.store, reg, reference, &opts).await?;
    if !quiet {
        let status = if pulled.changed { "Downloaded newer image" } else { "Image is up to date" };
        out.print(&format!("Digest: {}\nStatus: {status} for {}\n", pulled.digest, reference.familiar()));
    }
    Ok(())
}

pub fn pull(ctx: &mut Ctx, a: &PullArgs) -> Result<(), CliError> {
    let mut reference = Reference::parse(&a.name)?;
    if a.all_tags && (reference.tag().is_some() || reference.digest().is_some()) {
        return Err(msg("tag can't be used with --all-tags/-a"));
    }
    if !a.all_tags && reference.tag().is_none() && reference.digest().is_none() {
        if !a.quiet {
            print("Using default tag: latest\n");
        }
        reference = reference.with_default_tag();
    }
    let platform = a.platform.as_deref().map(Platform::parse).transpose().map_err(|e| msg(e.to_string()))?;
    let settings = Settings::load()?;
    let rt = runtime()?;
    rt.block_on(async {
        let reg = connect(ctx, &settings, reference.domain(), a.tls.tls_verify, false).await?;
        let targets = if a.all_tags {
            let tags = reg.tags(reference.path()).await?;
            if tags.is_empty() {
                return Err(msg(format!("{}: no tags to pull", reference.familiar())));
            }
            tags.iter().map(|t| reference.with_tag(t)).collect::<Result<Vec<_>, _>>()?
        } else {
            vec![reference.clone()]
        };
        for t in &targets {
            pull_tagged(ctx, &settings, &reg, t, platform.clone(), a.quiet, Out::Stdout).await?;
        }
        Ok::<_, CliError>(())
    })?;
    // docker's last line: the canonical reference.
    print(&format!("{reference}\n"));
    Ok(())
}

/// `run` and `create` pulling their image, as docker does when it is missing (or
/// always, with `--pull always`): the pull's lines go to stderr.
pub fn pull_for_run(ctx: &mut Ctx, name: &str, platform: Option<&str>, quiet: bool) -> Result<(), CliError> {
    let reference = Reference::parse(name)?.with_default_tag();
    let platform = platform.map(Platform::parse).transpose().map_err(|e| msg(e.to_string()))?;
    let settings = Settings::load()?;
    runtime()?.block_on(async {
        let reg = connect(ctx, &settings, reference.domain(), None, false).await?;
        pull_tagged(ctx, &settings, &reg, &reference, platform, quiet, Out::Stderr).await
    })
}

pub fn push(ctx: &mut Ctx, a: &PushArgs) -> Result<(), CliError> {
    let mut reference = Reference::parse(&a.name)?;
    if reference.digest().is_some() {
        return Err(msg(format!("cannot push a digest reference: {}", a.name)));
    }
    if a.all_tags && reference.tag().is_some() {
        return Err(msg("tag can't be used with --all-tags/-a"));
    }
    if !a.all_tags && reference.tag().is_none() {
        if !a.quiet {
            print("Using default tag: latest\n");
        }
        reference = reference.with_default_tag();
    }
    let targets: Vec<(gantry_image::Digest, Reference)> = if a.all_tags {
        let repo = reference.repository();
        let mut found = Vec::new();
        for img in ctx.store.images()? {
            for t in &img.tags {
                if t.repository() == repo {
                    found.push((img.id, t.clone()));
                }
            }
        }
        found.sort_by_key(|(_, r)| r.to_string());
        if found.is_empty() {
            return Err(msg(format!("An image does not exist locally with the tag: {}", repo.familiar())));
        }
        found
    } else {
        match ctx.store.resolve(&reference.to_string()) {
            Ok((id, Some(_))) => vec![(id, reference.clone())],
            _ => {
                return Err(msg(format!("An image does not exist locally with the tag: {}", reference.familiar_name())))
            }
        }
    };
    if !a.quiet {
        print(&format!("The push refers to repository [{}]\n", reference.name()));
    }
    let settings = Settings::load()?;
    let rt = runtime()?;
    rt.block_on(async {
        let reg = connect(ctx, &settings, reference.domain(), a.tls.tls_verify, true).await?;
        for (id, t) in &targets {
            let progress = crate::progress::display(Out::Stdout, a.quiet);
            let opts = PushOptions {
                concurrency: settings.max_concurrent_uploads,
                chunk_size: settings.upload_chunk_size,
                progress: progress.as_ref(),
            };
            let pushed = gantry_registry::push::push(&mut ctx.store, &reg, id, t, &opts).await?;
            if !a.quiet {
                print(&format!("{}: digest: {} size: {}\n", t.tag().unwrap_or("latest"), pushed.digest, pushed.size));
            }
        }
        Ok::<_, CliError>(())
    })?;
    if a.quiet {
        print(&format!("{}\n", reference.familiar()));
    }
    Ok(())
}

/// The registry a `login`/`logout` argument names: `docker.io` when absent, a URL's
/// host otherwise (`https://index.docker.io/v1/` is docker.io).
fn server_domain(server: Option<&str>) -> String {
    let Some(s) = server else { return "docker.io".into() };
    let s = s.trim();
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" | "" => "docker.io".into(),
        _ => host,
    }
}

/// How docker names a registry in login/logout messages.
fn server_display(domain: &str) -> String {
    if domain == "docker.io" {
        "https://index.docker.io/v1/".into()
    } else {
        domain.to_string()
    }
}

pub fn login(ctx: &mut Ctx, a: &LoginArgs) -> Result<(), CliError> {
    if a.password.is_some() && a.password_stdin {
        return Err(msg("--password and --password-stdin are mutually exclusive"));
    }
    if a.password_stdin && a.username.is_none() {
        return Err(msg("Must provide --username with --password-stdin"));
    }
    let domain = server_domain(a.server.as_deref());
    let mut password = a.password.clone();
    if password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if a.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| msg(format!("reading the password from stdin: {e}")))?;
        password = Some(s.trim_end_matches(['\n', '\r']).to_string());
    }
    let mut username = a.username.clone();
    if username.is_none() || password.is_none() {
        if !std::io::stdin().is_terminal() {
            return Err(msg("Cannot perform an interactive login from a non TTY device"));
        }
        if username.is_none() {
            username = Some(prompt("Username: ", true)?);
        }
        if password.is_none() {
            password = Some(prompt("Password: ", false)?);
        }
    }
    let username = username.unwrap_or_default().trim().to_string();
    let password = password.unwrap_or_default();
    if username.is_empty() {
        return Err(msg("Username cannot be empty"));
    }
    if password.is_empty() {
        return Err(msg("Password cannot be empty"));
    }
    let creds = Credentials { username, secret: Secret::new(password), identity_token: false };
    let settings = Settings::load()?;
    let rt = runtime()?;
    rt.block_on(async {
        let reg = Registry::connect(&settings, &domain, Some(creds.clone()), a.tls.tls_verify, false).await?;
        reg.verify_credentials().await
    })?;
    let mut config = docker_config(ctx)?;
    config.store(&domain, &creds)?;
    if !config.uses_helper(&domain)? {
        eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/engine/reference/commandline/login/#credentials-store\n",
            config.path().display()
        );
    }
    print("Login Succeeded\n");
    Ok(())
}

/// Reads a line from the terminal; the password without echo.
fn prompt(label: &str, echo: bool) -> Result<String, CliError> {
    use std::io::BufRead;
    print(label);
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios calls on stdin, restored below.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let have_termios = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if !echo && have_termios {
        let mut t = saved;
        t.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if !echo && have_termios {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
        print("\n");
    }
    read.map_err(|e| msg(format!("reading from the terminal: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn logout(ctx: &mut Ctx, a: &LogoutArgs) -> Result<(), CliError> {
    let domain = server_domain(a.server.as_deref());
    let mut config = docker_config(ctx)?;
    if config.erase(&domain)? {
        print(&format!("Removing login credentials for {}\n", server_display(&domain)));
    } else {
        print(&format!("Not logged in to {}\n", server_display(&domain)));
    }
    Ok(())
}

const SEARCH_TABLE: &str = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}\t{{.IsAutomated}}";

pub fn search(ctx: &mut Ctx, a: &SearchArgs) -> Result<(), CliError> {
    if !(1..=100).contains(&a.limit) {
        return Err(msg(format!("Limit {} is outside the range of [1, 100]", a.limit)));
    }
    let mut min_stars = 0u64;
    let (mut official, mut automated) = (None, None);
    for f in &a.filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("bad format of filter (expected name=value): {f}")))?;
        let bool_of = |v: &str| match v {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(msg(format!("Invalid filter '{k}={v}'"))),
        };
        match k {
            "stars" => min_stars = v.parse().map_err(|_| msg(format!("Invalid filter 'stars={v}'")))?,
            "is-official" => official = Some(bool_of(v)?),
            "is-automated" => automated = Some(bool_of(v)?),
            _ => return Err(msg(format!("Invalid filter '{k}'"))),
        }
    }
    // A term naming a registry first (`host:5000/name`) searches that registry.
    let (domain, term) = match a.term.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            (first.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), a.term.clone()),
    };
    let settings = Settings::load()?;
    let rt = runtime()?;
    let results = rt.block_on(async {
        let reg = connect(ctx, &settings, &domain, a.tls.tls_verify, false).await?;
        if let Some(r) = reg.search_v1(&term, a.limit).await? {
            return Ok::<_, CliError>(r);
        }
        // No search API: match the catalog, as the registry lists it.
        let needle = term.to_ascii_lowercase();
        let names = reg.catalog(10_000).await?;
        Ok(names
            .into_iter()
            .filter(|n| n.to_ascii_lowercase().contains(&needle))
            .map(|n| gantry_registry::client::SearchResult { name: format!("{domain}/{n}"), ..Default::default() })
            .collect())
    })?;
    let rows: Vec<serde_json::Value> = results
        .into_iter()
        .filter(|r| r.star_count >= min_stars)
        .filter(|r| official.is_none_or(|o| r.is_official == o))
        .filter(|r| automated.is_none_or(|o| r.is_automated == o))
        .take(a.limit)
        .map(|r| {
            let description = if a.no_trunc || r.description.chars().count() <= 45 {
                r.description.clone()
            } else {
                format!("{}…", r.description.chars().take(44).collect::<String>())
            };
            let description = description.replace('\n', " ");
            json!({
                "Name": r.name,
                "Description": description,
                "StarCount": r.star_count,
                "IsOfficial": if r.is_official { "[OK]" } else { "" },
                "IsAutomated": if r.is_automated { "[OK]" } else { "" },
            })
        })
        .collect();
    let headers = json!({"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED"});
    let format = Format::parse(a.format.as_deref().unwrap_or(""), SEARCH_TABLE);
    print(&render(&format, &rows, &headers)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_servers() {
        assert_eq!(server_domain(None), "docker.io");
        assert_eq!(server_domain(Some("https://index.docker.io/v1/")), "docker.io");
        assert_eq!(server_domain(Some("127.0.0.1:5000")), "127.0.0.1:5000");
        assert_eq!(server_domain(Some("http://Reg.Example:443/v2/")), "reg.example:443");
        assert_eq!(server_display("docker.io"), "https://index.docker.io/v1/");
    }
}
