use super::*;
use crate::controllers::MIRROR_MANAGER;
use crate::resources::by_plural;

fn res(p: &str) -> &'static ResourceDef {
    by_plural(p).expect("resource")
}

fn seeded(limit: usize) -> Store {
    let mut st = Store::new(StoreConfig {
        history_limit: limit,
        ..StoreConfig::default()
    });
    st.seed_defaults("127.0.0.1", 6443).expect("seed");
    st
}

fn cm(name: &str, v: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default", "labels": {"v": v}}, "data": {"k": v}})
}

#[test]
fn seeds_kubernetes_service_and_mirrored_slice() {
    let st = seeded(100);
    let svc = st
        .get(res("services"), "default", "kubernetes")
        .expect("svc");
    assert_eq!(svc["spec"]["clusterIP"], "10.0.0.1");
    assert_eq!(svc["spec"]["ports"][0]["name"], "https");
    let slices = st
        .list(res("endpointslices"), Some("default"), &ListOpts::default())
        .expect("list");
    assert_eq!(slices.items.len(), 1);
    assert_eq!(slices.items[0]["endpoints"][0]["addresses"][0], "127.0.0.1");
}

#[test]
fn versions_increase_and_metadata_is_filled() {
    let mut st = seeded(100);
    let a = st
        .create(res("configmaps"), "default", cm("a", "1"))
        .expect("a");
    let b = st
        .create(res("configmaps"), "default", cm("b", "1"))
        .expect("b");
    let rv = |o: &Value| {
        o["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .expect("rv")
    };
    assert!(rv(&b) > rv(&a));
    assert_eq!(rv(&b), st.resource_version());
    assert_eq!(a["metadata"]["generation"], 1);
    assert!(a["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36));
    assert!(
        a["metadata"]["creationTimestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert_eq!(
        st.create(res("configmaps"), "default", cm("a", "2"))
            .map_err(|e| e.reason),
        Err("AlreadyExists")
    );
    assert_eq!(
        st.create(res("configmaps"), "nope", cm("x", "2"))
            .map_err(|e| e.code),
        Err(400)
    );
    let no_ns = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    assert_eq!(
        st.create(res("configmaps"), "nope", no_ns)
            .map_err(|e| e.code),
        Err(404)
    );
}

#[test]
fn update_conflicts_on_stale_version_and_noop_keeps_version() {
    let mut st = seeded(100);
    let a = st
        .create(res("configmaps"), "default", cm("a", "1"))
        .expect("a");
    let mut stale = (*a).clone();
    let upd = st
        .update(res("configmaps"), "default", "a", cm("a", "2"))
        .expect("unconditional update");
    stale["data"]["k"] = json!("3");
    assert_eq!(
        st.update(res("configmaps"), "default", "a", stale)
            .map_err(|e| e.reason),
        Err("Conflict")
    );
    let rv_before = st.resource_version();
    let same = st
        .update(res("configmaps"), "default", "a", (*upd).clone())
        .expect("noop");
    assert_eq!(st.resource_version(), rv_before);
    assert_eq!(
        same["metadata"]["resourceVersion"],
        upd["metadata"]["resourceVersion"]
    );
    assert_eq!(upd["metadata"]["uid"], a["metadata"]["uid"]);
    assert_eq!(upd["metadata"]["generation"], 2);
}

#[test]
fn paging_is_consistent_at_the_first_page_version() {
    let mut st = seeded(1000);
    for i in 0..7 {
        st.create(res("configmaps"), "default", cm(&format!("c{i}"), "x"))
            .expect("create");
    }
    let page1 = st
        .list(
            res("configmaps"),
            Some("default"),
            &ListOpts {
                limit: Some(3),
                ..ListOpts::default()
            },
        )
        .expect("p1");
    assert_eq!(page1.items.len(), 3);
    assert_eq!(page1.remaining, Some(4));
    // Changes after the first page must not show up in later pages.
    st.delete(res("configmaps"), "default", "c5")
        .expect("delete");
    st.create(res("configmaps"), "default", cm("c9", "x"))
        .expect("create");
    let mut names: Vec<String> = page1
        .items
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    let mut token = page1.continue_token.clone();
    while let Some(t) = token {
        let p = st
            .list(
                res("configmaps"),
                Some("default"),
                &ListOpts {
                    limit: Some(3),
                    continue_token: Some(t),
                    ..ListOpts::default()
                },
            )
            .expect("page");
        assert_eq!(p.resource_version, page1.resource_version);
        names.extend(
            p.items
                .iter()
                .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_string()),
        );
        token = p.continue_token;
    }
    assert_eq!(names, (0..7).map(|i| format!("c{i}")).collect::<Vec<_>>());
}

#[test]
fn exact_lists_and_compaction() {
    let mut st = seeded(5);
    st.create(res("configmaps"), "default", cm("a", "1"))
        .expect("a");
    let at = st.resource_version();
    st.update(res("configmaps"), "default", "a", cm("a", "2"))
        .expect("update");
    let exact = ListOpts {
        resource_version: Some(at.to_string()),
        resource_version_match: Some("Exact".into()),
        ..ListOpts::default()
    };
    let old = st.list(res("configmaps"), None, &exact).expect("exact");
    assert_eq!(old.items[0]["data"]["k"], "1");
    let too_new = ListOpts {
        resource_version: Some((st.resource_version() + 5).to_string()),
        ..ListOpts::default()
    };
    assert_eq!(
        st.list(res("configmaps"), None, &too_new)
            .map_err(|e| e.code)
            .err(),
        Some(504)
    );
    for i in 0..10 {
        st.create(res("configmaps"), "default", cm(&format!("n{i}"), "1"))
            .expect("fill");
    }
    assert_eq!(
        st.list(res("configmaps"), None, &exact)
            .map_err(|e| e.code)
            .err(),
        Some(410)
    );
    assert_eq!(
        st.watch(res("configmaps"), None, Some(at))
            .err()
            .map(|e| e.code),
        Some(410)
    );
    assert!(
        st.watch(res("configmaps"), None, Some(st.resource_version()))
            .is_ok()
    );
}

#[test]
fn watch_replays_history_after_a_version() {
    let mut st = seeded(100);
    let start = st.resource_version();
    st.create(res("configmaps"), "default", cm("a", "1"))
        .expect("a");
    st.update(res("configmaps"), "default", "a", cm("a", "2"))
        .expect("upd");
    st.delete(res("configmaps"), "default", "a").expect("del");
    let w = st
        .watch(res("configmaps"), Some("default"), Some(start))
        .expect("watch");
    let kinds: Vec<EventType> = w.initial.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![EventType::Added, EventType::Modified, EventType::Deleted]
    );
    let w0 = st.watch(res("services"), None, None).expect("watch now");
    assert_eq!(w0.initial.len(), 1);
    assert_eq!(w0.initial[0].kind, EventType::Added);
}

#[test]
fn services_get_cluster_ips_and_keep_them() {
    let mut st = seeded(100);
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}});
    let a = st
        .create(res("services"), "default", svc.clone())
        .expect("a");
    let ip = a["spec"]["clusterIP"].as_str().expect("ip").to_string();
    let upd = st
        .update(res("services"), "default", "a", svc)
        .expect("update without clusterIP");
    assert_eq!(upd["spec"]["clusterIP"], json!(ip));
    let dup = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b", "namespace": "default"}, "spec": {"clusterIP": ip}});
    assert_eq!(
        st.create(res("services"), "default", dup)
            .map_err(|e| e.code)
            .err(),
        Some(422)
    );
    let mut change = (*upd).clone();
    change["spec"]["clusterIP"] = json!("10.0.0.99");
    change["metadata"]
        .as_object_mut()
        .map(|m| m.remove("resourceVersion"));
    assert_eq!(
        st.update(res("services"), "default", "a", change)
            .map_err(|e| e.code)
            .err(),
        Some(422)
    );
}

