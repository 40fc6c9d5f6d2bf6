//! The copy snapshotter (`--storage-driver copy`, `GANTRY_STORAGE_DRIVER=copy`), end to
//! end as root: what overlayfs does where it cannot be mounted. `gantry info` names
//! it; builds give the layers (and image IDs) overlay gives; containers run, commit,
//! export, keep their files across starts and use volumes; nothing is left behind; a
//! planted symlink reaches no host file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use gantry_testkit::base;
use gantry_testkit::build::BuildEnv;
use gantry_testkit::peers::mounts_under;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const COPY: [&str; 2] = ["--storage-driver", "copy"];
const OVERLAY: [&str; 2] = ["--storage-driver", "overlay"];

/// `args` after the driver flag.
fn with<'a>(driver: [&'a str; 2], args: &[&'a str]) -> Vec<&'a str> {
    driver.iter().chain(args).copied().collect()
}

/// One entry of a layer: path, type, mode, owners, mtime, link target, contents.
type Entry = (String, char, u32, u64, u64, u64, String, String);

/// The entries of each layer of an image, in the tar's order. Whiteouts' mtimes are
/// zeroed when `timeless_whiteouts`: overlayfs stamps a whiteout with the instant of
/// the deletion, which no two builds share.
fn layers(s: &BuildEnv, image: &str, timeless_whiteouts: bool) -> Vec<Vec<Entry>> {
    let out = s.work.path().join(format!("layers-{}.tar", image.replace(['/', ':'], "_")));
    s.g.ok(&["save", "-o", out.to_str().unwrap(), image]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&base::archive_member(&out, "manifest.json").unwrap()).unwrap();
    let mut all = Vec::new();
    for layer in manifest[0]["Layers"].as_array().unwrap() {
        let bytes = base::archive_member(&out, layer.as_str().unwrap()).unwrap();
        let mut entries = Vec::new();
        for e in tar::Archive::new(&bytes[..]).entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let link = e.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            let data = String::from_utf8_lossy(&data).into_owned();
            let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            let whiteout = name.starts_with(".wh.") && name != ".wh..wh..opq";
            let mtime = if whiteout && timeless_whiteouts { 0 } else { h.mtime().unwrap() };
            let kind = h.entry_type().as_byte() as char;
            entries.push((path, kind, h.mode().unwrap(), h.uid().unwrap(), h.gid().unwrap(), mtime, link, data));
        }
        all.push(entries);
    }
    let _ = std::fs::remove_file(&out);
    all
}

fn paths(layer: &[Entry]) -> Vec<&str> {
    layer.iter().map(|e| e.0.as_str()).collect()
}

/// Entries of a store directory (sandboxes/, containers/).
fn entries(s: &BuildEnv, dir: &str) -> Vec<String> {
    std::fs::read_dir(s.g.root().join(dir))
        .map(|d| {
            let names = d.flatten().map(|e| e.file_name().to_string_lossy().into_owned());
            // `.exits` keeps the exit codes of removed containers for `wait`.
            names.filter(|n| !n.starts_with('.')).collect()
        })
        .unwrap_or_default()
}

#[test]
fn info_names_the_driver() {
    let s = BuildEnv::new(BIN);
    let line = |out: String| out.lines().find(|l| l.contains("Storage Driver:")).unwrap_or_default().to_string();
    assert_eq!(line(s.g.ok(&["info"])), " Storage Driver: overlay", "overlay where the kernel mounts it");
    assert_eq!(line(s.g.ok(&with(COPY, &["info"]))), " Storage Driver: copy");
    let out = s.g.cmd(&["info", "--format", "{{.Driver}}"]).env("GANTRY_STORAGE_DRIVER", "copy").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "copy\n");
    assert!(!s.g.run(&["--storage-driver", "zfs", "info"]).success());
}

