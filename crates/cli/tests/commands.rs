//! End-to-end tests of the image commands on a temporary store: docker's flags,
//! output, messages and exit codes.

use std::io::Write;
use std::path::Path;

use gantry_testkit::base::{self, BaseImage};
use gantry_testkit::{assert_one_error_line, require_tool, Gantry};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

fn gantry() -> Gantry {
    Gantry::new(BIN)
}

fn loaded(g: &Gantry, dir: &Path, tag: &str) -> BaseImage {
    let img = base::busybox_archive(dir, tag);
    let out = g.ok(&["load", "-i", img.archive.to_str().unwrap()]);
    assert_eq!(out, format!("Loaded image: {tag}\n"));
    img
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn images_table_looks_like_dockers() {
    let (g, t) = (gantry(), tmp());
    let img = loaded(&g, t.path(), "busybox:latest");
    let out = g.ok(&["images"]);
    let rows = lines(&out);
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0], "REPOSITORY   TAG       IMAGE ID       CREATED        SIZE");
    let short = &img.id_hex()[..12];
    assert!(rows[1].starts_with(&format!("busybox      latest    {short}   ")), "{out}");
    assert!(rows[1].contains(" years ago   "), "{out}");
    assert!(rows[1].ends_with("MB"), "{out}");
    // `image ls` and `image list` are the same command.
    assert_eq!(g.ok(&["image", "ls"]), out);
    assert_eq!(g.ok(&["image", "list"]), out);
}

#[test]
fn images_quiet_no_trunc_digests_and_templates() {
    let (g, t) = (gantry(), tmp());
    let img = loaded(&g, t.path(), "busybox:latest");
    g.ok(&["tag", "busybox", "example.com/team/app:v1"]);
    let q = g.ok(&["images", "-q"]);
    assert_eq!(lines(&q), vec![&img.id_hex()[..12]; 2]);
    let q = g.ok(&["images", "-q", "--no-trunc"]);
    assert_eq!(lines(&q), vec![img.id.as_str(); 2]);
    let names = g.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(lines(&names), ["busybox:latest", "example.com/team/app:v1"]);
    let digests = g.ok(&["images", "--digests"]);
    let header: Vec<&str> = lines(&digests)[0].split("   ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"], "{digests}");
    assert!(lines(&digests)[1].contains("   <none>   "), "no repo digests for a loaded image: {digests}");
    let table = g.ok(&["images", "--format", "table {{.Repository}}\\t{{.ID}}"]);
    assert_eq!(
        lines(&table)[0],
        format!("REPOSITORY{}IMAGE ID", " ".repeat(13)),
        "column = longest cell (20) + padding 3"
    );
    for json_format in ["{{json .}}", "json"] {
        let out = g.ok(&["images", "--format", json_format]);
        let first: Value = serde_json::from_str(lines(&out)[0]).unwrap();
        let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "Containers",
                "CreatedAt",
                "CreatedSince",
                "Digest",
                "ID",
                "Repository",
                "SharedSize",
                "Size",
                "Tag",
                "UniqueSize",
                "VirtualSize"
            ]
        );
        assert_eq!(first["Repository"], "busybox");
    }
    // The positional REPOSITORY[:TAG] filters like docker's.
    assert_eq!(
        lines(&g.ok(&["images", "--format", "{{.Repository}}", "example.com/team/app"])),
        ["example.com/team/app"]
    );
}

