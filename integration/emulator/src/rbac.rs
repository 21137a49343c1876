//! The RBAC authorizer as plain functions: users, request attributes, a [`Policy`] snapshot
//! of the stored ClusterRoles, Roles and their bindings, and [`authorize`] (rules ×
//! attributes → allow/deny with kube-apiserver's reasons). Also the exact 403 `Status`
//! kube-apiserver returns ([`forbidden_error`]) and write-time validation of RBAC objects.
//! No IO: the HTTP layer ([`super::access`]) builds the attributes and the snapshot.
//!
//! Matching follows the RBAC authorizer: verbs (`*`), apiGroups (`*`), resources (`*`,
//! `resource/subresource`, `*/subresource`), resourceNames (a rule naming objects never
//! matches a request without a name), nonResourceURLs (`*` and trailing-`*` prefixes, only
//! from ClusterRoles bound cluster-wide). RoleBindings apply only to requests in their own
//! namespace. `system:masters` bypasses RBAC. Authenticated users always get the built-in
//! discovery / self-review rules (kube-apiserver's `system:discovery`, `system:basic-user`
//! and `system:public-info-viewer` bootstrap roles).

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{AggregationRule, PolicyRule, RoleRef, Subject};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::resources::RBAC_GROUP;
use super::status::ApiError;

/// Group whose members bypass authorization.
pub const SYSTEM_MASTERS: &str = "system:masters";
/// Group every authenticated user is in.
pub const AUTHENTICATED: &str = "system:authenticated";
/// Group of every service account.
pub const SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
/// Username prefix of service accounts (`system:serviceaccount:<ns>:<name>`).
pub const SA_PREFIX: &str = "system:serviceaccount:";

/// An authenticated (or impersonated) user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// Username.
    pub name: String,
    /// UID (informational).
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
}

impl UserInfo {
    /// A user with these groups (nothing added).
    pub fn new(name: impl Into<String>, groups: &[&str]) -> Self {
        UserInfo {
            name: name.into(),
            uid: String::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    /// The service account `ns/name` as its token authenticates it: username
    /// `system:serviceaccount:<ns>:<name>`, groups `system:serviceaccounts`,
    /// `system:serviceaccounts:<ns>`, `system:authenticated`.
    pub fn service_account(ns: &str, name: &str) -> Self {
        let mut groups = service_account_groups(ns);
        groups.push(AUTHENTICATED.into());
        UserInfo {
            name: service_account_username(ns, name),
            uid: String::new(),
            groups,
        }
    }

    /// Adds `system:authenticated` unless present.
    pub fn authenticated(mut self) -> Self {
        if !self.in_group(AUTHENTICATED) {
            self.groups.push(AUTHENTICATED.into());
        }
        self
    }

    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// `system:serviceaccount:<ns>:<name>`.
pub fn service_account_username(ns: &str, name: &str) -> String {
    format!("{SA_PREFIX}{ns}:{name}")
}

/// The groups of a service account in `ns` (without `system:authenticated`).
pub fn service_account_groups(ns: &str) -> Vec<String> {
    vec![SERVICE_ACCOUNTS.into(), format!("{SERVICE_ACCOUNTS}:{ns}")]
}

/// `(namespace, name)` of a service-account username.
pub fn split_service_account(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix(SA_PREFIX)?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// Attributes of a request on an API resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceAttributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`,
    /// `impersonate`, …
    pub verb: String,
    /// API group (empty = core).
    pub group: String,
    /// API version (informational).
    pub version: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource (`status`), empty if none.
    pub subresource: String,
    /// Namespace, empty for cluster-scoped requests and all-namespace lists.
    pub namespace: String,
    /// Object name, empty if none.
    pub name: String,
}

/// What is being authorized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A resource request.
    Resource(ResourceAttributes),
    /// A request for a path outside the resource tree (`/version`, `/apis`, `/healthz`).
    NonResource {
        /// Lower-case HTTP method (`get`, `post`, …).
        verb: String,
        /// URL path.
        path: String,
    },
}

impl Request {
    /// The verb.
    pub fn verb(&self) -> &str {
        match self {
            Request::Resource(a) => &a.verb,
            Request::NonResource { verb, .. } => verb,
        }
    }
}

/// A ClusterRoleBinding (`namespace` empty) or RoleBinding.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// Namespace of a RoleBinding; empty for a ClusterRoleBinding.
    pub namespace: String,
    /// Binding name.
    pub name: String,
    /// Role granted.
    pub role_ref: RoleRef,
    /// Who gets it.
    pub subjects: Vec<Subject>,
}

/// A snapshot of the RBAC objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// ClusterRole name → rules (aggregation already applied).
    pub cluster_roles: BTreeMap<String, Vec<PolicyRule>>,
    /// (namespace, Role name) → rules.
    pub roles: BTreeMap<(String, String), Vec<PolicyRule>>,
    /// ClusterRoleBindings and RoleBindings.
    pub bindings: Vec<Binding>,
}

