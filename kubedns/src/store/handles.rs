//! One store's handles created together ([`new`]) and the options they are created with; `run`
//! hands each handle to its one owner.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use arc_swap::ArcSwap;
use hickory_proto::rr::Name;

use super::reader::Store;
use super::shared::Shared;
use super::values::{ConfigHandle, FederationHandle, SyncFlag};
use super::writer::Writer;
use super::zone::Zone;

/// Default TTL of every synthesised record (legacy `defaultTTL = 30`).
pub const DEFAULT_TTL: u32 = 30;

/// Store options.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// TTL of synthesised records (default 30, a future `--dns-ttl`).
    pub ttl: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { ttl: DEFAULT_TTL }
    }
}

/// One store's handles, created together by [`new`]; `run` hands each to its owner.
#[derive(Debug, Clone)]
pub struct Handles {
    /// Record writes (the watchers).
    pub writer: Writer,
    /// Record reads and views (answer, dns, http).
    pub reader: Store,
    /// Federations and upstreams (the config updater).
    pub config: ConfigHandle,
    /// Federation zone/region (the node watch).
    pub federation: FederationHandle,
    /// Initial sync done (the sync gate).
    pub synced: SyncFlag,
}

/// A new empty store for `domain` (e.g. `cluster.local.`) with its handles.
pub fn new(domain: &str, opts: StoreOptions) -> Handles {
    let mut d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    d.push('.');
    let shared = Arc::new(Shared {
        domain_name: Name::from_ascii(&d).unwrap_or_else(|err| {
            tracing::error!(domain = %d, %err, "invalid cluster domain, serving the root");
            Name::root()
        }),
        domain: Arc::from(d),
        ttl: opts.ttl,
        zone: ArcSwap::from_pointee(Zone::default()),
        groups: AtomicUsize::new(0),
    });
    let (config, federation, synced) = Default::default();
    Handles {
        writer: Writer::new(shared.clone()),
        reader: Store {
            shared,
            config: ConfigHandle::clone(&config),
            federation: FederationHandle::clone(&federation),
            synced: SyncFlag::clone(&synced),
        },
        config,
        federation,
        synced,
    }
}
