//! The legacy kube-dns unit-test groups 1–13 (compat §7.1), one behaviour per test: the store
//! changes between questions (updates, renames, deletes), so each test walks one object's life.
//! Each expected RRset is written out literally from the legacy tests.

mod common;

use std::collections::BTreeMap;

use common::answers::*;
use hickory_proto::rr::{RData, RecordType};
use kubedns::answer::Answer;
use kubedns::hash::endpoint_hash_label;
use kubedns::store::{DnsConfig, Standalone as Store};

// legacy kube-dns dns_test.go group 01
#[test]
fn pod_name_answers_its_dashed_address() {
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

// legacy kube-dns dns_test.go group 02
#[test]
fn cluster_ip_single_and_dual_stack_answer_every_wildcard_form_until_deleted() {
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

// legacy kube-dns dns_test.go group 03
#[test]
fn named_port_srv_follows_a_rename_and_a_delete() {
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

// legacy kube-dns dns_test.go group 04
#[test]
fn headless_srv_targets_are_hash_labels_without_hostnames() {
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

// legacy kube-dns dns_test.go group 05
#[test]
fn headless_srv_targets_are_endpoint_hostnames() {
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

// legacy kube-dns dns_test.go group 06
#[test]
fn endpoint_port_name_publishes_srv() {
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

// legacy kube-dns dns_test.go group 07
#[test]
fn external_name_cname_disappears_with_the_service() {
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

// legacy kube-dns dns_test.go group 08
#[test]
fn headless_two_subsets_merge() {
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

// legacy kube-dns dns_test.go group 09
#[test]
fn headless_srv_shrinks_with_its_ports() {
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

// legacy kube-dns dns_test.go group 10
#[test]
fn headless_answers_follow_an_endpoints_update() {
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

// legacy kube-dns dns_test.go group 11
#[test]
fn endpoint_ptr_moves_with_its_hostname() {
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
    st.delete_endpoints(
        "default",
        kubedns::model::EndpointObject::Endpoints("testservice".into()),
    );
    assert_eq!(
        ask(&st, "2.0.0.10.in-addr.arpa.", RecordType::PTR),
        Answer::Forward
    );
}

// legacy kube-dns dns_test.go group 12
#[test]
fn headless_service_before_its_endpoints_is_nxdomain() {
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

// legacy kube-dns dns_test.go group 13
#[test]
fn federation_names_cname_to_the_federation_zone() {
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
        st.delete_endpoints(
            "default",
            kubedns::model::EndpointObject::Endpoints("testservice".into()),
        );
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
