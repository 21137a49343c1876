//! What the [`super::Writer`] publishes and every [`super::Store`] loads: the cluster domain,
//! the record TTL, the current [`Zone`] snapshot and the count of endpoint source objects.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use arc_swap::ArcSwap;
use hickory_proto::rr::Name;

use super::zone::Zone;

/// What the writer publishes and readers load.
pub(super) struct Shared {
    pub(super) domain: Arc<str>,
    pub(super) domain_name: Name,
    pub(super) ttl: u32,
    pub(super) zone: ArcSwap<Zone>,
    /// Endpoint source objects held by the writer (for [`super::StoreStats`]).
    pub(super) groups: AtomicUsize,
}
