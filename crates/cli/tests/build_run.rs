//! RUN in `gantry build`, end to end as root: the process runs in an overlay of the
//! stage's layers with the stage's SHELL, ENV, build args, USER and WORKDIR; its
//! changes (new, changed and deleted files) become the layer; the exit status fails
//! the build with BuildKit's message; the cache skips it on a rebuild; both executors
//! (builtin libcontainer and runc) give the same image.

use gantry_testkit::build::BuildEnv;
use gantry_testkit::{assert_one_error_line, require_tool};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

fn history(s: &BuildEnv, image: &str) -> Vec<String> {
    s.g.ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", image]).lines().map(str::to_string).collect()
}

#[test]
fn run_changes_become_the_layer() {
    let s = BuildEnv::new(BIN);
    s.file(
        "Dockerfile",
        "FROM busybox\n\
         ARG GREETING=hello\n\
         ENV WHO=world\n\
         WORKDIR /work\n\
         RUN echo \"$GREETING $WHO\" > greeting && pwd > where && id -u > uid\n\
         RUN [\"/bin/sh\", \"-c\", \"mkdir -p /data/sub && echo x > /data/sub/f && ln -s /data/sub/f /data/link && ln /data/sub/f /data/hard\"]\n\
         RUN rm -rf /etc/motd-gone /bin/vi && chmod 4755 /work/greeting\n\
         USER 1234:5678\n\
         RUN id -u > /tmp/who; id -g >> /tmp/who\n",
    );
    s.file("unused", "");
    let out = s.build_ok(&["-t", "r:1", "--progress", "plain"]);
    assert!(out.contains("RUN echo"), "{out}");
    let fs = s.files("r:1");
    assert_eq!(fs["work/greeting"], (0o4755, 0, 0, "hello world\n".into()));
    assert_eq!(fs["work/where"].3, "/work\n");
    assert_eq!(fs["work/uid"].3, "0\n");
    assert_eq!(fs["data/sub/f"].3, "x\n");
    assert_eq!(fs["tmp/who"], (0o644, 1234, 5678, "1234\n5678\n".into()));
    assert!(!fs.contains_key("bin/vi"), "a deleted file is gone from the image");
    assert!(fs.contains_key("bin/ls"));
    for mount_point in ["etc/hosts", "etc/resolv.conf", "etc/hostname", "dev/pts", "dev/shm"] {
        assert!(!fs.contains_key(mount_point), "{mount_point} is the runtime's, not the step's");
    }
    let h = history(&s, "r:1");
    assert!(
        h.iter().any(|l| l == "RUN |1 GREETING=hello /bin/sh -c echo \"$GREETING $WHO\" > greeting && pwd > where && id -u > uid # buildkit"),
        "{h:#?}"
    );
    // The rebuild takes every step from the cache.
    let again = s.build_ok(&["-t", "r:2", "--progress", "plain"]);
    assert_eq!(again.matches("CACHED").count(), 8, "{again}");
    assert_eq!(s.inspect("r:1")["Id"], s.inspect("r:2")["Id"]);
}

#[test]
fn failing_run_names_the_command_and_exit_code() {
    let s = BuildEnv::new(BIN);
    s.file("Dockerfile", "FROM busybox\nRUN echo doomed; exit 3\n");
    let r = s.build(&["-t", "f:1", "--progress", "plain"]);
    assert!(!r.success());
    assert!(r.stderr.contains("doomed"), "{}", r.stderr);
    assert!(
        r.stderr.contains("process \"/bin/sh -c echo doomed; exit 3\" did not complete successfully: exit code: 3"),
        "{}",
        r.stderr
    );
    s.file("Dockerfile", "FROM busybox\nRUN [\"/nonexistent\"]\n");
    let r = s.build(&["-t", "f:1", "-q"]);
    assert_one_error_line(&r.stderr, "exec: \"/nonexistent\": stat /nonexistent: no such file or directory");
    assert!(!s.g.run(&["inspect", "f:1"]).success());
}

/// Heredocs: a lone heredoc is the script; one inside a command goes to the shell.
/// (docker 20.10's BuildKit cannot build these without pulling a newer frontend, so
/// they are checked here rather than in the differential tests.)
#[test]
fn run_heredocs() {
    let s = BuildEnv::new(BIN);
    s.file(
        "Dockerfile",
        "FROM busybox\nRUN <<EOF\necho one > /h1\necho two > /h2\nEOF\nRUN cat <<EOF > /h3\nthree $HOME\nEOF\n",
    );
    s.build_ok(&["-t", "h:1"]);
    let fs = s.files("h:1");
    assert_eq!(fs["h1"].3, "one\n");
    assert_eq!(fs["h2"].3, "two\n");
    assert_eq!(fs["h3"].3, "three /root\n");
}

#[test]
fn network_none_has_only_loopback() {
    let s = BuildEnv::new(BIN);
    s.file(
        "Dockerfile",
        "FROM busybox\nRUN --network=none ls /sys/class/net > /nets && ping -c1 -W1 127.0.0.1 > /dev/null && echo up > /lo\nRUN ls /sys/class/net > /host-nets\n",
    );
    s.build_ok(&["-t", "n:1"]);
    let fs = s.files("n:1");
    assert_eq!(fs["nets"].3, "lo\n");
    assert_eq!(fs["lo"].3, "up\n", "loopback works in a namespace of its own");
    assert!(fs["host-nets"].3.lines().count() > 1, "builds use the host's network by default");
}

