//! Pieces of the scripted fake API servers the watch tests build with axum (in-memory or
//! over HTTP): list and watch bodies, query parsing, and reading one metric.

#![allow(dead_code)] // each test crate uses a subset

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kubedns::metrics::Metrics;

/// A core/v1 Service in `default` with one named port.
pub fn service(name: &str, ip: &str, rv: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"{name}","namespace":"default","resourceVersion":"{rv}"}},"spec":{{"type":"ClusterIP","clusterIP":"{ip}","clusterIPs":["{ip}"],"ports":[{{"name":"http","port":80,"protocol":"TCP"}}]}}}}"#
    )
}

/// A LIST response of `kind` at resourceVersion `rv`.
pub fn list(kind: &str, rv: &str, items: &[String]) -> Response {
    let body = format!(
        r#"{{"apiVersion":"v1","kind":"{kind}","metadata":{{"resourceVersion":"{rv}"}},"items":[{}]}}"#,
        items.join(",")
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A watch response carrying these event lines; the stream ends after them when `end`,
/// otherwise it stays open.
pub fn stream(lines: Vec<String>, end: bool) -> Response {
    use futures::StreamExt;
    let items = futures::stream::iter(
        lines
            .into_iter()
            .map(|l| Ok::<_, std::io::Error>(Bytes::from(l + "\n"))),
    );
    let body = if end {
        Body::from_stream(items)
    } else {
        Body::from_stream(items.chain(futures::stream::pending()))
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Whether the raw query string asks for a watch.
pub fn is_watch(q: &Option<String>) -> bool {
    q.as_deref()
        .unwrap_or_default()
        .split('&')
        .any(|p| p == "watch=true" || p == "watch=1")
}

/// The value of the first metric line starting with `line_prefix` (0 when absent).
pub fn metric(m: &Metrics, line_prefix: &str) -> f64 {
    let text = m.encode().unwrap();
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
