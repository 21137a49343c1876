//! Version-dependent list/watch semantics of kube-apiserver's watch cache (the `cacher` of
//! `k8s.io/apiserver/pkg/storage/cacher`), as far as the emulator imitates them:
//!
//! * **Before 1.9** (no `APIListChunking`: alpha in 1.8, on by default from 1.9) the server
//!   ignores `limit` on every list: one response holds the whole collection.
//! * **`resourceVersion=0` lists** are served from the watch cache. Before 1.33 the cache
//!   ignores `limit` for them (`shouldDelegateList` keeps RV=0 requests in the cache because
//!   "hasLimit := pred.Limit > 0 && resourceVersion != \"0\"", and the cache answers with every
//!   item, no `continue`): one response holds the whole collection. Cache snapshots (KEP-4988)
//!   did not change that for RV=0: the real kube-apiserver 1.34.4 answers
//!   `resourceVersion=0&limit=2` over five Services with all five and no `continue`
//!   (`integration/tests/emulator_vs_real.rs`), and so does 1.32.2. So every version the emulator emulates serves
//!   them unpaginated ([`FIRST_MINOR_PAGING_RV0`] lies beyond the last one measured). Set the
//!   emulated version with [`super::EmulatorConfig::minor`].
//! * **A watch from a resourceVersion newer than the store's.** From
//!   [`FIRST_MINOR_WATCH_WAITS_FOR_RV`] (measured on 1.32.2 and 1.34.4) the watch is accepted and simply
//!   delivers nothing until the store passes that version, ending at its timeout without an
//!   error. Before it, the watch waits up to
//!   [`TOO_LARGE_RV_WAIT`] (the cache's `blockTimeout`) for the store to catch up, then fails
//!   with `storage.NewTooLargeResourceVersionError`: a Status 504, reason `Timeout`, message
//!   "Timeout: Too large resource version: N, current: M", cause `ResourceVersionTooLarge`,
//!   `retryAfterSeconds: 1`. The watch has already been accepted at that point, so the error
//!   arrives as the stream's single `ERROR` event (the cacher's `newErrWatcher`).
//! * **A watcher that cannot keep up** (its buffer full when the next event is dispatched) is
//!   terminated: the cacher closes its result channel ("Forcing … watcher close due to
//!   unresponsiveness") and the HTTP stream simply ends, without any `ERROR` event. The client
//!   re-watches from the last resourceVersion it saw.

use std::time::Duration;

/// Emulated minor version unless configured.
pub const DEFAULT_MINOR: u32 = 33;
/// First minor version that paginates lists at all (`APIListChunking` on by default).
pub const FIRST_MINOR_PAGING: u32 = 9;
/// First minor version whose watch cache would honour `limit` on `resourceVersion=0` lists:
/// none up to the newest release measured (1.34.4), so one past it.
pub const FIRST_MINOR_PAGING_RV0: u32 = 35;
/// First minor version whose watch from a future resourceVersion waits quietly instead of
/// failing with "Too large resource version": 1.32.2 and 1.34.4 both wait (measured by
/// `integration/tests/emulator_vs_real.rs`); older releases were not measured.
pub const FIRST_MINOR_WATCH_WAITS_FOR_RV: u32 = 32;
/// How long a watch from a future resourceVersion waits for the store to reach it.
pub const TOO_LARGE_RV_WAIT: Duration = Duration::from_secs(3);
/// Poll period of that wait.
pub const TOO_LARGE_RV_POLL: Duration = Duration::from_millis(20);

/// The `limit` a list request is served with: `None` (everything) before
/// [`FIRST_MINOR_PAGING`], and for a `resourceVersion=0` list before
/// [`FIRST_MINOR_PAGING_RV0`]; else the requested one.
pub fn effective_limit(
    minor: u32,
    resource_version: Option<&str>,
    limit: Option<usize>,
) -> Option<usize> {
    if minor < FIRST_MINOR_PAGING
        || (resource_version == Some("0") && minor < FIRST_MINOR_PAGING_RV0)
    {
        None
    } else {
        limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (minor, resourceVersion, requested limit, served limit)
    type Case = (u32, Option<&'static str>, Option<usize>, Option<usize>);

    #[test]
    fn rv0_limit_by_version() {
        let cases: &[Case] = &[
            (32, Some("0"), Some(500), None),
            (29, Some("0"), Some(1), None),
            (33, Some("0"), Some(500), None),
            (34, Some("0"), Some(500), None),
            (35, Some("0"), Some(500), Some(500)),
            (32, None, Some(500), Some(500)),
            (32, Some("17"), Some(500), Some(500)),
            (32, Some("0"), None, None),
            (8, None, Some(500), None),
            (8, Some("17"), Some(500), None),
        ];
        for &(minor, rv, limit, want) in cases {
            assert_eq!(
                effective_limit(minor, rv, limit),
                want,
                "minor {minor} rv {rv:?} limit {limit:?}"
            );
        }
    }
}
