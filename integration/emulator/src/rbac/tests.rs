//! Unit tests of the pure RBAC authorizer.

use serde_json::json;

use super::*;

fn res(verb: &str, group: &str, resource: &str, ns: &str, name: &str) -> Request {
    Request::Resource(ResourceAttributes {
        verb: verb.into(),
        group: group.into(),
        version: "v1".into(),
        resource: resource.into(),
        namespace: ns.into(),
        name: name.into(),
        ..ResourceAttributes::default()
    })
}

fn kube_dns_policy() -> Policy {
    let objs = [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "system:kube-dns"},
            "rules": [{"apiGroups": [""], "resources": ["endpoints", "services"], "verbs": ["list", "watch"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:kube-dns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:kube-dns"},
            "subjects": [{"kind": "ServiceAccount", "name": "kube-dns", "namespace": "kube-system"}]}),
    ];
    let (p, errors) = Policy::from_objects(objs.iter());
    assert!(errors.is_empty(), "{errors:?}");
    p
}

fn kube_dns() -> UserInfo {
    UserInfo::service_account("kube-system", "kube-dns")
}

#[test]
fn service_account_identity() {
    let u = kube_dns();
    assert_eq!(u.name, "system:serviceaccount:kube-system:kube-dns");
    assert_eq!(
        u.groups,
        [
            "system:serviceaccounts",
            "system:serviceaccounts:kube-system",
            "system:authenticated"
        ]
    );
    assert_eq!(
        split_service_account(&u.name),
        Some(("kube-system", "kube-dns"))
    );
    assert_eq!(split_service_account("system:serviceaccount:ns"), None);
    assert_eq!(split_service_account("alice"), None);
}

#[test]
fn kube_dns_role_grants_exactly_list_watch_on_services_and_endpoints() {
    let p = kube_dns_policy();
    let u = kube_dns();
    let allow = |r: Request| authorize(&p, &u, &r).allowed;
    assert!(allow(res("list", "", "services", "", "")));
    assert!(allow(res("watch", "", "endpoints", "", "")));
    assert!(allow(res("list", "", "services", "default", "")));
    assert!(!allow(res("get", "", "secrets", "default", "")));
    assert!(!allow(res("create", "", "services", "default", "")));
    assert!(!allow(res("delete", "", "pods", "default", "x")));
    assert!(!allow(res(
        "list",
        "discovery.k8s.io",
        "endpointslices",
        "",
        ""
    )));
    let d = authorize(&p, &u, &res("list", "", "services", "", ""));
    assert_eq!(
        d.reason,
        "RBAC: allowed by ClusterRoleBinding \"system:kube-dns\" of ClusterRole \"system:kube-dns\" to ServiceAccount \"kube-dns/kube-system\""
    );
    // Another service account gets nothing from the binding.
    let other = UserInfo::service_account("default", "kube-dns");
    assert!(!authorize(&p, &other, &res("list", "", "services", "", "")).allowed);
}

#[test]
fn masters_bypass_and_builtin_discovery() {
    let p = Policy::default();
    let admin = UserInfo::new("admin", &[SYSTEM_MASTERS]);
    assert!(authorize(&p, &admin, &res("delete", "", "secrets", "x", "y")).allowed);
    let u = UserInfo::new("bob", &[]).authenticated();
    let get = |path: &str| Request::NonResource {
        verb: "get".into(),
        path: path.into(),
    };
    for path in [
        "/api",
        "/api/v1",
        "/apis",
        "/apis/rbac.authorization.k8s.io/v1",
        "/version",
        "/openapi/v3/api/v1",
    ] {
        assert!(authorize(&p, &u, &get(path)).allowed, "{path}");
    }
    assert!(!authorize(&p, &u, &get("/metrics")).allowed);
    assert!(
        authorize(
            &p,
            &u,
            &res(
                "create",
                "authorization.k8s.io",
                "selfsubjectaccessreviews",
                "",
                ""
            )
        )
        .allowed
    );
    assert!(
        !authorize(
            &p,
            &u,
            &res(
                "create",
                "authorization.k8s.io",
                "subjectaccessreviews",
                "",
                ""
            )
        )
        .allowed
    );
    // Not authenticated: no built-in rules.
    let anon = UserInfo::new("system:anonymous", &["system:unauthenticated"]);
    assert!(!authorize(&p, &anon, &get("/api")).allowed);
}

