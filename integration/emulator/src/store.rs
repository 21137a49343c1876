//! The object store: one global, monotonically increasing resourceVersion, objects per
//! resource ordered by (namespace, name), a bounded event history (the "etcd compaction
//! window") used for watches and for consistent paged/Exact lists, and a broadcast channel
//! feeding live watches. All writes go through one private `write` method, which also runs the
//! controllers (Service → Endpoints from Pods, Endpoints → EndpointSlices).
//! No IO here: the HTTP layer locks the store, calls a method, and encodes the result.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::controllers;
use super::meta::{self, meta_str, metadata_mut};
use super::rbac;
use super::resources::{self, ResourceDef};
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;

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

/// First address handed out by the dynamic cluster-IP allocator (10.0.0.0/24 is left for
/// static IPs in manifests, like kube-apiserver's reserved lower band).
const DYNAMIC_IP_START: u32 = u32::from_be_bytes([10, 0, 1, 1]);
/// One past the last allocatable address (10.0.0.0/16).
const DYNAMIC_IP_END: u32 = u32::from_be_bytes([10, 1, 0, 0]);

fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// RBAC objects only need a valid path segment name (`system:kube-dns`); everything else
/// a DNS-1123 subdomain.
fn valid_name(res: &ResourceDef, name: &str) -> bool {
    if res.group == resources::RBAC_GROUP {
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%'])
    } else {
        is_dns1123_subdomain(name)
    }
}

