//! Access reviews and impersonation over HTTP in the API emulator with RBAC enforced
//! (SelfSubjectAccessReview, SubjectAccessReview, `Impersonate-*` headers), and the
//! emulator without RBAC (nothing enforced, reviews allow).

mod common;

use common::rbac::*;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube_emulator::{Emulator, EmulatorConfig, UserInfo};
use serde_json::Value;

/// POSTs (or GETs) through a kube client with optional impersonation headers; returns the
/// JSON body or the API error.
async fn call(
    client: &kube::Client,
    method: &str,
    path: &str,
    body: Option<Value>,
    impersonate: &[(&str, &str)],
) -> Result<Value, kube::Error> {
    let mut b = axum::http::Request::builder().method(method).uri(path);
    for (k, v) in impersonate {
        b = b.header(*k, *v);
    }
    if body.is_some() {
        b = b.header("Content-Type", "application/json");
    }
    let req = b
        .body(body.map(|v| v.to_string().into_bytes()).unwrap_or_default())
        .map_err(|e| kube::Error::Service(Box::new(e)))?;
    client.request::<Value>(req).await
}

fn ssar(verb: &str, group: &str, resource: &str, ns: &str) -> Value {
    serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource, "namespace": ns}},
    })
}

const SSAR_PATH: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

#[tokio::test]
async fn access_reviews_and_impersonation_over_http() -> anyhow::Result<()> {
    let emu = Emulator::start(rbac_config()).await?;
    emu.apply_yaml(&read_manifest("kube-dns.yaml")?)?;
    emu.add_token("bob-token", UserInfo::new("bob", &["dev"]));
    let bob = client_with_token(&emu, Some("bob-token"))?;
    let admin = client_with_token(&emu, Some(ADMIN_TOKEN))?;

    // Discovery and self reviews are open to every authenticated user.
    call(&bob, "GET", "/apis", None, &[]).await?;
    let r = call(
        &bob,
        "POST",
        SSAR_PATH,
        Some(ssar("get", "", "secrets", "default")),
        &[],
    )
    .await?;
    assert_eq!(r["kind"], "SelfSubjectAccessReview");
    assert_eq!(r["status"]["allowed"], false);

    // bob may not impersonate; the 403 names the impersonation check.
    let sa_header = [("Impersonate-User", KUBE_DNS_SA)];
    let e = call(&bob, "GET", "/api/v1/services", None, &sa_header)
        .await
        .expect_err("403");
    let (code, _, message) = api_status(e)?;
    assert_eq!(code, 403);
    assert_eq!(
        message,
        "serviceaccounts \"kube-dns\" is forbidden: User \"bob\" cannot impersonate resource \
         \"serviceaccounts\" in API group \"\" in the namespace \"kube-system\""
    );

    // system:masters may; the request then runs as the service account.
    let r = call(&admin, "GET", "/api/v1/services", None, &sa_header).await?;
    assert_eq!(r["kind"], "ServiceList");
    let e = call(
        &admin,
        "GET",
        "/api/v1/namespaces/default/secrets",
        None,
        &sa_header,
    )
    .await
    .expect_err("403");
    assert!(api_status(e)?.2.contains(KUBE_DNS_SA));
    let as_sa = |verb: &'static str, group: &'static str, resource: &'static str| {
        let admin = admin.clone();
        async move {
            let r = call(
                &admin,
                "POST",
                SSAR_PATH,
                Some(ssar(verb, group, resource, "default")),
                &sa_header,
            )
            .await?;
            Ok::<_, kube::Error>((
                r["status"]["allowed"] == true,
                r["status"]["reason"].clone(),
            ))
        }
    };
    let (allowed, reason) = as_sa("list", "", "services").await?;
    assert!(allowed);
    assert_eq!(
        reason,
        "RBAC: allowed by ClusterRoleBinding \"system:kube-dns\" of ClusterRole \"system:kube-dns\" \
         to ServiceAccount \"kube-dns/kube-system\""
    );
    assert!(!as_sa("get", "", "secrets").await?.0);
    assert!(!as_sa("list", "discovery.k8s.io", "endpointslices").await?.0);

    // A role granting impersonation of users, bound to group dev, lets bob impersonate.
    emu.apply_yaml(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "impersonator:users"}
rules:
- apiGroups: [""]
  resources: ["users"]
  verbs: ["impersonate"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "impersonator:dev"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "impersonator:users"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: dev}
"#,
    )?;
    let e = call(
        &bob,
        "GET",
        "/api/v1/pods",
        None,
        &[("Impersonate-User", "alice")],
    )
    .await
    .expect_err("alice has no rights");
    let (code, _, message) = api_status(e)?;
    assert_eq!(code, 403);
    assert!(
        message.contains("User \"alice\" cannot list resource \"pods\""),
        "{message}"
    );
    // Groups still need their own permission.
    let e = call(
        &bob,
        "GET",
        "/api/v1/pods",
        None,
        &[
            ("Impersonate-User", "alice"),
            ("Impersonate-Group", "system:masters"),
        ],
    )
    .await
    .expect_err("403");
    assert!(
        api_status(e)?
            .2
            .contains("cannot impersonate resource \"groups\"")
    );

    // SubjectAccessReview (admin only) evaluates the given user and groups.
    let sar = |user: &str, verb: &str, resource: &str| {
        serde_json::json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": ["system:serviceaccounts", "system:authenticated"],
                     "resourceAttributes": {"verb": verb, "resource": resource}}})
    };
    let sar_path = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    let r = call(
        &admin,
        "POST",
        sar_path,
        Some(sar(KUBE_DNS_SA, "watch", "endpoints")),
        &[],
    )
    .await?;
    assert_eq!(r["status"]["allowed"], true);
    let r = call(
        &admin,
        "POST",
        sar_path,
        Some(sar(KUBE_DNS_SA, "get", "secrets")),
        &[],
    )
    .await?;
    assert_eq!(r["status"]["allowed"], false);
    let e = call(&bob, "POST", sar_path, Some(sar("bob", "get", "pods")), &[])
        .await
        .expect_err("bob may not create SubjectAccessReviews");
    assert_eq!(api_status(e)?.0, 403);

    // Invalid RBAC objects are rejected like kube-apiserver (422).
    let bad = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "bad"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "x"},
        "subjects": [{"kind": "User", "name": "u"}]});
    let e = call(
        &admin,
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        Some(bad),
        &[],
    )
    .await
    .expect_err("422");
    assert_eq!(api_status(e)?.0, 422);
    Ok(())
}

#[tokio::test]
async fn without_rbac_nothing_is_enforced_and_reviews_allow() -> anyhow::Result<()> {
    let emu = Emulator::start(EmulatorConfig::default()).await?;
    emu.apply_yaml(&read_manifest("kube-dns.yaml")?)?;
    // RBAC objects are served (kubectl can apply them) but not enforced.
    assert!(
        emu.get(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            "",
            "system:kube-dns"
        )
        .is_ok()
    );
    let anyone = client_with_token(&emu, None)?;
    let secrets: Api<Secret> = Api::all(anyone.clone());
    secrets.list(&Default::default()).await?;
    let r = call(
        &anyone,
        "POST",
        SSAR_PATH,
        Some(ssar("delete", "", "pods", "default")),
        &[],
    )
    .await?;
    assert_eq!(r["status"]["allowed"], true);
    let sa = UserInfo::service_account("kube-system", "kube-dns");
    assert!(
        emu.authorize(&sa, &attrs("get", "", "secrets", "default"))
            .allowed
    );
    Ok(())
}