#[test]
fn images_filters() {
    let (g, t) = (gantry(), tmp());
    let old = loaded(&g, t.path(), "one:latest");
    let newer = base::archive_with_layers(&t.path().join("b"), "two:latest", &[("/data".into(), 1000, 7)]);
    g.ok(&["load", "-i", newer.archive.to_str().unwrap()]);
    let f = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["images", "--format", "{{.Repository}}"];
        all.extend_from_slice(args);
        g.ok(&all).lines().map(str::to_string).collect()
    };
    assert_eq!(f(&["--filter", "reference=one"]), ["one"]);
    assert_eq!(f(&["--filter", "reference=t*"]), ["two"]);
    assert_eq!(f(&["-f", "reference=one", "-f", "reference=two"]).len(), 2);
    assert_eq!(f(&["--filter", "dangling=true"]), Vec::<String>::new());
    assert_eq!(f(&["--filter", "dangling=false"]).len(), 2);
    assert_eq!(f(&["--filter", "label=nothing"]), Vec::<String>::new());
    // Both have the same created time, so neither is before or since the other.
    assert_eq!(f(&["--filter", &format!("before={}", old.id)]), Vec::<String>::new());
    // Retagging `one` onto the other image leaves the first dangling.
    g.ok(&["tag", "two", "one"]);
    let dangling = g.ok(&["images", "--filter", "dangling=true", "--format", "{{.Repository}} {{.Tag}} {{.ID}}"]);
    assert_eq!(dangling, format!("<none> <none> {}\n", &old.id_hex()[..12]));
    for bad in ["color=red", "dangling=maybe", "noequals"] {
        let err = g.fail(&["images", "--filter", bad]);
        assert_one_error_line(&err, "filter");
    }
}

#[test]
fn tag_and_rmi_follow_dockers_rules() {
    let (g, t) = (gantry(), tmp());
    let img = loaded(&g, t.path(), "busybox:latest");
    g.ok(&["tag", "busybox:latest", "mirror/busybox:1"]);
    // By ID with two repositories: refused without -f.
    let r = g.run(&["rmi", &img.id_hex()[..8]]);
    assert_eq!(r.code, Some(1));
    assert_one_error_line(&r.stderr, "must be forced");
    // By name: only untags while another name remains.
    assert_eq!(g.ok(&["rmi", "mirror/busybox:1"]), "Untagged: mirror/busybox:1\n");
    let out = g.ok(&["rmi", "busybox"]);
    let l = lines(&out);
    assert_eq!(l[0], "Untagged: busybox:latest");
    assert_eq!(l[1], format!("Deleted: {}", img.id));
    assert_eq!(l[2], format!("Deleted: {}", img.diff_ids[0]));
    assert_eq!(g.ok(&["images", "-q"]), "");
    // Missing image: docker's message, exit 1.
    let r = g.run(&["rmi", "nothing:here"]);
    assert_eq!(r.code, Some(1));
    assert_one_error_line(&r.stderr, "No such image: nothing:here");
    // Every blob went with the image.
    assert_eq!(std::fs::read_dir(g.root().join("blobs/sha256")).unwrap().count(), 0);
}

