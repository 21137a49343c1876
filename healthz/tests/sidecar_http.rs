//! Sidecar dialect over HTTP on 127.0.0.1:0 against in-process UDP DNS targets:
//! `/healthcheck/<label>` bodies and codes, 404s, `/metrics` names, `/healthz`, and
//! "stopping one target fails only its own health check".

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{FakeDns, Handler, eventually, http_get, metric, response_to};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

const NAME: &str = "kubernetes.default.svc.cluster.local.";

fn kube_handler() -> Handler {
    Arc::new(|req| {
        let q = req.queries.first()?;
        let mut reply = response_to(req);
        if q.name().to_ascii() != NAME {
            reply.metadata.response_code = ResponseCode::NXDomain;
            return Some(reply);
        }
        let data = match q.query_type() {
            RecordType::A => RData::A(A::new(10, 0, 0, 1)),
            RecordType::SRV => RData::SRV(SRV::new(10, 100, 443, Name::from_ascii(NAME).unwrap())),
            _ => return Some(reply),
        };
        reply.add_answer(Record::from_rdata(q.name().clone(), 30, data));
        Some(reply)
    })
}

#[tokio::test]
async fn healthchecks_metrics_and_one_target_down() {
    let kubedns = FakeDns::start(kube_handler()).await;
    let dnsmasq = FakeDns::start(kube_handler()).await;
    let cfg = common::config(&[
        "--v=2",
        "--logtostderr",
        &format!(
            "--probe=kubedns,127.0.0.1:{},kubernetes.default.svc.cluster.local,1,SRV",
            kubedns.addr.port()
        ),
        &format!(
            "--probe=dnsmasq,127.0.0.1:{},kubernetes.default.svc.cluster.local,1,SRV",
            dnsmasq.addr.port()
        ),
        // A probe whose name has no records: always 503 with the legacy message.
        &format!(
            "--probe=nxdomain,127.0.0.1:{},nope.cluster.local,1,A",
            dnsmasq.addr.port()
        ),
        // dnsmasq stats target that does not answer CHAOS: polls fail, counted as errors.
        &format!("--dnsmasq-port={}", dnsmasq.addr.port()),
        "--dnsmasq-poll-interval-ms=100",
    ]);
    let mut srv = common::start(cfg).await;

    for label in ["kubedns", "dnsmasq"] {
        let r = eventually(Duration::from_secs(10), "probe success", || async {
            let r = http_get(srv.addr, &format!("/healthcheck/{label}")).await;
            (r.status == 200).then_some(r)
        })
        .await;
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(
            r.body.starts_with(r#"{"IsOk":true,"LatencySeconds":"#),
            "{}",
            r.body
        );
        assert!(r.body.ends_with(r#","Err":""}"#), "{}", r.body);
    }
    let r = eventually(Duration::from_secs(10), "nxdomain probe result", || async {
        let r = http_get(srv.addr, "/healthcheck/nxdomain").await;
        (!r.body.contains("waiting")).then_some(r)
    })
    .await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body,
        r#"{"IsOk":false,"LatencySeconds":0,"Err":"no RRs for domain \"nope.cluster.local.\""}"#
    );

    // Unknown labels and paths.
    assert_eq!(http_get(srv.addr, "/healthcheck/unknown").await.status, 404);
    assert_eq!(http_get(srv.addr, "/healthcheck/").await.status, 404);
    assert_eq!(http_get(srv.addr, "/nothing").await.status, 404);

    // /healthz.
    let r = http_get(srv.addr, "/healthz").await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.starts_with("ok (") && r.body.ends_with(" +0000 UTC)\n"),
        "{:?}",
        r.body
    );

    // /metrics: legacy names, types and buckets.
    let m = http_get(srv.addr, "/metrics").await;
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let t = &m.body;
    for name in [
        "hits",
        "misses",
        "evictions",
        "insertions",
        "max_size",
        "errors",
    ] {
        assert!(
            t.contains(&format!("# TYPE kubedns_dnsmasq_{name} counter\n")),
            "{name}\n{t}"
        );
    }
    assert!(t.contains("# TYPE kubedns_probe_kubedns_latency_ms histogram\n"));
    assert!(t.contains("kubedns_probe_kubedns_latency_ms_bucket{le=\"0.25\"} "));
    assert!(t.contains("kubedns_probe_kubedns_latency_ms_bucket{le=\"8192\"} "));
    assert!(t.contains("kubedns_probe_kubedns_latency_ms_bucket{le=\"+Inf\"} "));
    assert!(metric(t, "kubedns_probe_kubedns_latency_ms_count").unwrap() >= 1.0);
    assert_eq!(metric(t, "kubedns_probe_kubedns_errors"), Some(0.0));
    assert_eq!(metric(t, "kubedns_probe_dnsmasq_errors"), Some(0.0));
    assert!(metric(t, "kubedns_probe_nxdomain_errors").unwrap() >= 1.0);
    assert!(
        !t.contains("kubedns_dnsmasq_hits_total"),
        "legacy names carry no _total suffix"
    );
    assert!(t.contains("process_resident_memory_bytes "));
    eventually(Duration::from_secs(10), "dnsmasq poll errors", || async {
        let t = http_get(srv.addr, "/metrics").await.body;
        (metric(&t, "kubedns_dnsmasq_errors")? >= 1.0).then_some(())
    })
    .await;

    // Stop "kubedns": only its health check fails.
    drop(kubedns);
    let r = eventually(Duration::from_secs(15), "kubedns probe failure", || async {
        let r = http_get(srv.addr, "/healthcheck/kubedns").await;
        (r.status == 503).then_some(r)
    })
    .await;
    assert!(
        r.body
            .starts_with(r#"{"IsOk":false,"LatencySeconds":0,"Err":"read udp 127.0.0.1:"#),
        "{}",
        r.body
    );
    assert_eq!(http_get(srv.addr, "/healthcheck/dnsmasq").await.status, 200);
    let t = http_get(srv.addr, "/metrics").await.body;
    assert!(metric(&t, "kubedns_probe_kubedns_errors").unwrap() >= 1.0);
    assert_eq!(metric(&t, "kubedns_probe_dnsmasq_errors"), Some(0.0));

    srv.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), &mut srv.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn waiting_before_first_probe_and_custom_metrics() {
    let target = FakeDns::start(kube_handler()).await;
    let cfg = common::config(&[
        // One-day interval: the random start delay keeps the first probe far away.
        &format!(
            "--probe=later,127.0.0.1:{},kubernetes.default.svc.cluster.local,86400,A",
            target.addr.port()
        ),
        "--prometheus-namespace=custom",
        "--prometheus-path=/stats",
    ]);
    let srv = common::start(cfg).await;
    let r = http_get(srv.addr, "/healthcheck/later").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.body,
        r#"{"IsOk":false,"LatencySeconds":0,"Err":"waiting for first probe"}"#
    );
    assert_eq!(http_get(srv.addr, "/metrics").await.status, 404);
    let t = http_get(srv.addr, "/stats").await.body;
    assert!(t.contains("custom_dnsmasq_hits "));
    assert!(t.contains("custom_probe_later_latency_ms_count 0\n"));
    assert!(t.contains("custom_probe_later_errors 0\n"));
}

#[tokio::test]
async fn black_hole_target_times_out_without_blocking_http() {
    // Drops every query.
    let hole = FakeDns::start(Arc::new(|_| None)).await;
    let cfg = common::config(&[&format!(
        "--probe=hole,127.0.0.1:{},kubernetes.default.svc.cluster.local,1,SRV",
        hole.addr.port()
    )]);
    let srv = common::start(cfg).await;
    let r = eventually(Duration::from_secs(15), "probe timeout", || async {
        // Served while the probe is stuck waiting for its reply.
        assert_eq!(http_get(srv.addr, "/healthz").await.status, 200);
        let r = http_get(srv.addr, "/healthcheck/hole").await;
        r.body.contains("i/o timeout").then_some(r)
    })
    .await;
    assert_eq!(r.status, 503);
    assert!(
        r.body.contains(&format!(
            "\\u003e127.0.0.1:{}: i/o timeout",
            hole.addr.port()
        )),
        "{}",
        r.body
    );
}
