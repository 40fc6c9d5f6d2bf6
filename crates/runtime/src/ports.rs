//! Published ports (`-p`), daemonless: a container with published ports gets a
//! network namespace of its own, and its monitor listens on the host's ports and
//! relays each connection to the same service inside the container, connecting from
//! within the container's namespace (a socket belongs to the namespace it was made
//! in). No iptables rules, no bridge to clean up: the relay dies with the monitor.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

use serde::{Deserialize, Serialize};

/// One `-p [ip:][hostPort:]containerPort[/tcp]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMap {
    pub host_ip: String,
    /// 0 until bound when the user left the choice to the system.
    pub host_port: u16,
    pub container_port: u16,
    pub proto: String,
}

impl PortMap {
    /// Parses docker's `-p` syntax (TCP only).
    pub fn parse(s: &str) -> Result<PortMap, String> {
        let (spec, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        if proto != "tcp" {
            return Err(format!("invalid proto: {proto} (only tcp ports can be published so far)"));
        }
        let port = |p: &str| p.parse::<u16>().map_err(|_| format!("invalid containerPort: {p}"));
        let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
        let (ip, host, ctr) = match parts[..] {
            [ctr] => ("0.0.0.0", "", ctr),
            [ctr, host] => ("0.0.0.0", host, ctr),
            [ctr, host, ip] => (ip, host, ctr),
            _ => return Err(format!("invalid port specification: {s:?}")),
        };
        let host_port =
            if host.is_empty() { 0 } else { host.parse().map_err(|_| format!("invalid hostPort: {host}"))? };
        let ip = if ip.is_empty() { "0.0.0.0" } else { ip.trim_matches(['[', ']']) };
        Ok(PortMap { host_ip: ip.to_string(), host_port, container_port: port(ctr)?, proto: "tcp".into() })
    }

    /// docker's `0.0.0.0:8080->80/tcp`.
    pub fn display(&self) -> String {
        format!("{}:{}->{}/{}", self.host_ip, self.host_port, self.container_port, self.proto)
    }
}

/// Brings the loopback interface up in the network namespace of process `pid` (a new
/// namespace starts with it down; docker brings it up too), from this process.
pub fn loopback_up(pid: i32) -> std::io::Result<()> {
    let host = File::open("/proc/self/ns/net")?;
    let ns = File::open(format!("/proc/{pid}/ns/net"))?;
    setns(&ns)?;
    let result = (|| {
        // SAFETY: a datagram socket and the SIOC[GS]IFFLAGS ioctls on a zeroed ifreq.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut req: libc::ifreq = std::mem::zeroed();
            for (i, b) in b"lo".iter().enumerate() {
                req.ifr_name[i] = *b as libc::c_char;
            }
            let mut r = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
            if r == 0 {
                req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
                r = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
            }
            let err = std::io::Error::last_os_error();
            libc::close(fd);
            if r != 0 {
                return Err(err);
            }
        }
        Ok(())
    })();
    setns(&host)?;
    result
}

/// The relay of one container's published ports.
pub struct Proxy {
    listeners: Vec<(TcpListener, u16)>,
    host_ns: File,
    container_ns: Option<File>,
    /// Open connections: the two sockets, both non-blocking.
    pairs: Vec<Pair>,
}

/// One relayed connection. Each direction holds at most one buffer of bytes read
/// and not yet written, so a peer that does not read only ever stalls its own
/// connection, never the monitor.
struct Pair {
    ends: [TcpStream; 2],
    /// Bytes read from `ends[d]`, waiting to be written to the other end.
    pending: [Vec<u8>; 2],
    /// Whether `ends[d]` may still be read from.
    reading: [bool; 2],
}

/// At most this much is buffered per direction.
const RELAY_BUFFER: usize = 64 * 1024;

fn setns(ns: &File) -> std::io::Result<()> {
    // SAFETY: setns on an open namespace file of this single-threaded process.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Pair {
    fn done(&self) -> bool {
        !self.reading[0] && !self.reading[1] && self.pending[0].is_empty() && self.pending[1].is_empty()
    }

    /// Moves what can move without blocking, in both directions.
    fn pump(&mut self) {
        for d in 0..2 {
            let other = 1 - d;
            if self.reading[d] && self.pending[d].is_empty() {
                let mut buf = vec![0u8; RELAY_BUFFER];
                match (&self.ends[d]).read(&mut buf) {
                    Ok(0) => {
                        self.reading[d] = false;
                        let _ = self.ends[other].shutdown(Shutdown::Write);
                    }
                    Ok(n) => {
                        buf.truncate(n);
                        self.pending[d] = buf;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        self.reading = [false, false];
                        self.pending = [Vec::new(), Vec::new()];
                        return;
                    }
                }
            }
            if !self.pending[d].is_empty() {
                match (&self.ends[other]).write(&self.pending[d]) {
                    Ok(n) => {
                        self.pending[d].drain(..n);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        self.reading = [false, false];
                        self.pending = [Vec::new(), Vec::new()];
                        return;
                    }
                }
            }
        }
    }
}

