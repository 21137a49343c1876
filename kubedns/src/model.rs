//! Conversion of Kubernetes objects (core/v1 Service, discovery/v1 EndpointSlice, core/v1
//! Endpoints) into the small model the store works from.
//!
//! Rules (compat §1.6, spec 1.1.0 §1.1):
//! * ClusterIP Services use `spec.clusterIPs` (dual-stack) or `spec.clusterIP`, each IP parsed
//!   and normalised (IPv4-mapped IPv6 → IPv4, duplicates dropped); `None`/empty → headless;
//!   `type: ExternalName` → ExternalName (trailing dot stripped, lowercased).
//! * EndpointSlice endpoints are ready when `conditions.ready` is `true` or absent;
//!   `serving`/`terminating` are ignored (an endpoint that is serving but not ready is not
//!   published, as in kube-dns and CoreDNS). core/v1 `notReadyAddresses` are never ready.
//! * Hostnames must be DNS-1123 labels; invalid ones are dropped with a warning (the address
//!   stays, under its hash label).
//! * Per-object limits ([`MAX_PORTS_PER_OBJECT`], [`MAX_ADDRESSES_PER_OBJECT`],
//!   [`MAX_CLUSTER_IPS`]) bound memory and work against hostile or broken objects: extra
//!   items are truncated with a warning.
//!
//! Unusable objects (no name/namespace, no service-name label) give a [`ModelError`].

use std::net::IpAddr;

use k8s_openapi::api::{core::v1 as core, discovery::v1 as discovery};
use tracing::warn;

use crate::names::{is_dns1123_label, is_usable_domain, is_usable_label};

/// At most this many ports are kept per Service, EndpointSlice or Endpoints subset.
pub const MAX_PORTS_PER_OBJECT: usize = 256;
/// At most this many addresses are kept per EndpointSlice or Endpoints object
/// (an EndpointSlice holds ≤ 1000 by API validation; legacy Endpoints were capped at 1000).
pub const MAX_ADDRESSES_PER_OBJECT: usize = 5000;
/// At most this many `spec.clusterIPs` are read (API validation allows one per IP family).
pub const MAX_CLUSTER_IPS: usize = 2;
/// Label carrying the owning Service name on an EndpointSlice.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Why an object could not be converted at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelError {
    /// `metadata.name` missing or empty.
    #[error("object has no name")]
    NoName,
    /// `metadata.namespace` missing or empty.
    #[error("object {0} has no namespace")]
    NoNamespace(String),
    /// EndpointSlice without the `kubernetes.io/service-name` label.
    #[error("EndpointSlice {0} has no kubernetes.io/service-name label")]
    NoServiceLabel(String),
    /// A Service whose name or namespace cannot be a DNS label (empty, over 63 octets, or
    /// containing a dot): no query can reach it.
    #[error("service {0}: name and namespace must be DNS labels of at most 63 characters")]
    NotALabel(String),
}

/// A Service or endpoint port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Port name ("" when unnamed).
    pub name: String,
    /// "TCP" | "UDP" | "SCTP" (default TCP).
    pub protocol: String,
    /// Port number.
    pub port: u16,
}

/// What kind of Service this is, with its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// ClusterIP/NodePort/LoadBalancer with one IP per family (primary first).
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: answers come from endpoints.
    Headless,
    /// `type: ExternalName`: a CNAME to this name (no trailing dot, lowercase).
    ExternalName(String),
}

/// A Service as the store sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Kind and addresses.
    pub kind: ServiceKind,
    /// Ports (named and unnamed).
    pub ports: Vec<ServicePort>,
    /// `metadata.resourceVersion`.
    pub resource_version: Option<String>,
}

/// One endpoint address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointAddress {
    /// The address.
    pub ip: IpAddr,
    /// Validated DNS-1123 hostname.
    pub hostname: Option<String>,
    /// Published in DNS only when ready.
    pub ready: bool,
}

/// One endpoint source object: one EndpointSlice, or one core/v1 Endpoints subset list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointGroup {
    /// Namespace.
    pub namespace: String,
    /// Owning Service name.
    pub service: String,
    /// The source object within the namespace.
    pub key: EndpointObject,
    /// Address/port groups.
    pub subsets: Vec<EndpointSubset>,
}

/// The object an [`EndpointGroup`] was read from, by kind and name (variant order keeps
/// groups sorted as `endpoints/<name>` before `slice/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EndpointObject {
    /// A core/v1 Endpoints object.
    Endpoints(String),
    /// A `discovery.k8s.io/v1` EndpointSlice.
    Slice(String),
}

impl std::fmt::Display for EndpointObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Endpoints(n) => write!(f, "endpoints/{n}"),
            Self::Slice(n) => write!(f, "slice/{n}"),
        }
    }
}

