//! Builders for the cluster objects kube-dns tests create (Services, Endpoints,
//! EndpointSlices, ConfigMaps, Pods) as JSON ready for [`kube_emulator::Emulator::apply`]
//! or `create`. Kept declarative: every field a test cares about is a parameter.

use serde_json::{Map, Value, json};

/// One service port: (name, port, protocol). An empty name is omitted.
pub type PortSpec<'a> = (&'a str, u16, &'a str);

fn ports_json(ports: &[PortSpec<'_>], with_target: bool) -> Vec<Value> {
    ports
        .iter()
        .map(|(name, port, proto)| {
            let mut p = json!({"port": port, "protocol": proto});
            if !name.is_empty() {
                p["name"] = json!(name);
            }
            if with_target {
                p["targetPort"] = json!(port);
            }
            p
        })
        .collect()
}

/// A ClusterIP Service. `cluster_ip`: an address, `"None"` (headless) or `""` (allocate).
pub fn service(ns: &str, name: &str, cluster_ip: &str, ports: &[PortSpec<'_>]) -> Value {
    let mut spec = json!({"type": "ClusterIP", "ports": ports_json(ports, true)});
    if !cluster_ip.is_empty() {
        spec["clusterIP"] = json!(cluster_ip);
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

/// A Service with a Pod selector (Endpoints are then built from matching Pods).
pub fn service_with_selector(
    ns: &str,
    name: &str,
    cluster_ip: &str,
    ports: &[PortSpec<'_>],
    selector: &[(&str, &str)],
) -> Value {
    let mut s = service(ns, name, cluster_ip, ports);
    let sel: Map<String, Value> = selector
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    s["spec"]["selector"] = Value::Object(sel);
    s
}

/// An ExternalName Service.
pub fn external_name_service(ns: &str, name: &str, external_name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
           "spec": {"type": "ExternalName", "externalName": external_name}})
}

/// One endpoint address.
#[derive(Debug, Clone, Default)]
pub struct Addr {
    /// IP address.
    pub ip: String,
    /// `hostname` (gives the endpoint a DNS name under a headless Service).
    pub hostname: Option<String>,
    /// Ready (false → `notReadyAddresses` / `conditions.ready=false`).
    pub ready: bool,
    /// Node name.
    pub node_name: Option<String>,
}

impl Addr {
    /// A ready address.
    pub fn ready(ip: &str) -> Self {
        Addr {
            ip: ip.into(),
            ready: true,
            ..Addr::default()
        }
    }

    /// A ready address with a hostname.
    pub fn named(ip: &str, hostname: &str) -> Self {
        Addr {
            hostname: Some(hostname.into()),
            ..Addr::ready(ip)
        }
    }

    /// A not-ready address.
    pub fn not_ready(ip: &str) -> Self {
        Addr {
            ip: ip.into(),
            ..Addr::default()
        }
    }
}

/// A core/v1 Endpoints object with one subset.
pub fn endpoints(ns: &str, name: &str, addrs: &[Addr], ports: &[PortSpec<'_>]) -> Value {
    let render = |a: &Addr| {
        let mut v = json!({"ip": a.ip});
        if let Some(h) = &a.hostname {
            v["hostname"] = json!(h);
        }
        if let Some(n) = &a.node_name {
            v["nodeName"] = json!(n);
        }
        v
    };
    let ready: Vec<Value> = addrs.iter().filter(|a| a.ready).map(render).collect();
    let not_ready: Vec<Value> = addrs.iter().filter(|a| !a.ready).map(render).collect();
    let mut subset = json!({"ports": ports_json(ports, false)});
    if !ready.is_empty() {
        subset["addresses"] = json!(ready);
    }
    if !not_ready.is_empty() {
        subset["notReadyAddresses"] = json!(not_ready);
    }
    let subsets = if addrs.is_empty() {
        json!([])
    } else {
        json!([subset])
    };
    json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns}, "subsets": subsets})
}

/// A discovery.k8s.io/v1 EndpointSlice for `service` (not managed by the mirroring
/// controller). `address_type`: `IPv4` or `IPv6`.
pub fn endpoint_slice(
    ns: &str,
    name: &str,
    service: &str,
    address_type: &str,
    addrs: &[Addr],
    ports: &[PortSpec<'_>],
) -> Value {
    let eps: Vec<Value> = addrs
        .iter()
        .map(|a| {
            let mut v = json!({"addresses": [a.ip], "conditions": {"ready": a.ready, "serving": a.ready, "terminating": false}});
            if let Some(h) = &a.hostname {
                v["hostname"] = json!(h);
            }
            if let Some(n) = &a.node_name {
                v["nodeName"] = json!(n);
            }
            v
        })
        .collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": name, "namespace": ns, "labels": {
               "kubernetes.io/service-name": service,
               "endpointslice.kubernetes.io/managed-by": "kube-dns-rs-tests"}},
           "addressType": address_type, "endpoints": eps, "ports": ports_json(ports, false)})
}

/// A ConfigMap.
pub fn configmap(ns: &str, name: &str, data: &[(&str, &str)]) -> Value {
    let d: Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": d})
}

/// A running Pod with an IP (Ready when `ready`), optional `hostname`/`subdomain`.
pub fn pod(
    ns: &str,
    name: &str,
    labels: &[(&str, &str)],
    ip: &str,
    ready: bool,
    hostname_subdomain: Option<(&str, &str)>,
) -> Value {
    let l: Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut spec = json!({"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}]});
    if let Some((h, s)) = hostname_subdomain {
        spec["hostname"] = json!(h);
        spec["subdomain"] = json!(s);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": l},
           "spec": spec,
           "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                      "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
}

/// A Namespace.
pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_emulator::store::{Store, StoreConfig};

    #[test]
    fn builders_are_accepted_by_the_store() {
        let mut st = Store::new(StoreConfig::default());
        st.seed_defaults("127.0.0.1", 6443).expect("seed");
        st.create_value(namespace("t")).expect("ns");
        let svc = st
            .create_value(service("t", "web", "", &[("http", 80, "TCP")]))
            .expect("svc");
        assert!(
            svc["spec"]["clusterIP"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10.0."))
        );
        st.create_value(endpoints(
            "t",
            "web",
            &[Addr::named("10.1.0.1", "a"), Addr::not_ready("10.1.0.2")],
            &[("http", 8080, "TCP")],
        ))
        .expect("ep");
        st.create_value(endpoint_slice(
            "t",
            "web-x",
            "web",
            "IPv4",
            &[Addr::ready("10.1.0.3")],
            &[("http", 8080, "TCP")],
        ))
        .expect("slice");
        st.create_value(configmap(
            "kube-system",
            "kube-dns",
            &[("upstreamNameservers", "[\"1.1.1.1\"]")],
        ))
        .expect("cm");
        st.create_value(pod(
            "t",
            "p",
            &[("app", "web")],
            "10.1.0.9",
            true,
            Some(("p", "web")),
        ))
        .expect("pod");
        st.create_value(external_name_service("t", "ext", "example.com"))
            .expect("ext");
        st.create_value(service_with_selector(
            "t",
            "sel",
            "None",
            &[],
            &[("app", "web")],
        ))
        .expect("sel");
    }
}
