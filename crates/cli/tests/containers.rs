//! Containers end to end, as root, on a busybox-static base: `run` in the foreground
//! and detached, exit codes (the container's, and docker's 125/126/127), stdio and
//! logs, `ps`, `stop` (stop signal, then SIGKILL after the timeout), `kill`, `wait`,
//! `rm`, `inspect`, restart policies, environment and identity flags, bind mounts,
//! limits, signal forwarding, images in use, and nothing left behind.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gantry_testkit::build::BuildEnv;
use gantry_testkit::peers::mounts_under;
use gantry_testkit::{assert_one_error_line, Gantry};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

fn env() -> BuildEnv {
    BuildEnv::new(BIN)
}

fn inspect(g: &Gantry, name: &str) -> Value {
    let v: Value = serde_json::from_str(&g.ok(&["container", "inspect", name])).expect("JSON");
    v[0].clone()
}

/// Waits until the container's log contains `text` (its handlers are set up by then).
fn wait_log(g: &Gantry, name: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !g.ok(&["logs", name]).contains(text) {
        assert!(Instant::now() < deadline, "{name} never logged {text:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn run_in_the_foreground_gives_output_and_exit_status() {
    let s = env();
    let r = s.g.run(&["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(r.code, Some(3), "{r:?}");
    assert_eq!(r.stdout, "out\n");
    assert_eq!(r.stderr, "err\n");
    assert!(s.g.ok(&["ps", "-aq"]).is_empty(), "--rm removes the container");
    // docker's codes for gantry's own failures.
    let r = s.g.run(&["run", "--rm", "busybox", "nosuchcommand"]);
    assert_eq!(r.code, Some(127));
    assert_one_error_line(&r.stderr, "exec: \"nosuchcommand\": executable file not found in $PATH");
    let r = s.g.run(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(r.code, Some(126));
    assert_one_error_line(&r.stderr, "permission denied");
    let r = s.g.run(&["run", "--rm", "--pull", "never", "nosuchimage"]);
    assert_eq!(r.code, Some(125));
    assert_one_error_line(&r.stderr, "No such image: nosuchimage:latest");
    // A missing image is pulled first; from a registry that is not there: one line more.
    let r = s.g.run(&["run", "--rm", "127.0.0.1:9/nosuchimage"]);
    assert_eq!(r.code, Some(125));
    let (first, rest) = r.stderr.split_once('\n').unwrap_or_default();
    assert_eq!(first, "Unable to find image '127.0.0.1:9/nosuchimage:latest' locally");
    assert_one_error_line(rest, "127.0.0.1:9");
    let r = s.g.run(&["run", "--rm", "--restart", "bogus", "busybox", "true"]);
    assert_eq!(r.code, Some(125));
    assert!(s.g.ok(&["ps", "-aq"]).is_empty(), "failed runs leave no container");
}

#[test]
fn configuration_flags_reach_the_process() {
    let s = env();
    let envfile = s.path("env.list");
    std::fs::write(&envfile, "# comment\nFROM_FILE=yes\n").unwrap();
    let out = s.g.ok(&[
        "run",
        "--rm",
        "-e",
        "A=1",
        "--env-file",
        envfile.to_str().unwrap(),
        "-w",
        "/tmp",
        "-u",
        "1000:1000",
        "--hostname",
        "box",
        "busybox",
        "sh",
        "-c",
        "echo $A $FROM_FILE; pwd; id -u; id -g; hostname; echo $HOME",
    ]);
    assert_eq!(out, "1 yes\n/tmp\n1000\n1000\nbox\n/tmp\n");
    let out = s.g.ok(&["run", "--rm", "--entrypoint", "echo", "busybox", "from", "entrypoint"]);
    assert_eq!(out, "from entrypoint\n");
    let nets = s.g.ok(&["run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"]);
    assert_eq!(nets, "lo\n");
    let r = s.g.run(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_ne!(r.code, Some(0), "a read-only root cannot be written");
    let r = s.g.run(&["run", "--rm", "--cap-drop", "CHOWN", "busybox", "chown", "1:1", "/tmp"]);
    assert_ne!(r.code, Some(0), "without CAP_CHOWN chown fails");
    s.g.ok(&["run", "--rm", "busybox", "chown", "1:1", "/tmp"]);
}

#[test]
fn bind_mounts_persist_across_containers() {
    let s = env();
    let host = s.path("shared");
    std::fs::create_dir_all(&host).unwrap();
    let v = format!("{}:/data", host.display());
    s.g.ok(&["run", "--rm", "-v", &v, "busybox", "sh", "-c", "echo kept > /data/f"]);
    assert_eq!(std::fs::read_to_string(host.join("f")).unwrap(), "kept\n");
    assert_eq!(s.g.ok(&["run", "--rm", "-v", &v, "busybox", "cat", "/data/f"]), "kept\n");
    let ro = format!("{}:/data:ro", host.display());
    assert_ne!(s.g.run(&["run", "--rm", "-v", &ro, "busybox", "touch", "/data/g"]).code, Some(0));
}

#[test]
fn detached_containers_ps_logs_stop_rm() {
    let s = env();
    let id = s.g.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; echo up; while true; do sleep 0.1; done",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64);
    let ps = s.g.ok(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE     COMMAND"), "{ps}");
    assert!(ps.contains(&id[..12]) && ps.contains(" Up ") && ps.contains("web"), "{ps}");
    assert_eq!(s.g.ok(&["ps", "-q", "--no-trunc"]).trim(), id);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.g.ok(&["logs", "web"]).contains("up") {
        assert!(Instant::now() < deadline, "no log line");
        std::thread::sleep(Duration::from_millis(20));
    }
    let state = inspect(&s.g, "web");
    assert_eq!(state["State"]["Status"], "running");
    assert!(state["State"]["Pid"].as_i64().unwrap() > 0);
    assert_eq!(state["Name"], "/web");
    // A running container is not removed without -f.
    let r = s.g.run(&["rm", "web"]);
    assert_one_error_line(&r.stderr, "You cannot remove a running container");
    let began = Instant::now();
    assert_eq!(s.g.ok(&["stop", "web"]), "web\n");
    assert!(began.elapsed() < Duration::from_secs(5), "the trap ends it at once");
    assert_eq!(s.g.ok(&["logs", "web"]), "up\nbye\n");
    let state = inspect(&s.g, "web");
    assert_eq!(state["State"]["Status"], "exited");
    assert_eq!(state["State"]["ExitCode"], 0);
    assert!(s.g.ok(&["ps", "-a"]).contains("Exited (0)"));
    assert_eq!(s.g.ok(&["wait", "web"]), "0\n");
    assert_eq!(s.g.ok(&["rm", "web"]), "web\n");
    assert!(s.g.ok(&["ps", "-aq"]).is_empty());
    assert!(mounts_under(s.g.root()).is_empty());
}

#[test]
fn stop_kills_after_the_timeout_and_kill_sends_signals() {
    let s = env();
    // PID 1 ignores SIGTERM unless it handles it: stop must fall back to SIGKILL.
    s.g.ok(&["run", "-d", "--name", "stubborn", "busybox", "sleep", "100"]);
    let began = Instant::now();
    s.g.ok(&["stop", "-t", "1", "stubborn"]);
    let took = began.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(8), "{took:?}");
    assert_eq!(inspect(&s.g, "stubborn")["State"]["ExitCode"], 137);
    s.g.ok(&[
        "run",
        "-d",
        "--name",
        "kk",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 7' USR1; echo ready; while true; do sleep 0.1; done",
    ]);
    wait_log(&s.g, "kk", "ready");
    assert_eq!(s.g.ok(&["kill", "-s", "USR1", "kk"]), "kk\n");
    assert_eq!(s.g.ok(&["wait", "kk"]), "7\n");
    let r = s.g.run(&["kill", "kk"]);
    assert_one_error_line(&r.stderr, "is not running");
    s.g.ok(&["run", "-d", "--name", "forced", "busybox", "sleep", "100"]);
    s.g.ok(&["rm", "-f", "forced"]);
    s.g.ok(&["rm", "stubborn", "kk"]);
    assert!(mounts_under(s.g.root()).is_empty());
}

#[test]
fn logs_follow_and_tail() {
    let s = env();
    s.g.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; sleep 0.3; done",
    ]);
    let follow = s.g.ok(&["logs", "-f", "talker"]);
    assert_eq!(follow, "line1\nline2\nline3\n", "logs -f follows until the container ends");
    assert_eq!(s.g.ok(&["logs", "--tail", "1", "talker"]), "line3\n");
    assert_eq!(s.g.ok(&["logs", "--since", "1h", "talker"]), "line1\nline2\nline3\n");
    assert_eq!(s.g.ok(&["logs", "--since", "2099-01-01T00:00:00Z", "talker"]), "");
    let stamped = s.g.ok(&["logs", "-t", "--tail", "1", "talker"]);
    assert!(stamped.ends_with("Z line3\n") && stamped.starts_with("20"), "{stamped}");
    // --until: what came before a time; the second line's time keeps the first two.
    let second = s.g.ok(&["logs", "-t", "talker"]).lines().nth(1).unwrap().split(' ').next().unwrap().to_string();
    assert_eq!(s.g.ok(&["logs", "--until", &second, "talker"]), "line1\nline2\n");
    assert_eq!(s.g.ok(&["logs", "--until", "2000-01-01T00:00:00Z", "talker"]), "");
    assert_eq!(s.g.ok(&["logs", "--details", "--since", "1h", "--until", "0s", "talker"]), "line1\nline2\nline3\n");
    s.g.ok(&["rm", "talker"]);
}

#[test]
fn restart_policy_on_failure_restarts_then_gives_up() {
    let s = env();
    s.g.ok(&["run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo try; exit 1"]);
    // `wait` on a --rm container that ends with 3 reports 3 although it is gone.
    let id = s.g.ok(&["run", "-d", "--rm", "busybox", "sh", "-c", "sleep 0.3; exit 3"]);
    assert_eq!(s.g.ok(&["wait", id.trim()]), "3\n");
    s.g.ok(&["wait", "flaky"]);
    let state = inspect(&s.g, "flaky");
    assert_eq!(state["RestartCount"], 2, "{state}");
    assert_eq!(state["State"]["ExitCode"], 1);
    assert_eq!(s.g.ok(&["logs", "flaky"]), "try\ntry\ntry\n");
    s.g.ok(&["rm", "flaky"]);
}

#[test]
fn memory_limit_is_enforced() {
    let s = env();
    // 200 MB into a shell variable under a 32 MiB limit: the kernel kills it.
    let r = s.g.run(&[
        "run",
        "--rm",
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert!(!r.stdout.contains("survived"), "{r:?}");
    assert_ne!(r.code, Some(0));
    let r = s.g.run(&[
        "run",
        "--rm",
        "--memory",
        "256m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert_eq!(r.stdout, "survived\n", "{r:?}");
}

#[test]
fn signals_reach_a_foreground_container() {
    let s = env();
    let mut child = Command::new(BIN)
        .args(["--root", s.g.root().to_str().unwrap(), "run", "--rm", "busybox", "sh", "-c"])
        .arg("trap 'exit 42' TERM; echo ready; while true; do sleep 0.1; done")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(42));
}

#[test]
fn images_in_use_are_kept() {
    let s = env();
    s.g.ok(&["create", "--name", "holder", "busybox", "true"]);
    let r = s.g.run(&["rmi", "busybox"]);
    assert_one_error_line(&r.stderr, "container");
    assert!(s.g.ok(&["images", "-q"]).lines().count() == 1);
    s.g.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(s.g.ok(&["images", "-q"]).lines().count(), 1, "prune keeps images in use");
    s.g.ok(&["start", "-a", "holder"]);
    assert_eq!(inspect(&s.g, "holder")["State"]["Status"], "exited");
    s.g.ok(&["rm", "holder"]);
    s.g.ok(&["rmi", "busybox"]);
}

#[test]
fn bad_names_and_conflicts() {
    let s = env();
    s.g.ok(&["create", "--name", "one", "busybox", "true"]);
    let r = s.g.run(&["create", "--name", "one", "busybox", "true"]);
    assert_eq!(r.code, Some(125));
    assert_one_error_line(&r.stderr, "The container name \"/one\" is already in use");
    let r = s.g.run(&["create", "--name", "bad name", "busybox", "true"]);
    assert_eq!(r.code, Some(125));
    assert_one_error_line(&r.stderr, "Invalid container name");
    let r = s.g.run(&["logs", "nosuch"]);
    assert_one_error_line(&r.stderr, "No such container: nosuch");
    let r = s.g.run(&["stop", "nosuch"]);
    assert_eq!(r.code, Some(1));
    s.g.ok(&["container", "prune", "-f"]);
    assert!(s.g.ok(&["ps", "-aq"]).is_empty());
}

#[test]
fn many_runs_leave_nothing_behind() {
    let s = env();
    let mut ids = Vec::new();
    for i in 0..20 {
        let name = format!("leak-{i}");
        s.g.ok(&["run", "--name", &name, "busybox", "true"]);
        ids.push(inspect(&s.g, &name)["Id"].as_str().unwrap().to_string());
        s.g.ok(&["rm", &name]);
    }
    // The issue's figures: 200 `run --rm` and 50 failing builds.
    for _ in 0..180 {
        s.g.ok(&["run", "--rm", "busybox", "true"]);
    }
    for i in 0..50 {
        s.file("Dockerfile", &format!("FROM busybox\nRUN echo {i} && exit 1\n"));
        assert!(!s.build(&["-q"]).success());
    }
    assert!(mounts_under(s.g.root()).is_empty(), "{:?}", mounts_under(s.g.root()));
    let leftovers = |dir: &str| {
        std::fs::read_dir(s.g.root().join(dir))
            .map(|d| d.flatten().filter(|e| !e.file_name().to_string_lossy().starts_with('.')).count())
            .unwrap_or(0)
    };
    assert_eq!(leftovers("containers"), 0);
    assert_eq!(leftovers("sandboxes"), 0);
    for hierarchy in ["memory", "pids", "cpu", "unified"] {
        for id in &ids {
            let p = Path::new("/sys/fs/cgroup").join(hierarchy).join("gantry").join(id);
            assert!(!p.exists(), "cgroup left behind: {}", p.display());
        }
    }
}

#[test]
fn exec_joins_a_running_container() {
    let s = env();
    s.g.ok(&[
        "run",
        "-d",
        "--name",
        "host",
        "-e",
        "FROM_RUN=1",
        "busybox",
        "sh",
        "-c",
        "echo hi > /tmp/mark; sleep 100",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.g.run(&["exec", "host", "test", "-e", "/tmp/mark"]).code != Some(0) {
        assert!(Instant::now() < deadline, "the container never wrote its mark");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The same filesystem, environment, and PID namespace as the container.
    let out = s.g.ok(&[
        "exec",
        "-e",
        "EXTRA=2",
        "-w",
        "/tmp",
        "host",
        "sh",
        "-c",
        "cat mark; echo $FROM_RUN $EXTRA; pwd; ps -o pid,comm | grep -c sleep",
    ]);
    assert_eq!(out, "hi\n1 2\n/tmp\n1\n");
    assert_eq!(s.g.ok(&["exec", "-u", "1000", "host", "id", "-u"]), "1000\n");
    let env_file = s.path("exec.env");
    std::fs::write(&env_file, "# a comment\nFROM_FILE=f\nEXTRA=file\n").unwrap();
    let out = s.g.ok(&[
        "exec",
        "--env-file",
        env_file.to_str().unwrap(),
        "-e",
        "EXTRA=flag",
        "host",
        "sh",
        "-c",
        "echo $FROM_FILE $EXTRA",
    ]);
    assert_eq!(out, "f flag\n", "-e wins over --env-file");
    let caps = |extra: &[&str]| {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.extend(["host", "grep", "CapEff", "/proc/self/status"]);
        s.g.ok(&args)
    };
    assert_eq!(caps(&[]), "CapEff:\t00000000a80425fb\n");
    assert_ne!(caps(&["--privileged"]), caps(&[]), "--privileged gives the exec'd process every capability");
    assert_eq!(s.g.run(&["exec", "host", "sh", "-c", "exit 5"]).code, Some(5));
    let r = s.g.run(&["exec", "host", "nosuch"]);
    assert_eq!(r.code, Some(127));
    assert_one_error_line(&r.stderr, "executable file not found");
    s.g.ok(&["exec", "-d", "host", "sh", "-c", "echo detached > /tmp/d"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.g.run(&["exec", "host", "cat", "/tmp/d"]).stdout != "detached\n" {
        assert!(Instant::now() < deadline, "exec -d never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    s.g.ok(&["rm", "-f", "host"]);
    let r = s.g.run(&["exec", "host", "true"]);
    assert_one_error_line(&r.stderr, "No such container");
}

/// The same bundle under runc: run, logs, exec, stop, exit codes.
#[test]
fn runc_runs_the_same_containers() {
    let runc = gantry_testkit::require_tool("runc");
    let runc = runc.to_str().unwrap();
    let s = env();
    let r = s.g.run(&["--runtime", runc, "run", "--rm", "busybox", "sh", "-c", "echo via runc; exit 4"]);
    assert_eq!((r.code, r.stdout.as_str()), (Some(4), "via runc\n"), "{r:?}");
    s.g.ok(&[
        "--runtime",
        runc,
        "run",
        "-d",
        "--name",
        "rc",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo up; while true; do sleep 0.1; done",
    ]);
    wait_log(&s.g, "rc", "up");
    assert_eq!(s.g.ok(&["exec", "rc", "echo", "joined"]), "joined\n");
    assert_eq!(inspect(&s.g, "rc")["HostConfig"]["Runtime"], runc);
    s.g.ok(&["stop", "rc"]);
    assert_eq!(s.g.ok(&["logs", "rc"]), "up\n");
    assert_eq!(inspect(&s.g, "rc")["State"]["ExitCode"], 0);
    s.g.ok(&["rm", "rc"]);
    assert!(mounts_under(s.g.root()).is_empty());
}

#[test]
fn commit_and_export_take_the_containers_filesystem() {
    let s = env();
    s.g.ok(&[
        "run",
        "--name",
        "maker",
        "-w",
        "/srv",
        "-e",
        "K=v",
        "busybox",
        "sh",
        "-c",
        "echo made > /srv/made.txt && rm /bin/vi",
    ]);
    let id =
        s.g.ok(&["commit", "-m", "snapshot", "-a", "me", "-c", "CMD [\"cat\", \"/srv/made.txt\"]", "maker", "made:1"]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(s.g.ok(&["run", "--rm", "made:1"]), "made\n", "the CMD change applies");
    let img = s.inspect("made:1");
    assert_eq!(img["Author"], "me");
    assert_eq!(img["Comment"], "snapshot");
    assert_eq!(img["Config"]["WorkingDir"], "/srv");
    assert!(img["Config"]["Env"].as_array().unwrap().iter().any(|e| e == "K=v"));
    let fs = s.files("made:1");
    assert_eq!(fs["srv/made.txt"].3, "made\n");
    assert!(!fs.contains_key("bin/vi"), "a deletion is committed as a whiteout");
    for runtime_made in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
        assert!(!fs.contains_key(runtime_made), "{runtime_made} is the runtime's, not a change");
    }
    // export: the whole filesystem of the (stopped) container.
    let out = s.path("maker.tar");
    s.g.ok(&["export", "-o", out.to_str().unwrap(), "maker"]);
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(std::fs::File::open(&out).unwrap());
    for e in ar.entries().unwrap() {
        names.push(e.unwrap().path().unwrap().to_string_lossy().trim_end_matches('/').to_string());
    }
    assert!(names.contains(&"srv/made.txt".to_string()) && names.contains(&"bin/busybox".to_string()));
    assert!(!names.contains(&"bin/vi".to_string()));
    assert!(mounts_under(s.g.root()).is_empty(), "export unmounts what it mounted");
    s.g.ok(&["rm", "maker"]);
    // A running container is paused while its changes are read (`--pause`, the
    // default), then runs on; `--pause=false` reads it as it runs.
    let count = "i=0; while true; do i=$((i+1)); echo $i > /n.new && mv /n.new /n; done";
    s.g.ok(&["run", "-d", "--name", "busy", "busybox", "sh", "-c", count]);
    let id = inspect(&s.g, "busy")["Id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.g.run(&["exec", "busy", "test", "-s", "/n"]).code != Some(0) {
        assert!(Instant::now() < deadline, "the counter starts");
    }
    s.g.ok(&["commit", "busy", "busy:1"]);
    let counted: u64 = s.files("busy:1")["n"].3.trim().parse().unwrap();
    assert!(counted > 0);
    let freezer = ["/sys/fs/cgroup/freezer/gantry", "/sys/fs/cgroup/gantry"]
        .iter()
        .map(|d| Path::new(d).join(&id))
        .find(|d| d.is_dir())
        .expect("the container's freezer cgroup");
    let state = std::fs::read_to_string(freezer.join("freezer.state"))
        .or_else(|_| std::fs::read_to_string(freezer.join("cgroup.freeze")))
        .unwrap();
    assert!(matches!(state.trim(), "THAWED" | "0"), "thawed after the commit: {state}");
    let later = || s.g.ok(&["exec", "busy", "cat", "/n"]).trim().parse::<u64>().unwrap();
    let first = later();
    let deadline = Instant::now() + Duration::from_secs(10);
    while later() == first {
        assert!(Instant::now() < deadline, "the container runs on after the commit");
    }
    s.g.ok(&["commit", "--pause=false", "busy", "busy:2"]);
    assert_eq!(inspect(&s.g, "busy")["State"]["Status"], "running");
    s.g.ok(&["rm", "-f", "busy"]);
}

/// `run -it` driven through a pseudo-terminal, as a user's shell would: the
/// container gets a terminal of its own with our window size, our keystrokes, and
/// its exit status comes back. Both executors.
#[test]
fn run_it_through_a_pseudo_terminal() {
    let s = env();
    for runtime in [None, Some(gantry_testkit::require_tool("runc"))] {
        let mut args: Vec<String> = vec!["--root".into(), s.g.root().to_str().unwrap().into()];
        if let Some(r) = &runtime {
            args.extend(["--runtime".into(), r.to_str().unwrap().into()]);
        }
        args.extend(["run", "-it", "--rm", "busybox", "sh"].map(String::from));
        let (code, out) = pty_session(&args, b"stty size; tty; echo $((6*7)); exit 3\n");
        assert_eq!(code, Some(3), "{runtime:?}: {out}");
        assert!(out.contains("40 100"), "{runtime:?}: the window size is ours: {out}");
        assert!(out.contains("/dev/pts/"), "{runtime:?}: a terminal of its own: {out}");
        assert!(out.contains("42"), "{runtime:?}: {out}");
    }
}

/// Runs gantry with `args` on a new pseudo-terminal (40x100) as its controlling
/// terminal, types `input`, and returns its exit status and everything it showed.
fn pty_session(args: &[String], input: &[u8]) -> (Option<i32>, String) {
    use std::os::fd::FromRawFd;
    use std::os::unix::process::CommandExt;
    let (mut master, mut slave) = (0, 0);
    let ws = libc::winsize { ws_row: 40, ws_col: 100, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty with valid out-pointers.
    let r = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(r, 0);
    let slave = unsafe { std::fs::File::from_raw_fd(slave) };
    let mut master = unsafe { std::fs::File::from_raw_fd(master) };
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap());
    // SAFETY: a new session whose controlling terminal is the pty, before exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    // Only the child may hold the terminal's slave side, or its end is never seen.
    drop(cmd);
    drop(slave);
    let mut reader = master.try_clone().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut reader, &mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        let _ = tx.send(String::from_utf8_lossy(&all).into_owned());
    });
    std::io::Write::write_all(&mut master, input).unwrap();
    let code = child.wait().unwrap().code();
    drop(master);
    (code, rx.recv_timeout(Duration::from_secs(20)).expect("terminal output"))
}

#[test]
fn named_and_anonymous_volumes() {
    let s = env();
    assert_eq!(s.g.ok(&["volume", "create", "data"]), "data\n");
    s.g.ok(&["run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo persisted > /data/f"]);
    assert_eq!(s.g.ok(&["run", "--name", "reader", "-v", "data:/data:ro", "busybox", "cat", "/data/f"]), "persisted\n");
    let v: Value = serde_json::from_str(&s.g.ok(&["volume", "inspect", "data"])).unwrap();
    let mountpoint = v[0]["Mountpoint"].as_str().unwrap().to_string();
    assert_eq!(std::fs::read_to_string(Path::new(&mountpoint).join("f")).unwrap(), "persisted\n");
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(s.g.ok(&["volume", "ls"]), "DRIVER    VOLUME NAME\nlocal     data\n");
    let r = s.g.run(&["volume", "rm", "data"]);
    assert_one_error_line(&r.stderr, "volume is in use");
    assert_eq!(inspect(&s.g, "reader")["Mounts"][0]["Type"], "volume");
    s.g.ok(&["rm", "reader"]);
    assert_eq!(s.g.ok(&["volume", "rm", "data"]), "data\n");
    let r = s.g.run(&["volume", "inspect", "data"]);
    assert_one_error_line(&r.stderr, "No such volume: data");
    // An image's VOLUME gets an anonymous volume; `rm -v` removes it, prune the rest.
    s.file("Dockerfile", "FROM busybox\nVOLUME /cache\n");
    s.build_ok(&["-t", "withvol"]);
    s.g.ok(&["create", "--name", "c1", "withvol", "true"]);
    s.g.ok(&["create", "--name", "c2", "withvol", "true"]);
    assert_eq!(s.g.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    s.g.ok(&["rm", "-v", "c1"]);
    assert_eq!(s.g.ok(&["volume", "ls", "-q"]).lines().count(), 1);
    s.g.ok(&["rm", "c2"]);
    assert_eq!(s.g.ok(&["volume", "ls", "-q", "--filter", "dangling=true"]).lines().count(), 1);
    assert!(s.g.ok(&["volume", "prune", "-f"]).starts_with("Deleted Volumes:\n"));
    assert!(s.g.ok(&["volume", "ls", "-q"]).is_empty());
    let r = s.g.run(&["volume", "create", "bad/name"]);
    assert_one_error_line(&r.stderr, "invalid characters");
}

#[test]
fn mount_flag_binds_volumes_and_tmpfs() {
    let s = env();
    let host = s.path("shared");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "from the host\n").unwrap();
    let bind = format!("type=bind,source={},target=/m,readonly", host.display());
    let out =
        s.g.ok(&["run", "--rm", "--mount", &bind, "busybox", "sh", "-c", "cat /m/f; touch /m/g || echo read-only"]);
    assert!(out.starts_with("from the host\n") && out.ends_with("read-only\n"), "{out}");
    assert!(!host.join("g").exists());
    // A named volume (made on first use, with its label) persists; an anonymous one too.
    let vol = "type=volume,src=kept,dst=/data,volume-label=team=a";
    s.g.ok(&["run", "--rm", "--mount", vol, "busybox", "sh", "-c", "echo persisted > /data/f"]);
    assert_eq!(s.g.ok(&["run", "--rm", "--mount", "src=kept,dst=/d,ro", "busybox", "cat", "/d/f"]), "persisted\n");
    let r = s.g.run(&["run", "--rm", "--mount", "src=kept,dst=/d,ro", "busybox", "touch", "/d/x"]);
    assert_ne!(r.code, Some(0), "read-only volume: {r:?}");
    assert_eq!(s.g.ok(&["volume", "inspect", "--format", "{{.Labels.team}}", "kept"]), "a\n");
    s.g.ok(&["create", "--name", "anon", "--mount", "type=volume,target=/cache", "busybox", "true"]);
    assert_eq!(inspect(&s.g, "anon")["Mounts"][0]["Destination"], "/cache");
    assert_eq!(s.g.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    s.g.ok(&["rm", "-v", "anon"]);
    assert_eq!(s.g.ok(&["volume", "ls", "-q"]), "kept\n");
    // tmpfs: memory-backed, with docker's options.
    let out = s.g.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770",
        "busybox",
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts; stat -c %a /t",
    ]);
    assert_eq!(out, "tmpfs /t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=1770 0 0\n1770\n");
    s.g.ok(&["create", "--name", "withtmp", "--mount", "type=tmpfs,dst=/t", "busybox", "true"]);
    assert_eq!(inspect(&s.g, "withtmp")["Mounts"][0]["Type"], "tmpfs");
    s.g.ok(&["rm", "withtmp"]);
    // Bad mounts: docker's words, 125, no container.
    let missing = s.path("nowhere");
    for (spec, why) in [
        (
            "type=bind,source=/tmp".to_string(),
            "invalid argument \"type=bind,source=/tmp\" for \"--mount\" flag: target is required",
        ),
        ("type=bind,src=/tmp,dst=/x,foo=bar".to_string(), "unexpected key 'foo' in 'foo=bar'"),
        (
            format!("type=bind,src={},dst=/x", missing.display()),
            "invalid mount config for type \"bind\": bind source path does not exist",
        ),
        ("type=bind,src=rel,dst=/x".to_string(), "invalid mount path: 'rel' mount path must be absolute"),
        ("type=tmpfs,src=/tmp,dst=/x".to_string(), "field Source must not be specified"),
        ("type=weird,dst=/x".to_string(), "invalid mount config for type \"weird\": mount type unknown"),
        ("src=/abs,dst=/x".to_string(), "invalid characters"),
    ] {
        let r = s.g.run(&["run", "--rm", "--mount", &spec, "busybox", "true"]);
        assert_eq!(r.code, Some(125), "{spec}: {r:?}");
        assert_one_error_line(&r.stderr, why);
    }
    let r = s.g.run(&["run", "--rm", "-v", "/tmp:/x", "--mount", "type=tmpfs,dst=/x", "busybox", "true"]);
    assert_one_error_line(&r.stderr, "Duplicate mount point: /x");
    assert!(s.g.ok(&["ps", "-aq"]).is_empty());
}

#[test]
fn security_opt_no_new_privileges_and_seccomp_profiles() {
    let s = env();
    let status = "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | tr '\\n' ' '";
    let run = |opts: &[&str], script: &str| {
        let mut args = vec!["run", "--rm"];
        for o in opts {
            args.extend(["--security-opt", o]);
        }
        args.extend(["busybox", "sh", "-c", script]);
        s.g.run(&args)
    };
    assert_eq!(run(&[], status).stdout, "NoNewPrivs:\t0 Seccomp:\t2 ");
    assert_eq!(run(&["no-new-privileges"], status).stdout, "NoNewPrivs:\t1 Seccomp:\t2 ");
    assert_eq!(run(&["no-new-privileges:false"], status).stdout, "NoNewPrivs:\t0 Seccomp:\t2 ");
    assert_eq!(run(&["seccomp=unconfined"], status).stdout, "NoNewPrivs:\t0 Seccomp:\t0 ");
    // A profile of one's own (docker's format), and the one podman ships.
    let profile = s.path("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let r = run(&[&opt], "mkdir /tmp/x");
    assert!(r.stderr.contains("Operation not permitted"), "{r:?}");
    assert!(run(&[], "mkdir /tmp/x").success());
    let podman = "/usr/share/containers/seccomp.json";
    assert!(Path::new(podman).exists(), "podman's profile (containers-common, installed by .ci/run)");
    let r = run(&[&format!("seccomp={podman}"), "no-new-privileges"], status);
    assert_eq!(r.stdout, "NoNewPrivs:\t1 Seccomp:\t2 ", "{r:?}");
    // A process joining the container inherits its settings.
    s.g.ok(&["run", "-d", "--name", "nnp", "--security-opt", "no-new-privileges", "busybox", "sleep", "100"]);
    assert_eq!(s.g.ok(&["exec", "nnp", "sh", "-c", status]), "NoNewPrivs:\t1 Seccomp:\t2 ");
    s.g.ok(&["rm", "-f", "nnp"]);
    // Bad options: docker's words, 125.
    let broken = s.path("broken.json");
    std::fs::write(&broken, "{").unwrap();
    for (opt, why) in [
        ("foo".to_string(), "Invalid --security-opt: \"foo\""),
        ("foo=bar".to_string(), "invalid --security-opt 2: \"foo=bar\""),
        ("no-new-privileges=maybe".to_string(), "invalid --security-opt 2"),
        ("systempaths=unconfined".to_string(), "systempaths=unconfined is not supported"),
        ("seccomp=/nonexistent.json".to_string(), "opening seccomp profile (/nonexistent.json) failed"),
        (format!("seccomp={}", broken.display()), "Decoding seccomp profile failed"),
    ] {
        let r = run(&[&opt], "true");
        assert_eq!(r.code, Some(125), "{opt}: {r:?}");
        assert_one_error_line(&r.stderr, why);
    }
}

#[test]
fn system_df_and_info_count_containers_and_volumes() {
    let s = env();
    s.g.ok(&["run", "-d", "--name", "up", "-v", "vol:/v", "busybox", "sleep", "100"]);
    s.g.ok(&["run", "--name", "down", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /blob"]);
    let df = s.g.ok(&["system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Active}}"]);
    assert!(df.contains("Images|1|1\n"), "{df}");
    assert!(df.contains("Containers|2|1\n"), "{df}");
    assert!(df.contains("Local Volumes|1|1\n"), "{df}");
    let sizes = s.g.ok(&["system", "df", "--format", "{{.Type}} {{.Size}} {{.Reclaimable}}"]);
    assert!(sizes.contains("Containers 100kB 100kB (100%)"), "{sizes}");
    let info =
        s.g.ok(&["info", "--format", "{{.Containers}} {{.ContainersRunning}} {{.ContainersStopped}} {{.Driver}}"]);
    assert_eq!(info, "2 1 1 overlay\n");
    s.g.ok(&["rm", "-f", "up", "down"]);
}

/// A monitor killed outright: the container reads as exited, never running, and
/// `rm` kills what it left behind.
#[test]
fn a_dead_monitor_means_exited_and_rm_cleans_up() {
    let s = env();
    let id = s.g.ok(&["run", "-d", "--name", "orphan", "busybox", "sleep", "100"]).trim().to_string();
    let pid = inspect(&s.g, "orphan")["State"]["Pid"].as_i64().unwrap() as i32;
    let lock = s.g.root().join("containers").join(&id).join("monitor.lock");
    // The monitor is whoever holds the lock: find it by its command line.
    let monitor = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .find(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains("monitor") && String::from_utf8_lossy(&c).contains(&id))
                .unwrap_or(false)
        })
        .expect("the monitor process");
    assert!(lock.exists());
    unsafe { libc::kill(monitor, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while inspect(&s.g, "orphan")["State"]["Status"] != "exited" {
        assert!(Instant::now() < deadline, "still shown running without its monitor");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(s.g.ok(&["ps", "-a"]).contains("Exited (255)"));
    s.g.ok(&["rm", "orphan"]);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| s.contains(" Z ")).unwrap_or(true),
        "the container's process was left running"
    );
    assert!(mounts_under(s.g.root()).is_empty());
}

#[test]
fn top_lists_the_containers_processes() {
    let s = env();
    s.g.ok(&["run", "-d", "--name", "busy", "busybox", "sh", "-c", "echo ready; sleep 1000"]);
    wait_log(&s.g, "busy", "ready");
    let top = s.g.ok(&["top", "busy"]);
    let mut lines = top.lines();
    assert!(lines.next().unwrap().contains("PID"), "{top}");
    let rows: Vec<&str> = lines.collect();
    assert!(rows.iter().any(|r| r.contains("sleep 1000")), "{top}");
    assert!(rows.len() <= 3, "only the container's processes: {top}");
    assert_eq!(s.g.ok(&["port", "busy"]), "");
    s.g.ok(&["rm", "-f", "busy"]);
    let r = s.g.run(&["top", "nosuch"]);
    assert_one_error_line(&r.stderr, "No such container");
}

/// `-p`: a service inside the container's own network namespace answers on the host.
#[test]
fn published_ports_reach_the_container() {
    let s = env();
    s.g.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1::8080",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo hello-from-container > /www/index.html && echo ready && exec httpd -f -p 8080 -h /www",
    ]);
    wait_log(&s.g, "web", "ready");
    let addr = s.g.ok(&["port", "web", "8080"]).trim().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert!(s.g.ok(&["ps"]).contains(&format!("{addr}->8080/tcp")));
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        std::io::Write::write_all(&mut conn, b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut reply = String::new();
        let _ = std::io::Read::read_to_string(&mut conn, &mut reply);
        if reply.contains("hello-from-container") || Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(body.contains("200 OK") && body.contains("hello-from-container"), "{body}");
    // The container has a network of its own: the host's interfaces are not there.
    assert_eq!(s.g.ok(&["exec", "web", "ls", "/sys/class/net"]), "lo\ntap0\n");
    s.g.ok(&["rm", "-f", "web"]);
    assert!(std::net::TcpStream::connect(&addr).is_err(), "the port is released with the container");
    let r = s.g.run(&["run", "--rm", "-p", "53:53/udp", "busybox", "true"]);
    assert_eq!(r.code, Some(125));
}

/// `exec -it` through a pseudo-terminal into a running container, both executors.
#[test]
fn exec_it_through_a_pseudo_terminal() {
    let s = env();
    for runtime in [None, Some(gantry_testkit::require_tool("runc"))] {
        let mut base: Vec<String> = vec!["--root".into(), s.g.root().to_str().unwrap().into()];
        if let Some(r) = &runtime {
            base.extend(["--runtime".into(), r.to_str().unwrap().into()]);
        }
        let mut run = base.clone();
        run.extend(
            ["run", "-d", "--name", "target", "busybox", "sh", "-c", "echo ready; sleep 1000"].map(String::from),
        );
        let out = Command::new(BIN).args(&run).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        wait_log(&s.g, "target", "ready");
        let mut exec = base.clone();
        exec.extend(["exec", "-it", "target", "sh"].map(String::from));
        let (code, out) = pty_session(&exec, b"stty size; tty; echo $((6*7)); exit 4\n");
        assert_eq!(code, Some(4), "{runtime:?}: {out}");
        assert!(out.contains("40 100") && out.contains("/dev/pts/") && out.contains("42"), "{runtime:?}: {out}");
        s.g.ok(&["rm", "-f", "target"]);
    }
}

#[test]
fn cpu_and_pids_limits_and_restart() {
    let s = env();
    let id = s.g.ok(&[
        "run",
        "-d",
        "--name",
        "limited",
        "--cpus",
        "0.5",
        "--pids-limit",
        "20",
        "busybox",
        "sh",
        "-c",
        "echo ready; sleep 1000",
    ]);
    let id = id.trim();
    wait_log(&s.g, "limited", "ready");
    // cgroup v1 (or hybrid) files, else v2's.
    let read = |v1: &str, v2: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{v1}"))
            .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/{v2}")))
            .unwrap()
    };
    let quota = read(&format!("cpu/gantry/{id}/cpu.cfs_quota_us"), &format!("gantry/{id}/cpu.max"));
    assert!(quota.trim() == "50000" || quota.starts_with("50000 100000"), "{quota}");
    let pids = read(&format!("pids/gantry/{id}/pids.max"), &format!("gantry/{id}/pids.max"));
    assert_eq!(pids.trim(), "20");
    // More processes than the limit cannot be made.
    let r = s.g.run(&["exec", "limited", "sh", "-c", "for i in $(seq 1 40); do sleep 1 & done; wait"]);
    assert!(r.stderr.contains("can't fork") || r.stderr.contains("Resource temporarily unavailable"), "{r:?}");
    let before = inspect(&s.g, "limited")["State"]["StartedAt"].as_str().unwrap().to_string();
    assert_eq!(s.g.ok(&["restart", "-t", "0", "limited"]), "limited\n");
    let after = inspect(&s.g, "limited");
    assert_eq!(after["State"]["Status"], "running");
    assert_ne!(after["State"]["StartedAt"].as_str().unwrap(), before);
    s.g.ok(&["rm", "-f", "limited"]);
}

/// `--init`: docker's tini runs as PID 1 and the command under it; a shell that
/// ignores SIGTERM as PID 1 now stops at once.
#[test]
fn init_runs_the_command_under_tini() {
    let s = env();
    assert_eq!(
        s.g.ok(&["run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"]),
        "/sbin/docker-init -- sh -c cat /proc/1/cmdline | tr '\\0' ' ' "
    );
    s.g.ok(&["run", "-d", "--init", "--name", "tini", "busybox", "sleep", "100"]);
    let began = Instant::now();
    s.g.ok(&["stop", "tini"]);
    assert!(began.elapsed() < Duration::from_secs(5), "tini passes SIGTERM on: no 10 s wait");
    s.g.ok(&["rm", "tini"]);
    let r = s.g.run(&["run", "--rm", "--init", "busybox", "nosuch"]);
    assert_eq!(r.code, Some(127), "{r:?}");
}

/// The default network: a namespace of the container's own with outbound NAT through
/// slirp4netns (docker's bridge, without a bridge): its own address, DNS forwarder and
/// gateway, none of the host's interfaces; `--network host` shares the host's.
#[test]
fn default_network_is_isolated_with_outbound_nat() {
    let s = env();
    let out = s.g.ok(&[
        "run", "--rm", "busybox", "sh", "-c",
        "ls /sys/class/net; ip -4 addr show tap0 | grep -o 'inet [0-9./]*'; cat /etc/resolv.conf | grep nameserver; ping -c1 -W2 10.0.2.2 > /dev/null && echo gateway-ok",
    ]);
    assert_eq!(out, "lo\ntap0\ninet 10.0.2.100/24\nnameserver 10.0.2.3\ngateway-ok\n");
    let host_ifaces = std::fs::read_dir("/sys/class/net").unwrap().count();
    let shared = s.g.ok(&["run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net"]);
    assert_eq!(shared.lines().count(), host_ifaces);
    assert_eq!(inspect_network_mode(&s), "default");
}

fn inspect_network_mode(s: &BuildEnv) -> String {
    s.g.ok(&["create", "--name", "netmode", "busybox", "true"]);
    let mode = inspect(&s.g, "netmode")["HostConfig"]["NetworkMode"].as_str().unwrap().to_string();
    s.g.ok(&["rm", "netmode"]);
    mode
}

/// Found in review: a client that never reads must not stall the relay for others,
/// and a process writing without newlines must not grow or stall its monitor.
#[test]
fn slow_clients_and_endless_lines_do_not_stall_the_monitor() {
    let s = env();
    s.g.ok(&[
        "run", "-d", "--name", "big", "-p", "127.0.0.1::8080", "busybox", "sh", "-c",
        "mkdir -p /www && head -c 8000000 /dev/zero > /www/big && echo small > /www/small && echo ready && exec httpd -f -p 8080 -h /www",
    ]);
    wait_log(&s.g, "big", "ready");
    let addr = s.g.ok(&["port", "big", "8080"]).trim().to_string();
    // Asks for 8 MB and never reads them.
    let mut stuck = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(&mut stuck, b"GET /big HTTP/1.0\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    std::io::Write::write_all(&mut conn, b"GET /small HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = String::new();
    let _ = std::io::Read::read_to_string(&mut conn, &mut reply);
    assert!(reply.contains("small"), "a second client is served: {reply:?}");
    drop(stuck);
    s.g.ok(&["rm", "-f", "big"]);
    // 1 MB without a newline: logged in docker's 16 KiB pieces, promptly.
    s.g.ok(&["run", "--name", "noeol", "busybox", "sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' a"]);
    let log =
        s.g.root()
            .join("containers")
            .join(inspect(&s.g, "noeol")["Id"].as_str().unwrap())
            .join(format!("{}-json.log", inspect(&s.g, "noeol")["Id"].as_str().unwrap()));
    let lines = std::fs::read_to_string(log).unwrap().lines().count();
    assert_eq!(lines, 1_000_000usize.div_ceil(16 * 1024));
    assert_eq!(s.g.ok(&["logs", "noeol"]).len(), 1_000_000);
    s.g.ok(&["rm", "noeol"]);
}

/// `--privileged`: every capability, no seccomp filter, /sys writable, all devices.
#[test]
fn privileged_lifts_the_confinement() {
    let s = env();
    let script = "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && echo mounted; grep -c . /proc/self/status > /dev/null; grep CapEff /proc/self/status";
    let out = s.g.ok(&["run", "--rm", "--privileged", "busybox", "sh", "-c", script]);
    assert!(out.starts_with("mounted\n"), "{out}");
    let plain = s.g.ok(&["run", "--rm", "busybox", "sh", "-c", "grep CapEff /proc/self/status"]);
    assert_eq!(plain.trim(), "CapEff:\t00000000a80425fb", "docker's default capability set");
    assert_ne!(out.lines().last().unwrap(), plain.trim());
}

/// A container command missing its arguments fails as docker's does (it used to do
/// nothing and succeed for stop, kill, rm, start, restart and wait).
#[test]
fn missing_arguments_are_docker_usage_errors() {
    let s = env();
    for (args, need) in [
        (vec!["stop"], "\"gantry stop\" requires at least 1 argument."),
        (vec!["container", "kill"], "\"gantry container kill\" requires at least 1 argument."),
        (vec!["rm"], "\"gantry rm\" requires at least 1 argument."),
        (vec!["start"], "\"gantry start\" requires at least 1 argument."),
        (vec!["restart"], "\"gantry restart\" requires at least 1 argument."),
        (vec!["wait"], "\"gantry wait\" requires at least 1 argument."),
        (vec!["run"], "\"gantry run\" requires at least 1 argument."),
        (vec!["exec", "c1"], "\"gantry exec\" requires at least 2 arguments."),
        (vec!["logs"], "\"gantry logs\" requires exactly 1 argument."),
    ] {
        let r = s.g.run(&args);
        assert_eq!(r.code, Some(1), "{args:?}: {r:?}");
        assert!(r.stderr.starts_with(&format!("Error: {need}\n")), "{args:?}: {}", r.stderr);
    }
}
