//! dnsmasq-rs: a caching DNS forwarder that is a drop-in for dnsmasq-nanny + dnsmasq in the
//! legacy kube-dns pod (see docs/dnsmasq-rs.md).
//!
//! Data flow: `flags` (nanny | dnsmasq dialect, conf files) → `config::Config` (immutable,
//! swapped atomically by `reload::Reloader` from the ConfigMap directory via `nanny`) →
//! `server` loops → `engine` pipeline → `local` answers (hosts, `--address`, CHAOS) written
//! through the `reply` builder, `loops` probes, `cache` hit, or on a miss the `coalesce`
//! pending table, `health`-ordered servers and `upstream` (this forwarder's options, query and
//! statistics for the shared safe client `serverkit::upstream`). `run` binds and
//! serves, `observe` logs statistics and serves metrics; `main` only parses and starts.
//! Shared with kubedns and healthz (`serverkit`): Go flags and the glog list, resolv.conf,
//! reverse names, the ConfigMap directory reader, socket binding, the DNS-over-TCP loop, the
//! upstream client, signals/lame duck/drain and tracing setup. `testutil` (query builders) exists only for
//! tests (`cfg(test)` or the `test-support` feature).

pub mod any;
pub mod cache;
pub mod coalesce;
pub mod config;
pub mod engine;
pub mod flags;
pub mod health;
pub mod local;
pub mod loops;
pub mod nanny;
pub mod observe;
pub mod relay;
pub mod reload;
pub mod reply;
pub mod run;
pub mod server;
pub mod stats;
#[cfg(any(test, feature = "test-support"))]
pub mod testutil;
pub mod upstream;
pub mod wire;

pub use config::Config;
pub use engine::Engine;
