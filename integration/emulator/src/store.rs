//! The object store: one global, monotonically increasing resourceVersion, objects per
//! resource ordered by (namespace, name), a bounded event history (the "etcd compaction
//! window") used for watches and for consistent paged/Exact lists, and a broadcast channel
//! feeding live watches. All writes go through one private `write` method, which also runs the
//! controllers (Service → Endpoints from Pods, Endpoints → EndpointSlices).
//! No IO here: the HTTP layer locks the store, calls a method, and encodes the result.
//!
//! This module owns the types and the store's construction and seeding; the rest lives in
//! `read` (GET/LIST/WATCH), `mutate` (create/update/delete and Service IP allocation),
//! `reconcile` (the commit `write` and the controllers it runs) and `validate` (names,
//! `apiVersion`/`kind` checks).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::resources::ResourceDef;
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;

/// First address handed out by the dynamic cluster-IP allocator (10.0.0.0/24 is left for
/// static IPs in manifests, like kube-apiserver's reserved lower band).
const DYNAMIC_IP_START: u32 = u32::from_be_bytes([10, 0, 1, 1]);

/// A stored object (shared, immutable once stored).
pub type Obj = Arc<Value>;

/// Default number of events kept for watches and consistent lists.
pub const DEFAULT_HISTORY_LIMIT: usize = 10_000;
/// Capacity of the live-event broadcast; a watcher lagging further gets 410 Gone.
pub const BROADCAST_CAPACITY: usize = 16_384;

/// Where an object lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object deleted.
    Deleted,
}

impl EventType {
    /// Wire name (`ADDED`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug)]
pub struct Event {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Resource changed.
    pub res: &'static ResourceDef,
    /// Type.
    pub kind: EventType,
    /// Object key.
    pub key: ObjKey,
    /// Object after the change (for DELETED: the last state, with the deletion's rv).
    pub object: Obj,
    /// Object before the change.
    pub prev: Option<Obj>,
}

/// Store behaviour knobs.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Events kept in history (older resourceVersions get 410 Gone).
    pub history_limit: usize,
    /// Mirror Endpoints to EndpointSlices.
    pub mirror_endpoint_slices: bool,
    /// Build Endpoints (and their EndpointSlices) for selector Services from matching Pods.
    /// Off by default: manifests usually carry their own Endpoints/EndpointSlices.
    pub endpoints_controller: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            history_limit: DEFAULT_HISTORY_LIMIT,
            mirror_endpoint_slices: true,
            endpoints_controller: false,
        }
    }
}

/// LIST parameters.
#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit` (0 or absent = all).
    pub limit: Option<usize>,
    /// `continue`.
    pub continue_token: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<String>,
}

/// A LIST result before encoding.
#[derive(Debug)]
pub struct ListResult {
    /// Items in key order.
    pub items: Vec<Obj>,
    /// resourceVersion the list is consistent at.
    pub resource_version: u64,
    /// Continue token, when more items remain.
    pub continue_token: Option<String>,
    /// Items left after this page (only without selectors, as kube-apiserver).
    pub remaining: Option<usize>,
}

/// What a new watch starts with.
pub struct WatchStart {
    /// Events to send first (replayed history, or synthetic ADDED for the current state).
    pub initial: Vec<Arc<Event>>,
    /// Live events after `start_rv`.
    pub rx: broadcast::Receiver<Arc<Event>>,
    /// The store's resourceVersion when the watch was registered.
    pub start_rv: u64,
}

/// The object store.
pub struct Store {
    cfg: StoreConfig,
    rv: u64,
    objects: HashMap<&'static str, BTreeMap<ObjKey, Obj>>,
    history: VecDeque<Arc<Event>>,
    /// Events with `rv <= compacted_rv` may be missing from `history`.
    compacted_rv: u64,
    tx: broadcast::Sender<Arc<Event>>,
    used_ips: HashSet<String>,
    next_ip: u32,
    /// Bumped on every write of an RBAC object (keys the authorizer's policy cache).
    rbac_generation: u64,
}

impl Store {
    /// An empty store.
    pub fn new(cfg: StoreConfig) -> Self {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Store {
            cfg,
            rv: 0,
            objects: HashMap::new(),
            history: VecDeque::new(),
            compacted_rv: 0,
            tx,
            used_ips: HashSet::new(),
            next_ip: DYNAMIC_IP_START,
            rbac_generation: 0,
        }
    }

    /// Seeds what every cluster has: namespaces `default`, `kube-system`, `kube-public`,
    /// Service `default/kubernetes` (10.0.0.1, https/443) and its Endpoints.
    pub fn seed_defaults(
        &mut self,
        apiserver_ip: &str,
        apiserver_port: u16,
    ) -> Result<(), ApiError> {
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            self.create_value(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )?;
        }
        self.create_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.0.0.1", "ports": [{"name": "https", "port": 443, "targetPort": apiserver_port, "protocol": "TCP"}]},
        }))?;
        self.create_value(json!({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": apiserver_ip}], "ports": [{"name": "https", "port": apiserver_port, "protocol": "TCP"}]}],
        }))?;
        Ok(())
    }

    /// Current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Oldest resourceVersion a watch may start from.
    pub fn compacted_rv(&self) -> u64 {
        self.compacted_rv
    }

    /// Drops the whole event history: every watch or consistent list from an older
    /// resourceVersion now gets 410 Gone.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted_rv = self.rv;
    }

    /// Changes whenever a Role, ClusterRole or binding is written.
    pub fn rbac_generation(&self) -> u64 {
        self.rbac_generation
    }
}

pub use validate::res_of;

mod mutate;
mod read;
mod reconcile;
mod validate;

#[cfg(test)]
mod tests;
