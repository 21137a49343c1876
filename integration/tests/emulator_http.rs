//! HTTP-level semantics of the API emulator: discovery, paging, selectors, 409s, patches and
//! resourceVersion rules on lists, via plain HTTP requests. Watches: `emulator_watch.rs`;
//! fault injection: `emulator_faults.rs`.

mod common;

use common::{cm, emulator_with_http as start, rv};
use kube_emulator::EmulatorConfig;
use serde_json::{Value, json};

#[tokio::test]
async fn discovery_documents() -> anyhow::Result<()> {
    let (_emu, http) = start(EmulatorConfig::default()).await?;
    let (c, v) = http.get("/version").await?;
    assert_eq!((c, v["major"].as_str()), (200, Some("1")));
    let (_, api) = http.get("/api").await?;
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], json!(["v1"]));
    let (_, core) = http.get("/api/v1").await?;
    assert_eq!(core["groupVersion"], "v1");
    assert_eq!(core["kind"], "APIResourceList");
    let svc = core["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "services"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(svc["shortNames"], json!(["svc"]));
    assert!(
        svc["verbs"]
            .as_array()
            .is_some_and(|v| v.contains(&json!("watch")))
    );
    let (_, groups) = http.get("/apis").await?;
    assert_eq!(
        groups["groups"][0]["preferredVersion"]["groupVersion"],
        "discovery.k8s.io/v1"
    );
    let (_, g) = http.get("/apis/discovery.k8s.io").await?;
    assert_eq!(g["kind"], "APIGroup");
    let (_, d) = http.get("/apis/discovery.k8s.io/v1").await?;
    assert_eq!(d["groupVersion"], "discovery.k8s.io/v1");
    assert_eq!(d["resources"][0]["kind"], "EndpointSlice");
    let (c, _) = http.get("/apis/apps/v1").await?;
    assert_eq!(c, 404);
    let (c, o) = http.get("/openapi/v3").await?;
    assert_eq!(c, 200);
    assert!(o["paths"]["api/v1"].is_object());
    Ok(())
}

#[tokio::test]
async fn lists_carry_kind_and_page_with_continue() -> anyhow::Result<()> {
    let (_emu, http) = start(EmulatorConfig::default()).await?;
    for i in 0..25 {
        let (c, _) = http
            .post(
                "/api/v1/namespaces/default/configmaps",
                &cm(&format!("c{i:02}"), json!({})),
            )
            .await?;
        assert_eq!(c, 201);
    }
    let (c, p1) = http
        .get("/api/v1/namespaces/default/configmaps?limit=10")
        .await?;
    assert_eq!(c, 200);
    assert_eq!(p1["kind"], "ConfigMapList");
    assert_eq!(p1["apiVersion"], "v1");
    assert_eq!(p1["items"].as_array().map(Vec::len), Some(10));
    assert_eq!(p1["metadata"]["remainingItemCount"], 15);
    // A write between pages is not visible in later pages (consistent snapshot).
    http.post(
        "/api/v1/namespaces/default/configmaps",
        &cm("c99", json!({})),
    )
    .await?;
    let mut seen = 10;
    let mut token = p1["metadata"]["continue"].as_str().map(str::to_string);
    while let Some(t) = token {
        let (c, p) = http
            .get(&format!(
                "/api/v1/namespaces/default/configmaps?limit=10&continue={t}"
            ))
            .await?;
        assert_eq!(c, 200);
        assert_eq!(
            p["metadata"]["resourceVersion"],
            p1["metadata"]["resourceVersion"]
        );
        seen += p["items"].as_array().map_or(0, Vec::len);
        token = p["metadata"]["continue"].as_str().map(str::to_string);
    }
    assert_eq!(seen, 25);
    let (_, all) = http.get("/api/v1/configmaps").await?;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(26));
    let (_, slices) = http.get("/apis/discovery.k8s.io/v1/endpointslices").await?;
    assert_eq!(slices["kind"], "EndpointSliceList");
    assert_eq!(slices["apiVersion"], "discovery.k8s.io/v1");
    let (c, bad) = http.get("/api/v1/configmaps?continue=zz").await?;
    assert_eq!((c, bad["kind"].as_str()), (400, Some("Status")));
    Ok(())
}

