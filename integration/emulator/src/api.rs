//! HTTP routing: discovery (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/<g>`,
//! `/apis/<g>/<v>`), the resource paths (cluster-wide, namespaced, `/status`, legacy
//! `/watch/` prefix), and the middleware that applies latency, 500 windows and bearer-token
//! checks (the `/_emulator/` admin paths live in [`super::admin`]; authentication and RBAC
//! in [`super::access`], layered inside the fault layer). Handlers lock the store
//! briefly and encode results; watches are handed to [`super::watch`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::patch::{self, PatchKind};
use super::resources::{self, ResourceDef};
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{ListOpts, Obj};
use super::{Shared, admin, table, watch};

/// Prefix of the admin paths (never subject to faults or auth).
pub const ADMIN_PREFIX: &str = "/_emulator";
/// Kubernetes minor version reported by `/version` unless configured
/// ([`super::EmulatorConfig::minor`]).
pub const EMULATED_MINOR: &str = "33";

/// Builds the router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/api", get(api_versions))
        .route("/apis", get(api_groups))
        .route("/healthz", get(ok_text))
        .route("/livez", get(ok_text))
        .route("/readyz", get(ok_text))
        .route(
            "/_emulator/faults",
            get(admin::faults_get).delete(admin::faults_clear),
        )
        .route("/_emulator/faults/{action}", post(admin::faults_post))
        .route("/_emulator/stats", get(admin::stats))
        .route(
            "/_emulator/serviceaccounts/{ns}/{name}/token",
            post(admin::mint_token),
        )
        .route("/openapi/v3", get(openapi_root))
        .route("/openapi/v3/{*gv}", get(openapi_gv))
        .fallback(resource_handler)
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            super::access::auth_layer,
        ))
        .layer(middleware::from_fn_with_state(shared.clone(), fault_layer))
        .with_state(shared)
}

/// Body of kube-apiserver's 404 for a path no API group serves (Go's `http.NotFound`).
pub const UNSERVED_BODY: &str = "404 page not found\n";

/// A JSON response with `Content-Type: application/json`.
pub fn json_response<T: Serialize>(code: StatusCode, v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(body) => (code, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A `Status` error response.
pub fn error_response(e: &ApiError) -> Response {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &e.to_status())
}

async fn fault_layer(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with(ADMIN_PREFIX) {
        return next.run(req).await;
    }
    shared.stats.requests.fetch_add(1, Ordering::Relaxed);
    let (latency, erroring) = {
        let f = shared.faults();
        (f.latency, f.erroring(Instant::now()))
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if erroring {
        return error_response(&ApiError::internal(
            "fault injected: the API server is failing",
        ));
    }
    // With RBAC, authentication is done by `access::auth_layer` (inside this layer).
    if !shared.cfg.rbac
        && let Some(token) = &shared.cfg.token
    {
        let expected = format!("Bearer {token}");
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str())
            && !matches!(req.uri().path(), "/healthz" | "/livez" | "/readyz")
        {
            return error_response(&ApiError::unauthorized());
        }
    }
    next.run(req).await
}

async fn openapi_root() -> Response {
    json_response(StatusCode::OK, &super::openapi::root())
}

async fn openapi_gv(Path(gv): Path<String>) -> Response {
    match super::openapi::group_version_doc(&gv) {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => error_response(&ApiError::no_route(&format!("/openapi/v3/{gv}"))),
    }
}

async fn ok_text() -> &'static str {
    "ok"
}

