//! The initial state by streamed LIST (step 2 of [`super`]): pages at `resourceVersion=0`
//! decoded item by item into a [`RelistBuffer`] of compact items, handed to the machine (and
//! the sink) in one `Replace` at the end.

use std::marker::PhantomData;

use kube::Resource;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::super::list::{ItemSink, ListError, list_streaming};
use super::super::machine::{Convert, RelistBuffer, WatchMachine};
use super::{Reflector, Sink};

impl<S, F: FnOnce() + Send> Reflector<S, F> {
    /// The whole collection by streamed LIST pages into a [`RelistBuffer`], handed to the
    /// machine (and the store) at the end; returns the resourceVersion to watch from. A
    /// failed page abandons the relist: the live store and the machine are untouched.
    pub(super) async fn list_all<K, C>(
        &mut self,
        url: &str,
        machine: &mut WatchMachine<C::Out, C::Key>,
    ) -> Result<String, ListError>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned + Send + 'static,
        C: Convert<K> + 'static,
        C::Out: Send + 'static,
        S: Sink<C::Out, C::Key>,
    {
        let started = Instant::now();
        self.metrics.event(self.resource, "init");
        let mut sink = BufferSink::<C::Out, C::Key, C> {
            buf: RelistBuffer::new(self.resource),
            _c: PhantomData,
        };
        let mut lp = self.list_params();
        // The first page at resourceVersion=0 (any version, from the watch cache).
        let mut rv_param = Some("0");
        let mut pages = 0usize;
        let mut skipped = 0usize;
        let rv = loop {
            let (summary, back) =
                list_streaming::<K, _>(&self.client, url, self.resource, &lp, rv_param, sink)
                    .await?;
            sink = back;
            pages += 1;
            skipped += summary.skipped;
            match summary.continue_token {
                // Later pages carry the list's version in the token; no resourceVersion.
                Some(c) => {
                    lp = self.list_params().continue_token(&c);
                    rv_param = None;
                }
                None => break summary.resource_version,
            }
        };
        tracing::debug!(
            resource = self.resource,
            objects = sink.buf.len(),
            pages,
            skipped,
            took = ?started.elapsed(),
            "list decoded"
        );
        let step = machine.finish_relist(sink.buf);
        self.metrics.event(self.resource, "init_done");
        self.after_step(machine, step, None);
        Ok(rv)
    }
}

/// Fills a [`RelistBuffer`] from a streamed LIST.
struct BufferSink<T, Q, C> {
    buf: RelistBuffer<T, Q>,
    _c: PhantomData<fn() -> C>,
}

impl<K, C: Convert<K>> ItemSink<K> for BufferSink<C::Out, C::Key, C> {
    fn item(&mut self, obj: K) {
        self.buf.push::<K, C>(&obj);
    }
}
