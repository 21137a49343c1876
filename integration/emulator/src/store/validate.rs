//! Object checks shared by the write verbs: name syntax (DNS-1123 subdomains, RBAC path
//! segments), a body's `apiVersion`/`kind` against the URL's resource, the resource an
//! object names, and the spec part whose change bumps `generation`.

use serde_json::Value;

use super::super::resources::{self, ResourceDef};
use super::super::status::ApiError;

fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// RBAC objects only need a valid path segment name (`system:kube-dns`); everything else
/// a DNS-1123 subdomain.
pub(super) fn valid_name(res: &ResourceDef, name: &str) -> bool {
    if res.group == resources::RBAC_GROUP {
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%'])
    } else {
        is_dns1123_subdomain(name)
    }
}

/// Everything but `metadata` and `status` (changes there do not bump `generation`).
pub(super) fn strip_meta_status(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

/// Resource of an object from its `apiVersion` and `kind`.
pub fn res_of(obj: &Value) -> Result<&'static ResourceDef, ApiError> {
    let av = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    resources::by_kind(av, kind).ok_or_else(|| {
        ApiError::bad_request(format!(
            "no resource served for apiVersion {av:?} kind {kind:?}"
        ))
    })
}

/// A body must be a JSON object whose `apiVersion`/`kind`, when given, name the URL's
/// resource.
pub(super) fn check_type(res: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the request body is not a JSON object",
        ));
    }
    let kind_ok = obj["kind"]
        .as_str()
        .is_none_or(|k| k.is_empty() || k == res.kind);
    let av_ok = obj["apiVersion"]
        .as_str()
        .is_none_or(|a| a.is_empty() || a == res.api_version());
    if kind_ok && av_ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({}) or kind {} is not {}",
            obj["apiVersion"],
            res.api_version(),
            obj["kind"],
            res.kind
        )))
    }
}
