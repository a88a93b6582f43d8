//! The write path: signature checks batched across concurrent queries, and the storage of what
//! passes, a batch at a time.
//!
//! Every write query queues its box and awaits the answer. Whichever query finds nobody
//! leading starts a leader task on the runtime, which takes every box queued (up to
//! [`MAX_BATCH`]) and checks them together with [`check_boxes`]: one Ed25519 batch equation,
//! about a third cheaper per box than verifying each alone once eight or more are checked
//! together (see [`bacap::verify_many`] for what batching does and does not change). It goes on
//! until the queue is empty, then stops leading. While [`ENOUGH`] boxes wait, a query starts
//! another leader, up to one per worker thread: one leader's thread alone, sharing the cores
//! with everything else, would hold every write up behind it.
//!
//! Few boxes queue at once unless the leader waits a little for more, so it gathers: before a
//! batch of fewer than [`ENOUGH`] boxes it sleeps [`WINDOW`] while the other queries queue
//! theirs. It gathers only while writes come concurrently (its last batch had more than one
//! box), so a lone client's write is checked at once. The checks run on the runtime's worker
//! threads: a thread of their own would get a fair share of the cores, not what the load needs.
//!
//! The leader then stores what passed: it hands the batch's checked boxes to the store function
//! the verifier was made with (the courier's [`crate::storage::Storage::write_many`], which
//! commits them in one RocksDB write, one WAL append for all), and answers each query with its
//! write's outcome. One write per box would cost a WAL append each, and a RocksDB write-thread
//! hand-over whenever the two worker threads wrote at once. A write whose query has gone (its
//! client went away) is stored all the same, as a courier that lost the connection would.
//!
//! The leader asks the store not to wait ([`Wait::No`]): while RocksDB holds writes back (its
//! flushes or compactions are behind), a commit would block the worker thread, and with it every
//! query that thread serves. A store that declines is asked again on Tokio's blocking pool,
//! where waiting holds up only the writes of that batch.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bacap::SealedBox;
use pigeonhole::padding::PaddedGeometry;
use pigeonhole::store::{
    check_box, check_boxes, CheckedBox, ReplyCode, Verification, WriteOutcome,
};
use tokio::sync::oneshot;

use crate::metrics::Metrics;
use crate::storage::Wait;

/// The most boxes checked together.
pub const MAX_BATCH: usize = 64;
/// How long the leader gathers boxes before a batch while writes come concurrently.
pub const WINDOW: Duration = Duration::from_millis(1);
/// A batch this large gains little from more boxes: the leader does not wait for more.
pub const ENOUGH: usize = 16;

/// What stores a batch of checked boxes, answering for each in order; with [`Wait::No`] it may
/// decline instead (`None`, having stored nothing) where storing would wait.
pub type StoreBatch =
    Box<dyn Fn(&[CheckedBox], Wait) -> Option<Vec<Result<WriteOutcome, ReplyCode>>> + Send + Sync>;

struct Job {
    sealed: SealedBox,
    answer: oneshot::Sender<Result<WriteOutcome, ReplyCode>>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Leader tasks running.
    leaders: usize,
    /// Whether leaders sleep [`WINDOW`] before a batch of fewer than [`ENOUGH`] boxes.
    gather: bool,
}

/// The checks and storage of writes, for payloads of at most a given size.
pub struct Verifier {
    geometry: PaddedGeometry,
    verification: Verification,
    metrics: Arc<Metrics>,
    store: StoreBatch,
    queue: Mutex<Queue>,
}

