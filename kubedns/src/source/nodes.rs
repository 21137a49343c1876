//! Node watcher for federation answers: the cluster's zone and region come from node labels
//! (`topology.kubernetes.io/zone|region`, else the legacy
//! `failure-domain.beta.kubernetes.io/zone|region`). Started only while federations are
//! configured (legacy listed nodes on demand; this needs `list`/`watch` on nodes, like
//! legacy's `list`). The choice is deterministic: the node with the smallest name that has both
//! labels. The watch is the common driver ([`super::reflector`]); [`NodeZones`] is the pure
//! operation → choice state.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use kube::{Api, Client};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::machine::{Convert, StoreOp};
use super::reflector::{Reflector, Sink, USE_WATCH_LIST};
use crate::metrics::WatchMetrics;
use crate::model::ModelError;
use crate::store::FederationHandle;

/// Metric/log label of the node watch.
pub const RESOURCE: &str = "nodes";

/// Zone label (current).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Region label (current).
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";
/// Zone label (legacy beta).
pub const LEGACY_ZONE_LABEL: &str = "failure-domain.beta.kubernetes.io/zone";
/// Region label (legacy beta).
pub const LEGACY_REGION_LABEL: &str = "failure-domain.beta.kubernetes.io/region";

/// `(zone, region)` of one node, if it carries both.
pub fn zone_region(node: &Node) -> Option<(String, String)> {
    let labels = node.metadata.labels.as_ref()?;
    let get = |new: &str, old: &str| {
        labels
            .get(new)
            .or_else(|| labels.get(old))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    Some((
        get(ZONE_LABEL, LEGACY_ZONE_LABEL)?,
        get(REGION_LABEL, LEGACY_REGION_LABEL)?,
    ))
}

/// The compact form of one node: its name and, when it carries both labels, its zone/region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeZone {
    /// Node name.
    pub name: String,
    /// `(zone, region)`, see [`zone_region`].
    pub zone_region: Option<(String, String)>,
}

/// Conversion of nodes for the driver (cluster-scoped: keyed by name).
struct Nodes;
impl Convert<Node> for Nodes {
    type Out = NodeZone;
    type Key = String;
    fn convert(n: &Node) -> Result<NodeZone, ModelError> {
        Ok(NodeZone {
            name: n.metadata.name.clone().ok_or(ModelError::NoName)?,
            zone_region: zone_region(n),
        })
    }
    fn key(n: &Node) -> Option<String> {
        n.metadata.name.clone()
    }
    fn version(n: &Node) -> Option<String> {
        n.metadata.resource_version.clone()
    }
}

/// Node name → zone/region of the nodes that carry both labels. Pure.
#[derive(Debug, Default)]
pub struct NodeZones {
    nodes: BTreeMap<String, (String, String)>,
}

impl NodeZones {
    /// The current choice.
    pub fn current(&self) -> Option<(String, String)> {
        self.nodes.values().next().cloned()
    }

    /// Apply one operation; returns the new choice when it changed.
    pub fn apply(&mut self, op: StoreOp<NodeZone, String>) -> Option<Option<(String, String)>> {
        let before = self.current();
        match op {
            StoreOp::Replace(all) => {
                self.nodes = all
                    .into_iter()
                    .filter_map(|n| Some((n.name, n.zone_region?)))
                    .collect();
            }
            StoreOp::Upsert(n) => match n.zone_region {
                Some(zr) => {
                    self.nodes.insert(n.name, zr);
                }
                None => {
                    self.nodes.remove(&n.name);
                }
            },
            StoreOp::Delete(name) => {
                self.nodes.remove(&name);
            }
        }
        let after = self.current();
        (after != before).then_some(after)
    }
}

/// Keeps the federation zone/region handle current.
struct FederationSink {
    zones: NodeZones,
    federation: FederationHandle,
}

impl Sink<NodeZone, String> for FederationSink {
    fn apply_op(&mut self, op: StoreOp<NodeZone, String>) {
        if let Some(choice) = self.zones.apply(op) {
            tracing::info!(zone_region = ?choice, "federation zone/region updated");
            self.federation.set(choice);
        }
    }
}

/// Watch nodes while `federations_on` is true (starting when it first becomes true) and keep
/// the federation zone/region current. Federation answers need list/watch on nodes; watch
/// errors are logged (403 with the RBAC hint) and retried by the driver.
pub async fn run_nodes(
    client: Client,
    federation: FederationHandle,
    metrics: WatchMetrics,
    mut federations_on: watch::Receiver<bool>,
    shutdown: CancellationToken,
) {
    tokio::select! {
        _ = shutdown.cancelled() => return,
        r = federations_on.wait_for(|on| *on) => if r.is_err() { return },
    }
    tracing::info!("federations configured: watching nodes for zone/region labels");
    Reflector {
        client: client.clone(),
        resource: RESOURCE,
        sink: FederationSink {
            zones: NodeZones::default(),
            federation,
        },
        fields: None,
        observe_latency: false,
        metrics,
        on_first_sync: None::<fn()>,
        watch_list: USE_WATCH_LIST,
    }
    .run::<Node, Nodes>(Api::all(client), shutdown)
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn node(name: &str, labels: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn labels_new_and_legacy() {
        let n = node("a", &[(LEGACY_ZONE_LABEL, "z"), (LEGACY_REGION_LABEL, "r")]);
        assert_eq!(zone_region(&n), Some(("z".into(), "r".into())));
        let n = node(
            "a",
            &[
                (ZONE_LABEL, "z2"),
                (LEGACY_ZONE_LABEL, "z"),
                (REGION_LABEL, "r2"),
            ],
        );
        assert_eq!(zone_region(&n), Some(("z2".into(), "r2".into())));
        assert_eq!(zone_region(&node("a", &[(ZONE_LABEL, "z")])), None);
    }

    #[test]
    fn choice_tracks_operations() {
        let zr = |z: &str| Some((z.to_string(), "reg".to_string()));
        let nz = |name: &str, z: Option<&str>| NodeZone {
            name: name.into(),
            zone_region: z.map(|z| (z.to_string(), "reg".to_string())),
        };
        let del = |name: &str| StoreOp::Delete(name.to_string());
        let mut m = NodeZones::default();
        // (operation, new choice reported)
        let cases = [
            (
                StoreOp::Replace(vec![nz("b", Some("zb")), nz("c", None)]),
                Some(zr("zb")),
            ),
            (StoreOp::Upsert(nz("a", Some("za"))), Some(zr("za"))),
            (StoreOp::Upsert(nz("c", Some("zc"))), None),
            (del("a"), Some(zr("zb"))),
            (StoreOp::Upsert(nz("b", None)), Some(zr("zc"))),
            (del("c"), Some(None)),
            (StoreOp::Replace(vec![]), None),
        ];
        for (i, (op, want)) in cases.into_iter().enumerate() {
            assert_eq!(m.apply(op), want, "step {i}");
        }
    }

    #[test]
    fn conversion_keeps_unlabelled_nodes_as_removals() {
        let n = node("a", &[(ZONE_LABEL, "z"), (REGION_LABEL, "r")]);
        assert_eq!(Nodes::key(&n), Some("a".into()));
        assert_eq!(
            Nodes::convert(&node("b", &[])),
            Ok(NodeZone {
                name: "b".into(),
                zone_region: None
            })
        );
    }
}
