//! The legacy kube-dns unit-test groups 1–13 (compat §7.1) as tables of named cases (the
//! runner is `common::answers`), one behaviour per test. Where the store changes between
//! questions (updates, renames, deletes) a test walks one object's life in phases: mutate the
//! store, then check the table for that state. Each expected RRset is written out literally
//! from the legacy tests.

mod common;

use std::collections::BTreeMap;

use Want::{Forward, NxDomain};
use common::answers::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use kubedns::hash::endpoint_hash_label;
use kubedns::model::{EndpointObject, EndpointSubset};
use kubedns::names::reverse_name;
use kubedns::store::{DnsConfig, Standalone as Store};

/// `testservice`'s SRV name for the named port `p`.
fn srv_name(p: &str) -> String {
    format!("_{p}._tcp.{TS}")
}

/// The hash-label name of an endpoint without hostname.
fn hashed(addr: &str) -> String {
    format!("{}.{TS}", endpoint_hash_label(ip(addr)))
}

/// The PTR record of `addr` naming `target`, as legacy answers it (AA=0).
fn ptr(addr: &str, target: &str) -> Want {
    let rr = format!("{} 30 PTR {target}", reverse_name(ip(addr)));
    reply(ResponseCode::NoError, false, &[rr])
}

/// The four endpoint addresses of the headless tests.
const FOUR: [&str; 4] = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];

/// Sets `testservice`'s Endpoints object to these subsets.
fn set_endpoints(st: &Store, subsets: Vec<EndpointSubset>) {
    st.upsert_endpoints(eps("default", "testservice", subsets));
}

/// Removes `testservice`'s Endpoints object.
fn delete_endpoints(st: &Store) {
    st.delete_endpoints("default", EndpointObject::Endpoints("testservice".into()));
}

// legacy kube-dns dns_test.go group 01
#[test]
fn pod_name_answers_its_dashed_address() {
    let table = [
        // `a-b-c-d.<ns>.pod.<zone>` answers the dashed address.
        case(
            "pod A",
            "1-2-3-4.default.pod.cluster.local.",
            RecordType::A,
            answer(&["1.2.3.4"]),
        ),
    ];
    check(&store(), &table);
}

/// The ClusterIP sets of group 02: v4, v6, and dual stack in both orders.
const STACKS: [(&str, &[&str]); 4] = [
    ("v4", &["1.2.3.4"]),
    ("v6", &["2001:db8::8a2e:370:7334"]),
    ("dual v4-first", &["1.2.3.4", "2001:db8::8a2e:370:7334"]),
    ("dual v6-first", &["2001:db8::8a2e:370:7334", "1.2.3.4"]),
];

/// Every name form legacy answers for `testservice`: plain and with wildcards.
const FORMS: [&str; 5] = [
    TS,
    "testservice.default.*.cluster.local.",
    "testservice.*.svc.cluster.local.",
    "testservice.*.*.cluster.local.",
    "*.testservice.default.svc.cluster.local.",
];

fn testservice_with(ips: &[&str]) -> Store {
    let st = store();
    st.upsert_service(cluster_ip(
        "default",
        "testservice",
        ips,
        vec![port("", 80)],
    ));
    st
}

// legacy kube-dns dns_test.go group 02
#[test]
fn cluster_ip_answers_every_wildcard_form_and_its_ptr() {
    use RecordType::*;
    for (stack, ips) in STACKS {
        let mut table = Vec::new();
        for (t, v6) in [(A, false), (AAAA, true)] {
            let of: Vec<&str> = ips
                .iter()
                .filter(|i| i.contains(':') == v6)
                .copied()
                .collect();
            let want = if of.is_empty() {
                Want::NoData
            } else {
                answer(&of)
            };
            for n in FORMS {
                // each name form answers the ClusterIPs of the family; no such IP → NODATA.
                table.push(case(
                    format!("{stack}: {t} on a name form"),
                    n,
                    t,
                    want.clone(),
                ));
            }
        }
        for i in ips {
            // every ClusterIP has a PTR to the service name.
            table.push(case(
                format!("{stack}: ClusterIP PTR"),
                reverse_name(ip(i)),
                PTR,
                ptr(i, TS),
            ));
        }
        check(&testservice_with(ips), &table);
    }
}