/// An authorization decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allowed.
    pub allowed: bool,
    /// kube-apiserver's reason (`RBAC: allowed by …`; empty or `RBAC: …not found` on deny).
    pub reason: String,
}

fn field<T: DeserializeOwned>(obj: &Value, key: &str) -> Result<Option<T>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| format!("{key}: {e}")),
    }
}

fn name_of(obj: &Value) -> (String, String) {
    let s = |k: &str| obj["metadata"][k].as_str().unwrap_or("").to_string();
    (s("namespace"), s("name"))
}

impl Policy {
    /// Builds a snapshot from stored objects of the four RBAC kinds (other kinds are
    /// ignored). Objects that do not parse are skipped and described in the second value.
    pub fn from_objects<'a>(objs: impl IntoIterator<Item = &'a Value>) -> (Policy, Vec<String>) {
        let mut p = Policy::default();
        let mut errors = Vec::new();
        let mut aggregated: Vec<(String, AggregationRule)> = Vec::new();
        let mut labels: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for o in objs {
            let (ns, name) = name_of(o);
            let kind = o["kind"].as_str().unwrap_or("");
            let r: Result<(), String> = (|| {
                match kind {
                    "ClusterRole" => {
                        let rules = field::<Vec<PolicyRule>>(o, "rules")?.unwrap_or_default();
                        if let Some(a) = field::<AggregationRule>(o, "aggregationRule")? {
                            aggregated.push((name.clone(), a));
                        }
                        labels.insert(
                            name.clone(),
                            field(&o["metadata"], "labels")?.unwrap_or_default(),
                        );
                        p.cluster_roles.insert(name.clone(), rules);
                    }
                    "Role" => {
                        let rules = field::<Vec<PolicyRule>>(o, "rules")?.unwrap_or_default();
                        p.roles.insert((ns.clone(), name.clone()), rules);
                    }
                    "ClusterRoleBinding" | "RoleBinding" => p.bindings.push(Binding {
                        namespace: if kind == "RoleBinding" {
                            ns.clone()
                        } else {
                            String::new()
                        },
                        name: name.clone(),
                        role_ref: field(o, "roleRef")?.ok_or("roleRef: missing")?,
                        subjects: field(o, "subjects")?.unwrap_or_default(),
                    }),
                    _ => {}
                }
                Ok(())
            })();
            if let Err(e) = r {
                errors.push(format!("{kind} {ns}/{name}: {e}"));
            }
        }
        // Aggregation (what kube-controller-manager's clusterrole-aggregation controller
        // writes into the aggregated role): the union of the rules of every ClusterRole
        // whose labels match one of the selectors.
        for (name, rule) in aggregated {
            let mut rules = Vec::new();
            for sel in rule.cluster_role_selectors.iter().flatten() {
                for (other, l) in &labels {
                    if *other != name
                        && selector_matches(sel, l)
                        && let Some(r) = p.cluster_roles.get(other)
                    {
                        rules.extend(r.iter().cloned());
                    }
                }
            }
            if let Some(own) = p.cluster_roles.get_mut(&name) {
                for r in rules {
                    if !own.contains(&r) {
                        own.push(r);
                    }
                }
            }
        }
        (p, errors)
    }
}

