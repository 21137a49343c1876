//! API watchers: Services and endpoints (EndpointSlices `discovery.k8s.io/v1`, or core/v1
//! Endpoints when slices are forbidden or absent — the legacy `system:kube-dns` role only
//! grants `endpoints`) feeding the store's [`Writer`] (this module), the kube-dns ConfigMap
//! feeding the config updater ([`configmap`]), and Nodes feeding the federation zone/region
//! ([`nodes`]).
//!
//! Every kind runs the one driver, `reflector`: the initial state by watch-list where the
//! server supports it, else by a LIST decoded item by item ([`list`]), then a kube-rs watch;
//! an error never ends the loop (it is logged, counted in `kubedns_watch_errors_total` and
//! retried with backoff). Events go through the pure [`machine::WatchMachine`], which buffers
//! relists (as compact items, keyed by the kind's typed key) and hands them to the kind's
//! [`Sink`] atomically. Readiness ([`SyncGate`]) is reached once both Services and endpoints
//! finished a first list; it sets the store's [`SyncFlag`].

pub mod client;
pub mod configmap;
pub mod list;
pub mod machine;
pub mod nodes;
mod reflector;

pub use reflector::{
    BACKOFF_MAX, BACKOFF_START, LIST_PAGE_SIZE, Sink, TRIGGER_TIME_ANNOTATION, USE_WATCH_LIST,
    WATCH_TIMEOUT_SECS, change_time,
};

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use kube::api::ListParams;
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use self::machine::{Convert, StoreOp};
use crate::cli::EndpointSourceMode;
use crate::metrics::WatchMetrics;
use crate::model::{EndpointGroup, EndpointObject, ModelError, Service};
use crate::store::{ServiceKey, SliceKey, SyncFlag, Writer};

/// Resolved endpoint source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointSource {
    /// `discovery.k8s.io/v1` EndpointSlices.
    EndpointSlices,
    /// core/v1 Endpoints.
    Endpoints,
}

impl EndpointSource {
    /// Metric/log label.
    pub fn label(self) -> &'static str {
        match self {
            Self::EndpointSlices => "endpointslices",
            Self::Endpoints => "endpoints",
        }
    }
}

/// Tracks the first complete list of Services and endpoints; sets the sync flag.
#[derive(Debug)]
pub struct SyncGate {
    services: AtomicBool,
    endpoints: AtomicBool,
    synced: SyncFlag,
    tx: watch::Sender<bool>,
}

impl SyncGate {
    /// A gate setting `synced`.
    pub fn new(synced: SyncFlag) -> Arc<Self> {
        Arc::new(Self {
            services: AtomicBool::new(false),
            endpoints: AtomicBool::new(false),
            synced,
            tx: watch::Sender::new(false),
        })
    }

    fn mark(&self, flag: &AtomicBool) {
        flag.store(true, Ordering::Release);
        if self.services.load(Ordering::Acquire)
            && self.endpoints.load(Ordering::Acquire)
            && !*self.tx.borrow()
        {
            self.synced.set();
            self.tx.send_replace(true);
            tracing::info!("initial sync of services and endpoints complete; ready");
        }
    }

    /// Resolves once synced.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }

    /// Synced already?
    pub fn is_synced(&self) -> bool {
        *self.tx.borrow()
    }
}

struct Services;
impl Convert<core::Service> for Services {
    type Out = Service;
    type Key = ServiceKey;
    fn convert(o: &core::Service) -> Result<Service, ModelError> {
        Service::from_k8s(o)
    }
    fn key(o: &core::Service) -> Option<ServiceKey> {
        Some(ServiceKey::new(
            o.metadata.namespace.as_deref()?,
            o.metadata.name.as_deref()?,
        ))
    }
    fn version(o: &core::Service) -> Option<String> {
        o.metadata.resource_version.clone()
    }
}

struct Slices;
impl Convert<discovery::EndpointSlice> for Slices {
    type Out = EndpointGroup;
    type Key = SliceKey;
    fn convert(o: &discovery::EndpointSlice) -> Result<EndpointGroup, ModelError> {
        EndpointGroup::from_slice(o)
    }
    fn version(o: &discovery::EndpointSlice) -> Option<String> {
        o.metadata.resource_version.clone()
    }
    fn key(o: &discovery::EndpointSlice) -> Option<SliceKey> {
        Some(SliceKey::new(
            o.metadata.namespace.as_deref()?,
            EndpointObject::Slice(o.metadata.name.clone()?),
        ))
    }
}