#[test]
fn wildcards_subresources_and_resource_names() {
    let rule = |v: serde_json::Value| -> PolicyRule { serde_json::from_value(v).expect("rule") };
    let star = rule(json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}));
    assert!(rule_allows(
        &star,
        &res("escalate", "x.io", "things", "", "")
    ));
    let status =
        rule(json!({"apiGroups": [""], "resources": ["pods/status"], "verbs": ["update"]}));
    let mut put_status = ResourceAttributes {
        verb: "update".into(),
        resource: "pods".into(),
        subresource: "status".into(),
        namespace: "d".into(),
        name: "p".into(),
        ..ResourceAttributes::default()
    };
    assert!(rule_allows(&status, &Request::Resource(put_status.clone())));
    assert!(!rule_allows(&status, &res("update", "", "pods", "d", "p")));
    let any_status =
        rule(json!({"apiGroups": [""], "resources": ["*/status"], "verbs": ["update"]}));
    assert!(rule_allows(
        &any_status,
        &Request::Resource(put_status.clone())
    ));
    put_status.subresource = "log".into();
    assert!(!rule_allows(&any_status, &Request::Resource(put_status)));
    let named = rule(json!({"apiGroups": [""], "resources": ["configmaps"],
        "resourceNames": ["kube-dns"], "verbs": ["get", "list", "watch"]}));
    assert!(rule_allows(
        &named,
        &res("get", "", "configmaps", "kube-system", "kube-dns")
    ));
    assert!(!rule_allows(
        &named,
        &res("get", "", "configmaps", "kube-system", "other")
    ));
    assert!(!rule_allows(
        &named,
        &res("list", "", "configmaps", "kube-system", "")
    ));
    let urls = rule(json!({"nonResourceURLs": ["/metrics", "/logs/*"], "verbs": ["get"]}));
    let get = |p: &str| Request::NonResource {
        verb: "get".into(),
        path: p.into(),
    };
    assert!(rule_allows(&urls, &get("/metrics")));
    assert!(rule_allows(&urls, &get("/logs/a/b")));
    assert!(!rule_allows(&urls, &get("/metricsx")));
    // A resource rule never matches a path and vice versa.
    assert!(!rule_allows(&urls, &res("get", "", "metrics", "", "")));
    assert!(!rule_allows(&star, &get("/metrics")));
}

#[test]
fn role_bindings_are_namespaced_and_missing_roles_are_reported() {
    let objs = [
        json!({"kind": "Role", "metadata": {"name": "reader", "namespace": "team"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}),
        json!({"kind": "RoleBinding", "metadata": {"name": "rb", "namespace": "team"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "bot"}]}),
        json!({"kind": "ClusterRoleBinding", "metadata": {"name": "dangling"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "gone"},
            "subjects": [{"kind": "Group", "name": "devs"}]}),
    ];
    let (p, errors) = Policy::from_objects(objs.iter());
    assert!(errors.is_empty(), "{errors:?}");
    let alice = UserInfo::new("alice", &["devs"]).authenticated();
    assert!(authorize(&p, &alice, &res("get", "", "secrets", "team", "s")).allowed);
    let d = authorize(&p, &alice, &res("get", "", "secrets", "other", "s"));
    assert!(!d.allowed);
    assert_eq!(
        d.reason,
        "RBAC: clusterrole.rbac.authorization.k8s.io \"gone\" not found"
    );
    assert!(!authorize(&p, &alice, &res("get", "", "secrets", "", "")).allowed);
    // A ServiceAccount subject without a namespace means the binding's namespace.
    let bot = UserInfo::service_account("team", "bot");
    let d = authorize(&p, &bot, &res("get", "", "secrets", "team", "s"));
    assert_eq!(
        d.reason,
        "RBAC: allowed by RoleBinding \"rb/team\" of Role \"reader\" to ServiceAccount \"bot/team\""
    );
}