/// Whether an object of `res` in a namespace-scoped request belongs to `ns`.
fn in_ns(key: &ObjKey, ns: Option<&str>) -> bool {
    ns.is_none_or(|n| key.namespace == n)
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

    /// Every stored object of a resource, in key order.
    pub fn all(&self, res: &ResourceDef) -> Vec<Obj> {
        self.map(res)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Number of stored objects of a resource.
    pub fn count(&self, res: &ResourceDef) -> usize {
        self.objects.get(res.plural).map_or(0, BTreeMap::len)
    }

    fn map(&self, res: &ResourceDef) -> Option<&BTreeMap<ObjKey, Obj>> {
        self.objects.get(res.plural)
    }

    fn key(res: &ResourceDef, ns: &str, name: &str) -> ObjKey {
        ObjKey {
            namespace: if res.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    /// GET one object.
    pub fn get(&self, res: &'static ResourceDef, ns: &str, name: &str) -> Result<Obj, ApiError> {
        self.map(res)
            .and_then(|m| m.get(&Self::key(res, ns, name)))
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))
    }

    /// Creates an object whose resource is taken from its `apiVersion`/`kind`.
    pub fn create_value(&mut self, obj: Value) -> Result<Obj, ApiError> {
        let res = res_of(&obj)?;
        let ns = meta_str(&obj, "namespace").unwrap_or("default").to_string();
        self.create(res, &ns, obj)
    }

    /// POST: creates an object (409 AlreadyExists; `generateName`; Service defaulting and
    /// cluster-IP allocation; 404 when the namespace does not exist).
    pub fn create(
        &mut self,
        res: &'static ResourceDef,
        ns: &str,
        mut obj: Value,
    ) -> Result<Obj, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the request body is not a JSON object",
            ));
        }
        check_type(res, &obj)?;
        if !res.stored() {
            return Err(ApiError::bad_request(format!(
                "{} objects are evaluated, not stored",
                res.kind
            )));
        }
        rbac::validate(res.kind, &obj)
            .map_err(|m| ApiError::invalid(res, meta_str(&obj, "name").unwrap_or(""), m))?;
        let ns = if res.namespaced {
            match meta_str(&obj, "namespace") {
                Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => ns.to_string(),
            }
        } else {
            String::new()
        };
        if res.namespaced {
            let ns_res = resources::by_plural("namespaces")
                .ok_or_else(|| ApiError::internal("no namespaces"))?;
            if self.get(ns_res, "", &ns).is_err() {
                return Err(ApiError::not_found(ns_res, &ns));
            }
        }
        let mut name = meta_str(&obj, "name").unwrap_or("").to_string();
        if name.is_empty() {
            let generate = meta_str(&obj, "generateName").unwrap_or("").to_string();
            if generate.is_empty() {
                return Err(ApiError::invalid(
                    res,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
            name = loop {
                let candidate = format!("{generate}{}", meta::random_suffix());
                if self.get(res, &ns, &candidate).is_err() {
                    break candidate;
                }
            };
        }
        if !valid_name(res, &name) {
            return Err(ApiError::invalid(
                res,
                &name,
                format!(
                    "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
                ),
            ));
        }
        if self.get(res, &ns, &name).is_ok() {
            return Err(ApiError::already_exists(res, &name));
        }
        let now = meta::format_rfc3339(meta::now_unix());
        if let Some(m) = metadata_mut(&mut obj) {
            m.insert("name".into(), json!(name));
            if res.namespaced {
                m.insert("namespace".into(), json!(ns));
            } else {
                m.remove("namespace");
            }
            m.insert("uid".into(), json!(meta::new_uid()));
            m.insert("creationTimestamp".into(), json!(now));
            m.insert("generation".into(), json!(1));
            m.remove("deletionTimestamp");
            m.remove("resourceVersion");
        }
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        match res.kind {
            "Service" => self.prepare_service(&mut obj, None, &name, res)?,
            "Namespace" => {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
                obj["status"] = json!({"phase": "Active"});
            }
            _ => {}
        }
        Ok(self.write(res, Self::key(res, &ns, &name), Some(obj)))
    }

    /// Service defaulting and cluster-IP allocation / immutability check.
    fn prepare_service(
        &mut self,
        obj: &mut Value,
        old: Option<&Value>,
        name: &str,
        res: &ResourceDef,
    ) -> Result<(), ApiError> {
        if let Some(old_ip) = old
            .and_then(|o| o["spec"]["clusterIP"].as_str())
            .filter(|s| !s.is_empty())
        {
            match obj["spec"]["clusterIP"].as_str() {
                None | Some("") if obj["spec"]["type"] != "ExternalName" => {
                    obj["spec"]["clusterIP"] = json!(old_ip);
                }
                Some(new_ip)
                    if new_ip != old_ip
                        && obj["spec"]["type"] != "ExternalName"
                        && old.is_some_and(|o| o["spec"]["type"] != "ExternalName") =>
                {
                    return Err(ApiError::invalid(
                        res,
                        name,
                        "spec.clusterIPs[0]: Invalid value: field is immutable",
                    ));
                }
                _ => {}
            }
        } else if controllers::needs_cluster_ip(obj) {
            let ip = self
                .allocate_ip()
                .ok_or_else(|| ApiError::internal("cluster IP range exhausted"))?;
            if obj["spec"].is_null() {
                obj["spec"] = json!({});
            }
            obj["spec"]["clusterIP"] = json!(ip);
        } else if let Some(ip) = controllers::cluster_ip(obj)
            && self.used_ips.contains(&ip)
        {
            return Err(ApiError::invalid(
                res,
                name,
                format!(
                    "spec.clusterIPs: Invalid value: [\"{ip}\"]: failed to allocate IP {ip}: provided IP is already allocated"
                ),
            ));
        }
        controllers::default_service(obj);
        Ok(())
    }

    fn allocate_ip(&mut self) -> Option<String> {
        for _ in DYNAMIC_IP_START..DYNAMIC_IP_END {
            let ip = Ipv4Addr::from(self.next_ip).to_string();
            self.next_ip = if self.next_ip + 1 >= DYNAMIC_IP_END {
                DYNAMIC_IP_START
            } else {
                self.next_ip + 1
            };
            if !self.used_ips.contains(&ip) {
                return Some(ip);
            }
        }
        None
    }

    /// PUT (and the second half of PATCH): replaces an object. A `metadata.resourceVersion`
    /// in the body must match the stored one (409 Conflict); uid, creationTimestamp and
    /// namespace are preserved; an update that changes nothing does not bump the version.
    pub fn update(
        &mut self,
        res: &'static ResourceDef,
        ns: &str,
        name: &str,
        mut obj: Value,
    ) -> Result<Obj, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the request body is not a JSON object",
            ));
        }
        check_type(res, &obj)?;
        let existing = self.get(res, ns, name)?;
        rbac::validate(res.kind, &obj).map_err(|m| ApiError::invalid(res, name, m))?;
        if res.kind.ends_with("RoleBinding") && obj.get("roleRef") != existing.get("roleRef") {
            return Err(ApiError::invalid(
                res,
                name,
                "roleRef: Invalid value: cannot change roleRef",
            ));
        }
        if let Some(body_name) = meta_str(&obj, "name").filter(|n| !n.is_empty())
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if let Some(rv) = meta_str(&obj, "resourceVersion").filter(|r| !r.is_empty())
            && Some(rv) != meta_str(&existing, "resourceVersion")
        {
            return Err(ApiError::conflict(res, name));
        }
        if let Some(m) = metadata_mut(&mut obj) {
            m.insert("name".into(), json!(name));
            for f in [
                "uid",
                "creationTimestamp",
                "namespace",
                "resourceVersion",
                "generation",
            ] {
                match existing["metadata"].get(f) {
                    Some(v) => m.insert(f.into(), v.clone()),
                    None => m.remove(f),
                };
            }
        }
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        if res.kind == "Service" {
            self.prepare_service(&mut obj, Some(&existing), name, res)?;
        }
        if obj == *existing {
            return Ok(existing);
        }
        let changed_spec = strip_meta_status(&obj) != strip_meta_status(&existing);
        if changed_spec {
            let g = existing["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            obj["metadata"]["generation"] = json!(g);
        }
        Ok(self.write(res, Self::key(res, ns, name), Some(obj)))
    }

    /// DELETE: removes an object (a Namespace takes its contents with it). Returns the
    /// object as last stored, with the deletion's resourceVersion.
    pub fn delete(
        &mut self,
        res: &'static ResourceDef,
        ns: &str,
        name: &str,
    ) -> Result<Obj, ApiError> {
        self.get(res, ns, name)?;
        if res.kind == "Namespace" {
            for r in resources::RESOURCES.iter().filter(|r| r.namespaced) {
                let keys: Vec<ObjKey> = self
                    .map(r)
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone())
                    .filter(|k| k.namespace == name)
                    .collect();
                for k in keys {
                    if self.map(r).is_some_and(|m| m.contains_key(&k)) {
                        self.write(r, k, None);
                    }
                }
            }
        }
        Ok(self.write(res, Self::key(res, ns, name), None))
    }

    /// DELETE on a collection: deletes every object matching the selectors.
    pub fn delete_collection(
        &mut self,
        res: &'static ResourceDef,
        ns: Option<&str>,
        opts: &ListOpts,
    ) -> Result<Vec<Obj>, ApiError> {
        let all = self.list(
            res,
            ns,
            &ListOpts {
                labels: opts.labels.clone(),
                fields: opts.fields.clone(),
                ..ListOpts::default()
            },
        )?;
        let mut out = Vec::new();
        for o in all.items {
            let ns = meta_str(&o, "namespace").unwrap_or("").to_string();
            let name = meta_str(&o, "name").unwrap_or("").to_string();
            if self.get(res, &ns, &name).is_ok() {
                out.push(self.delete(res, &ns, &name)?);
            }
        }
        Ok(out)
    }

    /// Commits one change: bumps the resourceVersion, stores, records history, notifies
    /// watchers, then runs the controllers.
    fn write(&mut self, res: &'static ResourceDef, key: ObjKey, new: Option<Value>) -> Obj {
        self.rv += 1;
        let rv = self.rv;
        if res.group == resources::RBAC_GROUP {
            self.rbac_generation += 1;
        }
        let map = self.objects.entry(res.plural).or_default();
        let prev = map.get(&key).cloned();
        let (kind, object) = match new {
            Some(mut v) => {
                v["metadata"]["resourceVersion"] = json!(rv.to_string());
                let o = Arc::new(v);
                map.insert(key.clone(), o.clone());
                (
                    if prev.is_some() {
                        EventType::Modified
                    } else {
                        EventType::Added
                    },
                    o,
                )
            }
            None => {
                map.remove(&key);
                let mut v = prev.as_deref().cloned().unwrap_or_else(|| json!({}));
                v["metadata"]["resourceVersion"] = json!(rv.to_string());
                (EventType::Deleted, Arc::new(v))
            }
        };
        if res.kind == "Service" {
            if let Some(ip) = prev.as_deref().and_then(controllers::cluster_ip) {
                self.used_ips.remove(&ip);
            }
            if kind != EventType::Deleted
                && let Some(ip) = controllers::cluster_ip(&object)
            {
                self.used_ips.insert(ip);
            }
        }
        let ev = Arc::new(Event {
            rv,
            res,
            kind,
            key: key.clone(),
            object: object.clone(),
            prev,
        });
        self.history.push_back(ev.clone());
        while self.history.len() > self.cfg.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
        let _ = self.tx.send(ev);
        self.run_controllers(res, &key);
        object
    }
}

/// Everything but `metadata` and `status` (changes there do not bump `generation`).
fn strip_meta_status(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

/// Resource of an object from its `apiVersion` and `kind`.
pub fn res_of(obj: &Value) -> Result<&'static ResourceDef, ApiError> {
    let av = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    resources::by_kind(av, kind).ok_or_else(|| {
        ApiError::bad_request(format!(
            "no resource served for apiVersion {av:?} kind {kind:?}"
        ))
    })
}

/// A body's `apiVersion`/`kind`, when given, must name the URL's resource.
fn check_type(res: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let kind_ok = obj["kind"]
        .as_str()
        .is_none_or(|k| k.is_empty() || k == res.kind);
    let av_ok = obj["apiVersion"]
        .as_str()
        .is_none_or(|a| a.is_empty() || a == res.api_version());
    if kind_ok && av_ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({}) or kind {} is not {}",
            obj["apiVersion"],
            res.api_version(),
            obj["kind"],
            res.kind
        )))
    }
}

mod read;
mod reconcile;

#[cfg(test)]
mod tests;
