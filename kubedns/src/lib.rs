//! kubedns: authoritative cluster DNS served from memory, fed by a Kubernetes API watch.
//!
//! Data flow: `source` (one list-then-watch driver, `source::reflector`, for Services,
//! EndpointSlices → Endpoints fallback, the kube-dns ConfigMap and Nodes; relist buffering in
//! `source::machine`) → `model` (k8s objects → compact service/endpoint types) → `store` (the
//! `Writer` the watchers own, per-Service records under typed keys published as lock-free
//! snapshots; cheap `Store` read handles; config, federation zone and sync flag as their own
//! handles) → `answer` (pure lookup: name, type → `Response`/`Answer`; CHAOS, cluster names,
//! CNAME chains) → `dns` (UDP/TCP pipeline with caps, EDNS, metrics) with `forward` (kubedns's
//! options for serverkit's shared upstream client) for names outside the zone. `cli` and `config` hold the legacy kube-dns flags and ConfigMap rules;
//! `http` serves `/readiness`, `/cache`, `/healthz` and metrics; `run` and `lifecycle` tie it
//! together, handing each store handle to its one owner. Module dependencies form a DAG
//! (docs/kubedns.md, "Module layout").
//! What kubedns shares with dnsmasq-rs and healthz lives in `serverkit`: Go flag values and
//! the glog list, resolv.conf, reverse names, the ConfigMap directory reader, socket binding,
//! the DNS-over-TCP loop, the RFC 5452 upstream client, signals/lame duck/drain and tracing
//! setup.

pub mod answer;
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
