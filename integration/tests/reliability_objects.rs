//! Malformed and huge API objects (issue 8, "Kubernetes faults"): the API emulator, like a
//! broken or very old API server, stores objects that API validation would reject — endpoint
//! hostnames that are not DNS labels, labels over 63 characters, thousands of ports, slices
//! with thousands of endpoints, unusable ExternalName targets and cluster IPs, a slice without
//! its service-name label. The real kubedns (behind the real dnsmasq-rs) must skip or truncate
//! each with one warning, keep serving every valid name, stay ready, answer the hostile names
//! with well-formed replies, and come up again with all of it in its initial LIST.
//! Loopback only; skipped with a message until the binaries are built.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use integration::harness::bins::skip_without_binaries;
use integration::harness::dns::{answer_ips, rcode};
use integration::harness::objects::{self, Addr};
use integration::harness::{DnsClient, Stack, StackOptions, Transport, wait};
use serde_json::json;

const NS: &str = "hostile";

fn fqdn(rel: &str) -> String {
    format!("{rel}.{NS}.svc.cluster.local.")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// 10.1.x.y for endpoint `i` of a big slice.
fn big_ip(base: u8, i: usize) -> String {
    format!("10.{base}.{}.{}", i / 250, i % 250 + 1)
}

fn srv_ports(m: &Message) -> Vec<u16> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(s) => Some(s.port),
            _ => None,
        })
        .collect()
}

/// Every hostile object, created in namespace `hostile`.
fn hostile_objects() -> Vec<serde_json::Value> {
    let mut objs = vec![objects::namespace(NS)];

    // 3000 named ports: kept up to MAX_PORTS_PER_OBJECT (256), truncated with a warning.
    let ports: Vec<_> = (0..3000)
        .map(|i| json!({"name": format!("p{i}"), "port": 1000 + i, "protocol": "TCP"}))
        .collect();
    objs.push(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "ports", "namespace": NS},
        "spec": {"type": "ClusterIP", "clusterIP": "10.0.50.1", "ports": ports}}));

    // A Service name that is not a DNS label (70 characters): no name can reach it, and its
    // cluster IP's PTR must not become an unencodable name.
    objs.push(objects::service(
        NS,
        &"x".repeat(70),
        "10.0.50.2",
        &[("http", 80, "TCP")],
    ));

    // Headless with 1000 endpoints, all with hostnames (the EndpointSlice maximum).
    objs.push(objects::service(NS, "big", "None", &[("http", 80, "TCP")]));
    let big: Vec<Addr> = (0..1000)
        .map(|i| Addr::named(&big_ip(1, i), &format!("h{i}")))
        .collect();
    objs.push(objects::endpoint_slice(
        NS,
        "big-1",
        "big",
        "IPv4",
        &big,
        &[("http", 80, "TCP")],
    ));

    // Headless with one slice of 6000 endpoints (over any API limit): truncated to 5000.
    objs.push(objects::service(NS, "huge", "None", &[("http", 80, "TCP")]));
    let huge: Vec<Addr> = (0..6000).map(|i| Addr::ready(&big_ip(3, i))).collect();
    objs.push(objects::endpoint_slice(
        NS,
        "huge-1",
        "huge",
        "IPv4",
        &huge,
        &[("http", 80, "TCP")],
    ));

    // Endpoint hostnames that are not DNS-1123 labels: dropped, the addresses stay.
    objs.push(objects::service(
        NS,
        "named",
        "None",
        &[("http", 80, "TCP")],
    ));
    objs.push(objects::endpoint_slice(
        NS,
        "named-1",
        "named",
        "IPv4",
        &[
            Addr::named("10.2.0.1", "Bad_Host"),
            Addr::named("10.2.0.2", &"a".repeat(64)),
            Addr::named("10.2.0.3", "dotted.name"),
            Addr::named("10.2.0.4", "ok-host"),
        ],
        &[("http", 80, "TCP")],
    ));

    // Port names over 63 characters or with a space, next to a good one.
    objs.push(objects::service(
        NS,
        "oddports",
        "10.0.50.3",
        &[
            (&"q".repeat(70), 81, "TCP"),
            ("has space", 82, "TCP"),
            ("ok", 83, "TCP"),
        ],
    ));

    // ExternalName targets that cannot be names.
    objs.push(objects::external_name_service(
        NS,
        "ext-long",
        &format!("{}.example.com", "a".repeat(70)),
    ));
    objs.push(objects::external_name_service(NS, "ext-empty", ""));

    // Cluster IPs that are not addresses.
    objs.push(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "badip", "namespace": NS},
        "spec": {"type": "ClusterIP", "clusterIP": "not-an-ip", "clusterIPs": ["not-an-ip", "999.1.1.1"],
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}));

    // A slice without the kubernetes.io/service-name label: belongs to nothing.
    let mut orphan = objects::endpoint_slice(
        NS,
        "orphan-1",
        "named",
        "IPv4",
        &[Addr::named("10.2.0.99", "orphan")],
        &[("http", 80, "TCP")],
    );
    orphan["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("kubernetes.io/service-name");
    objs.push(orphan);

    // A well-formed neighbour that must be unaffected by all of the above.
    objs.push(objects::service(
        NS,
        "good",
        "10.0.50.4",
        &[("http", 80, "TCP")],
    ));
    objs
}

