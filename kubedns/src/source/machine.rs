//! The watcher-event → store-operation state machine (pure, no IO).
//!
//! kube-runtime's watcher emits `Init`, `InitApply`…, `InitDone` for every (re)list — after
//! start, after a 410 Gone, after a desync — and `Apply`/`Delete` while watching. The store must
//! never serve a half-built zone, so a relist is buffered here and handed over in one
//! [`StoreOp::Replace`] at `InitDone`; the live data is not touched at `Init`
//! (house style A6.10, kube-runtime `reflector::store::Writer::apply_watcher_event`).
//! `Delete` is applied when seen but the authoritative contents always come from the next relist.
//! A streamed LIST fills a [`RelistBuffer`] on its decoder thread and hands it over with
//! [`WatchMachine::finish_relist`]: only compact items are buffered, never the k8s objects.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;

use kube::runtime::watcher::Event;

use crate::model::ModelError;

/// What the sink must do for one event; `K` is the kind's typed key ([`Convert::Key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp<T, K> {
    /// Insert or replace one object.
    Upsert(T),
    /// Remove one object by its key.
    Delete(K),
    /// Replace everything with the result of a complete list (atomic relist).
    Replace(Vec<T>),
}

/// How one resource kind converts and is keyed. Implemented per resource in `source`.
pub trait Convert<K> {
    /// The store's model type.
    type Out;
    /// The typed key of one object (e.g. [`crate::store::ServiceKey`]).
    type Key: Clone + Eq + Hash + Debug + Send + 'static;
    /// Convert a k8s object (errors skip the object, logged by the machine).
    fn convert(obj: &K) -> Result<Self::Out, ModelError>;
    /// Key of the object, when it has one.
    fn key(obj: &K) -> Option<Self::Key>;
    /// `metadata.resourceVersion`, used to skip replayed events for an unchanged object.
    fn version(_obj: &K) -> Option<String> {
        None
    }
}

/// The compact items of a relist in progress, with their keys and resourceVersions. It can
/// be filled away from the machine (on the thread decoding a streamed LIST) and handed over
/// with [`WatchMachine::finish_relist`].
#[derive(Debug)]
pub struct RelistBuffer<T, Q> {
    resource: &'static str,
    items: Vec<T>,
    keys: HashMap<Q, Option<String>>,
}

impl<T, Q: Eq + Hash> RelistBuffer<T, Q> {
    /// An empty buffer for `resource`.
    pub fn new(resource: &'static str) -> Self {
        Self {
            resource,
            items: Vec::new(),
            keys: HashMap::new(),
        }
    }

    /// Converts and keeps one object (an unusable one is skipped with a warning).
    pub fn push<K, C: Convert<K, Out = T, Key = Q>>(&mut self, obj: &K) {
        if let (Some(item), Some(key)) = (convert::<K, C>(self.resource, obj), C::key(obj)) {
            self.items.push(item);
            self.keys.insert(key, C::version(obj));
        }
    }

    /// Objects kept so far.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Nothing kept.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

fn convert<K, C: Convert<K>>(resource: &'static str, obj: &K) -> Option<C::Out> {
    match C::convert(obj) {
        Ok(v) => Some(v),
        Err(err) => {
            let key = C::key(obj);
            tracing::warn!(resource, ?key, %err, "skipping unusable object");
            None
        }
    }
}

/// Buffers relists and tracks which objects are held. One per watched resource.
#[derive(Debug)]
pub struct WatchMachine<T, Q> {
    resource: &'static str,
    buffer: Option<RelistBuffer<T, Q>>,
    /// Objects held in the store, with the resourceVersion last applied.
    keys: HashMap<Q, Option<String>>,
    synced: bool,
}

/// Result of feeding one event.
#[derive(Debug, PartialEq, Eq)]
pub struct Step<T, Q> {
    /// Operation for the store, if any.
    pub op: Option<StoreOp<T, Q>>,
    /// True exactly once: at the first `InitDone`.
    pub first_sync: bool,
}

impl<T, Q: Eq + Hash> WatchMachine<T, Q> {
    /// A machine for `resource` (used in logs and metrics labels).
    pub fn new(resource: &'static str) -> Self {
        Self {
            resource,
            buffer: None,
            keys: HashMap::new(),
            synced: false,
        }
    }