#[test]
fn endpoints_controller_and_mirroring_follow_pods() {
    let mut st = Store::new(StoreConfig {
        endpoints_controller: true,
        ..StoreConfig::default()
    });
    st.seed_defaults("127.0.0.1", 6443).expect("seed");
    st.create_value(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}})).expect("svc");
    st.create_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1", "namespace": "default", "labels": {"app": "web"}},
        "status": {"podIP": "10.1.0.1", "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})).expect("pod");
    let ep = st
        .get(res("endpoints"), "default", "web")
        .expect("endpoints");
    assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "10.1.0.1");
    let sel = ListOpts {
        labels: LabelSelector::parse("kubernetes.io/service-name=web").expect("sel"),
        ..ListOpts::default()
    };
    let slices = st
        .list(res("endpointslices"), Some("default"), &sel)
        .expect("slices");
    assert_eq!(slices.items.len(), 1);
    assert_eq!(slices.items[0]["endpoints"][0]["addresses"][0], "10.1.0.1");
    st.delete(res("pods"), "default", "p1").expect("delete pod");
    let ep = st
        .get(res("endpoints"), "default", "web")
        .expect("endpoints");
    assert_eq!(ep["subsets"], json!([]));
    assert!(
        st.list(res("endpointslices"), Some("default"), &sel)
            .expect("slices")
            .items
            .is_empty()
    );
    st.delete(res("services"), "default", "web")
        .expect("delete svc");
    assert!(st.get(res("endpoints"), "default", "web").is_err());
    // Client-written Endpoints are not overwritten by the controller.
    st.create_value(json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "10.2.0.1"}]}]})).expect("ep");
    st.create_value(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "manual", "namespace": "default"},
        "spec": {"selector": {"app": "none"}, "ports": [{"port": 80}]}})).expect("svc");
    let ep = st
        .get(res("endpoints"), "default", "manual")
        .expect("endpoints");
    assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "10.2.0.1");
}

