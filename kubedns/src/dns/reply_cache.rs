//! Per-UDP-loop cache of encoded replies to locally answered queries (pure, no sockets).
//!
//! A local answer is a deterministic function of the request bytes after the ID (flags,
//! counts, the question with the client's case, the EDNS OPT record), the store snapshot
//! (zone, config, federation zone, sync state) and the hour (the SOA serial is Unix time
//! truncated to the hour). So the key is `request[2..]` byte for byte (case-sensitive:
//! the question is echoed exactly as the client sent it, and RD/CD/EDNS/DO/payload size
//! are part of the key), and the whole cache belongs to one [`Generation`]: any store
//! change or a new hour clears it. A hit copies the stored bytes and writes the query's ID
//! into them (RFC 1035 §4.1.1: the ID is copied into the reply); nothing else differs.
//!
//! Only UDP replies built from `Answer::Local` for class IN are stored (never errors from
//! classification, forwarded or chased answers, CHAOS, or replies whose encoding failed).
//! The cache is bounded by [`REPLY_CACHE_CAPACITY`] entries (LRU) and by
//! [`MAX_CACHED_QUERY`] / [`MAX_CACHED_REPLY`] bytes per entry. Each UDP loop owns its own
//! cache, so the hot path takes no lock. TCP replies (up to 64 KiB: the full answers of large
//! headless Services that UDP clients retry over TCP) go to one shared cache of
//! [`TCP_REPLY_CACHE_CAPACITY`] entries, at most 4 MiB.

use std::num::NonZeroUsize;
use std::sync::{Arc, Weak};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use lru::LruCache;

use crate::answer::System;
use crate::store::{DnsConfig, View, Zone};

/// Entries per UDP loop (the working set of a cluster's names, search-path expansions
/// included; about 300 bytes each on average).
pub const REPLY_CACHE_CAPACITY: usize = 8192;
/// Requests longer than this are answered but not cached (bounds the key size).
pub const MAX_CACHED_QUERY: usize = 300;
/// Replies longer than this are not cached (the largest UDP reply we send by default).
pub const MAX_CACHED_REPLY: usize = 1232;
/// Entries of the TCP reply cache (shared by all connections).
pub const TCP_REPLY_CACHE_CAPACITY: usize = 64;
/// Largest TCP reply cached (a whole TCP message).
pub const MAX_CACHED_TCP_REPLY: usize = 65_535;

/// The inputs of a local answer other than the request bytes. The snapshots are held as
/// `Weak`: a replaced zone is freed at once, and its allocation cannot be reused by a newer
/// snapshot while we compare against it (no ABA).
struct Generation {
    zone: Weak<Zone>,
    config: Weak<DnsConfig>,
    federation_zone: Weak<Option<(String, String)>>,
    synced: bool,
    hour: u64,
}

fn same<T>(w: &Weak<T>, a: &Arc<T>) -> bool {
    std::ptr::eq(w.as_ptr(), Arc::as_ptr(a))
}

impl Generation {
    fn of(view: &View, hour: u64) -> Self {
        Self {
            zone: Arc::downgrade(&view.zone),
            config: Arc::downgrade(&view.config),
            federation_zone: Arc::downgrade(&view.federation_zone),
            synced: view.synced,
            hour,
        }
    }

    fn same(&self, view: &View, hour: u64) -> bool {
        self.hour == hour
            && self.synced == view.synced
            && same(&self.zone, &view.zone)
            && same(&self.config, &view.config)
            && same(&self.federation_zone, &view.federation_zone)
    }
}

/// A stored reply and what the metrics need to count it again.
#[derive(Debug)]
struct Entry {
    reply: Box<[u8]>,
    system: System,
    qtype: RecordType,
}

/// A cache hit: the reply (with the query's ID) and its metric labels.
#[derive(Debug)]
pub struct Hit {
    /// Reply bytes to send.
    pub reply: Vec<u8>,
    /// Metrics system.
    pub system: System,
    /// Question type.
    pub qtype: RecordType,
    /// Response code in the reply.
    pub rcode: ResponseCode,
    /// TC bit of the reply.
    pub truncated: bool,
}

/// LRU of encoded replies for one store generation.
pub struct ReplyCache {
    /// False for a cache of capacity 0: nothing is stored, every lookup misses.
    enabled: bool,
    generation: Option<Generation>,
    map: LruCache<Box<[u8]>, Entry>,
    max_reply: usize,
}

impl Default for ReplyCache {
    fn default() -> Self {
        Self::new(REPLY_CACHE_CAPACITY)
    }
}

impl std::fmt::Debug for ReplyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyCache")
            .field("len", &self.map.len())
            .finish_non_exhaustive()
    }
}

/// The cache key of a request, if it may be cached: a well-formed header (RFC 1035
/// §4.1.1: at least 12 bytes, QR=0, opcode QUERY) no longer than [`MAX_CACHED_QUERY`].
pub fn key(request: &[u8]) -> Option<&[u8]> {
    if request.len() < 12 || request.len() > MAX_CACHED_QUERY || request[2] & 0xf8 != 0 {
        return None;
    }
    Some(&request[2..])
}

fn hour_of(now_unix: u64) -> u64 {
    now_unix / 3600
}

impl ReplyCache {
    /// Empty cache with room for `capacity` entries of UDP replies; 0 = off (stores nothing).
    pub fn new(capacity: usize) -> Self {
        Self::with_max_reply(capacity, MAX_CACHED_REPLY)
    }

