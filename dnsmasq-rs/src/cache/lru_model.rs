//! Property test of the sharded LRU against a model (house-style B4 row 16): random
//! sequences of inserts (some with lifetime 0, some replacing a key), lookups and clock
//! advances on a small key space, so shards fill up and evict constantly. After every step the
//! cache must agree with the model: same hits and misses, same entries, least-recently-used
//! (per shard) evicted first, expired entries never served, the eviction counter counting
//! exactly the live entries pushed out, and never more than `capacity` entries in total.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use tokio::time::Instant;

use super::{CACHE_SHARDS, Cache, CachedMsg, shard_capacities, shard_count, shard_of};
use crate::stats::Stats;

/// Distinct keys in the test (more than any capacity tried, to force evictions).
const KEYS: u8 = 48;

#[derive(Debug, Clone)]
enum Op {
    Insert { key: u8, lifetime: u32 },
    Get { key: u8 },
    Advance { secs: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS, 0u32..4).prop_map(|(key, lifetime)| Op::Insert { key, lifetime }),
        4 => (0..KEYS).prop_map(|key| Op::Get { key }),
        1 => (0u64..3).prop_map(|secs| Op::Advance { secs }),
    ]
}

fn key(k: u8) -> Vec<u8> {
    // A wire name plus type/class/flags, like a real key.
    let mut v = vec![3, b'k', b'0' + k / 10, b'0' + k % 10, 0];
    v.extend_from_slice(&[0, 1, 0, 1, 0]);
    v
}

/// One model entry: key, insertion step (to tell values apart), inserted at, lifetime.
#[derive(Debug, Clone)]
struct Entry {
    key: Vec<u8>,
    tag: u64,
    inserted: Instant,
    lifetime: u32,
}

impl Entry {
    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.inserted).as_secs() >= u64::from(self.lifetime)
    }
}

/// The model: per shard, a queue from least to most recently used.
struct Model {
    shards: Vec<VecDeque<Entry>>,
    caps: Vec<usize>,
    evictions: u64,
}

impl Model {
    fn new(capacity: usize) -> Model {
        let caps = shard_capacities(capacity, CACHE_SHARDS);
        Model {
            shards: caps.iter().map(|_| VecDeque::new()).collect(),
            caps,
            evictions: 0,
        }
    }
    fn shard(&mut self, key: &[u8]) -> (&mut VecDeque<Entry>, usize) {
        let i = shard_of(key, self.shards.len());
        (&mut self.shards[i], self.caps[i])
    }
    fn get(&mut self, key: &[u8], now: Instant) -> Option<u64> {
        let (q, _) = self.shard(key);
        let pos = q.iter().position(|e| e.key == key)?;
        let e = q.remove(pos)?;
        if e.expired(now) {
            return None;
        }
        let tag = e.tag;
        q.push_back(e);
        Some(tag)
    }
    fn insert(&mut self, e: Entry, now: Instant) {
        if e.lifetime == 0 {
            return;
        }
        let (q, cap) = self.shard(&e.key);
        if cap == 0 {
            return;
        }
        if let Some(pos) = q.iter().position(|x| x.key == e.key) {
            q.remove(pos);
        } else if q.len() == cap
            && let Some(lru) = q.pop_front()
            && !lru.expired(now)
        {
            self.evictions += 1;
        }
        let (q, _) = self.shard(&e.key);
        q.push_back(e);
    }
    fn len(&self) -> usize {
        self.shards.iter().map(VecDeque::len).sum()
    }
}

fn msg(tag: u64, inserted: Instant, lifetime: u32) -> Arc<CachedMsg> {
    Arc::new(CachedMsg {
        bytes: tag.to_be_bytes().to_vec().into_boxed_slice(),
        ttls: Box::new([]),
        has_opt: false,
        inserted,
        lifetime,
    })
}