#[tokio::test]
async fn label_and_field_selectors() -> anyhow::Result<()> {
    let (_emu, http) = start(EmulatorConfig::default()).await?;
    http.post(
        "/api/v1/namespaces/default/configmaps",
        &cm("a", json!({"app": "web", "tier": "front"})),
    )
    .await?;
    http.post(
        "/api/v1/namespaces/default/configmaps",
        &cm("b", json!({"app": "db"})),
    )
    .await?;
    http.post(
        "/api/v1/namespaces/kube-system/configmaps",
        &cm("c", json!({"app": "web"})),
    )
    .await?;
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    };
    let q = |s: &str| {
        format!(
            "/api/v1/configmaps?labelSelector={}",
            s.replace(' ', "%20")
                .replace('!', "%21")
                .replace('(', "%28")
                .replace(')', "%29")
                .replace(',', "%2C")
                .replace('=', "%3D")
        )
    };
    for (sel, want) in [
        ("app=web", vec!["c", "a"]),
        ("app==web,tier", vec!["a"]),
        ("app!=web", vec!["b"]),
        ("app in (db,none)", vec!["b"]),
        ("app notin (web)", vec!["b"]),
        ("tier", vec!["a"]),
        ("!tier", vec!["c", "b"]),
    ] {
        let (c, v) = http.get(&q(sel)).await?;
        assert_eq!(c, 200, "{sel}");
        let mut got = names(&v);
        let mut want: Vec<String> = want.into_iter().map(str::to_string).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{sel}");
    }
    let (_, v) = http
        .get("/api/v1/configmaps?fieldSelector=metadata.name%3Da")
        .await?;
    assert_eq!(names(&v), vec!["a"]);
    let (_, v) = http
        .get("/api/v1/configmaps?fieldSelector=metadata.namespace%3Dkube-system")
        .await?;
    assert_eq!(names(&v), vec!["c"]);
    let (c, s) = http
        .get("/api/v1/configmaps?fieldSelector=spec.x%3D1")
        .await?;
    assert_eq!((c, s["reason"].as_str()), (400, Some("BadRequest")));
    let (c, _) = http.get(&q("a in x")).await?;
    assert_eq!(c, 400);
    Ok(())
}

