//! The `/cache` JSON view: the served records as the legacy skydns tree — `ChildNodes` keyed
//! by reversed labels (`local` → `cluster` → `svc` → `<ns>` → `<svc>` → `_<proto>` →
//! `_<port>`) with `Entries` of `{host, port, priority, weight, ttl}` records.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::entry::{EntryKind, ServiceEntry};
use super::reader::Store;

impl Store {
    /// JSON view of the served records in the legacy `/cache` shape: a tree of
    /// `ChildNodes` keyed by reversed labels with `Entries` of skydns-like records.
    pub fn cache_json(&self) -> Value {
        let zone = self.shared.zone.load();
        let ttl = self.shared.ttl;
        let rec = |host: String, port: u16| json!({"host": host, "port": port, "priority": 10, "weight": 10, "ttl": ttl});
        let mut nss: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        let mut entries: Vec<&Arc<ServiceEntry>> = zone.iter().collect();
        entries.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        let svc_fqdn =
            |e: &ServiceEntry| format!("{}.{}.svc.{}", e.name, e.namespace, self.domain());
        for e in entries {
            let mut node_entries = Map::new();
            let mut children: BTreeMap<String, BTreeMap<String, Map<String, Value>>> =
                BTreeMap::new();
            match &e.kind {
                EntryKind::ClusterIp { ips, ports, .. } => {
                    for ip in ips.iter() {
                        let k = crate::hash::endpoint_hash_label(*ip);
                        node_entries.insert(k.clone(), rec(ip.to_string(), 0));
                        for p in ports.iter() {
                            children
                                .entry(format!("_{}", p.proto.as_str()))
                                .or_default()
                                .entry(format!("_{}", p.name))
                                .or_default()
                                .insert(k.clone(), rec(svc_fqdn(e), p.port));
                        }
                    }
                }
                EntryKind::Headless {
                    endpoints,
                    ports,
                    srv,
                } => {
                    for ep in endpoints.iter() {
                        node_entries.insert(ep.label.to_string(), rec(ep.ip.to_string(), 0));
                    }
                    for (pi, ei) in srv.iter() {
                        let (Some(p), Some(ep)) =
                            (ports.get(*pi as usize), endpoints.get(*ei as usize))
                        else {
                            continue;
                        };
                        children
                            .entry(format!("_{}", p.proto.as_str()))
                            .or_default()
                            .entry(format!("_{}", p.name))
                            .or_default()
                            .insert(
                                ep.label.to_string(),
                                rec(format!("{}.{}", ep.label, svc_fqdn(e)), p.port),
                            );
                    }
                }
                EntryKind::ExternalName(t) => {
                    nss.entry(e.namespace.to_string()).or_default().insert(
                        e.name.to_string(),
                        json!({"Entries": {e.name.to_string(): rec(t.to_string(), 0)}}),
                    );
                    continue;
                }
            }
            let child_nodes: Map<String, Value> = children
                .into_iter()
                .map(|(proto, names)| {
                    let inner: Map<String, Value> = names
                        .into_iter()
                        .map(|(n, ents)| (n, json!({"Entries": ents})))
                        .collect();
                    (proto, json!({"ChildNodes": inner}))
                })
                .collect();
            let mut node = Map::new();
            if !child_nodes.is_empty() {
                node.insert("ChildNodes".into(), Value::Object(child_nodes));
            }
            if !node_entries.is_empty() {
                node.insert("Entries".into(), Value::Object(node_entries));
            }
            nss.entry(e.namespace.to_string())
                .or_default()
                .insert(e.name.to_string(), Value::Object(node));
        }
        let svc: Map<String, Value> = nss
            .into_iter()
            .map(|(ns, m)| (ns, json!({"ChildNodes": m})))
            .collect();
        let mut tree = json!({"ChildNodes": {"svc": {"ChildNodes": svc}}});
        for label in self.domain().trim_end_matches('.').split('.') {
            tree = json!({"ChildNodes": {label: tree}});
        }
        tree
    }
}
