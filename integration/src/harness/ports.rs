//! Free loopback ports. A DNS port must be free for both UDP and TCP, so candidates are
//! checked on both; the sockets are released before the port is handed out, so a small race
//! with other processes remains (callers retry on bind failure where it matters).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

/// Attempts before giving up on finding a port free on both protocols.
const ATTEMPTS: usize = 64;

/// A TCP port free on 127.0.0.1.
pub fn free_tcp_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A port free on 127.0.0.1 for both UDP and TCP.
pub fn free_dns_port() -> std::io::Result<u16> {
    for _ in 0..ATTEMPTS {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no port free for both UDP and TCP",
    ))
}

/// Whether `addr` can be bound for both UDP and TCP right now.
pub fn dns_port_free(addr: SocketAddr) -> bool {
    TcpListener::bind(addr).is_ok() && UdpSocket::bind(addr).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_port_is_free_on_both() {
        // Other tests of this binary bind ports concurrently and may take the one just handed
        // out (the race the module header describes), so a few rounds are allowed.
        let free = (0..8).any(|_| {
            let p = free_dns_port().expect("port");
            dns_port_free(SocketAddr::from((Ipv4Addr::LOCALHOST, p)))
        });
        assert!(
            free,
            "no port from free_dns_port was free on both protocols"
        );
        let busy = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = busy.local_addr().expect("addr");
        assert!(!dns_port_free(addr));
    }
}
