//! Golden tests of the answer engine: the Kubernetes DNS spec 1.1.0 records (S1–S13), the
//! legacy kube-dns unit-test groups 1–13 (compat §7.1) and the query table of compat §1.8.
//! Each expected RRset is written out literally from those documents.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use kubedns::answer::{Answer, Response, lookup};
use kubedns::hash::endpoint_hash_label;
use kubedns::model::{
    EndpointAddress, EndpointGroup, EndpointObject, EndpointSubset, Service, ServiceKind,
    ServicePort,
};
use kubedns::store::{DnsConfig, Standalone as Store};

const NOW: u64 = 1_700_000_123;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn port(name: &str, p: u16) -> ServicePort {
    ServicePort {
        name: name.into(),
        protocol: "TCP".into(),
        port: p,
    }
}

fn cluster_ip(ns: &str, name: &str, ips: &[&str], ports: Vec<ServicePort>) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        kind: ServiceKind::ClusterIp(ips.iter().map(|s| ip(s)).collect()),
        ports,
        resource_version: None,
    }
}

fn headless(ns: &str, name: &str) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        kind: ServiceKind::Headless,
        ports: vec![],
        resource_version: None,
    }
}

fn external(ns: &str, name: &str, target: &str) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        kind: ServiceKind::ExternalName(target.into()),
        ports: vec![],
        resource_version: None,
    }
}

fn subset(ips: &[(&str, Option<&str>)], ports: Vec<ServicePort>) -> EndpointSubset {
    EndpointSubset {
        addresses: ips
            .iter()
            .map(|(i, h)| EndpointAddress {
                ip: ip(i),
                hostname: h.map(Into::into),
                ready: true,
            })
            .collect(),
        ports,
    }
}

fn eps(ns: &str, svc: &str, subsets: Vec<EndpointSubset>) -> EndpointGroup {
    EndpointGroup {
        namespace: ns.into(),
        service: svc.into(),
        key: EndpointObject::Endpoints(svc.to_string()),
        subsets,
    }
}

fn store() -> Store {
    let s = Store::new("cluster.local.");
    s.set_synced();
    s
}

fn ask(st: &Store, name: &str, t: RecordType) -> Answer {
    lookup(
        &st.view(),
        &Name::from_ascii(name).expect("qname"),
        t,
        DNSClass::IN,
        NOW,
    )
}

fn local(st: &Store, name: &str, t: RecordType) -> Response {
    match ask(st, name, t) {
        Answer::Local(r) => r,
        other => panic!("{name} {t}: expected a local answer, got {other:?}"),
    }
}

/// Answer section rendered as sorted `owner ttl TYPE rdata` lines.
fn rrs(r: &Response) -> Vec<String> {
    let mut v: Vec<String> = r
        .answers
        .iter()
        .map(|a| format!("{} {} {} {}", a.name, a.ttl, a.record_type(), a.data))
        .collect();
    v.sort();
    v
}

fn additional(r: &Response) -> Vec<String> {
    let mut v: Vec<String> = r
        .additionals
        .iter()
        .map(|a| format!("{} {}", a.name, a.data))
        .collect();
    v.sort();
    v
}

fn data(r: &Response) -> Vec<String> {
    let mut v: Vec<String> = r.answers.iter().map(|a| a.data.to_string()).collect();
    v.sort();
    v
}

fn assert_nx(st: &Store, name: &str, t: RecordType) {
    let r = local(st, name, t);
    assert_eq!(r.rcode, ResponseCode::NXDomain, "{name} {t}: {r:?}");
    assert!(r.answers.is_empty());
    assert_eq!(r.authorities.len(), 1, "SOA in authority");
    assert!(r.authoritative, "AA=1 on authoritative NXDOMAIN");
}

fn assert_nodata(st: &Store, name: &str, t: RecordType) {
    let r = local(st, name, t);
    assert_eq!(r.rcode, ResponseCode::NoError, "{name} {t}: {r:?}");
    assert!(r.answers.is_empty(), "{name} {t}: {r:?}");
    assert_eq!(r.authorities.len(), 1);
    assert_eq!(r.authorities[0].ttl, 60);
}

const TS: &str = "testservice.default.svc.cluster.local.";

// ---------------------------------------------------------------------------------------
// Spec 1.1.0 (dns-spec-and-coredns.md §1.2)

#[test]
fn spec_s1_dns_version() {
    let st = store();
    let r = local(&st, "dns-version.cluster.local.", RecordType::TXT);
    assert_eq!(rrs(&r), vec!["dns-version.cluster.local. 30 TXT 1.1.0"]);
    assert_nodata(&st, "dns-version.cluster.local.", RecordType::A);
}