impl Proxy {
    /// Binds every host port now (a port in use fails the start, as in docker) and
    /// returns the maps with the ports actually bound.
    pub fn bind(maps: &[PortMap]) -> Result<(Proxy, Vec<PortMap>), String> {
        let host_ns = File::open("/proc/self/ns/net").map_err(|e| format!("network namespace: {e}"))?;
        let mut listeners = Vec::new();
        let mut bound = Vec::new();
        for m in maps {
            let l = TcpListener::bind((m.host_ip.as_str(), m.host_port)).map_err(|e| {
                format!(
                    "driver failed programming external connectivity: Bind for {}:{} failed: {e}",
                    m.host_ip, m.host_port
                )
            })?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            let port = l.local_addr().map(|a| a.port()).unwrap_or(m.host_port);
            bound.push(PortMap { host_port: port, ..m.clone() });
            listeners.push((l, m.container_port));
        }
        Ok((Proxy { listeners, host_ns, container_ns: None, pairs: Vec::new() }, bound))
    }

    /// Points the relay at the network namespace of the container's process.
    pub fn attach(&mut self, pid: i32) {
        self.container_ns = File::open(format!("/proc/{pid}/ns/net")).ok();
    }

    /// The descriptors to poll and for what (`POLLIN`, `POLLOUT`).
    pub fn fds(&self) -> Vec<(RawFd, i16)> {
        let mut out: Vec<(RawFd, i16)> = self.listeners.iter().map(|(l, _)| (l.as_raw_fd(), libc::POLLIN)).collect();
        for p in &self.pairs {
            for d in 0..2 {
                let mut events = 0;
                if p.reading[d] && p.pending[d].is_empty() {
                    events |= libc::POLLIN;
                }
                if !p.pending[1 - d].is_empty() {
                    events |= libc::POLLOUT;
                }
                if events != 0 {
                    out.push((p.ends[d].as_raw_fd(), events));
                }
            }
        }
        out
    }

    /// A connection to the container's `port`, made from inside its namespace
    /// (loopback: it is accepted or refused at once).
    fn connect_inside(&self, port: u16) -> std::io::Result<TcpStream> {
        let ns = self.container_ns.as_ref().ok_or_else(|| std::io::Error::other("the container has no network yet"))?;
        setns(ns)?;
        let s = TcpStream::connect(("127.0.0.1", port));
        setns(&self.host_ns)?;
        s
    }

    /// Handles a ready descriptor; false if it is not the relay's.
    pub fn handle(&mut self, fd: RawFd) -> bool {
        if let Some(port) = self.listeners.iter().find(|(l, _)| l.as_raw_fd() == fd).map(|(_, p)| *p) {
            loop {
                let accepted = self.listeners.iter().find(|(l, _)| l.as_raw_fd() == fd).map(|(l, _)| l.accept());
                let Some(Ok((client, _))) = accepted else { break };
                let Ok(inner) = self.connect_inside(port) else { continue }; // nothing listens: the client sees the close
                if client.set_nonblocking(true).is_ok() && inner.set_nonblocking(true).is_ok() {
                    self.pairs.push(Pair {
                        ends: [client, inner],
                        pending: [Vec::new(), Vec::new()],
                        reading: [true, true],
                    });
                }
            }
            return true;
        }
        let Some(i) = self.pairs.iter().position(|p| p.ends.iter().any(|e| e.as_raw_fd() == fd)) else {
            return false;
        };
        self.pairs[i].pump();
        if self.pairs[i].done() {
            self.pairs.remove(i);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dockers_forms() {
        let p = PortMap::parse("8080:80").unwrap();
        assert_eq!((p.host_ip.as_str(), p.host_port, p.container_port), ("0.0.0.0", 8080, 80));
        let p = PortMap::parse("127.0.0.1:9000:90/tcp").unwrap();
        assert_eq!((p.host_ip.as_str(), p.host_port, p.container_port), ("127.0.0.1", 9000, 90));
        assert_eq!(PortMap::parse("80").unwrap().host_port, 0);
        assert_eq!(PortMap::parse("127.0.0.1::80").unwrap().host_port, 0);
        assert!(PortMap::parse("53:53/udp").is_err());
        assert!(PortMap::parse("x:80").is_err());
        assert_eq!(p.display(), "127.0.0.1:9000->90/tcp");
    }
}
