//! kubedns against the real control plane built from source (`integration/k8s/build.sh`):
//! kube-apiserver + etcd with RBAC and the bootstrap roles, and kube-controller-manager's
//! endpoint controllers producing Endpoints and EndpointSlices from Pods. Objects are created
//! the way users type them (`kubectl create service`, `kubectl expose`, `kubectl apply`).
//! Faults a real server cannot produce on demand stay with the emulator tests.

#[path = "real/common.rs"]
mod common;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use integration::controlplane::Identity;

use common::*;

fn manifest(name: &str) -> anyhow::Result<String> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../manifests")
        .join(name);
    Ok(std::fs::read_to_string(p)?)
}

/// Initial sync (the bootstrap `kubernetes` Service), Services created with kubectl, a
/// headless Service whose endpoints the real controllers derive from Ready Pods (hostnames
/// from `hostname`/`subdomain`), endpoint churn as Pods go, and deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_and_churn_from_the_real_controllers() -> anyhow::Result<()> {
    let Some(cp) = control_plane(with_controllers()).await? else {
        return Ok(());
    };
    cp.kubectl_apply(&manifest("rbac-endpointslices.yaml")?)?;
    let mut stack = stack_on(&cp, Identity::KubeDns, &[]).await?;
    wait_ips(
        &cp,
        &mut stack,
        "kubernetes.default.svc.cluster.local.",
        RecordType::A,
        &["10.0.0.1"],
    )
    .await?;
    assert_eq!(
        metric(&stack, "kubedns_endpoint_source{source=\"endpointslices\"}").await?,
        Some(1.0),
        "with rbac-endpointslices.yaml applied kubedns reads EndpointSlices"
    );

    cp.kubectl_ok(["create", "namespace", "demo"])?;
    cp.kubectl_ok([
        "-n",
        "demo",
        "create",
        "service",
        "clusterip",
        "web",
        "--tcp=80:8080",
    ])?;
    let web = cluster_ip(&cp, "demo", "web")?;
    wait_ips(
        &cp,
        &mut stack,
        "web.demo.svc.cluster.local.",
        RecordType::A,
        &[&web],
    )
    .await?;

    // A headless Service selecting two Pods that a kubelet would have made Ready.
    cp.kubectl_apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: db\n  namespace: demo\nspec:\n  \
         clusterIP: None\n  selector:\n    app: db\n  ports:\n  - name: sql\n    port: 5432\n",
    )?;
    ready_pod(&cp, "demo", "db-0", "db", Some("db"), "10.244.0.10")?;
    ready_pod(&cp, "demo", "db-1", "db", Some("db"), "10.244.0.11")?;
    wait_ips(
        &cp,
        &mut stack,
        "db.demo.svc.cluster.local.",
        RecordType::A,
        &["10.244.0.10", "10.244.0.11"],
    )
    .await?;
    wait_ips(
        &cp,
        &mut stack,
        "db-0.db.demo.svc.cluster.local.",
        RecordType::A,
        &["10.244.0.10"],
    )
    .await?;

    // Endpoint churn: a Pod goes, then the Service.
    cp.kubectl_ok(["-n", "demo", "delete", "pod", "db-1", "--wait=false"])?;
    wait_ips(
        &cp,
        &mut stack,
        "db.demo.svc.cluster.local.",
        RecordType::A,
        &["10.244.0.10"],
    )
    .await?;
    wait_rcode(
        &cp,
        &mut stack,
        "db-1.db.demo.svc.cluster.local.",
        RecordType::A,
        ResponseCode::NXDomain,
    )
    .await?;
    // `kubectl expose` of a Pod: a ClusterIP Service selecting it.
    cp.kubectl_ok([
        "-n",
        "demo",
        "expose",
        "pod",
        "db-0",
        "--port=5432",
        "--name=db0",
    ])?;
    let db0 = cluster_ip(&cp, "demo", "db0")?;
    wait_ips(
        &cp,
        &mut stack,
        "db0.demo.svc.cluster.local.",
        RecordType::A,
        &[&db0],
    )
    .await?;
    cp.kubectl_ok(["-n", "demo", "delete", "service", "web"])?;
    wait_rcode(
        &cp,
        &mut stack,
        "web.demo.svc.cluster.local.",
        RecordType::A,
        ResponseCode::NXDomain,
    )
    .await?;
    Ok(())
}

