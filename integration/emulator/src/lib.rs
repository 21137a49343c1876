//! A Kubernetes API server emulator: real list/watch wire protocol and resourceVersion
//! semantics for the resources kube-dns uses, discovery good enough for kube-rs and kubectl,
//! and fault injection. Start it in-process with [`Emulator::start`] (binds 127.0.0.1:0 by
//! default) or run the `kube-apiserver-emulator` binary.
//!
//! Module map: [`resources`] (served types), [`store`] (objects, versions, history),
//! [`controllers`] (Service defaults, endpoints + EndpointSlice mirroring), [`selector`],
//! [`patch`], [`status`] (errors), [`table`] (kubectl printing), [`watch`] (event streams),
//! [`api`] (HTTP routing), [`admin`] (`/_emulator/` fault and stats paths), [`openapi`]
//! (what kubectl needs of OpenAPI v3), [`load`] (YAML seeding), [`faults`], [`tls`]
//! (optional HTTPS, kubeconfig), [`meta`] (timestamps, uids), and the opt-in
//! authentication and RBAC: [`authn`] (tokens, impersonation), [`rbac`] (the authorizer),
//! [`access`] (middleware and access reviews), [`proto`] (protobuf access reviews).

pub mod access;
pub mod admin;
pub mod api;
pub mod authn;
pub mod controllers;
pub mod faults;
pub mod load;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod proto;
pub mod rbac;
pub mod resources;
pub mod selector;
pub mod semantics;
pub mod status;
pub mod store;
pub mod table;
pub mod tls;
pub mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch as tokio_watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use authn::StaticToken;
pub use faults::{FaultsView, OutageMode};
pub use rbac::UserInfo;
pub use status::ApiError;
pub use store::{Store, StoreConfig};

/// Default interval between BOOKMARK events on watches that allow them.
pub const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(10);
/// Longest a watch stays open when the client gives no `timeoutSeconds` (kube-apiserver
/// picks 30–60 minutes).
pub const DEFAULT_MAX_WATCH: Duration = Duration::from_secs(1800);
/// Delay between attempts to re-bind the listener after a refuse outage.
const REBIND_RETRY: Duration = Duration::from_millis(50);

/// Emulator settings.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to listen on (port 0 = ephemeral).
    pub bind: SocketAddr,
    /// Store behaviour (history window, controllers).
    pub store: StoreConfig,
    /// BOOKMARK period on watches with `allowWatchBookmarks=true`.
    pub bookmark_interval: Duration,
    /// Watch duration when the client gives no `timeoutSeconds`.
    pub max_watch: Duration,
    /// Require `Authorization: Bearer <token>` on API paths. With [`rbac`](Self::rbac) this
    /// token authenticates as user `admin` in group `system:masters`.
    pub token: Option<String>,
    /// Enforce authentication (bearer tokens, 401) and RBAC authorization (403) on API
    /// paths, as kube-apiserver with `--authorization-mode=RBAC`. Off by default.
    pub rbac: bool,
    /// Extra bearer tokens (with [`rbac`](Self::rbac)); see [`authn::parse_token_file`].
    pub tokens: Vec<StaticToken>,
    /// Seed namespaces and the `default/kubernetes` Service.
    pub seed_defaults: bool,
    /// YAML files or directories loaded at start.
    pub manifests: Vec<PathBuf>,
    /// Serve HTTPS with this certificate (see [`tls::generate_self_signed`]).
    pub tls: Option<tls::TlsMaterial>,
    /// Emulated Kubernetes minor version (`/version`, and the list semantics that depend on
    /// it: see [`semantics`]).
    pub minor: u32,
    /// Serve watch-list (`sendInitialEvents=true`), as with the WatchList feature gate on;
    /// off, such a watch is rejected with 422 like a server without the feature.
    pub watch_list: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            store: StoreConfig::default(),
            bookmark_interval: DEFAULT_BOOKMARK_INTERVAL,
            max_watch: DEFAULT_MAX_WATCH,
            token: None,
            rbac: false,
            tokens: Vec::new(),
            seed_defaults: true,
            manifests: Vec::new(),
            tls: None,
            minor: semantics::DEFAULT_MINOR,
            watch_list: true,
        }
    }
}