    /// The resource label.
    pub fn resource(&self) -> &'static str {
        self.resource
    }

    /// Ends a relist filled elsewhere: the buffer replaces the store's contents at once
    /// (the same as `InitDone`).
    pub fn finish_relist(&mut self, buffer: RelistBuffer<T, Q>) -> Step<T, Q> {
        self.buffer = None;
        self.keys = buffer.keys;
        let first_sync = !self.synced;
        self.synced = true;
        Step {
            op: Some(StoreOp::Replace(buffer.items)),
            first_sync,
        }
    }

    /// Completed at least one list.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Number of objects currently held in the store (for the `kubedns_objects` gauge).
    pub fn object_count(&self) -> usize {
        self.keys.len()
    }

    /// Feed one watcher event.
    pub fn on_event<K, C: Convert<K, Out = T, Key = Q>>(&mut self, event: Event<K>) -> Step<T, Q> {
        let op = match event {
            Event::Init => {
                self.buffer = Some(RelistBuffer::new(self.resource));
                None
            }
            Event::InitApply(obj) => {
                // A stray InitApply outside a relist is treated as the start of one rather
                // than dropping data.
                let resource = self.resource;
                self.buffer
                    .get_or_insert_with(|| RelistBuffer::new(resource))
                    .push::<K, C>(&obj);
                None
            }
            Event::InitDone => {
                let buffer = self
                    .buffer
                    .take()
                    .unwrap_or_else(|| RelistBuffer::new(self.resource));
                return self.finish_relist(buffer);
            }
            Event::Apply(obj) => {
                let key = C::key(&obj);
                let version = C::version(&obj);
                // A re-watch may replay objects the store already has (same resourceVersion):
                // nothing changed, nothing to do.
                if let (Some(k), Some(v)) = (&key, &version)
                    && self
                        .keys
                        .get(k)
                        .is_some_and(|held| held.as_ref() == Some(v))
                {
                    return Step {
                        op: None,
                        first_sync: false,
                    };
                }
                match (convert::<K, C>(self.resource, &obj), key) {
                    (Some(item), Some(key)) => {
                        self.keys.insert(key, version);
                        Some(StoreOp::Upsert(item))
                    }
                    // Unusable now: drop whatever an earlier version put in the store.
                    (None, Some(key)) => self.delete(key),
                    (_, None) => None,
                }
            }
            Event::Delete(obj) => C::key(&obj).and_then(|key| self.delete(key)),
        };
        Step {
            op,
            first_sync: false,
        }
    }

