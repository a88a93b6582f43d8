//! The courier's deduplication cache: replies by BLAKE2b-256 of the query, so a resent query is
//! answered, not carried out again. Bounded in entries and bytes; the oldest entries (of a shard,
//! in a large cache) go first.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use tokio::sync::OnceCell;

/// BLAKE2b-256 of a query body: its key in the cache.
pub type QueryHash = [u8; 32];

/// Hashes a query body.
pub fn query_hash(body: &[u8]) -> QueryHash {
    Blake2b::<U32>::digest(body).into()
}

/// A reply as the courier sends it.
#[derive(Debug, Clone)]
pub struct CachedReply {
    /// HTTP status.
    pub status: u16,
    /// CBOR reply body.
    pub body: Bytes,
    /// The operation, for metrics.
    pub op: &'static str,
    /// The outcome label, for metrics.
    pub outcome: &'static str,
}

/// One query's slot: its reply once computed, and how many times the query arrived.
#[derive(Debug, Default)]
pub struct Entry {
    reply: OnceCell<CachedReply>,
    deliveries: AtomicU32,
    size: AtomicUsize,
}

impl Entry {
    /// Counts an arrival of the query; returns how many arrived before this one.
    pub fn arrival(&self) -> u32 {
        self.deliveries.fetch_add(1, Ordering::Relaxed)
    }

    /// The reply, computing it with `f` if this is the first arrival. Concurrent arrivals of the
    /// same query wait for the first one's reply, so a query is carried out once. Returns the
    /// reply and whether it came from the cache.
    pub async fn reply<F, Fut>(&self, f: F) -> (CachedReply, bool)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = CachedReply>,
    {
        let mut computed = false;
        let reply = self
            .reply
            .get_or_init(|| {
                computed = true;
                f()
            })
            .await;
        (reply.clone(), !computed)
    }
}

/// One shard: the entries whose hash falls in it, and their insertion order.
struct Shard {
    map: HashMap<QueryHash, Arc<Entry>>,
    /// Insertion order, oldest first; every key of `map` is here once.
    order: VecDeque<QueryHash>,
    /// Reply bytes of the settled entries in `map`.
    bytes: usize,
}

/// Fewest entries a shard is made for: a cache too small for two such shards is one shard, and
/// its bounds hold exactly as given.
const MIN_SHARD_ENTRIES: usize = 4096;
/// Fewest reply bytes a shard is made for (several batch-read replies of 96 full boxes).
const MIN_SHARD_BYTES: usize = 1 << 20;
/// Most shards.
const MAX_SHARDS: usize = 16;

/// The cache: shards by the first byte of the query hash, each under its own lock and bounded
/// by its share of the entries and bytes, so that the courier's threads seldom wait for one
/// another here (behind one lock, they slept on it more than on anything else under load).
/// Evicted replies are freed after the lock is let go.
pub struct Dedup {
    shards: Box<[Mutex<Shard>]>,
    /// Bounds of each shard.
    max_entries: usize,
    max_bytes: usize,
}

