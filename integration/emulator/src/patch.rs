//! PATCH semantics: JSON merge patch (RFC 7386), JSON patch (RFC 6902), a strategic-merge
//! patch good enough for `kubectl apply` on the served kinds, and server-side apply treated as
//! a merge of the applied configuration (create when absent).
//!
//! Strategic merge: lists listed in [`merge_key`] are merged element-wise by their merge key
//! (e.g. Service `spec.ports` by `port`, Pod containers by `name`), `$patch: delete|replace`
//! and `$deleteFromPrimitiveList/<f>` are honoured, `$setElementOrder/<f>` and `$retainKeys`
//! are accepted and ignored; every other list is replaced, every map merged, `null` deletes.

use serde_json::{Map, Value};

use super::status::ApiError;

/// Which PATCH flavour a request uses, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchKind {
    /// Maps a `Content-Type` header value to a patch kind.
    pub fn from_content_type(ct: &str) -> Result<Self, ApiError> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchKind::Apply),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// Parses a patch body for `kind` (YAML allowed for apply).
pub fn parse_body(kind: PatchKind, body: &[u8]) -> Result<Value, ApiError> {
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request("patch body is not UTF-8"))?;
    match kind {
        PatchKind::Apply => serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}"))),
        _ => serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}"))),
    }
}

/// Applies `patch` of `kind` to `current`, returning the new object.
pub fn apply(
    kind: PatchKind,
    current: &Value,
    patch: &Value,
    obj_kind: &str,
) -> Result<Value, ApiError> {
    let mut doc = current.clone();
    match kind {
        PatchKind::Merge | PatchKind::Apply => json_patch::merge(&mut doc, patch),
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &ops)
                .map_err(|e| ApiError::invalid_patch(format!("the JSON patch failed: {e}")))?;
        }
        PatchKind::Strategic => {
            let mut path = Vec::new();
            strategic_merge(&mut doc, patch, obj_kind, &mut path);
        }
    }
    Ok(doc)
}

impl ApiError {
    /// 422 for a JSON patch whose `test` or path fails.
    pub fn invalid_patch(message: String) -> Self {
        ApiError {
            code: 422,
            reason: "Invalid",
            message,
            details: None,
        }
    }
}

/// The strategic-merge key of the list at `path` in an object of `kind`, if it is merged
/// element-wise (from the `patchMergeKey` tags of the Kubernetes Go types).
pub fn merge_key(kind: &str, path: &[String]) -> Option<&'static str> {
    let last = path.last()?.as_str();
    let parent = path.len().checked_sub(2).map(|i| path[i].as_str());
    match (kind, last) {
        ("Service", "ports") if path.len() == 2 => Some("port"),
        ("Pod", "containers" | "initContainers" | "ephemeralContainers" | "volumes") => {
            Some("name")
        }
        ("Pod", "env" | "imagePullSecrets") => Some("name"),
        ("Pod", "volumeMounts") => Some("mountPath"),
        ("Pod", "ports") if parent.is_some() => Some("containerPort"),
        (_, "conditions") => Some("type"),
        (_, "ownerReferences") if path.len() == 2 => Some("uid"),
        _ => None,
    }
}

fn strategic_merge(doc: &mut Value, patch: &Value, kind: &str, path: &mut Vec<String>) {
    let Some(pmap) = patch.as_object() else {
        *doc = patch.clone();
        return;
    };
    if pmap.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = pmap.clone();
        p.remove("$patch");
        *doc = Value::Object(p);
        return;
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let Some(dmap) = doc.as_object_mut() else {
        return;
    };
    for (key, value) in pmap {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(del)) = (dmap.get_mut(field), value.as_array())
            {
                items.retain(|i| !del.contains(i));
            }
            continue;
        }
        if key.starts_with('$') {
            continue; // $setElementOrder/…, $retainKeys, $patch: ordering/pruning hints.
        }
        if value.is_null() {
            dmap.remove(key);
            continue;
        }
        path.push(key.clone());
        match (value, merge_key(kind, path)) {
            (Value::Array(items), Some(mk)) => {
                let target = dmap
                    .entry(key.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !target.is_array() {
                    *target = Value::Array(Vec::new());
                }
                if let Value::Array(existing) = target {
                    merge_list(existing, items, mk, kind, path);
                }
            }
            (Value::Object(_), _) => {
                let target = dmap.entry(key.clone()).or_insert(Value::Null);
                strategic_merge(target, value, kind, path);
            }
            _ => {
                dmap.insert(key.clone(), strip_directives(value));
            }
        }
        path.pop();
    }
}