/// Every mtime the steps make is fixed (`touch -h -d`), and so are the history's
/// (`--source-date-epoch`): the same Dockerfile then gives the same image ID.
const SAME_ID: &str = "FROM busybox\n\
RUN mkdir -p /app/sub && echo one > /app/a && echo two > /app/sub/b && ln /app/a /app/a-link \
 && ln -s a /app/sym && ln -s /etc/passwd /app/abs && ln /bin/busybox /app/bb && chown 1000:1000 /app/sub/b \
 && chmod 0600 /app/a && mkfifo /app/fifo && echo app:x:1000: >> /etc/group && chown 5:6 /etc/passwd \
 && chmod 0640 /etc/passwd \
 && touch -h -d @1000000000 /app/a /app/sub/b /app/sym /app/abs /app/fifo /app/sub /app /etc/group /etc\n\
RUN echo more >> /app/sub/b && chmod 4755 /app/sub/b && chown -h 7:8 /app/sym && mkdir /app/new \
 && touch -h -d @1000000001 /app/sub/b /app/sub /app/new /app /etc\n";

#[test]
fn builds_give_the_image_overlay_gives() {
    let overlay = BuildEnv::new(BIN);
    let copy = BuildEnv::new(BIN);
    for s in [&overlay, &copy] {
        s.file("Dockerfile", SAME_ID);
    }
    let flags = ["-q", "--source-date-epoch", "1000000000", "-t", "same:1"];
    let with_overlay = overlay.build(&with(OVERLAY, &flags)).stdout;
    let with_copy = copy.build(&with(COPY, &flags)).stdout;
    assert!(with_overlay.starts_with("sha256:"), "{with_overlay}");
    let (a, b) = (layers(&overlay, "same:1", false), layers(&copy, "same:1", false));
    assert_eq!(a, b);
    assert_eq!(with_copy, with_overlay, "the same image ID");
    // The steps really changed what they claim: links, owners, modes, a fifo.
    let step1 = &b[1];
    let get = |p: &str| step1.iter().find(|e| e.0 == p).unwrap_or_else(|| panic!("{p} in {:?}", paths(step1)));
    assert_eq!(get("app/a-link").1, '1');
    assert_eq!(get("app/sub/b").3, 1000);
    assert_eq!(get("app/a").2, 0o600);
    assert_eq!(get("app/sym").6, "a");
    assert_eq!(get("app/fifo").1, '6');
    assert_eq!(get("etc/passwd").3, 5, "a changed owner is a change");
    assert_eq!(get("app/bb").1, '0');
    assert_eq!(get("bin/busybox").1, '1', "a new link to an image file takes the file along");
    assert_eq!(get("bin/busybox").6, "app/bb");
    assert_eq!(b[2].iter().find(|e| e.0 == "app/sub/b").unwrap().2, 0o4755);
    assert!(!paths(&b[2]).contains(&"app/a"), "an unchanged file is not in the layer");
    // Rebuilt without the cache with the other driver in the same store: same ID.
    let again = copy.build(&with(OVERLAY, &["-q", "--no-cache", "--source-date-epoch", "1000000000"])).stdout;
    assert_eq!(again, with_copy);
}

#[test]
fn deletions_and_replaced_directories_are_layered_as_overlay_layers_them() {
    let dockerfile = "FROM busybox\n\
RUN mkdir -p /data/keep /data/old/deep && echo k > /data/keep/k && echo o > /data/old/o \
 && echo d > /data/old/deep/d && echo gone > /data/gone && touch -d @1000000000 /data/keep/k /data/old/o \
 /data/old/deep/d /data/gone /data/keep /data/old/deep /data/old /data /etc\n\
RUN rm /data/gone /bin/vi && rm -rf /data/old && mkdir /data/old && echo n > /data/old/new \
 && touch -d @1000000001 /data/old/new /data/old /data /bin /etc\n\
RUN rm -rf /data/old && echo now-a-file > /data/old && touch -d @1000000002 /data/old /data /etc\n";
    let overlay = BuildEnv::new(BIN);
    let copy = BuildEnv::new(BIN);
    for s in [&overlay, &copy] {
        s.file("Dockerfile", dockerfile);
    }
    overlay.build_ok(&with(OVERLAY, &["-t", "del:1", "--source-date-epoch", "1000000000"]));
    copy.build_ok(&with(COPY, &["-t", "del:1", "--source-date-epoch", "1000000000"]));
    let (a, b) = (layers(&overlay, "del:1", true), layers(&copy, "del:1", true));
    assert_eq!(
        paths(&b[2]),
        ["bin/", "bin/.wh.vi", "data/", "data/.wh.gone", "data/old/", "data/old/.wh..wh..opq", "data/old/new", "etc/"]
    );
    assert_eq!(paths(&b[3]), ["data/", "data/old", "etc/"]);
    assert_eq!(a, b);
    let fs = copy.files("del:1");
    assert_eq!(fs["data/old"].3, "now-a-file\n");
    assert!(!fs.contains_key("bin/vi") && !fs.contains_key("data/gone"));
}