#[test]
fn rmi_force_by_id_and_partial_failure() {
    let (g, t) = (gantry(), tmp());
    let img = loaded(&g, t.path(), "busybox:latest");
    g.ok(&["tag", "busybox", "other/name:x"]);
    let r = g.run(&["rmi", "-f", &img.id_hex()[..5], "missing"]);
    assert_eq!(r.code, Some(1), "one argument failed");
    assert!(
        r.stdout.contains("Untagged: busybox:latest\n") && r.stdout.contains("Untagged: other/name:x\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(&format!("Deleted: {}", img.id)));
    assert_one_error_line(&r.stderr, "No such image: missing");
}

#[test]
fn tag_errors() {
    let (g, t) = (gantry(), tmp());
    loaded(&g, t.path(), "busybox:latest");
    assert_one_error_line(&g.fail(&["tag", "busybox", "team/Upper"]), "must be lowercase");
    // Like docker, an upper-case first component is a registry host, which is legal.
    g.ok(&["tag", "busybox", "UPPER/case"]);
    assert_one_error_line(&g.fail(&["tag", "busybox", &format!("x:{}", "t".repeat(129))]), "invalid reference format");
    assert_one_error_line(&g.fail(&["tag", "nope", "x"]), "No such image: nope");
    assert_one_error_line(&g.fail(&["tag", "busybox", "a//b"]), "invalid reference format");
}

#[test]
fn prune_removes_dangling_then_all() {
    let (g, t) = (gantry(), tmp());
    let old = loaded(&g, t.path(), "app:latest");
    let newer = base::archive_with_layers(&t.path().join("b"), "app:latest", &[("/data".into(), 5000, 1)]);
    let out = g.ok(&["load", "-i", newer.archive.to_str().unwrap()]);
    assert!(out.contains(&format!("renaming the old one with ID {}", old.id)), "{out}");
    let out = g.ok(&["image", "prune", "-f"]);
    assert!(out.starts_with(&format!("Deleted Images:\ndeleted: {}\n", old.id)), "{out}");
    assert!(out.ends_with("\nTotal reclaimed space: 0B\n"), "the busybox layer is shared: {out}");
    assert_eq!(lines(&g.ok(&["images", "-q", "--no-trunc"])), [newer.id.as_str()]);
    // Without -f and without a "y": nothing happens.
    let r = g.run_stdin(&["image", "prune", "-a"], b"n\n");
    assert!(r.stdout.contains("Are you sure you want to continue? [y/N]"));
    assert_eq!(g.ok(&["images", "-q"]).lines().count(), 1);
    let out = g.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: app:latest\n"), "{out}");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert!(!out.contains("Total reclaimed space: 0B"), "{out}");
    assert_eq!(std::fs::read_dir(g.root().join("blobs/sha256")).unwrap().count(), 0);
    assert_one_error_line(&g.fail(&["image", "prune", "-f", "--filter", "bogus=1"]), "Invalid filter");
}

#[test]
fn inspect_has_dockers_shape() {
    let (g, t) = (gantry(), tmp());
    let img = loaded(&g, t.path(), "busybox:latest");
    let out = g.ok(&["inspect", "busybox"]);
    assert!(out.starts_with("[\n    {\n        \"Id\": "), "four-space indent like docker: {out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let obj = v[0].as_object().unwrap();
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "Id",
            "RepoTags",
            "RepoDigests",
            "Parent",
            "Comment",
            "Created",
            "Container",
            "ContainerConfig",
            "DockerVersion",
            "Author",
            "Config",
            "Architecture",
            "Os",
            "Size",
            "VirtualSize",
            "GraphDriver",
            "RootFS",
            "Metadata"
        ]
    );
    assert_eq!(obj["Id"], img.id.as_str());
    assert_eq!(obj["RepoTags"], serde_json::json!(["busybox:latest"]));
    assert_eq!(obj["Config"]["Cmd"], serde_json::json!(["/bin/sh"]));
    assert_eq!(obj["Created"], "2000-01-01T00:00:00Z");
    let tagged = obj["Metadata"]["LastTagTime"].as_str().unwrap();
    assert!(tagged.starts_with("20") && !tagged.starts_with("2000-"), "LastTagTime is when it was tagged: {tagged}");
    assert_eq!(obj["RootFS"]["Layers"][0], img.diff_ids[0].as_str());
    assert_eq!(g.ok(&["inspect", "--format", "{{.Id}}", "busybox"]), format!("{}\n", img.id));
    assert_eq!(
        g.ok(&["image", "inspect", "-f", "{{.Os}}/{{.Architecture}} {{json .Config.Cmd}}", &img.id_hex()[..6]]),
        "linux/amd64 [\"/bin/sh\"]\n"
    );
    let r = g.run(&["inspect", "busybox", "ghost"]);
    assert_eq!(r.code, Some(1));
    assert_eq!(serde_json::from_str::<Value>(&r.stdout).unwrap().as_array().unwrap().len(), 1);
    assert_one_error_line(&r.stderr, "No such object: ghost");
    assert_one_error_line(&g.fail(&["image", "inspect", "ghost"]), "No such image: ghost");
    assert_one_error_line(&g.fail(&["inspect", "--format", "{{.Nope", "busybox"]), "template");
}

#[test]
fn history_rows_and_flags() {
    let (g, t) = (gantry(), tmp());
    let img = base::archive_with_layers(t.path(), "big:latest", &[("/data/blob".into(), 1_500_000, 3)]);
    g.ok(&["load", "-i", img.archive.to_str().unwrap()]);
    let out = g.ok(&["history", "big"]);
    let l = lines(&out);
    assert_eq!(l[0], "IMAGE          CREATED        CREATED BY                                      SIZE      COMMENT");
    assert_eq!(l.len(), 3, "{out}");
    assert!(l[1].starts_with(&img.id_hex()[..12]), "{out}");
    assert!(l[1].contains("1.5MB"), "{out}");
    assert!(l[2].starts_with("<missing>"), "{out}");
    assert!(l[1].contains('…'), "created-by truncated to 45 characters: {out}");
    let q = g.ok(&["history", "-q", "big"]);
    assert_eq!(lines(&q), [&img.id_hex()[..12], "<missing>"]);
    let raw = g.ok(&["history", "-H=false", "--format", "{{.Size}} {{.CreatedSince}}", "big"]);
    assert_eq!(lines(&raw)[0], "1500000 2000-01-01T00:00:00Z");
    let full = g.ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", "big"]);
    assert!(full.contains("pseudo-random bytes, seed 3"), "{full}");
    assert_one_error_line(&g.fail(&["history", "ghost"]), "No such image: ghost");
}

fn rootfs_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o755);
    h.set_cksum();
    b.append_data(&mut h, "hello", &b"hello\n"[..]).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn import_with_changes_and_message() {
    let g = gantry();
    let r = g.run_stdin(
        &[
            "import",
            "-c",
            "CMD [\"/hello\"]",
            "-c",
            "ENV A=1 B=2",
            "-c",
            "EXPOSE 8080",
            "-c",
            "WORKDIR /w",
            "-c",
            "USER 7",
            "-c",
            "LABEL team=core",
            "-c",
            "VOLUME /v",
            "-c",
            "ENTRYPOINT [\"/e\"]",
            "-m",
            "from a test",
            "-",
            "imported:v1",
        ],
        &rootfs_tar(),
    );
    assert!(r.success(), "{}", r.stderr);
    let id = r.stdout.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{}", r.stdout);
    let cfg: Value = serde_json::from_str(&g.ok(&["inspect", "imported:v1"])).unwrap();
    let c = &cfg[0]["Config"];
    assert_eq!(c["Cmd"], serde_json::json!(["/hello"]));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/e"]));
    assert_eq!(c["Env"], serde_json::json!(["A=1", "B=2"]));
    assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(c["WorkingDir"], "/w");
    assert_eq!(c["User"], "7");
    assert_eq!(c["Labels"], serde_json::json!({"team": "core"}));
    assert_eq!(c["Volumes"], serde_json::json!({"/v": {}}));
    assert_eq!(cfg[0]["Comment"], "from a test");
    assert_eq!(cfg[0]["Id"], id);
    assert_eq!(g.ok(&["history", "--format", "{{.Comment}} {{.Size}}", "imported:v1"]), "from a test 6B\n");
    assert_one_error_line(
        &g.run_stdin(&["import", "-c", "RUN true", "-"], &rootfs_tar()).stderr,
        "not a valid change command",
    );
    assert_one_error_line(&g.fail(&["import", "/does/not/exist"]), "/does/not/exist");
    // A compressed tarball imports to the same layer.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&rootfs_tar()).unwrap();
    let r = g.run_stdin(&["import", "-", "imported:gz"], &gz.finish().unwrap());
    assert!(r.success(), "{}", r.stderr);
    let layers = |name: &str| g.ok(&["inspect", "--format", "{{json .RootFS.Layers}}", name]);
    assert_eq!(layers("imported:gz"), layers("imported:v1"));
}

