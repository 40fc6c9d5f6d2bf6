//! `gantry build` end to end (RUN has its own file, build_run.rs):
//! FROM image/scratch/stage, COPY/ADD from the context and --from, metadata
//! instructions, the cache, .dockerignore, build args, and errors naming the line.

use gantry_testkit::assert_one_error_line;
use gantry_testkit::build::BuildEnv;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

type Setup = BuildEnv;

/// A store with busybox:latest loaded, and an empty context directory.
fn setup() -> Setup {
    BuildEnv::new(BIN)
}

fn dockerfile(s: &Setup, text: &str) {
    s.file("Dockerfile", text);
}

#[test]
fn copy_and_metadata_make_dockers_config_and_files() {
    let s = setup();
    s.file("app/main.txt", "main\n");
    s.file("app/sub/deep.txt", "deep\n");
    s.file("top.txt", "top\n");
    dockerfile(
        &s,
        "FROM busybox\n\
         LABEL team=core\n\
         ENV APP_HOME=/opt/app LANG=C.UTF-8\n\
         WORKDIR $APP_HOME\n\
         COPY app/ ./app/\n\
         COPY --chown=1000:1000 --chmod=600 top.txt /etc/top.txt\n\
         EXPOSE 8080 53/udp\n\
         VOLUME /data\n\
         USER user\n\
         STOPSIGNAL SIGINT\n\
         ENTRYPOINT [\"/bin/sh\"]\n\
         CMD [\"-c\", \"ls $APP_HOME\"]\n",
    );
    let out = s.build_ok(&["-t", "app:1"]);
    assert!(out.contains("[stage-0 5/12] COPY app/ ./app/"), "{out}");
    let img = s.inspect("app:1");
    let c = &img["Config"];
    assert_eq!(
        c["Env"],
        serde_json::json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "APP_HOME=/opt/app",
            "LANG=C.UTF-8"
        ])
    );
    assert_eq!(c["WorkingDir"], "/opt/app");
    assert_eq!(c["Labels"], serde_json::json!({"team": "core"}));
    assert_eq!(c["ExposedPorts"], serde_json::json!({"53/udp": {}, "8080/tcp": {}}));
    assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(c["User"], "user");
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh"]));
    assert_eq!(c["Cmd"], serde_json::json!(["-c", "ls $APP_HOME"]), "CMD is not expanded");
    // Layers: busybox, WORKDIR (mkdir), two COPYs.
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 4);
    let fs = s.files("app:1");
    assert_eq!(fs["opt/app/app/main.txt"].3, "main\n");
    assert_eq!(fs["opt/app/app/sub/deep.txt"].3, "deep\n");
    assert_eq!(fs["etc/top.txt"], (0o600, 1000, 1000, "top\n".to_string()));
    assert_eq!(fs["opt/app/app/main.txt"].1, 0, "COPY owns files by root unless --chown");
    let history: Vec<String> =
        s.g.ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "app:1"])
            .lines()
            .map(str::to_string)
            .collect();
    assert!(history.iter().any(|h| h.starts_with("COPY app/ ./app/ # buildkit|")), "{history:?}");
    assert!(history.iter().any(|h| h == "ENV APP_HOME=/opt/app LANG=C.UTF-8|0B"), "{history:?}");
    assert!(history.iter().any(|h| h.starts_with("WORKDIR /opt/app|")), "{history:?}");
}

#[test]
fn unchanged_rebuild_is_all_cached_and_a_change_rebuilds_only_what_follows() {
    let s = setup();
    s.file("a.txt", "a");
    s.file("b.txt", "b");
    dockerfile(&s, "FROM busybox\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\nENV X=1\n");
    s.build_ok(&["-t", "c:1"]);
    let id1 = s.inspect("c:1")["Id"].clone();
    let out = s.build_ok(&["-t", "c:1"]);
    assert_eq!(out.matches("CACHED").count(), 3, "{out}");
    assert_eq!(s.inspect("c:1")["Id"], id1, "an unchanged rebuild gives the same image");
    s.file("b.txt", "b changed");
    let out = s.build_ok(&["-t", "c:2"]);
    assert_eq!(out.matches("CACHED").count(), 1, "only the step before the change hits: {out}");
    assert_ne!(s.inspect("c:2")["Id"], id1);
    assert_eq!(s.files("c:2")["b.txt"].3, "b changed");
    let out = s.build_ok(&["--no-cache", "-t", "c:3"]);
    assert_eq!(out.matches("CACHED").count(), 0, "{out}");
}

