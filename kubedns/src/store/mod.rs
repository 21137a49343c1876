//! The record store: Services and endpoint groups in, lock-free [`Zone`] snapshots out,
//! split like kube-rs's reflector into one write side and cheap read handles.
//!
//! * [`Writer`] (module `writer`) is the only handle that changes records; `source` owns it.
//!   Objects are held under typed keys ([`ServiceKey`], [`SliceKey`], module `keys`); each
//!   upsert/delete recomputes only the affected Service's [`ServiceEntry`] (records are
//!   computed on change, not per query) and publishes a new snapshot in which only the touched
//!   shard(s) were copied (see [`zone`]): incremental, no whole-zone rebuild per event. A
//!   relist (`replace_*`) builds a complete new zone off to the side and swaps it in with one
//!   store, so a half-built zone is never served and deletions during a watch gap apply.
//! * [`Store`] is the read handle (`answer`, `dns`, `http`): readers `load()` the current
//!   `Arc<Zone>` from an `ArcSwap` — wait-free, never the writer's lock — and take a [`View`]
//!   per query.
//! * The ConfigMap config, the federation zone/region and the initial-sync flag are not
//!   records: each is its own small handle ([`ConfigHandle`], [`FederationHandle`],
//!   [`SyncFlag`], module `handles`) written by its one owner (config updater, node watch,
//!   sync gate) and read into the [`View`].
//! * [`new`] creates one store's handles wired together; [`Standalone`] keeps them in one
//!   value for tests and tools that both write and read.
//!
//! Pod records are arithmetic (no storage); PTR data only for ClusterIPs and hostname'd
//! endpoints. Addresses are `IpAddr`, labels shared `Arc<str>`. This is preferred over a
//! persistent (HAMT) map because it needs no extra dependency and the copy cost per event is
//! bounded by the shard size (≈ 40 entries at 10k Services).

mod cache_json;
pub mod entry;
mod handles;
mod keys;
mod standalone;
mod writer;
pub mod zone;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use hickory_proto::rr::Name;

pub use entry::{EntryKind, Proto, ServiceEntry};
pub use handles::{ConfigHandle, DnsConfig, FederationHandle, SyncFlag};
pub use keys::{ServiceKey, SliceKey};
pub use standalone::Standalone;
pub use writer::Writer;
pub use zone::Zone;

/// Default TTL of every synthesised record (legacy `defaultTTL = 30`).
pub const DEFAULT_TTL: u32 = 30;

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

/// Store options.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// TTL of synthesised records (default 30, a future `--dns-ttl`).
    pub ttl: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { ttl: DEFAULT_TTL }
    }
}

/// What the writer publishes and readers load.
struct Shared {
    domain: Arc<str>,
    domain_name: Name,
    ttl: u32,
    zone: ArcSwap<Zone>,
    /// Endpoint source objects held by the writer (for [`StoreStats`]).
    groups: AtomicUsize,
}

/// One store's handles, created together by [`new`]; `run` hands each to its owner.
#[derive(Debug, Clone)]
pub struct Handles {
    /// Record writes (the watchers).
    pub writer: Writer,
    /// Record reads and views (answer, dns, http).
    pub reader: Store,
    /// Federations and upstreams (the config updater).
    pub config: ConfigHandle,
    /// Federation zone/region (the node watch).
    pub federation: FederationHandle,
    /// Initial sync done (the sync gate).
    pub synced: SyncFlag,
}

/// A new empty store for `domain` (e.g. `cluster.local.`) with its handles.
pub fn new(domain: &str, opts: StoreOptions) -> Handles {
    let mut d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    d.push('.');
    let shared = Arc::new(Shared {
        domain_name: Name::from_ascii(&d).unwrap_or_else(|err| {
            tracing::error!(domain = %d, %err, "invalid cluster domain, serving the root");
            Name::root()
        }),
        domain: Arc::from(d),
        ttl: opts.ttl,
        zone: ArcSwap::from_pointee(Zone::default()),
        groups: AtomicUsize::new(0),
    });
    let (config, federation, synced) = Default::default();
    Handles {
        writer: Writer::new(shared.clone()),
        reader: Store {
            shared,
            config: ConfigHandle::clone(&config),
            federation: FederationHandle::clone(&federation),
            synced: SyncFlag::clone(&synced),
        },
        config,
        federation,
        synced,
    }
}

/// Read handle of the record store (cheap to clone; never blocks on the writer).
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
    config: ConfigHandle,
    federation: FederationHandle,
    synced: SyncFlag,
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

#[cfg(test)]
mod tests;
