//! The query table of compat §1.8 as a table of named cases against one store (a ClusterIP
//! Service `kubernetes`, a headless `hl` with a named and an unnamed endpoint, an ExternalName
//! `ext`), then the behaviours that need a changed store or a look inside one record.
//! Expected RRsets are written out literally from compat §1.8 and the spec
//! (dns-spec-and-coredns.md §1.2); "deviation" rows are the documented differences from legacy.

mod common;

use std::collections::BTreeMap;

use common::answers::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use kubedns::answer::{Answer, lookup};
use kubedns::hash::endpoint_hash_label;
use kubedns::model::{EndpointAddress, EndpointGroup, EndpointObject, EndpointSubset};
use kubedns::store::{DnsConfig, Standalone as Store};

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
fn cluster_ip_service_rows() {
    use RecordType::*;
    let h = endpoint_hash_label(ip("10.0.0.1"));
    let mut table = vec![
        // S2: a ClusterIP Service's name has the A of its ClusterIP, TTL 30.
        case(
            "cluster IP A",
            K,
            A,
            Want::Records(vec![format!("{K} 30 A 10.0.0.1")]),
        ),
        // S3: no IPv6 ClusterIP → NODATA for AAAA.
        case("no AAAA on a v4-only service", K, AAAA, Want::NoData),
        // deviation: CNAME on a non-alias name is NODATA (legacy NXDOMAIN).
        case("CNAME on a non-alias is NODATA", K, CNAME, Want::NoData),
        // legacy port-less SRV: one per A entry, hash target, port 0, A of the target.
        case(
            "port-less SRV names the hash target",
            K,
            SRV,
            answer_with_additional(
                &[format!("10 100 0 {h}.{K}")],
                &[format!("{h}.{K} 10.0.0.1")],
            ),
        ),
        // S4: `_port._proto.<svc>` SRV targets the service name, A in additional.
        case(
            "named port SRV",
            format!("_https._tcp.{K}"),
            SRV,
            answer_with_additional(&[format!("10 100 443 {K}")], &[format!("{K} 10.0.0.1")]),
        ),
        // deviation: `_tcp.<svc>` is an empty non-terminal (RFC 8020 §2; legacy NXDOMAIN).
        case(
            "_proto.<svc> is an empty non-terminal",
            format!("_tcp.{K}"),
            SRV,
            Want::NoData,
        ),
        // no UDP port → the `_udp` branch does not exist.
        case(
            "unused protocol label",
            format!("_udp.{K}"),
            SRV,
            Want::NxDomain,
        ),
        // no port named http.
        case(
            "unknown port name",
            format!("_http._tcp.{K}"),
            SRV,
            Want::NxDomain,
        ),
        // the https port is TCP only.
        case(
            "port on the wrong protocol",
            format!("_https._udp.{K}"),
            SRV,
            Want::NxDomain,
        ),
        // legacy: A on the SRV name is a CNAME to the Service plus its A.
        case(
            "A on a named-port name is CNAME + A",
            format!("_https._tcp.{K}"),
            A,
            answer(&["10.0.0.1", K]),
        ),
    ];
    // RFC 2308 §2.2: any other type on an existing name is NODATA.
    for t in [TXT, MX, CAA, SOA, NS, PTR] {
        table.push(case(
            "other types on a service are NODATA",
            K,
            t,
            Want::NoData,
        ));
    }
    check(&table_store(), &table);
}

#[test]
fn headless_service_rows() {
    use RecordType::*;
    let h = endpoint_hash_label(ip("10.1.0.2"));
    let table = [
        // S7: a headless name has one A per ready endpoint address.
        case(
            "headless A lists endpoints",
            HL,
            A,
            answer(&["10.1.0.1", "10.1.0.2"]),
        ),
        // S9: SRV per endpoint: hostname or hash label targets, weight split evenly.
        case(
            "headless named-port SRV",
            format!("_http._tcp.{HL}"),
            SRV,
            answer(&[
                format!("10 50 8080 {h}.{HL}"),
                format!("10 50 8080 web-0.{HL}"),
            ]),
        ),
        // legacy port-less SRV on a headless name: port 0, one per endpoint.
        case(
            "headless port-less SRV",
            HL,
            SRV,
            answer(&[format!("10 50 0 {h}.{HL}"), format!("10 50 0 web-0.{HL}")]),
        ),
        // S10: an endpoint hostname names its address.
        case(
            "endpoint hostname A",
            format!("web-0.{HL}"),
            A,
            answer(&["10.1.0.1"]),
        ),
        // legacy: an endpoint without hostname is named by its hash label.
        case(
            "endpoint hash label A",
            format!("{h}.{HL}"),
            A,
            answer(&["10.1.0.2"]),
        ),
        // legacy: A on `_port._proto.<headless>` lists the endpoints with that port.
        case(
            "A on a headless named-port name",
            format!("_http._tcp.{HL}"),
            A,
            answer(&["10.1.0.1", "10.1.0.2"]),
        ),
    ];
    check(&table_store(), &table);
    let r = local(&table_store(), &format!("_http._tcp.{HL}"), SRV);
    assert_eq!(r.additionals.len(), 2, "one A per SRV target in additional");
}