#[test]
fn multi_stage_builds_only_what_the_target_needs() {
    let s = setup();
    s.file("src.txt", "source");
    dockerfile(
        &s,
        "ARG BASE=busybox\n\
         FROM ${BASE} AS builder\n\
         COPY src.txt /out/built.txt\n\
         FROM scratch AS unused\n\
         COPY nothing-here /x\n\
         FROM scratch\n\
         COPY --from=builder /out /result\n\
         COPY --from=0 /bin/busybox /busybox\n",
    );
    let out = s.build_ok(&["-t", "ms:1"]);
    assert!(!out.contains("nothing-here"), "the unused stage is not built: {out}");
    let fs = s.files("ms:1");
    assert_eq!(fs["result/built.txt"].3, "source");
    assert!(fs.contains_key("busybox"));
    assert!(!fs.contains_key("bin/sh"), "scratch starts empty");
    s.build_ok(&["--target", "builder", "-t", "ms:builder"]);
    assert!(s.files("ms:builder").contains_key("bin/busybox"));
    let err = s.build(&["--target", "nope"]).stderr;
    assert_one_error_line(&err, "target stage \"nope\" could not be found");
}

#[test]
fn dockerignore_and_context_escapes() {
    let s = setup();
    s.file("keep.txt", "keep");
    s.file("logs/x.log", "noise");
    s.file(".dockerignore", "logs\n*.tmp\n");
    s.file("junk.tmp", "junk");
    dockerfile(&s, "FROM scratch\nCOPY . /ctx/\n");
    s.build_ok(&["-t", "ig:1"]);
    let fs = s.files("ig:1");
    assert!(fs.contains_key("ctx/keep.txt"));
    assert!(!fs.keys().any(|k| k.contains("x.log") || k.contains("junk.tmp")), "{fs:?}");
    for (df, needle) in [
        ("FROM scratch\nCOPY ../outside /x\n", "outside the build context"),
        ("FROM scratch\nCOPY missing.txt /x\n", "not found"),
        ("FROM scratch\nCOPY logs/x.log /x\n", "not found"),
    ] {
        dockerfile(&s, df);
        let r = s.build(&["-q"]);
        assert!(!r.success());
        assert_one_error_line(&r.stderr, needle);
        assert!(r.stderr.contains("Dockerfile:2"), "the error names line 2: {}", r.stderr);
    }
}

