//! Datagram I/O of the UDP loop ([`super::udp`]): a [`Batch`] of received queries with their
//! sources and reply buffers, and the sends.
//!
//! On Linux one `recvmmsg` reads up to [`UdpConfig::batch`](super::udp::UdpConfig::batch)
//! datagrams (blocking for the first only: `MSG_WAITFORONE`) and one `sendmmsg` sends the
//! replies answered from them, so a loop under load pays two system calls per batch instead of
//! two per query (through `nix`: the workspace has no `unsafe`). Elsewhere (the portable
//! fallback) a batch holds one datagram (`recvmsg`) and each reply is one `sendto`. Every call
//! states its blocking behaviour with flags (`MSG_DONTWAIT`), never with the socket's
//! `O_NONBLOCK`, which is shared by every loop reading the same socket. Replies completed later
//! by tasks are sent one by one as they complete ([`send_nonblocking`]).

use std::io;
use std::io::IoSliceMut;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{self, MsgFlags, SockaddrStorage};

/// Default batch size: datagrams read by one `recvmmsg` (and at most replies in one
/// `sendmmsg`). 32 × 4 KiB of receive buffers per loop.
pub const DEFAULT_UDP_BATCH: usize = 32;

fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    a.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

fn log_send_error(e: impl std::fmt::Display, dst: Option<SocketAddr>) {
    tracing::debug!(error = %e, ?dst, "UDP send error");
}

/// Sends one datagram without blocking (from tasks); a full send buffer drops it, as the kernel
/// would under load.
pub fn send_nonblocking(sock: &std::net::UdpSocket, buf: &[u8], dst: SocketAddr) {
    let to = SockaddrStorage::from(dst);
    if let Err(e) = socket::sendto(sock.as_raw_fd(), buf, &to, MsgFlags::MSG_DONTWAIT) {
        log_send_error(e, Some(dst));
    }
}

/// Received datagrams, their sources and their replies (buffers reused from batch to batch).
pub struct Batch {
    bufs: Vec<Vec<u8>>,
    lens: Vec<usize>,
    /// `None`: a source that is not IPv4/IPv6 (never answered).
    peers: Vec<Option<SocketAddr>>,
    held: usize,
    replies: Vec<Vec<u8>>,
    /// Slots whose reply is to be sent, in arrival order.
    queued: Vec<usize>,
    #[cfg(target_os = "linux")]
    mmsg: linux::Headers,
}

impl Batch {
    /// Room for `batch` (at least 1) datagrams of up to `recv_buffer` bytes each.
    pub fn new(recv_buffer: usize, batch: usize) -> Self {
        let batch = batch.max(1);
        Batch {
            bufs: vec![vec![0; recv_buffer.max(1)]; batch],
            lens: vec![0; batch],
            peers: vec![None; batch],
            held: 0,
            replies: (0..batch).map(|_| Vec::with_capacity(512)).collect(),
            queued: Vec::with_capacity(batch),
            #[cfg(target_os = "linux")]
            mmsg: linux::Headers::new(batch),
        }
    }

    /// Receives (`wait`: block for the first datagram up to the socket's read timeout, take
    /// the others already queued); returns how many datagrams the batch now holds.
    pub fn recv(&mut self, sock: &std::net::UdpSocket, wait: bool) -> io::Result<usize> {
        self.held = 0;
        self.queued.clear();
        #[cfg(target_os = "linux")]
        {
            let flags = if wait {
                MsgFlags::MSG_WAITFORONE
            } else {
                MsgFlags::MSG_DONTWAIT
            };
            self.held =
                self.mmsg
                    .recv(sock, &mut self.bufs, &mut self.lens, &mut self.peers, flags)?;
        }
        #[cfg(not(target_os = "linux"))]
        {
            let flags = if wait {
                MsgFlags::empty()
            } else {
                MsgFlags::MSG_DONTWAIT
            };
            let mut iov = [IoSliceMut::new(&mut self.bufs[0])];
            let r = socket::recvmsg::<SockaddrStorage>(sock.as_raw_fd(), &mut iov, None, flags)
                .map_err(io::Error::from)?;
            self.lens[0] = r.bytes;
            self.peers[0] = r.address.as_ref().and_then(to_std);
            self.held = 1;
        }
        Ok(self.held)
    }

    /// Number of datagrams held.
    pub fn len(&self) -> usize {
        self.held
    }

    /// Whether the batch holds no datagram.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Datagram `i`: its bytes, its source (`None` when not an IP address) and its reply
    /// buffer.
    pub fn slot(&mut self, i: usize) -> (&[u8], Option<SocketAddr>, &mut Vec<u8>) {
        (
            &self.bufs[i][..self.lens[i]],
            self.peers[i],
            &mut self.replies[i],
        )
    }

    /// Marks datagram `i`'s reply buffer as a reply to send.
    pub fn queue_reply(&mut self, i: usize) {
        self.queued.push(i);
    }