fn selector_matches(
    sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    labels: &BTreeMap<String, String>,
) -> bool {
    let ml = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let me = sel.match_expressions.iter().flatten().all(|e| {
        let vals = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| vals.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !vals.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            _ => false,
        }
    });
    ml && me
}

fn has(list: &Option<Vec<String>>, want: &str) -> bool {
    list.iter().flatten().any(|x| x == "*" || x == want)
}

/// Whether one rule allows the request.
pub fn rule_allows(rule: &PolicyRule, req: &Request) -> bool {
    if !rule.verbs.iter().any(|v| v == "*" || v == req.verb()) {
        return false;
    }
    match req {
        Request::Resource(a) => {
            let combined = if a.subresource.is_empty() {
                a.resource.clone()
            } else {
                format!("{}/{}", a.resource, a.subresource)
            };
            let resource_ok = rule.resources.iter().flatten().any(|r| {
                r == "*"
                    || *r == combined
                    || (!a.subresource.is_empty()
                        && r.strip_prefix("*/") == Some(a.subresource.as_str()))
            });
            let names_ok = match rule.resource_names.as_deref() {
                None | Some([]) => true,
                Some(names) => !a.name.is_empty() && names.contains(&a.name),
            };
            has(&rule.api_groups, &a.group) && resource_ok && names_ok
        }
        Request::NonResource { path, .. } => rule.non_resource_urls.iter().flatten().any(|u| {
            u == "*"
                || u == path
                || u.strip_suffix('*')
                    .is_some_and(|prefix| path.starts_with(prefix))
        }),
    }
}

fn subject_applies(s: &Subject, user: &UserInfo, binding_ns: &str) -> bool {
    match s.kind.as_str() {
        "User" => s.name == user.name,
        "Group" => user.in_group(&s.name),
        "ServiceAccount" => {
            let ns = s.namespace.as_deref().filter(|n| !n.is_empty());
            service_account_username(ns.unwrap_or(binding_ns), &s.name) == user.name
        }
        _ => false,
    }
}

fn describe_subject(s: &Subject, binding_ns: &str) -> String {
    match s.kind.as_str() {
        "ServiceAccount" => {
            let ns = s.namespace.as_deref().filter(|n| !n.is_empty());
            format!("ServiceAccount \"{}/{}\"", s.name, ns.unwrap_or(binding_ns))
        }
        k => format!("{k} \"{}\"", s.name),
    }
}

