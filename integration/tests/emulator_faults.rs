//! Fault injection of the API emulator: through the library API and the `/_emulator/` admin
//! path (500s, 403s, unserved groups, forced 410s and watch 500s, hung requests, the request
//! log), the bearer token requirement, and the in-process client.

mod common;

use std::time::Duration;

use common::{Http, T, emulator_with_http as start, service_names};
use kube_emulator::{EmulatorConfig, OutageMode};
use serde_json::{Value, json};

#[tokio::test]
async fn faults_from_the_library_api() -> anyhow::Result<()> {
    let (emu, http) = start(EmulatorConfig::default()).await?;
    // Close watches.
    let mut w = http
        .watch(&format!(
            "/api/v1/services?watch=true&resourceVersion={}",
            emu.resource_version()
        ))
        .await?;
    emu.close_watches();
    assert!(w.next(T).await?.is_none());
    // 403 for one resource.
    emu.forbid("endpointslices");
    let (c, s) = http.get("/apis/discovery.k8s.io/v1/endpointslices").await?;
    assert_eq!((c, s["reason"].as_str()), (403, Some("Forbidden")));
    assert_eq!(http.get("/api/v1/services").await?.0, 200);
    emu.allow("endpointslices");
    assert_eq!(
        http.get("/apis/discovery.k8s.io/v1/endpointslices")
            .await?
            .0,
        200
    );
    // 500 window.
    emu.outage(OutageMode::Error500, Duration::from_millis(500));
    let (c, s) = http.get("/api/v1/services").await?;
    assert_eq!((c, s["reason"].as_str()), (500, Some("InternalError")));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(http.get("/api/v1/services").await?.0, 200);
    // Refused connections, then recovery on the same port.
    emu.outage(OutageMode::Refuse, Duration::from_millis(700));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = tokio::net::TcpStream::connect(emu.addr()).await;
    assert!(
        refused.is_err(),
        "connect should be refused during the outage"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    let fresh = Http::new(&emu.url());
    assert_eq!(fresh.get("/api/v1/services").await?.0, 200);
    // Latency.
    emu.set_latency(Duration::from_millis(300));
    let t0 = tokio::time::Instant::now();
    fresh.get("/version").await?;
    assert!(t0.elapsed() >= Duration::from_millis(300));
    emu.clear_faults();
    Ok(())
}

#[tokio::test]
async fn faults_over_the_admin_path() -> anyhow::Result<()> {
    let (_emu, http) = start(EmulatorConfig::default()).await?;
    let (c, v) = http
        .post("/_emulator/faults/forbid", &json!({"resource": "services"}))
        .await?;
    assert_eq!((c, v["forbidden"].clone()), (200, json!(["services"])));
    assert_eq!(http.get("/api/v1/services").await?.0, 403);
    let (c, _) = http
        .post(
            "/_emulator/faults/outage",
            &json!({"mode": "error500", "seconds": 30}),
        )
        .await?;
    assert_eq!(c, 200);
    assert_eq!(http.get("/api/v1/configmaps").await?.0, 500);
    let (_, v) = http.get("/_emulator/faults").await?;
    assert!(v["error_ms_left"].as_u64().is_some_and(|ms| ms > 0));
    let (c, v) = http.delete("/_emulator/faults").await?;
    assert_eq!((c, v["error_ms_left"].as_u64()), (200, Some(0)));
    assert_eq!(http.get("/api/v1/services").await?.0, 200);
    let (c, _) = http
        .post("/_emulator/faults/gone-next-watch", &json!({"count": 1}))
        .await?;
    assert_eq!(c, 200);
    let mut w = http
        .watch("/api/v1/pods?watch=true&resourceVersion=1")
        .await?;
    assert_eq!(
        w.next(T).await?.map(|e| e["object"]["code"].clone()),
        Some(json!(410))
    );
    let (c, _) = http.post("/_emulator/faults/bogus", &json!({})).await?;
    assert_eq!(c, 404);
    let (c, s) = http.get("/_emulator/stats").await?;
    assert_eq!(c, 200);
    assert!(s["objects"]["namespaces"].as_u64().is_some_and(|n| n >= 3));
    Ok(())
}

#[tokio::test]
async fn bearer_token_is_enforced() -> anyhow::Result<()> {
    let cfg = EmulatorConfig {
        token: Some("s3cret".into()),
        ..EmulatorConfig::default()
    };
    let (emu, http) = start(cfg).await?;
    let (c, s) = http.get("/api/v1/services").await?;
    assert_eq!((c, s["reason"].as_str()), (401, Some("Unauthorized")));
    let client = emu.kube_client()?;
    let api: kube::Api<k8s_openapi::api::core::v1::Service> = kube::Api::all(client);
    let list = api.list(&Default::default()).await?;
    assert_eq!(list.items.len(), 1);
    Ok(())
}

#[tokio::test]
async fn unserved_resource_answers_the_plain_404_of_an_absent_group() -> anyhow::Result<()> {
    let (emu, http) = start(EmulatorConfig::default()).await?;
    let path = "/apis/discovery.k8s.io/v1/endpointslices";
    assert_eq!(http.get(path).await?.0, 200);
    emu.unserve("endpointslices");
    // kube-apiserver's mux answers a group/version it does not serve with text, not a Status.
    assert_eq!(http.get(path).await?, (404, Value::Null));
    assert_eq!(
        http.get("/api/v1/services").await?.0,
        200,
        "others still served"
    );
    emu.serve("endpointslices");
    assert_eq!(http.get(path).await?.0, 200);
    // The same over the admin path, visible in the fault view.
    let (c, v) = http
        .post(
            "/_emulator/faults/unserve",
            &json!({"resource": "endpointslices"}),
        )
        .await?;
    assert_eq!((c, v["unserved"].clone()), (200, json!(["endpointslices"])));
    assert_eq!(http.get(path).await?.0, 404);
    let (c, v) = http
        .post(
            "/_emulator/faults/serve",
            &json!({"resource": "endpointslices"}),
        )
        .await?;
    assert_eq!((c, v["unserved"].clone()), (200, json!([])));
    Ok(())
}

#[tokio::test]
async fn hung_requests_are_logged_and_answered_once_the_hang_is_lifted() -> anyhow::Result<()> {
    let (emu, http) = start(EmulatorConfig::default()).await?;
    emu.hang("endpoints");
    let held = tokio::spawn({
        let http = Http::new(&emu.url());
        async move { http.get("/api/v1/endpoints").await }
    });
    assert_eq!(http.get("/api/v1/services").await?.0, 200, "others served");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.is_finished(), "a hung request must not be answered");
    let (_, v) = http.get("/_emulator/faults").await?;
    assert_eq!(v["hang"], json!(["endpoints"]));
    emu.unhang("endpoints");
    let (c, _) = tokio::time::timeout(T, held).await???;
    assert_eq!(c, 200, "held request served after the hang is lifted");
    // Every request, held or not, is in the log in arrival order (admin paths are not).
    let log = emu.requests();
    let paths: Vec<&str> = log.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/api/v1/endpoints", "/api/v1/services"]);
    // The same through the admin path, `*` holding discovery too.
    let (c, v) = http
        .post("/_emulator/faults/hang", &json!({"resource": "*"}))
        .await?;
    assert_eq!((c, v["hang"].clone()), (200, json!(["*"])));
    let held = tokio::spawn({
        let http = Http::new(&emu.url());
        async move { http.get("/version").await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.is_finished(), "hang * holds discovery");
    let (c, _) = http.delete("/_emulator/faults").await?;
    assert_eq!(c, 200);
    assert_eq!(tokio::time::timeout(T, held).await???.0, 200);
    let (c, log) = http.get("/_emulator/requests").await?;
    assert_eq!(c, 200);
    assert_eq!(log[2]["path"], json!("/version"));
    assert_eq!(log[0]["watch"], json!(false));
    let (c, _) = http.post("/_emulator/faults/hang", &json!({})).await?;
    assert_eq!(c, 400, "hang needs a resource");
    Ok(())
}

#[tokio::test]
async fn the_next_watches_fail_with_500_then_watch_again() -> anyhow::Result<()> {
    let (emu, http) = start(EmulatorConfig::default()).await?;
    let path = format!(
        "/api/v1/services?watch=true&resourceVersion={}",
        emu.resource_version()
    );
    emu.fail_next_watches(2, Some("services"));
    let (c, s) = http.get(&path).await?;
    assert_eq!((c, s["reason"].as_str()), (500, Some("InternalError")));
    // Other resources' watches are not failed (`watch` checks for 200).
    http.watch("/api/v1/endpoints?watch=true").await?;
    assert_eq!(
        http.get("/api/v1/services").await?.0,
        200,
        "lists are not failed"
    );
    assert_eq!(http.get(&path).await?.0, 500);
    let (_, v) = http.get("/_emulator/faults").await?;
    assert_eq!(v["error_next_watches"], json!(0));
    let mut w = http.watch(&path).await?;
    emu.create(json!({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "x", "namespace": "default"}}))?;
    emu.apply(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "late", "namespace": "default"},
        "spec": {"ports": [{"port": 80}]}}))?;
    let ev = w
        .next_non_bookmark(T)
        .await?
        .expect("event after the failures");
    assert_eq!(ev["object"]["metadata"]["name"], json!("late"));
    // Over the admin path.
    let (c, v) = http
        .post("/_emulator/faults/error-next-watch", &json!({"count": 1}))
        .await?;
    assert_eq!((c, v["error_next_watches"].clone()), (200, json!(1)));
    assert_eq!(http.get("/api/v1/pods?watch=1").await?.0, 500);
    Ok(())
}

#[tokio::test]
async fn the_in_process_client_reaches_the_same_api_with_the_token() -> anyhow::Result<()> {
    let cfg = EmulatorConfig {
        token: Some("s3cret".into()),
        ..EmulatorConfig::default()
    };
    let (emu, _http) = start(cfg).await?;
    let names = service_names(emu.in_process_client()).await?;
    assert_eq!(names, ["kubernetes"]);
    assert!(
        emu.requests()
            .iter()
            .any(|r| r.is_list_of("/api/v1/services"))
    );
    Ok(())
}
