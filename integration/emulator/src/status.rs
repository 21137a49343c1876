//! API errors and their wire form: every failure the emulator returns is a `metav1.Status`
//! object with the HTTP code and `reason` kube-apiserver uses for the same situation.

use serde_json::{Value, json};

use super::resources::ResourceDef;

/// An API error, rendered as a `Status` object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code (also `Status.code`).
    pub code: u16,
    /// `Status.reason` (`NotFound`, `AlreadyExists`, `Conflict`, `Expired`, …).
    pub reason: &'static str,
    /// Human readable message.
    pub message: String,
    /// `Status.details` (name, group, kind), if any.
    pub details: Option<Value>,
}

fn details(res: &ResourceDef, name: &str) -> Option<Value> {
    Some(json!({"name": name, "group": res.group, "kind": res.plural}))
}

impl ApiError {
    /// 404 NotFound for one object.
    pub fn not_found(res: &ResourceDef, name: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{} \"{}\" not found", res.qualified(), name),
            details: details(res, name),
        }
    }

    /// 404 NotFound for a URL the emulator does not serve.
    pub fn no_route(path: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("the server could not find the requested resource ({path})"),
            details: None,
        }
    }

    /// 409 AlreadyExists on create.
    pub fn already_exists(res: &ResourceDef, name: &str) -> Self {
        ApiError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} \"{}\" already exists", res.qualified(), name),
            details: details(res, name),
        }
    }

    /// 409 Conflict on a stale resourceVersion.
    pub fn conflict(res: &ResourceDef, name: &str) -> Self {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                res.qualified(),
                name
            ),
            details: details(res, name),
        }
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            details: None,
        }
    }

    /// 422 Invalid (a field value is not acceptable).
    pub fn invalid(res: &ResourceDef, name: &str, message: impl Into<String>) -> Self {
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{} \"{}\" is invalid: {}", res.kind, name, message.into()),
            details: details(res, name),
        }
    }

    /// 422 for `sendInitialEvents` on a server without the WatchList feature (list-options
    /// validation: `ListOptions.meta.k8s.io` invalid, field `sendInitialEvents` forbidden).
    pub fn watch_list_disabled() -> Self {
        ApiError {
            code: 422,
            reason: "Invalid",
            message: "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: \
                      sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"
                .into(),
            details: Some(json!({"group": "meta.k8s.io", "kind": "ListOptions",
                "causes": [{"reason": "FieldValueForbidden",
                    "message": "Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
                    "field": "sendInitialEvents"}]})),
        }
    }

    /// 406 for an `Accept` header naming no representation the server has.
    pub fn not_acceptable() -> Self {
        ApiError {
            code: 406,
            reason: "NotAcceptable",
            message: "406: Not Acceptable\n\nAvailable representations: application/json, \
                      application/yaml, application/vnd.kubernetes.protobuf, \
                      application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch"
                .into(),
            details: None,
        }
    }

    /// 422 for a watch-list without `resourceVersionMatch=NotOlderThan` (list-options
    /// validation, as kube-apiserver words it).
    pub fn watch_list_needs_not_older_than() -> Self {
        let msg = "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan";
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!(
                "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: {msg}"
            ),
            details: Some(json!({"group": "meta.k8s.io", "kind": "ListOptions",
                "causes": [{"reason": "FieldValueForbidden",
                    "message": format!("Forbidden: {msg}"),
                    "field": "resourceVersionMatch"}]})),
        }
    }

    /// 410 Gone / Expired: the requested resourceVersion is older than the event history.
    pub fn expired(message: impl Into<String>) -> Self {
        ApiError {
            code: 410,
            reason: "Expired",
            message: message.into(),
            details: None,
        }
    }

    /// 504 Timeout for a resourceVersion newer than the store (kube-apiserver's
    /// "Too large resource version").
    pub fn too_large_rv(requested: u64, current: u64) -> Self {
        ApiError {
            code: 504,
            reason: "Timeout",
            message: format!(
                "Timeout: Too large resource version: {requested}, current: {current}"
            ),
            details: Some(json!({"causes": [{"reason": "ResourceVersionTooLarge",
                "message": "Too large resource version"}], "retryAfterSeconds": 1})),
        }
    }

    /// 403 Forbidden (RBAC simulation).
    pub fn forbidden(res: &ResourceDef, verb: &str) -> Self {
        ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!(
                "{} is forbidden: User \"system:serviceaccount:kube-system:kube-dns\" cannot {} \
                 resource \"{}\" in API group \"{}\" at the cluster scope",
                res.qualified(),
                verb,
                res.plural,
                res.group
            ),
            details: Some(json!({"group": res.group, "kind": res.plural})),
        }
    }

    /// 401 Unauthorized (missing or wrong bearer token).
    pub fn unauthorized() -> Self {
        ApiError {
            code: 401,
            reason: "Unauthorized",
            message: "Unauthorized".into(),
            details: None,
        }
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(method: &str) -> Self {
        ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!(
                "the server does not allow this method on the requested resource ({method})"
            ),
            details: None,
        }
    }

    /// 415 UnsupportedMediaType (unknown PATCH content type).
    pub fn unsupported_media_type(ct: &str) -> Self {
        ApiError {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"
            ),
            details: None,
        }
    }

    /// 500 InternalError (fault injection).
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            code: 500,
            reason: "InternalError",
            message: message.into(),
            details: None,
        }
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

/// A `Status` object reporting success (used by DELETE of a namespace-less collection).
pub fn success_status() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 200})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_plural;

    #[test]
    fn status_shape() {
        let svc = by_plural("services").expect("services");
        let s = ApiError::not_found(svc, "x").to_status();
        assert_eq!(s["kind"], "Status");
        assert_eq!(s["code"], 404);
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["details"]["name"], "x");
        let e = ApiError::expired("too old").to_status();
        assert_eq!(e["code"], 410);
        assert_eq!(e["reason"], "Expired");
    }
}
