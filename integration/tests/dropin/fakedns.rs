//! In-process authoritative DNS servers standing in for the node's resolvers: the "upstream"
//! named in the pod's resolv.conf, a second upstream the ConfigMap switches to, and a stub
//! domain server. UDP (RFC 1035 §4.2.1) and TCP with the two-byte length prefix (§4.2.2) on
//! the same port. Names in the table get A answers (AA=1); other types of a known name get
//! NODATA; anything else NXDOMAIN. Every query is counted, so a test can tell which server
//! answered.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType, rdata};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

/// Largest UDP query read.
const MAX_UDP: usize = 4096;
/// Attempts to find a port free on both UDP and TCP when binding port 0.
const BIND_ATTEMPTS: usize = 20;

/// One A record served by a fake server.
#[derive(Debug, Clone)]
pub struct FakeRecord {
    /// Owner name, absolute (`upstream.example.`).
    pub name: &'static str,
    /// Address.
    pub ip: Ipv4Addr,
    /// TTL in seconds.
    pub ttl: u32,
}

/// A running fake server; stops when dropped.
pub struct FakeDns {
    /// Bound address (UDP and TCP).
    pub addr: SocketAddr,
    queries: Arc<AtomicU64>,
    token: CancellationToken,
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

type Table = Arc<HashMap<String, FakeRecord>>;

impl FakeDns {
    /// Binds UDP+TCP on `bind` (port 0: a port free on both) and serves `records`.
    pub async fn start(bind: SocketAddr, records: &[FakeRecord]) -> anyhow::Result<FakeDns> {
        let (udp, tcp) = bind_pair(bind).await?;
        let addr = udp.local_addr()?;
        let table: Table = Arc::new(
            records
                .iter()
                .map(|r| (r.name.to_ascii_lowercase(), r.clone()))
                .collect(),
        );
        let queries = Arc::new(AtomicU64::new(0));
        let token = CancellationToken::new();
        tokio::spawn(serve_udp(
            udp,
            table.clone(),
            queries.clone(),
            token.clone(),
        ));
        tokio::spawn(serve_tcp(tcp, table, queries.clone(), token.clone()));
        Ok(FakeDns {
            addr,
            queries,
            token,
        })
    }

    /// Queries received so far (UDP and TCP).
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }
}

async fn bind_pair(bind: SocketAddr) -> anyhow::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..BIND_ATTEMPTS {
        let udp = UdpSocket::bind(bind)
            .await
            .with_context(|| format!("binding fake DNS UDP {bind}"))?;
        let addr = udp.local_addr()?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if bind.port() == 0 => last = Some(e),
            Err(e) => return Err(e).with_context(|| format!("binding fake DNS TCP {addr}")),
        }
    }
    Err(anyhow::anyhow!(
        "no port free on both UDP and TCP at {bind}: {last:?}"
    ))
}

/// Builds the answer to one query packet (None: not a query worth answering).
fn answer(table: &HashMap<String, FakeRecord>, packet: &[u8]) -> Option<Vec<u8>> {
    let req = Message::from_vec(packet).ok()?;
    if req.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.metadata.authoritative = true;
    let Some(q) = req.queries.first() else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return resp.to_vec().ok();
    };
    resp.add_query(q.clone());
    let key = q.name().to_ascii().to_ascii_lowercase();
    match table.get(&key) {
        Some(r) if q.query_type() == RecordType::A => {
            let name = Name::from_ascii(r.name).ok()?;
            resp.add_answer(Record::from_rdata(name, r.ttl, RData::A(rdata::A(r.ip))));
        }
        Some(_) => {}
        None => resp.metadata.response_code = ResponseCode::NXDomain,
    }
    resp.to_vec().ok()
}

async fn serve_udp(
    sock: UdpSocket,
    table: Table,
    queries: Arc<AtomicU64>,
    token: CancellationToken,
) {
    let mut buf = vec![0u8; MAX_UDP];
    loop {
        let (n, peer) = tokio::select! {
            _ = token.cancelled() => return,
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(_) => continue,
            },
        };
        queries.fetch_add(1, Ordering::Relaxed);
        if let Some(out) = buf.get(..n).and_then(|p| answer(&table, p)) {
            let _ = sock.send_to(&out, peer).await;
        }
    }
}

async fn serve_tcp(
    listener: TcpListener,
    table: Table,
    queries: Arc<AtomicU64>,
    token: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            _ = token.cancelled() => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
        };
        let (table, queries, token) = (table.clone(), queries.clone(), token.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = serve_conn(stream, &table, &queries) => {}
            }
        });
    }
}

async fn serve_conn(
    mut s: TcpStream,
    table: &HashMap<String, FakeRecord>,
    queries: &AtomicU64,
) -> std::io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut buf).await?;
        queries.fetch_add(1, Ordering::Relaxed);
        let Some(out) = answer(table, &buf) else {
            continue;
        };
        let Ok(n) = u16::try_from(out.len()) else {
            continue;
        };
        let mut framed = n.to_be_bytes().to_vec();
        framed.extend_from_slice(&out);
        s.write_all(&framed).await?;
    }
}