/// The rules every authenticated user has (kube-apiserver's bootstrap `system:discovery`,
/// `system:basic-user` and `system:public-info-viewer` roles): discovery, OpenAPI,
/// version and health paths, and creating self access/rules reviews.
pub fn builtin_rules() -> Vec<PolicyRule> {
    let s = |v: &[&str]| Some(v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    vec![
        PolicyRule {
            non_resource_urls: s(&[
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/openapi",
                "/openapi/*",
                "/version",
                "/version/",
                "/healthz",
                "/livez",
                "/readyz",
            ]),
            verbs: vec!["get".into()],
            ..PolicyRule::default()
        },
        PolicyRule {
            api_groups: s(&["authorization.k8s.io"]),
            resources: s(&["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            verbs: vec!["create".into()],
            ..PolicyRule::default()
        },
        PolicyRule {
            api_groups: s(&["authentication.k8s.io"]),
            resources: s(&["selfsubjectreviews"]),
            verbs: vec!["create".into()],
            ..PolicyRule::default()
        },
    ]
}

/// Authorizes `req` for `user` against `policy`.
pub fn authorize(policy: &Policy, user: &UserInfo, req: &Request) -> Decision {
    if user.in_group(SYSTEM_MASTERS) {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let mut errors: Vec<String> = Vec::new();
    for b in &policy.bindings {
        let role_binding = !b.namespace.is_empty();
        if role_binding {
            match req {
                Request::Resource(a) if a.namespace == b.namespace => {}
                _ => continue,
            }
        }
        let Some(subject) = b
            .subjects
            .iter()
            .find(|s| subject_applies(s, user, &b.namespace))
        else {
            continue;
        };
        let rules = match b.role_ref.kind.as_str() {
            "ClusterRole" => policy.cluster_roles.get(&b.role_ref.name),
            "Role" if role_binding => policy
                .roles
                .get(&(b.namespace.clone(), b.role_ref.name.clone())),
            _ => None,
        };
        let Some(rules) = rules else {
            errors.push(format!(
                "{}.{RBAC_GROUP} \"{}\" not found",
                b.role_ref.kind.to_ascii_lowercase(),
                b.role_ref.name
            ));
            continue;
        };
        if rules.iter().any(|r| rule_allows(r, req)) {
            let binding = if role_binding {
                format!("RoleBinding \"{}/{}\"", b.name, b.namespace)
            } else {
                format!("ClusterRoleBinding \"{}\"", b.name)
            };
            return Decision {
                allowed: true,
                reason: format!(
                    "RBAC: allowed by {binding} of {} \"{}\" to {}",
                    b.role_ref.kind,
                    b.role_ref.name,
                    describe_subject(subject, &b.namespace)
                ),
            };
        }
    }
    if user.in_group(AUTHENTICATED) && builtin_rules().iter().any(|r| rule_allows(r, req)) {
        return Decision {
            allowed: true,
            reason: format!(
                "RBAC: allowed by built-in discovery rules to Group \"{AUTHENTICATED}\""
            ),
        };
    }
    Decision {
        allowed: false,
        reason: match errors.as_slice() {
            [] => String::new(),
            [one] => format!("RBAC: {one}"),
            many => format!("RBAC: [{}]", many.join(", ")),
        },
    }
}

/// kube-apiserver's forbidden message (`User "u" cannot list resource "x" in API group "g"
/// at the cluster scope` / `in the namespace "n"` / `cannot get path "/p"`).
pub fn forbidden_message(user: &UserInfo, req: &Request) -> String {
    match req {
        Request::NonResource { verb, path } => {
            format!("User {:?} cannot {verb} path {path:?}", user.name)
        }
        Request::Resource(a) => {
            let resource = if a.subresource.is_empty() {
                a.resource.clone()
            } else {
                format!("{}/{}", a.resource, a.subresource)
            };
            let scope = if a.namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace {:?}", a.namespace)
            };
            format!(
                "User {:?} cannot {} resource {resource:?} in API group {:?} {scope}",
                user.name, a.verb, a.group
            )
        }
    }
}

/// The 403 Forbidden `Status` kube-apiserver returns for a denied request.
pub fn forbidden_error(user: &UserInfo, req: &Request, reason: &str) -> ApiError {
    let msg = forbidden_message(user, req);
    let (mut message, details) = match req {
        Request::NonResource { .. } => (format!("forbidden: {msg}"), json!({})),
        Request::Resource(a) => {
            let qualified = if a.group.is_empty() {
                a.resource.clone()
            } else {
                format!("{}.{}", a.resource, a.group)
            };
            let head = if a.name.is_empty() {
                qualified
            } else {
                format!("{qualified} {:?}", a.name)
            };
            let mut d = json!({"group": a.group, "kind": a.resource});
            if !a.name.is_empty() {
                d["name"] = json!(a.name);
            }
            (format!("{head} is forbidden: {msg}"), d)
        }
    };
    if !reason.is_empty() {
        message = format!("{message}: {reason}");
    }
    ApiError {
        code: 403,
        reason: "Forbidden",
        message,
        details: Some(details),
    }
}

mod validate;
pub use validate::validate;

#[cfg(test)]
mod tests;