#[tokio::test]
async fn create_update_conflicts_and_delete() -> anyhow::Result<()> {
    let (_emu, http) = start(EmulatorConfig::default()).await?;
    let path = "/api/v1/namespaces/default/configmaps";
    let (c, a) = http.post(path, &cm("a", json!({}))).await?;
    assert_eq!(c, 201);
    let (c, s) = http.post(path, &cm("a", json!({}))).await?;
    assert_eq!(
        (c, s["reason"].as_str(), s["kind"].as_str()),
        (409, Some("AlreadyExists"), Some("Status"))
    );
    let (c, g) = http
        .post(path, &json!({"metadata": {"generateName": "gen-"}}))
        .await?;
    assert_eq!(c, 201);
    assert!(
        g["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("gen-"))
    );
    let mut upd = a.clone();
    upd["data"]["k"] = json!("new");
    let (c, u) = http.put(&format!("{path}/a"), &upd).await?;
    assert_eq!(c, 200);
    assert!(rv(&u) > rv(&a));
    let (c, s) = http.put(&format!("{path}/a"), &upd).await?;
    assert_eq!((c, s["reason"].as_str()), (409, Some("Conflict")));
    let (c, s) = http.get(&format!("{path}/missing")).await?;
    assert_eq!((c, s["reason"].as_str()), (404, Some("NotFound")));
    let (c, d) = http.delete(&format!("{path}/a")).await?;
    assert_eq!((c, d["metadata"]["name"].as_str()), (200, Some("a")));
    assert!(rv(&d) > rv(&u));
    let (c, _) = http.get(&format!("{path}/a")).await?;
    assert_eq!(c, 404);
    let (c, _) = http
        .post("/api/v1/namespaces/nope/configmaps", &cm("x", json!({})))
        .await?;
    assert_eq!(c, 404);
    Ok(())
}

#[tokio::test]
async fn patches() -> anyhow::Result<()> {
    let (_emu, http) = start(EmulatorConfig::default()).await?;
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]}});
    let (c, created) = http
        .post("/api/v1/namespaces/default/services", &svc)
        .await?;
    assert_eq!(c, 201);
    let p = "/api/v1/namespaces/default/services/web";
    let (c, m) = http
        .patch(
            p,
            "application/merge-patch+json",
            &json!({"metadata": {"labels": {"x": "1"}}}),
        )
        .await?;
    assert_eq!((c, m["metadata"]["labels"]["x"].as_str()), (200, Some("1")));
    assert_eq!(m["spec"]["clusterIP"], created["spec"]["clusterIP"]);
    let (c, j) = http
        .patch(
            p,
            "application/json-patch+json",
            &json!([{"op": "replace", "path": "/spec/ports/0/port", "value": 8080}]),
        )
        .await?;
    assert_eq!(
        (c, j["spec"]["ports"][0]["port"].as_i64()),
        (200, Some(8080))
    );
    let (c, s) = http.patch(p, "application/strategic-merge-patch+json", &json!({"spec": {"ports": [{"port": 81, "$patch": "delete"}, {"port": 82, "name": "c"}]}})).await?;
    assert_eq!(c, 200);
    let ports: Vec<i64> = s["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["port"].as_i64())
        .collect();
    assert_eq!(ports, vec![8080, 82]);
    let (c, e) = http.patch(p, "text/plain", &json!({})).await?;
    assert_eq!(
        (c, e["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let (c, e) = http
        .patch(
            p,
            "application/merge-patch+json",
            &json!({"metadata": {"resourceVersion": "1"}}),
        )
        .await?;
    assert_eq!((c, e["reason"].as_str()), (409, Some("Conflict")));
    let (c, _) = http
        .patch(
            "/api/v1/namespaces/default/services/none",
            "application/merge-patch+json",
            &json!({}),
        )
        .await?;
    assert_eq!(c, 404);
    // Server-side apply creates when absent.
    let (c, a) = http
        .patch(
            "/api/v1/namespaces/default/configmaps/applied?fieldManager=t",
            "application/apply-patch+yaml",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}),
        )
        .await?;
    assert_eq!((c, a["data"]["a"].as_str()), (201, Some("b")));
    Ok(())
}

#[tokio::test]
async fn resource_version_matching_on_lists() -> anyhow::Result<()> {
    let (emu, http) = start(EmulatorConfig::default()).await?;
    let (_, a) = http
        .post("/api/v1/namespaces/default/configmaps", &cm("a", json!({})))
        .await?;
    let at = rv(&a);
    http.patch(
        "/api/v1/namespaces/default/configmaps/a",
        "application/merge-patch+json",
        &json!({"data": {"k": "changed"}}),
    )
    .await?;
    let (c, old) = http
        .get(&format!(
            "/api/v1/namespaces/default/configmaps?resourceVersion={at}&resourceVersionMatch=Exact"
        ))
        .await?;
    assert_eq!(c, 200);
    assert_eq!(old["items"][0]["data"]["k"], "v");
    assert_eq!(old["metadata"]["resourceVersion"], json!(at.to_string()));
    let (c, cur) = http.get(&format!("/api/v1/namespaces/default/configmaps?resourceVersion={at}&resourceVersionMatch=NotOlderThan")).await?;
    assert_eq!(
        (c, cur["items"][0]["data"]["k"].as_str()),
        (200, Some("changed"))
    );
    let (c, any) = http
        .get("/api/v1/namespaces/default/configmaps?resourceVersion=0")
        .await?;
    assert_eq!((c, any["items"].as_array().map(Vec::len)), (200, Some(1)));
    let future = emu.resource_version() + 100;
    let (c, _) = http
        .get(&format!("/api/v1/configmaps?resourceVersion={future}"))
        .await?;
    assert_eq!(c, 504);
    let (c, _) = http
        .get("/api/v1/configmaps?resourceVersionMatch=Exact")
        .await?;
    assert_eq!(c, 400);
    Ok(())
}
