//! Cluster objects shaped as a real cluster stores and serves them, for scale measurements:
//! what a kube-apiserver with its controllers returns in a list, not the minimal objects of
//! [`super::objects`].
//!
//! * Services: `metadata.managedFields` of two managers (`kubectl-client-side-apply` for the
//!   spec, `kube-controller-manager`-style status writer), uid, creationTimestamp, labels
//!   (`app`, `app.kubernetes.io/*`), the `kubectl.kubernetes.io/last-applied-configuration`
//!   annotation; spec with `clusterIP`/`clusterIPs`, `ipFamilies`, `ipFamilyPolicy`,
//!   `selector`, `sessionAffinity`, `internalTrafficPolicy`, `type`, ports with `targetPort`;
//!   `status.loadBalancer`.
//! * EndpointSlices (as the endpointslice controller writes them): `generateName`, labels
//!   (`kubernetes.io/service-name`, `endpointslice.kubernetes.io/managed-by`, the Service's
//!   labels), the `endpoints.kubernetes.io/last-change-trigger-time` annotation,
//!   ownerReferences to the Service, managedFields of `kube-controller-manager` and a second
//!   manager; every endpoint with `conditions` (ready/serving/terminating), `nodeName`,
//!   `zone` and a Pod `targetRef` (with uid).
//! * Endpoints (as the endpoints controller writes them): the same metadata shape, addresses
//!   with `nodeName` and a Pod `targetRef`.
//!
//! The uid, creationTimestamp and resourceVersion the emulator sets on create complete them.
//! Everything is deterministic in the indices, so runs are comparable.

use serde_json::{Value, json};

/// Nodes endpoints are spread over (names `node-<n>`).
pub const NODES: usize = 500;
/// Zones nodes are spread over.
pub const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];
/// Fixed write time used in managedFields and annotations (RFC 3339).
pub const WRITE_TIME: &str = "2026-11-20T10:15:30Z";

/// A deterministic RFC 4122-shaped uid for object `index` of kind tag `tag`.
pub fn uid(tag: u32, index: usize) -> String {
    let i = index as u64;
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        tag.wrapping_mul(0x9e37_79b9),
        (i >> 32) & 0xffff,
        (i >> 20) & 0xfff,
        (i >> 8) & 0xfff,
        i.wrapping_mul(0x0000_5851_f42d) & 0xffff_ffff_ffff
    )
}

/// A `kubernetes.io`-style 5-character random suffix, deterministic in `index`.
pub fn suffix(index: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d) >> 7;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize];
            n /= ALPHABET.len() as u64;
            char::from(c)
        })
        .collect()
}

fn managed(manager: &str, api_version: &str, fields: Value, subresource: Option<&str>) -> Value {
    let mut m = json!({
        "manager": manager, "operation": "Update", "apiVersion": api_version,
        "time": WRITE_TIME, "fieldsType": "FieldsV1", "fieldsV1": fields,
    });
    if let Some(s) = subresource {
        m["subresource"] = json!(s);
    }
    m
}

fn app_labels(name: &str) -> Value {
    json!({
        "app": name,
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": format!("{name}-prod"),
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/part-of": "shop",
    })
}

/// One named TCP port: (name, port, targetPort).
pub type RealPort<'a> = (&'a str, u16, u16);

