//! The API emulator against the real kube-apiserver (issue 13): the requests kubedns
//! (kube-rs list/watch) and kubectl make are sent to both, and the semantics of the answers
//! are compared — list at RV=0 with `limit`, continue tokens, label and field selectors,
//! error `Status` bodies, watch-list (`sendInitialEvents`) with its initial-events-end
//! BOOKMARK and its required parameters, a watch from a compacted RV (410) and from a future
//! RV (which both releases answer by waiting quietly), and content negotiation (protobuf, Table, 406).
//! Where they differ, the emulator is wrong.

#[path = "real/common.rs"]
mod common;

use std::collections::BTreeMap;

use http_body_util::BodyExt;
use integration::controlplane::{ControlPlane, Identity, Release};
use kube_emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};

/// Namespace of the compared objects.
const NS: &str = "cmp";
/// Services created on both servers, with their `tier` label.
const SERVICES: &[(&str, &str)] = &[
    ("s0", "a"),
    ("s1", "a"),
    ("s2", "a"),
    ("s3", "b"),
    ("s4", "b"),
];
/// How long the compared watches stay open (`timeoutSeconds`).
const WATCH_SECS: u32 = 2;

/// One server's raw answer.
struct Answer {
    code: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The watch events of a streamed answer (one JSON object per line).
    fn events(&self) -> Vec<Value> {
        self.body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect()
    }

    /// The semantic fields of a `Status` body.
    fn status(&self) -> Value {
        let v = self.json();
        json!({
            "code": self.code,
            "kind": v["kind"],
            "status": v["status"],
            "reason": v["reason"],
            "message": v["message"],
            "details.kind": v["details"]["kind"],
            "details.name": v["details"]["name"],
            "causes": v["details"]["causes"].as_array().map(|c| c.iter().map(|c| c["reason"].clone()).collect::<Vec<_>>()),
        })
    }
}

async fn send(client: &kube::Client, path: &str, accept: Option<&str>) -> anyhow::Result<Answer> {
    let mut req = http::Request::get(path);
    if let Some(a) = accept {
        req = req.header(http::header::ACCEPT, a);
    }
    let resp = client.send(req.body(kube::client::Body::empty())?).await?;
    let code = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = resp.into_body().collect().await?.to_bytes().to_vec();
    Ok(Answer {
        code,
        content_type,
        body,
    })
}

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    n.sort();
    n
}

fn svc_path(query: &str) -> String {
    format!("/api/v1/namespaces/{NS}/services{query}")
}

