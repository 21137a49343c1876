//! The single request pipeline shared by the UDP and TCP loops: classify → dispatch to the
//! answer engine → (maybe) forward → encode with the size cap → report metrics.
//! Errors become RCODEs here and nowhere else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::debug;

use super::limits::Limits;
use super::metrics::{DnsMetrics, ErrorCause};
use super::reply_cache::{Hit, ReplyCache};
use super::wire::{self, Incoming, ParsedQuery, TCP_LIMIT};
use crate::answer::{self, Answer, Response, System, lower_labels};
use crate::forward::{Forwarder, decode_reply};
use crate::store::{Store, View};

/// Work that must wait on an upstream.
#[derive(Debug)]
pub struct Pending {
    q: ParsedQuery,
    chase: Option<(Response, Query)>,
    system: System,
    tcp: bool,
    start: Instant,
}

/// Result of the synchronous part of the pipeline.
#[derive(Debug)]
pub enum Step {
    /// Reply bytes to send (or `None`: drop).
    Done(Option<Vec<u8>>),
    /// Needs the forwarder.
    Upstream(Box<Pending>),
}

/// State shared by all socket loops.
pub struct Shared {
    pub(super) store: Store,
    pub(super) limits: Limits,
    pub(super) metrics: DnsMetrics,
    pub(super) forwarder: Forwarder,
    /// Permits for queries waiting on the forwarder (`Limits::max_inflight_udp`; TCP
    /// connections are bounded separately and wait in their own task).
    pub(super) forward_permits: Arc<Semaphore>,
    /// Encoded TCP replies shared by all connections ([`ReplyCache::for_tcp`]).
    pub(super) tcp_cache: std::sync::Mutex<ReplyCache>,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Shared {
    fn limit(&self, q: &ParsedQuery, tcp: bool) -> usize {
        if tcp {
            TCP_LIMIT
        } else {
            q.udp_limit(self.limits.max_udp_payload)
        }
    }

    /// Encode + count one reply.
    fn finish(
        &self,
        msg: Message,
        limit: usize,
        system: System,
        qtype: RecordType,
        start: Instant,
    ) -> Option<Vec<u8>> {
        let id = msg.metadata.id;
        let wanted = msg.metadata.response_code;
        match wire::encode_capped(msg, limit) {
            Ok(enc) => {
                if enc.rcode != wanted {
                    // did not fit in 65535 bytes over TCP
                    self.metrics.error(system, ErrorCause::Overflow);
                }
                self.metrics.observe(
                    system,
                    qtype,
                    enc.rcode,
                    enc.bytes.len(),
                    enc.truncated,
                    start.elapsed(),
                );
                Some(enc.bytes)
            }
            Err(err) => {
                debug!(%err, id, "cannot encode response");
                self.metrics.error(system, ErrorCause::Overflow);
                let mut m = Message::error_msg(
                    id,
                    hickory_proto::op::OpCode::Query,
                    ResponseCode::ServFail,
                );
                m.metadata.recursion_available = true;
                m.to_vec().ok()
            }
        }
    }

    /// Synchronous part: everything that needs no upstream.
    pub fn handle(&self, bytes: &[u8], src: SocketAddr, tcp: bool) -> Step {
        let start = Instant::now();
        self.handle_in(bytes, src, tcp, start, &self.store.view(), now_unix())
            .0
    }

    /// [`Shared::handle`] for UDP through the loop's reply cache: a hit skips parsing,
    /// lookup and encoding; a cacheable miss is stored (see [`super::reply_cache`]).
    pub fn handle_udp(&self, bytes: &[u8], src: SocketAddr, cache: &mut ReplyCache) -> Step {
        let start = Instant::now();
        let view = self.store.view();
        let now = now_unix();
        if let Some(hit) = cache.get(bytes, &view, now) {
            return self.cached(hit, src, start);
        }
        let (step, cacheable) = self.handle_in(bytes, src, false, start, &view, now);
        if let (Step::Done(Some(reply)), Some((system, qtype))) = (&step, cacheable) {
            cache.put(bytes, reply, &view, now, system, qtype);
        }
        step
    }

    /// [`Shared::handle`] for TCP through the shared TCP reply cache (locked only to look up
    /// and to store, never while an answer is computed).
    pub fn handle_tcp(&self, bytes: &[u8], src: SocketAddr) -> Step {
        let start = Instant::now();
        let view = self.store.view();
        let now = now_unix();
        let hit = self
            .tcp_cache
            .lock()
            .ok()
            .and_then(|mut c| c.get(bytes, &view, now));
        if let Some(hit) = hit {
            return self.cached(hit, src, start);
        }
        let (step, cacheable) = self.handle_in(bytes, src, true, start, &view, now);
        if let (Step::Done(Some(reply)), Some((system, qtype))) = (&step, cacheable)
            && let Ok(mut c) = self.tcp_cache.lock()
        {
            c.put(bytes, reply, &view, now, system, qtype);
        }
        step
    }

    fn cached(&self, hit: Hit, src: SocketAddr, start: Instant) -> Step {
        debug!(%src, qtype = ?hit.qtype, system = ?hit.system, "query (cached reply)");
        self.metrics.observe(
            hit.system,
            hit.qtype,
            hit.rcode,
            hit.reply.len(),
            hit.truncated,
            start.elapsed(),
        );
        Step::Done(Some(hit.reply))
    }

    /// The pipeline against one view; also says whether a reply may be cached (local
    /// class-IN answer encoded with the rcode it asked for) and with which metric labels.
    fn handle_in(
        &self,
        bytes: &[u8],
        src: SocketAddr,
        tcp: bool,
        start: Instant,
        view: &View,
        now: u64,
    ) -> (Step, Option<(System, RecordType)>) {
        let q = match wire::classify(bytes, src, tcp) {
            Incoming::Drop => return (Step::Done(None), None),
            Incoming::Reply(m) => {
                debug!(%src, rcode = %m.metadata.response_code, "rejected request");
                let reply = self.finish(
                    m,
                    wire::PLAIN_UDP_LIMIT,
                    System::Auth,
                    RecordType::Unknown(0),
                    start,
                );
                return (Step::Done(reply), None);
            }
            Incoming::Query(q) => q,
        };
        let labels = lower_labels(q.query.name());
        let qtype = q.query.query_type();
        let qclass = q.query.query_class();
        let answer = answer::lookup_labels(view, q.query.name(), &labels, qtype, qclass, now);
        let system = answer::system_of(&labels, &answer);
        debug!(%src, qname = %q.query.name(), ?qtype, ?system, "query");
        match answer {
            Answer::Local(r) => {
                let limit = self.limit(&q, tcp);
                let wanted = r.rcode.low();
                let msg = wire::build_response(&q, r, self.limits.max_udp_payload);
                let reply = self.finish(msg, limit, system, qtype, start);
                let cacheable = qclass == DNSClass::IN
                    && reply
                        .as_ref()
                        .is_some_and(|b| b.len() >= 12 && b[3] & 0x0f == wanted);
                (Step::Done(reply), cacheable.then_some((system, qtype)))
            }
            Answer::Forward => (
                Step::Upstream(Box::new(Pending {
                    q,
                    chase: None,
                    system,
                    tcp,
                    start,
                })),
                None,
            ),
            Answer::Chase {
                response,
                target,
                qtype: ct,
            } => {
                let mut cq = Query::query(target, ct);
                cq.set_query_class(DNSClass::IN);
                (
                    Step::Upstream(Box::new(Pending {
                        q,
                        chase: Some((response, cq)),
                        system,
                        tcp,
                        start,
                    })),
                    None,
                )
            }
        }
    }

    /// Reply when the forwarder capacity is exhausted.
    pub fn overloaded(&self, p: Box<Pending>) -> Option<Vec<u8>> {
        self.metrics.error(p.system, ErrorCause::Overflow);
        let limit = self.limit(&p.q, p.tcp);
        let msg = wire::servfail(&p.q, self.limits.max_udp_payload);
        self.finish(msg, limit, p.system, p.q.query.query_type(), p.start)
    }

    /// Asynchronous part: forward or chase, then encode.
    pub async fn complete(&self, p: Box<Pending>) -> Option<Vec<u8>> {
        let config = self.store.config();
        let upstreams = config.effective_upstreams();
        let limit = self.limit(&p.q, p.tcp);
        let qtype = p.q.query.query_type();
        match p.chase {
            None => {
                let res = self
                    .forwarder
                    .forward(
                        upstreams,
                        &p.q.query,
                        p.q.metadata.recursion_desired,
                        p.q.edns.is_some(),
                        p.tcp,
                    )
                    .await;
                match res {
                    Ok(mut bytes) => {
                        bytes[..2].copy_from_slice(&p.q.metadata.id.to_be_bytes());
                        if bytes.len() <= limit {
                            let rcode = ResponseCode::from_low(bytes[3] & 0x0f);
                            let tc = bytes[2] & 0x02 != 0;
                            self.metrics.observe(
                                p.system,
                                qtype,
                                rcode,
                                bytes.len(),
                                tc,
                                p.start.elapsed(),
                            );
                            return Some(bytes);
                        }
                        match decode_reply(&bytes) {
                            Some(m) => self.finish(m, limit, p.system, qtype, p.start),
                            None => {
                                let msg = wire::servfail(&p.q, self.limits.max_udp_payload);
                                self.finish(msg, limit, p.system, qtype, p.start)
                            }
                        }
                    }
                    Err(err) => {
                        debug!(%err, qname = %p.q.query.name(), "forwarding failed");
                        let msg = wire::servfail(&p.q, self.limits.max_udp_payload);
                        self.finish(msg, limit, p.system, qtype, p.start)
                    }
                }
            }
            Some((response, cq)) => {
                let r = self.chase(upstreams, response, cq, p.tcp).await;
                let msg = wire::build_response(&p.q, r, self.limits.max_udp_payload);
                self.finish(msg, limit, p.system, qtype, p.start)
            }
        }
    }

    /// Complete a CNAME chain that left the cluster zone, one upstream question at a time
    /// ([`answer::continue_chase`]). Every further question follows at least one more CNAME,
    /// so at most [`answer::MAX_CNAME_CHAIN`] + 1 are asked. Never stored in the reply
    /// caches: the answer depends on upstream data.
    async fn chase(
        &self,
        upstreams: &[SocketAddr],
        mut response: Response,
        mut cq: Query,
        tcp: bool,
    ) -> Response {
        loop {
            // A truncated UDP reply (it may miss the end of the chain, RFC 2181 §9) is
            // asked again over TCP by the upstream client.
            let reply = self
                .forwarder
                .forward(upstreams, &cq, true, false, tcp)
                .await;
            let decoded = match &reply {
                Ok(b) => decode_reply(b),
                Err(err) => {
                    debug!(%err, target = %cq.name(), "CNAME target lookup failed");
                    None
                }
            };
            let view = self.store.view();
            match answer::continue_chase(
                &view,
                response,
                cq.name(),
                cq.query_type(),
                decoded.as_ref(),
                now_unix(),
            ) {
                Answer::Local(r) => return r,
                Answer::Chase {
                    response: next,
                    target,
                    qtype,
                } => {
                    response = next;
                    cq = Query::query(target, qtype);
                    cq.set_query_class(DNSClass::IN);
                }
                // continue_chase never forwards; fail closed if that ever changes
                Answer::Forward => {
                    return Response::new(ResponseCode::ServFail, false, true);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{DnsServer, Limits};
    use crate::model::{Service, ServiceKind};

    fn svc(ip: [u8; 4]) -> Service {
        Service {
            namespace: "default".into(),
            name: "web".into(),
            kind: ServiceKind::ClusterIp(vec![ip.into()]),
            ports: vec![],
            resource_version: None,
        }
    }

    fn query(id: u16, name: &str) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = id;
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(
            hickory_proto::rr::Name::from_ascii(name).expect("name"),
            RecordType::A,
        ));
        m.to_vec().expect("encode")
    }

    fn done(step: Step) -> Vec<u8> {
        match step {
            Step::Done(Some(b)) => b,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    /// The cached UDP path answers byte for byte like the uncached one (ID and case
    /// included) and sees store changes at once.
    #[test]
    fn udp_reply_cache_matches_uncached_path_and_follows_store() {
        let store = crate::store::Standalone::new("cluster.local.");
        store.upsert_service(svc([10, 0, 0, 1]));
        store.set_synced();
        let server = DnsServer::new(
            store.reader(),
            Limits::default(),
            DnsMetrics::unregistered(),
        );
        let shared = server.shared();
        let src: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let mut cache = ReplyCache::default();
        for (id, name) in [
            (1, "web.default.svc.cluster.local."),
            (2, "web.default.svc.cluster.local."),
            (3, "WEB.default.svc.cluster.local."),
            (4, "nope.default.svc.cluster.local."),
            (5, "nope.default.svc.cluster.local."),
        ] {
            let q = query(id, name);
            let cached = done(shared.handle_udp(&q, src, &mut cache));
            let plain = done(shared.handle(&q, src, false));
            assert_eq!(cached, plain, "{name}");
        }
        assert_eq!(cache.len(), 3);
        store.upsert_service(svc([10, 0, 0, 2]));
        let q = query(6, "web.default.svc.cluster.local.");
        let after = done(shared.handle_udp(&q, src, &mut cache));
        assert_eq!(after, done(shared.handle(&q, src, false)));
        assert_eq!(&after[after.len() - 4..], &[10, 0, 0, 2]);
        assert_eq!(cache.len(), 1);
    }

    /// `--reply-cache-entries=0`: the same answers, nothing stored (UDP or TCP), and a store
    /// change is visible on the very next query.
    #[test]
    fn reply_caches_off_answer_the_same_and_store_nothing() {
        let store = crate::store::Standalone::new("cluster.local.");
        store.upsert_service(svc([10, 0, 0, 1]));
        store.set_synced();
        let limits = Limits {
            reply_cache_entries: 0,
            ..Limits::default()
        };
        let server = DnsServer::new(store.reader(), limits, DnsMetrics::unregistered());
        let shared = server.shared();
        let src: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let mut cache = ReplyCache::new(0);
        for (id, name) in [
            (1, "web.default.svc.cluster.local."),
            (2, "web.default.svc.cluster.local."),
            (3, "nope.default.svc.cluster.local."),
        ] {
            let q = query(id, name);
            let plain = done(shared.handle(&q, src, false));
            assert_eq!(
                done(shared.handle_udp(&q, src, &mut cache)),
                plain,
                "{name}"
            );
            assert_eq!(done(shared.handle_tcp(&q, src)), plain, "{name} (TCP)");
        }
        assert!(cache.is_empty());
        assert!(shared.tcp_cache.lock().expect("lock").is_empty());
        let q = query(4, "web.default.svc.cluster.local.");
        let before = done(shared.handle_udp(&q, src, &mut cache));
        assert_eq!(&before[before.len() - 4..], &[10, 0, 0, 1]);
        store.upsert_service(svc([10, 0, 0, 2]));
        for r in [
            done(shared.handle_udp(&q, src, &mut cache)),
            done(shared.handle_tcp(&q, src)),
        ] {
            assert_eq!(&r[r.len() - 4..], &[10, 0, 0, 2]);
        }
    }

    /// The same for the shared TCP cache, with a reply far larger than any UDP one.
    #[test]
    fn tcp_reply_cache_matches_uncached_path_and_follows_store() {
        let store = crate::store::Standalone::new("cluster.local.");
        store.upsert_service(Service {
            kind: ServiceKind::Headless,
            ..svc([10, 0, 0, 1])
        });
        let group = |last: u8| crate::model::EndpointGroup {
            namespace: "default".into(),
            service: "web".into(),
            key: crate::model::EndpointObject::Slice("web".into()),
            subsets: vec![crate::model::EndpointSubset {
                addresses: (0..1000u16)
                    .map(|i| crate::model::EndpointAddress {
                        ip: std::net::IpAddr::from([10, last, (i / 250) as u8, (i % 250) as u8]),
                        hostname: None,
                        ready: true,
                    })
                    .collect(),
                ports: vec![],
            }],
        };
        store.upsert_endpoints(group(1));
        store.set_synced();
        let server = DnsServer::new(
            store.reader(),
            Limits::default(),
            DnsMetrics::unregistered(),
        );
        let shared = server.shared();
        let src: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        for id in [1, 2, 3] {
            let q = query(id, "web.default.svc.cluster.local.");
            let cached = done(shared.handle_tcp(&q, src));
            assert_eq!(cached, done(shared.handle(&q, src, true)));
            assert!(
                cached.len() > 16_000,
                "all 1000 addresses: {}",
                cached.len()
            );
        }
        assert_eq!(shared.tcp_cache.lock().expect("lock").len(), 1);
        store.upsert_endpoints(group(2));
        let q = query(4, "web.default.svc.cluster.local.");
        let after = done(shared.handle_tcp(&q, src));
        assert_eq!(after, done(shared.handle(&q, src, true)));
        assert_eq!(after[after.len() - 4..after.len() - 2], [10, 2]);
    }
}
