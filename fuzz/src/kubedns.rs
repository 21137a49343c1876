//! kubedns fixture: a small populated store (ClusterIP, dual-stack, headless with 100
//! endpoints and hostnames, named ports, ExternalName, a federation) behind the same
//! `Shared` pipeline the UDP/TCP loops use, and a fake upstream transport that replays
//! fuzz-chosen replies (ID patched to the upstream query's ID, so only the content is fuzzed).

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::io;

use kubedns::dns::{DnsMetrics, DnsServer, Limits, Shared};
use kubedns::forward::{Forwarder, Transport};
use serverkit::upstream::UdpChannel;
use kubedns::model::{
    EndpointAddress, EndpointGroup, EndpointObject, EndpointSubset, Service, ServiceKind,
    ServicePort,
};
use kubedns::store::{DnsConfig, Standalone as Store};

/// The fake upstream's address (never contacted: the transport is in-process).
pub fn upstream() -> SocketAddr {
    SocketAddr::new(IpAddr::from([192, 0, 2, 53]), 53)
}

/// Upstream replies queued by a fuzz input; each exchange takes the next one.
#[derive(Default)]
pub struct ReplayTransport {
    replies: Mutex<VecDeque<Vec<u8>>>,
    handed_out: Mutex<Vec<Vec<u8>>>,
}

impl ReplayTransport {
    /// Replace the queued replies.
    pub fn set(&self, replies: Vec<Vec<u8>>) {
        if let Ok(mut q) = self.replies.lock() {
            *q = replies.into();
        }
        if let Ok(mut h) = self.handed_out.lock() {
            h.clear();
        }
    }

    /// Every reply handed out (after the ID patch) since the last [`Self::set`].
    pub fn handed_out(&self) -> Vec<Vec<u8>> {
        self.handed_out
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }
}

impl ReplayTransport {
    /// The next queued reply with `query`'s ID, recorded as handed out; none left is an
    /// error, so the try ends at once.
    fn next_for(&self, query: &[u8]) -> io::Result<Vec<u8>> {
        let next = self.replies.lock().ok().and_then(|mut q| q.pop_front());
        let mut reply = next.ok_or_else(|| io::Error::other("fake upstream: no reply"))?;
        if reply.len() >= 2 && query.len() >= 2 {
            reply[..2].copy_from_slice(&query[..2]);
        }
        if let Ok(mut h) = self.handed_out.lock() {
            h.push(reply.clone());
        }
        Ok(reply)
    }
}

/// One UDP channel of [`ReplayTransport`]: the reply comes from the server's address.
struct ReplayUdp {
    owner: Arc<ReplayTransport>,
    server: SocketAddr,
    sent: Vec<u8>,
}

#[async_trait::async_trait]
impl UdpChannel for ReplayUdp {
    async fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        self.sent = buf.to_vec();
        Ok(())
    }
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let reply = self.owner.next_for(&self.sent)?;
        let n = reply.len().min(buf.len());
        buf[..n].copy_from_slice(&reply[..n]);
        Ok((n, self.server))
    }
}

/// The transport handed to the forwarder: channels share the queue.
#[derive(Clone)]
pub struct SharedReplay(pub Arc<ReplayTransport>);

#[async_trait::async_trait]
impl Transport for SharedReplay {
    async fn udp(&self, server: SocketAddr) -> io::Result<Box<dyn UdpChannel>> {
        Ok(Box::new(ReplayUdp {
            owner: Arc::clone(&self.0),
            server,
            sent: Vec::new(),
        }))
    }
    async fn tcp(&self, _server: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
        self.0.next_for(query)
    }
}

fn port(name: &str, protocol: &str, port: u16) -> ServicePort {
    ServicePort {
        name: name.into(),
        protocol: protocol.into(),
        port,
    }
}

fn service(name: &str, kind: ServiceKind, ports: Vec<ServicePort>) -> Service {
    Service {
        namespace: "default".into(),
        name: name.into(),
        kind,
        ports,
        resource_version: None,
    }
}

/// The populated store shared by the kubedns targets.
pub fn store(synced: bool) -> Store {
    let store = Store::new("cluster.local.");
    store.upsert_service(service(
        "kubernetes",
        ServiceKind::ClusterIp(vec![IpAddr::from([10, 0, 0, 1])]),
        vec![port("https", "TCP", 443)],
    ));
    store.upsert_service(service(
        "dual",
        ServiceKind::ClusterIp(vec![
            IpAddr::from([10, 0, 0, 2]),
            "fd00::2".parse().unwrap_or(IpAddr::from([0u8; 16])),
        ]),
        vec![port("dns", "UDP", 53), port("dns-tcp", "TCP", 53)],
    ));
    store.upsert_service(service("big", ServiceKind::Headless, vec![]));
    store.upsert_endpoints(EndpointGroup {
        namespace: "default".into(),
        service: "big".into(),
        key: EndpointObject::Slice("big".into()),
        subsets: vec![EndpointSubset {
            addresses: (0..100u8)
                .map(|i| EndpointAddress {
                    ip: IpAddr::from([10, 2, 0, i]),
                    hostname: (i % 3 == 0).then(|| format!("host-{i}")),
                    ready: i % 10 != 9,
                })
                .collect(),
            ports: vec![port("http", "TCP", 80), port("", "UDP", 5353)],
        }],
    });
    store.upsert_service(service(
        "ext",
        ServiceKind::ExternalName("www.example.com".into()),
        vec![],
    ));
    store.upsert_service(service(
        "inzone",
        ServiceKind::ExternalName("kubernetes.default.svc.cluster.local".into()),
        vec![],
    ));
    let mut federations = BTreeMap::new();
    federations.insert("myfed".to_string(), "example.com".to_string());
    store.set_config(DnsConfig {
        federations,
        upstreams: vec![upstream()],
        resolv_conf_upstreams: vec![],
    });
    store.set_federation_zone(Some(("us-central1-a".into(), "us-central1".into())));
    if synced {
        store.set_synced();
    }
    store
}

/// A pipeline over the fixture store, with its replay transport.
pub struct Fixture {
    /// The request pipeline (same as the socket loops).
    pub shared: Arc<Shared>,
    /// Upstream replies for the forward / chase paths.
    pub transport: Arc<ReplayTransport>,
}

/// Build a fixture.
pub fn fixture(synced: bool) -> Fixture {
    let transport = Arc::new(ReplayTransport::default());
    let fwd = Forwarder::new(
        Arc::new(SharedReplay(transport.clone())),
        Duration::from_millis(100),
    );
    let server = DnsServer::with_forwarder(
        store(synced).reader(),
        Limits::default(),
        DnsMetrics::unregistered(),
        fwd,
    );
    Fixture {
        shared: server.shared(),
        transport,
    }
}

/// A current-thread runtime for the asynchronous half of the pipeline.
pub fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot build a tokio runtime: {e}"),
    }
}
