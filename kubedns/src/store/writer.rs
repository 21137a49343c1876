//! The write side of the store (kube-rs reflector `Writer` model): the only handle that
//! changes records. The watchers in `source` own it; every other part reads through
//! [`super::Store`].
//!
//! Writers serialise on one `std::sync::Mutex` holding the model objects, keyed by
//! [`ServiceKey`] and [`SliceKey`]; the lock is never held across `.await` and readers never
//! take it. Each upsert/delete recomputes only the affected Service's [`ServiceEntry`] and
//! publishes a snapshot in which only the touched shard was copied; a relist (`replace_*`)
//! builds a complete zone off to the side and swaps it in with one store.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::time::Instant;

use super::entry::ServiceEntry;
use super::keys::{ServiceKey, SliceKey};
use super::shared::Shared;
use super::zone::{Zone, service_key};
use crate::model::{EndpointGroup, Service};

#[derive(Default)]
struct State {
    services: HashMap<ServiceKey, Service>,
    groups: HashMap<SliceKey, EndpointGroup>,
    by_service: HashMap<ServiceKey, BTreeSet<SliceKey>>,
    last_applied: Option<Instant>,
}

/// Write handle of the record store (a clone writes the same store: the Service and the
/// endpoint watch each hold one).
#[derive(Clone)]
pub struct Writer {
    shared: Arc<Shared>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("domain", &self.shared.domain)
            .finish_non_exhaustive()
    }
}

impl Writer {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            state: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the model half-updated in a way that
        // matters more than stopping DNS updates would, so recover from poisoning.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn entry_for(w: &State, key: &ServiceKey) -> Option<Arc<ServiceEntry>> {
        let svc = w.services.get(key)?;
        let groups = w
            .by_service
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|k| w.groups.get(k));
        Some(Arc::new(ServiceEntry::build(svc, groups)))
    }

    fn publish_one(&self, w: &mut State, key: &ServiceKey) {
        let new = Self::entry_for(w, key);
        let mut zone = Zone::clone(&self.shared.zone.load());
        zone.set(
            &self.shared.domain,
            &service_key(&key.namespace, &key.name),
            new,
        );
        self.shared.zone.store(Arc::new(zone));
        self.published(w);
    }

    fn rebuild(&self, w: &mut State) {
        let mut zone = Zone::default();
        for k in w.services.keys() {
            let e = Self::entry_for(w, k);
            zone.set(&self.shared.domain, &service_key(&k.namespace, &k.name), e);
        }
        self.shared.zone.store(Arc::new(zone));
        self.published(w);
    }

    fn published(&self, w: &mut State) {
        self.shared.groups.store(w.groups.len(), Ordering::Relaxed);
        w.last_applied = Some(Instant::now());
    }

    /// Add or replace a Service.
    pub fn upsert_service(&self, s: Service) {
        let key = ServiceKey::of(&s);
        let mut w = self.lock();
        if w.services.get(&key) == Some(&s) {
            return;
        }
        w.services.insert(key.clone(), s);
        self.publish_one(&mut w, &key);
    }

    /// Remove a Service (its endpoint groups are kept until deleted: they may outlive it).
    pub fn delete_service(&self, key: &ServiceKey) {
        let mut w = self.lock();
        if w.services.remove(key).is_some() {
            self.publish_one(&mut w, key);
        }
    }

    /// Relist: replace all Services atomically.
    pub fn replace_services(&self, all: Vec<Service>) {
        let mut w = self.lock();
        w.services = all.into_iter().map(|s| (ServiceKey::of(&s), s)).collect();
        self.rebuild(&mut w);
    }

    fn index_group(w: &mut State, g: &EndpointGroup) {
        w.by_service
            .entry(ServiceKey::owner_of(g))
            .or_default()
            .insert(SliceKey::of(g));
    }

    fn unindex_group(w: &mut State, g: &EndpointGroup) -> ServiceKey {
        let gk = SliceKey::of(g);
        let sk = ServiceKey::owner_of(g);
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
        let gk = SliceKey::of(&g);
        let mut w = self.lock();
        if w.groups.get(&gk) == Some(&g) {
            return;
        }
        let new_sk = ServiceKey::owner_of(&g);
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

    /// Remove one endpoint source object.
    pub fn delete_endpoints(&self, key: &SliceKey) {
        let mut w = self.lock();
        if let Some(old) = w.groups.remove(key) {
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
            w.groups.insert(SliceKey::of(&g), g);
        }
        self.rebuild(&mut w);
    }

    /// When the last change was published (for programming-latency metrics).
    pub fn last_applied(&self) -> Option<Instant> {
        self.lock().last_applied
    }
}
