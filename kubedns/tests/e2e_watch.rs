//! The watch loops (`kubedns::source`) against a scripted in-process fake API server over plain
//! http, with a real kube client and the real store. Threats table B4:
//! row 24 (watch 410 Gone → relist, applied atomically, deletions during the outage applied),
//! row 23 (API failures after the sync: keep serving, stay ready, count errors),
//! EndpointSlices absent (404) → Endpoints fallback.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use common::{is_watch, list, metric, service, stream};
use kubedns::cli::EndpointSourceMode;
use kubedns::metrics::Metrics;
use kubedns::source::{Sources, SyncGate};
use kubedns::store::Standalone as Store;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Script {
    service_lists: usize,
    service_watches: usize,
    /// Every request fails with 500 (API outage).
    outage: bool,
}

type Shared = Arc<Mutex<Script>>;

async fn handler(State(s): State<Shared>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let watch = is_watch(&q);
    let mut st = s.lock().unwrap();
    if st.outage {
        let body = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcd down","code":500}"#;
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
    }
    match (uri.path(), watch) {
        ("/api/v1/services", false) => {
            st.service_lists += 1;
            if st.service_lists == 1 {
                list(
                    "ServiceList",
                    "10",
                    &[
                        service("a", "10.0.0.1", "5"),
                        service("gone", "10.0.0.2", "5"),
                    ],
                )
            } else {
                list(
                    "ServiceList",
                    "20",
                    &[
                        service("a", "10.0.0.11", "5"),
                        service("new", "10.0.0.3", "5"),
                    ],
                )
            }
        }
        ("/api/v1/services", true) => {
            st.service_watches += 1;
            if st.service_watches == 1 {
                // The watch cannot continue: 410 Gone forces a fresh LIST.
                let gone = r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version","reason":"Expired","code":410}}"#;
                stream(vec![gone.to_string()], true)
            } else {
                // Healthy watch that ends after a while (like a server-side timeout).
                drop(st);
                let body = Body::from_stream(futures::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, std::io::Error>(Bytes::new())
                }));
                ([(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
        }
        ("/api/v1/endpoints", false) => list("EndpointsList", "10", &[]),
        ("/api/v1/endpoints", true) => stream(vec![], false),
        // A cluster without discovery.k8s.io/v1: plain-text 404 like a bare API path.
        _ => (StatusCode::NOT_FOUND, "404 page not found").into_response(),
    }
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn relist_after_410_then_outage_keeps_serving() {
    let script: Shared = Arc::default();
    let app = Router::new().fallback(handler).with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let cfg = kubedns::source::client::client_config(Some(&format!("http://{addr}")), None)
        .await
        .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();
    let store = Store::new("cluster.local.");
    let metrics = Metrics::new(|_| {});
    let gate = SyncGate::new(store.synced());
    let sources = Sources {
        client,
        writer: store.writer(),
        metrics: metrics.watch.clone(),
        gate: gate.clone(),
    };
    let shutdown = CancellationToken::new();
    let services = tokio::spawn(sources.clone().run_services(shutdown.clone()));
    let endpoints = tokio::spawn(sources.run_endpoints(EndpointSourceMode::Auto, shutdown.clone()));

    tokio::time::timeout(Duration::from_secs(10), gate.wait())
        .await
        .expect("initial sync");
    assert!(store.is_synced());
    assert_eq!(
        metric(&metrics, "kubedns_endpoint_source{source=\"endpoints\"}"),
        1.0
    );

    // 410 → relist: "gone" disappears, "new" appears, "a" moves to its new IP, all at once.
    wait_for("relist applied", || store.entry("default", "new").is_some()).await;
    assert!(
        store.entry("default", "gone").is_none(),
        "deleted during the outage, gone after the relist"
    );
    assert!(store.entry("default", "a").is_some());
    assert!(store.ptr_targets("10.0.0.1".parse().unwrap()).is_empty());
    assert_eq!(
        store.ptr_targets("10.0.0.11".parse().unwrap()),
        vec!["a.default.svc.cluster.local."]
    );
    assert!(
        metric(
            &metrics,
            "kubedns_watch_errors_total{resource=\"services\"}"
        ) >= 1.0
    );
    assert_eq!(
        metric(
            &metrics,
            "kubedns_watch_events_total{resource=\"services\",type=\"init_done\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(&metrics, "kubedns_objects{resource=\"services\"}"),
        2.0
    );

    // API outage: every request fails. Data and readiness stay; errors are counted.
    let before = metric(
        &metrics,
        "kubedns_watch_errors_total{resource=\"services\"}",
    );
    script.lock().unwrap().outage = true;
    wait_for("errors counted during the outage", || {
        metric(
            &metrics,
            "kubedns_watch_errors_total{resource=\"services\"}",
        ) > before
    })
    .await;
    assert!(store.is_synced());
    assert!(store.entry("default", "new").is_some() && store.entry("default", "a").is_some());
    assert_eq!(
        metric(&metrics, "kubedns_sync_state{resource=\"services\"}"),
        1.0
    );

    shutdown.cancel();
    services.await.unwrap();
    endpoints.await.unwrap();
}

#[tokio::test]
async fn forbidden_everywhere_stays_not_ready_and_keeps_retrying() {
    async fn forbidden() -> Response {
        let body = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"services is forbidden","reason":"Forbidden","code":403}"#;
        (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
    let app = Router::new().fallback(forbidden);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let cfg = kubedns::source::client::client_config(Some(&format!("http://{addr}")), None)
        .await
        .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();
    let store = Store::new("cluster.local.");
    let metrics = Metrics::new(|_| {});
    let gate = SyncGate::new(store.synced());
    let sources = Sources {
        client,
        writer: store.writer(),
        metrics: metrics.watch.clone(),
        gate,
    };
    let shutdown = CancellationToken::new();
    let services = tokio::spawn(sources.clone().run_services(shutdown.clone()));
    // 403 on EndpointSlices selects Endpoints, which are forbidden too.
    let endpoints = tokio::spawn(sources.run_endpoints(EndpointSourceMode::Auto, shutdown.clone()));
    wait_for("repeated 403 errors", || {
        metric(
            &metrics,
            "kubedns_watch_errors_total{resource=\"services\"}",
        ) >= 2.0
            && metric(
                &metrics,
                "kubedns_watch_errors_total{resource=\"endpoints\"}",
            ) >= 1.0
    })
    .await;
    assert!(!store.is_synced());
    assert!(
        !services.is_finished() && !endpoints.is_finished(),
        "watch loops must keep retrying"
    );
    shutdown.cancel();
    services.await.unwrap();
    endpoints.await.unwrap();
}

#[tokio::test]
async fn config_map_source_filters_by_name_and_applies() {
    async fn cm(uri: Uri, RawQuery(q): RawQuery) -> Response {
        let q = q.unwrap_or_default();
        if uri.path() != "/api/v1/namespaces/kube-system/configmaps"
            || !q.contains("fieldSelector=metadata.name%3Dkube-dns")
        {
            return (StatusCode::BAD_REQUEST, format!("unexpected request {uri}")).into_response();
        }
        if q.split('&').any(|p| p == "watch=true") {
            return stream(vec![], false);
        }
        let item = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"kube-dns","namespace":"kube-system","resourceVersion":"7"},"data":{"federations":"myfed=example.com","upstreamNameservers":"[\"192.0.2.1:5353\"]"}}"#;
        list("ConfigMapList", "7", &[item.to_string()])
    }
    let app = Router::new().fallback(cm);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let cfg = kubedns::source::client::client_config(Some(&format!("http://{addr}")), None)
        .await
        .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let resolv = tmp.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.1\n").unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(kubedns::source::configmap::run_config_map(
        client,
        "kube-system".into(),
        "kube-dns".into(),
        resolv,
        move |c| {
            let _ = tx.send(c);
        },
        kubedns::metrics::WatchMetrics::default(),
        shutdown.clone(),
    ));
    // First the default config (legacy start), then the ConfigMap's content.
    let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(first.federations.is_empty());
    let applied = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        applied.federations.get("myfed").map(String::as_str),
        Some("example.com")
    );
    assert_eq!(
        applied.upstreams,
        vec!["192.0.2.1:5353".parse::<std::net::SocketAddr>().unwrap()]
    );
    assert_eq!(
        applied.resolv_conf_upstreams,
        vec!["127.0.0.1:53".parse::<std::net::SocketAddr>().unwrap()]
    );
    shutdown.cancel();
    task.await.unwrap();
}
