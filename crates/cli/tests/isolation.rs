//! Escape attempts that must fail, as root, with docker's default confinement: the
//! kernel's magic files, mounting, kernel modules, the host's files through /proc,
//! the host's hostname, /sys, and a build whose RUN plants a symlink to / that a later
//! COPY writes through. Each checks the host is unchanged afterwards.

use gantry_testkit::build::BuildEnv;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

fn run(s: &BuildEnv, script: &str) -> gantry_testkit::Run {
    s.g.run(&["run", "--rm", "busybox", "sh", "-c", script])
}

fn host_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap()
}

#[test]
fn kernel_interfaces_are_out_of_reach() {
    let s = BuildEnv::new(BIN);
    let r = run(&s, "echo h > /proc/sysrq-trigger && echo WROTE");
    assert!(!r.stdout.contains("WROTE"), "{r:?}");
    let r = run(&s, "echo 1 > /proc/sys/kernel/panic && echo WROTE");
    assert!(!r.stdout.contains("WROTE"), "{r:?}");
    let r = run(&s, "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && echo MOUNTED");
    assert!(!r.stdout.contains("MOUNTED"), "{r:?}");
    let r = run(&s, "mount -o remount,rw /sys && echo REMOUNTED; touch /sys/kernel/x && echo TOUCHED");
    assert!(!r.stdout.contains("REMOUNTED") && !r.stdout.contains("TOUCHED"), "{r:?}");
    // A module the kernel would reject as malformed: refused before it is even read.
    let r = run(&s, "head -c 4096 /dev/zero > /tmp/m.ko; insmod /tmp/m.ko; echo rc=$?");
    assert!(r.stderr.contains("not permitted") || r.stderr.contains("Operation not permitted"), "{r:?}");
    let r = run(&s, "cat /proc/kcore > /dev/null && echo READ");
    assert!(!r.stdout.contains("READ"), "/proc/kcore is masked: {r:?}");
}

#[test]
fn host_files_and_names_stay_the_hosts() {
    let s = BuildEnv::new(BIN);
    let secret = s.path("host-secret.txt");
    std::fs::write(&secret, "host only\n").unwrap();
    let p = secret.to_str().unwrap();
    let r = run(&s, &format!("cat /proc/1/root{p}; cat {p}; ls /proc/1/root/ | wc -l"));
    assert!(!r.stdout.contains("host only"), "{r:?}");
    let before = host_hostname();
    let r = run(&s, "hostname evil-from-container; hostname");
    assert_eq!(host_hostname(), before, "{r:?}");
    let r = s.g.run(&["run", "--rm", "--privileged", "busybox", "sh", "-c", "hostname evil-privileged"]);
    assert_eq!(host_hostname(), before, "the UTS namespace holds even privileged: {r:?}");
    // The host's processes are invisible.
    let r = run(&s, "ls /proc | grep -c '^[0-9]'");
    assert!(r.stdout.trim().parse::<u32>().unwrap() < 10, "{r:?}");
}

#[test]
fn a_run_symlink_to_root_cannot_redirect_a_later_copy() {
    let s = BuildEnv::new(BIN);
    let marker = format!("gantry-escape-{}", std::process::id());
    s.file("payload", "planted\n");
    s.file(
        "Dockerfile",
        &format!(
            "FROM busybox\nRUN ln -s / /escape && ln -s /tmp /tmpl\nCOPY payload /escape/tmp/{marker}\nCOPY payload /tmpl/{marker}-2\nRUN cat /tmp/{marker} /tmp/{marker}-2\n"
        ),
    );
    s.build_ok(&["-t", "esc:1"]);
    assert!(!std::path::Path::new(&format!("/tmp/{marker}")).exists(), "COPY wrote on the host");
    assert!(!std::path::Path::new(&format!("/tmp/{marker}-2")).exists(), "COPY wrote on the host");
    let fs = s.files("esc:1");
    assert_eq!(fs[&format!("tmp/{marker}")].3, "planted\n");
    assert_eq!(fs[&format!("tmp/{marker}-2")].3, "planted\n");
    // A container whose image has such links writes inside itself too.
    let out = s.g.ok(&[
        "run",
        "--rm",
        "esc:1",
        "sh",
        "-c",
        &format!("echo c > /escape/tmp/{marker}-3 && cat /tmp/{marker}-3"),
    ]);
    assert_eq!(out, "c\n");
    assert!(!std::path::Path::new(&format!("/tmp/{marker}-3")).exists());
}

/// Found in review: a RUN that moves a mount point's directory away and plants a link
/// in its place must not make the build delete the link's host target.
#[test]
fn a_planted_link_cannot_make_the_build_delete_host_files() {
    let s = BuildEnv::new(BIN);
    let victim = tempfile::tempdir().unwrap();
    std::fs::write(victim.path().join("keyfile"), "precious").unwrap();
    s.file(
        "Dockerfile",
        &format!(
            "FROM busybox\nRUN --mount=type=tmpfs,target=/x/keyfile mv /x /x.old && ln -s {} /x\n",
            victim.path().display()
        ),
    );
    let _ = s.build(&["-t", "planted"]);
    assert_eq!(std::fs::read_to_string(victim.path().join("keyfile")).unwrap(), "precious");
}

/// The store is the owner's alone: other users cannot reach images' setuid files.
#[test]
fn the_store_root_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let s = BuildEnv::new(BIN);
    let mode = std::fs::metadata(s.g.root()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}
