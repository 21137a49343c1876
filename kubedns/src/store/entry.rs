//! Per-Service computed records ([`ServiceEntry`]): what a Service and its endpoint groups
//! publish, computed once per change (never per query) in a compact form — `IpAddr`s, shared
//! `Arc<str>` labels, and index pairs for SRV instead of rendered records.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use crate::hash::endpoint_hash_label;
use crate::model::{EndpointGroup, Service, ServiceKind};

/// Transport protocol of a named port (the `_<proto>` SRV label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// `_tcp`
    Tcp,
    /// `_udp`
    Udp,
    /// `_sctp`
    Sctp,
}

impl Proto {
    /// Parse a Kubernetes protocol ("TCP"…) or an SRV label body ("tcp"…), case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("tcp") {
            Some(Self::Tcp)
        } else if s.eq_ignore_ascii_case("udp") {
            Some(Self::Udp)
        } else if s.eq_ignore_ascii_case("sctp") {
            Some(Self::Sctp)
        } else {
            None
        }
    }

    /// The SRV label body: `tcp`, `udp` or `sctp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }
}

/// A named port (unnamed ports publish no SRV, spec §2.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPort {
    /// Lowercase port name.
    pub name: Arc<str>,
    /// Protocol.
    pub proto: Proto,
    /// Port number (endpoint port for headless Services).
    pub port: u16,
}

/// One published endpoint of a headless Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `hostname` when set, else the legacy hash label.
    pub label: Arc<str>,
    /// Address.
    pub ip: IpAddr,
    /// True when `label` is the endpoint's hostname (gets a PTR record).
    pub named: bool,
}

/// What a Service publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// ClusterIP Service.
    ClusterIp {
        /// Cluster IPs (primary family first).
        ips: Box<[IpAddr]>,
        /// Named ports of the Service.
        ports: Box<[NamedPort]>,
        /// At least one ready endpoint exists (used by federation answers).
        has_endpoints: bool,
    },
    /// Headless Service.
    Headless {
        /// Ready endpoints, de-duplicated by (label, ip).
        endpoints: Box<[Endpoint]>,
        /// Distinct named endpoint ports.
        ports: Box<[NamedPort]>,
        /// SRV pairs `(index into ports, index into endpoints)`, de-duplicated.
        srv: Box<[(u32, u32)]>,
    },
    /// ExternalName Service: CNAME target (lowercase, no trailing dot).
    ExternalName(Arc<str>),
}

/// Computed records of one Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    /// Namespace.
    pub namespace: Arc<str>,
    /// Service name.
    pub name: Arc<str>,
    /// Records.
    pub kind: EntryKind,
}

fn named_ports<'a>(ports: impl Iterator<Item = &'a crate::model::ServicePort>) -> Vec<NamedPort> {
    let mut out: Vec<NamedPort> = Vec::new();
    for p in ports {
        if p.name.is_empty() {
            continue;
        }
        let Some(proto) = Proto::parse(&p.protocol) else {
            continue;
        };
        let np = NamedPort {
            name: Arc::from(p.name.to_ascii_lowercase()),
            proto,
            port: p.port,
        };
        if !out.contains(&np) {
            out.push(np);
        }
    }
    out
}

impl ServiceEntry {
    /// Compute the entry of `svc` from its endpoint groups (any order; sorted by key here so
    /// the result does not depend on event order).
    pub fn build<'a>(svc: &Service, groups: impl Iterator<Item = &'a EndpointGroup>) -> Self {
        let mut groups: Vec<&EndpointGroup> = groups.collect();
        groups.sort_by(|a, b| a.key.cmp(&b.key));
        let kind = match &svc.kind {
            ServiceKind::ClusterIp(ips) => EntryKind::ClusterIp {
                ips: ips.clone().into_boxed_slice(),
                ports: named_ports(svc.ports.iter()).into_boxed_slice(),
                has_endpoints: groups
                    .iter()
                    .flat_map(|g| &g.subsets)
                    .flat_map(|s| &s.addresses)
                    .any(|a| a.ready),
            },
            ServiceKind::ExternalName(t) => EntryKind::ExternalName(Arc::from(t.as_str())),
            ServiceKind::Headless => {
                let mut endpoints: Vec<Endpoint> = Vec::new();
                let mut seen: HashSet<(Arc<str>, IpAddr)> = HashSet::new();
                let mut ports: Vec<NamedPort> = Vec::new();
                let mut srv: Vec<(u32, u32)> = Vec::new();
                let mut srv_seen: HashSet<(u32, u32)> = HashSet::new();
                for sub in groups.iter().flat_map(|g| &g.subsets) {
                    let sub_ports: Vec<u32> = named_ports(sub.ports.iter())
                        .into_iter()
                        .map(|np| match ports.iter().position(|p| *p == np) {
                            Some(i) => i as u32,
                            None => {
                                ports.push(np);
                                (ports.len() - 1) as u32
                            }
                        })
                        .collect();
                    for a in sub.addresses.iter().filter(|a| a.ready) {
                        let (label, named): (Arc<str>, bool) = match &a.hostname {
                            Some(h) => (Arc::from(h.as_str()), true),
                            None => (Arc::from(endpoint_hash_label(a.ip)), false),
                        };
                        let idx = if seen.insert((label.clone(), a.ip)) {
                            endpoints.push(Endpoint {
                                label,
                                ip: a.ip,
                                named,
                            });
                            (endpoints.len() - 1) as u32
                        } else {
                            match endpoints
                                .iter()
                                .position(|e| e.label == label && e.ip == a.ip)
                            {
                                Some(i) => i as u32,
                                None => continue,
                            }
                        };
                        for p in &sub_ports {
                            if srv_seen.insert((*p, idx)) {
                                srv.push((*p, idx));
                            }
                        }
                    }
                }
                EntryKind::Headless {
                    endpoints: endpoints.into_boxed_slice(),
                    ports: ports.into_boxed_slice(),
                    srv: srv.into_boxed_slice(),
                }
            }
        };
        Self {
            namespace: Arc::from(svc.namespace.as_str()),
            name: Arc::from(svc.name.as_str()),
            kind,
        }
    }

    /// `(ip, ptr-owner-label)` pairs this entry publishes PTR records for: every ClusterIP
    /// (target = the Service name, label `None`) and every hostname'd headless endpoint.
    pub fn ptr_sources(&self) -> Vec<(IpAddr, Option<Arc<str>>)> {
        match &self.kind {
            EntryKind::ClusterIp { ips, .. } => ips.iter().map(|ip| (*ip, None)).collect(),
            EntryKind::Headless { endpoints, .. } => endpoints
                .iter()
                .filter(|e| e.named)
                .map(|e| (e.ip, Some(e.label.clone())))
                .collect(),
            EntryKind::ExternalName(_) => Vec::new(),
        }
    }

    /// Number of endpoint records (for stats).
    pub fn endpoint_count(&self) -> usize {
        match &self.kind {
            EntryKind::Headless { endpoints, .. } => endpoints.len(),
            _ => 0,
        }
    }
}
