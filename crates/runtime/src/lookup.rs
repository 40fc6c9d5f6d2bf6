//! Finding a container's program before starting it, inside its root filesystem, so
//! a missing or unrunnable command gets docker's message and exit code (127, 126)
//! instead of a runtime's internal error.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use gantry_layer::apply::RootDir;

use crate::RuntimeError;

enum Found {
    Yes,
    Missing,
    NotExecutable,
}

fn probe(root: &RootDir, path: &str) -> Found {
    match root.open_file(path.trim_start_matches('/').as_bytes()) {
        Ok(f) => match f.metadata() {
            Ok(m) if m.permissions().mode() & 0o111 != 0 => Found::Yes,
            _ => Found::NotExecutable,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Found::Missing,
        Err(_) => Found::NotExecutable,
    }
}

/// Checks that `program` can be executed in `rootfs`: a path (relative ones against
/// `cwd`) must name an executable file; a bare name is searched in the `PATH` of `env`
/// (docker's default when unset). Symlinks resolve inside `rootfs`.
pub fn check_program(rootfs: &Path, program: &str, env: &[String], cwd: &str) -> Result<(), RuntimeError> {
    let root = RootDir::open(rootfs).map_err(|e| RuntimeError::Runtime(e.to_string()))?;
    let fail =
        |message: String, code| Err(RuntimeError::Start { message: format!("exec: {program:?}: {message}"), code });
    if program.is_empty() {
        return fail("no command specified".into(), 127);
    }
    if program.contains('/') {
        let full = if program.starts_with('/') { program.to_string() } else { format!("{cwd}/{program}") };
        return match probe(&root, &full) {
            Found::Yes => Ok(()),
            Found::Missing => fail(format!("stat {program}: no such file or directory"), 127),
            Found::NotExecutable => fail("permission denied".into(), 126),
        };
    }
    let path = env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(&gantry_image::DEFAULT_PATH_ENV[5..]);
    let mut denied = false;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let full = if dir.starts_with('/') { format!("{dir}/{program}") } else { format!("{cwd}/{dir}/{program}") };
        match probe(&root, &full) {
            Found::Yes => return Ok(()),
            Found::NotExecutable => denied = true,
            Found::Missing => {}
        }
    }
    if denied {
        fail("permission denied".into(), 126)
    } else {
        fail("executable file not found in $PATH".into(), 127)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_like_docker() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("bin")).unwrap();
        std::fs::write(d.path().join("bin/tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(d.path().join("bin/tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(d.path().join("bin/data"), "x").unwrap();
        std::os::unix::fs::symlink("/bin/tool", d.path().join("bin/link")).unwrap();
        let env = vec!["PATH=/bin".to_string()];
        assert!(check_program(d.path(), "tool", &env, "/").is_ok());
        assert!(check_program(d.path(), "link", &env, "/").is_ok());
        assert!(check_program(d.path(), "/bin/tool", &[], "/").is_ok());
        assert!(check_program(d.path(), "bin/tool", &[], "/").is_ok());
        let code = |r: Result<(), RuntimeError>| match r {
            Err(RuntimeError::Start { code, message }) => (code, message),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            code(check_program(d.path(), "nope", &env, "/")),
            (127, "exec: \"nope\": executable file not found in $PATH".into())
        );
        assert_eq!(code(check_program(d.path(), "data", &env, "/")).0, 126);
        assert_eq!(code(check_program(d.path(), "/bin", &env, "/")).0, 126);
        assert_eq!(code(check_program(d.path(), "/x/y", &env, "/")).0, 127);
    }
}
