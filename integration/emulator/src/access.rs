//! The HTTP side of authentication and authorization: the middleware that (with
//! `EmulatorConfig::rbac`) authenticates the bearer token (401), applies impersonation
//! headers (403 when not allowed), derives the request attributes the way kube-apiserver's
//! RequestInfo does ([`request_attributes`]) and asks [`rbac::authorize`] (403 with the
//! kube-apiserver message); and the access-review endpoints of `authorization.k8s.io/v1`
//! (`selfsubjectaccessreviews`, `subjectaccessreviews`, `localsubjectaccessreviews`) that
//! `kubectl auth can-i` uses. Without RBAC every review answers allowed (AlwaysAllow).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use k8s_openapi::api::authorization::v1::{SubjectAccessReviewSpec, SubjectAccessReviewStatus};
use serde_json::{Value, json};

use super::rbac::{self, Policy, Request as AuthzRequest, ResourceAttributes, UserInfo};
use super::resources::{self, ResourceDef};
use super::shared::{Shared, lock};
use super::status::ApiError;
use super::{authn, proto};
use crate::paths::ADMIN_PREFIX;
use crate::response::{error_response, json_response};

/// Paths served to everyone, authenticated or not (kube-apiserver's
/// `system:public-info-viewer` also binds `system:unauthenticated`).
pub const PUBLIC_PATHS: &[&str] = &["/healthz", "/livez", "/readyz"];

