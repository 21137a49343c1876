//! The small shared values that sit beside the record store, each with its own owner:
//! the ConfigMap-derived [`DnsConfig`] (written by the config updater), the federation
//! zone/region (written by the node watch) and the initial-sync flag (written by the sync
//! gate). Each handle is a cheap clone; readers load them lock-free into a [`super::View`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use std::collections::BTreeMap;

/// Runtime configuration from the kube-dns ConfigMap / flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    /// Federation name → federation domain.
    pub federations: BTreeMap<String, String>,
    /// ConfigMap `upstreamNameservers` (empty = use `resolv_conf_upstreams`).
    pub upstreams: Vec<SocketAddr>,
    /// Nameservers from resolv.conf (or `--nameservers`).
    pub resolv_conf_upstreams: Vec<SocketAddr>,
}

impl DnsConfig {
    /// The upstream list actually used for forwarding.
    pub fn effective_upstreams(&self) -> &[SocketAddr] {
        if self.upstreams.is_empty() {
            &self.resolv_conf_upstreams
        } else {
            &self.upstreams
        }
    }
}

/// The current [`DnsConfig`] (federations and upstreams), replaced atomically.
#[derive(Debug, Clone, Default)]
pub struct ConfigHandle(Arc<ArcSwap<DnsConfig>>);

impl ConfigHandle {
    /// Replace federations and upstreams atomically.
    pub fn set(&self, c: DnsConfig) {
        self.0.store(Arc::new(c));
    }

    /// Current config.
    pub fn get(&self) -> Arc<DnsConfig> {
        self.0.load_full()
    }
}

/// Zone and region of this cluster's nodes (federation CNAME targets); `None` until known.
#[derive(Debug, Clone, Default)]
pub struct FederationHandle(Arc<ArcSwap<Option<(String, String)>>>);

impl FederationHandle {
    /// Set the zone and region.
    pub fn set(&self, zone_region: Option<(String, String)>) {
        self.0.store(Arc::new(zone_region));
    }

    /// Current zone and region.
    pub fn get(&self) -> Arc<Option<(String, String)>> {
        self.0.load_full()
    }
}

/// Whether the initial sync of Services and endpoints is complete (cluster queries get
/// SERVFAIL and `/readiness` fails until it is).
#[derive(Debug, Clone, Default)]
pub struct SyncFlag(Arc<AtomicBool>);

impl SyncFlag {
    /// Mark the initial sync complete.
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Initial sync complete?
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
