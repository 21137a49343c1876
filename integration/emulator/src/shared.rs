//! The state shared by the server tasks and the [`Emulator`](crate::Emulator) handle: the
//! store and fault locks, the tokens that cut watches and connections, outage control,
//! counters, and service-account token minting.

use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::watch as tokio_watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::request_log::RequestLog;
use crate::{EmulatorConfig, FaultsView, OutageMode, Store, UserInfo, authn, faults, meta, rbac};

/// Request/watch counters (`GET /_emulator/stats`).
#[derive(Debug, Default)]
pub struct Stats {
    /// API requests served.
    pub requests: AtomicU64,
    /// Watches currently open.
    pub active_watches: AtomicI64,
    /// Watches opened since start.
    pub watches_started: AtomicU64,
    /// Every API request received (`GET /_emulator/requests`).
    pub log: Mutex<RequestLog>,
}

/// State shared by the server tasks and the [`Emulator`](crate::Emulator) handle.
pub struct Shared {
    /// The object store (short critical sections only; never held across an await).
    pub store: Mutex<Store>,
    /// Fault settings.
    pub faults: Mutex<faults::Faults>,
    /// Woken when a hang fault is lifted, so held requests look again.
    pub hang_lifted: Notify,
    /// Cancelled to cut every open watch stream; replaced afterwards.
    pub watch_kill: Mutex<CancellationToken>,
    /// Cancelled to cut every open connection; replaced afterwards.
    pub conn_kill: Mutex<CancellationToken>,
    /// End of the current refuse outage.
    pub refuse_until: tokio_watch::Sender<Option<Instant>>,
    /// Settings.
    pub cfg: EmulatorConfig,
    /// Counters.
    pub stats: Stats,
    /// Stops everything.
    pub shutdown: CancellationToken,
    /// Bearer tokens (configured and minted); used only with RBAC.
    pub tokens: Mutex<authn::TokenTable>,
    /// The RBAC snapshot and the store's RBAC generation it was built at.
    pub policy_cache: Mutex<Option<(u64, Arc<rbac::Policy>)>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Locks the store.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// Locks the fault state.
    pub fn faults(&self) -> MutexGuard<'_, faults::Faults> {
        lock(&self.faults)
    }

    /// A token cancelled when watches are closed by fault injection or shutdown.
    pub fn watch_token(&self) -> CancellationToken {
        lock(&self.watch_kill).child_token()
    }

    pub(crate) fn conn_token(&self) -> CancellationToken {
        lock(&self.conn_kill).child_token()
    }

    /// Cuts every open watch stream (clients see the stream end).
    pub fn close_watches(&self) {
        let mut t = lock(&self.watch_kill);
        t.cancel();
        *t = self.shutdown.child_token();
    }

    pub(crate) fn kill_connections(&self) {
        let mut t = lock(&self.conn_kill);
        t.cancel();
        *t = self.shutdown.child_token();
    }

    /// Starts an outage of `mode` lasting `dur`.
    pub fn outage(&self, mode: OutageMode, dur: Duration) {
        let until = Instant::now() + dur;
        match mode {
            OutageMode::Error500 => {
                self.faults().error_until = Some(until);
                self.close_watches();
            }
            OutageMode::Refuse => {
                self.refuse_until.send_replace(Some(until));
            }
        }
    }

    /// Clears every fault.
    pub fn clear_faults(&self) {
        *self.faults() = faults::Faults::default();
        self.refuse_until.send_replace(None);
        self.hang_lifted.notify_waiters();
    }

    /// Holds requests on `plural` ([`faults::HANG_ALL`]: every API request) unanswered.
    pub fn hang(&self, plural: &str) {
        self.faults().hang.insert(plural.to_string());
    }

    /// Lifts a [`hang`](Self::hang): the held requests are served.
    pub fn unhang(&self, plural: &str) {
        self.faults().hang.remove(plural);
        self.hang_lifted.notify_waiters();
    }

    /// Waits while requests on `plural` are held by a hang fault; false when the server shut
    /// down or the connection was cut meanwhile.
    pub(crate) async fn wait_unless_hung(&self, plural: Option<&str>) -> bool {
        let cut = self.conn_token();
        loop {
            let lifted = self.hang_lifted.notified();
            if !self.faults().hangs(plural) {
                return true;
            }
            tokio::select! {
                _ = lifted => {}
                _ = cut.cancelled() => return false,
            }
        }
    }

    /// Every API request received so far (the newest
    /// [`REQUEST_LOG_CAPACITY`](crate::request_log::REQUEST_LOG_CAPACITY)).
    pub fn requests(&self) -> Vec<crate::request_log::RequestRecord> {
        lock(&self.stats.log).records()
    }

    /// Current fault view.
    pub fn faults_view(&self) -> FaultsView {
        let refuse = *self.refuse_until.borrow();
        self.faults().view(Instant::now(), refuse)
    }
}

impl Shared {
    /// See [`Emulator::service_account_token`](crate::Emulator::service_account_token).
    pub fn mint_service_account_token(&self, ns: &str, name: &str) -> String {
        let token = format!("sa.{ns}.{name}.{}", meta::new_uid());
        lock(&self.tokens).insert(&token, UserInfo::service_account(ns, name));
        token
    }
}
