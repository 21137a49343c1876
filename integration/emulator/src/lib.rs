//! A Kubernetes API server emulator: real list/watch wire protocol and resourceVersion
//! semantics for the resources kube-dns uses, discovery good enough for kube-rs and kubectl,
//! and fault injection. Start it in-process with [`Emulator::start`] (binds 127.0.0.1:0 by
//! default) or run the `kube-apiserver-emulator` binary.
//!
//! Module map: [`resources`] (served types), [`store`] (objects, versions, history),
//! [`controllers`] (Service defaults, endpoints + EndpointSlice mirroring), [`selector`],
//! [`patch`], [`status`] (errors), [`table`] (kubectl printing), [`watch`] (event streams),
//! [`request_log`] (what clients asked, when),
//! [`api`] (HTTP routing), [`admin`] (`/_emulator/` fault and stats paths), [`openapi`]
//! (what kubectl needs of OpenAPI v3), [`load`] (YAML seeding), [`faults`], [`tls`]
//! (optional HTTPS, kubeconfig), [`meta`] (timestamps, uids), and the opt-in
//! authentication and RBAC: [`authn`] (tokens, impersonation), [`rbac`] (the authorizer),
//! [`access`] (middleware and access reviews), [`proto`] (protobuf access reviews).
//! This file owns the settings and start errors; the [`Emulator`] handle lives in
//! `emulator`, the state its tasks share ([`Shared`]) in `shared`, the accept loop in
//! `server`.

pub mod access;
pub mod admin;
pub mod api;
pub mod authn;
pub mod controllers;
mod emulator;
pub mod faults;
pub mod load;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod paths;
pub mod proto;
pub mod rbac;
pub mod request_log;
pub mod resources;
pub mod response;
pub mod selector;
pub mod semantics;
mod server;
mod shared;
pub mod status;
pub mod store;
pub mod table;
pub mod tls;
pub mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use authn::StaticToken;
pub use emulator::Emulator;
pub use faults::{FaultsView, HANG_ALL, OutageMode};
pub use rbac::UserInfo;
pub use request_log::RequestRecord;
pub use shared::{Shared, Stats};
pub use status::ApiError;
pub use store::{Store, StoreConfig};

/// Default interval between BOOKMARK events on watches that allow them.
pub const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(10);
/// Longest a watch stays open when the client gives no `timeoutSeconds` (kube-apiserver
/// picks 30–60 minutes).
pub const DEFAULT_MAX_WATCH: Duration = Duration::from_secs(1800);

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
