//! Write-time validation of RBAC objects: what kube-apiserver answers 422 Invalid for.

use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject};
use serde_json::Value;

use super::field;

/// Write-time validation of RBAC objects (what kube-apiserver answers 422 Invalid for):
/// rules need verbs, Roles may not name non-resource URLs, bindings need a roleRef of a
/// supported kind and subjects of kind User, Group or ServiceAccount (the latter with a
/// namespace in ClusterRoleBindings). Returns the field error message.
pub fn validate(kind: &str, obj: &Value) -> Result<(), String> {
    match kind {
        "ClusterRole" | "Role" => {
            let rules = field::<Vec<PolicyRule>>(obj, "rules")?.unwrap_or_default();
            for (i, r) in rules.iter().enumerate() {
                if r.verbs.is_empty() {
                    return Err(format!(
                        "rules[{i}].verbs: Required value: verbs must contain at least one value"
                    ));
                }
                if kind == "Role" && r.non_resource_urls.as_ref().is_some_and(|u| !u.is_empty()) {
                    return Err(format!(
                        "rules[{i}].nonResourceURLs: Invalid value: namespaced rules cannot apply to non-resource URLs"
                    ));
                }
                if r.resources.iter().flatten().next().is_some()
                    && r.api_groups.iter().flatten().next().is_none()
                {
                    return Err(format!(
                        "rules[{i}].apiGroups: Required value: resource rules must supply at least one api group"
                    ));
                }
            }
            Ok(())
        }
        "ClusterRoleBinding" | "RoleBinding" => {
            let rr: RoleRef =
                field(obj, "roleRef")?.ok_or("roleRef: Required value: roleRef is required")?;
            let kinds: &[&str] = if kind == "RoleBinding" {
                &["ClusterRole", "Role"]
            } else {
                &["ClusterRole"]
            };
            if !kinds.contains(&rr.kind.as_str()) {
                return Err(format!(
                    "roleRef.kind: Unsupported value: {:?}: supported values: {}",
                    rr.kind,
                    kinds
                        .iter()
                        .map(|k| format!("{k:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if rr.name.is_empty() {
                return Err("roleRef.name: Required value".into());
            }
            let subjects: Vec<Subject> = field(obj, "subjects")?.unwrap_or_default();
            for (i, s) in subjects.iter().enumerate() {
                match s.kind.as_str() {
                    "User" | "Group" => {}
                    "ServiceAccount" => {
                        if kind == "ClusterRoleBinding"
                            && s.namespace.as_deref().is_none_or(str::is_empty)
                        {
                            return Err(format!("subjects[{i}].namespace: Required value"));
                        }
                    }
                    k => {
                        return Err(format!(
                            "subjects[{i}].kind: Unsupported value: {k:?}: supported values: \"ServiceAccount\", \"User\", \"Group\""
                        ));
                    }
                }
                if s.name.is_empty() {
                    return Err(format!("subjects[{i}].name: Required value"));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