#[test]
fn build_args_iidfile_quiet_and_deterministic_epoch() {
    let s = setup();
    dockerfile(&s, "FROM busybox\nARG NAME=default\nLABEL name=$NAME\n");
    let iid = s.ctx.path().join("iid");
    let r = s.build(&[
        "-q",
        "--build-arg",
        "NAME=given",
        "--build-arg",
        "UNUSED=1",
        "--iidfile",
        iid.to_str().unwrap(),
        "-t",
        "args:1",
    ]);
    assert!(r.success(), "{}", r.stderr);
    let id = r.stdout.trim().to_string();
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id);
    assert_eq!(s.inspect("args:1")["Config"]["Labels"]["name"], "given");
    assert!(r.stderr.contains("[UNUSED]"), "docker warns about unused build args: {}", r.stderr);
    // Two stores, same epoch (from the environment, then from the flag, which wins over
    // another value in the environment): byte-identical images.
    let ids: Vec<String> = (0..2)
        .map(|i| {
            let s2 = setup();
            s2.file("f", "same");
            dockerfile(&s2, "FROM busybox\nCOPY f /f\nENV A=b\n");
            let ctx = s2.ctx.path().to_str().unwrap();
            let mut cmd = if i == 0 {
                s2.g.cmd(&["build", "-q", ctx])
            } else {
                s2.g.cmd(&["build", "-q", "--source-date-epoch", "1700000000", ctx])
            };
            let epoch = if i == 0 { "1700000000" } else { "1" };
            let out = cmd.env("SOURCE_DATE_EPOCH", epoch).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn broken_dockerfiles_name_the_line() {
    let s = setup();
    for (df, needle, line) in [
        ("FROM busybox\nFROB x\n", "unknown instruction", "2"),
        ("FROM busybox\nCOPY --bogus=1 a /b\n", "unknown flag", "2"),
        ("FROM busybox\nRUN exit 7\n", "did not complete successfully: exit code: 7", "2"),
        ("FROM busybox AS a\nCOPY --from=b /x /y\nFROM busybox AS b\nCOPY --from=a /x /y\n", "circular dependency", ""),
        ("FROM nosuchimage:1\n", "nosuchimage", ""),
        ("", "no instructions", ""),
        ("FROM busybox\nCOPY <<EOF /x\nnever closed\n", "heredoc", ""),
        ("FROM busybox\nCOPY onlyone\n", "at least two arguments", "2"),
        ("FROM busybox\nEXPOSE\n", "EXPOSE", "2"),
        ("FROM busybox AS a\nFROM busybox AS A\n", "stage name", "2"),
        ("ENV X=1\nFROM busybox\n", "no build stage", "1"),
        ("FROM busybox\nHEALTHCHECK --interval=fast CMD true\n", "invalid duration", "2"),
        ("FROM busybox\nONBUILD ONBUILD ENV A=1\n", "ONBUILD", "2"),
        ("FROM busybox\nRUN --mount=type=bogus true\n", "bogus", "2"),
    ] {
        dockerfile(&s, df);
        let r = s.build(&["-q"]);
        assert!(!r.success(), "{df:?} should fail");
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert_one_error_line(&r.stderr, needle);
        if !line.is_empty() {
            assert!(
                r.stderr.contains(&format!("line {line}")) || r.stderr.contains(&format!("Dockerfile:{line}")),
                "{df:?}: {}",
                r.stderr
            );
        }
    }
}

#[test]
fn copy_flags_chmod_exclude_parents() {
    let s = setup();
    s.file("src/a/one.go", "one");
    s.file("src/a/one_test.go", "test");
    s.file("src/b/two.go", "two");
    dockerfile(
        &s,
        "FROM scratch\n\
         COPY --chmod=u=rwx,go=rx src/a/one.go /sym/one.go\n\
         COPY --chmod=a+X src/ /x/\n\
         COPY --exclude=*_test.go src/a/ /ex/\n\
         COPY --parents src/a/one.go src/b/two.go /par/\n",
    );
    s.build_ok(&["-t", "flags:1"]);
    let fs = s.files("flags:1");
    assert_eq!(fs["sym/one.go"].0, 0o755);
    assert_eq!(fs["x/a"].0 & 0o111, 0o111, "X gives directories execute");
    assert_eq!(fs["x/a/one.go"].0, 0o644, "X leaves non-executable files alone");
    assert!(fs.contains_key("ex/one.go") && !fs.contains_key("ex/one_test.go"), "{fs:?}");
    assert!(fs.contains_key("par/src/a/one.go") && fs.contains_key("par/src/b/two.go"), "{fs:?}");
    dockerfile(&s, "FROM scratch\nCOPY --chmod=u+q src /x\n");
    assert_one_error_line(&s.build(&["-q"]).stderr, "chmod");
}

#[test]
fn onbuild_triggers_run_in_the_child_build_only() {
    let s = setup();
    s.file("trigger.txt", "from the trigger");
    dockerfile(&s, "FROM busybox\nONBUILD COPY trigger.txt /triggered.txt\nONBUILD ENV TRIGGERED=yes\n");
    s.build_ok(&["-t", "parent:1"]);
    assert_eq!(
        s.inspect("parent:1")["Config"]["OnBuild"],
        serde_json::json!(["COPY trigger.txt /triggered.txt", "ENV TRIGGERED=yes"])
    );
    assert!(!s.files("parent:1").contains_key("triggered.txt"), "triggers do not run in the image that declares them");
    dockerfile(&s, "FROM parent:1\nLABEL child=1\n");
    s.build_ok(&["-t", "child:1"]);
    let child = s.inspect("child:1");
    assert_eq!(s.files("child:1")["triggered.txt"].3, "from the trigger");
    assert!(child["Config"]["Env"].as_array().unwrap().contains(&serde_json::json!("TRIGGERED=yes")));
    assert_eq!(child["Config"]["OnBuild"], Value::Null, "triggers are not inherited further");
}

#[test]
fn heredoc_sources_and_no_cache_filter() {
    let s = setup();
    dockerfile(&s, "FROM busybox AS one\nCOPY <<EOF /greeting.txt\nhello $HOME\nEOF\nFROM one\nCOPY <<-'EOT' /raw.txt\n\tliteral $HOME\n\tEOT\n");
    s.build_ok(&["-t", "hd:1"]);
    let fs = s.files("hd:1");
    assert_eq!(
        fs["greeting.txt"].3, "hello $HOME\n",
        "COPY heredocs are written as they are (no build-time expansion)"
    );
    assert_eq!(fs["raw.txt"].3, "literal $HOME\n", "<<- strips leading tabs");
    let out = s.build_ok(&["--no-cache-filter", "one", "-t", "hd:2"]);
    assert_eq!(out.matches("CACHED").count(), 1, "only the unfiltered stage hits: {out}");
}

#[test]
fn add_unpacks_local_archives_and_copies_other_files() {
    let s = setup();
    // A gzipped tar with a file, a directory and a symlink, owned by 7:8.
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, data) in [("pkg/", 'd', ""), ("pkg/bin.sh", 'f', "#!/bin/sh\n"), ("pkg/link", 'l', "bin.sh")] {
        let mut h = tar::Header::new_gnu();
        h.set_uid(7);
        h.set_gid(8);
        h.set_mode(0o755);
        match kind {
            'd' => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
            'l' => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, path, data).unwrap();
            }
            _ => {
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, data.as_bytes()).unwrap();
            }
        }
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    std::fs::write(s.ctx.path().join("pkg.tar.gz"), gz.finish().unwrap()).unwrap();
    s.file("plain.txt", "not an archive");
    dockerfile(
        &s,
        "FROM scratch\nADD pkg.tar.gz /opt/\nADD --chown=1:2 pkg.tar.gz /chowned\nADD plain.txt /plain.txt\n",
    );
    s.build_ok(&["-t", "add:1"]);
    let fs = s.files("add:1");
    assert_eq!(fs["opt/pkg/bin.sh"], (0o755, 7, 8, "#!/bin/sh\n".to_string()), "unpacked with the archive's owners");
    assert_eq!(fs["opt/pkg/link"].3, "bin.sh");
    assert_eq!((fs["chowned/pkg/bin.sh"].1, fs["chowned/pkg/bin.sh"].2), (1, 2), "--chown applies to unpacked files");
    assert_eq!(fs["plain.txt"].3, "not an archive");
    assert!(!fs.contains_key("opt/pkg.tar.gz"), "the archive itself is not copied");
    // A hostile archive is refused, not copied.
    let mut evil = tar::Header::new_gnu();
    evil.set_size(1);
    let mut raw = evil.as_bytes().to_vec();
    raw[..10].copy_from_slice(b"../escape\0");
    let mut h = tar::Header::from_byte_slice(&raw).clone();
    h.set_cksum();
    let mut bytes = h.as_bytes().to_vec();
    bytes.extend_from_slice(&[b'x'; 512]);
    bytes.extend_from_slice(&[0; 1024]);
    std::fs::write(s.ctx.path().join("evil.tar"), bytes).unwrap();
    dockerfile(&s, "FROM scratch\nADD evil.tar /x/\n");
    let r = s.build(&["-q"]);
    assert_one_error_line(&r.stderr, "escape");
}