#[test]
fn spec_s2_to_s6_cluster_ip() {
    let st = store();
    st.upsert_service(cluster_ip(
        "default",
        "kubernetes",
        &["10.3.0.1", "2001:db8::1"],
        vec![port("https", 443)],
    ));
    let n = "kubernetes.default.svc.cluster.local.";
    assert_eq!(
        rrs(&local(&st, n, RecordType::A)),
        vec![format!("{n} 30 A 10.3.0.1")]
    );
    assert_eq!(
        rrs(&local(&st, n, RecordType::AAAA)),
        vec![format!("{n} 30 AAAA 2001:db8::1")]
    );
    let srv = local(
        &st,
        "_https._tcp.kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(
        data(&srv),
        vec!["10 100 443 kubernetes.default.svc.cluster.local."]
    );
    assert_eq!(
        additional(&srv),
        vec![format!("{n} 10.3.0.1"), format!("{n} 2001:db8::1")]
    );
    let ptr = local(&st, "1.0.3.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(
        rrs(&ptr),
        vec![format!("1.0.3.10.in-addr.arpa. 30 PTR {n}")]
    );
    let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";
    assert_eq!(data(&local(&st, v6, RecordType::PTR)), vec![n.to_string()]);
    // unnamed ports publish no SRV
    st.upsert_service(cluster_ip(
        "default",
        "kubernetes",
        &["10.3.0.1"],
        vec![port("", 443)],
    ));
    assert_nx(
        &st,
        "_https._tcp.kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
    );
}

#[test]
fn spec_s7_to_s12_headless() {
    let st = store();
    st.upsert_service(headless("default", "headless"));
    // S7/S8: no ready endpoints → NXDOMAIN
    assert_nx(&st, "headless.default.svc.cluster.local.", RecordType::A);
    assert_nx(&st, "headless.default.svc.cluster.local.", RecordType::AAAA);
    st.upsert_endpoints(eps(
        "default",
        "headless",
        vec![subset(
            &[
                ("10.3.0.100", Some("my-pet")),
                ("10.3.0.101", None),
                ("2001:db8::64", Some("my-pet6")),
            ],
            vec![port("http", 80), port("metrics", 9090)],
        )],
    ));
    let n = "headless.default.svc.cluster.local.";
    assert_eq!(
        data(&local(&st, n, RecordType::A)),
        vec!["10.3.0.100", "10.3.0.101"]
    );
    assert_eq!(data(&local(&st, n, RecordType::AAAA)), vec!["2001:db8::64"]);
    // S9
    assert_eq!(
        rrs(&local(
            &st,
            "my-pet.headless.default.svc.cluster.local.",
            RecordType::A
        )),
        vec!["my-pet.headless.default.svc.cluster.local. 30 A 10.3.0.100"]
    );
    assert_eq!(
        data(&local(
            &st,
            "my-pet6.headless.default.svc.cluster.local.",
            RecordType::AAAA
        )),
        vec!["2001:db8::64"]
    );
    assert_nodata(
        &st,
        "my-pet6.headless.default.svc.cluster.local.",
        RecordType::A,
    );
    // S10: N endpoints × M named ports
    let h = endpoint_hash_label(ip("10.3.0.101"));
    let srv = local(
        &st,
        "_http._tcp.headless.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(
        data(&srv),
        vec![
            format!("10 33 80 {h}.{n}"),
            format!("10 33 80 my-pet.{n}"),
            format!("10 33 80 my-pet6.{n}"),
        ]
    );
    assert_eq!(srv.additionals.len(), 3);
    assert_eq!(
        local(
            &st,
            "_metrics._tcp.headless.default.svc.cluster.local.",
            RecordType::SRV
        )
        .answers
        .len(),
        3
    );
    // S11/S12
    assert_eq!(
        data(&local(&st, "100.0.3.10.in-addr.arpa.", RecordType::PTR)),
        vec![format!("my-pet.{n}")]
    );
    let v6 = "4.6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";
    assert_eq!(
        data(&local(&st, v6, RecordType::PTR)),
        vec![format!("my-pet6.{n}")]
    );
    // hostname-less endpoint: no PTR → forwarded
    assert_eq!(
        ask(&st, "101.0.3.10.in-addr.arpa.", RecordType::PTR),
        Answer::Forward
    );
}

