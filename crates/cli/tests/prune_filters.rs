//! `system prune` (docker 20.10's prompt, sections, filters and total) and
//! `ps --filter`/`ps -s`, as root on a busybox store.

use gantry_testkit::build::BuildEnv;
use gantry_testkit::{assert_one_error_line, Gantry};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

fn env() -> BuildEnv {
    BuildEnv::new(BIN)
}

fn id(g: &Gantry, name: &str) -> String {
    g.ok(&["container", "inspect", "--format", "{{.Id}}", name]).trim().to_string()
}

/// `ps -a` names for the given filters, newest first.
fn names(g: &Gantry, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
    for f in filters {
        args.extend(["--filter", f]);
    }
    g.ok(&args).lines().map(String::from).collect()
}

/// go-units `HumanSizeWithPrecision(n, 3)` for the kB..GB range the tests meet.
fn human3(n: u64) -> String {
    let (mut x, mut unit) = (n as f64, "B");
    for u in ["kB", "MB", "GB"] {
        if x < 1000.0 {
            break;
        }
        x /= 1000.0;
        unit = u;
    }
    let decimals = if x >= 100.0 {
        0
    } else if x >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    format!("{s}{unit}")
}

const PLAIN_PROMPT: &str = "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - all dangling build cache\n\nAre you sure you want to continue? [y/N] ";

#[test]
fn system_prune_asks_as_docker_does_and_no_keeps_everything() {
    let s = env();
    s.g.ok(&["create", "--name", "idle", "busybox", "true"]);
    let r = s.g.run_stdin(&["system", "prune"], b"n\n");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, PLAIN_PROMPT);
    assert_eq!(names(&s.g, &[]), ["idle"], "answering no removes nothing");

    let r = s.g.run_stdin(&["system", "prune", "-a", "--volumes", "--filter", "until=10h", "--filter", "label=z"], b"");
    assert_one_error_line(&r.stderr, "The \"until\" filter is not supported with \"--volumes\"");
    assert_eq!(r.code, Some(1));
    assert!(r.stdout.is_empty(), "refused before the prompt: {}", r.stdout);

    let r = s.g.run_stdin(
        &["system", "prune", "-a", "--volumes", "--filter", "label=z=1", "--filter", "label=a", "--filter", "label!=k"],
        b"N\n",
    );
    assert_eq!(
        r.stdout,
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  \
         - all volumes not used by at least one container\n  - all images without at least one container associated to them\n  \
         - all build cache\n\n  Items to be pruned will be filtered with:\n  - label!=k\n  - label=a\n  - label=z=1\n\n\
         Are you sure you want to continue? [y/N] "
    );
    assert_eq!(names(&s.g, &[]), ["idle"]);
    // "y" goes ahead.
    let r = s.g.run_stdin(&["system", "prune"], b"y\n");
    assert_eq!(r.stdout, format!("{PLAIN_PROMPT}Deleted Containers:\n{}\n\nTotal reclaimed space: 0B\n", id_of(&r)));
    assert!(names(&s.g, &[]).is_empty());
}

/// The one container ID a prune listed.
fn id_of(r: &gantry_testkit::Run) -> String {
    r.stdout.lines().find(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit())).unwrap_or("").to_string()
}

