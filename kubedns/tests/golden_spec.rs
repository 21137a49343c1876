//! The Kubernetes DNS spec 1.1.0 records (S1–S13, dns-spec-and-coredns.md §1.2) against the
//! answer engine, as tables of named cases (the runner is `common::answers`): each test builds
//! one store state and checks one table of questions against it. Expected RRsets are written
//! out literally from the spec; "deviation" rows are the documented differences from legacy.

mod common;

use common::answers::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use kubedns::hash::endpoint_hash_label;
use kubedns::store::Standalone as Store;

const K: &str = "kubernetes.default.svc.cluster.local.";
const HL: &str = "headless.default.svc.cluster.local.";
const V6_PTR_1: &str = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";
const V6_PTR_64: &str = "4.6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";

#[test]
fn spec_s1_dns_version() {
    use RecordType::*;
    let table = [
        // S1: `dns-version.<zone>` TXT names the schema version.
        case(
            "S1 schema version TXT",
            "dns-version.cluster.local.",
            TXT,
            records(&["dns-version.cluster.local. 30 TXT 1.1.0"]),
        ),
        // the version name has no other type.
        case(
            "S1 no A on dns-version",
            "dns-version.cluster.local.",
            A,
            Want::NoData,
        ),
    ];
    check(&store(), &table);
}

/// A dual-stack ClusterIP Service `kubernetes` whose ports are `ports`.
fn kubernetes(st: &Store, ports: Vec<kubedns::model::ServicePort>) {
    st.upsert_service(cluster_ip(
        "default",
        "kubernetes",
        &["10.3.0.1", "2001:db8::1"],
        ports,
    ));
}

#[test]
fn spec_s2_to_s6_cluster_ip() {
    use RecordType::*;
    let st = store();
    kubernetes(&st, vec![port("https", 443)]);
    let table = [
        // S2: A of the IPv4 ClusterIP, TTL 30.
        case(
            "S2 ClusterIP A",
            K,
            A,
            records(&[format!("{K} 30 A 10.3.0.1")]),
        ),
        // S3: AAAA of the IPv6 ClusterIP.
        case(
            "S3 ClusterIP AAAA",
            K,
            AAAA,
            records(&[format!("{K} 30 AAAA 2001:db8::1")]),
        ),
        // S4: `_port._proto.<svc>` SRV targets the service name; both addresses in additional.
        case(
            "S4 named port SRV",
            format!("_https._tcp.{K}"),
            SRV,
            answer_with_additional(
                &[format!("10 100 443 {K}")],
                &[format!("{K} 10.3.0.1"), format!("{K} 2001:db8::1")],
            ),
        ),
        // S5: PTR of the IPv4 ClusterIP (AA=0 as legacy).
        case(
            "S5 IPv4 PTR",
            "1.0.3.10.in-addr.arpa.",
            PTR,
            reply(
                ResponseCode::NoError,
                false,
                &[format!("1.0.3.10.in-addr.arpa. 30 PTR {K}")],
            ),
        ),
        // S6: PTR of the IPv6 ClusterIP, nibble form.
        case(
            "S6 IPv6 PTR",
            V6_PTR_1,
            PTR,
            reply(
                ResponseCode::NoError,
                false,
                &[format!("{V6_PTR_1} 30 PTR {K}")],
            ),
        ),
    ];
    check(&st, &table);
}

#[test]
fn spec_s4_an_unnamed_port_publishes_no_srv() {
    use RecordType::*;
    let st = store();
    kubernetes(&st, vec![port("https", 443)]);
    // the port loses its name
    kubernetes(&st, vec![port("", 443)]);
    let table = [
        // S4: only named ports have SRV records.
        case(
            "unnamed port: no SRV",
            format!("_https._tcp.{K}"),
            SRV,
            Want::NxDomain,
        ),
        // the service itself still answers.
        case(
            "service A unaffected",
            K,
            A,
            records(&[format!("{K} 30 A 10.3.0.1")]),
        ),
    ];
    check(&st, &table);
}

#[test]
fn spec_s7_s8_headless_without_ready_endpoints_is_nxdomain() {
    use RecordType::*;
    let st = store();
    st.upsert_service(headless("default", "headless"));
    let table = [
        // S7/S8: no ready endpoints → the name does not exist.
        case("S7 no endpoints: no A", HL, A, Want::NxDomain),
        case("S8 no endpoints: no AAAA", HL, AAAA, Want::NxDomain),
    ];
    check(&st, &table);
}