#[test]
fn spec_s13_external_name() {
    let st = store();
    st.upsert_service(external("default", "foo", "www.example.com"));
    let n = "foo.default.svc.cluster.local.";
    match ask(&st, n, RecordType::A) {
        Answer::Chase {
            response,
            target,
            qtype,
        } => {
            assert_eq!(
                rrs(&response),
                vec![format!("{n} 30 CNAME www.example.com.")]
            );
            assert_eq!(target.to_ascii(), "www.example.com.");
            assert_eq!(qtype, RecordType::A);
        }
        other => panic!("expected chase, got {other:?}"),
    }
    assert_eq!(
        rrs(&local(&st, n, RecordType::CNAME)),
        vec![format!("{n} 30 CNAME www.example.com.")]
    );
    // in-zone target resolved internally
    st.upsert_service(cluster_ip("default", "real", &["10.0.0.7"], vec![]));
    st.upsert_service(external(
        "default",
        "alias",
        "real.default.svc.cluster.local",
    ));
    let r = local(&st, "alias.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        rrs(&r),
        vec![
            "alias.default.svc.cluster.local. 30 CNAME real.default.svc.cluster.local.".to_string(),
            "real.default.svc.cluster.local. 30 A 10.0.0.7".to_string(),
        ]
    );
    // documented deviation: an in-zone target that does not exist keeps the CNAME and
    // answers NXDOMAIN (RFC 6604; legacy NODATA without the CNAME)
    st.upsert_service(external(
        "default",
        "dangling",
        "nope.default.svc.cluster.local",
    ));
    let r = local(&st, "dangling.default.svc.cluster.local.", RecordType::A);
    assert_eq!(r.rcode, ResponseCode::NXDomain);
    assert_eq!(
        rrs(&r),
        vec!["dangling.default.svc.cluster.local. 30 CNAME nope.default.svc.cluster.local."]
    );
    // loops terminate (SERVFAIL with the chain; legacy NODATA)
    st.upsert_service(external("default", "l1", "l2.default.svc.cluster.local"));
    st.upsert_service(external("default", "l2", "l1.default.svc.cluster.local"));
    let r = local(&st, "l1.default.svc.cluster.local.", RecordType::A);
    assert_eq!(r.rcode, ResponseCode::ServFail);
    assert_eq!(r.answers.len(), 2);
    // names below an ExternalName do not exist
    assert_nx(&st, "x.foo.default.svc.cluster.local.", RecordType::A);
}

// ---------------------------------------------------------------------------------------
// Legacy kube-dns dns_test.go groups (compat §7.1)

#[test]
fn group01_pod_record() {
    let st = store();
    assert_eq!(
        data(&local(
            &st,
            "1-2-3-4.default.pod.cluster.local.",
            RecordType::A
        )),
        vec!["1.2.3.4"]
    );
}

#[test]
fn group02_cluster_ip_single_and_dual_stack_with_wildcards() {
    for ips in [
        &["1.2.3.4"][..],
        &["2001:db8::8a2e:370:7334"],
        &["1.2.3.4", "2001:db8::8a2e:370:7334"],
        &["2001:db8::8a2e:370:7334", "1.2.3.4"],
    ] {
        let st = store();
        st.upsert_service(cluster_ip(
            "default",
            "testservice",
            ips,
            vec![port("", 80)],
        ));
        let names = [
            TS,
            "testservice.default.*.cluster.local.",
            "testservice.*.svc.cluster.local.",
            "testservice.*.*.cluster.local.",
            "*.testservice.default.svc.cluster.local.",
        ];
        for n in names {
            let mut got = data(&local(&st, n, RecordType::A));
            got.extend(data(&local(&st, n, RecordType::AAAA)));
            got.sort();
            let mut want: Vec<String> = ips.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(got, want, "{n}");
        }
        for i in ips {
            let rev = kubedns::names::reverse_name(ip(i));
            assert_eq!(
                data(&local(&st, &rev, RecordType::PTR)),
                vec![TS.to_string()]
            );
        }
        st.delete_service("default", "testservice");
        for n in names {
            assert_nx(&st, n, RecordType::A);
        }
        for i in ips {
            assert_eq!(
                ask(&st, &kubedns::names::reverse_name(ip(i)), RecordType::PTR),
                Answer::Forward
            );
        }
    }
}

#[test]
fn group03_named_port_rename_and_delete() {
    let st = store();
    st.upsert_service(cluster_ip(
        "default",
        "testservice",
        &["1.2.3.4", "2001:db8::1"],
        vec![port("http1", 80)],
    ));
    let r = local(
        &st,
        "_http1._tcp.testservice.default.svc.cluster.local.",
        RecordType::SRV,
    );
    // one SRV per cluster IP at the backend level; identical on the wire → one RR, both
    // addresses in the additional section
    assert_eq!(data(&r), vec![format!("10 100 80 {TS}")]);
    assert_eq!(
        additional(&r),
        vec![format!("{TS} 1.2.3.4"), format!("{TS} 2001:db8::1")]
    );
    st.upsert_service(cluster_ip(
        "default",
        "testservice",
        &["1.2.3.4", "2001:db8::1"],
        vec![port("http2", 80)],
    ));
    assert_eq!(
        local(
            &st,
            "_http2._tcp.testservice.default.svc.cluster.local.",
            RecordType::SRV
        )
        .answers
        .len(),
        1
    );
    assert_nx(
        &st,
        "_http1._tcp.testservice.default.svc.cluster.local.",
        RecordType::SRV,
    );
    st.delete_service("default", "testservice");
    assert_nx(
        &st,
        "_http2._tcp.testservice.default.svc.cluster.local.",
        RecordType::SRV,
    );
}

fn headless_two(st: &Store, hosts: [Option<&str>; 2]) {
    st.upsert_service(headless("default", "testservice"));
    st.upsert_endpoints(eps(
        "default",
        "testservice",
        vec![subset(
            &[("10.0.0.1", hosts[0]), ("10.0.0.2", hosts[1])],
            vec![port("", 80)],
        )],
    ));
}

