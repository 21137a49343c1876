//! Committing a change (`write`: bump the resourceVersion, store, record history, notify
//! watchers) and the controllers it runs after every write: the endpoints controller
//! (selector Services → Endpoints from Pods) and EndpointSlice generation/mirroring
//! (Endpoints → slices). They write through `write` too, so derived objects get their own
//! resourceVersions and watch events, exactly as if a controller had written them.

use std::sync::Arc;

use serde_json::{Value, json};

use super::super::controllers::{
    self, ENDPOINTS_MANAGED_BY_LABEL, ENDPOINTS_MANAGER, GENERATED_ANNOTATION, MIRROR_MANAGER,
    SERVICE_NAME_LABEL, SLICE_MANAGER,
};
use super::super::meta::{self, labels, meta_str, metadata_mut};
use super::super::resources::{self, ResourceDef};
use super::{Event, EventType, Obj, ObjKey, Store};

impl Store {
    pub(super) fn run_controllers(&mut self, res: &'static ResourceDef, key: &ObjKey) {
        match res.plural {
            "endpoints" if self.cfg.mirror_endpoint_slices => {
                self.sync_slices(&key.namespace, &key.name)
            }
            "services" => {
                if self.cfg.endpoints_controller {
                    self.sync_endpoints(&key.namespace, &key.name);
                }
                if self.cfg.mirror_endpoint_slices {
                    self.sync_slices(&key.namespace, &key.name);
                }
            }
            "pods" if self.cfg.endpoints_controller => {
                let names: Vec<String> = self
                    .objects
                    .get("services")
                    .into_iter()
                    .flatten()
                    .filter(|(k, s)| {
                        k.namespace == key.namespace && s["spec"]["selector"].is_object()
                    })
                    .map(|(k, _)| k.name.clone())
                    .collect();
                for n in names {
                    self.sync_endpoints(&key.namespace, &n);
                }
            }
            _ => {}
        }
    }

    /// Creates, updates or deletes the managed object `desired` (metadata merged with the
    /// existing one); no write when nothing changed.
    fn upsert_managed(&mut self, res: &'static ResourceDef, mut desired: Value) {
        let ns = meta_str(&desired, "namespace").unwrap_or("").to_string();
        let name = meta_str(&desired, "name").unwrap_or("").to_string();
        let key = Self::key(res, &ns, &name);
        match self.map(res).and_then(|m| m.get(&key)).cloned() {
            Some(existing) => {
                for f in ["uid", "creationTimestamp", "resourceVersion", "generation"] {
                    if let Some(v) = existing["metadata"].get(f) {
                        desired["metadata"][f] = v.clone();
                    }
                }
                if desired != *existing {
                    self.write(res, key, Some(desired));
                }
            }
            None => {
                if let Some(m) = metadata_mut(&mut desired) {
                    m.insert("uid".into(), json!(meta::new_uid()));
                    m.insert(
                        "creationTimestamp".into(),
                        json!(meta::format_rfc3339(meta::now_unix())),
                    );
                    m.insert("generation".into(), json!(1));
                }
                self.write(res, key, Some(desired));
            }
        }
    }

    /// EndpointSlices for Endpoints `ns/name`: controller-built Endpoints get slices as from
    /// the endpointslice controller; client-written Endpoints are mirrored (as the mirroring
    /// controller) only when their Service exists and has no selector. Only slices carrying
    /// [`GENERATED_ANNOTATION`] are ever changed or removed.
    fn sync_slices(&mut self, ns: &str, name: &str) {
        let (Some(ep_res), Some(slice_res), Some(svc_res)) = (
            resources::by_plural("endpoints"),
            resources::by_plural("endpointslices"),
            resources::by_plural("services"),
        ) else {
            return;
        };
        let desired = match self.get(ep_res, ns, name) {
            Ok(ep) => {
                let controller_owned = labels(&ep)
                    .get(ENDPOINTS_MANAGED_BY_LABEL)
                    .map(String::as_str)
                    == Some(ENDPOINTS_MANAGER);
                let selectorless_service = self.get(svc_res, ns, name).is_ok_and(|s| {
                    s["spec"]["selector"]
                        .as_object()
                        .is_none_or(|m| m.is_empty())
                });
                if controller_owned {
                    controllers::slices_for_endpoints(&ep, SLICE_MANAGER)
                } else if selectorless_service {
                    controllers::slices_for_endpoints(&ep, MIRROR_MANAGER)
                } else {
                    Vec::new()
                }
            }
            Err(_) => Vec::new(),
        };
        // Generated slice names start with the service name (possibly truncated to 200
        // characters), so a key-range scan finds them without visiting every slice.
        let prefix: String = name.chars().take(200).collect();
        let start = ObjKey {
            namespace: ns.to_string(),
            name: prefix.clone(),
        };
        let stale: Vec<ObjKey> = self
            .map(slice_res)
            .into_iter()
            .flat_map(|m| m.range(start.clone()..))
            .take_while(|(k, _)| k.namespace == ns && k.name.starts_with(&prefix))
            .filter(|(k, s)| {
                s["metadata"]["labels"][SERVICE_NAME_LABEL] == name
                    && s["metadata"]["annotations"][GENERATED_ANNOTATION] == "true"
                    && !desired
                        .iter()
                        .any(|d| meta_str(d, "name") == Some(k.name.as_str()))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for d in desired {
            self.upsert_managed(slice_res, d);
        }
        for k in stale {
            self.write(slice_res, k, None);
        }
    }

    /// The endpoints controller for Service `ns/name`: only Endpoints it created itself (or
    /// missing ones) are written, so client-written Endpoints are left alone.
    fn sync_endpoints(&mut self, ns: &str, name: &str) {
        let (Some(svc_res), Some(ep_res), Some(pod_res)) = (
            resources::by_plural("services"),
            resources::by_plural("endpoints"),
            resources::by_plural("pods"),
        ) else {
            return;
        };
        let existing = self.get(ep_res, ns, name).ok();
        let owned = existing.as_ref().is_none_or(|e| {
            labels(e)
                .get(ENDPOINTS_MANAGED_BY_LABEL)
                .map(String::as_str)
                == Some(ENDPOINTS_MANAGER)
        });
        if !owned {
            return;
        }
        let desired = self.get(svc_res, ns, name).ok().and_then(|svc| {
            let pods: Vec<&Value> = self
                .map(pod_res)
                .into_iter()
                .flatten()
                .filter(|(k, _)| k.namespace == ns)
                .map(|(_, p)| p.as_ref())
                .collect();
            controllers::endpoints_for_service(&svc, &pods)
        });
        match (desired, existing) {
            (Some(d), _) => self.upsert_managed(ep_res, d),
            (None, Some(_)) => {
                self.write(ep_res, Self::key(ep_res, ns, name), None);
            }
            (None, None) => {}
        }
    }
}

impl Store {
    /// Commits one change: bumps the resourceVersion, stores, records history, notifies
    /// watchers, then runs the controllers.
    pub(super) fn write(
        &mut self,
        res: &'static ResourceDef,
        key: ObjKey,
        new: Option<Value>,
    ) -> Obj {
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