/// Errors starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listener could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Seeding failed.
    #[error("seeding the store: {0}")]
    Seed(ApiError),
    /// A manifest could not be loaded.
    #[error(transparent)]
    Load(#[from] load::LoadError),
    /// The TLS configuration is unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Request/watch counters (`GET /_emulator/stats`).
#[derive(Debug, Default)]
pub struct Stats {
    /// API requests served.
    pub requests: AtomicU64,
    /// Watches currently open.
    pub active_watches: AtomicI64,
    /// Watches opened since start.
    pub watches_started: AtomicU64,
}

/// State shared by the server tasks and the [`Emulator`] handle.
pub struct Shared {
    /// The object store (short critical sections only; never held across an await).
    pub store: Mutex<Store>,
    /// Fault settings.
    pub faults: Mutex<faults::Faults>,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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

    fn conn_token(&self) -> CancellationToken {
        lock(&self.conn_kill).child_token()
    }

    /// Cuts every open watch stream (clients see the stream end).
    pub fn close_watches(&self) {
        let mut t = lock(&self.watch_kill);
        t.cancel();
        *t = self.shutdown.child_token();
    }

    fn kill_connections(&self) {
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
    }

    /// Current fault view.
    pub fn faults_view(&self) -> FaultsView {
        let refuse = *self.refuse_until.borrow();
        self.faults().view(Instant::now(), refuse)
    }
}

/// A running emulator. Dropping it stops the server and closes every connection.
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

impl Emulator {
    /// Binds, seeds, loads manifests and starts serving on the current tokio runtime.
    pub async fn start(cfg: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        let listener = TcpListener::bind(cfg.bind)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: cfg.bind,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: cfg.bind,
                source,
            })?;
        let mut store = Store::new(cfg.store.clone());
        if cfg.seed_defaults {
            let ip = match addr.ip() {
                ip if ip.is_unspecified() => "127.0.0.1".to_string(),
                ip => ip.to_string(),
            };
            store
                .seed_defaults(&ip, addr.port())
                .map_err(EmulatorError::Seed)?;
            if cfg.rbac {
                seed_rbac(&mut store).map_err(EmulatorError::Seed)?;
            }
        }
        for path in &cfg.manifests {
            let report = load::load_path(&mut store, path)?;
            tracing::info!(path = %path.display(), applied = report.applied, skipped = report.skipped.len(), "loaded manifests");
            for s in &report.skipped {
                tracing::warn!(path = %path.display(), object = %s, "skipped object of a kind the emulator does not serve");
            }
        }
        let shutdown = CancellationToken::new();
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            faults: Mutex::new(faults::Faults::default()),
            watch_kill: Mutex::new(shutdown.child_token()),
            conn_kill: Mutex::new(shutdown.child_token()),
            refuse_until: tokio_watch::channel(None).0,
            tokens: Mutex::new(authn::TokenTable::new(cfg.token.as_deref(), &cfg.tokens)),
            policy_cache: Mutex::new(None),
            cfg,
            stats: Stats::default(),
            shutdown,
        });
        let acceptor = match &shared.cfg.tls {
            Some(m) => Some(tokio_rustls::TlsAcceptor::from(tls::server_config(m)?)),
            None => None,
        };
        tokio::spawn(serve(shared.clone(), listener, addr, acceptor));
        Ok(Emulator { addr, shared })
    }

    /// Starts with default settings on 127.0.0.1:0.
    pub async fn start_default() -> Result<Emulator, EmulatorError> {
        Self::start(EmulatorConfig::default()).await
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        let scheme = if self.shared.cfg.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Shared state (store, faults) for direct manipulation.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A kube-rs client pointed at the emulator (trusting its certificate when HTTPS is on,
    /// sending the bearer token when one is set).
    pub fn kube_client(&self) -> Result<kube::Client, kube::Error> {
        let uri: axum::http::Uri = self
            .url()
            .parse()
            .map_err(|e: axum::http::uri::InvalidUri| kube::Error::Service(Box::new(e)))?;
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".into();
        if let Some(t) = &self.shared.cfg.token {
            config.auth_info.token = Some(t.clone().into());
        }
        if let Some(m) = &self.shared.cfg.tls {
            let ders = tls::cert_ders(m).map_err(|e| kube::Error::Service(Box::new(e)))?;
            config.root_cert = Some(ders.into_iter().map(|d| d.to_vec()).collect());
        }
        kube::Client::try_from(config)
    }

    /// Writes `<dir>/kubeconfig` (plus `<dir>/ca.crt` with HTTPS) for clients such as
    /// `kubedns --kubecfg-file` or `kubectl --kubeconfig`.
    pub fn write_kubeconfig(&self, dir: &std::path::Path) -> Result<PathBuf, tls::TlsError> {
        let ca = self.shared.cfg.tls.as_ref().map(|m| m.cert_pem.as_str());
        tls::write_kubeconfig(dir, &self.url(), ca, self.shared.cfg.token.as_deref())
    }

    /// Writes `<dir>/kubeconfig` like [`write_kubeconfig`](Self::write_kubeconfig) but
    /// authenticating with `token` (e.g. from [`service_account_token`](Self::service_account_token)).
    pub fn write_kubeconfig_with_token(
        &self,
        dir: &std::path::Path,
        token: &str,
    ) -> Result<PathBuf, tls::TlsError> {
        let ca = self.shared.cfg.tls.as_ref().map(|m| m.cert_pem.as_str());
        tls::write_kubeconfig(dir, &self.url(), ca, Some(token))
    }

    /// Mints a bearer token for the service account `ns/name` (user
    /// `system:serviceaccount:<ns>:<name>`, groups `system:serviceaccounts`,
    /// `system:serviceaccounts:<ns>`, `system:authenticated`). The ServiceAccount object
    /// need not exist. Tokens matter only with [`EmulatorConfig::rbac`].
    pub fn service_account_token(&self, ns: &str, name: &str) -> String {
        self.shared.mint_service_account_token(ns, name)
    }

    /// Adds (or replaces) a bearer token for `user`.
    pub fn add_token(&self, token: &str, user: UserInfo) {
        lock(&self.shared.tokens).insert(token, user);
    }

    /// Asks the authorizer (RBAC snapshot of the store) whether `user` may do `req`; always
    /// allowed without [`EmulatorConfig::rbac`].
    pub fn authorize(&self, user: &UserInfo, req: &rbac::Request) -> rbac::Decision {
        self.shared.authorize(user, req)
    }

    /// Creates an object (resource from `apiVersion`/`kind`, namespace from metadata or
    /// `default`).
    pub fn create(&self, obj: Value) -> Result<Value, ApiError> {
        self.shared.store().create_value(obj).map(|o| (*o).clone())
    }

    /// Creates or replaces an object (like `kubectl apply` of a full object; the stored
    /// resourceVersion is not checked).
    pub fn apply(&self, mut obj: Value) -> Result<Value, ApiError> {
        let res = store::res_of(&obj)?;
        let ns = meta::meta_str(&obj, "namespace")
            .unwrap_or("default")
            .to_string();
        let name = meta::meta_str(&obj, "name").unwrap_or("").to_string();
        let mut st = self.shared.store();
        if st.get(res, &ns, &name).is_ok() {
            if let Some(m) = meta::metadata_mut(&mut obj) {
                m.remove("resourceVersion");
            }
            st.update(res, &ns, &name, obj).map(|o| (*o).clone())
        } else {
            st.create(res, &ns, obj).map(|o| (*o).clone())
        }
    }

    /// Gets an object.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let res = resources::by_kind(api_version, kind)
            .ok_or_else(|| ApiError::bad_request(format!("unknown kind {api_version}/{kind}")))?;
        self.shared.store().get(res, ns, name).map(|o| (*o).clone())
    }

    /// Deletes an object.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let res = resources::by_kind(api_version, kind)
            .ok_or_else(|| ApiError::bad_request(format!("unknown kind {api_version}/{kind}")))?;
        self.shared
            .store()
            .delete(res, ns, name)
            .map(|o| (*o).clone())
    }

    /// Lists objects of a kind (all namespaces when `ns` is `None`).
    pub fn list(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
    ) -> Result<Vec<Value>, ApiError> {
        let res = resources::by_kind(api_version, kind)
            .ok_or_else(|| ApiError::bad_request(format!("unknown kind {api_version}/{kind}")))?;
        let r = self
            .shared
            .store()
            .list(res, ns, &store::ListOpts::default())?;
        Ok(r.items.iter().map(|o| (**o).clone()).collect())
    }

    /// Typed create/replace (any k8s-openapi type the emulator serves).
    pub fn apply_typed<K>(&self, obj: &K) -> Result<K, ApiError>
    where
        K: k8s_openapi::Resource + Serialize + DeserializeOwned,
    {
        let mut v = serde_json::to_value(obj).map_err(|e| ApiError::bad_request(e.to_string()))?;
        v["apiVersion"] = Value::String(K::API_VERSION.to_string());
        v["kind"] = Value::String(K::KIND.to_string());
        let out = self.apply(v)?;
        serde_json::from_value(out).map_err(|e| ApiError::internal(e.to_string()))
    }

    /// Typed delete.
    pub fn delete_typed<K: k8s_openapi::Resource>(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        self.delete(K::API_VERSION, K::KIND, ns, name)
    }

    /// Loads every object of a multi-document YAML string (create or replace).
    pub fn apply_yaml(&self, yaml: &str) -> Result<load::LoadReport, load::LoadError> {
        load::load_str(&mut self.shared.store(), yaml, "<string>")
    }

    /// Current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store().resource_version()
    }

    /// Cuts every open watch stream.
    pub fn close_watches(&self) {
        self.shared.close_watches();
    }

    /// Makes the API unavailable for `dur` (500s, or refused connections).
    pub fn outage(&self, mode: OutageMode, dur: Duration) {
        self.shared.outage(mode, dur);
    }

    /// Answers 403 Forbidden for every request on `plural` (e.g. `endpointslices`).
    pub fn forbid(&self, plural: &str) {
        self.shared.faults().forbidden.insert(plural.to_string());
        self.shared.close_watches();
    }

    /// Lifts a [`forbid`](Self::forbid).
    pub fn allow(&self, plural: &str) {
        self.shared.faults().forbidden.remove(plural);
    }

    /// Answers every request on `plural` (e.g. `endpointslices`) with the plain-text 404 of a
    /// server that does not serve its group/version; open watches on it are closed.
    pub fn unserve(&self, plural: &str) {
        self.shared.faults().unserved.insert(plural.to_string());
        self.shared.close_watches();
    }

    /// Lifts an [`unserve`](Self::unserve).
    pub fn serve(&self, plural: &str) {
        self.shared.faults().unserved.remove(plural);
    }

    /// The next `count` watches (of `plural`, or any resource) get an immediate 410 Gone.
    pub fn force_gone(&self, count: u32, plural: Option<&str>) {
        let mut f = self.shared.faults();
        f.gone_next_watches = count;
        f.gone_resource = plural.map(str::to_string);
    }

    /// Drops the event history (any older resourceVersion → 410) and closes watches, so
    /// every client has to relist.
    pub fn compact_and_close_watches(&self) {
        self.shared.store().compact();
        self.shared.close_watches();
    }

    /// Adds `latency` before every API request.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.faults().latency = latency;
    }

    /// Clears every fault.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// Number of watch streams currently open.
    pub fn active_watches(&self) -> i64 {
        self.shared.stats.active_watches.load(Ordering::Relaxed)
    }
}