#[test]
fn group04_headless_srv_hash_targets() {
    let st = store();
    headless_two(&st, [None, None]);
    let r = local(&st, TS, RecordType::SRV);
    let h1 = endpoint_hash_label(ip("10.0.0.1"));
    let h2 = endpoint_hash_label(ip("10.0.0.2"));
    assert_eq!(data(&r), {
        let mut v = vec![format!("10 50 0 {h1}.{TS}"), format!("10 50 0 {h2}.{TS}")];
        v.sort();
        v
    });
    assert_eq!(additional(&r), {
        let mut v = vec![format!("{h1}.{TS} 10.0.0.1"), format!("{h2}.{TS} 10.0.0.2")];
        v.sort();
        v
    });
    // the hash names resolve
    assert_eq!(
        data(&local(&st, &format!("{h1}.{TS}"), RecordType::A)),
        vec!["10.0.0.1"]
    );
}

#[test]
fn group05_headless_srv_hostname_targets() {
    let st = store();
    headless_two(&st, [Some("ep-0"), Some("ep-1")]);
    let r = local(&st, TS, RecordType::SRV);
    assert_eq!(
        data(&r),
        vec![format!("10 50 0 ep-0.{TS}"), format!("10 50 0 ep-1.{TS}")]
    );
    assert_eq!(
        additional(&r),
        vec![format!("ep-0.{TS} 10.0.0.1"), format!("ep-1.{TS} 10.0.0.2")]
    );
}

#[test]
fn group06_named_endpoint_port() {
    let st = store();
    st.upsert_service(headless("default", "testservice"));
    st.upsert_endpoints(eps(
        "default",
        "testservice",
        vec![subset(&[("10.0.0.1", None)], vec![port("http", 8081)])],
    ));
    let r = local(
        &st,
        "_http._tcp.testservice.default.svc.cluster.local.",
        RecordType::SRV,
    );
    let h = endpoint_hash_label(ip("10.0.0.1"));
    assert_eq!(data(&r), vec![format!("10 100 8081 {h}.{TS}")]);
    assert_eq!(additional(&r), vec![format!("{h}.{TS} 10.0.0.1")]);
}

#[test]
fn group07_external_name_and_delete() {
    let st = store();
    st.upsert_service(external("default", "testservice", "foo.bar.example.com"));
    assert_eq!(
        data(&local(&st, TS, RecordType::CNAME)),
        vec!["foo.bar.example.com."]
    );
    st.delete_service("default", "testservice");
    assert_nx(&st, TS, RecordType::CNAME);
    assert_nx(&st, TS, RecordType::A);
}

