//! The comparison fixture: one namespace ([`NS`]) holding every Service shape kube-dns
//! answers for, created through the real API server, with Ready Pods on a Node so that the
//! real endpoint controllers write both Endpoints and EndpointSlices, plus one selector-less
//! headless Service ([`BIG`]) with more than 1000 endpoints whose objects are written the way
//! the controllers would write them for a selector Service of that size: the EndpointSlices
//! hold every address, the core/v1 Endpoints only the first 1000 and the
//! `endpoints.kubernetes.io/over-capacity: truncated` annotation.

use integration::controlplane::ControlPlane;
use serde_json::json;

/// The namespace of the fixture.
pub const NS: &str = "cmp";
/// The Node the Pods are bound to.
const NODE: &str = "node-cmp";
/// The headless Service with more endpoints than core/v1 Endpoints may hold.
pub const BIG: &str = "big";
/// Addresses of [`BIG`] (EndpointSlices).
pub const BIG_ENDPOINTS: usize = 1100;
/// Addresses the Endpoints controller keeps (`maxCapacity` in the endpoints controller).
pub const ENDPOINTS_MAX_CAPACITY: usize = 1000;
/// Addresses per EndpointSlice of [`BIG`] (the controller's default `--max-endpoints-per-slice`
/// is 100; fewer, larger slices keep the fixture quick to write).
const BIG_PER_SLICE: usize = 550;

/// Services, as users would write them. Ports cover named and unnamed, several, TCP and UDP.
const SERVICES: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: cmp}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: cmp}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080, protocol: TCP}
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: cmp}
spec:
  ports:
  - {port: 8080, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata: {name: hl, namespace: cmp}
spec:
  clusterIP: None
  selector: {app: hl}
  ports:
  - {name: sql, port: 5432, protocol: TCP}
  - {name: metrics, port: 9100, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata: {name: hl-nohost, namespace: cmp}
spec:
  clusterIP: None
  selector: {app: nohost}
  ports:
  - {port: 9000, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata: {name: hl-noports, namespace: cmp}
spec:
  clusterIP: None
  selector: {app: noports}
---
apiVersion: v1
kind: Service
metadata: {name: ext-in, namespace: cmp}
spec: {type: ExternalName, externalName: web.cmp.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: ext-missing, namespace: cmp}
spec: {type: ExternalName, externalName: nothing.cmp.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: ext-out, namespace: cmp}
spec: {type: ExternalName, externalName: www.example.org}
---
apiVersion: v1
kind: Service
metadata: {name: ext-alias, namespace: cmp}
spec: {type: ExternalName, externalName: alias.example.org}
---
apiVersion: v1
kind: Service
metadata: {name: ext-nx, namespace: cmp}
spec: {type: ExternalName, externalName: nx.example.org}
---
apiVersion: v1
kind: Service
metadata: {name: dual, namespace: cmp}
spec:
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  selector: {app: dual}
  ports:
  - {name: http, port: 80, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata: {name: dual-hl, namespace: cmp}
spec:
  clusterIP: None
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  selector: {app: dual}
  ports:
  - {name: http, port: 80, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata: {name: v6, namespace: cmp}
spec:
  ipFamilyPolicy: SingleStack
  ipFamilies: [IPv6]
  ports:
  - {name: http, port: 80, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata: {name: big, namespace: cmp}
spec:
  clusterIP: None
  ports:
  - {name: http, port: 80, protocol: TCP}
"#;

/// A Ready Pod: (name, app label, `hostname`/`subdomain`, pod IPs).
pub struct PodSpec {
    /// Pod name.
    pub name: &'static str,
    /// `app` label.
    pub app: &'static str,
    /// `subdomain` (the Pod's `hostname` is its name when set).
    pub subdomain: Option<&'static str>,
    /// Pod IPs, primary first.
    pub ips: &'static [&'static str],
}

/// The Pods behind the selector Services.
pub const PODS: &[PodSpec] = &[
    PodSpec {
        name: "web-0",
        app: "web",
        subdomain: None,
        ips: &["10.244.1.10"],
    },
    PodSpec {
        name: "web-1",
        app: "web",
        subdomain: None,
        ips: &["10.244.1.11"],
    },
    PodSpec {
        name: "hl-0",
        app: "hl",
        subdomain: Some("hl"),
        ips: &["10.244.2.10"],
    },
    PodSpec {
        name: "hl-1",
        app: "hl",
        subdomain: Some("hl"),
        ips: &["10.244.2.11"],
    },
    PodSpec {
        name: "nohost-0",
        app: "nohost",
        subdomain: None,
        ips: &["10.244.3.10"],
    },
    PodSpec {
        name: "nohost-1",
        app: "nohost",
        subdomain: None,
        ips: &["10.244.3.11"],
    },
    PodSpec {
        name: "noports-0",
        app: "noports",
        subdomain: None,
        ips: &["10.244.4.10"],
    },
    PodSpec {
        name: "dual-0",
        app: "dual",
        subdomain: Some("dual-hl"),
        ips: &["10.244.5.10", "fd00:10:244::5:10"],
    },
    PodSpec {
        name: "dual-1",
        app: "dual",
        subdomain: Some("dual-hl"),
        ips: &["10.244.5.11", "fd00:10:244::5:11"],
    },
];

/// The `i`-th address of [`BIG`] (10.250.0.0/16).
pub fn big_ip(i: usize) -> String {
    format!("10.250.{}.{}", i / 250, i % 250 + 1)
}

fn pod_yaml(p: &PodSpec) -> String {
    let host = p
        .subdomain
        .map(|s| format!("  hostname: {}\n  subdomain: {s}\n", p.name))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {NS}\n  labels:\n    app: {app}\n\
         spec:\n{host}  nodeName: {NODE}\n  automountServiceAccountToken: false\n  containers:\n  - name: c\n    image: registry.invalid/pause:1\n",
        name = p.name,
        app = p.app,
    )
}

/// Status a kubelet would report for a Ready Pod.
fn pod_status(p: &PodSpec) -> String {
    let ips: Vec<_> = p.ips.iter().map(|ip| json!({ "ip": ip })).collect();
    json!({"status": {
        "phase": "Running",
        "podIP": p.ips[0],
        "podIPs": ips,
        "conditions": [{"type": "Ready", "status": "True"}],
    }})
    .to_string()
}

/// The Endpoints and EndpointSlices of [`BIG`], as JSON documents.
fn big_objects() -> Vec<serde_json::Value> {
    let port = json!([{"name": "http", "port": 80, "protocol": "TCP"}]);
    let truncated: Vec<_> = (0..ENDPOINTS_MAX_CAPACITY)
        .map(|i| json!({ "ip": big_ip(i) }))
        .collect();
    let mut objs = vec![json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": BIG,
            "namespace": NS,
            "annotations": {"endpoints.kubernetes.io/over-capacity": "truncated"},
            // Not mirrored into EndpointSlices: the slices below are the full set.
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
        },
        "subsets": [{"addresses": truncated, "ports": port}],
    })];
    for (n, start) in (0..BIG_ENDPOINTS).step_by(BIG_PER_SLICE).enumerate() {
        let endpoints: Vec<_> = (start..(start + BIG_PER_SLICE).min(BIG_ENDPOINTS))
            .map(|i| json!({"addresses": [big_ip(i)], "conditions": {"ready": true}}))
            .collect();
        objs.push(json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": format!("{BIG}-{n}"),
                "namespace": NS,
                "labels": {
                    "kubernetes.io/service-name": BIG,
                    "endpointslice.kubernetes.io/managed-by": "legacy-compare.kube-dns-rs",
                },
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": port,
        }));
    }
    objs
}

