//! What follows one machine step: the operation handed to the kind's [`Sink`], the
//! programming-latency observation (from the object's own change time, [`change_time`]), the
//! object and sync gauges, the first-sync callback; and how watch errors are counted and logged.

use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use tokio::time::Instant;

use super::super::machine::{Step, StoreOp, WatchMachine};
use super::{Reflector, Sink};

/// Annotation the endpoint controllers set to the time of the change that triggered the update
/// (what CoreDNS uses for its programming-duration metric).
pub const TRIGGER_TIME_ANNOTATION: &str = "endpoints.kubernetes.io/last-change-trigger-time";

impl<S, F: FnOnce() + Send> Reflector<S, F> {
    /// Counts and logs a watch error ([`log_watch_error`]).
    pub(super) fn error(&self, msg: &str, last: &mut Option<String>) {
        self.metrics.error(self.resource);
        log_watch_error(self.resource, msg, last);
    }

    /// Applies one machine step to the store, metrics and readiness. `changed_at`: for a
    /// watch change, when it was received and when the object says it happened.
    pub(super) fn after_step<T, Q>(
        &mut self,
        machine: &WatchMachine<T, Q>,
        step: Step<T, Q>,
        changed_at: Option<(Instant, Option<Timestamp>)>,
    ) where
        Q: Eq + std::hash::Hash,
        S: Sink<T, Q>,
    {
        let applied = step.op.is_some();
        if let Some(op) = step.op {
            let replace = matches!(op, StoreOp::Replace(_));
            self.sink.apply_op(op);
            if replace {
                tracing::debug!(
                    resource = self.resource,
                    objects = machine.object_count(),
                    "list applied"
                );
            }
        }
        if let Some((received, ts)) = changed_at.filter(|_| applied && self.observe_latency) {
            let latency = match ts {
                Some(ts) => Timestamp::now().duration_since(ts).as_secs_f64().max(0.0),
                None => received.elapsed().as_secs_f64(),
            };
            self.metrics.programming_latency.observe(latency);
        }
        self.metrics
            .set_objects(self.resource, machine.object_count());
        if step.first_sync {
            self.metrics.set_synced(self.resource, true);
            tracing::info!(
                resource = self.resource,
                objects = machine.object_count(),
                "initial list complete"
            );
            if let Some(f) = self.on_first_sync.take() {
                f();
            }
        }
    }
}

/// When the change carried by `obj` happened, as far as the object tells: the endpoint
/// controller's trigger-time annotation (exact), else the newest `managedFields` time (a write
/// time with one-second resolution: an approximation).
pub fn change_time<K: Resource>(obj: &K) -> Option<Timestamp> {
    let meta = obj.meta();
    if let Some(t) = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(TRIGGER_TIME_ANNOTATION))
        && let Ok(ts) = t.parse::<Timestamp>()
    {
        return Some(ts);
    }
    meta.managed_fields
        .as_ref()?
        .iter()
        .filter_map(|f| f.time.as_ref().map(|t| t.0))
        .max()
}

/// Log a watch error: 403 at warn with an RBAC hint (house style), others at warn once per
/// distinct message and at debug when repeated.
fn log_watch_error(resource: &'static str, msg: &str, last: &mut Option<String>) {
    let forbidden = msg.contains("403") || msg.to_ascii_lowercase().contains("forbidden");
    if forbidden {
        tracing::warn!(resource, error = %msg, "watch forbidden (403): check the RBAC role (list/watch needed); retrying");
    } else if last.as_deref() != Some(msg) {
        tracing::warn!(resource, error = %msg, "watch error; retrying with backoff");
    } else {
        tracing::debug!(resource, error = %msg, "watch error (repeated)");
    }
    *last = Some(msg.to_string());
}
