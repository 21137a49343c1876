//! The record store: Services and endpoint groups in, lock-free [`Zone`] snapshots out.
//!
//! Design (10k Services / 100k endpoints, queries never wait on writers):
//! * Writers (the API watch loops) serialise on one `std::sync::Mutex` holding the model
//!   objects; the lock is never held across `.await` and readers never take it.
//! * Each upsert/delete recomputes only the affected Service's [`ServiceEntry`] (records are
//!   computed on change, not per query) and publishes a new snapshot in which only the touched
//!   shard(s) were copied (see [`zone`]): incremental, no whole-zone rebuild per event.
//! * Readers `load()` the current `Arc<Zone>` from an `ArcSwap` — wait-free.
//! * A relist (`replace_*`) builds a complete new zone off to the side and swaps it in with one
//!   store, so a half-built zone is never served and deletions during a watch gap apply.
//! * Pod records are arithmetic (no storage); PTR data only for ClusterIPs and hostname'd
//!   endpoints. Addresses are `IpAddr`, labels shared `Arc<str>`.
//!
//! This is preferred over a persistent (HAMT) map because it needs no extra dependency and the
//! copy cost per event is bounded by the shard size (≈ 40 entries at 10k Services).

mod cache_json;
pub mod entry;
pub mod zone;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use hickory_proto::rr::Name;
use tokio::time::Instant;

pub use entry::{EntryKind, Proto, ServiceEntry};
pub use zone::Zone;

use crate::model::{EndpointGroup, Service};
use zone::service_key;

/// Default TTL of every synthesised record (legacy `defaultTTL = 30`).
pub const DEFAULT_TTL: u32 = 30;

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

#[derive(Default)]
struct Writer {
    services: HashMap<String, Service>,
    groups: HashMap<String, EndpointGroup>,
    by_service: HashMap<String, BTreeSet<String>>,
    last_applied: Option<Instant>,
}

struct Inner {
    domain: Arc<str>,
    domain_name: Name,
    ttl: u32,
    zone: ArcSwap<Zone>,
    writer: Mutex<Writer>,
    synced: AtomicBool,
    config: ArcSwap<DnsConfig>,
    federation_zone: ArcSwap<Option<(String, String)>>,
}

/// Shared handle to the record store (cheap to clone).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("domain", &self.inner.domain)
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

fn group_key(ns: &str, key: &str) -> String {
    service_key(ns, key)
}

impl Store {
    /// New empty store for `domain` (e.g. `cluster.local.`), TTL 30.
    pub fn new(domain: &str) -> Self {
        Self::with_options(domain, StoreOptions::default())
    }

    /// New empty store with options.
    pub fn with_options(domain: &str, opts: StoreOptions) -> Self {
        let mut d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        d.push('.');
        Self {
            inner: Arc::new(Inner {
                domain_name: Name::from_ascii(&d).unwrap_or_else(|err| {
                    tracing::error!(domain = %d, %err, "invalid cluster domain, serving the root");
                    Name::root()
                }),
                domain: Arc::from(d),
                ttl: opts.ttl,
                zone: ArcSwap::from_pointee(Zone::default()),
                writer: Mutex::new(Writer::default()),
                synced: AtomicBool::new(false),
                config: ArcSwap::from_pointee(DnsConfig::default()),
                federation_zone: ArcSwap::from_pointee(None),
            }),
        }
    }

    /// Cluster domain with trailing dot.
    pub fn domain(&self) -> &str {
        &self.inner.domain
    }

    /// Record TTL.
    pub fn ttl(&self) -> u32 {
        self.inner.ttl
    }

    fn lock(&self) -> MutexGuard<'_, Writer> {
        // A panic while holding the lock cannot leave the model half-updated in a way that
        // matters more than stopping DNS updates would, so recover from poisoning.
        self.inner.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn entry_for(w: &Writer, skey: &str) -> Option<Arc<ServiceEntry>> {
        let svc = w.services.get(skey)?;
        let groups = w
            .by_service
            .get(skey)
            .into_iter()
            .flatten()
            .filter_map(|k| w.groups.get(k));
        Some(Arc::new(ServiceEntry::build(svc, groups)))
    }

    fn publish_one(&self, w: &mut Writer, skey: &str) {
        let new = Self::entry_for(w, skey);
        let mut zone = Zone::clone(&self.inner.zone.load());
        zone.set(&self.inner.domain, skey, new);
        self.inner.zone.store(Arc::new(zone));
        w.last_applied = Some(Instant::now());
    }

    fn rebuild(&self, w: &mut Writer) {
        let mut zone = Zone::default();
        let keys: Vec<String> = w.services.keys().cloned().collect();
        for k in keys {
            let e = Self::entry_for(w, &k);
            zone.set(&self.inner.domain, &k, e);
        }
        self.inner.zone.store(Arc::new(zone));
        w.last_applied = Some(Instant::now());
    }

    /// Add or replace a Service.
    pub fn upsert_service(&self, s: Service) {
        let key = service_key(&s.namespace, &s.name);
        let mut w = self.lock();
        if w.services.get(&key) == Some(&s) {
            return;
        }
        w.services.insert(key.clone(), s);
        self.publish_one(&mut w, &key);
    }

