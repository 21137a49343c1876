//! A tiny authoritative upstream for `example.org.` on a loopback UDP port, so that both
//! servers chase out-of-cluster ExternalName targets against the same data instead of the
//! host's resolver: `www` has an A record, `alias` is a CNAME to `www`, `mail` has only MX;
//! every other name is NXDOMAIN and names outside `example.org.` are REFUSED. The answers are
//! fixed by this table; the comparison only needs both servers to see the same upstream.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, MX, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

/// The zone the upstream serves.
pub const ZONE: &str = "example.org.";
/// TTL of every upstream record (above the 30 s cluster TTL, to see capping).
const TTL: u32 = 300;
/// Largest query datagram read.
const MAX_QUERY: usize = 4096;

fn name(s: &str) -> Name {
    Name::from_str(s).expect("static name")
}

fn soa() -> Record {
    Record::from_rdata(
        name(ZONE),
        TTL,
        RData::SOA(SOA::new(
            name("ns.example.org."),
            name("hostmaster.example.org."),
            1,
            3600,
            600,
            86400,
            60,
        )),
    )
}

/// The records of `qname` (lower case) in the zone, or `None` when the name does not exist.
fn records(qname: &str) -> Option<Vec<Record>> {
    let n = name(qname);
    match qname {
        "example.org." => Some(vec![soa()]),
        "www.example.org." => Some(vec![Record::from_rdata(
            n,
            TTL,
            RData::A(A(Ipv4Addr::new(192, 0, 2, 80))),
        )]),
        "alias.example.org." => Some(vec![Record::from_rdata(
            n,
            TTL,
            RData::CNAME(CNAME(name("www.example.org."))),
        )]),
        "mail.example.org." => Some(vec![Record::from_rdata(
            n,
            TTL,
            RData::MX(MX::new(10, name("www.example.org."))),
        )]),
        _ => None,
    }
}

/// The reply to one query.
fn reply(q: &Message) -> Message {
    let mut r = Message::new(q.metadata.id, MessageType::Response, q.metadata.op_code);
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    let Some(query) = q.queries.first().cloned() else {
        r.metadata.response_code = ResponseCode::FormErr;
        return r;
    };
    r.add_query(query.clone());
    let qname = query.name().to_ascii().to_ascii_lowercase();
    if !name(ZONE).zone_of(&name(&qname)) {
        r.metadata.response_code = ResponseCode::Refused;
        return r;
    }
    r.metadata.authoritative = true;
    let Some(mut recs) = records(&qname) else {
        r.metadata.response_code = ResponseCode::NXDomain;
        r.add_authority(soa());
        return r;
    };
    let qtype = query.query_type();
    // A CNAME answers every type but CNAME itself by the alias plus the target's data.
    if let Some(target) = recs.iter().find_map(|rec| match &rec.data {
        RData::CNAME(c) if qtype != RecordType::CNAME => Some(c.0.to_ascii()),
        _ => None,
    }) {
        let tail = records(&target).unwrap_or_default();
        recs.extend(tail);
    }
    let matching: Vec<Record> = recs
        .into_iter()
        .filter(|rec| {
            let t = rec.record_type();
            t == qtype || qtype == RecordType::ANY || t == RecordType::CNAME
        })
        .collect();
    if matching.is_empty() {
        r.add_authority(soa());
    } else {
        r.add_answers(matching);
    }
    r
}

/// Serves until dropped (the task is aborted with the returned handle).
pub struct Upstream {
    /// Where it listens.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// Binds a loopback UDP port and starts answering.
    pub async fn start() -> anyhow::Result<Upstream> {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = sock.local_addr()?;
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_QUERY];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    continue;
                };
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if let Ok(wire) = reply(&q).to_vec() {
                    let _ = sock.send_to(&wire, peer).await;
                }
            }
        });
        Ok(Upstream { addr, task })
    }
}