fn merge_list(
    existing: &mut Vec<Value>,
    items: &[Value],
    mk: &str,
    kind: &str,
    path: &mut Vec<String>,
) {
    for item in items {
        let Some(key_val) = item.get(mk).cloned() else {
            existing.push(strip_directives(item));
            continue;
        };
        let pos = existing.iter().position(|e| e.get(mk) == Some(&key_val));
        let directive = item.get("$patch").and_then(Value::as_str);
        match (pos, directive) {
            (Some(i), Some("delete")) => {
                existing.remove(i);
            }
            (None, Some("delete")) => {}
            (Some(i), _) => strategic_merge(&mut existing[i], item, kind, path),
            (None, _) => existing.push(strip_directives(item)),
        }
    }
}

/// Removes `$…` directive keys from a value that is inserted verbatim.
fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types() {
        assert_eq!(
            PatchKind::from_content_type("application/merge-patch+json; charset=utf-8"),
            Ok(PatchKind::Merge)
        );
        assert_eq!(
            PatchKind::from_content_type("application/strategic-merge-patch+json"),
            Ok(PatchKind::Strategic)
        );
        assert_eq!(
            PatchKind::from_content_type("text/plain").map_err(|e| e.code),
            Err(415)
        );
    }

    #[test]
    fn merge_and_json_patch() {
        let cur = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": [1, 2]}});
        let out = apply(
            PatchKind::Merge,
            &cur,
            &json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"x": [9]}}),
            "ConfigMap",
        )
        .expect("merge");
        assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        assert_eq!(out["spec"]["x"], json!([9]));
        let out = apply(
            PatchKind::Json,
            &cur,
            &json!([{"op": "replace", "path": "/spec/x/0", "value": 5}]),
            "ConfigMap",
        )
        .expect("json");
        assert_eq!(out["spec"]["x"], json!([5, 2]));
        let err = apply(
            PatchKind::Json,
            &cur,
            &json!([{"op": "test", "path": "/spec/x/0", "value": 7}]),
            "ConfigMap",
        )
        .expect_err("test op fails");
        assert_eq!(err.code, 422);
    }

    #[test]
    fn strategic_merges_service_ports_by_port() {
        let cur = json!({"spec": {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}], "selector": {"app": "x"}}});
        let patch = json!({
            "$setElementOrder/ports": [{"port": 80}, {"port": 82}],
            "spec": {"ports": [{"port": 82, "name": "c"}, {"port": 81, "$patch": "delete"}, {"port": 80, "targetPort": 8080}]},
        });
        let out = apply(PatchKind::Strategic, &cur, &patch, "Service").expect("smp");
        assert_eq!(
            out["spec"]["ports"],
            json!([{"name": "a", "port": 80, "targetPort": 8080}, {"port": 82, "name": "c"}])
        );
        assert_eq!(out["spec"]["selector"], json!({"app": "x"}));
        assert!(out.get("$setElementOrder/ports").is_none());
    }

    #[test]
    fn strategic_replaces_unkeyed_lists_and_handles_directives() {
        let cur = json!({"subsets": [{"addresses": [{"ip": "1.1.1.1"}]}], "metadata": {"finalizers": ["a", "b"]}});
        let patch = json!({"subsets": [{"addresses": [{"ip": "2.2.2.2"}]}], "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}});
        let out = apply(PatchKind::Strategic, &cur, &patch, "Endpoints").expect("smp");
        assert_eq!(out["subsets"], json!([{"addresses": [{"ip": "2.2.2.2"}]}]));
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        let out = apply(
            PatchKind::Strategic,
            &cur,
            &json!({"metadata": {"$patch": "replace", "name": "n"}}),
            "Endpoints",
        )
        .expect("replace");
        assert_eq!(out["metadata"], json!({"name": "n"}));
    }

    #[test]
    fn apply_body_may_be_yaml() {
        let v =
            parse_body(PatchKind::Apply, b"metadata:\n  name: x\ndata:\n  k: v\n").expect("yaml");
        assert_eq!(v["data"]["k"], "v");
        assert!(parse_body(PatchKind::Merge, b"{not json").is_err());
    }
}
