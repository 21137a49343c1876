//! The Kubernetes DNS spec 1.1.0 records (S1–S13, dns-spec-and-coredns.md §1.2) against the
//! answer engine; each expected RRset is written out literally from the spec.

mod common;

use common::answers::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use kubedns::answer::Answer;
use kubedns::hash::endpoint_hash_label;

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
