//! The DNS server's resource limits ([`Limits`]) and their defaults, one named constant each.
//! A leaf module: the serving loops ([`super`]) and the request pipeline ([`super::handler`])
//! both read it.

use std::time::Duration;

/// Default for [`Limits::drain_timeout`]: how long `run` waits for in-flight queries after
/// shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Default [`Limits::max_tcp_connections`].
pub const DEFAULT_MAX_TCP_CONNECTIONS: usize = 1024;
/// Default [`Limits::tcp_idle_timeout`].
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Limits::max_queries_per_tcp_connection`].
pub const DEFAULT_MAX_TCP_QUERIES: usize = 100;
/// Default [`Limits::max_inflight_udp`].
pub const DEFAULT_MAX_INFLIGHT_UDP: usize = 1024;
/// Default [`Limits::max_udp_payload`] (DNS flag day 2020).
pub const DEFAULT_MAX_UDP_PAYLOAD: u16 = 1232;

/// Resource limits of the DNS server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Concurrent TCP connections; more are closed at accept.
    pub max_tcp_connections: usize,
    /// A TCP connection idle this long (no complete query) is closed.
    pub tcp_idle_timeout: Duration,
    /// Queries answered per TCP connection before it is closed.
    pub max_queries_per_tcp_connection: usize,
    /// UDP queries waiting on an upstream at once; more get SERVFAIL immediately.
    pub max_inflight_udp: usize,
    /// Largest UDP reply with EDNS (and the payload size we advertise).
    pub max_udp_payload: u16,
    /// How long `run` waits for in-flight queries after the shutdown token fires.
    pub drain_timeout: Duration,
    /// Entries of each UDP loop's reply cache ([`super::ReplyCache`]); 0 turns the reply caches (UDP
    /// and TCP) off (`--reply-cache-entries`).
    pub reply_cache_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_tcp_connections: DEFAULT_MAX_TCP_CONNECTIONS,
            tcp_idle_timeout: DEFAULT_TCP_IDLE_TIMEOUT,
            max_queries_per_tcp_connection: DEFAULT_MAX_TCP_QUERIES,
            max_inflight_udp: DEFAULT_MAX_INFLIGHT_UDP,
            max_udp_payload: DEFAULT_MAX_UDP_PAYLOAD,
            drain_timeout: DRAIN_TIMEOUT,
            reply_cache_entries: super::reply_cache::REPLY_CACHE_CAPACITY,
        }
    }
}
