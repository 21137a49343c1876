//! The deterministic scenario harness shared by the scenario test files (house-style B4,
//! testbound-style): a fake upstream [`Transport`] that hands every outgoing query to the
//! test, which answers it (well or adversarially) while tokio time is paused. No sockets.
#![allow(dead_code)] // each test file uses a different part

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use dnsmasq_rs::config::Config;
use dnsmasq_rs::engine::Engine;
use dnsmasq_rs::testutil::*;
use dnsmasq_rs::upstream::{Transport, UdpChannel};
use dnsmasq_rs::{flags, wire};
use tokio::sync::mpsc;

type Reply = (Vec<u8>, SocketAddr);

/// One query the forwarder sent upstream, with a handle to answer it.
pub struct OutQuery {
    pub server: SocketAddr,
    pub bytes: Vec<u8>,
    pub reply: mpsc::UnboundedSender<Reply>,
}

impl OutQuery {
    pub fn id(&self) -> u16 {
        u16::from_be_bytes([self.bytes[0], self.bytes[1]])
    }
    /// A reply from the right server (same ID and question).
    pub fn answer(&self, records: &[(&str, u32, [u8; 4])]) {
        self.inject(answer_a(&self.bytes, records, false), self.server);
    }
    pub fn inject(&self, bytes: Vec<u8>, from: SocketAddr) {
        let _ = self.reply.send((bytes, from));
    }
}

pub type TcpFn = dyn Fn(SocketAddr, &[u8]) -> io::Result<Vec<u8>> + Send + Sync;

pub struct FakeTransport {
    pub out: mpsc::UnboundedSender<OutQuery>,
    pub tcp: std::sync::Mutex<Option<Box<TcpFn>>>,
    pub tcp_calls: AtomicUsize,
}

struct FakeUdp {
    server: SocketAddr,
    out: mpsc::UnboundedSender<OutQuery>,
    reply_tx: mpsc::UnboundedSender<Reply>,
    reply_rx: mpsc::UnboundedReceiver<Reply>,
}

#[async_trait]
impl UdpChannel for FakeUdp {
    async fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        let _ = self.out.send(OutQuery {
            server: self.server,
            bytes: buf.to_vec(),
            reply: self.reply_tx.clone(),
        });
        Ok(())
    }
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match self.reply_rx.recv().await {
            Some((b, from)) => {
                let n = b.len().min(buf.len());
                buf[..n].copy_from_slice(&b[..n]);
                Ok((n, from))
            }
            None => std::future::pending().await,
        }
    }
}

#[async_trait]
impl Transport for FakeTransport {
    async fn udp(&self, server: SocketAddr) -> io::Result<Box<dyn UdpChannel>> {
        let (reply_tx, reply_rx) = mpsc::unbounded_channel();
        Ok(Box::new(FakeUdp {
            server,
            out: self.out.clone(),
            reply_tx,
            reply_rx,
        }))
    }
    async fn tcp(&self, server: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
        self.tcp_calls.fetch_add(1, Ordering::SeqCst);
        match self.tcp.lock().unwrap().as_ref() {
            Some(f) => f(server, query),
            None => Err(io::Error::from(io::ErrorKind::ConnectionRefused)),
        }
    }
}

pub struct Harness {
    pub engine: Arc<Engine>,
    pub transport: Arc<FakeTransport>,
    pub out: mpsc::UnboundedReceiver<OutQuery>,
}

pub const UP1: &str = "127.0.0.1:10053";

/// The flags of a harness forwarding to [`UP1`] only.
pub fn up1() -> String {
    format!("--no-resolv --server={}", UP1.replace(':', "#"))
}

pub const UP2: &str = "127.0.0.2:53";

pub fn config(args: &str) -> Config {
    let args: Vec<String> = args.split_whitespace().map(String::from).collect();
    let nofs = |_: &std::path::Path| -> io::Result<String> { Err(io::Error::other("no fs")) };
    let o = flags::parse_dnsmasq(&args, &nofs, None).unwrap();
    Config::build(&o, &nofs).unwrap().0
}

pub fn harness(args: &str) -> Harness {
    let (tx, rx) = mpsc::unbounded_channel();
    let transport = Arc::new(FakeTransport {
        out: tx,
        tcp: std::sync::Mutex::new(None),
        tcp_calls: AtomicUsize::new(0),
    });
    let engine = Engine::with_timeout(config(args), transport.clone(), Duration::from_secs(2));
    Harness {
        engine,
        transport,
        out: rx,
    }
}

pub fn client() -> SocketAddr {
    "10.0.0.9:40000".parse().unwrap()
}

impl Harness {
    pub fn ask(&self, name: &str, id: u16) -> tokio::task::JoinHandle<Vec<u8>> {
        let engine = Arc::clone(&self.engine);
        let (pkt, _) = query_id(name, wire::TYPE_A, None, id);
        tokio::spawn(async move {
            let mut out = Vec::new();
            assert!(engine.handle(&pkt, client(), true, &mut out).await);
            out
        })
    }
    pub async fn expect_out(&mut self) -> OutQuery {
        tokio::time::timeout(Duration::from_secs(60), self.out.recv())
            .await
            .expect("an upstream query")
            .expect("channel open")
    }
    pub fn no_out(&mut self) -> bool {
        self.out.try_recv().is_err()
    }
}

pub async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}