#[test]
fn system_prune_removes_each_kind_in_docker_sections() {
    let s = env();
    s.g.ok(&["run", "--name", "wrote", "busybox", "sh", "-c", "head -c 20000 /dev/zero > /f"]);
    let wrote = id(&s.g, "wrote");
    s.g.ok(&["run", "-d", "--name", "alive", "-v", "kept:/data", "busybox", "sleep", "1000"]);
    s.g.ok(&["volume", "create", "loose"]);
    let mountpoint = s.g.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "loose"]);
    std::fs::write(std::path::Path::new(mountpoint.trim()).join("f"), vec![0u8; 3000]).unwrap();
    // Rebuilding a tag leaves the old image dangling, and its cache record with it.
    s.file("a.bin", &"a".repeat(5000));
    s.file("Dockerfile", "FROM busybox\nCOPY a.bin /a.bin\n");
    s.build_ok(&["-t", "app:1"]);
    let old = s.g.ok(&["images", "-q", "--no-trunc", "app:1"]).trim().to_string();
    s.file("a.bin", &"b".repeat(5000));
    s.build_ok(&["-t", "app:1"]);

    let out = s.g.ok(&["system", "prune", "-f"]);
    let want_head = format!("Deleted Containers:\n{wrote}\n\nDeleted Images:\ndeleted: {old}\ndeleted: sha256:");
    assert!(out.starts_with(&want_head), "{out}");
    let cache = out.find("\n\nDeleted build cache objects:\nsha256:").expect("a cache section");
    assert!(!out.contains("Deleted Volumes"), "volumes only with --volumes: {out}");
    // 20kB written by the container, 5kB of the old layer (counted once: the cache
    // record's layer was the image's).
    assert!(out[cache..].ends_with("\n\nTotal reclaimed space: 25kB\n"), "{out}");
    assert_eq!(names(&s.g, &[]), ["alive"]);
    assert!(s.g.ok(&["images", "app"]).contains("app"), "tagged images stay without -a");

    let out = s.g.ok(&["system", "prune", "-f", "--volumes"]);
    assert_eq!(out, "Deleted Volumes:\nloose\n\nTotal reclaimed space: 3kB\n", "a used volume stays");

    let out = s.g.ok(&["system", "prune", "-a", "-f"]);
    assert!(out.starts_with("Deleted Images:\nuntagged: app:1\ndeleted: sha256:"), "{out}");
    assert!(out.contains("\n\nDeleted build cache objects:\n"), "-a takes all the cache: {out}");
    assert!(!out.contains("untagged: busybox"), "an image in use stays: {out}");
    assert_eq!(s.g.ok(&["system", "prune", "-a", "-f", "--volumes"]), "Total reclaimed space: 0B\n");
    s.g.ok(&["rm", "-f", "alive"]);
}

#[test]
fn system_prune_filters_pick_what_goes() {
    let s = env();
    s.g.ok(&["create", "--name", "keep", "--label", "tier=db", "busybox", "true"]);
    s.g.ok(&["create", "--name", "drop", "--label", "tier=web", "busybox", "true"]);
    s.g.ok(&["create", "--name", "bare", "busybox", "true"]);
    s.g.ok(&["volume", "create", "--label", "tier=web", "wv"]);
    s.g.ok(&["volume", "create", "dv"]);
    assert_eq!(s.g.ok(&["system", "prune", "-f", "--filter", "until=1h"]), "Total reclaimed space: 0B\n");
    let drop = id(&s.g, "drop");
    let out = s.g.ok(&["system", "prune", "-f", "--volumes", "--filter", "label=tier=web"]);
    assert_eq!(out, format!("Deleted Containers:\n{drop}\n\nDeleted Volumes:\nwv\n\nTotal reclaimed space: 0B\n"));
    s.g.ok(&["system", "prune", "-f", "--filter", "label!=tier"]);
    assert_eq!(names(&s.g, &[]), ["keep"], "label! spares labelled containers");
    assert_eq!(s.g.ok(&["volume", "ls", "-q"]), "dv\n");

    let r = s.g.run(&["system", "prune", "-f", "--filter", "color=red"]);
    assert_eq!(r.code, Some(1));
    assert_one_error_line(&r.stderr, "Invalid filter 'color'");
    let r = s.g.run(&["system", "prune", "-f", "--filter", "nonsense"]);
    assert_eq!(r.code, Some(125));
    assert_one_error_line(&r.stderr, "bad format of filter (expected name=value)");
    let r = s.g.run(&["system", "prune", "-f", "--filter", "until=soon"]);
    assert_eq!(r.code, Some(1));
    assert_one_error_line(&r.stderr, "until=soon");
    assert_eq!(names(&s.g, &[]), ["keep"], "bad filters remove nothing");
}

