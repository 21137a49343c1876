//! kubedns: authoritative cluster DNS served from memory, fed by a Kubernetes API watch.
//!
//! Data flow: `source` (kube-runtime watchers, EndpointSlice → Endpoints fallback, relist
//! buffering) → `model` (k8s objects → compact service/endpoint types) → `store` (per-Service
//! records in lock-free snapshots) → `answer` (pure lookup: name, type → answer) → `dns`
//! (UDP/TCP pipeline with caps, EDNS, metrics) with `forward` (kubedns's options for the shared
//! upstream client) for names outside the zone.
//! `cli` and `config` hold the legacy kube-dns flags and ConfigMap rules; `http` serves
//! `/readiness`, `/cache`, `/healthz` and metrics; `run` and `lifecycle` tie it together.
//! What kubedns shares with dnsmasq-rs and healthz lives in `serverkit`: Go flag values and
//! the glog list, resolv.conf, reverse names, the ConfigMap directory reader, socket binding,
//! the DNS-over-TCP loop, the RFC 5452 upstream client, signals/lame duck/drain and tracing
//! setup.

pub mod answer;
pub mod chaos;
pub mod cli;
pub mod config;
pub mod dns;
pub mod forward;
pub mod hash;
pub mod http;
pub mod lifecycle;
pub mod metrics;
pub mod model;
pub mod names;
pub mod run;
pub mod source;
pub mod store;