async fn version(State(shared): State<Arc<Shared>>) -> Response {
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

async fn api_versions(headers: HeaderMap) -> Response {
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

fn group_json(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

async fn api_groups() -> Response {
    let groups: Vec<Value> = resources::groups()
        .into_iter()
        .map(|(g, v)| group_json(g, v))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

fn resource_list(group: &str, version: &str) -> Value {
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

// ---------------------------------------------------------------------------------------
// Resource paths.

/// A parsed API path.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/api/v1` or `/apis/<g>/<v>`.
    ResourceList(String, String),
    /// `/apis/<g>`.
    Group(String),
    /// A resource path.
    Resource {
        /// Resource.
        res: &'static ResourceDef,
        /// Namespace from the path.
        ns: Option<String>,
        /// Object name.
        name: Option<String>,
        /// Subresource (`status`).
        sub: Option<String>,
        /// Legacy `/watch/` prefix.
        watch: bool,
    },
}

/// Parses a request path into a [`Route`].
pub fn parse_path(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, mut rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g] if resources::groups().iter().any(|(gg, _)| gg == g) => {
            return Some(Route::Group((*g).into()));
        }
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    if resources::in_group_version(group, version).is_empty() {
        return None;
    }
    let mut watch = false;
    if rest.first() == Some(&"watch") {
        watch = true;
        rest = &rest[1..];
    }
    let find = |p: &str| resources::find(group, version, p);
    let route = |res, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| Route::Resource {
        res,
        ns: ns.map(str::to_string),
        name: name.map(str::to_string),
        sub: sub.map(str::to_string),
        watch,
    };
    match rest {
        [] if !watch => Some(Route::ResourceList(group.into(), version.into())),
        ["namespaces", ns, p, tail @ ..] if find(p).is_some_and(|r| r.namespaced) => {
            let res = find(p)?;
            match tail {
                [] => Some(route(res, Some(ns), None, None)),
                [name] => Some(route(res, Some(ns), Some(name), None)),
                [name, sub] => Some(route(res, Some(ns), Some(name), Some(sub))),
                _ => None,
            }
        }
        [p, tail @ ..] => {
            let res = find(p)?;
            match tail {
                [] => Some(route(res, None, None, None)),
                [name] if !res.namespaced => Some(route(res, None, Some(name), None)),
                [name, sub] if !res.namespaced => Some(route(res, None, Some(name), Some(sub))),
                _ => None,
            }
        }
        _ => None,
    }
}

type Params = HashMap<String, String>;

fn truthy(p: &Params, k: &str) -> bool {
    p.get(k).is_some_and(|v| v == "true" || v == "1")
}

fn list_opts(p: &Params) -> Result<ListOpts, ApiError> {
    Ok(ListOpts {
        labels: LabelSelector::parse(p.get("labelSelector").map_or("", String::as_str))
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?,
        fields: FieldSelector::parse(p.get("fieldSelector").map_or("", String::as_str))
            .map_err(ApiError::bad_request)?,
        limit: match p.get("limit") {
            Some(l) => Some(
                l.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
            ),
            None => None,
        },
        continue_token: p.get("continue").cloned(),
        resource_version: p.get("resourceVersion").cloned(),
        resource_version_match: p.get("resourceVersionMatch").cloned(),
    })
}

fn verb_for(method: &Method, named: bool, watch: bool) -> &'static str {
    match (method.as_str(), named, watch) {
        (_, _, true) => "watch",
        ("GET", true, _) => "get",
        ("GET", false, _) => "list",
        ("POST", ..) => "create",
        ("PUT", ..) => "update",
        ("PATCH", ..) => "patch",
        ("DELETE", true, _) => "delete",
        ("DELETE", false, _) => "deletecollection",
        _ => "get",
    }
}

#[derive(Serialize)]
struct ListOut<'a> {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    metadata: Value,
    items: Vec<&'a Value>,
}

fn object_response(code: StatusCode, res: &ResourceDef, o: &Obj, as_table: bool) -> Response {
    if as_table {
        let rv = o["metadata"]["resourceVersion"].clone();
        json_response(
            code,
            &table::table(res, &[o.as_ref()], json!({"resourceVersion": rv})),
        )
    } else {
        json_response(code, o.as_ref())
    }
}

async fn resource_handler(
    State(shared): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Query(params): Query<Params>,
    req: Request,
) -> Response {
    let path = req.uri().path().to_string();
    let Some(route) = parse_path(&path) else {
        return error_response(&ApiError::no_route(&path));
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let user = req.extensions().get::<super::rbac::UserInfo>().cloned();
    let review = matches!(&route, Route::Resource { res, .. } if !res.stored());
    if ct.contains("cbor") {
        return error_response(&ApiError {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!("the emulator accepts JSON, YAML and protobuf bodies (got {ct})"),
            details: None,
        });
    }
    let body = match axum::body::to_bytes(req.into_body(), 64 << 20).await {
        Ok(b) => b,
        Err(e) => return error_response(&ApiError::bad_request(format!("reading body: {e}"))),
    };
    // Protobuf objects (kubectl's imperative generators) become their JSON form; access
    // reviews decode their own body.
    let body = if ct.contains("protobuf") && !review {
        match super::proto::decode(&body) {
            Ok(v) => Bytes::from(v.to_string()),
            Err(e @ super::proto::ProtoError::Unsupported(_)) => {
                return error_response(&ApiError {
                    code: 415,
                    reason: "UnsupportedMediaType",
                    message: e.to_string(),
                    details: None,
                });
            }
            Err(e) => return error_response(&ApiError::bad_request(e.to_string())),
        }
    } else {
        body
    };
    let (res, ns, name, sub, watch_path) = match route {
        Route::ResourceList(g, v) => return json_response(StatusCode::OK, &resource_list(&g, &v)),
        Route::Group(g) => {
            let v = resources::groups()
                .into_iter()
                .find(|(gg, _)| *gg == g)
                .map_or("v1", |(_, v)| v);
            let mut doc = group_json(&g, v);
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            return json_response(StatusCode::OK, &doc);
        }
        Route::Resource {
            res,
            ns,
            name,
            sub,
            watch,
        } => (res, ns, name, sub, watch),
    };
    if !res.stored() {
        return super::access::review(&shared, res, ns.as_deref(), &method, user.as_ref(), &body);
    }
    let watch = watch_path || truthy(&params, "watch");
    let verb = verb_for(&method, name.is_some(), watch);
    if shared.faults().unserved.contains(res.plural) {
        // kube-apiserver's answer for a group/version it does not serve: its mux's plain
        // NotFound page, not a Status object.
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            UNSERVED_BODY,
        )
            .into_response();
    }
    if shared.faults().forbidden.contains(res.plural) {
        return error_response(&ApiError::forbidden(res, verb));
    }
    if let Some(s) = &sub
        && !(s == "status" && res.has_status)
    {
        return error_response(&ApiError::no_route(&path));
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !table::acceptable(accept) {
        return error_response(&ApiError::not_acceptable());
    }
    let as_table = table::wants_table(accept);
    let ns_str = ns.clone().unwrap_or_default();
    let result = match (method.as_str(), name.as_deref(), watch) {
        (_, _, true) if method == Method::GET => {
            let mut p = params.clone();
            if let Some(n) = &name {
                let fs = p.get("fieldSelector").cloned().unwrap_or_default();
                let extra = format!("metadata.name={n}");
                p.insert(
                    "fieldSelector".into(),
                    if fs.is_empty() {
                        extra
                    } else {
                        format!("{fs},{extra}")
                    },
                );
            }
            return watch::start(shared, res, ns, &p, as_table);
        }
        ("GET", None, _) => {
            let mut opts = match list_opts(&params) {
                Ok(o) => o,
                Err(e) => return error_response(&e),
            };
            opts.limit = super::semantics::effective_limit(
                shared.cfg.minor,
                opts.resource_version.as_deref(),
                opts.limit,
            );
            let listed = shared.store().list(res, ns.as_deref(), &opts);
            return match listed {
                Ok(l) => {
                    let mut meta = json!({"resourceVersion": l.resource_version.to_string()});
                    if let Some(c) = &l.continue_token {
                        meta["continue"] = json!(c);
                    }
                    if let Some(r) = l.remaining {
                        meta["remainingItemCount"] = json!(r);
                    }
                    let items: Vec<&Value> = l.items.iter().map(|o| o.as_ref()).collect();
                    if as_table {
                        json_response(StatusCode::OK, &table::table(res, &items, meta))
                    } else {
                        json_response(
                            StatusCode::OK,
                            &ListOut {
                                kind: res.list_kind(),
                                api_version: res.api_version(),
                                metadata: meta,
                                items,
                            },
                        )
                    }
                }
                Err(e) => error_response(&e),
            };
        }
        ("GET", Some(n), _) => shared
            .store()
            .get(res, &ns_str, n)
            .map(|o| (StatusCode::OK, o)),
        ("POST", None, _) => parse_json(&body).and_then(|obj| {
            let ns = if res.namespaced {
                ns.clone()
                    .or_else(|| obj["metadata"]["namespace"].as_str().map(str::to_string))
                    .unwrap_or_else(|| "default".into())
            } else {
                String::new()
            };
            if truthy_dry_run(&params) {
                return Ok((StatusCode::CREATED, std::sync::Arc::new(obj)));
            }
            shared
                .store()
                .create(res, &ns, obj)
                .map(|o| (StatusCode::CREATED, o))
        }),
        ("PUT", Some(n), _) => parse_json(&body).and_then(|obj| {
            let mut st = shared.store();
            let obj = if sub.is_some() {
                with_status_from(&*st.get(res, &ns_str, n)?, &obj)
            } else {
                obj
            };
            st.update(res, &ns_str, n, obj).map(|o| (StatusCode::OK, o))
        }),
        ("PATCH", Some(n), _) => do_patch(&shared, res, &ns_str, n, sub.is_some(), &headers, &body),
        ("DELETE", Some(n), _) => {
            let pre = serde_json::from_slice::<Value>(&body).ok();
            let mut st = shared.store();
            let rv_pre = pre.as_ref().and_then(|p| {
                p["preconditions"]["resourceVersion"]
                    .as_str()
                    .map(str::to_string)
            });
            match st.get(res, &ns_str, n) {
                Ok(cur)
                    if rv_pre.as_deref().is_some_and(|rv| {
                        cur["metadata"]["resourceVersion"].as_str() != Some(rv)
                    }) =>
                {
                    Err(ApiError::conflict(res, n))
                }
                _ => st.delete(res, &ns_str, n).map(|o| (StatusCode::OK, o)),
            }
        }
        ("DELETE", None, _) => {
            let mut opts = match list_opts(&params) {
                Ok(o) => o,
                Err(e) => return error_response(&e),
            };
            opts.limit = super::semantics::effective_limit(
                shared.cfg.minor,
                opts.resource_version.as_deref(),
                opts.limit,
            );
            let deleted = shared.store().delete_collection(res, ns.as_deref(), &opts);
            return match deleted {
                Ok(items) => {
                    let items: Vec<&Value> = items.iter().map(|o| o.as_ref()).collect();
                    let rv = shared.store().resource_version().to_string();
                    json_response(
                        StatusCode::OK,
                        &ListOut {
                            kind: res.list_kind(),
                            api_version: res.api_version(),
                            metadata: json!({"resourceVersion": rv}),
                            items,
                        },
                    )
                }
                Err(e) => error_response(&e),
            };
        }
        (m, _, _) => Err(ApiError::method_not_allowed(m)),
    };
    match result {
        Ok((code, o)) => object_response(code, res, &o, as_table),
        Err(e) => error_response(&e),
    }
}

fn truthy_dry_run(p: &Params) -> bool {
    p.get("dryRun").is_some_and(|v| v == "All")
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(body).or_else(|_| {
        std::str::from_utf8(body)
            .ok()
            .and_then(|t| serde_saphyr::from_str::<Value>(t).ok())
            .ok_or_else(|| ApiError::bad_request("the request body is neither JSON nor YAML"))
    })?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(ApiError::bad_request("the request body is not an object"))
    }
}

/// For `/status` writes: the stored object with only `status` taken from the request.
fn with_status_from(current: &Value, body: &Value) -> Value {
    let mut out = current.clone();
    out["status"] = body.get("status").cloned().unwrap_or(Value::Null);
    if let Some(rv) = body["metadata"].get("resourceVersion") {
        out["metadata"]["resourceVersion"] = rv.clone();
    }
    out
}

fn do_patch(
    shared: &Shared,
    res: &'static ResourceDef,
    ns: &str,
    name: &str,
    status_only: bool,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, Obj), ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let kind = PatchKind::from_content_type(ct)?;
    let patch_doc = patch::parse_body(kind, body)?;
    let mut st = shared.store();
    let current = match st.get(res, ns, name) {
        Ok(c) => c,
        Err(e) if kind == PatchKind::Apply && !status_only => {
            let _ = e;
            let mut obj = patch_doc;
            obj["metadata"]["name"] = json!(name);
            return st.create(res, ns, obj).map(|o| (StatusCode::CREATED, o));
        }
        Err(e) => return Err(e),
    };
    let mut patched = patch::apply(kind, &current, &patch_doc, res.kind)?;
    if status_only {
        patched = with_status_from(&current, &patched);
    }
    // A resourceVersion in the patch is a precondition; otherwise the patch applies to the
    // current version.
    let patched_rv = patched["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_string);
    if patched_rv.as_deref() != current["metadata"]["resourceVersion"].as_str()
        && patched_rv.is_some()
    {
        return Err(ApiError::conflict(res, name));
    }
    if meta_name(&patched) != Some(name) {
        return Err(ApiError::bad_request(
            "a patch may not change metadata.name",
        ));
    }
    st.update(res, ns, name, patched)
        .map(|o| (StatusCode::OK, o))
}

fn meta_name(v: &Value) -> Option<&str> {
    v["metadata"]["name"].as_str()
}

/// Streams a body from a channel of byte chunks.
pub fn channel_body(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let r = |p: &str| parse_path(p);
        assert_eq!(
            r("/api/v1"),
            Some(Route::ResourceList("".into(), "v1".into()))
        );
        assert_eq!(
            r("/apis/discovery.k8s.io"),
            Some(Route::Group("discovery.k8s.io".into()))
        );
        match r("/api/v1/namespaces/kube-system/services/kube-dns") {
            Some(Route::Resource {
                res,
                ns,
                name,
                sub,
                watch,
            }) => {
                assert_eq!(res.plural, "services");
                assert_eq!(ns.as_deref(), Some("kube-system"));
                assert_eq!(name.as_deref(), Some("kube-dns"));
                assert!(sub.is_none() && !watch);
            }
            other => panic!("unexpected {other:?}"),
        }
        match r("/api/v1/namespaces/foo") {
            Some(Route::Resource { res, ns, name, .. }) => {
                assert_eq!(res.plural, "namespaces");
                assert!(ns.is_none());
                assert_eq!(name.as_deref(), Some("foo"));
            }
            other => panic!("unexpected {other:?}"),
        }
        match r("/api/v1/namespaces/foo/status") {
            Some(Route::Resource { res, sub, .. }) => {
                assert_eq!(res.plural, "namespaces");
                assert_eq!(sub.as_deref(), Some("status"));
            }
            other => panic!("unexpected {other:?}"),
        }
        match r("/apis/discovery.k8s.io/v1/watch/endpointslices") {
            Some(Route::Resource {
                res, watch, name, ..
            }) => {
                assert_eq!(res.plural, "endpointslices");
                assert!(watch && name.is_none());
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(r("/api/v1/services/x"), None);
        assert_eq!(r("/api/v1/deployments"), None);
        assert_eq!(r("/apis/apps/v1/deployments"), None);
        assert_eq!(r("/openapi/v2"), None);
    }
}
