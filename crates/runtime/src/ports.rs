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
    /// Open connections: host side, container side, and which directions still flow.
    pairs: Vec<(TcpStream, TcpStream, [bool; 2])>,
}

fn setns(ns: &File) -> std::io::Result<()> {
    // SAFETY: setns on an open namespace file of this single-threaded process.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
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

    /// The descriptors to poll for reading.
    pub fn fds(&self) -> Vec<RawFd> {
        let mut out: Vec<RawFd> = self.listeners.iter().map(|(l, _)| l.as_raw_fd()).collect();
        for (a, b, open) in &self.pairs {
            if open[0] {
                out.push(a.as_raw_fd());
            }
            if open[1] {
                out.push(b.as_raw_fd());
            }
        }
        out
    }

    /// A connection to the container's `port`, made from inside its namespace.
    fn connect_inside(&self, port: u16) -> std::io::Result<TcpStream> {
        let ns = self.container_ns.as_ref().ok_or_else(|| std::io::Error::other("the container has no network yet"))?;
        setns(ns)?;
        let s = TcpStream::connect(("127.0.0.1", port));
        setns(&self.host_ns)?;
        s
    }

    /// Handles a readable descriptor; false if it is not the relay's.
    pub fn handle(&mut self, fd: RawFd) -> bool {
        if let Some(port) = self.listeners.iter().find(|(l, _)| l.as_raw_fd() == fd).map(|(_, p)| *p) {
            let listener = self.listeners.iter().find(|(l, _)| l.as_raw_fd() == fd).map(|(l, _)| l);
            while let Some(Ok((client, _))) = listener.map(|l| l.accept()) {
                let _ = client.set_nonblocking(false);
                match self.connect_inside(port) {
                    Ok(inner) => self.pairs.push((client, inner, [true, true])),
                    Err(_) => drop(client), // nothing listens: the client sees the close
                }
            }
            return true;
        }
        let Some(i) = self.pairs.iter().position(|(a, b, _)| a.as_raw_fd() == fd || b.as_raw_fd() == fd) else {
            return false;
        };
        let mut buf = [0u8; 64 * 1024];
        let (a, b, open) = &mut self.pairs[i];
        let (from, to, dir) = if a.as_raw_fd() == fd { (&*a, &*b, 0) } else { (&*b, &*a, 1) };
        let mut from_r = from;
        let mut to_w = to;
        match from_r.read(&mut buf) {
            Ok(n) if n > 0 => {
                if to_w.write_all(&buf[..n]).is_err() {
                    *open = [false, false];
                }
            }
            _ => {
                open[dir] = false;
                let _ = to.shutdown(Shutdown::Write);
            }
        }
        if !open[0] && !open[1] {
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
