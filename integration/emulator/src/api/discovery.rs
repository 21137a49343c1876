//! Discovery and metadata endpoints: `/version`, `/api`, `/apis`, `/apis/<g>` and
//! resource lists, the OpenAPI v3 documents, and the health paths.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::resources;
use crate::response::{error_response, json_response};
use crate::shared::Shared;
use crate::status::ApiError;

pub(super) async fn openapi_root() -> Response {
    json_response(StatusCode::OK, &crate::openapi::root())
}

pub(super) async fn openapi_gv(Path(gv): Path<String>) -> Response {
    match crate::openapi::group_version_doc(&gv) {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => error_response(&ApiError::no_route(&format!("/openapi/v3/{gv}"))),
    }
}

pub(super) async fn ok_text() -> &'static str {
    "ok"
}

pub(super) async fn version(State(shared): State<Arc<Shared>>) -> Response {
    let minor = shared.cfg.minor;
    json_response(
        StatusCode::OK,
        &json!({
            "major": "1", "minor": minor.to_string(),
            "gitVersion": format!("v1.{minor}.0-kube-dns-rs-emulator"),
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc",
            "platform": "linux/amd64",
        }),
    )
}

pub(super) async fn api_versions(headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}),
    )
}

pub(super) fn group_json(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

pub(super) async fn api_groups() -> Response {
    let groups: Vec<Value> = resources::groups()
        .into_iter()
        .map(|(g, v)| group_json(g, v))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

pub(super) fn resource_list(group: &str, version: &str) -> Value {
    let mut out = Vec::new();
    for r in resources::in_group_version(group, version) {
        out.push(json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": r.verbs, "shortNames": r.short_names,
            "storageVersionHash": "",
        }));
        if r.has_status {
            out.push(
                json!({"name": format!("{}/status", r.plural), "singularName": "",
                "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}),
            );
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out})
}