/// The answers every check expects, through `c`: kubedns, or dnsmasq-rs in front of it.
async fn check_answers(
    stack: &mut Stack,
    c: &DnsClient,
    who: &str,
    front: bool,
) -> anyhow::Result<()> {
    let ctx = |what: &str| format!("{who}: {what}");
    let m = c.udp(&fqdn("good"), RecordType::A).await?;
    assert_eq!(answer_ips(&m), vec![ip("10.0.50.4")], "{}", ctx("good"));
    let m = c
        .udp("kubernetes.default.svc.cluster.local.", RecordType::A)
        .await?;
    assert_eq!(
        answer_ips(&m),
        vec![ip("10.0.0.1")],
        "{}",
        ctx("kubernetes")
    );

    // 3000 ports: A fine, SRV by name up to the 256th port, nothing beyond.
    let m = c.udp(&fqdn("ports"), RecordType::A).await?;
    assert_eq!(answer_ips(&m), vec![ip("10.0.50.1")], "{}", ctx("ports A"));
    let m = c.udp(&fqdn("_p255._tcp.ports"), RecordType::SRV).await?;
    assert_eq!(srv_ports(&m), vec![1255], "{}", ctx("_p255 SRV"));
    let m = c.udp(&fqdn("_p256._tcp.ports"), RecordType::SRV).await?;
    assert_eq!(
        (rcode(&m), m.answers.len()),
        (ResponseCode::NXDomain, 0),
        "{}",
        ctx("_p256 SRV (truncated away)")
    );

    // The 70-character Service is skipped: its cluster IP has no PTR record (the reverse
    // name is then an unknown one, which kubedns forwards as legacy did).
    let m = c.udp("2.50.0.10.in-addr.arpa.", RecordType::PTR).await?;
    assert!(
        m.answers.is_empty(),
        "{}: {m:?}",
        ctx("PTR of the over-long Service")
    );

    // 1000 endpoints: UDP without EDNS ≤ 512 bytes with TC, TCP everything.
    let m = c.udp(&fqdn("big"), RecordType::A).await?;
    assert!(m.metadata.truncation, "{}", ctx("big over UDP sets TC"));
    let m = c
        .tcp(&fqdn("big"), RecordType::A)
        .await
        .context(ctx("big over TCP"))?;
    assert_eq!(answer_ips(&m).len(), 1000, "{}", ctx("big over TCP"));
    assert!(!m.metadata.truncation);
    let m = c.udp(&fqdn("h999.big"), RecordType::A).await?;
    assert_eq!(answer_ips(&m), vec![ip(&big_ip(1, 999))], "{}", ctx("h999"));

    // 6000 endpoints in one slice: kept up to 5000, more than 64 KiB of A records. UDP
    // (EDNS 1232) gets the prefix that fits with TC; TCP gets SERVFAIL as in legacy kube-dns
    // (a message over 65535 bytes cannot be sent).
    let edns = DnsClient {
        edns_payload: Some(1232),
        ..c.clone()
    };
    let m = edns.udp(&fqdn("huge"), RecordType::A).await?;
    if front {
        // dnsmasq-rs retries a truncated upstream reply over TCP itself and caches only a
        // complete answer (B4 row 6): that TCP answer is the SERVFAIL above.
        assert_eq!(
            rcode(&m),
            ResponseCode::ServFail,
            "{}",
            ctx("huge over UDP")
        );
    } else {
        assert!(
            m.metadata.truncation && answer_ips(&m).len() > 50,
            "{}: {m:?}",
            ctx("huge over UDP")
        );
    }
    let m = c
        .tcp(&fqdn("huge"), RecordType::A)
        .await
        .context(ctx("huge over TCP"))?;
    assert_eq!(
        rcode(&m),
        ResponseCode::ServFail,
        "{}",
        ctx("huge over TCP")
    );

    // Bad hostnames dropped, addresses kept.
    let m = c.udp(&fqdn("named"), RecordType::A).await?;
    let mut got = answer_ips(&m);
    got.sort();
    let want: Vec<IpAddr> = (1..=4).map(|i| ip(&format!("10.2.0.{i}"))).collect();
    assert_eq!(got, want, "{}", ctx("named A"));
    let m = c.udp(&fqdn("ok-host.named"), RecordType::A).await?;
    assert_eq!(answer_ips(&m), vec![ip("10.2.0.4")], "{}", ctx("ok-host"));
    for bad in ["bad_host.named", "name.dotted.named", "orphan.named"] {
        let m = c.udp(&fqdn(bad), RecordType::A).await?;
        assert_eq!(rcode(&m), ResponseCode::NXDomain, "{}", ctx(bad));
    }

    // Odd port names: the good one works; the Service's A record too.
    let m = c.udp(&fqdn("_ok._tcp.oddports"), RecordType::SRV).await?;
    assert_eq!(srv_ports(&m), vec![83], "{}", ctx("_ok SRV"));
    let m = c.udp(&fqdn("oddports"), RecordType::A).await?;
    assert_eq!(
        answer_ips(&m),
        vec![ip("10.0.50.3")],
        "{}",
        ctx("oddports A")
    );

    // Unusable ExternalName targets and cluster IPs: well-formed answers without records.
    let m = c.udp(&fqdn("ext-long"), RecordType::A).await?;
    assert_eq!(rcode(&m), ResponseCode::ServFail, "{}", ctx("ext-long"));
    for name in ["ext-empty", "badip"] {
        let m = c.udp(&fqdn(name), RecordType::A).await?;
        assert!(
            answer_ips(&m).is_empty() && rcode(&m) != ResponseCode::ServFail,
            "{}: {m:?}",
            ctx(name)
        );
    }

    let alive = stack
        .kubedns_process()
        .map(|p| p.try_exit_status().is_none())
        .unwrap_or(false);
    assert!(alive, "kubedns exited\n{}", stack.describe());
    Ok(())
}

