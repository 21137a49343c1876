//! One try against one server ([`exchange`]): the RFC 5452 §9 UDP wait and the TCP retry.
//!
//! A fresh transport socket and a CSPRNG ID per query; the question in the 0x20 spelling when
//! enabled; every datagram that fails [`accept_reply`] is reported to the
//! [`Observer`] and ignored, and the wait goes on until the per-try deadline. A reply with
//! TC=1 (RFC 1035 §4.2.1, RFC 7766 §5) — or, with [`CaseMode::Fallback`], one that matches in
//! everything but the name's case — is not used: the same question goes to the same server
//! over TCP with a new ID, within the same deadline. TCP replies are checked by the same
//! rules (source is the connection, case is not required: TCP cannot be spoofed off-path).

use std::net::SocketAddr;

use super::wire::{self, Unwanted, accept_reply, build_query, randomize_case, restore_case};
use super::{CaseMode, Observer, Options, Query, TcpRetry, TryError};
use crate::upstream::transport::Transport;

/// An accepted reply from one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchanged {
    /// The reply: upstream ID, the caller's question spelling restored.
    pub reply: Vec<u8>,
    /// The answer came over TCP.
    pub tcp: bool,
}

/// Asks `server` once (UDP, or TCP when `query.tcp`; TCP again on TC=1 or the 0x20
/// fallback); the whole try is bounded by `opts.attempt_timeout`.
pub async fn exchange(
    transport: &dyn Transport,
    server: SocketAddr,
    query: &Query,
    opts: &Options,
    obs: &dyn Observer,
) -> Result<Exchanged, TryError> {
    obs.query_sent(server);
    let deadline = tokio::time::Instant::now() + opts.attempt_timeout;
    if !query.tcp {
        let udp = within(deadline, udp_try(transport, server, query, opts, obs)).await?;
        match udp {
            UdpOutcome::Reply(reply) => return Ok(Exchanged { reply, tcp: false }),
            UdpOutcome::Retry(why) => obs.tcp_retry(server, why),
        }
    }
    let reply = within(deadline, tcp_try(transport, server, query)).await?;
    Ok(Exchanged { reply, tcp: true })
}

/// `fut`, or [`TryError::Timeout`] at `deadline`.
async fn within<T>(
    deadline: tokio::time::Instant,
    fut: impl Future<Output = Result<T, TryError>>,
) -> Result<T, TryError> {
    tokio::time::timeout_at(deadline, fut)
        .await
        .map_err(|_| TryError::Timeout)?
}

enum UdpOutcome {
    Reply(Vec<u8>),
    Retry(TcpRetry),
}

async fn udp_try(
    transport: &dyn Transport,
    server: SocketAddr,
    query: &Query,
    opts: &Options,
    obs: &dyn Observer,
) -> Result<UdpOutcome, TryError> {
    let q = &query.question;
    let id: u16 = rand::random();
    let sent = (opts.case != CaseMode::Off).then(|| randomize_case(&q.name, &mut rand::random));
    let bytes = build_query(id, sent.as_deref().unwrap_or(&q.name), q, query.flags);
    let mut ch = transport.udp(server).await?;
    ch.send(&bytes).await?;
    let mut buf = vec![0u8; opts.max_udp_reply];
    loop {
        let (n, from) = ch.recv(&mut buf).await?;
        let reply = buf.get(..n).unwrap_or_default();
        match accept_reply(reply, from, server, id, q, sent.as_deref()) {
            Ok(()) if wire::truncated(reply) => return Ok(UdpOutcome::Retry(TcpRetry::Truncated)),
            Ok(()) => {
                let mut reply = reply.to_vec();
                restore_case(&mut reply, &q.name, sent.as_deref());
                return Ok(UdpOutcome::Reply(reply));
            }
            Err(Unwanted::CaseMismatch) if opts.case == CaseMode::Fallback => {
                return Ok(UdpOutcome::Retry(TcpRetry::CaseNotEchoed));
            }
            Err(why) => obs.unwanted(server, from, why),
        }
    }
}

async fn tcp_try(
    transport: &dyn Transport,
    server: SocketAddr,
    query: &Query,
) -> Result<Vec<u8>, TryError> {
    let q = &query.question;
    let id: u16 = rand::random();
    let bytes = build_query(id, &q.name, q, query.flags);
    let mut reply = transport.tcp(server, &bytes).await.map_err(TryError::Tcp)?;
    accept_reply(&reply, server, server, id, q, None).map_err(TryError::TcpMismatch)?;
    restore_case(&mut reply, &q.name, None);
    Ok(reply)
}
