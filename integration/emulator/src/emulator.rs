//! The [`Emulator`] handle: start (bind, seed, load manifests, spawn the accept loop),
//! clients and kubeconfigs pointed at it, direct object access, RBAC tokens and checks,
//! and the fault-injection controls.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch as tokio_watch;
use tokio_util::sync::CancellationToken;

use crate::server::serve;
use crate::shared::{Shared, Stats, lock};
use crate::{
    ApiError, EmulatorConfig, EmulatorError, OutageMode, Store, UserInfo, authn, faults, load,
    meta, rbac, resources, store, tls,
};

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
            hang_lifted: tokio::sync::Notify::new(),
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

    /// A kube-rs client that calls the emulator's router in process, without sockets or TLS
    /// (the bearer token, when one is set, is still sent). Everything on the request path is
    /// then driven by the tokio clock, so tests on paused time (`start_paused`) see backoffs
    /// and timeouts of minutes run exactly and at once. Connection faults (the refuse outage)
    /// act on sockets and so do not reach this client; every other fault does.
    pub fn in_process_client(&self) -> kube::Client {
        let router = crate::api::router(self.shared.clone());
        let router = match self.shared.cfg.token.clone() {
            Some(token) => router.layer(axum::middleware::map_request(
                move |mut req: axum::extract::Request| {
                    let bearer = axum::http::HeaderValue::from_str(&format!("Bearer {token}"));
                    async move {
                        if let Ok(v) = bearer {
                            req.headers_mut()
                                .insert(axum::http::header::AUTHORIZATION, v);
                        }
                        req
                    }
                },
            )),
            None => router,
        };
        kube::Client::new(router, "default")
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
        let res = served_kind(api_version, kind)?;
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
        let res = served_kind(api_version, kind)?;
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
        let res = served_kind(api_version, kind)?;
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

    /// The next `count` watch requests (of `plural`, or any resource) fail with
    /// `500 InternalError` before a stream is opened.
    pub fn fail_next_watches(&self, count: u32, plural: Option<&str>) {
        let mut f = self.shared.faults();
        f.error_next_watches = count;
        f.error_watch_resource = plural.map(str::to_string);
    }

    /// Holds every request on `plural` ([`HANG_ALL`](crate::HANG_ALL): every API request,
    /// discovery included) unanswered until [`unhang`](Self::unhang) or
    /// [`clear_faults`](Self::clear_faults); the request is logged first.
    pub fn hang(&self, plural: &str) {
        self.shared.hang(plural);
    }

    /// Lifts a [`hang`](Self::hang); held requests are then served.
    pub fn unhang(&self, plural: &str) {
        self.shared.unhang(plural);
    }

    /// Every API request received, oldest first, with its arrival time on the tokio clock
    /// (admin paths excluded; the newest
    /// [`REQUEST_LOG_CAPACITY`](crate::request_log::REQUEST_LOG_CAPACITY) are kept).
    pub fn requests(&self) -> Vec<crate::RequestRecord> {
        self.shared.requests()
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

/// The served resource of `api_version`/`kind`; 400 for a kind the emulator does not serve.
fn served_kind(api_version: &str, kind: &str) -> Result<&'static resources::ResourceDef, ApiError> {
    resources::by_kind(api_version, kind)
        .ok_or_else(|| ApiError::bad_request(format!("unknown kind {api_version}/{kind}")))
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
