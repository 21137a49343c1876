//! Minimal server-side printing (`meta.k8s.io/v1` `Table`), returned when a client such as
//! `kubectl get` asks for `Accept: application/json;as=Table`. Columns: Name, a few
//! kind-specific ones (Services, Pods, EndpointSlices), Age.

use serde_json::{Value, json};

use super::meta::{human_age, meta_str, now_unix, parse_rfc3339};
use super::resources::ResourceDef;

/// Whether an `Accept` header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

/// Media types a response can be negotiated to (the emulator encodes JSON for all of them;
/// protobuf-only clients are the documented exception, see `docs/integration.md`).
const ACCEPTABLE: &[&str] = &[
    "*/*",
    "application/*",
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// Whether an `Accept` header names a representation the server has (an empty header does).
pub fn acceptable(accept: &str) -> bool {
    accept.trim().is_empty()
        || accept.split(',').any(|range| {
            let media = range.split(';').next().unwrap_or("").trim();
            ACCEPTABLE.iter().any(|a| a.eq_ignore_ascii_case(media))
        })
}

fn col(name: &str, format: &str) -> Value {
    json!({"name": name, "type": "string", "format": format, "description": name, "priority": 0})
}

fn service_ports(svc: &Value) -> String {
    let ports: Vec<String> = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            format!(
                "{}/{}",
                p["port"].as_i64().unwrap_or(0),
                p["protocol"].as_str().unwrap_or("TCP")
            )
        })
        .collect();
    if ports.is_empty() {
        "<none>".into()
    } else {
        ports.join(",")
    }
}

fn extra_columns(res: &ResourceDef) -> Vec<Value> {
    match res.kind {
        "Service" => vec![
            col("Type", ""),
            col("Cluster-IP", ""),
            col("External-IP", ""),
            col("Port(s)", ""),
        ],
        "Pod" => vec![col("Status", ""), col("IP", "")],
        "EndpointSlice" => vec![col("AddressType", ""), col("Endpoints", "")],
        "Endpoints" => vec![col("Endpoints", "")],
        "ConfigMap" => vec![col("Data", "")],
        "Namespace" => vec![col("Status", "")],
        _ => Vec::new(),
    }
}

fn extra_cells(res: &ResourceDef, o: &Value) -> Vec<Value> {
    let s = |v: &Value| json!(v.as_str().unwrap_or("<none>"));
    match res.kind {
        "Service" => vec![
            s(&o["spec"]["type"]),
            s(&o["spec"]["clusterIP"]),
            json!(external_ips(o)),
            json!(service_ports(o)),
        ],
        "Pod" => vec![s(&o["status"]["phase"]), s(&o["status"]["podIP"])],
        "EndpointSlice" => {
            let n = o["endpoints"].as_array().map_or(0, Vec::len);
            vec![s(&o["addressType"]), json!(n.to_string())]
        }
        "Endpoints" => vec![json!(endpoints_summary(o))],
        "ConfigMap" => {
            let n = o["data"].as_object().map_or(0, |m| m.len())
                + o["binaryData"].as_object().map_or(0, |m| m.len());
            vec![json!(n.to_string())]
        }
        "Namespace" => vec![s(&o["status"]["phase"])],
        _ => Vec::new(),
    }
}

/// Columns after Age (kubectl shows priority-1 columns with `-o wide`).
fn trailing_columns(res: &ResourceDef) -> Vec<Value> {
    match res.kind {
        "Service" => {
            let mut c = col("Selector", "");
            c["priority"] = json!(1);
            vec![c]
        }
        _ => Vec::new(),
    }
}

fn trailing_cells(res: &ResourceDef, o: &Value) -> Vec<Value> {
    match res.kind {
        "Service" => {
            let sel: Vec<String> = o["spec"]["selector"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            vec![json!(if sel.is_empty() {
                "<none>".to_string()
            } else {
                sel.join(",")
            })]
        }
        _ => Vec::new(),
    }
}

/// A Service's external addresses: `spec.externalName`, load-balancer ingress and
/// `spec.externalIPs`, else `<none>`.
fn external_ips(svc: &Value) -> String {
    if let Some(n) = svc["spec"]["externalName"].as_str() {
        return n.to_string();
    }
    let mut ips: Vec<String> = svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            i["ip"]
                .as_str()
                .or(i["hostname"].as_str())
                .map(str::to_string)
        })
        .collect();
    ips.extend(
        svc["spec"]["externalIPs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i.as_str().map(str::to_string)),
    );
    if ips.is_empty() {
        "<none>".into()
    } else {
        ips.join(",")
    }
}

/// `ip:port,…` of the ready addresses (at most three, then `+ N more...`), as kubectl prints.
fn endpoints_summary(ep: &Value) -> String {
    let mut all = Vec::new();
    for subset in ep["subsets"].as_array().into_iter().flatten() {
        let ports: Vec<i64> = subset["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["port"].as_i64())
            .collect();
        for a in subset["addresses"].as_array().into_iter().flatten() {
            let ip = a["ip"].as_str().unwrap_or("");
            if ports.is_empty() {
                all.push(ip.to_string());
            }
            all.extend(ports.iter().map(|p| format!("{ip}:{p}")));
        }
    }
    match all.len() {
        0 => "<none>".into(),
        n if n <= 3 => all.join(","),
        n => format!("{} + {} more...", all[..3].join(","), n - 3),
    }
}

/// A Table of `items` with list metadata `meta`.
pub fn table(res: &ResourceDef, items: &[&Value], meta: Value) -> Value {
    let mut cols = vec![col("Name", "name")];
    cols.extend(extra_columns(res));
    cols.push(col("Age", ""));
    cols.extend(trailing_columns(res));
    let now = now_unix();
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![json!(meta_str(o, "name").unwrap_or(""))];
            cells.extend(extra_cells(res, o));
            let age = meta_str(o, "creationTimestamp")
                .and_then(parse_rfc3339)
                .map_or_else(|| "<unknown>".to_string(), |t| human_age(now - t));
            cells.push(json!(age));
            cells.extend(trailing_cells(res, o));
            json!({"cells": cells, "object": o})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
           "columnDefinitions": cols, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_plural;

    #[test]
    fn service_table() {
        let svc = json!({"metadata": {"name": "web", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.0.1.1", "selector": {"app": "web"},
                     "ports": [{"port": 80, "protocol": "TCP"}]}});
        let t = table(
            by_plural("services").expect("svc"),
            &[&svc],
            json!({"resourceVersion": "5"}),
        );
        assert_eq!(t["kind"], "Table");
        // kube-apiserver 1.34's columns (emulator_vs_real compares them).
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age",
                "Selector"
            ]
        );
        assert_eq!(t["rows"][0]["cells"][0], "web");
        assert_eq!(t["rows"][0]["cells"][3], "<none>");
        assert_eq!(t["rows"][0]["cells"][4], "80/TCP");
        assert_eq!(t["rows"][0]["cells"][6], "app=web");
        assert!(acceptable(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(acceptable("application/vnd.kubernetes.protobuf, */*"));
        assert!(acceptable(""));
        assert!(!acceptable("application/xml"));
        assert!(!acceptable("text/html, application/xml;q=0.9"));
        assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "web");
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
        let ep = json!({"metadata": {"name": "e"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 53}, {"port": 54}]}]});
        assert_eq!(
            endpoints_summary(&ep),
            "10.0.0.1:53,10.0.0.1:54,10.0.0.2:53 + 1 more..."
        );
        assert_eq!(endpoints_summary(&json!({})), "<none>");
    }
}
