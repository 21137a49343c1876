//! Scale check of the store design (10k Services / 100k endpoints): answers stay correct and
//! an incremental update touches one Service. Memory at that scale is measured by the
//! `bench_scale` benchmark (integration/bench), not here.

use std::net::IpAddr;

use hickory_proto::rr::{DNSClass, Name, RecordType};
use kubedns::answer::{Answer, lookup};
use kubedns::model::{
    EndpointAddress, EndpointGroup, EndpointObject, EndpointSubset, Service, ServiceKind,
    ServicePort,
};
use kubedns::store::Standalone as Store;

fn build(services: usize, endpoints_per_headless: usize) -> Store {
    let st = Store::new("cluster.local.");
    let mut svcs = Vec::with_capacity(services);
    let mut groups = Vec::new();
    for i in 0..services {
        let ns = format!("ns-{}", i % 100);
        let name = format!("svc-{i}");
        let headless = i % 10 == 0;
        let kind = if headless {
            ServiceKind::Headless
        } else {
            ServiceKind::ClusterIp(vec![IpAddr::from([
                10,
                96,
                (i / 256) as u8,
                (i % 256) as u8,
            ])])
        };
        let ports = vec![ServicePort {
            name: "http".into(),
            protocol: "TCP".into(),
            port: 80,
        }];
        svcs.push(Service {
            namespace: ns.clone(),
            name: name.clone(),
            kind,
            ports: ports.clone(),
            resource_version: None,
        });
        let count = if headless { endpoints_per_headless } else { 1 };
        let addresses = (0..count)
            .map(|j| {
                let n = i * 100 + j;
                EndpointAddress {
                    ip: IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8]),
                    hostname: (j % 2 == 0).then(|| format!("pod-{j}")),
                    ready: true,
                }
            })
            .collect();
        groups.push(EndpointGroup {
            namespace: ns,
            service: name.clone(),
            key: EndpointObject::Slice(name.to_string()),
            subsets: vec![EndpointSubset { addresses, ports }],
        });
    }
    st.replace_services(svcs);
    st.replace_endpoints(groups);
    st.set_synced();
    st
}

fn a_count(st: &Store, name: &str) -> usize {
    match lookup(
        &st.view(),
        &Name::from_ascii(name).expect("n"),
        RecordType::A,
        DNSClass::IN,
        0,
    ) {
        Answer::Local(r) => r.answers.len(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn thousand_services_correct() {
    let st = build(1000, 50);
    assert_eq!(st.stats().services, 1000);
    assert_eq!(a_count(&st, "svc-10.ns-10.svc.cluster.local."), 50);
    assert_eq!(a_count(&st, "svc-11.ns-11.svc.cluster.local."), 1);
    assert_eq!(a_count(&st, "pod-2.svc-20.ns-20.svc.cluster.local."), 1);
    let before = st.view().zone;
    st.delete_service("ns-11", "svc-11");
    assert_eq!(a_count(&st, "svc-11.ns-11.svc.cluster.local."), 0);
    // the untouched services are shared between snapshots, not copied
    let after = st.view().zone;
    let same = std::sync::Arc::ptr_eq(
        before.service("ns-10", "svc-10").expect("a"),
        after.service("ns-10", "svc-10").expect("b"),
    );
    assert!(same);
}
