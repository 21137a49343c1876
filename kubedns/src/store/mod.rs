//! The record store: Services and endpoint groups in, lock-free [`Zone`] snapshots out,
//! split like kube-rs's reflector into one write side and cheap read handles.
//!
//! * [`Writer`] (module `writer`) is the only handle that changes records; `source` owns it.
//!   Objects are held under typed keys ([`ServiceKey`], [`SliceKey`], module `keys`); each
//!   upsert/delete recomputes only the affected Service's [`ServiceEntry`] (records are
//!   computed on change, not per query) and publishes a new snapshot in which only the touched
//!   shard(s) were copied (see [`zone`]): incremental, no whole-zone rebuild per event. A
//!   relist (`replace_*`) builds a complete new zone off to the side and swaps it in with one
//!   store, so a half-built zone is never served and deletions during a watch gap apply.
//! * [`Store`] is the read handle (`answer`, `dns`, `http`): readers `load()` the current
//!   `Arc<Zone>` from an `ArcSwap` — wait-free, never the writer's lock — and take a [`View`]
//!   per query.
//! * The ConfigMap config, the federation zone/region and the initial-sync flag are not
//!   records: each is its own small handle ([`ConfigHandle`], [`FederationHandle`],
//!   [`SyncFlag`]) written by its one owner (config updater, node watch,
//!   sync gate) and read into the [`View`] (module `values`).
//! * [`new`] creates one store's handles wired together; [`Standalone`] keeps them in one
//!   value for tests and tools that both write and read.
//!
//! Pod records are arithmetic (no storage); PTR data only for ClusterIPs and hostname'd
//! endpoints. Addresses are `IpAddr`, labels shared `Arc<str>`. This is preferred over a
//! persistent (HAMT) map because it needs no extra dependency and the copy cost per event is
//! bounded by the shard size (≈ 40 entries at 10k Services).

mod cache_json;
pub mod entry;
mod handles;
mod keys;
mod reader;
mod shared;
mod standalone;
mod values;
mod writer;
pub mod zone;

pub use entry::{EntryKind, Proto, ServiceEntry};
pub use handles::{DEFAULT_TTL, Handles, StoreOptions, new};
pub use keys::{ServiceKey, SliceKey};
pub use reader::{Store, StoreStats, View};
pub use standalone::Standalone;
pub use values::{ConfigHandle, DnsConfig, FederationHandle, SyncFlag};
pub use writer::Writer;
pub use zone::Zone;

#[cfg(test)]
mod tests;