/// Addresses that share one port list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSubset {
    /// Addresses.
    pub addresses: Vec<EndpointAddress>,
    /// Ports.
    pub ports: Vec<ServicePort>,
}

fn meta_names(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Result<(String, String), ModelError> {
    let name = meta
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or(ModelError::NoName)?;
    let ns = meta
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ModelError::NoNamespace(name.clone()))?;
    Ok((ns, name))
}

fn parse_ip(s: &str, what: &str, obj: &str) -> Option<IpAddr> {
    match s.trim().parse::<IpAddr>() {
        Ok(ip) => Some(ip.to_canonical()),
        Err(_) => {
            warn!(object = obj, value = s, "ignoring unparsable {what}");
            None
        }
    }
}

fn port(
    name: Option<&String>,
    protocol: Option<&String>,
    port: i32,
    obj: &str,
) -> Option<ServicePort> {
    let Ok(port) = u16::try_from(port) else {
        warn!(object = obj, port, "ignoring out-of-range port");
        return None;
    };
    let mut name = name.cloned().unwrap_or_default();
    // SRV owner label `_<name>` (spec §2.3.2) must be a usable label
    if !name.is_empty() && !is_usable_label(&format!("_{name}")) {
        warn!(object = obj, port, port_name = %name, "port name cannot be a DNS label; port treated as unnamed");
        name.clear();
    }
    Some(ServicePort {
        name,
        protocol: protocol.cloned().unwrap_or_else(|| "TCP".to_string()),
        port,
    })
}

fn truncate<T>(v: &mut Vec<T>, max: usize, what: &str, obj: &str) {
    if v.len() > max {
        warn!(
            object = obj,
            count = v.len(),
            limit = max,
            "too many {what}, truncating"
        );
        v.truncate(max);
    }
}

fn hostname(h: Option<&String>, obj: &str) -> Option<String> {
    let h = h.filter(|h| !h.is_empty())?;
    if is_dns1123_label(h) {
        Some(h.clone())
    } else {
        warn!(object = obj, hostname = %h, "ignoring endpoint hostname that is not a DNS-1123 label");
        None
    }
}

impl Service {
    /// Convert a core/v1 Service.
    pub fn from_k8s(s: &core::Service) -> Result<Self, ModelError> {
        let (namespace, name) = meta_names(&s.metadata)?;
        if !is_usable_label(&name) || !is_usable_label(&namespace) {
            return Err(ModelError::NotALabel(format!("{namespace}/{name}")));
        }
        let obj = format!("service {namespace}/{name}");
        let spec = s.spec.clone().unwrap_or_default();
        let kind = if spec.type_.as_deref() == Some("ExternalName") {
            let target = spec.external_name.unwrap_or_default();
            let target = target.trim_end_matches('.').to_ascii_lowercase();
            if !target.is_empty() && !is_usable_domain(&target) {
                // kept: queries for the Service get SERVFAIL (the CNAME cannot be encoded)
                warn!(object = obj, external_name = %target, "ExternalName is not a valid domain name");
            }
            ServiceKind::ExternalName(target)
        } else {
            let mut raw: Vec<String> = match spec.cluster_ips {
                Some(ips) if !ips.is_empty() => ips,
                _ => spec.cluster_ip.into_iter().collect(),
            };
            truncate(&mut raw, MAX_CLUSTER_IPS, "cluster IPs", &obj);
            if raw.iter().all(|ip| ip.is_empty() || ip == "None") {
                ServiceKind::Headless
            } else {
                let mut ips: Vec<IpAddr> = Vec::with_capacity(raw.len());
                for ip in raw.iter().filter(|ip| !ip.is_empty() && *ip != "None") {
                    if let Some(ip) = parse_ip(ip, "cluster IP", &obj)
                        && !ips.contains(&ip)
                    {
                        ips.push(ip);
                    }
                }
                if ips.is_empty() {
                    ServiceKind::Headless
                } else {
                    ServiceKind::ClusterIp(ips)
                }
            }
        };
        let mut ports: Vec<ServicePort> = spec
            .ports
            .unwrap_or_default()
            .iter()
            .filter_map(|p| port(p.name.as_ref(), p.protocol.as_ref(), p.port, &obj))
            .collect();
        truncate(&mut ports, MAX_PORTS_PER_OBJECT, "ports", &obj);
        Ok(Self {
            namespace,
            name,
            kind,
            ports,
            resource_version: s.metadata.resource_version.clone(),
        })
    }
}