    /// Remove a Service (its endpoint groups are kept until deleted: they may outlive it).
    pub fn delete_service(&self, namespace: &str, name: &str) {
        let key = service_key(namespace, name);
        let mut w = self.lock();
        if w.services.remove(&key).is_some() {
            self.publish_one(&mut w, &key);
        }
    }

    /// Relist: replace all Services atomically.
    pub fn replace_services(&self, all: Vec<Service>) {
        let mut w = self.lock();
        w.services = all
            .into_iter()
            .map(|s| (service_key(&s.namespace, &s.name), s))
            .collect();
        self.rebuild(&mut w);
    }

    fn index_group(w: &mut Writer, g: &EndpointGroup) {
        let gk = group_key(&g.namespace, &g.key);
        w.by_service
            .entry(service_key(&g.namespace, &g.service))
            .or_default()
            .insert(gk);
    }

    fn unindex_group(w: &mut Writer, g: &EndpointGroup) -> String {
        let gk = group_key(&g.namespace, &g.key);
        let sk = service_key(&g.namespace, &g.service);
        if let Some(set) = w.by_service.get_mut(&sk) {
            set.remove(&gk);
            if set.is_empty() {
                w.by_service.remove(&sk);
            }
        }
        sk
    }

    /// Add or replace one endpoint source object.
    pub fn upsert_endpoints(&self, g: EndpointGroup) {
        let gk = group_key(&g.namespace, &g.key);
        let mut w = self.lock();
        if w.groups.get(&gk) == Some(&g) {
            return;
        }
        let new_sk = service_key(&g.namespace, &g.service);
        let old_sk = w
            .groups
            .remove(&gk)
            .map(|old| Self::unindex_group(&mut w, &old));
        Self::index_group(&mut w, &g);
        w.groups.insert(gk, g);
        if let Some(old_sk) = old_sk.filter(|o| *o != new_sk) {
            self.publish_one(&mut w, &old_sk);
        }
        self.publish_one(&mut w, &new_sk);
    }

    /// Remove one endpoint source object by its key ("slice/<name>" or "endpoints/<name>").
    pub fn delete_endpoints(&self, namespace: &str, key: &str) {
        let gk = group_key(namespace, key);
        let mut w = self.lock();
        if let Some(old) = w.groups.remove(&gk) {
            let sk = Self::unindex_group(&mut w, &old);
            self.publish_one(&mut w, &sk);
        }
    }

    /// Relist: replace all endpoint groups atomically.
    pub fn replace_endpoints(&self, all: Vec<EndpointGroup>) {
        let mut w = self.lock();
        w.groups.clear();
        w.by_service.clear();
        for g in all {
            Self::index_group(&mut w, &g);
            w.groups.insert(group_key(&g.namespace, &g.key), g);
        }
        self.rebuild(&mut w);
    }

    /// Mark the initial sync complete (cluster queries stop getting SERVFAIL).
    pub fn set_synced(&self) {
        self.inner.synced.store(true, Ordering::Release);
    }

    /// Initial sync complete?
    pub fn is_synced(&self) -> bool {
        self.inner.synced.load(Ordering::Acquire)
    }

    /// Replace federations and upstreams atomically.
    pub fn set_config(&self, c: DnsConfig) {
        self.inner.config.store(Arc::new(c));
    }

    /// Current config.
    pub fn config(&self) -> Arc<DnsConfig> {
        self.inner.config.load_full()
    }

    /// Zone and region of this cluster's nodes (federation CNAME targets).
    pub fn set_federation_zone(&self, zone_region: Option<(String, String)>) {
        self.inner.federation_zone.store(Arc::new(zone_region));
    }

    /// When the last change was published (for programming-latency metrics).
    pub fn last_applied(&self) -> Option<Instant> {
        self.lock().last_applied
    }

    /// A consistent read view (lock-free).
    pub fn view(&self) -> View {
        View {
            zone: self.inner.zone.load_full(),
            config: self.inner.config.load_full(),
            federation_zone: self.inner.federation_zone.load_full(),
            synced: self.is_synced(),
            domain: self.inner.domain.clone(),
            domain_name: self.inner.domain_name.clone(),
            ttl: self.inner.ttl,
        }
    }

    /// Counts.
    pub fn stats(&self) -> StoreStats {
        let zone = self.inner.zone.load();
        let groups = self.lock().groups.len();
        StoreStats {
            services: zone.service_count(),
            endpoints: zone.iter().map(|e| e.endpoint_count()).sum(),
            endpoint_groups: groups,
            ptr_records: zone.ptr_count(),
        }
    }

    /// Test/debug helper: the entry of one Service.
    pub fn entry(&self, namespace: &str, name: &str) -> Option<Arc<ServiceEntry>> {
        self.inner.zone.load().service(namespace, name).cloned()
    }

    /// Test/debug helper: PTR targets of an IP.
    pub fn ptr_targets(&self, ip: IpAddr) -> Vec<String> {
        self.inner
            .zone
            .load()
            .ptr(ip)
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