#[test]
fn aggregated_cluster_roles() {
    let objs = [
        json!({"kind": "ClusterRole", "metadata": {"name": "view"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg/view": "true"}}]}}),
        json!({"kind": "ClusterRole", "metadata": {"name": "dns-view", "labels": {"agg/view": "true"}},
            "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["get"]}]}),
        json!({"kind": "ClusterRoleBinding", "metadata": {"name": "v"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "carol"}]}),
    ];
    let (p, _) = Policy::from_objects(objs.iter());
    let carol = UserInfo::new("carol", &[]).authenticated();
    assert!(authorize(&p, &carol, &res("get", "", "services", "d", "x")).allowed);
    assert!(!authorize(&p, &carol, &res("delete", "", "services", "d", "x")).allowed);
}

#[test]
fn forbidden_status_matches_kube_apiserver() {
    let u = kube_dns();
    let e = forbidden_error(
        &u,
        &res("list", "discovery.k8s.io", "endpointslices", "", ""),
        "",
    );
    assert_eq!(e.code, 403);
    assert_eq!(e.reason, "Forbidden");
    assert_eq!(
        e.message,
        "endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:kube-system:kube-dns\" cannot list resource \"endpointslices\" in API group \"discovery.k8s.io\" at the cluster scope"
    );
    let e = forbidden_error(&u, &res("get", "", "secrets", "default", "tok"), "");
    assert_eq!(
        e.message,
        "secrets \"tok\" is forbidden: User \"system:serviceaccount:kube-system:kube-dns\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\""
    );
    assert_eq!(
        e.details,
        Some(json!({"group": "", "kind": "secrets", "name": "tok"}))
    );
    let e = forbidden_error(
        &u,
        &Request::NonResource {
            verb: "get".into(),
            path: "/metrics".into(),
        },
        "RBAC: x",
    );
    assert_eq!(
        e.message,
        "forbidden: User \"system:serviceaccount:kube-system:kube-dns\" cannot get path \"/metrics\": RBAC: x"
    );
}

#[test]
fn validation() {
    assert!(
        validate(
            "ClusterRole",
            &json!({"rules": [{"apiGroups": [""], "resources": ["x"], "verbs": ["get"]}]})
        )
        .is_ok()
    );
    assert!(
        validate(
            "ClusterRole",
            &json!({"rules": [{"apiGroups": [""], "resources": ["x"], "verbs": []}]})
        )
        .is_err()
    );
    assert!(
        validate(
            "ClusterRole",
            &json!({"rules": [{"resources": ["x"], "verbs": ["get"]}]})
        )
        .is_err()
    );
    assert!(
        validate(
            "Role",
            &json!({"rules": [{"nonResourceURLs": ["/x"], "verbs": ["get"]}]})
        )
        .is_err()
    );
    assert!(validate("ClusterRoleBinding", &json!({"subjects": []})).is_err());
    let rb = |kind: &str, subject: serde_json::Value| json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": "r"}, "subjects": [subject]});
    assert!(
        validate(
            "ClusterRoleBinding",
            &rb("Role", json!({"kind": "User", "name": "a"}))
        )
        .is_err()
    );
    assert!(
        validate(
            "RoleBinding",
            &rb("Role", json!({"kind": "ServiceAccount", "name": "a"}))
        )
        .is_ok()
    );
    assert!(
        validate(
            "ClusterRoleBinding",
            &rb(
                "ClusterRole",
                json!({"kind": "ServiceAccount", "name": "a"})
            )
        )
        .is_err()
    );
    assert!(
        validate(
            "ClusterRoleBinding",
            &rb("ClusterRole", json!({"kind": "Robot", "name": "a"}))
        )
        .is_err()
    );
}