#[test]
fn zone_structure_rows() {
    use RecordType::*;
    let mut table = Vec::new();
    // deviation: empty non-terminals are NODATA (RFC 8020), legacy NXDOMAIN.
    for n in [
        "svc.cluster.local.",
        "default.svc.cluster.local.",
        "*.default.svc.cluster.local.",
        "cluster.local.",
        "pod.cluster.local.",
        "default.pod.cluster.local.",
    ] {
        table.push(case("empty non-terminal is NODATA", n, A, Want::NoData));
    }
    table.extend([
        // a namespace nobody created.
        case(
            "unknown namespace",
            "nonexistent.svc.cluster.local.",
            A,
            Want::NxDomain,
        ),
        // a label that is neither svc nor pod under the zone.
        case(
            "unknown zone child",
            "foo.cluster.local.",
            A,
            Want::NxDomain,
        ),
        // a service that does not exist.
        case(
            "unknown service",
            "missing.default.svc.cluster.local.",
            A,
            Want::NxDomain,
        ),
        // deviation: NS at the apex is served.
        case(
            "apex NS",
            "cluster.local.",
            NS,
            answer(&["ns.dns.cluster.local."]),
        ),
        // SOA exists only at the apex: below it, NODATA.
        case(
            "SOA below the apex is NODATA",
            "svc.cluster.local.",
            SOA,
            Want::NoData,
        ),
    ]);
    check(&table_store(), &table);
}

#[test]
fn apex_soa_carries_the_legacy_fields() {
    let soa = local(&table_store(), "cluster.local.", RecordType::SOA);
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
}

#[test]
fn pod_rows() {
    use RecordType::*;
    let table = [
        // S (pods): `a-b-c-d.<ns>.pod.<zone>` answers the dashed address, any namespace.
        case(
            "pod A",
            "10-1-2-3.anything.pod.cluster.local.",
            A,
            answer(&["10.1.2.3"]),
        ),
        // legacy: a wildcard namespace is not served for pods.
        case(
            "wildcard pod namespace",
            "10-1-2-3.*.pod.cluster.local.",
            A,
            Want::NxDomain,
        ),
        // an IPv4 pod name has no AAAA.
        case(
            "pod AAAA",
            "10-1-2-3.default.pod.cluster.local.",
            AAAA,
            Want::NoData,
        ),
        // deviation: a first label that is not an address is NXDOMAIN (RFC 8020; legacy NODATA).
        case(
            "non-address pod label",
            "bogus.default.pod.cluster.local.",
            A,
            Want::NxDomain,
        ),
        // legacy crashed here; we answer NODATA.
        case(
            "pod SRV",
            "10-1-2-3.default.pod.cluster.local.",
            SRV,
            Want::NoData,
        ),
        // other types on a pod name: NODATA.
        case(
            "pod TXT",
            "10-1-2-3.default.pod.cluster.local.",
            TXT,
            Want::NoData,
        ),
        // nothing lives below a pod name.
        case(
            "below a pod name",
            "x.10-1-2-3.default.pod.cluster.local.",
            A,
            Want::NxDomain,
        ),
    ];
    check(&table_store(), &table);
}

#[test]
fn wildcard_rows() {
    use RecordType::*;
    let mut table = Vec::new();
    // legacy wildcards: `*` for the namespace, the `svc` label, or a leading label.
    for n in [
        "kubernetes.*.svc.cluster.local.",
        "kubernetes.default.*.cluster.local.",
        "*.kubernetes.default.svc.cluster.local.",
    ] {
        table.push(case(
            "wildcard matches the service",
            n,
            A,
            answer(&["10.0.0.1"]),
        ));
    }
    table.extend([
        // a leading `*` on a headless name lists its endpoints.
        case(
            "wildcard endpoint label",
            "*.hl.default.svc.cluster.local.",
            A,
            answer(&["10.1.0.1", "10.1.0.2"]),
        ),
        // two wildcards are not served.
        case(
            "double wildcard",
            "*.*.kubernetes.default.svc.cluster.local.",
            SRV,
            Want::NxDomain,
        ),
        // the protocol label cannot be a wildcard.
        case(
            "wildcard protocol",
            "_https.*.kubernetes.default.svc.cluster.local.",
            SRV,
            Want::NxDomain,
        ),
        // the port label cannot be a wildcard.
        case(
            "wildcard port",
            "*._tcp.kubernetes.default.svc.cluster.local.",
            SRV,
            Want::NxDomain,
        ),
        // a namespace without that service.
        case(
            "service absent from namespace",
            "kubernetes.any.svc.cluster.local.",
            A,
            Want::NxDomain,
        ),
    ]);
    check(&table_store(), &table);
}

#[test]
fn headless_not_ready_empty_and_duplicate_hostnames() {
    let st = table_store();
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
fn external_name_is_a_cname_chased_for_every_type() {
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
fn case_any_chaos_forwarding_and_unsynced_store() {
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