impl Verifier {
    /// A verifier for padded boxes of `geometry` that stores what passes with
    /// `store`, counting its batches in `metrics`. With [`Verification::Each`] every write is
    /// checked and stored on its own, at once, by the query that carries it.
    pub fn new(
        geometry: PaddedGeometry,
        verification: Verification,
        metrics: Arc<Metrics>,
        store: StoreBatch,
    ) -> Self {
        Self {
            geometry,
            verification,
            metrics,
            store,
            queue: Mutex::new(Queue::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks a write's payload size and signature ([`pigeonhole::store::check_box`]'s refusal if
    /// it fails) and stores it (the store function's answer). Must run on a Tokio runtime.
    pub async fn write(self: &Arc<Self>, sealed: SealedBox) -> Result<WriteOutcome, ReplyCode> {
        if self.verification == Verification::Each {
            self.metrics.verify_batch(1);
            let checked = check_box(sealed, self.geometry)?;
            return self
                .store(vec![checked])
                .await
                .pop()
                .unwrap_or(Err(ReplyCode::InternalError));
        }
        let (answer, answered) = oneshot::channel();
        let lead = {
            let mut queue = self.lock();
            queue.jobs.push(Job { sealed, answer });
            // A second leader (and so on, one per worker thread) only for a full batch waiting.
            let workers = tokio::runtime::Handle::current().metrics().num_workers();
            let lead = queue.leaders == 0 || queue.leaders < workers && queue.jobs.len() >= ENOUGH;
            queue.leaders += usize::from(lead);
            lead
        };
        if lead {
            // A task of its own: a query's future ends when its client goes away, and a leader
            // that vanished would leave the queue waiting forever.
            tokio::spawn(self.clone().lead());
        }
        answered.await.unwrap_or(Err(ReplyCode::InternalError))
    }

    async fn lead(self: Arc<Self>) {
        loop {
            let gather = {
                let queue = self.lock();
                queue.gather && queue.jobs.len() < ENOUGH
            };
            if gather {
                tokio::time::sleep(WINDOW).await;
            }
            let batch = {
                let mut queue = self.lock();
                let n = queue.jobs.len().min(MAX_BATCH);
                if n == 0 {
                    queue.leaders -= 1;
                    return;
                }
                queue.gather = n > 1;
                queue.jobs.drain(..n).collect::<Vec<_>>()
            };
            self.check_and_store(batch).await;
            // The answered queries were woken on this thread: let them go on first.
            tokio::task::yield_now().await;
        }
    }

    /// Stores checked boxes, one answer each: at once if the store can without waiting,
    /// otherwise on the blocking pool.
    async fn store(
        self: &Arc<Self>,
        boxes: Vec<CheckedBox>,
    ) -> Vec<Result<WriteOutcome, ReplyCode>> {
        if let Some(outcomes) = (self.store)(&boxes, Wait::No) {
            return outcomes;
        }
        self.metrics.store_waited();
        let this = self.clone();
        let n = boxes.len();
        tokio::task::spawn_blocking(move || (this.store)(&boxes, Wait::Yes))
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| vec![Err(ReplyCode::InternalError); n])
    }

    async fn check_and_store(self: &Arc<Self>, batch: Vec<Job>) {
        self.metrics.verify_batch(batch.len() as u64);
        let (boxes, answers): (Vec<SealedBox>, Vec<_>) =
            batch.into_iter().map(|j| (j.sealed, j.answer)).unzip();
        let mut passed = Vec::with_capacity(boxes.len());
        let mut waiting = Vec::with_capacity(boxes.len());
        for (checked, answer) in check_boxes(boxes, self.geometry, self.verification)
            .into_iter()
            .zip(answers)
        {
            match checked {
                Ok(b) => {
                    passed.push(b);
                    waiting.push(answer);
                }
                // The query may be gone (its client went away); then nobody waits for the answer.
                Err(code) => drop(answer.send(Err(code))),
            }
        }
        if passed.is_empty() {
            return;
        }
        let mut outcomes = self.store(passed).await.into_iter();
        for answer in waiting {
            let _ = answer.send(outcomes.next().unwrap_or(Err(ReplyCode::InternalError)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bacap::{Signature, WriteCap};
    use rand_core::SeedableRng;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// What [`recording_store`]'s store answers for `b`: something that differs between boxes,
    /// so that an answer shows whose it is.
    fn answer_for(b: &SealedBox) -> WriteOutcome {
        WriteOutcome::AlreadyExists {
            identical: b.payload.len() % 2 == 0,
        }
    }

    /// A store that answers [`answer_for`] each box and counts its calls and boxes.
    fn recording_store() -> (StoreBatch, Arc<(AtomicUsize, AtomicUsize)>) {
        let counts = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let seen = counts.clone();
        let store: StoreBatch = Box::new(move |boxes, _| {
            seen.0.fetch_add(1, Ordering::Relaxed);
            seen.1.fetch_add(boxes.len(), Ordering::Relaxed);
            Some(boxes.iter().map(|b| Ok(answer_for(b))).collect())
        });
        (store, counts)
    }

    /// Small boxes: messages of up to 12 bytes, padded to 16, 32-byte payloads.
    const G: PaddedGeometry = PaddedGeometry::new(bacap::Geometry::new(12));

    /// A batching verifier for boxes of [`G`] that stores with `store`.
    fn batched(store: StoreBatch) -> Arc<Verifier> {
        Arc::new(Verifier::new(
            G,
            Verification::Batched,
            Arc::default(),
            store,
        ))
    }

    fn boxes(n: usize) -> Vec<SealedBox> {
        let w = WriteCap::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(7));
        let mut index = w.first_index().clone();
        (0..n)
            .map(|i| {
                let padded = pigeonhole::padding::pad(format!("box {i}").as_bytes(), G).unwrap();
                let b = w.seal(&index, b"ctx", &padded);
                index = index.next().unwrap();
                b
            })
            .collect()
    }

    // On one thread, so that the batches do not depend on timing: the 200 queries all queue
    // their boxes before the leader task (spawned by the first) runs. On two worker threads under
    // load, each query could be answered before the next was queued (batches of one).
    #[tokio::test]
    async fn concurrent_writes_get_their_own_answers_in_batches() {
        let (verifier, stores) = write_200_concurrently(Verification::Batched).await;
        let (batches, checked) = verifier.metrics.verify_counts();
        assert_eq!(checked, 200);
        assert_eq!(
            batches,
            200usize.div_ceil(MAX_BATCH) as u64,
            "200 writes queued together are checked in full batches"
        );
        let (calls, stored) = (
            stores.0.load(Ordering::Relaxed),
            stores.1.load(Ordering::Relaxed),
        );
        assert_eq!(
            stored, 50,
            "each write that passes is stored once, no other"
        );
        assert_eq!(calls as u64, batches, "each batch is stored with one call");
        // The leader stops once it finds the queue empty (after one more gathering sleep).
        for _ in 0..1000 {
            if verifier.lock().leaders == 0 {
                return;
            }
            tokio::time::sleep(WINDOW).await;
        }
        panic!("the leader still runs with the queue empty");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_write_can_be_checked_on_its_own() {
        let (verifier, stores) = write_200_concurrently(Verification::Each).await;
        assert_eq!(verifier.metrics.verify_counts(), (200, 200));
        assert_eq!(verifier.lock().leaders, 0, "no leader ever ran");
        assert_eq!(
            stores.0.load(Ordering::Relaxed),
            50,
            "one store call per write"
        );
    }

    /// Writes 200 boxes concurrently, three in four of them bad (in three ways), asserting each
    /// answer; returns the verifier and its store's counts (calls, boxes).
    async fn write_200_concurrently(
        verification: Verification,
    ) -> (Arc<Verifier>, Arc<(AtomicUsize, AtomicUsize)>) {
        let (store, stores) = recording_store();
        let verifier = Arc::new(Verifier::new(G, verification, Arc::default(), store));
        let mut cases = Vec::new();
        for (i, mut b) in boxes(200).into_iter().enumerate() {
            let expected = match i % 4 {
                0 => Ok(answer_for(&b)),
                1 => {
                    b.payload[0] ^= 1;
                    Err(ReplyCode::InvalidSignature)
                }
                2 => {
                    b.payload = vec![0; 101];
                    Err(ReplyCode::InvalidPayload)
                }
                _ => {
                    b.signature = Signature::from_array([0xff; 64]);
                    Err(ReplyCode::InvalidSignature)
                }
            };
            cases.push((b, expected));
        }
        let tasks: Vec<_> = cases
            .into_iter()
            .map(|(b, expected)| {
                let verifier = verifier.clone();
                tokio::spawn(async move {
                    assert_eq!(verifier.write(b).await, expected);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        (verifier, stores)
    }

    #[tokio::test]
    async fn a_batch_the_store_declines_is_stored_off_the_runtime_thread() {
        // Declines every batch it is not allowed to wait for, like a stalled RocksDB, and
        // records the thread of each batch it stores.
        let runtime_thread = std::thread::current().id();
        let stored_on = Arc::new(Mutex::new(Vec::new()));
        let metrics = Arc::new(Metrics::default());
        for verification in [Verification::Batched, Verification::Each] {
            let record = stored_on.clone();
            let store: StoreBatch = Box::new(move |boxes, wait| {
                if wait == Wait::No {
                    return None;
                }
                record.lock().unwrap().push(std::thread::current().id());
                Some(boxes.iter().map(|b| Ok(answer_for(b))).collect())
            });
            let verifier = Arc::new(Verifier::new(G, verification, metrics.clone(), store));
            let tasks: Vec<_> = boxes(20)
                .into_iter()
                .map(|b| {
                    let verifier = verifier.clone();
                    tokio::spawn(async move { (verifier.write(b.clone()).await, b) })
                })
                .collect();
            for t in tasks {
                let (answer, b) = t.await.unwrap();
                assert_eq!(answer, Ok(answer_for(&b)), "{verification:?}");
            }
        }
        let stored_on = stored_on.lock().unwrap();
        assert!(!stored_on.is_empty());
        assert!(stored_on.iter().all(|&t| t != runtime_thread));
        let held_back = format!("courier_held_back_write_batches_total {}", stored_on.len());
        assert!(metrics.render(&[], 0).lines().any(|l| l == held_back));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_store_fails_every_write_in_it() {
        let store: StoreBatch =
            Box::new(|boxes, _| Some(vec![Err(ReplyCode::DatabaseFailure); boxes.len()]));
        let verifier = batched(store);
        let tasks: Vec<_> = boxes(40)
            .into_iter()
            .map(|b| {
                let verifier = verifier.clone();
                tokio::spawn(async move { verifier.write(b).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Err(ReplyCode::DatabaseFailure));
        }
    }

    #[tokio::test]
    async fn sequential_writes_are_checked_one_by_one() {
        let metrics = Arc::new(Metrics::default());
        let verifier = Arc::new(Verifier::new(
            G,
            Verification::Batched,
            metrics.clone(),
            recording_store().0,
        ));
        for b in boxes(5) {
            assert_eq!(verifier.write(b.clone()).await, Ok(answer_for(&b)));
            assert!(!verifier.lock().gather, "a lone write is not held back");
        }
        assert_eq!(metrics.verify_counts(), (5, 5));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_that_goes_away_does_not_stall_the_others() {
        use futures_util::FutureExt;
        // The store holds every batch until `release` is dropped, so that no query can be
        // answered before it is dropped (on two workers the leader could otherwise answer the
        // first write before it is polled a first time).
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let store: StoreBatch = Box::new(move |boxes, _| {
            let _ = gate.lock().unwrap_or_else(|p| p.into_inner()).recv();
            Some(boxes.iter().map(|b| Ok(answer_for(b))).collect())
        });
        let verifier = batched(store);
        let mut boxes = boxes(3).into_iter();
        // Each query queues its box and is dropped before its answer, the first as the leader.
        for b in boxes.by_ref().take(2) {
            assert!(verifier.write(b).now_or_never().is_none());
        }
        drop(release);
        let last = verifier.write(boxes.next().unwrap());
        let answered = tokio::time::timeout(Duration::from_secs(10), last).await;
        assert!(matches!(answered, Ok(Ok(_))), "the last query is answered");
    }
}
