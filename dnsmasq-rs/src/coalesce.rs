//! The pending table: identical questions in flight share one upstream resolution
//! (CVE-2020-25686 mitigation: one query per question, not one per client), and the
//! `--dns-forward-max` cap on distinct resolutions in flight (REFUSED beyond it, warned once
//! per overload episode, as dnsmasq does).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::cache::CachedMsg;

type Waiters = Vec<oneshot::Sender<Arc<CachedMsg>>>;

/// What a miss does.
pub enum Join {
    /// First asker: resolve, then [`Coalescer::finish`]; the answer also arrives on the
    /// receiver.
    Lead(oneshot::Receiver<Arc<CachedMsg>>),
    /// The same question is already being resolved: wait for its answer.
    Follow(oneshot::Receiver<Arc<CachedMsg>>),
    /// `--dns-forward-max` resolutions are in flight.
    OverLimit,
    /// The table is unusable (a poisoned lock).
    Failed,
}

/// Pending resolutions keyed by question (name, type, class in wire form).
#[derive(Default)]
pub struct Coalescer {
    pending: Mutex<HashMap<Box<[u8]>, Waiters>>,
    in_flight: AtomicUsize,
    over_limit_warned: AtomicBool,
}

impl Coalescer {
    /// Joins the resolution of `key`, starting one unless `forward_max` are in flight.
    pub fn join(&self, key: &[u8], forward_max: usize) -> Join {
        let (tx, rx) = oneshot::channel();
        let Ok(mut pending) = self.pending.lock() else {
            return Join::Failed;
        };
        if let Some(waiters) = pending.get_mut(key) {
            waiters.push(tx);
            return Join::Follow(rx);
        }
        if self.in_flight.load(Ordering::Relaxed) >= forward_max {
            drop(pending);
            if !self.over_limit_warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    max = forward_max,
                    "Maximum number of concurrent DNS queries reached"
                );
            }
            return Join::OverLimit;
        }
        pending.insert(key.into(), vec![tx]);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Join::Lead(rx)
    }

    /// Ends the resolution of `key`: every waiter gets `msg`.
    pub fn finish(&self, key: &[u8], msg: &Arc<CachedMsg>, forward_max: usize) {
        let waiters = self
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.remove(key))
            .unwrap_or_default();
        let left = self
            .in_flight
            .fetch_sub(1, Ordering::Relaxed)
            .saturating_sub(1);
        if left < forward_max {
            self.over_limit_warned.store(false, Ordering::Relaxed);
        }
        for w in waiters {
            let _ = w.send(Arc::clone(msg));
        }
    }

    /// Distinct resolutions in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}
