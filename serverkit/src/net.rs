//! Sockets shared by the servers: binding with one policy, and which UDP sources may be
//! answered.
//!
//! **Dual-stack policy.** Every IPv6 socket is bound with `IPV6_V6ONLY` off, as Go's `net`
//! package (and so every legacy binary) did: a socket on `[::]` also serves IPv4 clients, seen
//! as IPv4-mapped addresses. The flag is set explicitly, so the host's
//! `net.ipv6.bindv6only` sysctl does not change behaviour. "All addresses" is therefore one
//! `[::]` socket, falling back to `0.0.0.0` on a host without IPv6 ([`bind_dns_wildcard`],
//! [`bind_tcp_all`]); binding `0.0.0.0` and `[::]` on the same port is neither needed nor
//! possible (the second bind fails with "address in use").

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

/// Listen backlog of every TCP listener.
pub const TCP_BACKLOG: i32 = 1024;

fn socket(addr: SocketAddr, ty: Type, proto: Protocol) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    if addr.is_ipv6() {
        s.set_only_v6(false)?;
    }
    Ok(s)
}

/// Binds `n` (at least 1) non-blocking UDP sockets to `addr` with `SO_REUSEPORT`, so the
/// kernel spreads clients over them; with port 0 the first socket picks the port and the
/// others join it. `recv_buffer` is the `SO_RCVBUF` asked for (the kernel may cap it).
pub fn bind_udp_group(
    addr: SocketAddr,
    n: usize,
    recv_buffer: usize,
) -> io::Result<Vec<std::net::UdpSocket>> {
    let mut out = Vec::with_capacity(n.max(1));
    let mut addr = addr;
    for _ in 0..n.max(1) {
        let s = socket(addr, Type::DGRAM, Protocol::UDP)?;
        s.set_reuse_port(true)?;
        // Best effort: a smaller buffer only means drops under bursts.
        let _ = s.set_recv_buffer_size(recv_buffer);
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        let sock: std::net::UdpSocket = s.into();
        addr = sock.local_addr()?;
        out.push(sock);
    }
    Ok(out)
}

/// Binds a non-blocking TCP listener (`SO_REUSEADDR`, backlog [`TCP_BACKLOG`]).
pub fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let s = socket(addr, Type::STREAM, Protocol::TCP)?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(TCP_BACKLOG)?;
    Ok(s.into())
}

/// A TCP listener on all addresses, like Go's `:<port>`: dual-stack `[::]`, else `0.0.0.0`.
pub fn bind_tcp_all(port: u16) -> io::Result<std::net::TcpListener> {
    bind_tcp(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port))
        .or_else(|_| bind_tcp(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port)))
}

/// The sockets of one DNS listening address: a `SO_REUSEPORT` UDP group and a TCP listener
/// on the same port (with port 0, the port the UDP group got).
pub fn bind_dns(
    addr: SocketAddr,
    udp_sockets: usize,
    udp_recv_buffer: usize,
) -> io::Result<(Vec<std::net::UdpSocket>, std::net::TcpListener)> {
    let udp = bind_udp_group(addr, udp_sockets, udp_recv_buffer)?;
    let port = udp
        .first()
        .map_or(Ok(addr.port()), |s| s.local_addr().map(|a| a.port()))?;
    let tcp = bind_tcp(SocketAddr::new(addr.ip(), port))?;
    Ok((udp, tcp))
}

/// [`bind_dns`] on all addresses: dual-stack `[::]`, else `0.0.0.0` (a host without IPv6).
pub fn bind_dns_wildcard(
    port: u16,
    udp_sockets: usize,
    udp_recv_buffer: usize,
) -> io::Result<(Vec<std::net::UdpSocket>, std::net::TcpListener)> {
    let v6 = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port);
    bind_dns(v6, udp_sockets, udp_recv_buffer).or_else(|e| {
        tracing::warn!(error = %e, "IPv6 not available; listening on IPv4 only");
        bind_dns(
            SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port),
            udp_sockets,
            udp_recv_buffer,
        )
    })
}

/// Whether a UDP source can be answered (house style B2, "sanitize the source"): never port
/// 0, an unspecified, broadcast or multicast address (also IPv4-mapped) — a reply there is
/// either undeliverable or a reflection towards many hosts. Such datagrams are dropped
/// without a reply.
#[inline]
pub fn answerable_source(src: SocketAddr) -> bool {
    if src.port() == 0 {
        return false;
    }
    match src.ip() {
        IpAddr::V4(ip) => !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast()),
        IpAddr::V6(ip) => {
            let mapped_bad = ip
                .to_ipv4_mapped()
                .is_some_and(|v4| v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast());
            !(ip.is_unspecified() || ip.is_multicast() || mapped_bad)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_shares_one_port_and_tcp_follows() {
        let (udp, tcp) = bind_dns("127.0.0.1:0".parse().unwrap(), 3, 1 << 16).unwrap();
        let port = udp[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        assert_eq!(udp.len(), 3);
        assert!(udp.iter().all(|s| s.local_addr().unwrap().port() == port));
        assert_eq!(tcp.local_addr().unwrap().port(), port);
        assert_eq!(
            bind_udp_group("127.0.0.1:0".parse().unwrap(), 0, 0)
                .unwrap()
                .len(),
            1
        );
    }

    /// The policy: an IPv6 wildcard socket also answers IPv4 clients (skipped on a host
    /// without IPv6, where the wildcard falls back to `0.0.0.0`).
    #[test]
    fn wildcard_is_dual_stack() {
        let (udp, _tcp) = bind_dns_wildcard(0, 1, 1 << 16).unwrap();
        let local = udp[0].local_addr().unwrap();
        if local.is_ipv4() {
            return;
        }
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .send_to(b"ping", ("127.0.0.1", local.port()))
            .unwrap();
        udp[0].set_nonblocking(false).unwrap();
        udp[0]
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 8];
        let (n, from) = udp[0].recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from.ip().to_canonical(), IpAddr::from([127, 0, 0, 1]));
        let l = bind_tcp_all(0).unwrap();
        let port = l.local_addr().unwrap().port();
        std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    }

    #[test]
    fn unanswerable_udp_sources() {
        for ok in [
            "10.0.0.1:5353",
            "127.0.0.1:1",
            "[fd00::1]:53",
            "[::ffff:10.0.0.1]:53",
        ] {
            assert!(answerable_source(ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "10.0.0.1:0",
            "0.0.0.0:53",
            "255.255.255.255:53",
            "224.0.0.251:5353",
            "[::]:53",
            "[ff02::fb]:5353",
            "[::ffff:255.255.255.255]:53",
            "[::ffff:239.1.1.1]:53",
            "[::ffff:0.0.0.0]:53",
        ] {
            assert!(!answerable_source(bad.parse().unwrap()), "{bad}");
        }
    }
}