impl Dedup {
    /// A cache of at most `max_entries` replies and `max_bytes` reply bytes. A cache of at least
    /// 8,192 entries and 2 MiB is split into up to 16 shards (a power of two), each holding an
    /// equal share of both bounds (rounded down, so the whole stays within them); the oldest
    /// entries of a shard are evicted first.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        let max_entries = max_entries.max(1);
        let fit = (max_entries / MIN_SHARD_ENTRIES)
            .min(max_bytes / MIN_SHARD_BYTES)
            .clamp(1, MAX_SHARDS);
        // The largest power of two not above `fit`, so a hash byte picks a shard by its low bits.
        let count = 1usize << fit.ilog2();
        let (max_entries, max_bytes) = (max_entries / count, max_bytes / count);
        // Room for every entry from the start (one more is held while the oldest is evicted):
        // growing a full table means rehashing it under the lock, a pause every request of
        // the shard waits out.
        let room = max_entries.saturating_add(1).min(1 << 20);
        let shards = (0..count)
            .map(|_| {
                Mutex::new(Shard {
                    map: HashMap::with_capacity(room),
                    order: VecDeque::with_capacity(room),
                    bytes: 0,
                })
            })
            .collect();
        Self {
            shards,
            max_entries,
            max_bytes,
        }
    }

    fn lock(&self, hash: &QueryHash) -> std::sync::MutexGuard<'_, Shard> {
        let shard = &self.shards[usize::from(hash[0]) & (self.shards.len() - 1)];
        shard.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The slot of the query with this hash, created if new (evicting the oldest of its shard
    /// beyond the entry bound).
    pub fn entry(&self, hash: QueryHash) -> Arc<Entry> {
        let evicted;
        let e = {
            let mut shard = self.lock(&hash);
            if let Some(e) = shard.map.get(&hash) {
                return e.clone();
            }
            let e = Arc::new(Entry::default());
            shard.map.insert(hash, e.clone());
            shard.order.push_back(hash);
            evicted = self.evict(&mut shard);
            e
        };
        drop(evicted);
        e
    }

    /// Accounts for the `reply_len` bytes of the reply just computed into `entry` (the slot of
    /// `hash`) and evicts the oldest replies of its shard beyond the bounds.
    pub fn settle(&self, hash: QueryHash, entry: &Arc<Entry>, reply_len: usize) {
        let evicted = {
            let mut shard = self.lock(&hash);
            // Only if the slot was not evicted meanwhile.
            if !shard.map.get(&hash).is_some_and(|e| Arc::ptr_eq(e, entry)) {
                return;
            }
            entry.size.store(reply_len, Ordering::Relaxed);
            shard.bytes += reply_len;
            self.evict(&mut shard)
        };
        drop(evicted);
    }

    /// Takes the oldest entries out of `shard` until it is within the bounds, and returns them
    /// so that the caller frees their replies after letting go of the lock.
    fn evict(&self, shard: &mut Shard) -> Vec<Arc<Entry>> {
        let mut evicted = Vec::new();
        while shard.order.len() > self.max_entries || shard.bytes > self.max_bytes {
            let Some(old) = shard.order.pop_front() else {
                break;
            };
            if let Some(e) = shard.map.remove(&old) {
                shard.bytes -= e.size.load(Ordering::Relaxed);
                evicted.push(e);
            }
        }
        evicted
    }

    /// How many replies are held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).map.len())
            .sum()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(n: u8) -> CachedReply {
        CachedReply {
            status: 200,
            body: Bytes::from(vec![n; 10]),
            op: "write",
            outcome: "success",
        }
    }

    #[tokio::test]
    async fn a_repeated_query_is_answered_from_the_cache() {
        let d = Dedup::new(10, 1000);
        let h = query_hash(b"query");
        let e = d.entry(h);
        assert_eq!(e.arrival(), 0);
        let (r, cached) = e.reply(|| async { reply(1) }).await;
        assert!(!cached);
        d.settle(h, &e, r.body.len());
        let e = d.entry(h);
        assert_eq!(e.arrival(), 1);
        let (r, cached) = e.reply(|| async { panic!("must not run again") }).await;
        assert!(cached);
        assert_eq!(r.body, reply(1).body);
    }

    #[tokio::test]
    async fn bounded_in_entries_and_bytes() {
        let d = Dedup::new(3, 25);
        for i in 0..5u8 {
            let h = query_hash(&[i]);
            let e = d.entry(h);
            let (r, _) = e.reply(|| async move { reply(i) }).await;
            d.settle(h, &e, r.body.len());
        }
        assert_eq!(d.len(), 2, "25 bytes hold two 10-byte replies");
        let (_, cached) = d.entry(query_hash(&[4])).reply(|| async { reply(9) }).await;
        assert!(cached, "the newest is kept");
        let (_, cached) = d.entry(query_hash(&[0])).reply(|| async { reply(9) }).await;
        assert!(!cached, "the oldest was evicted");
        let d = Dedup::new(3, 1 << 20);
        for i in 0..10u8 {
            d.entry(query_hash(&[i]));
        }
        assert_eq!(d.len(), 3, "unsettled entries count too");
    }

    #[tokio::test]
    async fn a_sharded_cache_keeps_its_bounds_and_its_newest_replies() {
        // Two shards of 4,096 entries and 1 MiB each.
        let d = Dedup::new(8192, 2 << 20);
        assert_eq!(d.shards.len(), 2);
        let hashes: Vec<_> = (0..10_000u32)
            .map(|i| query_hash(&i.to_le_bytes()))
            .collect();
        for h in &hashes {
            assert_eq!(d.entry(*h).arrival(), 0);
        }
        assert_eq!(d.len(), 8192, "each shard is full, none beyond its bound");
        for h in &hashes[hashes.len() - 100..] {
            let (_, cached) = d.entry(*h).reply(|| async { reply(1) }).await;
            assert!(!cached, "held, not yet answered");
            d.settle(*h, &d.entry(*h), 10);
            assert!(
                d.entry(*h).reply(|| async { reply(2) }).await.1,
                "answered from the cache"
            );
        }
        assert_eq!(
            d.entry(hashes[0]).arrival(),
            0,
            "the oldest was evicted: a new slot"
        );
        assert_eq!(d.entry(hashes[9_999]).arrival(), 1, "the newest is held");

        // Bytes: 64 replies of 64 KiB fill 4 MiB, twice the bound of the two shards together.
        let d = Dedup::new(8192, 2 << 20);
        for i in 0..64u32 {
            let h = query_hash(&i.to_le_bytes());
            let e = d.entry(h);
            d.settle(h, &e, 64 << 10);
        }
        let held: usize = d.shards.iter().map(|s| s.lock().unwrap().bytes).sum();
        assert!(
            ((2 << 20) - (128 << 10)..=2 << 20).contains(&held),
            "{held} bytes held"
        );
    }

    #[test]
    fn the_shard_count_follows_the_bounds() {
        assert_eq!(Dedup::new(65_536, 64 << 20).shards.len(), 16);
        assert_eq!(
            Dedup::new(65_536, 3 << 20).shards.len(),
            2,
            "1 MiB per shard at least"
        );
        assert_eq!(Dedup::new(8191, 64 << 20).shards.len(), 1);
        assert_eq!(Dedup::new(1 << 30, 1 << 40).shards.len(), 16);
        assert_eq!(Dedup::new(0, 0).shards.len(), 1);
    }
}