    /// Empty cache with room for `capacity` entries of at most `max_reply` bytes (0 = off).
    pub fn with_max_reply(capacity: usize, max_reply: usize) -> Self {
        Self {
            enabled: capacity > 0,
            generation: None,
            map: LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN)),
            max_reply,
        }
    }

    /// The shared cache of TCP replies.
    pub fn for_tcp() -> Self {
        Self::with_max_reply(TCP_REPLY_CACHE_CAPACITY, MAX_CACHED_TCP_REPLY)
    }

    /// Number of stored replies.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No stored replies.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Make `view`/`now_unix` the current generation, dropping everything from another one.
    fn sync_generation(&mut self, view: &View, now_unix: u64) {
        let hour = hour_of(now_unix);
        if self.generation.as_ref().is_some_and(|g| g.same(view, hour)) {
            return;
        }
        self.map.clear();
        self.generation = Some(Generation::of(view, hour));
    }

    /// The stored reply for `request` under `view` at `now_unix`, with the request's ID.
    pub fn get(&mut self, request: &[u8], view: &View, now_unix: u64) -> Option<Hit> {
        if !self.enabled {
            return None;
        }
        let k = key(request)?;
        self.sync_generation(view, now_unix);
        let e = self.map.get(k)?;
        let mut reply = e.reply.to_vec();
        reply[..2].copy_from_slice(&request[..2]);
        Some(Hit {
            rcode: ResponseCode::from_low(reply[3] & 0x0f),
            truncated: reply[2] & 0x02 != 0,
            reply,
            system: e.system,
            qtype: e.qtype,
        })
    }

    /// Store the reply to `request` computed under `view` at `now_unix`.
    pub fn put(
        &mut self,
        request: &[u8],
        reply: &[u8],
        view: &View,
        now_unix: u64,
        system: System,
        qtype: RecordType,
    ) {
        let Some(k) = key(request).filter(|_| self.enabled) else {
            return;
        };
        if reply.len() < 12 || reply.len() > self.max_reply {
            return;
        }
        self.sync_generation(view, now_unix);
        self.map.put(
            k.into(),
            Entry {
                reply: reply.into(),
                system,
                qtype,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Standalone as Store;

    fn req(id: u16, name: &[u8]) -> Vec<u8> {
        let mut b = id.to_be_bytes().to_vec();
        b.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(name);
        b.extend_from_slice(&[0, 1, 0, 1]);
        b
    }

    fn reply_for(request: &[u8]) -> Vec<u8> {
        let mut r = request.to_vec();
        r[2] |= 0x80;
        r[3] = 0x83; // RA + NXDOMAIN
        r
    }

    #[test]
    fn hit_patches_id_and_keeps_case() {
        let store = Store::new("cluster.local.");
        let view = store.view();
        let mut c = ReplyCache::new(4);
        let q1 = req(0x1234, b"\x01A\x00");
        c.put(
            &q1,
            &reply_for(&q1),
            &view,
            100,
            System::Auth,
            RecordType::A,
        );
        let q2 = req(0xbeef, b"\x01A\x00");
        let hit = c.get(&q2, &view, 100).expect("hit");
        assert_eq!(&hit.reply[..2], &[0xbe, 0xef]);
        assert_eq!(&hit.reply[2..], &reply_for(&q1)[2..]);
        assert_eq!(hit.rcode, ResponseCode::NXDomain);
        assert!(!hit.truncated);
        // other case, other RD bit: different keys
        assert!(c.get(&req(1, b"\x01a\x00"), &view, 100).is_none());
        let mut no_rd = q2.clone();
        no_rd[2] = 0;
        assert!(c.get(&no_rd, &view, 100).is_none());
    }

    #[test]
    fn new_generation_or_hour_clears() {
        let store = Store::new("cluster.local.");
        let mut c = ReplyCache::new(4);
        let q = req(1, b"\x01a\x00");
        c.put(
            &q,
            &reply_for(&q),
            &store.view(),
            7200,
            System::Auth,
            RecordType::A,
        );
        assert!(c.get(&q, &store.view(), 7300).is_some());
        // next hour: the SOA serial changed
        assert!(c.get(&q, &store.view(), 10_800).is_none());
        c.put(
            &q,
            &reply_for(&q),
            &store.view(),
            10_800,
            System::Auth,
            RecordType::A,
        );
        store.set_config(crate::store::DnsConfig::default());
        assert!(c.get(&q, &store.view(), 10_800).is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn bounded_and_rejects_uncacheable() {
        let store = Store::new("cluster.local.");
        let view = store.view();
        let mut c = ReplyCache::new(2);
        for i in 0..5u8 {
            let q = req(1, &[1, b'a' + i, 0]);
            c.put(&q, &reply_for(&q), &view, 0, System::Auth, RecordType::A);
        }
        assert_eq!(c.len(), 2);
        // short, response (QR=1), non-QUERY opcode, oversized: never keys
        assert!(key(&[0; 11]).is_none());
        let mut resp = req(1, b"\x00");
        resp[2] |= 0x80;
        assert!(key(&resp).is_none());
        let mut notify = req(1, b"\x00");
        notify[2] = 4 << 3;
        assert!(key(&notify).is_none());
        assert!(key(&vec![0; MAX_CACHED_QUERY + 1]).is_none());
        let q = req(1, b"\x01z\x00");
        c.put(
            &q,
            &vec![0; MAX_CACHED_REPLY + 1],
            &view,
            0,
            System::Auth,
            RecordType::A,
        );
        assert!(c.get(&q, &view, 0).is_none());
    }
}