#[test]
fn platforms_other_than_the_hosts_are_refused_and_unreachable_bases_fail_clearly() {
    let s = setup();
    dockerfile(&s, "FROM busybox\nENV A=1\n");
    let host = format!("linux/{}", if cfg!(target_arch = "x86_64") { "amd64" } else { "arm64" });
    s.build_ok(&["--platform", &host, "-t", "p:1"]);
    assert_one_error_line(&s.build(&["--platform", "linux/s390x"]).stderr, "not supported");
    // --pull refreshes the base from its registry (docker.io here, unreachable in tests).
    let err = s.build(&["--pull"]).stderr;
    let last = err.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(last.starts_with("Error: failed to resolve source metadata for busybox"), "{err}");
    dockerfile(&s, "FROM --platform=$BUILDPLATFORM busybox AS b\nFROM --platform=linux/riscv64 busybox\n");
    let err = s.build(&["-q"]).stderr;
    assert_one_error_line(&err, "line 2");
    assert!(err.contains("riscv64"), "{err}");
}

/// Runs `gantry build` with stderr on a pseudo-terminal; returns what the terminal got.
fn build_on_a_terminal(s: &Setup, args: &[&str]) -> (bool, String) {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors, which we own from here on.
    let rc =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty failed");
    let (mut master, slave) = unsafe { (std::fs::File::from_raw_fd(master), std::fs::File::from_raw_fd(slave)) };
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    let ctx = s.ctx.path().to_str().unwrap().to_string();
    all.push(&ctx);
    let mut child = s.g.cmd(&all).stderr(slave).stdout(std::process::Stdio::null()).spawn().unwrap();
    let ok = child.wait().unwrap().success();
    // The child has exited: read what it wrote (EIO once the slave side is closed).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = master.read(&mut chunk) {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    (ok, String::from_utf8_lossy(&buf).into_owned())
}