/// Namespace subresources (`/api/v1/namespaces/<ns>/status`).
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// The authorization attributes of a request, derived from method, path and query alone
/// (kube-apiserver's RequestInfo): `/api/v1/…` and `/apis/<g>/<v>/…` with at least a
/// resource are resource requests, everything else (discovery, `/version`, `/openapi`) is
/// a non-resource request with the lower-case method as verb.
pub fn request_attributes(method: &Method, path: &str, query: Option<&str>) -> AuthzRequest {
    let non_resource = || AuthzRequest::NonResource {
        verb: method.as_str().to_ascii_lowercase(),
        path: path.to_string(),
    };
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() < 3 {
        return non_resource();
    }
    let mut a = ResourceAttributes::default();
    let mut rest: &[&str] = match parts[0] {
        "api" => &parts[1..],
        "apis" if parts.len() >= 4 => {
            a.group = parts[1].to_string();
            &parts[2..]
        }
        _ => return non_resource(),
    };
    a.version = rest[0].to_string();
    rest = &rest[1..];
    let mut special = false;
    if rest.first() == Some(&"watch") && rest.len() >= 2 {
        a.verb = "watch".into();
        rest = &rest[1..];
        special = true;
    } else {
        a.verb = match *method {
            Method::POST => "create",
            Method::GET | Method::HEAD => "get",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            _ => "",
        }
        .into();
    }
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        a.namespace = rest[1].to_string();
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest = &rest[2..];
        }
    }
    a.resource = rest.first().map_or("", |s| *s).to_string();
    a.name = rest.get(1).map_or("", |s| *s).to_string();
    a.subresource = rest.get(2).map_or("", |s| *s).to_string();
    let param = |key: &str| -> Option<String> {
        query?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == key).then(|| percent_decode(v))
        })
    };
    if !special && a.name.is_empty() && a.verb == "get" {
        let watch = param("watch").is_some_and(|v| v == "true" || v == "1");
        a.verb = if watch { "watch" } else { "list" }.into();
    }
    if matches!(a.verb.as_str(), "list" | "watch")
        && a.name.is_empty()
        && let Some(fs) = param("fieldSelector")
    {
        // A list/watch of one object by name is authorized as that name.
        for term in fs.split(',') {
            let (k, v) = term
                .split_once("==")
                .or_else(|| term.split_once('='))
                .unwrap_or(("", ""));
            if k.trim() == "metadata.name" && !v.is_empty() && !v.contains('/') {
                a.name = v.trim().to_string();
            }
        }
    }
    if a.name.is_empty() && a.verb == "delete" {
        a.verb = "deletecollection".into();
    }
    AuthzRequest::Resource(a)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Shared {
    /// The current RBAC snapshot (rebuilt only after an RBAC object changed).
    pub fn policy(&self) -> Arc<Policy> {
        let (generation, objs) = {
            let st = self.store();
            let generation = st.rbac_generation();
            if let Some((g, p)) = lock(&self.policy_cache).as_ref()
                && *g == generation
            {
                return p.clone();
            }
            let mut objs = Vec::new();
            for plural in [
                "clusterroles",
                "roles",
                "clusterrolebindings",
                "rolebindings",
            ] {
                if let Some(res) = resources::by_plural(plural) {
                    objs.extend(st.all(res));
                }
            }
            (generation, objs)
        };
        let (policy, errors) = Policy::from_objects(objs.iter().map(|o| o.as_ref()));
        for e in errors {
            tracing::warn!(error = %e, "RBAC object ignored");
        }
        let policy = Arc::new(policy);
        *lock(&self.policy_cache) = Some((generation, policy.clone()));
        policy
    }

    /// Authorizes `req` for `user` (always allowed without RBAC).
    pub fn authorize(&self, user: &UserInfo, req: &AuthzRequest) -> rbac::Decision {
        if !self.cfg.rbac {
            return rbac::Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        rbac::authorize(&self.policy(), user, req)
    }
}

/// Middleware: authentication, impersonation and authorization (only with RBAC on). The
/// effective user is stored in the request extensions for the review handlers.
pub async fn auth_layer(
    State(shared): State<Arc<Shared>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    if !shared.cfg.rbac || path.starts_with(ADMIN_PREFIX) || PUBLIC_PATHS.contains(&path.as_str()) {
        return next.run(req).await;
    }
    let requester = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(authn::bearer_token)
        .and_then(|t| lock(&shared.tokens).authenticate(t));
    let Some(requester) = requester else {
        return error_response(&ApiError::unauthorized());
    };
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let user = match authn::impersonation(headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Err(e) => return error_response(&ApiError::internal(e)),
        Ok(None) => requester,
        Ok(Some(imp)) => {
            for check in authn::impersonation_checks(&imp) {
                let d = shared.authorize(&requester, &check);
                if !d.allowed {
                    return error_response(&rbac::forbidden_error(&requester, &check, &d.reason));
                }
            }
            authn::impersonated_user(&imp)
        }
    };
    let attrs = request_attributes(req.method(), &path, req.uri().query());
    let d = shared.authorize(&user, &attrs);
    if !d.allowed {
        tracing::debug!(user = %user.name, ?attrs, "RBAC: forbidden");
        return error_response(&rbac::forbidden_error(&user, &attrs, &d.reason));
    }
    req.extensions_mut().insert(user);
    next.run(req).await
}

fn attributes_of(spec: &SubjectAccessReviewSpec) -> Result<AuthzRequest, String> {
    match (&spec.resource_attributes, &spec.non_resource_attributes) {
        (Some(r), None) => {
            let s = |o: &Option<String>| o.clone().unwrap_or_default();
            Ok(AuthzRequest::Resource(ResourceAttributes {
                verb: s(&r.verb),
                group: s(&r.group),
                version: s(&r.version),
                resource: s(&r.resource),
                subresource: s(&r.subresource),
                namespace: s(&r.namespace),
                name: s(&r.name),
            }))
        }
        (None, Some(n)) => Ok(AuthzRequest::NonResource {
            verb: n.verb.clone().unwrap_or_default(),
            path: n.path.clone().unwrap_or_default(),
        }),
        _ => Err("spec: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified".into()),
    }
}

/// `POST` of an access review (`res` is one of the `authorization.k8s.io` review
/// resources): evaluates `spec` for the requester (self review) or for `spec.user` /
/// `spec.groups`, and answers the review with `status` filled in (201).
pub fn review(
    shared: &Shared,
    res: &'static ResourceDef,
    ns: Option<&str>,
    method: &Method,
    requester: Option<&UserInfo>,
    body: &[u8],
) -> Response {
    if *method != Method::POST {
        return error_response(&ApiError::method_not_allowed(method.as_str()));
    }
    let parsed = if body.starts_with(proto::MAGIC) {
        match proto::decode_review(body) {
            Ok(v) => Some(v),
            Err(e) => return error_response(&ApiError::bad_request(e.to_string())),
        }
    } else {
        serde_json::from_slice(body)
            .ok()
            .or_else(|| serde_saphyr::from_str(std::str::from_utf8(body).ok()?).ok())
    };
    let mut obj: Value = match parsed {
        Some(v @ Value::Object(_)) => v,
        _ => {
            return error_response(&ApiError::bad_request(
                "the request body is not a JSON or YAML object",
            ));
        }
    };
    let invalid = |m: String| error_response(&ApiError::invalid(res, "", m));
    let mut spec: SubjectAccessReviewSpec = match serde_json::from_value(obj["spec"].clone()) {
        Ok(s) => s,
        Err(e) => return invalid(format!("spec: {e}")),
    };
    if res.namespaced
        && let Some(ra) = spec.resource_attributes.as_mut()
    {
        let url_ns = ns.unwrap_or_default();
        match ra.namespace.as_deref() {
            None | Some("") => ra.namespace = Some(url_ns.to_string()),
            Some(n) if n == url_ns => {}
            Some(_) => {
                return invalid("spec.resourceAttributes.namespace: Invalid value: must match metadata.namespace".into());
            }
        }
    }
    let attrs = match attributes_of(&spec) {
        Ok(a) => a,
        Err(e) => return invalid(e),
    };
    let subject = if res.kind == "SelfSubjectAccessReview" {
        requester.cloned().unwrap_or_default()
    } else {
        let user = spec.user.clone().unwrap_or_default();
        let groups = spec.groups.clone().unwrap_or_default();
        if user.is_empty() && groups.is_empty() {
            return invalid(
                "spec.user: Invalid value: \"\": at least one of user or group must be specified"
                    .into(),
            );
        }
        UserInfo {
            name: user,
            uid: spec.uid.clone().unwrap_or_default(),
            groups,
        }
    };
    let d = shared.authorize(&subject, &attrs);
    let status = SubjectAccessReviewStatus {
        allowed: d.allowed,
        reason: (!d.reason.is_empty()).then_some(d.reason),
        ..SubjectAccessReviewStatus::default()
    };
    obj["apiVersion"] = json!(res.api_version());
    obj["kind"] = json!(res.kind);
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"]["creationTimestamp"] = Value::Null;
    obj["status"] = serde_json::to_value(status).unwrap_or_else(|_| json!({"allowed": d.allowed}));
    json_response(StatusCode::CREATED, &obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(m: Method, p: &str, q: Option<&str>) -> ResourceAttributes {
        match request_attributes(&m, p, q) {
            AuthzRequest::Resource(a) => a,
            other => panic!("{p}: {other:?}"),
        }
    }

    #[test]
    fn request_info_like_kube_apiserver() {
        let a = attrs(
            Method::GET,
            "/api/v1/services",
            Some("watch=true&resourceVersion=5"),
        );
        assert_eq!(
            (a.verb.as_str(), a.resource.as_str(), a.namespace.as_str()),
            ("watch", "services", "")
        );
        let a = attrs(Method::GET, "/api/v1/services", Some("limit=1"));
        assert_eq!(a.verb, "list");
        let a = attrs(
            Method::GET,
            "/apis/discovery.k8s.io/v1/watch/namespaces/d/endpointslices",
            None,
        );
        assert_eq!(
            (
                a.verb.as_str(),
                a.group.as_str(),
                a.namespace.as_str(),
                a.resource.as_str()
            ),
            ("watch", "discovery.k8s.io", "d", "endpointslices")
        );
        let a = attrs(Method::PUT, "/api/v1/namespaces/d/pods/p/status", None);
        assert_eq!(
            (
                a.verb.as_str(),
                a.resource.as_str(),
                a.name.as_str(),
                a.subresource.as_str()
            ),
            ("update", "pods", "p", "status")
        );
        let a = attrs(Method::GET, "/api/v1/namespaces/kube-system", None);
        assert_eq!(
            (
                a.verb.as_str(),
                a.resource.as_str(),
                a.name.as_str(),
                a.namespace.as_str()
            ),
            ("get", "namespaces", "kube-system", "kube-system")
        );
        let a = attrs(Method::DELETE, "/api/v1/namespaces/d/configmaps", None);
        assert_eq!(a.verb, "deletecollection");
        let a = attrs(
            Method::GET,
            "/api/v1/namespaces/kube-system/configmaps",
            Some("fieldSelector=metadata.name%3Dkube-dns&watch=1"),
        );
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("watch", "kube-dns"));
        let a = attrs(
            Method::POST,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            None,
        );
        assert_eq!(
            (a.verb.as_str(), a.group.as_str()),
            ("create", "authorization.k8s.io")
        );
        for p in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/rbac.authorization.k8s.io",
            "/apis/rbac.authorization.k8s.io/v1",
            "/version",
            "/openapi/v3/api/v1",
        ] {
            assert_eq!(
                request_attributes(&Method::GET, p, None),
                AuthzRequest::NonResource {
                    verb: "get".into(),
                    path: p.into()
                },
                "{p}"
            );
        }
        assert_eq!(percent_decode("a%3Db+c%2"), "a=b c%2");
    }
}