struct Endpoints;
impl Convert<core::Endpoints> for Endpoints {
    type Out = EndpointGroup;
    type Key = SliceKey;
    fn convert(o: &core::Endpoints) -> Result<EndpointGroup, ModelError> {
        EndpointGroup::from_endpoints(o)
    }
    fn version(o: &core::Endpoints) -> Option<String> {
        o.metadata.resource_version.clone()
    }
    fn key(o: &core::Endpoints) -> Option<SliceKey> {
        Some(SliceKey::new(
            o.metadata.namespace.as_deref()?,
            EndpointObject::Endpoints(o.metadata.name.clone()?),
        ))
    }
}

impl Sink<Service, ServiceKey> for Writer {
    fn apply_op(&mut self, op: StoreOp<Service, ServiceKey>) {
        match op {
            StoreOp::Upsert(s) => self.upsert_service(s),
            StoreOp::Delete(key) => self.delete_service(&key),
            StoreOp::Replace(all) => self.replace_services(all),
        }
    }
}

impl Sink<EndpointGroup, SliceKey> for Writer {
    fn apply_op(&mut self, op: StoreOp<EndpointGroup, SliceKey>) {
        match op {
            StoreOp::Upsert(g) => self.upsert_endpoints(g),
            StoreOp::Delete(key) => self.delete_endpoints(&key),
            StoreOp::Replace(all) => self.replace_endpoints(all),
        }
    }
}