#[test]
fn container_prune_lists_only_what_it_removed_with_the_space() {
    let s = env();
    assert_eq!(s.g.ok(&["container", "prune", "-f"]), "Total reclaimed space: 0B\n");
    s.g.ok(&["run", "--name", "wr", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /f"]);
    let out = s.g.ok(&["container", "prune", "-f"]);
    assert_eq!(out, format!("Deleted Containers:\n{}\n\nTotal reclaimed space: 100kB\n", id_of_text(&out)));
    assert!(out.contains('\n') && id_of_text(&out).len() == 64, "{out}");
}

#[test]
fn container_and_volume_prune_take_filters() {
    let s = env();
    s.g.ok(&["create", "--name", "web", "--label", "tier=web", "busybox", "true"]);
    s.g.ok(&["create", "--name", "db", "--label", "tier=db", "busybox", "true"]);
    s.g.ok(&["volume", "create", "--label", "tier=web", "wv"]);
    s.g.ok(&["volume", "create", "dv"]);
    assert_eq!(s.g.ok(&["container", "prune", "-f", "--filter", "until=1h"]), "Total reclaimed space: 0B\n");
    let web = id(&s.g, "web");
    let out = s.g.ok(&["container", "prune", "-f", "--filter", "label=tier=web"]);
    assert_eq!(out, format!("Deleted Containers:\n{web}\n\nTotal reclaimed space: 0B\n"));
    assert_eq!(names(&s.g, &[]), ["db"]);
    let out = s.g.ok(&["volume", "prune", "-f", "--filter", "label!=tier"]);
    assert_eq!(out, "Deleted Volumes:\ndv\n\nTotal reclaimed space: 0B\n");
    let r = s.g.run(&["volume", "prune", "-f", "--filter", "until=1h"]);
    assert_one_error_line(&r.stderr, "Invalid filter 'until'");
    let r = s.g.run(&["container", "prune", "-f", "--filter", "color=red"]);
    assert_one_error_line(&r.stderr, "Invalid filter 'color'");
    assert_eq!(s.g.ok(&["volume", "ls", "-q"]), "wv\n");
}

fn id_of_text(s: &str) -> String {
    s.lines().nth(1).unwrap_or("").to_string()
}

#[test]
fn ps_filters_combine_as_in_docker() {
    let s = env();
    let g = &s.g;
    g.ok(&[
        "run",
        "-d",
        "--name",
        "web-1",
        "-l",
        "app=web",
        "-l",
        "tier=front",
        "-v",
        "data:/data",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(g.run(&["run", "--name", "exit3", "-l", "app=batch", "busybox", "sh", "-c", "exit 3"]).code, Some(3));
    g.ok(&["create", "--name", "fresh", "busybox", "true"]);
    g.ok(&["run", "--name", "quiet", "--network", "none", "busybox", "true"]);

    assert_eq!(names(g, &["name=web"]), ["web-1"]);
    assert_eq!(names(g, &["name=^web-1$"]), ["web-1"], "names match without the slash");
    assert_eq!(names(g, &["name=^/web-1$"]), ["web-1"], "and with it");
    assert_eq!(names(g, &["name=e"]), ["quiet", "fresh", "exit3", "web-1"]);
    assert_eq!(names(g, &["name=^(fresh|quiet)$"]), ["quiet", "fresh"]);
    assert_eq!(names(g, &["name=fresh", "name=quiet"]), ["quiet", "fresh"], "one key's values are alternatives");
    assert_eq!(names(g, &["name=e", "label=app"]), ["exit3", "web-1"], "keys must all hold");
    assert_eq!(names(g, &["label=app", "label=tier"]), ["web-1"], "every label value must hold");
    assert_eq!(names(g, &["label=app=batch"]), ["exit3"]);
    let web = id(g, "web-1");
    assert_eq!(names(g, &[&format!("id={}", &web[..10])]), ["web-1"]);
    assert!(names(g, &["id=zzz"]).is_empty());

    assert_eq!(names(g, &["exited=3"]), ["exit3"]);
    assert_eq!(names(g, &["exited=0"]), ["quiet"], "a container never started has no exit code");
    assert_eq!(names(g, &["exited=0", "exited=3"]), ["quiet", "exit3"]);
    assert!(g.ok(&["ps", "--filter", "exited=3"]).lines().count() == 1, "without -a only running ones (the header)");
    let out = g.ok(&["ps", "--filter", "status=exited", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(out, "quiet exited\nexit3 exited\n", "status lists stopped containers without -a");
    assert_eq!(names(g, &["status=created"]), ["fresh"]);
    assert_eq!(names(g, &["status=running"]), ["web-1"]);
    assert_eq!(names(g, &["status=created", "status=running"]), ["fresh", "web-1"]);
    assert_eq!(g.ok(&["ps", "-n", "1", "--filter", "status=exited", "--format", "{{.Names}}"]), "quiet\n");

    assert_eq!(names(g, &["ancestor=busybox"]).len(), 4);
    assert_eq!(names(g, &[&format!("ancestor={}", g.ok(&["images", "-q", "busybox"]).trim())]).len(), 4);
    assert!(names(g, &["ancestor=nosuchimage"]).is_empty(), "an unknown image matches nothing");
    assert_eq!(names(g, &["before=exit3"]), ["web-1"]);
    assert_eq!(names(g, &["since=exit3"]), ["quiet", "fresh"]);
    assert_eq!(names(g, &["volume=data"]), ["web-1"]);
    assert_eq!(names(g, &["volume=/data"]), ["web-1"]);
    assert_eq!(names(g, &["network=none"]), ["quiet"]);
    assert_eq!(names(g, &["network=bridge"]), ["fresh", "exit3", "web-1"]);
    assert_eq!(names(g, &["health=none"]).len(), 4);
    assert!(names(g, &["health=healthy"]).is_empty());
    assert_eq!(names(g, &["is-task=false"]).len(), 4);

    for (filter, code, text) in [
        ("exited=abc", 1, "strconv.Atoi: parsing \"abc\": invalid syntax"),
        ("status=sleeping", 1, "Unrecognised filter value for status: sleeping"),
        ("health=meh", 1, "Unrecognised filter value for health: meh"),
        ("publish=80", 1, "Invalid filter 'publish'"),
        ("before=nosuch", 1, "No such container: nosuch"),
        ("is-task=maybe", 1, "Invalid filter 'is-task=[maybe]'"),
        ("nonsense", 125, "bad format of filter"),
    ] {
        let r = g.run(&["ps", "-a", "--filter", filter]);
        assert_eq!(r.code, Some(code), "{filter}: {r:?}");
        assert_one_error_line(&r.stderr, text);
        assert!(r.stdout.is_empty(), "{filter}: {}", r.stdout);
    }
    g.ok(&["rm", "-f", "web-1"]);
}

#[test]
fn ps_size_shows_written_and_virtual_bytes() {
    let s = env();
    s.g.ok(&["run", "--name", "wr", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /f"]);
    let image: u64 = s.g.ok(&["image", "inspect", "--format", "{{.Size}}", "busybox"]).trim().parse().unwrap();
    let want = format!("100kB (virtual {})", human3(100_000 + image));
    let out = s.g.ok(&["ps", "-a", "-s"]);
    let mut lines = out.lines();
    assert!(lines.next().unwrap().trim_end().ends_with("NAMES     SIZE"), "{out}");
    assert!(lines.next().unwrap().trim_end().ends_with(&format!("wr        {want}")), "{out}");
    assert_eq!(
        s.g.ok(&["ps", "-a", "--format", "{{.Size}}"]),
        format!("{want}\n"),
        "a template asking for it sizes too"
    );
    assert!(!s.g.ok(&["ps", "-a"]).contains("SIZE"), "no SIZE column without -s");
    assert_eq!(s.g.ok(&["ps", "-a", "-s", "-q"]), format!("{}\n", &id(&s.g, "wr")[..12]));
    s.g.ok(&["create", "--name", "cc", "busybox", "true"]);
    let fresh = s.g.ok(&["ps", "-a", "--filter", "name=^cc$", "--format", "{{.Size}}"]);
    assert_eq!(fresh, format!("0B (virtual {})\n", human3(image)));
}