#[test]
fn save_load_round_trip_keeps_ids_and_tags() {
    let (g, t) = (gantry(), tmp());
    let a = loaded(&g, t.path(), "busybox:latest");
    let b = base::archive_with_layers(&t.path().join("b"), "big:2", &[("/x".into(), 300_000, 9)]);
    g.ok(&["load", "-i", b.archive.to_str().unwrap()]);
    g.ok(&["tag", "busybox", "busybox:extra"]);
    for format in ["docker-archive", "oci-archive"] {
        let out = t.path().join(format!("{format}.tar"));
        g.ok(&["save", "--format", format, "-o", out.to_str().unwrap(), "busybox", "big:2"]);
        let g2 = gantry();
        let loaded = g2.ok(&["load", "-i", out.to_str().unwrap()]);
        let mut l = lines(&loaded);
        l.sort();
        assert_eq!(
            l,
            ["Loaded image: big:2", "Loaded image: busybox:extra", "Loaded image: busybox:latest"],
            "{format}"
        );
        let ids = g2.ok(&["images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
        assert!(ids.contains(&format!("busybox:latest {}", a.id)), "{ids}");
        assert!(ids.contains(&format!("big:2 {}", b.id)), "{ids}");
        // Saving twice gives the same bytes.
        let again = t.path().join("again.tar");
        g.ok(&["save", "--format", format, "-o", again.to_str().unwrap(), "busybox", "big:2"]);
        assert_eq!(base::sha256_file(&out), base::sha256_file(&again), "{format} archive is deterministic");
    }
    // Saving to stdout (not a terminal here) streams the same archive.
    let r = g.cmd(&["save", "busybox:latest"]).output().unwrap();
    assert!(r.status.success());
    let g3 = gantry();
    assert_eq!(g3.run_stdin(&["load"], &r.stdout).stdout, "Loaded image: busybox:latest\n");
    // A missing image fails and leaves no file behind.
    let nothing = t.path().join("nothing.tar");
    assert_one_error_line(&g.fail(&["save", "-o", nothing.to_str().unwrap(), "ghost"]), "No such image: ghost");
    assert!(!nothing.exists());
}

#[test]
fn load_reads_compressed_archives() {
    let (g, t) = (gantry(), tmp());
    let img = base::busybox_archive(t.path(), "busybox:latest");
    let raw = std::fs::read(&img.archive).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    let r = g.run_stdin(&["load"], &gz.finish().unwrap());
    assert_eq!(r.stdout, "Loaded image: busybox:latest\n", "{}", r.stderr);
    for (tool, flag, ext) in [("zstd", "-q", "zst"), ("xz", "-T1", "xz")] {
        require_tool(tool);
        let status =
            std::process::Command::new(tool).args([flag, "-k", "-f", img.archive.to_str().unwrap()]).status().unwrap();
        assert!(status.success());
        let compressed = format!("{}.{ext}", img.archive.display());
        let g2 = gantry();
        assert_eq!(g2.ok(&["load", "-q", "-i", &compressed]), "Loaded image: busybox:latest\n", "{tool}");
        assert_eq!(g2.ok(&["images", "-q", "--no-trunc"]).trim(), img.id);
    }
    // bzip2 is refused with a clear line.
    let r = g.run_stdin(&["load"], b"BZh91AY&SYbogus-but-long-enough");
    assert_one_error_line(&r.stderr, "bzip2");
}

#[test]
fn system_df_info_version() {
    let (g, t) = (gantry(), tmp());
    loaded(&g, t.path(), "busybox:latest");
    let df = g.ok(&["system", "df"]);
    let l = lines(&df);
    assert_eq!(l[0], "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE");
    assert!(l[1].starts_with("Images          1         0         "), "{df}");
    assert!(l[1].ends_with("(100%)"), "{df}");
    assert!(l[2].starts_with("Containers      0"), "{df}");
    let info = g.ok(&["info"]);
    assert!(info.contains(" Images: 1\n"), "{info}");
    assert!(info.contains(&format!(" Docker Root Dir: {}\n", g.root().display())), "{info}");
    assert_eq!(g.ok(&["info", "--format", "{{.Images}}"]), "1\n");
    assert_eq!(g.ok(&["version", "--format", "{{.Client.Version}}"]), format!("{}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn bad_command_lines_exit_125() {
    let g = gantry();
    for args in [
        &["images", "--bogus"][..],
        &["images", "--filter", "nokey"],
        &["frobnicate"],
        &["history", "-H=maybe", "x"],
        &["save", "--format", "zip", "x"],
    ] {
        let r = g.run(args);
        assert_eq!(r.code, Some(125), "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("Error: "), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"));
    }
    assert_eq!(g.run(&["--help"]).code, Some(0));
    // A missing argument is docker's "requires ..." line and exit 1.
    for (args, want) in [
        (&["rmi"][..], "Error: \"gantry rmi\" requires at least 1 argument.\nSee 'gantry rmi --help'.\n"),
        (&["tag", "a"], "Error: \"gantry tag\" requires exactly 2 arguments.\nSee 'gantry tag --help'.\n"),
        (
            &["image", "history"],
            "Error: \"gantry image history\" requires exactly 1 argument.\nSee 'gantry image history --help'.\n",
        ),
    ] {
        let r = g.run(args);
        assert_eq!((r.code, r.stderr.as_str()), (Some(1), want), "{args:?}");
    }
}

#[test]
fn root_comes_from_flag_or_environment() {
    let t = tmp();
    let root = t.path().join("envroot");
    let img = base::busybox_archive(t.path(), "busybox:latest");
    let out = std::process::Command::new(BIN)
        .env("GANTRY_ROOT", &root)
        .args(["load", "-i", img.archive.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(root.join("gantry.db").is_file());
    let g = Gantry::with_root(BIN, &root);
    assert_eq!(g.ok(&["images", "-q", "--no-trunc"]).trim(), img.id);
    let r = g.run(&["-D", "images"]);
    assert!(r.success());
    assert!(r.stderr.contains("level=debug msg=\"store root "), "-D shows debug lines: {}", r.stderr);
    assert!(g.run(&["--log-level", "debug", "images"]).stderr.contains("level=debug"));
    assert_eq!(g.run(&["images"]).stderr, "", "the default level prints nothing but errors");
    assert_eq!(g.run(&["--log-level", "loud", "images"]).code, Some(125));
}

/// A pseudo-terminal pair: (master, slave).
fn pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors, which we own from here on.
    let rc =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty failed");
    unsafe { (std::fs::File::from_raw_fd(master), std::fs::File::from_raw_fd(slave)) }
}

#[test]
fn save_refuses_a_terminal_and_load_an_interactive_stdin() {
    let (g, t) = (gantry(), tmp());
    loaded(&g, t.path(), "busybox:latest");
    let (_master, slave) = pty();
    let out = g.cmd(&["save", "busybox"]).stdout(slave).stderr(std::process::Stdio::piped()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_one_error_line(&String::from_utf8_lossy(&out.stderr), "cowardly refusing to save to a terminal");
    let (_master, slave) = pty();
    let out = g.cmd(&["load"]).stdin(slave).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_one_error_line(&String::from_utf8_lossy(&out.stderr), "requested load from stdin, but stdin is empty");
}

#[test]
fn a_tag_added_while_prune_runs_keeps_its_image() {
    let (g, t) = (gantry(), tmp());
    let img = base::busybox_archive(t.path(), "");
    for round in 0..40 {
        g.ok(&["load", "-i", img.archive.to_str().unwrap()]);
        let mut prune = g.cmd(&["image", "prune", "-f"]).stdout(std::process::Stdio::null()).spawn().unwrap();
        let tagged = g.run(&["tag", &img.id, "keep:1"]);
        assert!(prune.wait().unwrap().success());
        if tagged.success() {
            // The tag committed before or after prune's decision; either way it names
            // an image that still exists.
            let ids = g.ok(&["images", "-q", "--no-trunc", "keep"]);
            assert_eq!(ids.trim(), img.id, "round {round}: a successful tag lost its image");
            g.ok(&["rmi", "keep:1"]);
        } else {
            assert_one_error_line(&tagged.stderr, "No such image");
        }
    }
}