/// A Service as a real cluster serves it. `cluster_ip`: `None` for headless.
pub fn service(ns: &str, name: &str, cluster_ip: Option<&str>, ports: &[RealPort<'_>]) -> Value {
    let ports_json: Vec<Value> = ports
        .iter()
        .map(|(n, p, t)| json!({"name": n, "port": p, "protocol": "TCP", "targetPort": t}))
        .collect();
    let ip = cluster_ip.unwrap_or("None");
    let mut spec = json!({
        "clusterIP": ip, "clusterIPs": [ip], "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "ports": ports_json,
        "selector": {"app": name}, "sessionAffinity": "None", "type": "ClusterIP",
    });
    let applied = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"annotations": {}, "labels": app_labels(name), "name": name, "namespace": ns},
        "spec": {"clusterIP": ip, "ports": spec["ports"], "selector": {"app": name}},
    });
    let port_keys: serde_json::Map<String, Value> = ports
        .iter()
        .map(|(_, p, _)| {
            (
                format!("k:{{\"port\":{p},\"protocol\":\"TCP\"}}"),
                json!({".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}),
            )
        })
        .collect();
    let apply_fields = json!({
        "f:metadata": {
            "f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}},
            "f:labels": {".": {}, "f:app": {}, "f:app.kubernetes.io/instance": {},
                "f:app.kubernetes.io/managed-by": {}, "f:app.kubernetes.io/name": {},
                "f:app.kubernetes.io/part-of": {}},
        },
        "f:spec": {"f:clusterIP": {}, "f:internalTrafficPolicy": {}, "f:ports": port_keys,
            "f:selector": {}, "f:sessionAffinity": {}, "f:type": {}},
    });
    let status_fields = json!({"f:status": {"f:loadBalancer": {}}});
    if cluster_ip.is_none() {
        spec["clusterIPs"] = json!(["None"]);
    }
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": name, "namespace": ns,
            "labels": app_labels(name),
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": format!("{applied}\n"),
                "meta.helm.sh/release-name": format!("{name}-prod"),
                "meta.helm.sh/release-namespace": ns,
            },
            "managedFields": [
                managed("kubectl-client-side-apply", "v1", apply_fields, None),
                managed("kube-controller-manager", "v1", status_fields, Some("status")),
            ],
        },
        "spec": spec,
        "status": {"loadBalancer": {}},
    })
}

/// One endpoint: global endpoint index `k` (node, zone and Pod name derive from it), address.
#[derive(Debug, Clone)]
pub struct RealEndpoint {
    /// Global index (deterministic node, zone, Pod name and uid).
    pub k: usize,
    /// IPv4 address.
    pub ip: String,
    /// Ready (serving follows it; never terminating).
    pub ready: bool,
}

fn node(k: usize) -> String {
    format!("node-{}", k % NODES)
}

fn zone(k: usize) -> &'static str {
    ZONES[(k % NODES) % ZONES.len()]
}

fn pod_name(service: &str, k: usize) -> String {
    format!("{service}-7d9f8b6c4-{}", suffix(k))
}

fn owner(service: &str, service_uid: &str) -> Value {
    json!([{"apiVersion": "v1", "kind": "Service", "name": service, "uid": service_uid,
            "controller": true, "blockOwnerDeletion": true}])
}

/// An EndpointSlice of `service` as the endpointslice controller writes it.
/// `slice_index` makes the generated name unique; `service_uid` is the owner's uid.
pub fn endpoint_slice(
    ns: &str,
    service: &str,
    service_uid: &str,
    slice_index: usize,
    eps: &[RealEndpoint],
    ports: &[RealPort<'_>],
) -> Value {
    let endpoints: Vec<Value> = eps
        .iter()
        .map(|e| {
            json!({
                "addresses": [e.ip],
                "conditions": {"ready": e.ready, "serving": e.ready, "terminating": false},
                "nodeName": node(e.k), "zone": zone(e.k),
                "targetRef": {"kind": "Pod", "namespace": ns, "name": pod_name(service, e.k),
                    "uid": uid(7, e.k)},
            })
        })
        .collect();
    let ports_json: Vec<Value> = ports
        .iter()
        .map(|(n, _, t)| json!({"name": n, "port": t, "protocol": "TCP"}))
        .collect();
    let mut labels = app_labels(service);
    labels["kubernetes.io/service-name"] = json!(service);
    labels["endpointslice.kubernetes.io/managed-by"] = json!("endpointslice-controller.k8s.io");
    let controller_fields = json!({
        "f:addressType": {}, "f:endpoints": {}, "f:ports": {},
        "f:metadata": {
            "f:annotations": {".": {}, "f:endpoints.kubernetes.io/last-change-trigger-time": {}},
            "f:generateName": {},
            "f:labels": {".": {}, "f:app": {}, "f:app.kubernetes.io/instance": {},
                "f:app.kubernetes.io/managed-by": {}, "f:app.kubernetes.io/name": {},
                "f:app.kubernetes.io/part-of": {}, "f:endpointslice.kubernetes.io/managed-by": {},
                "f:kubernetes.io/service-name": {}},
            "f:ownerReferences": {".": {}, format!("k:{{\"uid\":\"{service_uid}\"}}"): {}},
        },
    });
    let label_fields = json!({"f:metadata": {"f:labels": {"f:topology.example.com/pool": {}}}});
    labels["topology.example.com/pool"] = json!("general");
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "name": format!("{service}-{}", suffix(slice_index)),
            "generateName": format!("{service}-"),
            "namespace": ns,
            "labels": labels,
            "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": WRITE_TIME},
            "ownerReferences": owner(service, service_uid),
            "managedFields": [
                managed("kube-controller-manager", "discovery.k8s.io/v1", controller_fields, None),
                managed("kubectl-label", "discovery.k8s.io/v1", label_fields, None),
            ],
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports_json,
    })
}