/// The comparable meaning of every case on one server. `compact` makes RV 1 too old;
/// `current_rv` is the collection's resourceVersion.
async fn observe(client: &kube::Client) -> anyhow::Result<BTreeMap<&'static str, Value>> {
    let mut out = BTreeMap::new();
    let list = send(client, &svc_path(""), None).await?;
    let rv: u64 = list.json()["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    out.insert(
        "list",
        json!({"code": list.code, "kind": list.json()["kind"], "names": names(&list.json())}),
    );

    let a = send(client, &svc_path("?resourceVersion=0&limit=2"), None).await?;
    let v = a.json();
    out.insert(
        "list rv=0 limit=2",
        json!({"code": a.code, "items": names(&v).len(), "continue": v["metadata"]["continue"].as_str().is_some_and(|c| !c.is_empty())}),
    );

    // Paging with continue tokens until the last page.
    let (mut pages, mut seen, mut cont) = (0, Vec::new(), String::new());
    loop {
        let q = if cont.is_empty() {
            "?limit=2".to_string()
        } else {
            format!("?limit=2&continue={cont}")
        };
        let v = send(client, &svc_path(&q), None).await?.json();
        pages += 1;
        seen.extend(names(&v));
        let remaining = v["metadata"]["remainingItemCount"].as_i64();
        cont = v["metadata"]["continue"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if cont.is_empty() || pages > 10 {
            out.insert(
                "list limit=2 paged",
                json!({"pages": pages, "names": seen, "last remainingItemCount": remaining}),
            );
            break;
        }
    }
    let bad = send(client, &svc_path("?limit=2&continue=not-a-token"), None).await?;
    let mut st = bad.status();
    // The decoder's own complaint after the prefix differs by token format.
    st["message"] = json!(st["message"].as_str().and_then(|m| m.split(':').next()));
    out.insert("list bad continue", st);

    let a = send(client, &svc_path("?labelSelector=tier%3Da"), None).await?;
    out.insert(
        "list labelSelector",
        json!({"code": a.code, "names": names(&a.json())}),
    );
    let a = send(client, &svc_path("?labelSelector=tier%20in%20(b)"), None).await?;
    out.insert(
        "list labelSelector set",
        json!({"code": a.code, "names": names(&a.json())}),
    );
    let a = send(client, &svc_path("?fieldSelector=metadata.name%3Ds1"), None).await?;
    out.insert(
        "list fieldSelector",
        json!({"code": a.code, "names": names(&a.json())}),
    );
    let a = send(client, &svc_path("?fieldSelector=spec.foo%3Dx"), None).await?;
    out.insert("list unsupported fieldSelector", a.status());
    let a = send(client, &svc_path("/nope"), None).await?;
    out.insert("get missing", a.status());
    let a = send(client, "/api/v1/namespaces/cmp/widgets", None).await?;
    out.insert("unknown resource", json!({"code": a.code}));

    // Watch-list: the initial state as ADDED events, then a BOOKMARK marked initial-events-end.
    let a = send(
        client,
        &svc_path(&format!(
            "?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds={WATCH_SECS}"
        )),
        None,
    )
    .await?;
    let events = a.events();
    let added = events.iter().filter(|e| e["type"] == "ADDED").count();
    let end = events.iter().any(|e| {
        e["type"] == "BOOKMARK"
            && e["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true"
    });
    out.insert(
        "watch sendInitialEvents",
        json!({"code": a.code, "added": added, "initial-events-end bookmark": end}),
    );
    let a = send(
        client,
        &svc_path("?watch=1&sendInitialEvents=true&timeoutSeconds=1"),
        None,
    )
    .await?;
    out.insert(
        "watch sendInitialEvents without resourceVersionMatch",
        a.status(),
    );
    let a = send(
        client,
        &svc_path(
            "?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
        ),
        None,
    )
    .await?;
    out.insert(
        "watch sendInitialEvents without allowWatchBookmarks",
        a.status(),
    );

    // A watch from a future resourceVersion.
    let a = send(
        client,
        &svc_path(&format!(
            "?watch=1&resourceVersion={}&timeoutSeconds=1",
            rv + 1_000_000
        )),
        None,
    )
    .await?;
    let first = a.events().into_iter().next().unwrap_or(Value::Null);
    out.insert(
        "watch future rv",
        json!({"code": a.code, "event": first["type"], "message": if a.code == 200 { first["object"]["message"].clone() } else { a.json()["message"].clone() }, "reason": if a.code == 200 { first["object"]["reason"].clone() } else { a.json()["reason"].clone() },
               "cause": if a.code == 200 { first["object"]["details"]["causes"][0]["reason"].clone() } else { a.json()["details"]["causes"][0]["reason"].clone() }}),
    );

    // Content negotiation.
    let a = send(
        client,
        &svc_path(""),
        Some("application/vnd.kubernetes.protobuf"),
    )
    .await?;
    out.insert("list as protobuf", json!({"code": a.code, "content-type": a.content_type, "magic": a.body.starts_with(b"k8s\0")}));
    let a = send(
        client,
        &svc_path(""),
        Some("application/json;as=Table;v=v1;g=meta.k8s.io"),
    )
    .await?;
    let v = a.json();
    let cols: Vec<Value> = v["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].clone())
        .collect();
    out.insert("list as Table", json!({"code": a.code, "kind": v["kind"], "columns": cols, "rows": v["rows"].as_array().map(Vec::len)}));
    let a = send(client, &svc_path(""), Some("application/xml")).await?;
    out.insert("list as xml", a.status());
    Ok(out)
}

/// A watch from a resourceVersion older than the compacted history.
async fn observe_old_rv(client: &kube::Client, old_rv: u64) -> anyhow::Result<Value> {
    let a = send(
        client,
        &svc_path(&format!(
            "?watch=1&resourceVersion={old_rv}&timeoutSeconds=1"
        )),
        None,
    )
    .await?;
    let first = a.events().into_iter().next().unwrap_or(Value::Null);
    Ok(json!({"code": a.code,
        "event": first["type"], "event code": first["object"]["code"], "event reason": first["object"]["reason"],
        "reason": if a.code == 200 { Value::Null } else { a.json()["reason"].clone() }}))
}

async fn create_services(client: &kube::Client) -> anyhow::Result<u64> {
    let ns: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    ns.create(
        &Default::default(),
        &serde_json::from_value(json!({"metadata": {"name": NS}}))?,
    )
    .await?;
    let svcs: kube::Api<k8s_openapi::api::core::v1::Service> =
        kube::Api::namespaced(client.clone(), NS);
    let mut first_rv = 0;
    for (name, tier) in SERVICES {
        let s = svcs
            .create(
                &Default::default(),
                &serde_json::from_value(json!({
                    "metadata": {"name": name, "labels": {"tier": tier}},
                    "spec": {"clusterIP": "None", "ports": [{"name": "p", "port": 80}]}
                }))?,
            )
            .await?;
        if first_rv == 0 {
            first_rv = s
                .metadata
                .resource_version
                .unwrap_or_default()
                .parse()
                .unwrap_or(0);
        }
    }
    Ok(first_rv)
}

/// Differences documented in docs/integration.md ("Emulator vs kube-apiserver"): the case
/// and why it is allowed.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "list as protobuf",
    "the emulator reads protobuf request bodies but answers every request with JSON",
)];

