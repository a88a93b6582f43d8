//! The courier's deduplication cache: replies by BLAKE2b-256 of the query, so a resent query is
//! answered, not carried out again. Bounded in entries and bytes; the oldest entries go first.

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

struct Inner {
    map: HashMap<QueryHash, Arc<Entry>>,
    /// Insertion order, oldest first; every key of `map` is here once.
    order: VecDeque<QueryHash>,
    /// Reply bytes of the settled entries in `map`.
    bytes: usize,
}

/// The cache.
pub struct Dedup {
    inner: Mutex<Inner>,
    max_entries: usize,
    max_bytes: usize,
}

impl Dedup {
    /// A cache of at most `max_entries` replies and `max_bytes` reply bytes.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        // Room for every entry from the start (one more is held while the oldest is evicted):
        // growing a full table means rehashing it under the lock, a pause every request waits
        // out.
        let room = max_entries.saturating_add(1).min(1 << 20);
        Self {
            inner: Mutex::new(Inner {
                map: HashMap::with_capacity(room),
                order: VecDeque::with_capacity(room),
                bytes: 0,
            }),
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The slot of the query with this hash, created if new (evicting the oldest beyond the
    /// entry bound).
    pub fn entry(&self, hash: QueryHash) -> Arc<Entry> {
        let mut inner = self.lock();
        if let Some(e) = inner.map.get(&hash) {
            return e.clone();
        }
        let e = Arc::new(Entry::default());
        inner.map.insert(hash, e.clone());
        inner.order.push_back(hash);
        self.evict(&mut inner);
        e
    }

    /// Accounts for the `reply_len` bytes of the reply just computed into `entry` (the slot of
    /// `hash`) and evicts the oldest replies beyond the bounds.
    pub fn settle(&self, hash: QueryHash, entry: &Arc<Entry>, reply_len: usize) {
        let mut inner = self.lock();
        // Only if the slot was not evicted meanwhile.
        if inner.map.get(&hash).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            entry.size.store(reply_len, Ordering::Relaxed);
            inner.bytes += reply_len;
            self.evict(&mut inner);
        }
    }

    fn evict(&self, inner: &mut Inner) {
        while inner.order.len() > self.max_entries || inner.bytes > self.max_bytes {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            if let Some(e) = inner.map.remove(&old) {
                inner.bytes -= e.size.load(Ordering::Relaxed);
            }
        }
    }

    /// How many replies are held.
    pub fn len(&self) -> usize {
        self.lock().map.len()
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
}
