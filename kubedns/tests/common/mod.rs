//! Shared setup of the kubedns tests: the API emulator (`kube-emulator`, the one Kubernetes
//! fake of the workspace) seeded with objects, the watch sources wired to a store, and
//! reading one metric. Tests reach kubedns's library types through these helpers so a change
//! of the store or source API touches one file.

#![allow(dead_code)] // each test crate uses a subset

use kube_emulator::{Emulator, EmulatorConfig};
use kubedns::metrics::Metrics;
use kubedns::source::{Sources, SyncGate};
use kubedns::store::Standalone as Store;
use serde_json::{Value, json};

/// The cluster domain the tests serve.
pub const DOMAIN: &str = "cluster.local.";

/// A core/v1 ClusterIP Service with one named TCP port 80.
pub fn service(ns: &str, name: &str, ip: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    })
}

/// A ConfigMap with these data keys.
pub fn config_map(ns: &str, name: &str, data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_string(), json!(v)))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": data
    })
}

/// An emulator on 127.0.0.1:0 (seeded with namespaces and `default/kubernetes`, as a real
/// cluster is) holding `objects`.
pub async fn emulator_with(objects: Vec<Value>) -> Emulator {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator starts");
    for o in objects {
        emu.apply(o).expect("seed object");
    }
    emu
}

/// A kube client configured the way kubedns configures it (`--kube-master-url`).
pub async fn client_for(emu: &Emulator) -> kube::Client {
    let cfg = kubedns::source::client::client_config(Some(&emu.url()), None)
        .await
        .expect("client config");
    kube::Client::try_from(cfg).expect("kube client")
}

/// The watch sources of one kubedns, against `client`, with their store, metrics and gate.
pub struct Watching {
    pub sources: Sources,
    pub store: Store,
    pub metrics: Metrics,
    pub gate: std::sync::Arc<SyncGate>,
}

/// Wires the watch sources to a fresh store for [`DOMAIN`].
pub fn watching(client: kube::Client) -> Watching {
    let store = Store::new(DOMAIN);
    let metrics = Metrics::new(|_| {});
    let gate = SyncGate::new(store.synced());
    let sources = Sources {
        client,
        writer: store.writer(),
        metrics: metrics.watch.clone(),
        gate: gate.clone(),
    };
    Watching {
        sources,
        store,
        metrics,
        gate,
    }
}

/// The value of the first metric line starting with `line_prefix` (0 when absent).
pub fn metric(m: &Metrics, line_prefix: &str) -> f64 {
    let text = m.encode().unwrap();
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
pub mod answers;
pub mod chase;
pub mod server;
