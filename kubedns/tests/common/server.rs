//! An in-process DnsServer on 127.0.0.1:0 (UDP and TCP) over a store holding a ClusterIP,
//! a 100-endpoint headless and an ExternalName Service, a fake loopback upstream, and raw
//! UDP/TCP query helpers.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, OpCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record};
use kubedns::dns::{DnsMetrics, DnsServer, Limits};
use kubedns::forward::{Forwarder, RealTransport};
use kubedns::model::{
    EndpointAddress, EndpointGroup, EndpointObject, EndpointSubset, Service, ServiceKind,
    ServicePort,
};
use kubedns::store::{DnsConfig, Standalone as Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

/// A running server; cancelled on drop so no task outlives the test.
pub struct Running {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub token: CancellationToken,
    pub upstream: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.token.cancel();
        if let Some(h) = self.upstream.take() {
            h.abort();
        }
    }
}

pub fn svc(name: &str, kind: ServiceKind) -> Service {
    Service {
        namespace: "default".into(),
        name: name.into(),
        kind,
        ports: vec![ServicePort {
            name: "https".into(),
            protocol: "TCP".into(),
            port: 443,
        }],
        resource_version: None,
    }
}

/// Fake upstream answering every A query with 192.0.2.1 (UDP), or silent.
pub async fn fake_upstream() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = sock.local_addr().expect("addr");
    let h = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut m = Message::response(q.metadata.id, OpCode::Query);
            m.metadata.recursion_available = true;
            m.metadata.recursion_desired = q.metadata.recursion_desired;
            m.add_queries(q.queries.clone());
            m.add_answer(Record::from_rdata(
                q.queries[0].name().clone(),
                600,
                RData::A(A([192, 0, 2, 1].into())),
            ));
            let _ = sock.send_to(&m.to_vec().expect("enc"), from).await;
        }
    });
    (addr, h)
}

pub async fn start(
    limits: Limits,
    upstreams: Vec<SocketAddr>,
    upstream: Option<tokio::task::JoinHandle<()>>,
) -> Running {
    let store = Store::new("cluster.local.");
    store.upsert_service(svc(
        "kubernetes",
        ServiceKind::ClusterIp(vec!["10.0.0.1".parse().expect("ip")]),
    ));
    store.upsert_service(svc("big", ServiceKind::Headless));
    store.upsert_endpoints(EndpointGroup {
        namespace: "default".into(),
        service: "big".into(),
        key: EndpointObject::Slice("big".into()),
        subsets: vec![EndpointSubset {
            addresses: (0..100u8)
                .map(|i| EndpointAddress {
                    ip: IpAddr::from([10, 2, 0, i]),
                    hostname: None,
                    ready: true,
                })
                .collect(),
            ports: vec![],
        }],
    });
    store.upsert_service(svc(
        "ext",
        ServiceKind::ExternalName("www.example.com".into()),
    ));
    store.set_config(DnsConfig {
        upstreams,
        ..Default::default()
    });
    store.set_synced();
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("tcp");
    let (ua, ta) = (udp.local_addr().expect("a"), tcp.local_addr().expect("a"));
    let fwd = Forwarder::new(Arc::new(RealTransport), Duration::from_millis(300));
    let server = DnsServer::with_forwarder(store.reader(), limits, DnsMetrics::unregistered(), fwd);
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move { server.run(vec![udp], vec![tcp], t).await });
    Running {
        udp: ua,
        tcp: ta,
        token,
        upstream,
    }
}

#[allow(unused_imports)] // each test crate uses a subset of `common`
pub use serverkit::testkit::query;

pub async fn udp_raw(server: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    s.send_to(bytes, server).await.expect("send");
    let mut buf = vec![0u8; 65535];
    match tokio::time::timeout(Duration::from_millis(1500), s.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

pub async fn udp(server: SocketAddr, bytes: &[u8]) -> (Message, usize) {
    let b = udp_raw(server, bytes).await.expect("reply");
    (Message::from_vec(&b).expect("decode"), b.len())
}

pub async fn tcp_send(s: &mut TcpStream, bytes: &[u8]) {
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    s.write_all(&out).await.expect("write");
}

pub async fn tcp_recv(s: &mut TcpStream) -> Message {
    let n = s.read_u16().await.expect("len");
    let mut buf = vec![0u8; usize::from(n)];
    s.read_exact(&mut buf).await.expect("body");
    Message::from_vec(&buf).expect("decode")
}