#[test]
fn runc_gives_the_same_image() {
    let runc = require_tool("runc");
    let s = BuildEnv::new(BIN);
    s.file("Dockerfile", "FROM busybox\nRUN echo a > /a && rm /bin/vi && mkdir -p /d && touch /d/x\n");
    let built_in = s.build(&["-t", "b:1", "--quiet"]).stdout;
    let other = BuildEnv::new(BIN);
    other.file("Dockerfile", "FROM busybox\nRUN echo a > /a && rm /bin/vi && mkdir -p /d && touch /d/x\n");
    let with_runc = other.build(&["--runtime", runc.to_str().unwrap(), "-t", "b:1", "--quiet"]).stdout;
    assert_eq!(s.files("b:1"), other.files("b:1"));
    assert!(built_in.starts_with("sha256:") && with_runc.starts_with("sha256:"), "{built_in} {with_runc}");
}

/// RUN --mount: bind (context and stage, read-only by default, rw writes discarded),
/// cache (kept across builds, never in the layer), tmpfs, secret (file and env,
/// never in a layer, the history or the cache key).
#[test]
fn run_mounts() {
    let s = BuildEnv::new(BIN);
    s.file("src/input.txt", "from context\n");
    let secret = s.path("token");
    std::fs::write(&secret, "s3cr3t").unwrap();
    s.file(
        "Dockerfile",
        "FROM busybox AS tool\nRUN echo tool-output > /made\n\
         FROM busybox\n\
         RUN --mount=type=bind,source=src,target=/in cat /in/input.txt > /copied && ! touch /in/x 2>/dev/null\n\
         RUN --mount=type=bind,source=src,target=/in,rw touch /in/scratch && cat /in/input.txt > /rw-ok\n\
         RUN --mount=type=bind,from=tool,source=/made,target=/from-tool cat /from-tool > /tool.txt\n\
         RUN --mount=type=cache,target=/cache echo run >> /cache/count && wc -l < /cache/count > /cache-count\n\
         RUN --mount=type=tmpfs,target=/scratch mount | grep -c ' /scratch ' > /tmpfs-ok && echo x > /scratch/y\n\
         RUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /secret-len\n\
         RUN --mount=type=secret,id=token,env=TOKEN test \"${#TOKEN}\" = 6 && echo yes > /secret-env\n",
    );
    let src = format!("id=token,src={}", secret.display());
    s.build_ok(&["-t", "m:1", "--secret", &src]);
    let fs = s.files("m:1");
    assert_eq!(fs["copied"].3, "from context\n");
    assert_eq!(fs["rw-ok"].3, "from context\n");
    assert!(!s.ctx.path().join("src/scratch").exists(), "rw bind writes are thrown away");
    assert_eq!(fs["tool.txt"].3, "tool-output\n");
    assert_eq!(fs["cache-count"].3, "1\n");
    assert_eq!(fs["tmpfs-ok"].3, "1\n");
    assert_eq!(fs["secret-len"].3, "6\n");
    assert_eq!(fs["secret-env"].3, "yes\n");
    for mount_only in
        ["in", "in/input.txt", "from-tool", "cache", "cache/count", "scratch", "run/secrets/token", "run/secrets"]
    {
        assert!(!fs.contains_key(mount_only), "{mount_only} belongs to a mount, not a layer");
    }
    // Secret files lived on a tmpfs for the step only.
    let secrets = gantry_runtime::Executor::state_dir(s.g.root()).join("secrets");
    assert_eq!(
        std::fs::read_dir(&secrets).map(|d| d.count()).unwrap_or(0),
        0,
        "secret files were left in {}",
        secrets.display()
    );
    // No layer, history entry or config holds the secret.
    let out = s.path("m.tar");
    s.g.ok(&["save", "-o", out.to_str().unwrap(), "m:1"]);
    let bytes = std::fs::read(&out).unwrap();
    assert!(!bytes.windows(6).any(|w| w == b"s3cr3t"), "the secret leaked into the image");
    // The cache mount persists: a changed step runs again and sees the earlier run.
    s.file("src/input.txt", "changed\n");
    s.build_ok(&["-t", "m:2", "--secret", &src]);
    assert_eq!(s.files("m:2")["copied"].3, "changed\n", "a context bind is part of the cache key");
    let r = s.build(&["-t", "m:3", "--no-cache"]);
    assert!(!r.success(), "a missing secret is an error unless the mount is optional");
    s.file("Dockerfile", "FROM busybox\nRUN --mount=type=secret,id=absent test ! -e /run/secrets/absent\n");
    s.build_ok(&["-t", "m:4"]);
    s.g.ok(&["builder", "prune", "-a", "-f"]);
    assert_eq!(std::fs::read_dir(s.g.root().join("cache-mounts")).unwrap().count(), 0, "prune -a empties cache mounts");
}

/// Found in review: a build killed during a RUN must not leave the RUN's processes
/// running.
#[test]
fn a_killed_build_takes_its_run_with_it() {
    let s = BuildEnv::new(BIN);
    s.file("Dockerfile", "FROM busybox\nRUN sleep 3011\n");
    let mut child = std::process::Command::new(BIN)
        .args(["--root", s.g.root().to_str().unwrap(), "build", "--progress", "plain", "-t", "k"])
        .arg(s.ctx.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let running = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .any(|e| std::fs::read(e.path().join("cmdline")).map(|c| c == b"sleep\x003011\x00").unwrap_or(false))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !running() {
        assert!(std::time::Instant::now() < deadline, "the RUN never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running() {
        assert!(std::time::Instant::now() < deadline, "the RUN outlived its build");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Its sandbox stays mounted until the next collection, which removes it.
    s.g.ok(&["builder", "prune", "-f"]);
    let root = s.g.root().to_string_lossy().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.lines().any(|l| l.contains(&root)), "a sandbox of the killed build is still mounted");
    assert_eq!(std::fs::read_dir(s.g.root().join("sandboxes")).map(|d| d.count()).unwrap_or(0), 0);
}