// legacy kube-dns dns_test.go group 02
#[test]
fn deleted_cluster_ip_leaves_nxdomain_and_forwarded_ptr() {
    use RecordType::*;
    for (stack, ips) in STACKS {
        let st = testservice_with(ips);
        st.delete_service("default", "testservice");
        let mut table = Vec::new();
        for n in FORMS {
            // the service's names are gone.
            table.push(case(format!("{stack}: deleted name"), n, A, NxDomain));
        }
        for i in ips {
            // its PTRs are no longer local: forwarded.
            table.push(case(
                format!("{stack}: deleted PTR"),
                reverse_name(ip(i)),
                PTR,
                Forward,
            ));
        }
        check(&st, &table);
    }
}

// legacy kube-dns dns_test.go group 03
#[test]
fn named_port_srv_follows_a_rename_and_a_delete() {
    use RecordType::*;
    let st = store();
    let with_port = |name: &str| {
        st.upsert_service(cluster_ip(
            "default",
            "testservice",
            &["1.2.3.4", "2001:db8::1"],
            vec![port(name, 80)],
        ))
    };
    // phase 1: port http1
    with_port("http1");
    check(
        &st,
        &[
            // one SRV per cluster IP at the backend level; identical on the wire → one RR,
            // both addresses in the additional section
            case(
                "named port SRV",
                srv_name("http1"),
                SRV,
                answer_with_additional(
                    &[format!("10 100 80 {TS}")],
                    &[format!("{TS} 1.2.3.4"), format!("{TS} 2001:db8::1")],
                ),
            ),
        ],
    );
    // phase 2: the port is renamed http2
    with_port("http2");
    check(
        &st,
        &[
            case(
                "renamed port SRV",
                srv_name("http2"),
                SRV,
                answer(&[format!("10 100 80 {TS}")]),
            ),
            case("old port name gone", srv_name("http1"), SRV, NxDomain),
        ],
    );
    // phase 3: the service is deleted
    st.delete_service("default", "testservice");
    check(
        &st,
        &[case(
            "deleted service's SRV",
            srv_name("http2"),
            SRV,
            NxDomain,
        )],
    );
}

/// Headless `testservice` with 10.0.0.1 and 10.0.0.2 (these hostnames) on an unnamed port 80.
fn headless_two(hosts: [Option<&str>; 2]) -> Store {
    let st = store();
    st.upsert_service(headless("default", "testservice"));
    let addrs = [("10.0.0.1", hosts[0]), ("10.0.0.2", hosts[1])];
    set_endpoints(&st, vec![subset(&addrs, vec![port("", 80)])]);
    st
}

// legacy kube-dns dns_test.go group 04
#[test]
fn headless_srv_targets_are_hash_labels_without_hostnames() {
    use RecordType::*;
    let (h1, h2) = (hashed("10.0.0.1"), hashed("10.0.0.2"));
    let table = [
        // port-less SRV: one per endpoint, named by its hash label, A in additional.
        case(
            "hash-label SRV targets",
            TS,
            SRV,
            answer_with_additional(
                &[format!("10 50 0 {h1}"), format!("10 50 0 {h2}")],
                &[format!("{h1} 10.0.0.1"), format!("{h2} 10.0.0.2")],
            ),
        ),
        // the hash names resolve.
        case("hash name A", &h1, A, answer(&["10.0.0.1"])),
        case("hash name A", &h2, A, answer(&["10.0.0.2"])),
    ];
    check(&headless_two([None, None]), &table);
}