#[test]
fn spec_s7_to_s12_headless_with_endpoints() {
    use RecordType::*;
    let st = store();
    st.upsert_service(headless("default", "headless"));
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
    let h = endpoint_hash_label(ip("10.3.0.101"));
    let table = [
        // S7: one A per ready IPv4 endpoint address.
        case(
            "S7 headless A",
            HL,
            A,
            answer(&["10.3.0.100", "10.3.0.101"]),
        ),
        // S8: one AAAA per ready IPv6 endpoint address.
        case("S8 headless AAAA", HL, AAAA, answer(&["2001:db8::64"])),
        // S9: an endpoint hostname names its address.
        case(
            "S9 hostname A",
            format!("my-pet.{HL}"),
            A,
            records(&[format!("my-pet.{HL} 30 A 10.3.0.100")]),
        ),
        case(
            "S9 hostname AAAA",
            format!("my-pet6.{HL}"),
            AAAA,
            answer(&["2001:db8::64"]),
        ),
        // an IPv6 endpoint's hostname has no A.
        case(
            "S9 no A for a v6 hostname",
            format!("my-pet6.{HL}"),
            A,
            Want::NoData,
        ),
        // S10: N endpoints × M named ports; targets are hostnames or hash labels.
        case(
            "S10 SRV per endpoint for a named port",
            format!("_http._tcp.{HL}"),
            SRV,
            answer_with_additional(
                &[
                    format!("10 33 80 {h}.{HL}"),
                    format!("10 33 80 my-pet.{HL}"),
                    format!("10 33 80 my-pet6.{HL}"),
                ],
                &[
                    format!("{h}.{HL} 10.3.0.101"),
                    format!("my-pet.{HL} 10.3.0.100"),
                    format!("my-pet6.{HL} 2001:db8::64"),
                ],
            ),
        ),
        case(
            "S10 SRV per endpoint for the second named port",
            format!("_metrics._tcp.{HL}"),
            SRV,
            answer(&[
                format!("10 33 9090 {h}.{HL}"),
                format!("10 33 9090 my-pet.{HL}"),
                format!("10 33 9090 my-pet6.{HL}"),
            ]),
        ),
        // S11: PTR of an IPv4 endpoint with a hostname.
        case(
            "S11 IPv4 endpoint PTR",
            "100.0.3.10.in-addr.arpa.",
            PTR,
            reply(
                ResponseCode::NoError,
                false,
                &[format!("100.0.3.10.in-addr.arpa. 30 PTR my-pet.{HL}")],
            ),
        ),
        // S12: PTR of an IPv6 endpoint with a hostname.
        case(
            "S12 IPv6 endpoint PTR",
            V6_PTR_64,
            PTR,
            reply(
                ResponseCode::NoError,
                false,
                &[format!("{V6_PTR_64} 30 PTR my-pet6.{HL}")],
            ),
        ),
        // a hostname-less endpoint has no PTR: the question is forwarded.
        case(
            "no PTR without hostname",
            "101.0.3.10.in-addr.arpa.",
            PTR,
            Want::Forward,
        ),
    ];
    check(&st, &table);
}

#[test]
fn spec_s13_external_name_outside_the_zone_is_chased() {
    use RecordType::*;
    let st = store();
    st.upsert_service(external("default", "foo", "www.example.com"));
    let n = "foo.default.svc.cluster.local.";
    let cname = format!("{n} 30 CNAME www.example.com.");
    let table = [
        // S13: the CNAME, completed by resolving the target upstream for the asked type.
        case(
            "S13 A is CNAME + upstream chase",
            n,
            A,
            Want::Chase(vec![cname.clone()], "www.example.com.".into()),
        ),
        // S13: CNAME asked directly is answered locally.
        case("S13 CNAME", n, CNAME, records(&[&cname])),
        // names below an ExternalName do not exist.
        case(
            "nothing below an ExternalName",
            format!("x.{n}"),
            A,
            Want::NxDomain,
        ),
    ];
    check(&st, &table);
}

#[test]
fn spec_s13_external_name_inside_the_zone_is_resolved_internally() {
    use RecordType::*;
    let st = store();
    st.upsert_service(cluster_ip("default", "real", &["10.0.0.7"], vec![]));
    st.upsert_service(external(
        "default",
        "alias",
        "real.default.svc.cluster.local",
    ));
    st.upsert_service(external(
        "default",
        "dangling",
        "nope.default.svc.cluster.local",
    ));
    st.upsert_service(external("default", "l1", "l2.default.svc.cluster.local"));
    st.upsert_service(external("default", "l2", "l1.default.svc.cluster.local"));
    let table = [
        // an in-zone target is followed inside the store.
        case(
            "in-zone target resolved",
            "alias.default.svc.cluster.local.",
            A,
            records(&[
                "alias.default.svc.cluster.local. 30 CNAME real.default.svc.cluster.local.",
                "real.default.svc.cluster.local. 30 A 10.0.0.7",
            ]),
        ),
        // deviation: a missing in-zone target keeps the CNAME and answers NXDOMAIN
        // (RFC 6604; legacy NODATA without the CNAME).
        case(
            "dangling in-zone target",
            "dangling.default.svc.cluster.local.",
            A,
            reply(
                ResponseCode::NXDomain,
                true,
                &["dangling.default.svc.cluster.local. 30 CNAME nope.default.svc.cluster.local."],
            ),
        ),
        // loops terminate: SERVFAIL with the chain, AA=0 (legacy NODATA).
        case(
            "CNAME loop",
            "l1.default.svc.cluster.local.",
            A,
            reply(
                ResponseCode::ServFail,
                false,
                &[
                    "l1.default.svc.cluster.local. 30 CNAME l2.default.svc.cluster.local.",
                    "l2.default.svc.cluster.local. 30 CNAME l1.default.svc.cluster.local.",
                ],
            ),
        ),
    ];
    check(&st, &table);
}
