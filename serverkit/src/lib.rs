//! The library shared by the kube-dns-rs binaries (`kubedns`, `dnsmasq-rs`, `healthz`): what
//! their servers have in common, written once.
//!
//! * [`flags`] — Go value syntax (`ParseBool`, `ParseDuration` in integer nanoseconds,
//!   `ParseInt`), the Go flag shape and the glog/klog flag list;
//! * [`resolv`] — `/etc/resolv.conf` nameservers (IPv6 scope ids kept);
//! * [`reverse`] — `in-addr.arpa` / `ip6.arpa` names;
//! * [`configdir`] — the ConfigMap directory reader (version hash, size cap, missing = error);
//! * [`configmap`] — validation of the ConfigMap values (`stubDomains`, `upstreamNameservers`,
//!   `federations`) and DNS-1123 names;
//! * [`net`] — socket binding (one dual-stack policy) and which UDP sources may be answered;
//! * [`serve`] — the serving loops: DNS over TCP (accept loop, framing, limits, pipelining) and,
//!   in [`serve::udp`], DNS over UDP (per-socket loop threads, per-loop handler state,
//!   deferred replies, batched datagram I/O in [`serve::dgram`]);
//! * [`lifecycle`] — signals, the lame-duck period and the drain;
//! * [`logging`] — tracing setup;
//! * [`time`] — calendar arithmetic for Go time texts;
//! * [`upstream`] — the RFC 5452 upstream DNS client (fresh port and ID per query, strict
//!   reply matching, TC→TCP, 0x20, ordered failover, SERVFAIL/REFUSED policy).
//!
//! Behind the `test-support` cargo feature, `process` runs built binaries in tests (killed on
//! drop, signals by name, exit with a deadline) and [`require`] decides whether a test whose external
//! requirements (a tool, root, network namespaces, a built binary) are missing is skipped
//! (outside CI) or fails (under CI), and [`testkit`] builds the DNS queries tests send.

pub mod configdir;
pub mod configmap;
pub mod flags;
pub mod lifecycle;
pub mod logging;
pub mod net;
pub mod resolv;
pub mod reverse;
pub mod serve;
pub mod time;
pub mod upstream;

#[cfg(feature = "test-support")]
pub mod process;
#[cfg(feature = "test-support")]
pub mod require;
#[cfg(feature = "test-support")]
pub mod testkit;