// legacy kube-dns dns_test.go group 05
#[test]
fn headless_srv_targets_are_endpoint_hostnames() {
    let table = [
        // port-less SRV: one per endpoint, named by its hostname, A in additional.
        case(
            "hostname SRV targets",
            TS,
            RecordType::SRV,
            answer_with_additional(
                &[format!("10 50 0 ep-0.{TS}"), format!("10 50 0 ep-1.{TS}")],
                &[format!("ep-0.{TS} 10.0.0.1"), format!("ep-1.{TS} 10.0.0.2")],
            ),
        ),
    ];
    check(&headless_two([Some("ep-0"), Some("ep-1")]), &table);
}

// legacy kube-dns dns_test.go group 06
#[test]
fn endpoint_port_name_publishes_srv() {
    let st = store();
    st.upsert_service(headless("default", "testservice"));
    set_endpoints(
        &st,
        vec![subset(&[("10.0.0.1", None)], vec![port("http", 8081)])],
    );
    let h = hashed("10.0.0.1");
    let table = [
        // a named endpoint port has its SRV on a headless service.
        case(
            "endpoint named port SRV",
            srv_name("http"),
            RecordType::SRV,
            answer_with_additional(&[format!("10 100 8081 {h}")], &[format!("{h} 10.0.0.1")]),
        ),
    ];
    check(&st, &table);
}

// legacy kube-dns dns_test.go group 07
#[test]
fn external_name_cname_disappears_with_the_service() {
    use RecordType::*;
    let st = store();
    // phase 1: the ExternalName service exists
    st.upsert_service(external("default", "testservice", "foo.bar.example.com"));
    let target = "foo.bar.example.com.";
    check(
        &st,
        &[case("ExternalName CNAME", TS, CNAME, answer(&[target]))],
    );
    // phase 2: deleted
    st.delete_service("default", "testservice");
    check(
        &st,
        &[
            case("deleted ExternalName: no CNAME", TS, CNAME, NxDomain),
            case("deleted ExternalName: no A", TS, A, NxDomain),
        ],
    );
}

// legacy kube-dns dns_test.go group 08
#[test]
fn headless_two_subsets_merge_until_deleted() {
    use RecordType::*;
    let st = store();
    st.upsert_service(headless("default", "testservice"));
    let pair = |a, b, p| subset(&[(a, None), (b, None)], vec![port("", p)]);
    set_endpoints(
        &st,
        vec![
            pair("10.0.0.1", "10.0.0.2", 80),
            pair("10.0.0.3", "10.0.0.4", 8080),
        ],
    );
    // phase 1: both subsets
    let mut table = vec![
        // the A RRset holds the addresses of every subset.
        case("subsets merge in A", TS, A, answer(&FOUR)),
    ];
    for i in 1..=4 {
        // hostname-less endpoints have no PTR: forwarded.
        table.push(case(
            "no PTR without hostname",
            format!("{i}.0.0.10.in-addr.arpa."),
            PTR,
            Forward,
        ));
    }
    check(&st, &table);
    // phase 2: the service is deleted
    st.delete_service("default", "testservice");
    check(&st, &[case("deleted headless A", TS, A, NxDomain)]);
}

