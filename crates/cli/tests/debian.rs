//! Containers and RUN on a real distribution: a Debian bookworm base made by
//! debootstrap (crates/testkit/src/debian.rs), imported into gantry and into the real
//! docker. Programs that need glibc, /etc/passwd handling (`useradd`), bash, users
//! and owners behave the same, and a RUN-built image has the same users, files and
//! owners under gantry as under docker's legacy builder.

use std::sync::OnceLock;

use gantry_testkit::build::BuildEnv;
use gantry_testkit::debian::debian_rootfs_tar;
use gantry_testkit::peers::Dockerd;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

const DOCKERFILE: &str = "FROM debian:bookworm\n\
    RUN useradd -m -s /bin/bash app && mkdir -p /data && chown app:app /data && rm -rf /usr/share/doc\n\
    USER app\n\
    WORKDIR /home/app\n\
    RUN echo hello > /data/x && ln -s /data/x link && touch made-by-app\n";

/// Facts about an image that RUN steps decide, printed by a container of it.
const PROBE: &str = "cat /etc/passwd /etc/group; stat -c '%u:%g %a %n' /home/app /data /data/x /home/app/made-by-app; \
    readlink /home/app/link; ls /usr/share | grep -c doc; id";

fn env() -> BuildEnv {
    let s = BuildEnv::new(BIN);
    s.g.ok(&["import", "-c", "CMD [\"bash\"]", debian_rootfs_tar().to_str().unwrap(), "debian:bookworm"]);
    s
}

#[test]
fn debian_containers_run_and_exec() {
    let s = env();
    let version = s.g.ok(&["run", "--rm", "debian:bookworm", "cat", "/etc/debian_version"]);
    assert!(version.starts_with("12."), "{version}");
    assert_eq!(
        s.g.ok(&["run", "--rm", "-u", "nobody", "debian:bookworm", "bash", "-c", "id -un; echo $HOME"]),
        "nobody\n/nonexistent\n"
    );
    s.g.ok(&["run", "-d", "--name", "deb", "debian:bookworm", "bash", "-c", "echo ready; sleep 1000"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !s.g.ok(&["logs", "deb"]).contains("ready") {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(s.g.ok(&["exec", "deb", "bash", "-c", "getent passwd root | cut -d: -f7"]), "/bin/bash\n");
    // A process joining the container is confined like its first one.
    let confinement = "grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/self/status";
    let first = s.g.ok(&["run", "--rm", "debian:bookworm", "bash", "-c", confinement]);
    assert!(first.contains("Seccomp:\t2") && first.contains("CapEff:\t00000000a80425fb"), "{first}");
    assert_eq!(s.g.ok(&["exec", "deb", "bash", "-c", confinement]), first);
    s.g.ok(&["rm", "-f", "deb"]);
}

/// docker's seccomp profile lets `clone` make processes but not namespaces (the
/// rule masks its flags); perl-base makes the raw syscall.
#[cfg(target_arch = "x86_64")]
#[test]
fn clone_cannot_make_namespaces() {
    let s = env();
    const CLONE: &str = "$r = syscall(56, hex($ARGV[0]) | 17, 0, 0, 0, 0); exit 0 if $r == 0; \
                         waitpid($r, 0) if $r > 0; print $r > 0 ? \"child\" : \"errno=\" . ($! + 0), \"\\n\"";
    let clone = |flags: &str| s.g.ok(&["run", "--rm", "debian:bookworm", "perl", "-e", CLONE, flags]);
    assert_eq!(clone("0"), "child\n", "a plain clone (fork) is allowed");
    for flag in ["0x10000000", "0x20000000", "0x00020000", "0x04000000"] {
        // CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNS, CLONE_NEWUTS: EPERM.
        assert_eq!(clone(flag), "errno=1\n", "clone with {flag}");
    }
}

fn docker() -> &'static Dockerd {
    static D: OnceLock<&'static Dockerd> = OnceLock::new();
    D.get_or_init(|| {
        let d = Dockerd::shared();
        if !d.docker(&["image", "inspect", "debian:bookworm"]).success() {
            let tar = debian_rootfs_tar();
            d.docker_ok(&["import", "-c", "CMD [\"bash\"]", tar.to_str().unwrap(), "debian:bookworm"]);
        }
        d
    })
}

/// The oracle for RUN on a distribution: the same Dockerfile built by docker's legacy
/// builder and by gantry, on the same root filesystem, gives the same users, files,
/// owners and modes, as a container of each reports them.
#[test]
fn run_on_debian_matches_docker() {
    let s = env();
    s.file("Dockerfile", DOCKERFILE);
    s.build_ok(&["-t", "deb-app"]);
    let ours = s.g.ok(&["run", "--rm", "--entrypoint", "bash", "deb-app", "-c", PROBE]);
    let d = docker();
    let ctx = s.ctx.path().to_str().unwrap().to_string();
    let out = d
        .docker_cmd(&["build", "--network", "host", "-t", "gantry-debian/app", &ctx])
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("docker build");
    assert!(out.status.success(), "docker build: {}", String::from_utf8_lossy(&out.stderr));
    let theirs =
        d.docker_ok(&["run", "--rm", "--network", "none", "--entrypoint", "bash", "gantry-debian/app", "-c", PROBE]);
    assert_eq!(ours, theirs, "gantry's image differs from docker's");
    assert!(ours.contains("app:x:1000:1000::/home/app:/bin/bash"), "{ours}");
    assert!(ours.contains("1000:1000 644 /data/x"), "{ours}");
}
