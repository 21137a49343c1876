//! A minimal OpenAPI v3 surface so kubectl's client works unchanged: `/openapi/v3` lists
//! one document per group/version, and each document declares, for every served kind, a
//! PATCH operation tagged with `x-kubernetes-group-version-kind` and the `fieldValidation`
//! query parameter. kubectl then delegates validation to the server (which accepts the
//! objects it serves) instead of downloading the protobuf OpenAPI v2 schema, and
//! `kubectl apply` computes strategic-merge patches from its built-in types. No schemas
//! are published. `/openapi/v2` stays 404.

use serde_json::{Map, Value, json};

use super::resources::{self, ResourceDef};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The `/openapi/v3` root document.
pub fn root() -> Value {
    let mut paths = Map::new();
    let mut gvs = vec![("", "v1")];
    gvs.extend(resources::groups());
    for (g, v) in gvs {
        let p = gv_path(g, v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=kube-dns-rs-emulator")}),
        );
    }
    json!({"paths": paths})
}

fn patch_op(r: &ResourceDef) -> Value {
    json!({
        "patch": {
            "operationId": format!("patch{}", r.kind),
            "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
            "x-kubernetes-action": "patch",
            "parameters": [
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {"200": {"description": "OK"}},
        }
    })
}

/// The document of one group/version (`api/v1`, `apis/discovery.k8s.io/v1`), if served.
pub fn group_version_doc(path: &str) -> Option<Value> {
    let (group, version) = match path
        .trim_matches('/')
        .split('/')
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["api", v] => ("", (*v).to_string()),
        ["apis", g, v] => (*g, (*v).to_string()),
        _ => return None,
    };
    let rs = resources::in_group_version(group, &version);
    if rs.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    for r in rs.into_iter().filter(|r| r.stored()) {
        let base = format!("/{}", gv_path(group, &version));
        let p = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{base}/{}/{{name}}", r.plural)
        };
        paths.insert(p, patch_op(r));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{}.0", crate::paths::EMULATED_MINOR)},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        let r = root();
        assert!(
            r["paths"]["api/v1"]["serverRelativeURL"]
                .as_str()
                .is_some_and(|u| u.starts_with("/openapi/v3/api/v1"))
        );
        assert!(r["paths"]["apis/discovery.k8s.io/v1"].is_object());
        let d = group_version_doc("apis/discovery.k8s.io/v1").expect("doc");
        let op = &d["paths"]["/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{name}"]
            ["patch"];
        assert_eq!(
            op["x-kubernetes-group-version-kind"]["kind"],
            "EndpointSlice"
        );
        let core = group_version_doc("api/v1").expect("core");
        assert!(core["paths"]["/api/v1/namespaces/{name}"].is_object());
        assert!(group_version_doc("apis/apps/v1").is_none());
    }
}