/// The core/v1 Endpoints of `service` as the endpoints controller writes it.
pub fn endpoints(ns: &str, service: &str, eps: &[RealEndpoint], ports: &[RealPort<'_>]) -> Value {
    let render = |e: &RealEndpoint| {
        json!({"ip": e.ip, "nodeName": node(e.k),
               "targetRef": {"kind": "Pod", "namespace": ns, "name": pod_name(service, e.k),
                   "uid": uid(7, e.k)}})
    };
    let ready: Vec<Value> = eps.iter().filter(|e| e.ready).map(render).collect();
    let not_ready: Vec<Value> = eps.iter().filter(|e| !e.ready).map(render).collect();
    let ports_json: Vec<Value> = ports
        .iter()
        .map(|(n, _, t)| json!({"name": n, "port": t, "protocol": "TCP"}))
        .collect();
    let mut subset = json!({"ports": ports_json});
    if !ready.is_empty() {
        subset["addresses"] = json!(ready);
    }
    if !not_ready.is_empty() {
        subset["notReadyAddresses"] = json!(not_ready);
    }
    let controller_fields = json!({
        "f:metadata": {
            "f:annotations": {".": {}, "f:endpoints.kubernetes.io/last-change-trigger-time": {}},
            "f:labels": {".": {}, "f:app": {}, "f:app.kubernetes.io/instance": {},
                "f:app.kubernetes.io/managed-by": {}, "f:app.kubernetes.io/name": {},
                "f:app.kubernetes.io/part-of": {}},
        },
        "f:subsets": {},
    });
    let label_fields = json!({"f:metadata": {"f:labels": {"f:topology.example.com/pool": {}}}});
    let mut labels = app_labels(service);
    labels["topology.example.com/pool"] = json!("general");
    json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {
            "name": service, "namespace": ns,
            "labels": labels,
            "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": WRITE_TIME},
            "managedFields": [
                managed("kube-controller-manager", "v1", controller_fields, None),
                managed("kubectl-label", "v1", label_fields, None),
            ],
        },
        "subsets": if eps.is_empty() { json!([]) } else { json!([subset]) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let s = service("ns", "web", Some("10.96.0.10"), &[("http", 80, 8080)]);
        assert_eq!(s["spec"]["clusterIPs"], json!(["10.96.0.10"]));
        assert_eq!(
            s["metadata"]["managedFields"].as_array().map(Vec::len),
            Some(2)
        );
        let h = service("ns", "db", None, &[("pg", 5432, 5432)]);
        assert_eq!(h["spec"]["clusterIP"], "None");
        let eps: Vec<RealEndpoint> = (0..3)
            .map(|k| RealEndpoint {
                k,
                ip: format!("10.128.0.{k}"),
                ready: k != 1,
            })
            .collect();
        let sl = endpoint_slice("ns", "web", &uid(1, 0), 0, &eps, &[("http", 80, 8080)]);
        assert_eq!(sl["endpoints"][0]["targetRef"]["kind"], "Pod");
        assert_eq!(sl["endpoints"][1]["conditions"]["ready"], false);
        assert_eq!(
            sl["metadata"]["labels"]["kubernetes.io/service-name"],
            "web"
        );
        let e = endpoints("ns", "web", &eps, &[("http", 80, 8080)]);
        assert_eq!(
            e["subsets"][0]["addresses"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(e["subsets"][0]["notReadyAddresses"][0]["ip"], "10.128.0.1");
        assert_ne!(uid(1, 0), uid(1, 1));
        assert_eq!(suffix(3).len(), 5);
    }
}
