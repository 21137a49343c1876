//! DNS queries from the host to the pod IP. The harness client binds UDP to loopback, which
//! cannot reach an address behind a veth, so UDP here binds the wildcard address; TCP uses
//! the harness client unchanged. Plus the answer checks the scenario needs.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use integration::harness::dns::{answer_ips, answer_strings};
use integration::harness::{DnsClient, Transport};
use tokio::net::UdpSocket;

/// Per-query timeout.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest UDP response read.
const MAX_UDP: usize = 65_535;

/// One query to `server` over `transport`.
pub async fn query(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    transport: Transport,
) -> anyhow::Result<Message> {
    let client = DnsClient {
        timeout: QUERY_TIMEOUT,
        ..DnsClient::new(server)
    };
    match transport {
        Transport::Tcp => Ok(client.tcp(name, rtype).await?),
        Transport::Udp => {
            let msg = client.build_query(name, rtype)?;
            let wire = msg.to_vec()?;
            let fut = async {
                let sock = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))).await?;
                sock.connect(server).await?;
                sock.send(&wire).await?;
                let mut buf = vec![0u8; MAX_UDP];
                loop {
                    let n = sock.recv(&mut buf).await?;
                    let resp = Message::from_vec(buf.get(..n).unwrap_or_default())
                        .context("unparsable UDP response")?;
                    // A late reply to an earlier query cannot arrive on this fresh socket,
                    // but keep the id check strict anyway.
                    if resp.metadata.id == msg.metadata.id {
                        return anyhow::Ok(resp);
                    }
                }
            };
            tokio::time::timeout(QUERY_TIMEOUT, fut)
                .await
                .with_context(|| format!("UDP query {name} {rtype} to {server} timed out"))?
        }
    }
}

/// What an answer must contain.
#[derive(Debug, Clone)]
pub enum Expect {
    /// NOERROR with exactly these A addresses.
    A(Vec<Ipv4Addr>),
    /// NOERROR with a CNAME to `target` (absolute) and then these A addresses.
    CnameThenA(String, Vec<Ipv4Addr>),
}

/// Checks `m` against `want`; the error describes what came back.
pub fn check(m: &Message, want: &Expect) -> anyhow::Result<()> {
    let got = || format!("{} {:?}", m.metadata.response_code, answer_strings(m));
    if m.metadata.response_code != ResponseCode::NoError {
        bail!("got {}", got());
    }
    let ips: Vec<Ipv4Addr> = answer_ips(m)
        .into_iter()
        .filter_map(|ip| match ip {
            std::net::IpAddr::V4(v4) => Some(v4),
            std::net::IpAddr::V6(_) => None,
        })
        .collect();
    let (target, want_ips) = match want {
        Expect::A(ips) => (None, ips),
        Expect::CnameThenA(t, ips) => (Some(t), ips),
    };
    let mut sorted = want_ips.clone();
    sorted.sort();
    if ips != sorted {
        bail!("want A {sorted:?}, got {}", got());
    }
    if let Some(t) = target {
        let has = m.answers.iter().any(|r| match &r.data {
            RData::CNAME(c) => c.0.to_ascii().eq_ignore_ascii_case(t),
            _ => false,
        });
        if !has {
            bail!("want CNAME {t}, got {}", got());
        }
    }
    Ok(())
}