/// Each warning kubedns must log for the hostile objects, with how many times per start
/// (once per bad item).
const WARNINGS: &[(&str, usize)] = &[
    ("too many ports, truncating", 1),
    ("too many addresses, truncating", 1),
    ("not a DNS-1123 label", 3),
    ("port name cannot be a DNS label", 1),
    ("ExternalName is not a valid domain name", 1),
    // (the emulator, like the API server, sets clusterIPs to [clusterIP])
    ("ignoring unparsable cluster IP", 1),
    // the orphan slice and the Service whose name is not a DNS label
    ("skipping unusable object", 2),
];

fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_objects_are_skipped_or_truncated_never_fatal() -> anyhow::Result<()> {
    if skip_without_binaries() {
        return Ok(());
    }
    let mut opts = StackOptions::full();
    opts.healthz = false;
    let mut stack = Stack::start(opts).await?;
    let kubedns = DnsClient {
        timeout: Duration::from_secs(5),
        ..stack.kubedns()
    };
    let dnsmasq = DnsClient {
        timeout: Duration::from_secs(5),
        ..stack.dnsmasq()
    };

    // 1. Arriving as watch events.
    for obj in hostile_objects() {
        stack.emulator().create(obj)?;
    }
    Stack::wait_for_answer(
        &kubedns,
        &fqdn("good"),
        RecordType::A,
        Transport::Udp,
        Duration::from_secs(15),
        |m| !answer_ips(m).is_empty(),
    )
    .await?;
    // The last object is applied; give the store one beat for the rest of the batch.
    tokio::time::sleep(Duration::from_millis(300)).await;
    check_answers(&mut stack, &kubedns, "kubedns (watch)", false).await?;
    check_answers(&mut stack, &dnsmasq, "dnsmasq-rs → kubedns (watch)", true).await?;
    let (code, _) = wait::http_get(stack.kubedns_healthz_addr(), "/readiness").await?;
    assert_eq!(code, 200, "ready with hostile objects");
    let (code, body) = wait::http_get(stack.kubedns_healthz_addr(), "/cache").await?;
    assert_eq!(code, 200);
    serde_json::from_str::<serde_json::Value>(&body).expect("/cache is JSON");

    // 2. The same objects in the initial LIST of a fresh kubedns.
    if let Some(k) = stack.kubedns_process() {
        k.kill();
    }
    stack.start_kubedns().await?; // waits for /readiness 200
    check_answers(&mut stack, &kubedns, "kubedns (list)", false).await?;
    let log = std::fs::read_to_string(stack.log_dir().join("kubedns.log"))?;
    for (w, want) in WARNINGS {
        let n = count(&log, w);
        assert_eq!(n, *want, "{w:?} logged {n} times, want {want}\n{log}");
    }
    assert!(
        log.contains("service-name label") && log.contains("must be DNS labels"),
        "the reasons are in the log\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    Ok(())
}