#[test]
fn run_rm_and_builds_leave_no_copies_behind() {
    let s = BuildEnv::new(BIN);
    let out = s.g.ok(&with(COPY, &["run", "--rm", "busybox", "sh", "-c", "echo hi > /f && cat /f && rm /bin/ls"]));
    assert_eq!(out, "hi\n");
    assert!(entries(&s, "containers").is_empty(), "{:?}", entries(&s, "containers"));
    s.file("ctx/input", "from context\n");
    s.file(
        "Dockerfile",
        "FROM busybox\nRUN echo ok > /ok\nRUN --mount=type=bind,source=ctx,target=/ctx,rw echo x > /ctx/scratch && cat /ctx/input > /copied\n",
    );
    s.build_ok(&with(COPY, &["-t", "ok:1"]));
    assert_eq!(s.files("ok:1")["copied"].3, "from context\n");
    assert!(!s.ctx.path().join("ctx/scratch").exists(), "a rw bind mount writes to a scratch copy");
    s.file("Dockerfile", "FROM busybox\nRUN echo doomed > /doomed && exit 3\n");
    assert!(!s.build(&with(COPY, &["-q"])).success());
    assert!(entries(&s, "sandboxes").is_empty(), "{:?}", entries(&s, "sandboxes"));
    assert!(mounts_under(s.g.root()).is_empty(), "{:?}", mounts_under(s.g.root()));
    // A sandbox whose build was killed (lock released, copy left) is swept.
    let stale = s.g.root().join("sandboxes/0000000000000001");
    std::fs::create_dir_all(stale.join("rootfs/etc")).unwrap();
    std::fs::write(stale.join("lock"), "").unwrap();
    std::fs::write(stale.join("driver"), "copy").unwrap();
    s.g.ok(&["builder", "prune", "-f"]);
    assert!(!stale.exists(), "a dead build's copy is swept");
}

#[test]
fn commit_export_and_restarts_of_a_copied_container() {
    let s = BuildEnv::new(BIN);
    let script = "cat /tmp/count 2>/dev/null; echo x >> /tmp/count; echo made > /tmp/made.txt; rm -f /bin/vi";
    s.g.ok(&with(COPY, &["create", "--name", "maker", "busybox", "sh", "-c", script]));
    let dir = s.g.root().join("containers").join(s.g.ok(&["inspect", "--format", "{{.Id}}", "maker"]).trim());
    assert_eq!(std::fs::read_to_string(dir.join("driver")).unwrap(), "copy");
    // Later commands need no flag: the container was made with the copy driver.
    assert_eq!(s.g.ok(&["start", "-a", "maker"]), "");
    assert_eq!(s.g.ok(&["start", "-a", "maker"]), "x\n", "the filesystem survives a restart");
    assert!(!dir.join("upper").exists() && dir.join("rootfs/tmp/made.txt").is_file());
    s.g.ok(&["commit", "maker", "made:1"]);
    // The same container with overlay, for comparison.
    s.g.ok(&with(OVERLAY, &["run", "--name", "twin", "busybox", "sh", "-c", script]));
    s.g.ok(&["start", "-a", "twin"]);
    s.g.ok(&["commit", "twin", "twin:1"]);
    let timeless = |layer: &[Entry]| -> Vec<Entry> {
        layer.iter().map(|(p, k, m, u, g, _, l, d)| (p.clone(), *k, *m, *u, *g, 0, l.clone(), d.clone())).collect()
    };
    let (made, twin) = (layers(&s, "made:1", true), layers(&s, "twin:1", true));
    assert_eq!(made.len(), 2, "one new layer");
    assert_eq!(paths(&made[1]), ["bin/", "bin/.wh.vi", "etc/", "tmp/", "tmp/count", "tmp/made.txt"]);
    assert_eq!(timeless(&made[1]), timeless(&twin[1]), "the layer overlay commits");
    assert_eq!(s.g.ok(&["run", "--rm", "made:1", "cat", "/tmp/count", "/tmp/made.txt"]), "x\nx\nmade\n");
    assert!(!s.g.run(&["run", "--rm", "made:1", "ls", "/bin/vi"]).success());
    let out = s.path("maker.tar");
    s.g.ok(&["export", "-o", out.to_str().unwrap(), "maker"]);
    let mut names = BTreeMap::new();
    for e in tar::Archive::new(std::fs::File::open(&out).unwrap()).entries().unwrap() {
        let e = e.unwrap();
        names.insert(e.path().unwrap().to_string_lossy().trim_end_matches('/').to_string(), ());
    }
    assert!(names.contains_key("tmp/made.txt") && names.contains_key("bin/busybox") && !names.contains_key("bin/vi"));
    s.g.ok(&["rm", "maker", "twin"]);
    assert!(!dir.exists());
}

