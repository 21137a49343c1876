//! The read side of the store (kube-rs reflector `Store` model): cheap cloneable handles for
//! `answer`, `dns` and `http`. Loads are wait-free (`ArcSwap`); the writer's lock is never
//! taken. A [`View`] is one query's consistent snapshot of records, config, federation
//! zone/region and sync flag.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hickory_proto::rr::Name;

use super::entry::ServiceEntry;
use super::shared::Shared;
use super::values::{ConfigHandle, DnsConfig, FederationHandle, SyncFlag};
use super::zone::Zone;

/// Counts for metrics and `/cache`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Services in the zone.
    pub services: usize,
    /// Published headless endpoints.
    pub endpoints: usize,
    /// Endpoint source objects (slices / Endpoints) held.
    pub endpoint_groups: usize,
    /// IPs with PTR records.
    pub ptr_records: usize,
}

/// Read handle of the record store (cheap to clone; never blocks on the writer).
#[derive(Clone)]
pub struct Store {
    pub(super) shared: Arc<Shared>,
    pub(super) config: ConfigHandle,
    pub(super) federation: FederationHandle,
    pub(super) synced: SyncFlag,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("domain", &self.shared.domain)
            .finish_non_exhaustive()
    }
}

/// A consistent read view for one query.
#[derive(Clone)]
pub struct View {
    /// Zone snapshot.
    pub zone: Arc<Zone>,
    /// Config snapshot.
    pub config: Arc<DnsConfig>,
    /// Node zone/region for federation answers.
    pub federation_zone: Arc<Option<(String, String)>>,
    /// Initial sync done.
    pub synced: bool,
    /// Cluster domain, lowercase with trailing dot.
    pub domain: Arc<str>,
    /// Cluster domain as a name.
    pub domain_name: Name,
    /// Record TTL.
    pub ttl: u32,
}

impl Store {
    /// Cluster domain with trailing dot.
    pub fn domain(&self) -> &str {
        &self.shared.domain
    }

    /// Record TTL.
    pub fn ttl(&self) -> u32 {
        self.shared.ttl
    }

    /// Initial sync complete?
    pub fn is_synced(&self) -> bool {
        self.synced.get()
    }

    /// Current config.
    pub fn config(&self) -> Arc<DnsConfig> {
        self.config.get()
    }

    /// A consistent read view (lock-free).
    pub fn view(&self) -> View {
        View {
            zone: self.shared.zone.load_full(),
            config: self.config.get(),
            federation_zone: self.federation.get(),
            synced: self.is_synced(),
            domain: self.shared.domain.clone(),
            domain_name: self.shared.domain_name.clone(),
            ttl: self.shared.ttl,
        }
    }

    /// Counts.
    pub fn stats(&self) -> StoreStats {
        let zone = self.shared.zone.load();
        StoreStats {
            services: zone.service_count(),
            endpoints: zone.iter().map(|e| e.endpoint_count()).sum(),
            endpoint_groups: self.shared.groups.load(Ordering::Relaxed),
            ptr_records: zone.ptr_count(),
        }
    }

    /// Test/debug helper: the entry of one Service.
    pub fn entry(&self, namespace: &str, name: &str) -> Option<Arc<ServiceEntry>> {
        self.shared.zone.load().service(namespace, name).cloned()
    }

    /// Test/debug helper: PTR targets of an IP.
    pub fn ptr_targets(&self, ip: IpAddr) -> Vec<String> {
        self.shared
            .zone
            .load()
            .ptr(ip)
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default()
    }
}
