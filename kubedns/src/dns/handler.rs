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

use super::Limits;
use super::metrics::{DnsMetrics, ErrorCause};
use super::wire::{self, Incoming, ParsedQuery, TCP_LIMIT};
use crate::answer::{self, Answer, Response, System, lower_labels};
use crate::forward::{Forwarder, decode_reply};
use crate::store::Store;

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
        let q = match wire::classify(bytes, src, tcp) {
            Incoming::Drop => return Step::Done(None),
            Incoming::Reply(m) => {
                debug!(%src, rcode = %m.metadata.response_code, "rejected request");
                return Step::Done(self.finish(
                    m,
                    wire::PLAIN_UDP_LIMIT,
                    System::Auth,
                    RecordType::Unknown(0),
                    start,
                ));
            }
            Incoming::Query(q) => q,
        };
        let view = self.store.view();
        let labels = lower_labels(q.query.name());
        let qtype = q.query.query_type();
        let answer = answer::lookup_labels(
            &view,
            q.query.name(),
            &labels,
            qtype,
            q.query.query_class(),
            now_unix(),
        );
        let system = answer::system_of(&labels, &answer);
        debug!(%src, qname = %q.query.name(), ?qtype, ?system, "query");
        match answer {
            Answer::Local(r) => {
                let limit = self.limit(&q, tcp);
                let msg = wire::build_response(&q, r, self.limits.max_udp_payload);
                Step::Done(self.finish(msg, limit, system, qtype, start))
            }
            Answer::Forward => Step::Upstream(Box::new(Pending {
                q,
                chase: None,
                system,
                tcp,
                start,
            })),
            Answer::Chase {
                response,
                target,
                qtype: ct,
            } => {
                let mut cq = Query::query(target, ct);
                cq.set_query_class(DNSClass::IN);
                Step::Upstream(Box::new(Pending {
                    q,
                    chase: Some((response, cq)),
                    system,
                    tcp,
                    start,
                }))
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
                let reply = self
                    .forwarder
                    .forward(upstreams, &cq, true, false, p.tcp)
                    .await;
                let decoded = match &reply {
                    Ok(b) => decode_reply(b),
                    Err(err) => {
                        debug!(%err, target = %cq.name(), "ExternalName target lookup failed");
                        None
                    }
                };
                let view = self.store.view();
                let r = answer::complete_chase(&view, response, decoded.as_ref(), now_unix());
                let msg = wire::build_response(&p.q, r, self.limits.max_udp_payload);
                self.finish(msg, limit, p.system, qtype, p.start)
            }
        }
    }
}
