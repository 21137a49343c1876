//! The resource handler: verbs on resource paths (get, list, watch, create, update, patch,
//! delete, deletecollection) with their query parameters, body decoding (JSON, YAML,
//! protobuf), `/status` writes, Table output, and the unserved/forbidden faults.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::discovery::{group_json, resource_list};
use super::route::{Route, parse_path};
use crate::patch::{self, PatchKind};
use crate::resources::{self, ResourceDef};
use crate::response::{UNSERVED_BODY, error_response, json_response};
use crate::selector::{FieldSelector, LabelSelector};
use crate::shared::Shared;
use crate::status::ApiError;
use crate::store::{ListOpts, Obj};
use crate::{table, watch};

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

pub(super) async fn resource_handler(
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
    let user = req.extensions().get::<crate::rbac::UserInfo>().cloned();
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
        match crate::proto::decode(&body) {
            Ok(v) => Bytes::from(v.to_string()),
            Err(e @ crate::proto::ProtoError::Unsupported(_)) => {
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
        return crate::access::review(&shared, res, ns.as_deref(), &method, user.as_ref(), &body);
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
            opts.limit = crate::semantics::effective_limit(
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
            opts.limit = crate::semantics::effective_limit(
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
