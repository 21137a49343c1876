//! One watch stream at a time (steps 1 and 3 of [`super`]): a watch-list's initial events
//! buffered until the `initial-events-end` bookmark, then changes applied one by one; how
//! the stream ended decides between re-watching from the last resourceVersion (with backoff)
//! and a relist.

use std::fmt::Debug;

use futures::{Stream, StreamExt};
use kube::api::{WatchEvent, WatchParams};
use kube::runtime::watcher::Event;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::super::machine::{Convert, RelistBuffer, WatchMachine};
use super::{
    BACKOFF_START, INITIAL_EVENTS_END, MIN_WATCH, Reflector, Sink, WATCH_LIST_FIRST_EVENT,
    WatchEnd, change_time, is_gone,
};

impl<S, F: FnOnce() + Send> Reflector<S, F> {
    /// Consumes one watch stream. `initial`: a watch-list whose initial events come first.
    /// `None` on shutdown.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn consume<K, C, W>(
        &mut self,
        stream: W,
        machine: &mut WatchMachine<C::Out, C::Key>,
        rv: &mut String,
        initial: bool,
        shutdown: &CancellationToken,
        last_error: &mut Option<String>,
    ) -> Option<WatchEnd>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
        C: Convert<K>,
        W: Stream<Item = Result<WatchEvent<K>, kube::Error>>,
        S: Sink<C::Out, C::Key>,
    {
        let mut stream = std::pin::pin!(stream);
        let mut buffer = initial.then(|| RelistBuffer::new(self.resource));
        let mut seen = 0usize;
        if initial {
            self.metrics.event(self.resource, "init");
        }
        loop {
            let next = async {
                if buffer.is_some() && seen == 0 {
                    tokio::time::timeout(WATCH_LIST_FIRST_EVENT, stream.next())
                        .await
                        .unwrap_or(None)
                } else {
                    stream.next().await
                }
            };
            let item = tokio::select! {
                _ = shutdown.cancelled() => return None,
                item = next => item,
            };
            seen += 1;
            let event = match item {
                None if buffer.is_some() && seen == 1 => return Some(WatchEnd::NoWatchList),
                None if buffer.is_some() => return Some(WatchEnd::InitialCut),
                None => return Some(WatchEnd::Rewatch { error: false }),
                // An error before the initial events ended: this server does not stream them
                // (with sendInitialEvents and no resourceVersion nothing can be too old).
                Some(Err(e)) if buffer.is_some() && is_gone(&e) => {
                    return Some(WatchEnd::NoWatchList);
                }
                Some(Err(e)) if is_gone(&e) => {
                    self.error(&e.to_string(), last_error);
                    return Some(WatchEnd::Gone);
                }
                Some(Err(e)) => {
                    // One undecodable event (the stream goes on) or a transport error (it ends).
                    self.error(&e.to_string(), last_error);
                    continue;
                }
                Some(Ok(ev)) => ev,
            };
            if let WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) = &event
                && let Some(v) = o.meta().resource_version.as_deref()
            {
                *rv = v.to_string();
            }
            match (event, buffer.as_mut()) {
                (WatchEvent::Added(o), Some(buf)) => {
                    self.metrics.event(self.resource, "init_apply");
                    buf.push::<K, C>(&o);
                }
                (WatchEvent::Bookmark(b), Some(_)) => {
                    *rv = b.metadata.resource_version;
                    if b.metadata
                        .annotations
                        .get(INITIAL_EVENTS_END)
                        .map(String::as_str)
                        == Some("true")
                    {
                        let buf = buffer
                            .take()
                            .unwrap_or_else(|| RelistBuffer::new(self.resource));
                        self.metrics.event(self.resource, "init_done");
                        let step = machine.finish_relist(buf);
                        self.after_step(machine, step, None);
                        *last_error = None;
                    }
                }
                // Changes before the initial events ended: the server ignored sendInitialEvents.
                (WatchEvent::Modified(_) | WatchEvent::Deleted(_), Some(_)) => {
                    return Some(WatchEnd::NoWatchList);
                }
                (WatchEvent::Added(o) | WatchEvent::Modified(o), None) => {
                    self.metrics.event(self.resource, "apply");
                    let received = Instant::now();
                    let ts = change_time(&o);
                    let step = machine.on_event::<K, C>(Event::Apply(o));
                    self.after_step(machine, step, Some((received, ts)));
                }
                (WatchEvent::Deleted(o), None) => {
                    self.metrics.event(self.resource, "delete");
                    let received = Instant::now();
                    // A deletion's only timestamp is `deletionTimestamp` (graceful deletion);
                    // the last write time would measure the object's age, not the deletion.
                    let ts = o.meta().deletion_timestamp.as_ref().map(|t| t.0);
                    let step = machine.on_event::<K, C>(Event::Delete(o));
                    self.after_step(machine, step, Some((received, ts)));
                }
                (WatchEvent::Bookmark(b), None) => *rv = b.metadata.resource_version,
                (WatchEvent::Error(status), Some(_)) => {
                    tracing::debug!(resource = self.resource, code = status.code, message = %status.message, "error event before the initial events ended");
                    return Some(WatchEnd::NoWatchList);
                }
                (WatchEvent::Error(status), None) => {
                    self.error(
                        &format!(
                            "watch error event: {} ({} {})",
                            status.message, status.code, status.reason
                        ),
                        last_error,
                    );
                    if status.code == 410 {
                        return Some(WatchEnd::Gone);
                    }
                    return Some(WatchEnd::Rewatch { error: true });
                }
            }
        }
    }

    /// Watches from `rv` until a relist is needed (`true`) or shutdown (`false`).
    pub(super) async fn watch_from<K, C>(
        &mut self,
        api: &Api<K>,
        machine: &mut WatchMachine<C::Out, C::Key>,
        mut rv: String,
        error_before: bool,
        shutdown: &CancellationToken,
        last_error: &mut Option<String>,
    ) -> bool
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
        C: Convert<K>,
        S: Sink<C::Out, C::Key>,
    {
        let mut backoff = BACKOFF_START;
        if error_before && !self.pause(&mut backoff, shutdown).await {
            return false;
        }
        let wp = self.watch_params(WatchParams::default());
        loop {
            let opened = tokio::select! {
                _ = shutdown.cancelled() => return false,
                r = api.watch(&wp, &rv) => r,
            };
            let started = Instant::now();
            let end = match opened {
                Err(e) if is_gone(&e) => {
                    self.error(&e.to_string(), last_error);
                    return true;
                }
                Err(e) => {
                    self.error(&e.to_string(), last_error);
                    WatchEnd::Rewatch { error: true }
                }
                Ok(stream) => {
                    match self
                        .consume::<K, C, _>(stream, machine, &mut rv, false, shutdown, last_error)
                        .await
                    {
                        None => return false,
                        Some(end) => end,
                    }
                }
            };
            match end {
                WatchEnd::Gone => return true,
                WatchEnd::Rewatch { error } if error || started.elapsed() < MIN_WATCH => {
                    if !self.pause(&mut backoff, shutdown).await {
                        return false;
                    }
                }
                WatchEnd::Rewatch { .. } | WatchEnd::NoWatchList | WatchEnd::InitialCut => {
                    backoff = BACKOFF_START;
                }
            }
        }
    }
}