// legacy kube-dns dns_test.go group 09
#[test]
fn headless_srv_shrinks_with_its_ports() {
    use RecordType::*;
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
    let h: Vec<String> = (1..=4).map(|i| hashed(&format!("10.0.0.{i}"))).collect();
    let srv = |p: u16, a: usize, b: usize| {
        answer(&[format!("10 50 {p} {}", h[a]), format!("10 50 {p} {}", h[b])])
    };
    // rows both phases share: the first subset's ports, each SRV target one endpoint IP.
    let first_rows = || {
        let mut rows = vec![
            case("http1 SRV", srv_name("http1"), SRV, srv(80, 0, 1)),
            case("http2 SRV", srv_name("http2"), SRV, srv(81, 0, 1)),
        ];
        for (name, addr) in h.iter().zip(FOUR).take(2) {
            rows.push(case("SRV target resolves", name, A, answer(&[addr])));
        }
        rows
    };
    // phase 1: two subsets, three ports, four endpoints
    set_endpoints(&st, vec![first.clone(), second]);
    let mut table = first_rows();
    table.extend([
        case("both subsets in A", TS, A, answer(&FOUR)),
        case("https SRV", srv_name("https"), SRV, srv(443, 2, 3)),
        case("SRV target resolves", &h[2], A, answer(&["10.0.0.3"])),
        case("SRV target resolves", &h[3], A, answer(&["10.0.0.4"])),
    ]);
    check(&st, &table);
    // phase 2: the second subset (and its port) is gone
    set_endpoints(&st, vec![first]);
    let mut table = first_rows();
    table.extend([
        case("first subset only in A", TS, A, answer(&FOUR[..2])),
        case("removed port has no SRV", srv_name("https"), SRV, NxDomain),
    ]);
    check(&st, &table);
}

// legacy kube-dns dns_test.go group 10
#[test]
fn headless_answers_follow_an_endpoints_update() {
    let st = store();
    st.upsert_service(headless("default", "testservice"));
    let set = |ips: &[&str]| {
        let a: Vec<(&str, Option<&str>)> = ips.iter().map(|i| (*i, None)).collect();
        set_endpoints(&st, vec![subset(&a, vec![port("", 80)])]);
    };
    let a = RecordType::A;
    // phase 1: two endpoints
    set(&FOUR[..2]);
    check(&st, &[case("two endpoints", TS, a, answer(&FOUR[..2]))]);
    // phase 2: four endpoints
    set(&FOUR);
    check(&st, &[case("grown to four", TS, a, answer(&FOUR))]);
    // phase 3: none
    set(&[]);
    check(&st, &[case("no endpoints left", TS, a, NxDomain)]);
}

// legacy kube-dns dns_test.go group 11
#[test]
fn endpoint_ptr_moves_with_its_hostname() {
    let st = store();
    st.upsert_service(headless("default", "testservice"));
    let at = |addr: &str| set_endpoints(&st, vec![subset(&[(addr, Some("foo"))], vec![])]);
    let (p, foo) = (RecordType::PTR, format!("foo.{TS}"));
    let (r1, r2) = ("1.0.0.10.in-addr.arpa.", "2.0.0.10.in-addr.arpa.");
    // phase 1: hostname foo on 10.0.0.1
    at("10.0.0.1");
    check(&st, &[case("hostname PTR", r1, p, ptr("10.0.0.1", &foo))]);
    // phase 2: foo moves to 10.0.0.2
    at("10.0.0.2");
    check(
        &st,
        &[
            case("old address: forwarded", r1, p, Forward),
            case("new address PTR", r2, p, ptr("10.0.0.2", &foo)),
        ],
    );
    // phase 3: the Endpoints object is deleted
    delete_endpoints(&st);
    check(&st, &[case("deleted: forwarded", r2, p, Forward)]);
}

// legacy kube-dns dns_test.go group 12
#[test]
fn headless_service_before_its_endpoints_is_nxdomain() {
    use RecordType::*;
    let st = store();
    // phase 1: the service without endpoints
    st.upsert_service(headless("default", "testservice"));
    check(
        &st,
        &[
            case("no endpoints yet: no A", TS, A, NxDomain),
            case("no endpoints yet: no SRV", TS, SRV, NxDomain),
        ],
    );
    // phase 2: an endpoint arrives
    set_endpoints(&st, vec![subset(&[("10.0.0.1", None)], vec![])]);
    check(
        &st,
        &[case("endpoint arrived", TS, A, answer(&["10.0.0.1"]))],
    );
}

const FQ: &str = "testservice.default.myfederation.svc.cluster.local.";
const REMOTE: &str = "testservice.default.myfederation.svc.testcontinent-testreg-testzone.testcontinent-testreg.example.com.";
const MYSVC: &str = "mysvc.myns.myfederation.svc.cluster.local.";
const MYSVC_REMOTE: &str =
    "mysvc.myns.myfederation.svc.testcontinent-testreg-testzone.testcontinent-testreg.example.com.";