#[test]
fn group08_headless_two_subsets() {
    let st = store();
    st.upsert_service(headless("default", "testservice"));
    st.upsert_endpoints(eps(
        "default",
        "testservice",
        vec![
            subset(
                &[("10.0.0.1", None), ("10.0.0.2", None)],
                vec![port("", 80)],
            ),
            subset(
                &[("10.0.0.3", None), ("10.0.0.4", None)],
                vec![port("", 8080)],
            ),
        ],
    ));
    assert_eq!(
        data(&local(&st, TS, RecordType::A)),
        vec!["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
    );
    for i in 1..=4 {
        assert_eq!(
            ask(&st, &format!("{i}.0.0.10.in-addr.arpa."), RecordType::PTR),
            Answer::Forward
        );
    }
    st.delete_service("default", "testservice");
    assert_nx(&st, TS, RecordType::A);
}

#[test]
fn group09_headless_named_ports_shrink() {
    let st = store();
    st.upsert_service(headless("default", "testservice"));
    let first = subset(
        &[("10.0.0.1", None), ("10.0.0.2", None)],
        vec![port("http1", 80), port("http2", 81)],
    );
    let second = subset(
        &[("10.0.0.3", None), ("10.0.0.4", None)],
        vec![port("https", 443)],
    );
    st.upsert_endpoints(eps("default", "testservice", vec![first.clone(), second]));
    let count_srv = |st: &Store| {
        let mut total = 0;
        for p in ["_http1", "_http2", "_https"] {
            let r = local(st, &format!("{p}._tcp.{TS}"), RecordType::SRV);
            for a in &r.answers {
                let RData::SRV(srv) = &a.data else {
                    panic!("srv")
                };
                let want = match p {
                    "_http1" => 80,
                    "_http2" => 81,
                    _ => 443,
                };
                assert_eq!(srv.port, want);
                // each target resolves to exactly one endpoint IP
                assert_eq!(
                    local(st, &srv.target.to_ascii(), RecordType::A)
                        .answers
                        .len(),
                    1
                );
            }
            total += r.answers.len();
        }
        total
    };
    assert_eq!(local(&st, TS, RecordType::A).answers.len(), 4);
    assert_eq!(count_srv(&st), 6);
    st.upsert_endpoints(eps("default", "testservice", vec![first]));
    assert_eq!(local(&st, TS, RecordType::A).answers.len(), 2);
    assert_eq!(count_srv(&st), 4);
}

#[test]
fn group10_endpoints_update() {
    let st = store();
    st.upsert_service(headless("default", "testservice"));
    let set = |ips: &[&str]| {
        let a: Vec<(&str, Option<&str>)> = ips.iter().map(|i| (*i, None)).collect();
        st.upsert_endpoints(eps(
            "default",
            "testservice",
            vec![subset(&a, vec![port("", 80)])],
        ));
    };
    set(&["10.0.0.1", "10.0.0.2"]);
    assert_eq!(local(&st, TS, RecordType::A).answers.len(), 2);
    set(&["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    assert_eq!(local(&st, TS, RecordType::A).answers.len(), 4);
    set(&[]);
    assert_nx(&st, TS, RecordType::A);
}

#[test]
fn group11_named_endpoint_ptr_moves() {
    let st = store();
    st.upsert_service(headless("default", "testservice"));
    st.upsert_endpoints(eps(
        "default",
        "testservice",
        vec![subset(&[("10.0.0.1", Some("foo"))], vec![])],
    ));
    assert_eq!(
        data(&local(&st, "1.0.0.10.in-addr.arpa.", RecordType::PTR)),
        vec![format!("foo.{TS}")]
    );
    st.upsert_endpoints(eps(
        "default",
        "testservice",
        vec![subset(&[("10.0.0.2", Some("foo"))], vec![])],
    ));
    assert_eq!(
        ask(&st, "1.0.0.10.in-addr.arpa.", RecordType::PTR),
        Answer::Forward
    );
    assert_eq!(
        data(&local(&st, "2.0.0.10.in-addr.arpa.", RecordType::PTR)),
        vec![format!("foo.{TS}")]
    );
    st.delete_endpoints("default", EndpointObject::Endpoints("testservice".into()));
    assert_eq!(
        ask(&st, "2.0.0.10.in-addr.arpa.", RecordType::PTR),
        Answer::Forward
    );
}

#[test]
fn group12_headless_before_endpoints() {
    let st = store();
    st.upsert_service(headless("default", "testservice"));
    assert_nx(&st, TS, RecordType::A);
    assert_nx(&st, TS, RecordType::SRV);
    st.upsert_endpoints(eps(
        "default",
        "testservice",
        vec![subset(&[("10.0.0.1", None)], vec![])],
    ));
    assert_eq!(data(&local(&st, TS, RecordType::A)), vec!["10.0.0.1"]);
}

#[test]
fn group13_federation() {
    let st = store();
    let mut feds = BTreeMap::new();
    feds.insert("myfederation".to_string(), "example.com".to_string());
    feds.insert(
        "secondfederation".to_string(),
        "second.example.com".to_string(),
    );
    st.set_config(DnsConfig {
        federations: feds,
        ..Default::default()
    });
    st.set_federation_zone(Some((
        "testcontinent-testreg-testzone".into(),
        "testcontinent-testreg".into(),
    )));
    let cname = |n: &str| data(&local(&st, n, RecordType::CNAME));
    let fq = "testservice.default.myfederation.svc.cluster.local.";
    let remote = "testservice.default.myfederation.svc.testcontinent-testreg-testzone.testcontinent-testreg.example.com.";
    assert_eq!(cname(fq), vec![remote]);
    for kind in ["headless", "v4", "v6", "dual"] {
        match kind {
            "headless" => st.upsert_service(headless("default", "testservice")),
            "v4" => st.upsert_service(cluster_ip("default", "testservice", &["10.0.0.1"], vec![])),
            "v6" => st.upsert_service(cluster_ip(
                "default",
                "testservice",
                &["2001:db8::1"],
                vec![],
            )),
            _ => st.upsert_service(cluster_ip(
                "default",
                "testservice",
                &["10.0.0.1", "2001:db8::1"],
                vec![],
            )),
        }
        // no endpoints yet → still federated
        assert_eq!(cname(fq), vec![remote], "{kind}");
        st.upsert_endpoints(eps(
            "default",
            "testservice",
            vec![subset(&[("10.9.0.1", None)], vec![])],
        ));
        assert_eq!(cname(fq), vec![TS], "{kind}");
        st.delete_endpoints("default", EndpointObject::Endpoints("testservice".into()));
        assert_eq!(cname(fq), vec![remote], "{kind}");
    }
    // local target followed for A queries
    st.upsert_service(cluster_ip("default", "testservice", &["10.0.0.1"], vec![]));
    st.upsert_endpoints(eps(
        "default",
        "testservice",
        vec![subset(&[("10.9.0.1", None)], vec![])],
    ));
    assert_eq!(data(&local(&st, fq, RecordType::A)), vec!["10.0.0.1", TS]);
    assert_eq!(
        cname("mysvc.myns.myfederation.svc.cluster.local."),
        vec![
            "mysvc.myns.myfederation.svc.testcontinent-testreg-testzone.testcontinent-testreg.example.com."
        ]
    );
    assert_eq!(
        cname("secsvc.default.secondfederation.svc.cluster.local."),
        vec![
            "secsvc.default.secondfederation.svc.testcontinent-testreg-testzone.testcontinent-testreg.second.example.com."
        ]
    );
    assert_nx(&st, "mysvc.myns.svc.cluster.local.", RecordType::A);
    assert_nx(
        &st,
        "mysvc.default.nofederation.svc.cluster.local.",
        RecordType::A,
    );
    // remote targets are chased upstream for A queries
    assert!(matches!(
        ask(
            &st,
            "mysvc.myns.myfederation.svc.cluster.local.",
            RecordType::A
        ),
        Answer::Chase { .. }
    ));
}

// ---------------------------------------------------------------------------------------
// Query table (compat §1.8)

fn table_store() -> Store {
    let st = store();
    st.upsert_service(cluster_ip(
        "default",
        "kubernetes",
        &["10.0.0.1"],
        vec![port("https", 443)],
    ));
    st.upsert_service(headless("default", "hl"));
    st.upsert_endpoints(eps(
        "default",
        "hl",
        vec![subset(
            &[("10.1.0.1", Some("web-0")), ("10.1.0.2", None)],
            vec![port("http", 8080)],
        )],
    ));
    st.upsert_service(external("default", "ext", "foo.example.com"));
    st
}

const K: &str = "kubernetes.default.svc.cluster.local.";
const HL: &str = "hl.default.svc.cluster.local.";

#[test]
fn table_cluster_ip_rows() {
    let st = table_store();
    assert_eq!(
        rrs(&local(&st, K, RecordType::A)),
        vec![format!("{K} 30 A 10.0.0.1")]
    );
    assert_nodata(&st, K, RecordType::AAAA);
    for t in [
        RecordType::TXT,
        RecordType::MX,
        RecordType::CAA,
        RecordType::SOA,
        RecordType::NS,
        RecordType::PTR,
    ] {
        assert_nodata(&st, K, t);
    }
    // documented deviation: CNAME on a non-alias name is NODATA (legacy NXDOMAIN)
    assert_nodata(&st, K, RecordType::CNAME);
    // port-less SRV: one per A entry, hash target, port 0, additional A of the target
    let h = endpoint_hash_label(ip("10.0.0.1"));
    let r = local(&st, K, RecordType::SRV);
    assert_eq!(data(&r), vec![format!("10 100 0 {h}.{K}")]);
    assert_eq!(additional(&r), vec![format!("{h}.{K} 10.0.0.1")]);
    let r = local(&st, &format!("_https._tcp.{K}"), RecordType::SRV);
    assert_eq!(data(&r), vec![format!("10 100 443 {K}")]);
    assert_eq!(additional(&r), vec![format!("{K} 10.0.0.1")]);
    // documented deviation: `_tcp.<svc>` is an empty non-terminal (RFC 8020; legacy NXDOMAIN)
    assert_nodata(&st, &format!("_tcp.{K}"), RecordType::SRV);
    assert_nx(&st, &format!("_udp.{K}"), RecordType::SRV);
    assert_nx(&st, &format!("_http._tcp.{K}"), RecordType::SRV);
    assert_nx(&st, &format!("_https._udp.{K}"), RecordType::SRV);
    // A on the SRV name: CNAME to the Service + its A
    let r = local(&st, &format!("_https._tcp.{K}"), RecordType::A);
    assert_eq!(data(&r), vec!["10.0.0.1".to_string(), K.to_string()]);
}

#[test]
fn table_headless_rows() {
    let st = table_store();
    assert_eq!(
        data(&local(&st, HL, RecordType::A)),
        vec!["10.1.0.1", "10.1.0.2"]
    );
    let h = endpoint_hash_label(ip("10.1.0.2"));
    let r = local(&st, &format!("_http._tcp.{HL}"), RecordType::SRV);
    assert_eq!(
        data(&r),
        vec![
            format!("10 50 8080 {h}.{HL}"),
            format!("10 50 8080 web-0.{HL}")
        ]
    );
    assert_eq!(r.additionals.len(), 2);
    let r = local(&st, HL, RecordType::SRV);
    assert_eq!(
        data(&r),
        vec![format!("10 50 0 {h}.{HL}"), format!("10 50 0 web-0.{HL}")]
    );
    assert_eq!(
        data(&local(&st, &format!("web-0.{HL}"), RecordType::A)),
        vec!["10.1.0.1"]
    );
    assert_eq!(
        data(&local(&st, &format!("{h}.{HL}"), RecordType::A)),
        vec!["10.1.0.2"]
    );
    // A on `_port._proto.<headless>`: addresses of the endpoints with that port
    assert_eq!(
        data(&local(&st, &format!("_http._tcp.{HL}"), RecordType::A)),
        vec!["10.1.0.1", "10.1.0.2"]
    );
    // not-ready address hostname → NXDOMAIN
    st.upsert_endpoints(EndpointGroup {
        subsets: vec![EndpointSubset {
            addresses: vec![EndpointAddress {
                ip: ip("10.1.0.9"),
                hostname: Some("sleepy".into()),
                ready: false,
            }],
            ports: vec![],
        }],
        key: EndpointObject::Slice("x".into()),
        ..eps("default", "hl", vec![])
    });
    assert_nx(&st, &format!("sleepy.{HL}"), RecordType::A);
    // headless with no endpoints object
    st.upsert_service(headless("default", "empty"));
    assert_nx(&st, "empty.default.svc.cluster.local.", RecordType::A);
    assert_nx(&st, "empty.default.svc.cluster.local.", RecordType::SRV);
    // duplicate hostnames: one RR per IP (spec S9; legacy kept only the last)
    st.upsert_service(headless("default", "dup"));
    st.upsert_endpoints(eps(
        "default",
        "dup",
        vec![subset(
            &[("10.2.0.1", Some("a")), ("10.2.0.2", Some("a"))],
            vec![],
        )],
    ));
    assert_eq!(
        data(&local(
            &st,
            "a.dup.default.svc.cluster.local.",
            RecordType::A
        )),
        vec!["10.2.0.1", "10.2.0.2"]
    );
}

#[test]
fn table_external_name_rows() {
    let st = table_store();
    let n = "ext.default.svc.cluster.local.";
    assert!(matches!(ask(&st, n, RecordType::A), Answer::Chase { .. }));
    assert_eq!(
        rrs(&local(&st, n, RecordType::CNAME)),
        vec![format!("{n} 30 CNAME foo.example.com.")]
    );
    // documented deviation: SRV (like every non-CNAME type) is CNAME + chase
    assert!(matches!(
        ask(&st, n, RecordType::SRV),
        Answer::Chase {
            qtype: RecordType::SRV,
            ..
        }
    ));
}

#[test]
fn table_empty_non_terminals_and_apex() {
    let st = table_store();
    // documented deviation: empty non-terminals are NODATA (RFC 8020), legacy NXDOMAIN
    for n in [
        "svc.cluster.local.",
        "default.svc.cluster.local.",
        "*.default.svc.cluster.local.",
        "cluster.local.",
        "pod.cluster.local.",
        "default.pod.cluster.local.",
    ] {
        assert_nodata(&st, n, RecordType::A);
    }
    assert_nx(&st, "nonexistent.svc.cluster.local.", RecordType::A);
    assert_nx(&st, "foo.cluster.local.", RecordType::A);
    assert_nx(&st, "missing.default.svc.cluster.local.", RecordType::A);
    let soa = local(&st, "cluster.local.", RecordType::SOA);
    assert_eq!(soa.answers.len(), 1);
    assert_eq!(soa.answers[0].ttl, 3600);
    let RData::SOA(s) = &soa.answers[0].data else {
        panic!("soa")
    };
    assert_eq!(s.mname.to_ascii(), "ns.dns.cluster.local.");
    assert_eq!(s.rname.to_ascii(), "hostmaster.cluster.local.");
    assert_eq!(u64::from(s.serial), NOW - NOW % 3600);
    assert_eq!(
        (s.refresh, s.retry, s.expire, s.minimum),
        (28800, 7200, 604800, 60)
    );
    // documented deviation: NS at the apex is served
    assert_eq!(
        data(&local(&st, "cluster.local.", RecordType::NS)),
        vec!["ns.dns.cluster.local."]
    );
}

#[test]
fn table_pod_rows() {
    let st = table_store();
    assert_eq!(
        data(&local(
            &st,
            "10-1-2-3.anything.pod.cluster.local.",
            RecordType::A
        )),
        vec!["10.1.2.3"]
    );
    assert_eq!(
        data(&local(&st, "10-1-2-3.*.pod.cluster.local.", RecordType::A)).len(),
        0
    );
    assert_nx(&st, "10-1-2-3.*.pod.cluster.local.", RecordType::A);
    assert_nodata(&st, "10-1-2-3.default.pod.cluster.local.", RecordType::AAAA);
    // documented deviation: a first label that is not an address is NXDOMAIN (RFC 8020;
    // legacy NODATA)
    assert_nx(&st, "bogus.default.pod.cluster.local.", RecordType::A);
    // legacy crashed here; we answer NODATA
    assert_nodata(&st, "10-1-2-3.default.pod.cluster.local.", RecordType::SRV);
    assert_nodata(&st, "10-1-2-3.default.pod.cluster.local.", RecordType::TXT);
    assert_nx(&st, "x.10-1-2-3.default.pod.cluster.local.", RecordType::A);
}

#[test]
fn table_wildcard_rows() {
    let st = table_store();
    for n in [
        "kubernetes.*.svc.cluster.local.",
        "kubernetes.default.*.cluster.local.",
        "*.kubernetes.default.svc.cluster.local.",
    ] {
        assert_eq!(data(&local(&st, n, RecordType::A)), vec!["10.0.0.1"], "{n}");
    }
    assert_eq!(
        data(&local(
            &st,
            "*.hl.default.svc.cluster.local.",
            RecordType::A
        )),
        vec!["10.1.0.1", "10.1.0.2"]
    );
    assert_nx(
        &st,
        "*.*.kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_nx(
        &st,
        "_https.*.kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_nx(
        &st,
        "*._tcp.kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_nx(&st, "kubernetes.any.svc.cluster.local.", RecordType::A);
}

#[test]
fn table_case_any_chaos_sync_forward() {
    let st = table_store();
    let r = local(&st, "KUBERNETES.Default.svc.Cluster.Local.", RecordType::A);
    assert_eq!(
        rrs(&r),
        vec!["KUBERNETES.Default.svc.Cluster.Local. 30 A 10.0.0.1"]
    );
    let any = local(&st, K, RecordType::ANY);
    assert_eq!(any.rcode, ResponseCode::Refused);
    assert!(!any.authoritative && !any.recursion_available);
    let v = lookup(
        &st.view(),
        &Name::from_ascii("version.bind.").expect("n"),
        RecordType::TXT,
        DNSClass::CH,
        NOW,
    );
    let Answer::Local(v) = v else { panic!("chaos") };
    assert_eq!(data(&v), vec!["2.5.3a"]);
    assert_eq!(ask(&st, "example.com.", RecordType::A), Answer::Forward);
    assert_eq!(
        ask(&st, "8.8.8.8.in-addr.arpa.", RecordType::PTR),
        Answer::Forward
    );
    let single = local(&st, "foo.", RecordType::A);
    assert_eq!(single.rcode, ResponseCode::ServFail);
    assert!(single.recursion_available);
    // PTR for a ClusterIP: AA=0 as legacy
    let ptr = local(&st, "1.0.0.10.in-addr.arpa.", RecordType::PTR);
    assert!(!ptr.authoritative);
    // before the initial sync: SERVFAIL for cluster names, forwarding still works
    let fresh = Store::new("cluster.local.");
    let Answer::Local(r) = ask(&fresh, K, RecordType::A) else {
        panic!("local")
    };
    assert_eq!(r.rcode, ResponseCode::ServFail);
    assert_eq!(ask(&fresh, "example.com.", RecordType::A), Answer::Forward);
}

#[test]
fn ttl_is_a_store_parameter() {
    let st = Store::with_options("cluster.local.", kubedns::store::StoreOptions { ttl: 5 });
    st.set_synced();
    st.upsert_service(cluster_ip("default", "kubernetes", &["10.0.0.1"], vec![]));
    assert_eq!(
        rrs(&local(&st, K, RecordType::A)),
        vec![format!("{K} 5 A 10.0.0.1")]
    );
}

#[test]
fn zone_transfer_refused_and_ip_external_name() {
    let st = table_store();
    assert_eq!(
        local(&st, "cluster.local.", RecordType::AXFR).rcode,
        ResponseCode::Refused
    );
    st.upsert_service(external("default", "ipext", "192.0.2.9"));
    let n = "ipext.default.svc.cluster.local.";
    assert_eq!(
        rrs(&local(&st, n, RecordType::A)),
        vec![format!("{n} 30 A 192.0.2.9")]
    );
    assert_nodata(&st, n, RecordType::AAAA);
}

#[test]
fn federation_label_that_is_also_a_namespace_prefers_local_records() {
    let st = store();
    let mut feds = BTreeMap::new();
    feds.insert("fed".to_string(), "example.com".to_string());
    st.set_config(DnsConfig {
        federations: feds,
        ..Default::default()
    });
    st.set_federation_zone(Some(("z".into(), "r".into())));
    // namespace "fed" with headless service "web" and endpoint hostname "pod"
    st.upsert_service(headless("fed", "web"));
    st.upsert_endpoints(eps(
        "fed",
        "web",
        vec![subset(&[("10.5.0.1", Some("pod"))], vec![])],
    ));
    assert_eq!(
        data(&local(&st, "pod.web.fed.svc.cluster.local.", RecordType::A)),
        vec!["10.5.0.1"]
    );
    assert_eq!(
        data(&local(
            &st,
            "other.web.fed.svc.cluster.local.",
            RecordType::CNAME
        )),
        vec!["other.web.fed.svc.z.r.example.com."]
    );
}

#[test]
fn soa_on_non_apex_is_nodata_and_srv_weight_for_100_targets() {
    let st = table_store();
    assert_nodata(&st, "svc.cluster.local.", RecordType::SOA);
    st.upsert_service(headless("default", "wide"));
    let addrs: Vec<String> = (0..100).map(|i| format!("10.7.0.{i}")).collect();
    let pairs: Vec<(&str, Option<&str>)> = addrs.iter().map(|a| (a.as_str(), None)).collect();
    st.upsert_endpoints(eps(
        "default",
        "wide",
        vec![subset(&pairs, vec![port("http", 80)])],
    ));
    let r = local(
        &st,
        "_http._tcp.wide.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(r.answers.len(), 100);
    for a in &r.answers {
        let RData::SRV(s) = &a.data else {
            panic!("srv")
        };
        assert_eq!((s.priority, s.weight, s.port), (10, 1, 80));
    }
    assert_eq!(r.additionals.len(), 100);
}

#[test]
fn external_name_without_target_publishes_nothing() {
    let st = store();
    st.upsert_service(external("default", "empty", ""));
    assert_nx(&st, "empty.default.svc.cluster.local.", RecordType::A);
    assert_nx(&st, "empty.default.svc.cluster.local.", RecordType::CNAME);
}