fn run(capacity: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    rt.block_on(async {
        let cache = Cache::with_shards(capacity, CACHE_SHARDS);
        let stats = Stats::default();
        let mut model = Model::new(capacity);
        for (step, op) in ops.iter().enumerate() {
            let now = Instant::now();
            match *op {
                Op::Insert { key: k, lifetime } => {
                    let tag = step as u64;
                    cache.insert(&key(k), msg(tag, now, lifetime), now, &stats);
                    model.insert(
                        Entry {
                            key: key(k),
                            tag,
                            inserted: now,
                            lifetime,
                        },
                        now,
                    );
                }
                Op::Get { key: k } => {
                    let got = cache
                        .get(&key(k), now)
                        .map(|m| u64::from_be_bytes(m.bytes[..8].try_into().unwrap_or([0; 8])));
                    prop_assert_eq!(got, model.get(&key(k), now), "step {}: get {}", step, k);
                }
                Op::Advance { secs } => tokio::time::advance(Duration::from_secs(secs)).await,
            }
            prop_assert!(
                cache.len() <= capacity,
                "step {}: {} > {}",
                step,
                cache.len(),
                capacity
            );
            prop_assert_eq!(cache.len(), model.len(), "step {}: size", step);
            prop_assert_eq!(
                stats.evictions.get(),
                model.evictions,
                "step {}: evictions",
                step
            );
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn sharded_lru_matches_the_model(
        capacity in prop_oneof![Just(0usize), 1usize..8, 14usize..40],
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        run(capacity, &ops)?;
    }
}

/// The B4 row 16 flood, spelt out: a random-subdomain flood of 20 × capacity distinct names
/// leaves exactly `capacity` entries, the survivors of each shard are its most recently
/// inserted names, and every other insert counted as an eviction.
#[test]
fn flood_past_capacity_evicts_the_oldest() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let capacity = 150;
        let names = 20 * capacity as u32;
        let flood_key = |i: u32| {
            let mut k =
                crate::wire::string_to_wire_name(&format!("r{i:x}.victim.example")).unwrap();
            k.extend_from_slice(&[0, 1, 0, 1, 0]);
            k
        };
        let cache = Cache::with_shards(capacity, CACHE_SHARDS);
        let stats = Stats::default();
        let now = Instant::now();
        for i in 0..names {
            cache.insert(&flood_key(i), msg(u64::from(i), now, 60), now, &stats);
        }
        assert_eq!(cache.len(), capacity);
        assert_eq!(stats.evictions.get(), u64::from(names) - capacity as u64);
        let caps = shard_capacities(capacity, CACHE_SHARDS);
        let shard = |i: u32| shard_of(&flood_key(i), caps.len());
        let mut newer = vec![0usize; caps.len()];
        for i in (0..names).rev() {
            let s = shard(i);
            let live = cache.get(&flood_key(i), now).is_some();
            assert_eq!(live, newer[s] < caps[s], "name {i} (shard {s})");
            newer[s] += 1;
        }
    });
}

#[test]
fn shard_capacities_add_up_exactly() {
    for capacity in [0, 1, 5, 15, 16, 17, 150, 1000, 10_000] {
        for shards in [1, 3, CACHE_SHARDS, shard_count(capacity)] {
            let caps = shard_capacities(capacity, shards);
            assert_eq!(caps.iter().sum::<usize>(), capacity, "{capacity}");
            assert!(!caps.is_empty() && caps.len() <= shards);
            let (min, max) = (caps.iter().min().unwrap(), caps.iter().max().unwrap());
            assert!(max - min <= 1, "{capacity}: {caps:?}");
        }
    }
    // small caches are one exact LRU; large ones use up to CACHE_SHARDS shards
    assert_eq!(shard_count(1000), 1);
    assert_eq!(shard_count(2048), 2);
    assert_eq!(shard_count(10_000), 9);
    assert_eq!(shard_count(1_000_000), CACHE_SHARDS);
}
