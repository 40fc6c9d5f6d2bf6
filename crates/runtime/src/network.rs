//! The default ("bridge") network, daemonless: the container gets a network namespace
//! of its own, and slirp4netns gives it outbound connectivity through user-mode NAT
//! (10.0.2.100, gateway 10.0.2.2, DNS 10.0.2.3). No bridge, no iptables rules: nothing
//! on the host to clean up. slirp4netns ends with the monitor (its exit fd closes),
//! even if the monitor is killed.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The DNS server slirp4netns answers on inside the container.
pub const SLIRP_DNS: &str = "10.0.2.3";

/// slirp4netns on PATH or where Debian installs it.
pub fn slirp_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|d| d.join("slirp4netns"))
        .find(|p| p.is_file())
}

/// A new network namespace that this process does not stay in, held by the returned
/// file (it lives as long as the file or a process in it does), loopback up.
pub fn new_netns() -> std::io::Result<std::fs::File> {
    let host = std::fs::File::open("/proc/self/ns/net")?;
    // SAFETY: unshare/setns on this single-threaded process, back to where it was.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    let ns = std::fs::File::open("/proc/self/ns/net");
    let up = crate::ports::loopback_up(std::process::id() as i32);
    // SAFETY: as above.
    if unsafe { libc::setns(host.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    up?;
    ns
}

/// A running slirp4netns serving one container's namespace; stopped on drop.
///
/// slirp4netns is started detached (its first parent exits at once, so it is not our
/// child) and stops when its exit pipe closes: on drop, or when this process dies. Its
/// exit is not waited for: tearing down its tap device takes the kernel an RCU grace
/// period (~15 ms here), which no container's exit should wait on.
pub struct Slirp {
    exit: Option<OwnedFd>,
    ready: Option<std::fs::File>,
    errors: std::fs::File,
}

impl Slirp {
    /// Starts slirp4netns for the namespace of process `pid` and waits until the
    /// container's interface is configured.
    pub fn start(pid: i32) -> Result<Slirp, String> {
        let mut s = Slirp::spawn(&pid.to_string(), false)?;
        s.wait_ready()?;
        Ok(s)
    }

    /// Starts slirp4netns for the namespace at `path` (`/proc/<pid>/fd/<n>` of a
    /// [`new_netns`] file); [`Slirp::wait_ready`] waits for it.
    pub fn spawn_for_path(path: &std::path::Path) -> Result<Slirp, String> {
        Slirp::spawn(&path.to_string_lossy(), true)
    }

    fn spawn(target: &str, is_path: bool) -> Result<Slirp, String> {
        let bin = slirp_binary()
            .ok_or("the default network needs slirp4netns (Debian package slirp4netns); or use --network host|none")?;
        let (ready_r, ready_w) = rustix::pipe::pipe().map_err(|e| format!("pipe: {e}"))?;
        let (exit_r, exit_w) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        let (ready_fd, exit_fd) = (ready_w.as_raw_fd(), exit_r.as_raw_fd());
        let errors = std::fs::File::from(
            rustix::fs::memfd_create("slirp4netns-stderr", rustix::fs::MemfdFlags::CLOEXEC)
                .map_err(|e| format!("slirp4netns: {e}"))?,
        );
        let mut c = Command::new(bin);
        c.args(["--configure", "--mtu=65520", "--disable-host-loopback", "--ready-fd=3", "--exit-fd=4"]);
        if is_path {
            c.arg("--netns-type=path");
        }
        let stderr = errors.try_clone().map_err(|e| format!("slirp4netns: {e}"))?;
        c.arg(target).arg("tap0").stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
        // SAFETY: dup2, fork, _exit and setsid between fork and exec, on fds this process
        // holds; the intermediate process only exits.
        unsafe {
            c.pre_exec(move || {
                if libc::dup2(ready_fd, 3) < 0 || libc::dup2(exit_fd, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                match libc::fork() {
                    -1 => return Err(std::io::Error::last_os_error()),
                    0 => {}
                    _ => libc::_exit(0),
                }
                libc::setsid();
                Ok(())
            });
        }
        let mut intermediate = c.spawn().map_err(|e| format!("slirp4netns: {e}"))?;
        let _ = intermediate.wait();
        drop(ready_w);
        drop(exit_r);
        Ok(Slirp { exit: Some(exit_w), ready: Some(std::fs::File::from(ready_r)), errors })
    }

    /// Waits until slirp4netns has configured the interface.
    pub fn wait_ready(&mut self) -> Result<(), String> {
        let Some(mut ready) = self.ready.take() else { return Ok(()) };
        let mut byte = [0u8; 1];
        match ready.read(&mut byte) {
            Ok(1) => Ok(()),
            _ => {
                self.stop();
                let mut why = String::new();
                let _ = std::io::Seek::seek(&mut self.errors, std::io::SeekFrom::Start(0));
                let _ = std::io::Read::read_to_string(&mut std::io::Read::take(&mut self.errors, 4096), &mut why);
                Err(format!(
                    "slirp4netns could not configure the container's network: {}",
                    why.trim().replace('\n', "; ")
                ))
            }
        }
    }

    /// Closes the exit pipe: slirp4netns exits by itself.
    fn stop(&mut self) {
        self.exit.take();
    }
}

impl Drop for Slirp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The container's resolv.conf behind slirp4netns: its DNS forwarder instead of the
/// host's servers (a host's 127.0.0.53 is not reachable from the namespace), the
/// host's search domains and options kept.
pub fn slirp_resolv_conf(host: &str) -> String {
    let mut out = format!("nameserver {SLIRP_DNS}\n");
    for line in host.lines() {
        let t = line.trim_start();
        if t.starts_with("search") || t.starts_with("options") || t.starts_with("domain") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_points_at_slirp() {
        let r = slirp_resolv_conf("nameserver 127.0.0.53\nsearch example.org\noptions edns0\n");
        assert_eq!(r, "nameserver 10.0.2.3\nsearch example.org\noptions edns0\n");
    }
}