/// A store with federations `myfederation` (example.com) and `secondfederation`
/// (second.example.com) in zone `testcontinent-testreg-testzone`, region `testcontinent-testreg`.
fn federation_store() -> Store {
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
    st
}

/// One endpoint for `testservice`.
fn one_endpoint(st: &Store) {
    set_endpoints(st, vec![subset(&[("10.9.0.1", None)], vec![])]);
}

// legacy kube-dns dns_test.go group 13
#[test]
fn federation_names_without_a_local_service_cname_to_the_federation_zone() {
    use RecordType::*;
    let table = [
        // `<svc>.<ns>.<federation>.svc.<zone>` → the federation's zone and region names.
        case("federated CNAME", FQ, CNAME, answer(&[REMOTE])),
        case("federated CNAME", MYSVC, CNAME, answer(&[MYSVC_REMOTE])),
        // each federation has its own domain.
        case(
            "second federation's domain",
            "secsvc.default.secondfederation.svc.cluster.local.",
            CNAME,
            answer(&[
                "secsvc.default.secondfederation.svc.testcontinent-testreg-testzone.testcontinent-testreg.second.example.com.",
            ]),
        ),
        // without the federation label it is an ordinary (missing) service.
        case(
            "no federation label",
            "mysvc.myns.svc.cluster.local.",
            A,
            NxDomain,
        ),
        // an unknown federation label is not served.
        case(
            "unknown federation",
            "mysvc.default.nofederation.svc.cluster.local.",
            A,
            NxDomain,
        ),
        // the remote target is chased upstream for A queries.
        case(
            "remote target chased for A",
            MYSVC,
            A,
            Want::Chase(
                vec![format!("{MYSVC} 30 CNAME {MYSVC_REMOTE}")],
                MYSVC_REMOTE.into(),
            ),
        ),
    ];
    check(&federation_store(), &table);
}

// legacy kube-dns dns_test.go group 13
#[test]
fn federation_name_cnames_locally_only_while_the_service_has_endpoints() {
    let st = federation_store();
    let cname = |rule: String, target: &str| [case(rule, FQ, RecordType::CNAME, answer(&[target]))];
    let kinds: [(&str, &[&str]); 4] = [
        ("headless", &[]),
        ("v4", &["10.0.0.1"]),
        ("v6", &["2001:db8::1"]),
        ("dual", &["10.0.0.1", "2001:db8::1"]),
    ];
    for (kind, ips) in kinds {
        // phase 1: the service exists (replacing the previous kind) without endpoints
        st.upsert_service(if ips.is_empty() {
            headless("default", "testservice")
        } else {
            cluster_ip("default", "testservice", ips, vec![])
        });
        check(
            &st,
            &cname(format!("{kind}: no endpoints → federated"), REMOTE),
        );
        // phase 2: an endpoint arrives
        one_endpoint(&st);
        check(&st, &cname(format!("{kind}: local endpoints → local"), TS));
        // phase 3: the endpoints are deleted
        delete_endpoints(&st);
        check(
            &st,
            &cname(format!("{kind}: endpoints gone → federated"), REMOTE),
        );
    }
}

// legacy kube-dns dns_test.go group 13
#[test]
fn federation_name_with_local_endpoints_follows_the_local_target_for_a() {
    let st = federation_store();
    st.upsert_service(cluster_ip("default", "testservice", &["10.0.0.1"], vec![]));
    one_endpoint(&st);
    let table = [
        // the CNAME to the local service, followed by its A.
        case(
            "local target followed",
            FQ,
            RecordType::A,
            records(&[format!("{FQ} 30 CNAME {TS}"), format!("{TS} 30 A 10.0.0.1")]),
        ),
    ];
    check(&st, &table);
}