/// Creates the fixture (idempotent).
pub fn load(cp: &ControlPlane) -> anyhow::Result<()> {
    cp.kubectl_apply(&format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {NODE}\n  labels:\n    \
         topology.kubernetes.io/zone: z1\n    topology.kubernetes.io/region: r1\n"
    ))?;
    cp.kubectl_apply(SERVICES)?;
    let pods: Vec<String> = PODS.iter().map(pod_yaml).collect();
    cp.kubectl_apply(&pods.join("---\n"))?;
    for p in PODS {
        cp.kubectl_ok([
            "-n",
            NS,
            "patch",
            "pod",
            p.name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &pod_status(p),
        ])?;
    }
    let list = json!({"apiVersion": "v1", "kind": "List", "items": big_objects()});
    kubectl_create(cp, &list.to_string())?;
    Ok(())
}

/// `kubectl create -f -` (not `apply`: its last-applied annotation would copy 1100 addresses).
fn kubectl_create(cp: &ControlPlane, doc: &str) -> anyhow::Result<()> {
    cp.kubectl_stdin(["create", "-f", "-"], doc)?;
    Ok(())
}

/// `(namespace/name, clusterIPs)` of every Service with a ClusterIP, read back from the API.
pub fn cluster_ips(cp: &ControlPlane) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let out = cp.kubectl_ok([
        "get",
        "services",
        "-A",
        "-o",
        "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.spec.clusterIPs[*]}{\"\\n\"}{end}",
    ])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let key = it.next()?.to_string();
            let ips: Vec<String> = it.filter(|ip| *ip != "None").map(String::from).collect();
            (!ips.is_empty()).then_some((key, ips))
        })
        .collect())
}
