//! Fills a real kube-apiserver fast: every object is created with its own server-side
//! `POST` to its collection, at most `concurrency` in flight (the apiserver's default
//! `--max-mutating-requests-inflight` is 200; [`DEFAULT_CONCURRENCY`] stays well below).
//! Namespaces go first, then everything else in file order. Throttling (429) and transient
//! server errors are retried a bounded number of times; any other failure stops the load.
//!
//! The benchmark objects are selectorless Services with explicit v1 Endpoints **and**
//! discovery/v1 EndpointSlices (labelled with a `managed-by` of their own), so no controller
//! rewrites them and each server reads the kind it watches: kubedns and CoreDNS the slices,
//! legacy kube-dns the Endpoints.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use tokio::time::Instant;

/// Creates in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 64;
/// Attempts per object when the server throttles (429) or fails transiently (5xx).
pub const MAX_ATTEMPTS: u32 = 6;
/// First retry delay (doubles per attempt).
pub const RETRY_BASE: Duration = Duration::from_millis(100);
/// Bound on one create request.
pub const CREATE_TIMEOUT: Duration = Duration::from_secs(60);

/// What a load did.
#[derive(Debug, Clone, Default)]
pub struct LoadStats {
    /// Objects created per kind.
    pub per_kind: BTreeMap<String, usize>,
    /// Wall time of the whole load.
    pub elapsed: Duration,
    /// Retried requests.
    pub retries: usize,
}

impl LoadStats {
    /// Objects created.
    pub fn objects(&self) -> usize {
        self.per_kind.values().sum()
    }
}

/// The collection URL path an object is created in.
pub fn collection_path(obj: &Value) -> anyhow::Result<String> {
    let api = obj["apiVersion"]
        .as_str()
        .context("object without apiVersion")?;
    let kind = obj["kind"].as_str().context("object without kind")?;
    let plural = match kind {
        "Namespace" => "namespaces",
        "Service" => "services",
        "Endpoints" => "endpoints",
        "EndpointSlice" => "endpointslices",
        "ConfigMap" => "configmaps",
        "Pod" => "pods",
        other => bail!("the loader does not know the resource of kind {other}"),
    };
    let prefix = if api.contains('/') {
        format!("/apis/{api}")
    } else {
        format!("/api/{api}")
    };
    if kind == "Namespace" {
        return Ok(format!("{prefix}/{plural}"));
    }
    let ns = obj["metadata"]["namespace"]
        .as_str()
        .context("namespaced object without metadata.namespace")?;
    Ok(format!("{prefix}/namespaces/{ns}/{plural}"))
}

/// Reads a JSON `List` (`{"items": [...]}`) or an array of objects.
pub fn read_objects(path: &std::path::Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    match v {
        Value::Array(items) => Ok(items),
        Value::Object(mut m) => match m.remove("items") {
            Some(Value::Array(items)) => Ok(items),
            _ => bail!("{}: no items array", path.display()),
        },
        _ => bail!("{}: neither a List nor an array", path.display()),
    }
}

/// Creates one object, retrying throttling and transient errors; returns the retries used.
async fn create(client: &kube::Client, obj: &Value) -> anyhow::Result<usize> {
    let path = collection_path(obj)?;
    let body = serde_json::to_vec(obj)?;
    let mut delay = RETRY_BASE;
    for attempt in 1..=MAX_ATTEMPTS {
        let req = http::Request::post(&path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.clone())?;
        let res = tokio::time::timeout(CREATE_TIMEOUT, client.request_text(req)).await;
        let transient = match res {
            Ok(Ok(_)) => return Ok(attempt as usize - 1),
            Ok(Err(kube::Error::Api(s))) if s.code == 429 || s.code >= 500 => {
                format!("{} {}", s.code, s.message)
            }
            Ok(Err(e)) => {
                let name = obj["metadata"]["name"].as_str().unwrap_or("?");
                return Err(anyhow::Error::new(e).context(format!("creating {path}/{name}")));
            }
            Err(_) => format!("no answer within {CREATE_TIMEOUT:?}"),
        };
        if attempt == MAX_ATTEMPTS {
            bail!("creating in {path}: {transient} after {MAX_ATTEMPTS} attempts");
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    unreachable!("the loop returns or bails on its last attempt")
}

/// Creates `objects` (namespaces first), at most `concurrency` requests in flight.
pub async fn create_all(
    client: &kube::Client,
    objects: &[Value],
    concurrency: usize,
) -> anyhow::Result<LoadStats> {
    let t0 = Instant::now();
    let mut stats = LoadStats::default();
    let (namespaces, rest): (Vec<&Value>, Vec<&Value>) =
        objects.iter().partition(|o| o["kind"] == "Namespace");
    for phase in [namespaces, rest] {
        let retries: Vec<usize> = futures::stream::iter(phase.iter().map(|o| create(client, o)))
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        stats.retries += retries.iter().sum::<usize>();
        for o in &phase {
            let kind = o["kind"].as_str().unwrap_or("?").to_string();
            *stats.per_kind.entry(kind).or_default() += 1;
        }
    }
    stats.elapsed = t0.elapsed();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_follow_the_api_groups() {
        let cases = [
            (
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}),
                "/api/v1/namespaces",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "a"}}),
                "/api/v1/namespaces/a/services",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "s", "namespace": "a"}}),
                "/api/v1/namespaces/a/endpoints",
            ),
            (
                json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": "s-0", "namespace": "a"}}),
                "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices",
            ),
        ];
        for (obj, want) in cases {
            assert_eq!(collection_path(&obj).unwrap(), want);
        }
        assert!(
            collection_path(&json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "x", "namespace": "a"}}))
            .is_err()
        );
        assert!(
            collection_path(&json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "x"}}))
            .is_err()
        );
    }
}
