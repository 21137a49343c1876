use super::*;
use crate::model::{EndpointAddress, EndpointSubset, ServiceKind, ServicePort};
use crate::model::{EndpointGroup, EndpointObject, Service};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn svc(ns: &str, name: &str, kind: ServiceKind) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        kind,
        ports: vec![ServicePort {
            name: "http".into(),
            protocol: "TCP".into(),
            port: 80,
        }],
        resource_version: None,
    }
}

fn group(ns: &str, svc: &str, key: EndpointObject, ips: &[(&str, Option<&str>)]) -> EndpointGroup {
    EndpointGroup {
        namespace: ns.into(),
        service: svc.into(),
        key,
        subsets: vec![EndpointSubset {
            addresses: ips
                .iter()
                .map(|(ip, h)| EndpointAddress {
                    ip: ip.parse().expect("ip"),
                    hostname: h.map(Into::into),
                    ready: true,
                })
                .collect(),
            ports: vec![ServicePort {
                name: "http".into(),
                protocol: "TCP".into(),
                port: 8080,
            }],
        }],
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[test]
fn incremental_updates_and_ptr_moves() {
    let st = Standalone::new("cluster.local");
    assert_eq!(st.domain(), "cluster.local.");
    st.upsert_service(svc(
        "default",
        "web",
        ServiceKind::ClusterIp(vec![ip("10.0.0.10")]),
    ));
    st.upsert_service(svc("default", "hl", ServiceKind::Headless));
    assert_eq!(
        st.ptr_targets(ip("10.0.0.10")),
        vec!["web.default.svc.cluster.local.".to_string()]
    );
    let before = st.view().zone;
    st.upsert_endpoints(group(
        "default",
        "hl",
        EndpointObject::Slice("a".into()),
        &[("10.1.0.1", Some("foo"))],
    ));
    // the old snapshot is untouched (readers keep a consistent view)
    assert_eq!(
        before.service("default", "hl").map(|e| e.endpoint_count()),
        Some(0)
    );
    assert_eq!(
        st.ptr_targets(ip("10.1.0.1")),
        vec!["foo.hl.default.svc.cluster.local.".to_string()]
    );
    st.upsert_endpoints(group(
        "default",
        "hl",
        EndpointObject::Slice("a".into()),
        &[("10.1.0.2", Some("foo"))],
    ));
    assert!(st.ptr_targets(ip("10.1.0.1")).is_empty());
    assert_eq!(st.ptr_targets(ip("10.1.0.2")).len(), 1);
    st.delete_endpoints("default", EndpointObject::Slice("a".into()));
    assert!(st.ptr_targets(ip("10.1.0.2")).is_empty());
    st.delete_service("default", "web");
    assert!(st.ptr_targets(ip("10.0.0.10")).is_empty());
    assert_eq!(st.stats().services, 1);
    assert!(st.last_applied().is_some());
}

#[test]
fn slices_merge_and_dedup() {
    let st = Standalone::new("cluster.local.");
    st.upsert_service(svc("ns", "hl", ServiceKind::Headless));
    st.upsert_endpoints(group(
        "ns",
        "hl",
        EndpointObject::Slice("a".into()),
        &[("10.0.0.1", None), ("10.0.0.2", None)],
    ));
    st.upsert_endpoints(group(
        "ns",
        "hl",
        EndpointObject::Slice("b".into()),
        &[("10.0.0.2", None), ("10.0.0.3", None)],
    ));
    let e = st.entry("ns", "hl").expect("entry");
    assert_eq!(e.endpoint_count(), 3);
    let EntryKind::Headless { srv, ports, .. } = &e.kind else {
        panic!("headless")
    };
    assert_eq!(ports.len(), 1);
    assert_eq!(srv.len(), 3);
    // endpoints that arrive before their Service are kept and used later
    st.upsert_endpoints(group(
        "ns",
        "late",
        EndpointObject::Slice("c".into()),
        &[("10.0.0.9", None)],
    ));
    assert!(st.entry("ns", "late").is_none());
    st.upsert_service(svc("ns", "late", ServiceKind::Headless));
    assert_eq!(st.entry("ns", "late").map(|e| e.endpoint_count()), Some(1));
}

#[test]
fn relist_swaps_atomically_and_applies_deletions() {
    let st = Standalone::new("cluster.local.");
    st.upsert_service(svc(
        "a",
        "old",
        ServiceKind::ClusterIp(vec![ip("10.0.0.1")]),
    ));
    st.upsert_service(svc(
        "a",
        "kept",
        ServiceKind::ClusterIp(vec![ip("10.0.0.2")]),
    ));
    let snap = st.view().zone;
    st.replace_services(vec![
        svc("a", "kept", ServiceKind::ClusterIp(vec![ip("10.0.0.2")])),
        svc("b", "new", ServiceKind::ClusterIp(vec![ip("10.0.0.3")])),
    ]);
    assert!(snap.service("a", "old").is_some());
    assert!(st.entry("a", "old").is_none());
    assert!(st.entry("b", "new").is_some());
    assert!(st.ptr_targets(ip("10.0.0.1")).is_empty());
    assert_eq!(st.stats().services, 2);
    assert!(st.view().zone.namespace_exists("b"));
    st.replace_services(vec![]);
    assert!(!st.view().zone.namespace_exists("b"));
}

#[test]
fn shared_ip_ptr_targets_are_reference_counted() {
    let st = Standalone::new("cluster.local.");
    st.upsert_service(svc("ns", "h1", ServiceKind::Headless));
    st.upsert_service(svc("ns", "h2", ServiceKind::Headless));
    st.upsert_endpoints(group(
        "ns",
        "h1",
        EndpointObject::Slice("1".into()),
        &[("10.0.0.5", Some("p"))],
    ));
    st.upsert_endpoints(group(
        "ns",
        "h2",
        EndpointObject::Slice("2".into()),
        &[("10.0.0.5", Some("p"))],
    ));
    assert_eq!(st.ptr_targets(ip("10.0.0.5")).len(), 2);
    st.delete_service("ns", "h1");
    assert_eq!(
        st.ptr_targets(ip("10.0.0.5")),
        vec!["p.h2.ns.svc.cluster.local.".to_string()]
    );
}

#[test]
fn cache_json_shape() {
    let st = Standalone::new("cluster.local.");
    st.upsert_service(svc(
        "default",
        "web",
        ServiceKind::ClusterIp(vec![ip("10.0.0.1")]),
    ));
    let j = st.cache_json();
    let node = &j["ChildNodes"]["local"]["ChildNodes"]["cluster"]["ChildNodes"]["svc"]["ChildNodes"]
        ["default"]["ChildNodes"]["web"];
    assert_eq!(node["Entries"]["3234633364383235"]["host"], "10.0.0.1");
    assert_eq!(
        node["ChildNodes"]["_tcp"]["ChildNodes"]["_http"]["Entries"]["3234633364383235"]["port"],
        80
    );
}

#[test]
fn readers_see_whole_snapshots_while_writers_churn() {
    let st = Standalone::new("cluster.local.");
    st.upsert_service(svc("ns", "hl", ServiceKind::Headless));
    let set = |base: u8| {
        let ips: Vec<String> = (1..=10).map(|i| format!("10.{base}.0.{i}")).collect();
        let pairs: Vec<(&str, Option<&str>)> = ips.iter().map(|s| (s.as_str(), None)).collect();
        group("ns", "hl", EndpointObject::Slice("a".into()), &pairs)
    };
    st.upsert_endpoints(set(0));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (st, stop) = (st.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let e = st.entry("ns", "hl").expect("entry");
                    let EntryKind::Headless { endpoints, .. } = &e.kind else {
                        panic!("headless")
                    };
                    assert_eq!(endpoints.len(), 10);
                    let second_octets: std::collections::HashSet<u8> = endpoints
                        .iter()
                        .map(|ep| match ep.ip {
                            IpAddr::V4(v4) => v4.octets()[1],
                            IpAddr::V6(_) => 255,
                        })
                        .collect();
                    assert_eq!(second_octets.len(), 1, "mixed snapshot");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for i in 0..2000 {
        st.upsert_endpoints(set((i % 2) as u8));
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().expect("reader") > 0);
    }
}
