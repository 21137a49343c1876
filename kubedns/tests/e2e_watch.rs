//! The watch loops (`kubedns::source`) against the API emulator over plain http, with a real
//! kube client and the real store. Threats table B4:
//! row 24 (watch 410 Gone → relist, applied atomically, deletions during the outage applied),
//! row 23 (API failures after the sync: keep serving, stay ready, count errors),
//! EndpointSlices not served (404) → Endpoints fallback, 403 everywhere → not ready, retrying.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{client_for, config_map, emulator_with, metric, service, watching};
use kube_emulator::OutageMode;
use kubedns::cli::EndpointSourceMode;
use tokio_util::sync::CancellationToken;

/// How long a test waits for a state it expects.
const WAIT: Duration = Duration::from_secs(10);
/// Poll period of [`wait_for`].
const POLL: Duration = Duration::from_millis(50);

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if f() {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn endpointslices_not_served_falls_back_to_endpoints() {
    let emu = emulator_with(vec![service("default", "a", "10.0.0.21")]).await;
    emu.unserve("endpointslices");
    let w = watching(client_for(&emu).await);
    let shutdown = CancellationToken::new();
    let services = tokio::spawn(w.sources.clone().run_services(shutdown.clone()));
    let endpoints = tokio::spawn(
        w.sources
            .clone()
            .run_endpoints(EndpointSourceMode::Auto, shutdown.clone()),
    );
    tokio::time::timeout(WAIT, w.gate.wait())
        .await
        .expect("initial sync");
    assert!(w.store.is_synced());
    assert_eq!(
        metric(&w.metrics, "kubedns_endpoint_source{source=\"endpoints\"}"),
        1.0
    );
    shutdown.cancel();
    services.await.unwrap();
    endpoints.await.unwrap();
}

#[tokio::test]
async fn watch_410_relists_and_applies_changes_missed_during_an_outage() {
    let emu = emulator_with(vec![
        service("default", "a", "10.0.0.21"),
        service("default", "gone", "10.0.0.22"),
    ])
    .await;
    let w = watching(client_for(&emu).await);
    let shutdown = CancellationToken::new();
    let services = tokio::spawn(w.sources.clone().run_services(shutdown.clone()));
    let endpoints = tokio::spawn(
        w.sources
            .clone()
            .run_endpoints(EndpointSourceMode::Auto, shutdown.clone()),
    );
    tokio::time::timeout(WAIT, w.gate.wait())
        .await
        .expect("initial sync");
    assert!(w.store.entry("default", "gone").is_some());

    // The API goes away (connections cut, watches dropped); meanwhile the cluster changes.
    // The watch that resumes afterwards is told its version is too old (410 Gone), so only a
    // fresh LIST can show the changes.
    emu.force_gone(1, Some("services"));
    emu.outage(OutageMode::Refuse, Duration::from_secs(1));
    let stats = &emu.shared().stats;
    wait_for("the open watches are cut", || {
        stats.active_watches.load(Ordering::SeqCst) == 0
    })
    .await;
    emu.delete("v1", "Service", "default", "gone")
        .expect("delete");
    emu.delete("v1", "Service", "default", "a").expect("delete");
    emu.apply(service("default", "a", "10.0.0.31"))
        .expect("recreate");
    emu.apply(service("default", "new", "10.0.0.23"))
        .expect("create");

    wait_for("a second LIST", || {
        metric(
            &w.metrics,
            "kubedns_watch_events_total{resource=\"services\",type=\"init_done\"}",
        ) >= 2.0
    })
    .await;
    // 410 → relist: "gone" disappears, "new" appears, "a" moves to its new IP, all at once.
    wait_for("relist applied", || {
        w.store.entry("default", "new").is_some()
    })
    .await;
    assert!(
        w.store.entry("default", "gone").is_none(),
        "deleted during the outage, gone after the relist"
    );
    assert!(w.store.entry("default", "a").is_some());
    assert!(w.store.ptr_targets("10.0.0.21".parse().unwrap()).is_empty());
    assert_eq!(
        w.store.ptr_targets("10.0.0.31".parse().unwrap()),
        vec!["a.default.svc.cluster.local."]
    );
    assert!(
        metric(
            &w.metrics,
            "kubedns_watch_errors_total{resource=\"services\"}"
        ) >= 1.0
    );
    assert_eq!(
        metric(
            &w.metrics,
            "kubedns_watch_events_total{resource=\"services\",type=\"init_done\"}"
        ),
        2.0,
        "one LIST at start, one after the 410"
    );
    // default/kubernetes (seeded, as in every cluster), a, new.
    assert_eq!(
        metric(&w.metrics, "kubedns_objects{resource=\"services\"}"),
        3.0
    );
    assert_eq!(
        emu.shared().faults_view().gone_next_watches,
        0,
        "the 410 was served"
    );
    shutdown.cancel();
    services.await.unwrap();
    endpoints.await.unwrap();
}

#[tokio::test]
async fn api_500s_after_the_sync_keep_data_and_readiness_and_count_errors() {
    let emu = emulator_with(vec![service("default", "a", "10.0.0.21")]).await;
    let w = watching(client_for(&emu).await);
    let shutdown = CancellationToken::new();
    let services = tokio::spawn(w.sources.clone().run_services(shutdown.clone()));
    let endpoints = tokio::spawn(
        w.sources
            .clone()
            .run_endpoints(EndpointSourceMode::Auto, shutdown.clone()),
    );
    tokio::time::timeout(WAIT, w.gate.wait())
        .await
        .expect("initial sync");
    let before = metric(
        &w.metrics,
        "kubedns_watch_errors_total{resource=\"services\"}",
    );
    // Every request fails with 500; open watches are cut so the loop must come back.
    emu.outage(OutageMode::Error500, Duration::from_secs(30));
    emu.close_watches();
    wait_for("errors counted during the outage", || {
        metric(
            &w.metrics,
            "kubedns_watch_errors_total{resource=\"services\"}",
        ) > before
    })
    .await;
    assert!(w.store.is_synced());
    assert!(w.store.entry("default", "a").is_some());
    assert_eq!(
        metric(&w.metrics, "kubedns_sync_state{resource=\"services\"}"),
        1.0
    );
    shutdown.cancel();
    services.await.unwrap();
    endpoints.await.unwrap();
}

#[tokio::test]
async fn forbidden_everywhere_stays_not_ready_and_keeps_retrying() {
    let emu = emulator_with(vec![service("default", "a", "10.0.0.21")]).await;
    for plural in ["services", "endpointslices", "endpoints"] {
        emu.forbid(plural);
    }
    let w = watching(client_for(&emu).await);
    let shutdown = CancellationToken::new();
    let services = tokio::spawn(w.sources.clone().run_services(shutdown.clone()));
    // 403 on EndpointSlices selects Endpoints, which are forbidden too.
    let endpoints = tokio::spawn(
        w.sources
            .clone()
            .run_endpoints(EndpointSourceMode::Auto, shutdown.clone()),
    );
    wait_for("repeated 403 errors", || {
        metric(
            &w.metrics,
            "kubedns_watch_errors_total{resource=\"services\"}",
        ) >= 2.0
            && metric(
                &w.metrics,
                "kubedns_watch_errors_total{resource=\"endpoints\"}",
            ) >= 1.0
    })
    .await;
    assert!(!w.store.is_synced());
    assert!(
        !services.is_finished() && !endpoints.is_finished(),
        "watch loops must keep retrying"
    );
    shutdown.cancel();
    services.await.unwrap();
    endpoints.await.unwrap();
}

#[tokio::test]
async fn config_map_source_reads_only_its_named_map_and_applies_it() {
    let emu = emulator_with(vec![
        // Sorts before kube-dns: a source that ignored the name would see it first.
        config_map(
            "kube-system",
            "a-decoy",
            &[("federations", "decoy=wrong.example")],
        ),
        config_map(
            "kube-system",
            "kube-dns",
            &[
                ("federations", "myfed=example.com"),
                ("upstreamNameservers", "[\"192.0.2.1:5353\"]"),
            ],
        ),
    ])
    .await;
    let client = client_for(&emu).await;
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
    let first = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(first.federations.is_empty());
    let applied = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        applied.federations.get("myfed").map(String::as_str),
        Some("example.com")
    );
    assert!(!applied.federations.contains_key("decoy"));
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