#[test]
fn named_volumes_persist_with_copies() {
    let s = BuildEnv::new(BIN);
    s.g.ok(&with(COPY, &["run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo persisted > /data/f"]));
    assert_eq!(s.g.ok(&with(COPY, &["run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/f"])), "persisted\n");
    assert_eq!(s.g.ok(&["volume", "ls", "-q"]), "data\n");
}

#[test]
fn planted_symlinks_reach_no_host_file() {
    let s = BuildEnv::new(BIN);
    let marker = format!("gantry-copy-escape-{}", std::process::id());
    let victim = tempfile::tempdir().unwrap();
    std::fs::write(victim.path().join("keyfile"), "precious").unwrap();
    s.file("payload", "planted\n");
    s.file(
        "Dockerfile",
        &format!(
            "FROM busybox\nRUN ln -s / /escape && ln -s /tmp /tmpl\nCOPY payload /escape/tmp/{marker}\n\
             COPY payload /tmpl/{marker}-2\nRUN cat /tmp/{marker} /tmp/{marker}-2 && echo c > /escape/tmp/{marker}-3\n\
             RUN --mount=type=tmpfs,target=/x/keyfile mv /x /x.old && ln -s {} /x\n",
            victim.path().display()
        ),
    );
    s.build_ok(&with(COPY, &["-t", "esc:1"]));
    for suffix in ["", "-2", "-3"] {
        assert!(!Path::new(&format!("/tmp/{marker}{suffix}")).exists(), "wrote /tmp/{marker}{suffix} on the host");
    }
    assert_eq!(std::fs::read_to_string(victim.path().join("keyfile")).unwrap(), "precious");
    assert_eq!(std::fs::read_dir(victim.path()).unwrap().count(), 1);
    let fs = s.files("esc:1");
    assert_eq!(fs[&format!("tmp/{marker}")].3, "planted\n");
    assert_eq!(fs[&format!("tmp/{marker}-3")].3, "c\n");
    assert!(!fs.contains_key("x"), "a mount point's parent is the runtime's, link or not");
    // A container of that image commits through its links without following them.
    s.g.ok(&with(
        COPY,
        &["run", "--name", "escaper", "esc:1", "sh", "-c", &format!("echo d > /escape/tmp/{marker}-4")],
    ));
    s.g.ok(&["commit", "escaper", "esc:2"]);
    assert!(!Path::new(&format!("/tmp/{marker}-4")).exists());
    assert_eq!(s.files("esc:2")[&format!("tmp/{marker}-4")].3, "d\n");
    assert_eq!(std::fs::read_to_string(victim.path().join("keyfile")).unwrap(), "precious");
}