#[test]
fn deleting_a_namespace_deletes_its_objects() {
    let mut st = seeded(1000);
    st.create_value(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t"}}))
        .expect("ns");
    st.create_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "t"}})).expect("cm");
    st.delete(res("namespaces"), "", "t").expect("delete");
    assert!(st.get(res("configmaps"), "t", "c").is_err());
}

#[test]
fn generate_name_and_name_validation() {
    let mut st = seeded(100);
    let o = st.create_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "x-", "namespace": "default"}})).expect("gen");
    assert!(
        o["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("x-") && n.len() == 7)
    );
    let bad = st.create_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name", "namespace": "default"}}));
    assert_eq!(bad.map_err(|e| e.code).err(), Some(422));
    let none = st.create_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "default"}}),
    );
    assert_eq!(none.map_err(|e| e.code).err(), Some(422));
}

#[test]
fn mirroring_needs_a_selectorless_service_and_spares_client_slices() {
    let mut st = seeded(1000);
    let ep = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "p", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "10.3.0.1"}], "ports": [{"port": 53, "protocol": "UDP"}]}]});
    st.create_value(ep).expect("ep");
    let sel = ListOpts {
        labels: LabelSelector::parse("kubernetes.io/service-name=p").expect("sel"),
        ..ListOpts::default()
    };
    assert!(
        st.list(res("endpointslices"), Some("default"), &sel)
            .expect("l")
            .items
            .is_empty(),
        "no Service yet"
    );
    st.create_value(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "p", "namespace": "default"},
        "spec": {"clusterIP": "None", "ports": [{"port": 53, "protocol": "UDP"}]}})).expect("svc");
    let slices = st
        .list(res("endpointslices"), Some("default"), &sel)
        .expect("l");
    assert_eq!(slices.items.len(), 1);
    assert_eq!(
        slices.items[0]["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        MIRROR_MANAGER
    );
    // A client-written slice for the same service survives mirroring updates and deletion.
    st.create_value(json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "p-client", "namespace": "default", "labels": {"kubernetes.io/service-name": "p"}},
        "addressType": "IPv4", "endpoints": []})).expect("client slice");
    st.delete(res("endpoints"), "default", "p")
        .expect("delete ep");
    let left = st
        .list(res("endpointslices"), Some("default"), &sel)
        .expect("l");
    assert_eq!(left.items.len(), 1);
    assert_eq!(left.items[0]["metadata"]["name"], "p-client");
    // Services with a selector are not mirrored.
    st.create_value(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"},
        "spec": {"selector": {"a": "b"}, "ports": [{"port": 80}]}})).expect("svc");
    st.create_value(json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "s", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "10.3.0.2"}]}]})).expect("ep");
    let sel_s = ListOpts {
        labels: LabelSelector::parse("kubernetes.io/service-name=s").expect("sel"),
        ..ListOpts::default()
    };
    assert!(
        st.list(res("endpointslices"), Some("default"), &sel_s)
            .expect("l")
            .items
            .is_empty()
    );
}
