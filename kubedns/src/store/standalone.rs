//! One store with all its handles in a single value, for tests, benchmarks and tools that
//! both write and read. The server never uses it: `run` hands the [`super::Handles`] out to
//! their owners. Reads go through `Deref` to the [`Store`] read handle.

use std::ops::Deref;

use tokio::time::Instant;

use super::handles::{Handles, StoreOptions};
use super::keys::{ServiceKey, SliceKey};
use super::reader::Store;
use super::values::{ConfigHandle, DnsConfig, FederationHandle, SyncFlag};
use super::writer::Writer;
use crate::model::{EndpointGroup, EndpointObject, Service};

/// A store and all its handles (see the module header).
#[derive(Debug, Clone)]
pub struct Standalone(Handles);

impl Standalone {
    /// New empty store for `domain` (e.g. `cluster.local.`), TTL 30.
    pub fn new(domain: &str) -> Self {
        Self::with_options(domain, StoreOptions::default())
    }

    /// New empty store with options.
    pub fn with_options(domain: &str, opts: StoreOptions) -> Self {
        Self(super::handles::new(domain, opts))
    }

    /// The read handle.
    pub fn reader(&self) -> Store {
        self.0.reader.clone()
    }

    /// The write handle.
    pub fn writer(&self) -> Writer {
        self.0.writer.clone()
    }

    /// The config handle.
    pub fn config_handle(&self) -> ConfigHandle {
        self.0.config.clone()
    }

    /// The federation zone/region handle.
    pub fn federation(&self) -> FederationHandle {
        self.0.federation.clone()
    }

    /// The sync flag.
    pub fn synced(&self) -> SyncFlag {
        self.0.synced.clone()
    }

    /// All handles.
    pub fn handles(&self) -> Handles {
        self.0.clone()
    }

    /// Add or replace a Service.
    pub fn upsert_service(&self, s: Service) {
        self.0.writer.upsert_service(s);
    }

    /// Remove a Service.
    pub fn delete_service(&self, namespace: &str, name: &str) {
        self.0
            .writer
            .delete_service(&ServiceKey::new(namespace, name));
    }

    /// Relist: replace all Services atomically.
    pub fn replace_services(&self, all: Vec<Service>) {
        self.0.writer.replace_services(all);
    }

    /// Add or replace one endpoint source object.
    pub fn upsert_endpoints(&self, g: EndpointGroup) {
        self.0.writer.upsert_endpoints(g);
    }

    /// Remove one endpoint source object.
    pub fn delete_endpoints(&self, namespace: &str, object: EndpointObject) {
        self.0
            .writer
            .delete_endpoints(&SliceKey::new(namespace, object));
    }

    /// Relist: replace all endpoint groups atomically.
    pub fn replace_endpoints(&self, all: Vec<EndpointGroup>) {
        self.0.writer.replace_endpoints(all);
    }

    /// Mark the initial sync complete.
    pub fn set_synced(&self) {
        self.0.synced.set();
    }

    /// Replace federations and upstreams atomically.
    pub fn set_config(&self, c: DnsConfig) {
        self.0.config.set(c);
    }

    /// Zone and region of this cluster's nodes.
    pub fn set_federation_zone(&self, zone_region: Option<(String, String)>) {
        self.0.federation.set(zone_region);
    }

    /// When the last change was published.
    pub fn last_applied(&self) -> Option<Instant> {
        self.0.writer.last_applied()
    }
}

impl Deref for Standalone {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.0.reader
    }
}
