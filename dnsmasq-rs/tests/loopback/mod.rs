//! Loopback helpers shared by the end-to-end test files: one-shot UDP queries, building a
//! [`Config`] from an argument string, and dnsmasq-rs serving on a loopback port ([`Front`]).
#![allow(dead_code)] // each test file uses a different part

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dnsmasq_rs::engine::Engine;
use dnsmasq_rs::reload::Reloader;
use dnsmasq_rs::run::{self, Sockets};
use dnsmasq_rs::testutil::*;
use dnsmasq_rs::upstream::RealTransport;
use dnsmasq_rs::{Config, flags, reload, server, wire};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

pub async fn udp_raw(server: SocketAddr, pkt: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    s.send_to(pkt, server).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(3), s.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

pub async fn udp_query(server: SocketAddr, name: &str, id: u16) -> Option<Vec<u8>> {
    let (pkt, _) = query_id(name, wire::TYPE_A, None, id);
    udp_raw(server, &pkt).await
}

pub fn build(args: &[String]) -> Config {
    let o = flags::parse_dnsmasq(args, &reload::read_fs, None).unwrap();
    Config::build(&o, &reload::read_fs).unwrap().0
}

pub fn sv(args: &str) -> Vec<String> {
    args.split_whitespace().map(String::from).collect()
}

/// dnsmasq-rs serving on 127.0.0.1 (UDP + TCP, same port); cancelled on drop.
pub struct Front {
    pub addr: SocketAddr,
    pub engine: Arc<Engine>,
    pub cancel: CancellationToken,
}

impl Drop for Front {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub async fn start_front(cfg: Config, reloader: Option<Reloader>, try_timeout: Duration) -> Front {
    let (udp, tcp) =
        serverkit::net::bind_dns("127.0.0.1:0".parse().unwrap(), 2, server::UDP_SO_RCVBUF).unwrap();
    let addr = udp[0].local_addr().unwrap();
    let engine = Engine::with_timeout(cfg, Arc::new(RealTransport), try_timeout);
    let sockets = Sockets {
        udp,
        tcp: vec![TcpListener::from_std(tcp).unwrap()],
        metrics: None,
    };
    let cancel = CancellationToken::new();
    tokio::spawn(run::run(
        Arc::clone(&engine),
        sockets,
        reloader,
        Duration::ZERO,
        Duration::from_secs(5),
        cancel.clone(),
    ));
    Front {
        addr,
        engine,
        cancel,
    }
}