/// Under the bootstrap `system:kube-dns` ClusterRole (Services and Endpoints only) the
/// EndpointSlice list gets a real 403: kubedns falls back to core/v1 Endpoints and serves.
/// `manifests/rbac-endpointslices.yaml` switches it back to EndpointSlices (at its next start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_role_falls_back_to_endpoints_and_the_rbac_manifest_switches_back()
-> anyhow::Result<()> {
    let Some(cp) = control_plane(with_controllers()).await? else {
        return Ok(());
    };
    let role = cp.kubectl_ok(["get", "clusterrole", "system:kube-dns", "-o", "json"])?;
    assert!(
        !role.contains("endpointslices"),
        "the bootstrap role grants no EndpointSlices: {role}"
    );
    let mut stack = stack_on(&cp, Identity::KubeDns, &[]).await?;
    assert_eq!(
        metric(&stack, "kubedns_endpoint_source{source=\"endpoints\"}").await?,
        Some(1.0)
    );
    let log = stack.kubedns_process().map(|c| c.log()).unwrap_or_default();
    assert!(
        log.contains("endpointslices.discovery.k8s.io is forbidden"),
        "kubedns should log the real 403:\n{log}"
    );
    cp.kubectl_apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  namespace: default\nspec:\n  \
         clusterIP: None\n  selector:\n    app: api\n  ports:\n  - name: http\n    port: 80\n",
    )?;
    ready_pod(&cp, "default", "api-a", "api", None, "10.244.1.5")?;
    wait_ips(
        &cp,
        &mut stack,
        "api.default.svc.cluster.local.",
        RecordType::A,
        &["10.244.1.5"],
    )
    .await?;

    cp.kubectl_apply(&manifest("rbac-endpointslices.yaml")?)?;
    let can = cp.kubectl_ok([
        "auth",
        "can-i",
        "watch",
        "endpointslices.discovery.k8s.io",
        "--as=system:serviceaccount:kube-system:kube-dns",
    ])?;
    assert_eq!(can.trim(), "yes");
    stack.start_kubedns().await?;
    assert_eq!(
        metric(&stack, "kubedns_endpoint_source{source=\"endpointslices\"}").await?,
        Some(1.0)
    );
    wait_ips(
        &cp,
        &mut stack,
        "api.default.svc.cluster.local.",
        RecordType::A,
        &["10.244.1.5"],
    )
    .await?;
    Ok(())
}

/// `--config-map` mode (the 1.5/1.6-era manifests): kubedns watches the `kube-dns`
/// ConfigMap through the API, and its `federations` key together with the node watch
/// (zone/region labels) produces federation CNAMEs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_map_mode_and_the_federation_node_watch() -> anyhow::Result<()> {
    let Some(cp) = control_plane(api_only()).await? else {
        return Ok(());
    };
    cp.ensure_node(integration::controlplane::TEST_NODE)?;
    let mut stack = stack_on(
        &cp,
        Identity::Admin,
        &[
            "--config-map=kube-dns",
            "--config-map-namespace=kube-system",
        ],
    )
    .await?;
    let fed = "web.demo.myfed.svc.cluster.local.";
    let client = stack.kubedns();
    let before = client
        .query(fed, RecordType::A, integration::harness::Transport::Udp)
        .await?;
    assert_eq!(
        integration::harness::dns::rcode(&before),
        ResponseCode::NXDomain,
        "no federation configured yet"
    );
    cp.kubectl_ok([
        "-n",
        "kube-system",
        "create",
        "configmap",
        "kube-dns",
        "--from-literal=federations=myfed=example.com",
    ])?;
    let want = "web.demo.myfed.svc.z1.r1.example.com.";
    // Asked as CNAME: the alias alone, without chasing the target outside the cluster.
    wait_cname(&cp, &mut stack, fed, RecordType::CNAME, want).await?;
    // `kubectl edit`, as a user types it (the editor being a scripted one): the federation's
    // domain changes in place.
    let out = cp
        .kubectl_command()
        .args(["-n", "kube-system", "edit", "configmap", "kube-dns"])
        .env(
            "KUBE_EDITOR",
            "sed -i s/myfed=example.com/myfed=example.org/",
        )
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "kubectl edit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let edited = "web.demo.myfed.svc.z1.r1.example.org.";
    wait_cname(&cp, &mut stack, fed, RecordType::CNAME, edited).await?;
    // A patch removing the key: the federation goes away.
    cp.kubectl_ok([
        "-n",
        "kube-system",
        "patch",
        "configmap",
        "kube-dns",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/data/federations"}]"#,
    ])?;
    wait_rcode(
        &cp,
        &mut stack,
        fed,
        RecordType::CNAME,
        ResponseCode::NXDomain,
    )
    .await?;
    Ok(())
}
