//! Watch semantics of the API emulator over plain HTTP: replay from a resourceVersion,
//! streaming and selector transitions, bookmarks, timeoutSeconds and initial events, 410 for
//! compacted or forced versions, and list/watch semantics by emulated version.

mod common;

use std::time::Duration;

use common::{T, cm, emulator_with_http as start, rv};
use kube_emulator::{EmulatorConfig, StoreConfig};
use serde_json::json;

#[tokio::test]
async fn watch_replays_streams_and_filters() -> anyhow::Result<()> {
    let (emu, http) = start(EmulatorConfig::default()).await?;
    let start_rv = emu.resource_version();
    http.post(
        "/api/v1/namespaces/default/configmaps",
        &cm("a", json!({"app": "web"})),
    )
    .await?;
    let mut w = http
        .watch(&format!(
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={start_rv}"
        ))
        .await?;
    let e = w
        .next(T)
        .await?
        .ok_or_else(|| anyhow::anyhow!("stream ended"))?;
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("a"))
    );
    let mut sel = http
        .watch("/api/v1/configmaps?watch=1&labelSelector=app%3Dweb")
        .await?;
    let e = sel.next(T).await?.ok_or_else(|| anyhow::anyhow!("ended"))?;
    assert_eq!(e["type"], "ADDED"); // synthetic ADDED for current state
    http.patch(
        "/api/v1/namespaces/default/configmaps/a",
        "application/merge-patch+json",
        &json!({"data": {"k": "2"}}),
    )
    .await?;
    let e = w.next(T).await?.ok_or_else(|| anyhow::anyhow!("ended"))?;
    assert_eq!(e["type"], "MODIFIED");
    assert_eq!(
        sel.next(T).await?.map(|e| e["type"].clone()),
        Some(json!("MODIFIED"))
    );
    // Leaving the selector is a DELETED for the selector watch.
    http.patch(
        "/api/v1/namespaces/default/configmaps/a",
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"app": "db"}}}),
    )
    .await?;
    assert_eq!(
        sel.next(T).await?.map(|e| e["type"].clone()),
        Some(json!("DELETED"))
    );
    assert_eq!(
        w.next(T).await?.map(|e| e["type"].clone()),
        Some(json!("MODIFIED"))
    );
    http.delete("/api/v1/namespaces/default/configmaps/a")
        .await?;
    let e = w.next(T).await?.ok_or_else(|| anyhow::anyhow!("ended"))?;
    assert_eq!(e["type"], "DELETED");
    assert_eq!(rv(&e["object"]), emu.resource_version());
    // Legacy /watch/ path prefix and single-object watch.
    let mut legacy = http
        .watch("/api/v1/watch/namespaces/default/services/kubernetes")
        .await?;
    let e = legacy
        .next(T)
        .await?
        .ok_or_else(|| anyhow::anyhow!("ended"))?;
    assert_eq!(e["object"]["metadata"]["name"], "kubernetes");
    Ok(())
}

#[tokio::test]
async fn bookmarks_timeouts_and_initial_events() -> anyhow::Result<()> {
    let cfg = EmulatorConfig {
        bookmark_interval: Duration::from_millis(200),
        ..EmulatorConfig::default()
    };
    let (emu, http) = start(cfg).await?;
    let now = emu.resource_version();
    let mut w = http.watch(&format!("/api/v1/services?watch=true&allowWatchBookmarks=true&resourceVersion={now}&timeoutSeconds=2")).await?;
    let e = w.next(T).await?.ok_or_else(|| anyhow::anyhow!("ended"))?;
    assert_eq!(e["type"], "BOOKMARK");
    assert_eq!(e["object"]["kind"], "Service");
    assert!(rv(&e["object"]) >= now);
    // timeoutSeconds=2 ends the stream.
    let started = tokio::time::Instant::now();
    while let Some(e) = w.next(T).await? {
        assert_eq!(e["type"], "BOOKMARK");
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "timeoutSeconds=2 not honoured"
    );
    // No bookmarks unless asked.
    let mut nb = http
        .watch(&format!(
            "/api/v1/services?watch=true&resourceVersion={now}"
        ))
        .await?;
    assert!(
        nb.next(Duration::from_millis(600)).await.is_err(),
        "unexpected event"
    );
    // sendInitialEvents: ADDED for the current state, then the initial-events-end bookmark.
    let mut si = http.watch("/api/v1/services?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true").await?;
    assert_eq!(
        si.next(T).await?.map(|e| e["type"].clone()),
        Some(json!("ADDED"))
    );
    let end = si.next(T).await?.ok_or_else(|| anyhow::anyhow!("ended"))?;
    assert_eq!(end["type"], "BOOKMARK");
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    Ok(())
}