#[test]
fn progress_is_a_live_display_on_a_terminal_and_plain_elsewhere() {
    let s = setup();
    s.file("a.txt", "a");
    dockerfile(&s, "FROM busybox\nCOPY a.txt /a.txt\nENV A=1\n");
    let (ok, screen) = build_on_a_terminal(&s, &["-t", "tty:1"]);
    assert!(ok, "{screen}");
    assert!(screen.contains("[+] Building") && screen.contains("FINISHED"), "{screen}");
    assert!(screen.contains(" => [stage-0 2/3] COPY a.txt /a.txt"), "{screen}");
    assert!(screen.contains("\x1b[2K"), "lines are redrawn in place: {screen}");
    let (_, screen) = build_on_a_terminal(&s, &["-t", "tty:1"]);
    assert!(screen.contains(" => CACHED [stage-0 2/3] COPY a.txt /a.txt"), "{screen}");
    let (_, screen) = build_on_a_terminal(&s, &["--progress", "plain", "-t", "tty:1"]);
    assert!(screen.contains("#2 [stage-0 2/3] COPY a.txt /a.txt") && !screen.contains("[+] Building"), "{screen}");
    // Not a terminal (the harness's pipe): plain lines even with auto.
    let out = s.build_ok(&["-t", "tty:1"]);
    assert!(out.contains("#2 CACHED") && !out.contains("[+]"), "{out}");
}

#[test]
fn independent_stages_build_concurrently_and_feed_the_last() {
    let s = setup();
    for n in 0..40 {
        s.file(&format!("a/f{n}"), &format!("a{n}"));
        s.file(&format!("b/f{n}"), &format!("b{n}"));
    }
    dockerfile(
        &s,
        "FROM busybox AS a\nCOPY a/ /out/\nENV STAGE=a\n\
         FROM busybox AS b\nCOPY b/ /out/\nENV STAGE=b\n\
         FROM scratch\nCOPY --from=a /out /a\nCOPY --from=b /out /b\n",
    );
    let out = s.build_ok(&["-t", "par:1"]);
    for line in ["[a 2/3] COPY a/ /out/", "[b 2/3] COPY b/ /out/"] {
        assert!(out.contains(line), "{line} missing:\n{out}");
    }
    let fs = s.files("par:1");
    assert_eq!(fs["a/f39"].3, "a39");
    assert_eq!(fs["b/f0"].3, "b0");
    // A rebuild hits the cache in both parallel stages.
    let out = s.build_ok(&["-t", "par:1"]);
    assert_eq!(out.matches("CACHED").count(), 6, "{out}");
}

#[test]
fn copy_link_ignores_the_base_and_from_takes_wildcards() {
    let s = setup();
    s.file("sh", "replacement\n");
    dockerfile(&s, "FROM busybox\nCOPY --link sh /bin/sh\nCOPY --from=busybox /etc/pass* /etc/grou? /copied/\n");
    s.build_ok(&["-t", "link:1"]);
    let fs = s.files("link:1");
    // Without --link the copy would write through the /bin/sh -> busybox symlink;
    // with it the layer is made as if on an empty image: /bin/sh becomes the file.
    assert_eq!(fs["bin/sh"].3, "replacement\n");
    assert_ne!(fs["bin/busybox"].3, "replacement\n");
    assert!(
        fs["copied/passwd"].3.contains("root:x:0:0"),
        "{:?}",
        fs.keys().filter(|k| k.starts_with("copied")).collect::<Vec<_>>()
    );
    assert!(fs.contains_key("copied/group"));
    dockerfile(&s, "FROM busybox\nCOPY --from=busybox /etc/nothing* /x/\n");
    assert_one_error_line(&s.build(&["-q"]).stderr, "not found");
}