/// Run one resource's list-then-watch loop until `shutdown` (see [`reflector`]).
async fn run_watch<K, C>(
    client: Client,
    resource: &'static str,
    writer: Writer,
    metrics: WatchMetrics,
    on_first_sync: impl FnOnce() + Send,
    shutdown: CancellationToken,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
    C: Convert<K> + 'static,
    C::Out: Send + 'static,
    Writer: Sink<C::Out, C::Key>,
{
    reflector::Reflector {
        client: client.clone(),
        resource,
        sink: writer,
        fields: None,
        observe_latency: true,
        metrics,
        on_first_sync: Some(on_first_sync),
        watch_list: USE_WATCH_LIST,
    }
    .run::<K, C>(Api::all(client), shutdown)
    .await;
}

/// Decide between EndpointSlices and Endpoints. `Auto` probes EndpointSlices with a one-item
/// LIST: 403 (forbidden, e.g. the legacy role) or 404 (API absent) selects Endpoints; other
/// errors are retried with backoff. Returns `None` on shutdown.
pub async fn detect_endpoint_source(
    client: &Client,
    mode: EndpointSourceMode,
    shutdown: &CancellationToken,
) -> Option<EndpointSource> {
    let source = match mode {
        EndpointSourceMode::EndpointSlices => EndpointSource::EndpointSlices,
        EndpointSourceMode::Endpoints => EndpointSource::Endpoints,
        EndpointSourceMode::Auto => {
            let mut delay = Duration::from_millis(800);
            loop {
                // A server that ignores `limit` answers with every slice: stream it past
                // rather than hold it (list::list_streaming with a sink that drops items).
                let probe = list::list_streaming::<discovery::EndpointSlice, _>(
                    client,
                    Api::<discovery::EndpointSlice>::all(client.clone()).resource_url(),
                    "endpointslices",
                    &ListParams::default().limit(1),
                    None,
                    |_: discovery::EndpointSlice| {},
                )
                .await;
                match probe {
                    Ok(_) => break EndpointSource::EndpointSlices,
                    Err(list::ListError::Api(kube::Error::Api(status)))
                        if status.code == 403 || status.code == 404 =>
                    {
                        tracing::warn!(
                            code = status.code,
                            message = %status.message,
                            "EndpointSlices not available; falling back to core/v1 Endpoints"
                        );
                        break EndpointSource::Endpoints;
                    }
                    Err(err) => {
                        tracing::warn!(%err, retry_in = ?delay, "cannot probe EndpointSlices; retrying");
                        tokio::select! {
                            _ = shutdown.cancelled() => return None,
                            _ = tokio::time::sleep(delay) => {}
                        }
                        delay = (delay * 2).min(Duration::from_secs(30));
                    }
                }
            }
        }
    };
    Some(source)
}

/// Everything the watchers need.
#[derive(Clone)]
pub struct Sources {
    /// API client.
    pub client: Client,
    /// Write handle of the record store (only the watchers hold one).
    pub writer: Writer,
    /// Watch metrics.
    pub metrics: WatchMetrics,
    /// Readiness gate.
    pub gate: Arc<SyncGate>,
}

impl Sources {
    /// Watch Services until `shutdown`.
    pub async fn run_services(self, shutdown: CancellationToken) {
        let gate = self.gate.clone();
        run_watch::<core::Service, Services>(
            self.client,
            "services",
            self.writer,
            self.metrics,
            move || gate.mark(&gate.services),
            shutdown,
        )
        .await;
    }

    /// Detect the endpoint source and watch it until `shutdown`.
    pub async fn run_endpoints(self, mode: EndpointSourceMode, shutdown: CancellationToken) {
        let Some(source) = detect_endpoint_source(&self.client, mode, &shutdown).await else {
            return;
        };
        tracing::info!(source = source.label(), "endpoint source selected");
        self.metrics.set_endpoint_source(source.label());
        let gate = self.gate.clone();
        let on_sync = move || gate.mark(&gate.endpoints);
        match source {
            EndpointSource::EndpointSlices => {
                run_watch::<discovery::EndpointSlice, Slices>(
                    self.client,
                    "endpointslices",
                    self.writer,
                    self.metrics,
                    on_sync,
                    shutdown,
                )
                .await;
            }
            EndpointSource::Endpoints => {
                run_watch::<core::Endpoints, Endpoints>(
                    self.client,
                    "endpoints",
                    self.writer,
                    self.metrics,
                    on_sync,
                    shutdown,
                )
                .await;
            }
        }
    }
}

/// Name of an object for logs.
pub fn object_name<K: ResourceExt>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta, Time};

    #[test]
    fn change_time_prefers_trigger_annotation() {
        let mut slice = discovery::EndpointSlice {
            metadata: ObjectMeta {
                name: Some("s".into()),
                namespace: Some("ns".into()),
                annotations: Some(
                    [(
                        TRIGGER_TIME_ANNOTATION.to_string(),
                        "2026-11-22T01:02:03.5Z".to_string(),
                    )]
                    .into(),
                ),
                managed_fields: Some(vec![ManagedFieldsEntry {
                    time: Some(Time("2026-11-22T01:02:05Z".parse().unwrap())),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            change_time(&slice),
            Some("2026-11-22T01:02:03.5Z".parse().unwrap())
        );
        slice.metadata.annotations = None;
        assert_eq!(
            change_time(&slice),
            Some("2026-11-22T01:02:05Z".parse().unwrap())
        );
        slice.metadata.managed_fields = None;
        assert_eq!(change_time(&slice), None);
    }

    #[test]
    fn keys_follow_the_contract() {
        let meta = ObjectMeta {
            name: Some("web".into()),
            namespace: Some("ns".into()),
            ..Default::default()
        };
        let slice = discovery::EndpointSlice {
            metadata: meta.clone(),
            ..Default::default()
        };
        let eps = core::Endpoints {
            metadata: meta.clone(),
            ..Default::default()
        };
        let svc = core::Service {
            metadata: meta,
            ..Default::default()
        };
        assert_eq!(
            Slices::key(&slice),
            Some(SliceKey::new("ns", EndpointObject::Slice("web".into())))
        );
        assert_eq!(
            Endpoints::key(&eps),
            Some(SliceKey::new("ns", EndpointObject::Endpoints("web".into())))
        );
        assert_eq!(Services::key(&svc), Some(ServiceKey::new("ns", "web")));
    }

    #[test]
    fn gate_needs_both_resources() {
        let store = crate::store::Standalone::new("cluster.local.");
        let gate = SyncGate::new(store.synced());
        gate.mark(&gate.services);
        assert!(!store.is_synced() && !gate.is_synced());
        gate.mark(&gate.endpoints);
        assert!(store.is_synced() && gate.is_synced());
    }
}