fn diff(real: &BTreeMap<&str, Value>, emu: &BTreeMap<&str, Value>) -> Vec<String> {
    real.iter()
        .filter(|(k, _)| !KNOWN_DIFFERENCES.iter().any(|(d, _)| d == *k))
        .filter(|(k, v)| emu.get(*k) != Some(*v))
        .map(|(k, v)| {
            format!(
                "{k}:\n    real:     {v}\n    emulator: {}",
                emu.get(k).unwrap_or(&Value::Null)
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_answers_like_the_real_apiserver() -> anyhow::Result<()> {
    compare(Release::Primary).await
}

/// The same against the older pinned release (1.32), whose semantics the emulator also
/// claims (its `minor` set to 32).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_answers_like_the_older_real_apiserver() -> anyhow::Result<()> {
    compare(Release::Older).await
}

async fn compare(release: Release) -> anyhow::Result<()> {
    let opts = integration::controlplane::ControlPlaneOptions {
        release,
        ..common::api_only()
    };
    let Some(cp) = common::control_plane(opts).await? else {
        return Ok(());
    };
    let minor = cp_minor(&cp);
    let emu = Emulator::start(EmulatorConfig {
        minor,
        ..EmulatorConfig::default()
    })
    .await?;
    let real_client = cp.client(Identity::Admin).await?;
    let emu_client = emu.kube_client()?;
    let real_rv = create_services(&real_client).await?;
    let emu_rv = create_services(&emu_client).await?;

    let real = observe(&real_client).await?;
    let emulated = observe(&emu_client).await?;
    let mut mismatches = diff(&real, &emulated);

    // Compacted history: the first Service's creation RV is now too old on both.
    let _ = cp.compact_etcd().await?;
    emu.compact_and_close_watches();
    // The real watch cache keeps recent events after an etcd compaction; restart it so it
    // starts from the compacted store, as after any kube-apiserver restart.
    let mut cp = cp;
    cp.stop_apiserver();
    cp.start_apiserver().await?;
    let real_client = cp.client(Identity::Admin).await?;
    let r = observe_old_rv(&real_client, real_rv.saturating_sub(1)).await?;
    let e = observe_old_rv(&emu_client, emu_rv.saturating_sub(1)).await?;
    if r != e {
        mismatches.push(format!(
            "watch compacted rv:\n    real:     {r}\n    emulator: {e}"
        ));
    }
    eprintln!(
        "compared {} cases against {}",
        real.len() + 1,
        cp.versions()
    );
    assert!(
        mismatches.is_empty(),
        "the emulator differs from kube-apiserver:\n{}",
        mismatches.join("\n")
    );
    Ok(())
}

/// The real server's minor version (the emulator emulates the same one).
fn cp_minor(cp: &ControlPlane) -> u32 {
    cp.versions()
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v1."))
        .and_then(|m| m.split('.').next())
        .and_then(|m| m.trim_end_matches(';').parse().ok())
        .unwrap_or(34)
}