    fn delete(&mut self, key: Q) -> Option<StoreOp<T, Q>> {
        self.keys.remove(&key);
        Some(StoreOp::Delete(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test resource: `(namespace, name, value)`; value "bad" fails conversion.
    type Obj = (&'static str, &'static str, &'static str);
    struct C;
    impl Convert<Obj> for C {
        type Out = String;
        type Key = (String, String);
        fn convert(o: &Obj) -> Result<String, ModelError> {
            if o.2 == "bad" {
                Err(ModelError::NoName)
            } else {
                Ok(format!("{}/{}={}", o.0, o.1, o.2))
            }
        }
        fn key(o: &Obj) -> Option<(String, String)> {
            (!o.1.is_empty()).then(|| (o.0.to_string(), o.1.to_string()))
        }
        fn version(o: &Obj) -> Option<String> {
            // The value doubles as the resourceVersion in these tests.
            Some(o.2.to_string())
        }
    }

    fn feed(
        m: &mut WatchMachine<String, (String, String)>,
        e: Event<Obj>,
    ) -> Step<String, (String, String)> {
        m.on_event::<Obj, C>(e)
    }

    #[test]
    fn initial_list_is_buffered_and_replaced_at_once() {
        let mut m = WatchMachine::new("test");
        assert_eq!(feed(&mut m, Event::Init).op, None);
        assert_eq!(feed(&mut m, Event::InitApply(("ns", "a", "1"))).op, None);
        assert_eq!(feed(&mut m, Event::InitApply(("ns", "b", "bad"))).op, None);
        assert_eq!(feed(&mut m, Event::InitApply(("ns", "c", "3"))).op, None);
        assert!(!m.is_synced());
        let step = feed(&mut m, Event::InitDone);
        assert!(step.first_sync);
        assert_eq!(
            step.op,
            Some(StoreOp::Replace(vec!["ns/a=1".into(), "ns/c=3".into()]))
        );
        assert!(m.is_synced());
        assert_eq!(m.object_count(), 2);
    }

    #[test]
    fn watch_events_upsert_and_delete() {
        let mut m = WatchMachine::new("test");
        feed(&mut m, Event::Init);
        feed(&mut m, Event::InitDone);
        assert_eq!(
            feed(&mut m, Event::Apply(("ns", "a", "1"))).op,
            Some(StoreOp::Upsert("ns/a=1".into()))
        );
        assert_eq!(m.object_count(), 1);
        let del = StoreOp::Delete(("ns".into(), "a".into()));
        assert_eq!(
            feed(&mut m, Event::Delete(("ns", "a", "1"))).op,
            Some(del.clone())
        );
        assert_eq!(m.object_count(), 0);
        // An object that becomes unusable is removed from the store.
        feed(&mut m, Event::Apply(("ns", "a", "1")));
        assert_eq!(feed(&mut m, Event::Apply(("ns", "a", "bad"))).op, Some(del));
        // No key at all: nothing to do.
        assert_eq!(feed(&mut m, Event::Apply(("ns", "", "1"))).op, None);
    }

    #[test]
    fn relist_after_410_swaps_atomically() {
        let mut m = WatchMachine::new("test");
        feed(&mut m, Event::Init);
        feed(&mut m, Event::InitApply(("ns", "a", "1")));
        feed(&mut m, Event::InitApply(("ns", "gone", "1")));
        assert!(feed(&mut m, Event::InitDone).first_sync);
        // 410 Gone → the watcher restarts with Init. Nothing reaches the store until InitDone,
        // so the old zone keeps being served meanwhile.
        assert_eq!(feed(&mut m, Event::Init).op, None);
        assert_eq!(feed(&mut m, Event::InitApply(("ns", "a", "2"))).op, None);
        assert_eq!(m.object_count(), 2, "live view unchanged during the relist");
        let step = feed(&mut m, Event::InitDone);
        assert!(!step.first_sync, "readiness transition happens once");
        // "gone" was deleted during the outage: absent from the replacement.
        assert_eq!(step.op, Some(StoreOp::Replace(vec!["ns/a=2".into()])));
        assert_eq!(m.object_count(), 1);
    }

    #[test]
    fn empty_relist_clears() {
        let mut m = WatchMachine::new("test");
        feed(&mut m, Event::Init);
        feed(&mut m, Event::InitApply(("ns", "a", "1")));
        feed(&mut m, Event::InitDone);
        feed(&mut m, Event::Init);
        assert_eq!(
            feed(&mut m, Event::InitDone).op,
            Some(StoreOp::Replace(vec![]))
        );
        assert_eq!(m.object_count(), 0);
    }

    #[test]
    fn replayed_apply_with_same_version_is_skipped() {
        let mut m = WatchMachine::new("test");
        feed(&mut m, Event::Init);
        feed(&mut m, Event::InitApply(("ns", "a", "1")));
        feed(&mut m, Event::InitDone);
        // Re-watch replays "a" unchanged: no store work.
        assert_eq!(feed(&mut m, Event::Apply(("ns", "a", "1"))).op, None);
        assert_eq!(
            feed(&mut m, Event::Apply(("ns", "a", "2"))).op,
            Some(StoreOp::Upsert("ns/a=2".into()))
        );
        assert_eq!(feed(&mut m, Event::Apply(("ns", "a", "2"))).op, None);
        // After a delete the same version is new again.
        feed(&mut m, Event::Delete(("ns", "a", "2")));
        assert_eq!(
            feed(&mut m, Event::Apply(("ns", "a", "2"))).op,
            Some(StoreOp::Upsert("ns/a=2".into()))
        );
    }
}