impl Shared {
    /// See [`Emulator::service_account_token`].
    pub fn mint_service_account_token(&self, ns: &str, name: &str) -> String {
        let token = format!("sa.{ns}.{name}.{}", meta::new_uid());
        lock(&self.tokens).insert(&token, UserInfo::service_account(ns, name));
        token
    }
}

/// What an RBAC-enabled cluster has from bootstrap: the `cluster-admin` ClusterRole bound
/// to group `system:masters`.
fn seed_rbac(store: &mut Store) -> Result<(), ApiError> {
    store.create_value(serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                  {"nonResourceURLs": ["*"], "verbs": ["*"]}],
    }))?;
    store.create_value(serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}],
    }))?;
    Ok(())
}

/// Accept loop: serves HTTP/1.1 connections; during a refuse outage the listener is
/// dropped (so connects are refused), open connections are cut, and the same address is
/// bound again afterwards.
async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    addr: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) {
    let router = api::router(shared.clone());
    let mut refuse_rx = shared.refuse_until.subscribe();
    let mut listener = Some(listener);
    loop {
        let refuse = (*refuse_rx.borrow_and_update()).filter(|t| *t > Instant::now());
        if let Some(until) = refuse {
            listener = None;
            shared.kill_connections();
            tracing::info!(%addr, "fault: refusing connections");
            tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(until) => {}
                _ = refuse_rx.changed() => continue,
            }
        }
        let l = match listener.take() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "re-binding after outage failed; retrying");
                    tokio::select! {
                        _ = shared.shutdown.cancelled() => return,
                        _ = tokio::time::sleep(REBIND_RETRY) => {}
                    }
                    continue;
                }
            },
        };
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = refuse_rx.changed() => {
                listener = Some(l);
                continue;
            }
            a = l.accept() => a,
        };
        listener = Some(l);
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let token = shared.conn_token();
        let svc = TowerToHyperService::new(router.clone());
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let http = hyper::server::conn::http1::Builder::new();
            let serve = async {
                match acceptor {
                    Some(a) => match a.accept(stream).await {
                        Ok(tls) => {
                            let _ = http.serve_connection(TokioIo::new(tls), svc).await;
                        }
                        Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                    },
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            };
            tokio::select! {
                _ = serve => {}
                _ = token.cancelled() => {}
            }
        });
    }
}