impl EndpointGroup {
    /// Convert a discovery/v1 EndpointSlice (the Service comes from its service-name label).
    pub fn from_slice(s: &discovery::EndpointSlice) -> Result<Self, ModelError> {
        let (namespace, name) = meta_names(&s.metadata)?;
        let obj = format!("endpointslice {namespace}/{name}");
        let service = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| ModelError::NoServiceLabel(format!("{namespace}/{name}")))?;
        let mut ports: Vec<ServicePort> = s
            .ports
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter_map(|p| {
                let n = p.port?;
                port(p.name.as_ref(), p.protocol.as_ref(), n, &obj)
            })
            .collect();
        truncate(&mut ports, MAX_PORTS_PER_OBJECT, "ports", &obj);
        let fqdn_type = s.address_type == "FQDN";
        let mut addresses = Vec::new();
        if !fqdn_type {
            for ep in &s.endpoints {
                let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
                let host = hostname(ep.hostname.as_ref(), &obj);
                for a in &ep.addresses {
                    if let Some(ip) = parse_ip(a, "endpoint address", &obj) {
                        addresses.push(EndpointAddress {
                            ip,
                            hostname: host.clone(),
                            ready,
                        });
                    }
                }
            }
        }
        truncate(&mut addresses, MAX_ADDRESSES_PER_OBJECT, "addresses", &obj);
        Ok(Self {
            namespace,
            service,
            key: EndpointObject::Slice(name.clone()),
            subsets: vec![EndpointSubset { addresses, ports }],
        })
    }

    /// Convert a core/v1 Endpoints object (named like its Service).
    pub fn from_endpoints(e: &core::Endpoints) -> Result<Self, ModelError> {
        let (namespace, name) = meta_names(&e.metadata)?;
        let obj = format!("endpoints {namespace}/{name}");
        let mut budget = MAX_ADDRESSES_PER_OBJECT;
        let mut subsets = Vec::new();
        for sub in e.subsets.as_deref().unwrap_or_default() {
            let mut ports: Vec<ServicePort> = sub
                .ports
                .as_deref()
                .unwrap_or_default()
                .iter()
                .filter_map(|p| port(p.name.as_ref(), p.protocol.as_ref(), p.port, &obj))
                .collect();
            truncate(&mut ports, MAX_PORTS_PER_OBJECT, "ports", &obj);
            let ready = sub
                .addresses
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|a| (a, true));
            let unready = sub
                .not_ready_addresses
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|a| (a, false));
            let mut addresses = Vec::new();
            for (a, ready) in ready.chain(unready) {
                if budget == 0 {
                    warn!(object = %obj, limit = MAX_ADDRESSES_PER_OBJECT, "too many addresses, truncating");
                    break;
                }
                if let Some(ip) = parse_ip(&a.ip, "endpoint address", &obj) {
                    budget -= 1;
                    addresses.push(EndpointAddress {
                        ip,
                        hostname: hostname(a.hostname.as_ref(), &obj),
                        ready,
                    });
                }
            }
            subsets.push(EndpointSubset { addresses, ports });
        }
        Ok(Self {
            namespace,
            service: name.clone(),
            key: EndpointObject::Endpoints(name.clone()),
            subsets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn meta(ns: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..Default::default()
        }
    }

    fn svc(spec: core::ServiceSpec) -> core::Service {
        core::Service {
            metadata: meta("default", "s"),
            spec: Some(spec),
            ..Default::default()
        }
    }

    #[test]
    fn service_kinds() {
        let s = Service::from_k8s(&svc(core::ServiceSpec {
            cluster_ip: Some("10.0.0.1".into()),
            cluster_ips: Some(vec!["10.0.0.1".into(), "2001:0db8:0::1".into()]),
            ports: Some(vec![core::ServicePort {
                name: Some("http".into()),
                port: 80,
                ..Default::default()
            }]),
            ..Default::default()
        }))
        .expect("service");
        assert_eq!(
            s.kind,
            ServiceKind::ClusterIp(vec![
                "10.0.0.1".parse().expect("ip"),
                "2001:db8::1".parse().expect("ip")
            ])
        );
        assert_eq!(
            s.ports,
            vec![ServicePort {
                name: "http".into(),
                protocol: "TCP".into(),
                port: 80
            }]
        );
        let h = Service::from_k8s(&svc(core::ServiceSpec {
            cluster_ip: Some("None".into()),
            ..Default::default()
        }))
        .expect("service");
        assert_eq!(h.kind, ServiceKind::Headless);
        let e = Service::from_k8s(&svc(core::ServiceSpec {
            type_: Some("ExternalName".into()),
            external_name: Some("Foo.Example.com.".into()),
            ..Default::default()
        }))
        .expect("service");
        assert_eq!(e.kind, ServiceKind::ExternalName("foo.example.com".into()));
        let bad = Service::from_k8s(&svc(core::ServiceSpec {
            cluster_ip: Some("not-an-ip".into()),
            ports: Some(vec![core::ServicePort {
                port: 70000,
                ..Default::default()
            }]),
            ..Default::default()
        }))
        .expect("service");
        assert_eq!(bad.kind, ServiceKind::Headless);
        assert!(bad.ports.is_empty());
        let many = Service::from_k8s(&svc(core::ServiceSpec {
            cluster_ips: Some((0..10_000).map(|i| format!("fd00::{i:x}")).collect()),
            ..Default::default()
        }))
        .expect("service");
        assert_eq!(
            many.kind,
            ServiceKind::ClusterIp(vec!["fd00::".parse().unwrap(), "fd00::1".parse().unwrap()]),
            "at most MAX_CLUSTER_IPS are read"
        );
        let none = core::Service::default();
        assert_eq!(Service::from_k8s(&none), Err(ModelError::NoName));
    }

    #[test]
    fn names_that_cannot_be_dns_labels() {
        for (ns, name) in [("default", "x".repeat(64)), ("a.b", "web".into())] {
            let s = core::Service {
                metadata: meta(ns, &name),
                ..Default::default()
            };
            assert_eq!(
                Service::from_k8s(&s),
                Err(ModelError::NotALabel(format!("{ns}/{name}")))
            );
        }
        // `_<name>` must fit in 63 octets: a 62-character port name is the longest kept
        let ports = ["p".repeat(62), "p".repeat(63), "a.b".into()]
            .into_iter()
            .enumerate()
            .map(|(i, n)| core::ServicePort {
                name: Some(n),
                port: 80 + i as i32,
                ..Default::default()
            })
            .collect();
        let s = Service::from_k8s(&svc(core::ServiceSpec {
            cluster_ip: Some("10.0.0.1".into()),
            ports: Some(ports),
            ..Default::default()
        }))
        .expect("service");
        let names: Vec<_> = s.ports.iter().map(|p| (p.name.len(), p.port)).collect();
        assert_eq!(names, vec![(62, 80), (0, 81), (0, 82)]);
    }

    #[test]
    fn slice_conditions_and_hostnames() {
        let mut labels = std::collections::BTreeMap::new();
        labels.insert(SERVICE_NAME_LABEL.to_string(), "web".to_string());
        let ep = |ip: &str, ready: Option<bool>, host: Option<&str>| discovery::Endpoint {
            addresses: vec![ip.into()],
            conditions: Some(discovery::EndpointConditions {
                ready,
                serving: Some(true),
                terminating: None,
            }),
            hostname: host.map(Into::into),
            ..Default::default()
        };
        let slice = discovery::EndpointSlice {
            metadata: ObjectMeta {
                labels: Some(labels),
                ..meta("ns", "web-abc")
            },
            address_type: "IPv4".into(),
            endpoints: vec![
                ep("10.0.0.1", Some(true), Some("ep-0")),
                ep("10.0.0.2", None, Some("Bad_Host")),
                ep("10.0.0.3", Some(false), None),
            ],
            ports: Some(vec![discovery::EndpointPort {
                name: Some("http".into()),
                port: Some(8080),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
        };
        let g = EndpointGroup::from_slice(&slice).expect("slice");
        assert_eq!(g.service, "web");
        assert_eq!(g.key, EndpointObject::Slice("web-abc".into()));
        let a = &g.subsets[0].addresses;
        assert_eq!(a.len(), 3);
        assert!(a[0].ready && a[0].hostname.as_deref() == Some("ep-0"));
        assert!(a[1].ready && a[1].hostname.is_none());
        assert!(!a[2].ready);
        let mut nolabel = slice.clone();
        nolabel.metadata.labels = None;
        assert!(matches!(
            EndpointGroup::from_slice(&nolabel),
            Err(ModelError::NoServiceLabel(_))
        ));
    }

    #[test]
    fn endpoints_ready_and_truncation() {
        let addr = |ip: String| core::EndpointAddress {
            ip,
            ..Default::default()
        };
        let many: Vec<_> = (0..(MAX_ADDRESSES_PER_OBJECT + 10))
            .map(|i| addr(format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256)))
            .collect();
        let e = core::Endpoints {
            metadata: meta("ns", "web"),
            subsets: Some(vec![core::EndpointSubset {
                addresses: Some(many),
                not_ready_addresses: Some(vec![addr("10.9.9.9".into())]),
                ports: Some(vec![core::EndpointPort {
                    port: 80,
                    ..Default::default()
                }]),
            }]),
        };
        let g = EndpointGroup::from_endpoints(&e).expect("endpoints");
        assert_eq!(g.key, EndpointObject::Endpoints("web".into()));
        assert_eq!(g.subsets[0].addresses.len(), MAX_ADDRESSES_PER_OBJECT);
        assert!(g.subsets[0].addresses.iter().all(|a| a.ready));
    }
}