    /// Sends the queued replies (blocking: a full socket buffer waits, as a server should). A
    /// reply that fails is logged and skipped; the others are still sent.
    pub fn send_replies(&mut self, sock: &std::net::UdpSocket) {
        if self.queued.is_empty() {
            return;
        }
        #[cfg(target_os = "linux")]
        self.mmsg
            .send(sock, &self.replies, &self.peers, &self.queued);
        #[cfg(not(target_os = "linux"))]
        for &i in &self.queued {
            if let Some(dst) = self.peers[i]
                && let Err(e) = sock.send_to(&self.replies[i], dst)
            {
                log_send_error(e, Some(dst));
            }
        }
        self.queued.clear();
    }
}

#[cfg(target_os = "linux")]
mod linux {
    //! `recvmmsg`/`sendmmsg` with preallocated headers.

    use super::*;
    use nix::sys::socket::MultiHeaders;
    use std::io::IoSlice;

    pub(super) struct Headers {
        recv: MultiHeaders<SockaddrStorage>,
        send: MultiHeaders<SockaddrStorage>,
        addrs: Vec<Option<SockaddrStorage>>,
    }

    impl Headers {
        pub(super) fn new(batch: usize) -> Self {
            Headers {
                recv: MultiHeaders::preallocate(batch, None),
                send: MultiHeaders::preallocate(batch, None),
                addrs: Vec::with_capacity(batch),
            }
        }

        pub(super) fn recv(
            &mut self,
            sock: &std::net::UdpSocket,
            bufs: &mut [Vec<u8>],
            lens: &mut [usize],
            peers: &mut [Option<SocketAddr>],
            flags: MsgFlags,
        ) -> io::Result<usize> {
            let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
                bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            let got = socket::recvmmsg(sock.as_raw_fd(), &mut self.recv, &mut iovs, flags, None)
                .map_err(io::Error::from)?;
            let mut n = 0;
            for (r, (len, peer)) in got.zip(lens.iter_mut().zip(peers.iter_mut())) {
                *len = r.bytes;
                *peer = r.address.as_ref().and_then(to_std);
                n += 1;
            }
            Ok(n)
        }

        pub(super) fn send(
            &mut self,
            sock: &std::net::UdpSocket,
            replies: &[Vec<u8>],
            peers: &[Option<SocketAddr>],
            queued: &[usize],
        ) {
            let mut rest: Vec<usize> = queued
                .iter()
                .copied()
                .filter(|&i| peers[i].is_some())
                .collect();
            while !rest.is_empty() {
                self.addrs.clear();
                self.addrs
                    .extend(rest.iter().map(|&i| peers[i].map(SockaddrStorage::from)));
                let iovs: Vec<[IoSlice<'_>; 1]> =
                    rest.iter().map(|&i| [IoSlice::new(&replies[i])]).collect();
                let sent = socket::sendmmsg(
                    sock.as_raw_fd(),
                    &mut self.send,
                    &iovs,
                    &self.addrs,
                    [],
                    MsgFlags::empty(),
                )
                .map(|r| r.count());
                // The kernel stops at the first failing message: report it and go on after it.
                let skip = match sent {
                    Ok(n) if n > 0 => n,
                    Ok(_) => 1,
                    Err(e) => {
                        log_send_error(e, peers[rest[0]]);
                        1
                    }
                };
                rest.drain(..skip.min(rest.len()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    /// Datagrams already queued come in one batch (one on the portable path), in order, and
    /// the replies queued for some of them go back in one send, to the right sources.
    #[test]
    fn one_batch_in_one_batch_out() {
        let srv = UdpSocket::bind("127.0.0.1:0").unwrap();
        srv.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let (a, b) = (
            UdpSocket::bind("127.0.0.1:0").unwrap(),
            UdpSocket::bind("127.0.0.1:0").unwrap(),
        );
        for (i, c) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
            c.send_to(&[i as u8; 20], srv.local_addr().unwrap())
                .unwrap();
        }
        let mut batch = Batch::new(64, 4);
        let n = batch.recv(&srv, true).unwrap();
        let expect = if cfg!(target_os = "linux") { 4 } else { 1 };
        assert_eq!(n, expect, "at most the batch size");
        for i in 0..n {
            let (q, peer, reply) = batch.slot(i);
            assert_eq!(q, &[i as u8; 20]);
            let from = if i % 2 == 0 { &a } else { &b };
            assert_eq!(peer, Some(from.local_addr().unwrap()));
            reply.clear();
            reply.extend_from_slice(&[0xA0 + i as u8; 3]);
            if i != 1 {
                batch.queue_reply(i);
            }
        }
        batch.send_replies(&srv);
        a.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(a.recv(&mut buf).unwrap(), 3);
        assert_eq!(buf[0], 0xA0);
        if n == 4 {
            assert_eq!(a.recv(&mut buf).unwrap(), 3);
            assert_eq!(buf[0], 0xA2);
            b.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            assert_eq!(b.recv(&mut buf).unwrap(), 3);
            assert_eq!(buf[0], 0xA3, "slot 1 was not queued");
        }
        // The fifth datagram is the next batch; without waiting, an empty queue is WouldBlock.
        if n == 4 {
            assert_eq!(batch.recv(&srv, false).unwrap(), 1);
            let e = batch.recv(&srv, false).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
            assert!(batch.is_empty());
        }
    }
}