#[tokio::test]
async fn gone_for_compacted_versions_and_forced() -> anyhow::Result<()> {
    let cfg = EmulatorConfig {
        store: StoreConfig {
            history_limit: 5,
            ..StoreConfig::default()
        },
        ..EmulatorConfig::default()
    };
    let (emu, http) = start(cfg).await?;
    let old = emu.resource_version();
    for i in 0..10 {
        http.post(
            "/api/v1/namespaces/default/configmaps",
            &cm(&format!("c{i}"), json!({})),
        )
        .await?;
    }
    let mut w = http
        .watch(&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={old}"
        ))
        .await?;
    let e = w.next(T).await?.ok_or_else(|| anyhow::anyhow!("ended"))?;
    assert_eq!(e["type"], "ERROR");
    assert_eq!(
        (e["object"]["code"].as_i64(), e["object"]["reason"].as_str()),
        (Some(410), Some("Expired"))
    );
    assert!(w.next(T).await?.is_none(), "stream continues after 410");
    emu.force_gone(1, Some("services"));
    let now = emu.resource_version();
    let mut ok = http
        .watch(&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={now}"
        ))
        .await?;
    let mut g = http
        .watch(&format!(
            "/api/v1/services?watch=true&resourceVersion={now}"
        ))
        .await?;
    assert_eq!(
        g.next(T).await?.map(|e| e["object"]["code"].clone()),
        Some(json!(410))
    );
    let mut g2 = http
        .watch(&format!(
            "/api/v1/services?watch=true&resourceVersion={now}"
        ))
        .await?;
    assert!(
        g2.next(Duration::from_millis(300)).await.is_err(),
        "second watch must not get 410"
    );
    http.post(
        "/api/v1/namespaces/default/configmaps",
        &cm("late", json!({})),
    )
    .await?;
    assert_eq!(
        ok.next(T).await?.map(|e| e["type"].clone()),
        Some(json!("ADDED"))
    );
    Ok(())
}

/// Issue 15: list paging by emulated version, watch-list switch, and a watch from a future
/// resourceVersion (quiet from 1.32, as measured on real 1.32.2 and 1.34.4 by
/// emulator_vs_real; "Too large resource version" after the watch cache's wait before).
#[tokio::test]
async fn list_semantics_by_version_and_future_watch() -> anyhow::Result<()> {
    // (emulated minor, query, items in the first page)
    let cases: &[(u32, &str, usize)] = &[
        (32, "limit=2&resourceVersion=0", 5),
        (32, "limit=2", 2),
        // Real 1.34.4 still serves RV=0 lists from the cache unpaginated.
        (33, "limit=2&resourceVersion=0", 5),
        (34, "limit=2&resourceVersion=0", 5),
        (35, "limit=2&resourceVersion=0", 2),
        (8, "limit=2", 5),
    ];
    for &(minor, query, want) in cases {
        let (emu, http) = start(EmulatorConfig {
            minor,
            seed_defaults: false,
            ..EmulatorConfig::default()
        })
        .await?;
        http.post(
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
        )
        .await?;
        for i in 0..5 {
            http.post(
                "/api/v1/namespaces/default/configmaps",
                &cm(&format!("c{i}"), json!({})),
            )
            .await?;
        }
        let (code, list) = http.get(&format!("/api/v1/configmaps?{query}")).await?;
        assert_eq!(code, 200, "v1.{minor} {query}");
        let n = list["items"].as_array().map_or(0, Vec::len);
        assert_eq!(n, want, "v1.{minor} {query}: items");
        assert_eq!(
            list["metadata"].get("continue").is_some(),
            want < 5,
            "v1.{minor} {query}: continue"
        );
        let (_, v) = http.get("/version").await?;
        assert_eq!(v["minor"], json!(minor.to_string()));
        drop(emu);
    }

    // Watch-list off: sendInitialEvents is rejected as by a server without WatchList.
    let (_emu, http) = start(EmulatorConfig {
        watch_list: false,
        ..EmulatorConfig::default()
    })
    .await?;
    let (code, status) = http
        .get("/api/v1/configmaps?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan")
        .await?;
    assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")));

    // From 1.32 a watch from a version the store never reaches delivers nothing and ends at
    // its timeout.
    let (emu, http) = start(EmulatorConfig {
        minor: 34,
        ..EmulatorConfig::default()
    })
    .await?;
    let future = emu.resource_version() + 100;
    let mut w = http
        .watch(&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={future}&timeoutSeconds=1"
        ))
        .await?;
    assert_eq!(
        w.next(Duration::from_secs(10)).await?,
        None,
        "no event, no error"
    );
    drop(emu);

    // Before 1.32: one ERROR event, 504 Timeout with the ResourceVersionTooLarge cause, after
    // the cache's wait.
    let (emu, http) = start(EmulatorConfig {
        minor: 31,
        ..EmulatorConfig::default()
    })
    .await?;
    let future = emu.resource_version() + 100;
    let started = std::time::Instant::now();
    let mut w = http
        .watch(&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={future}"
        ))
        .await?;
    let e = w
        .next(Duration::from_secs(10))
        .await?
        .ok_or_else(|| anyhow::anyhow!("ended"))?;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "answered before the wait"
    );
    assert_eq!(e["type"], "ERROR");
    let st = &e["object"];
    assert_eq!(
        (st["code"].as_i64(), st["reason"].as_str()),
        (Some(504), Some("Timeout"))
    );
    assert_eq!(
        st["message"],
        json!(format!(
            "Timeout: Too large resource version: {future}, current: {}",
            emu.resource_version()
        ))
    );
    assert_eq!(
        st["details"]["causes"][0]["reason"],
        "ResourceVersionTooLarge"
    );
    assert_eq!(st["details"]["retryAfterSeconds"], 1);
    Ok(())
}
