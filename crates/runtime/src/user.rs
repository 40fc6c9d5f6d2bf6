//! `USER` / `--user` values to numeric ids, read against the image's own
//! `/etc/passwd` and `/etc/group` the way runc's `user.GetExecUser` does, so a
//! container runs as the same ids under gantry as under docker.

use crate::spec::User;

/// One `/etc/passwd` or `/etc/group` line split into fields.
fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).map(|l| l.split(':').collect())
}

fn not_found(name: &str, file: &str) -> String {
    format!(
        "unable to find {} {name}: no matching entries in {file} file",
        if file == "passwd" { "user" } else { "group" }
    )
}

/// Resolves `spec` (`user`, `uid`, `user:group`, `uid:gid`, empty for root) with the
/// image's passwd and group files (absent files read as empty). A numeric id need not
/// exist; a name must. Supplementary groups are those of `/etc/group` that list the
/// user, as docker adds them, unless a group was given explicitly.
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<(User, Option<String>), String> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entry = records(passwd).find(|f| f.first() == Some(&user) || (f.get(2) == Some(&user)));
    let (uid, mut gid, name, home) = match (user.parse::<u32>(), entry) {
        (Ok(uid), Some(f)) => {
            (uid, f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0), f[0].to_string(), f.get(5).map(|h| h.to_string()))
        }
        (Ok(uid), None) => (uid, 0, String::new(), None),
        (Err(_), Some(f)) => {
            let uid = f.get(2).and_then(|u| u.parse().ok()).ok_or_else(|| not_found(user, "passwd"))?;
            (uid, f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0), f[0].to_string(), f.get(5).map(|h| h.to_string()))
        }
        (Err(_), None) => return Err(not_found(user, "passwd")),
    };
    if let Some(g) = grp {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => records(group)
                .find(|f| f.first() == Some(&g))
                .and_then(|f| f.get(2).and_then(|n| n.parse().ok()))
                .ok_or_else(|| not_found(g, "group"))?,
        };
    }
    let mut additional_gids = Vec::new();
    if grp.is_none() && !name.is_empty() {
        for f in records(group) {
            let members = f.get(3).map(|m| m.split(',').any(|m| m == name)).unwrap_or(false);
            if let Some(n) = f.get(2).and_then(|n| n.parse::<u32>().ok()).filter(|_| members) {
                if n != gid && !additional_gids.contains(&n) {
                    additional_gids.push(n);
                }
            }
        }
    }
    Ok((User { uid, gid, additional_gids }, home))
}

/// [`resolve`] with the passwd and group files of a root filesystem (read inside it,
/// at most 4 MiB each; absent files read as empty).
pub fn resolve_in(root: &gantry_layer::apply::RootDir, spec: &str) -> Result<(User, Option<String>), String> {
    let read = |path: &str| {
        let mut s = String::new();
        if let Ok(f) = root.open_file(path.as_bytes()) {
            let _ = std::io::Read::read_to_string(&mut std::io::Read::take(f, 4 << 20), &mut s);
        }
        s
    };
    resolve(spec, &read("etc/passwd"), &read("etc/group"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\nbob:x:1000:100::/home/bob:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nusers:x:100:\nwheel:x:10:bob,alice\nwww:x:33:\n";

    #[test]
    fn names_and_ids() {
        let (u, home) = resolve("bob", PASSWD, GROUP).unwrap();
        assert_eq!(u, User { uid: 1000, gid: 100, additional_gids: vec![10] });
        assert_eq!(home.as_deref(), Some("/home/bob"));
        assert_eq!(resolve("", PASSWD, GROUP).unwrap().0, User::default());
        assert_eq!(resolve("33", PASSWD, GROUP).unwrap().0.gid, 33);
        assert_eq!(resolve("4242", PASSWD, GROUP).unwrap().0, User { uid: 4242, gid: 0, additional_gids: vec![] });
        assert_eq!(resolve("bob:www", PASSWD, GROUP).unwrap().0, User { uid: 1000, gid: 33, additional_gids: vec![] });
        assert_eq!(resolve("1:2", "", "").unwrap().0, User { uid: 1, gid: 2, additional_gids: vec![] });
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(
            resolve("nobody", PASSWD, GROUP).unwrap_err(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        assert_eq!(
            resolve("bob:nogroup", PASSWD, GROUP).unwrap_err(),
            "unable to find group nogroup: no matching entries in group file"
        );
    }
}
