//! The signature checks of writes, batched across concurrent queries.
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
//! threads, as the checks of one write each before them did: a thread of their own would get a
//! fair share of the cores, not what the load needs.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bacap::store::{check_box, check_boxes, CheckedBox, ReplyCode, Verification};
use bacap::SealedBox;
use tokio::sync::oneshot;

use crate::metrics::Metrics;

/// The most boxes checked together.
pub const MAX_BATCH: usize = 64;
/// How long the leader gathers boxes before a batch while writes come concurrently.
pub const WINDOW: Duration = Duration::from_millis(1);
/// A batch this large gains little from more boxes: the leader does not wait for more.
pub const ENOUGH: usize = 16;

struct Job {
    sealed: SealedBox,
    answer: oneshot::Sender<Result<CheckedBox, ReplyCode>>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Leader tasks running.
    leaders: usize,
    /// Whether leaders sleep [`WINDOW`] before a batch of fewer than [`ENOUGH`] boxes.
    gather: bool,
}

/// The checks of writes for payloads of at most a given size.
pub struct Verifier {
    max_payload: usize,
    verification: Verification,
    metrics: Arc<Metrics>,
    queue: Mutex<Queue>,
}

impl Verifier {
    /// A verifier for payloads of at most `max_payload` bytes, counting its batches in
    /// `metrics`. With [`Verification::Each`] every write is checked on its own, at once, by
    /// the query that carries it.
    pub fn new(max_payload: usize, verification: Verification, metrics: Arc<Metrics>) -> Self {
        Self {
            max_payload,
            verification,
            metrics,
            queue: Mutex::new(Queue::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks a write's payload size and signature ([`bacap::store::check_box`]'s answer).
    /// Must run on a Tokio runtime.
    pub async fn check(self: &Arc<Self>, sealed: SealedBox) -> Result<CheckedBox, ReplyCode> {
        if self.verification == Verification::Each {
            self.metrics.verify_batch(1);
            return check_box(sealed, self.max_payload);
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
            self.check_batch(batch);
            // The answered queries were woken on this thread: let them go on first.
            tokio::task::yield_now().await;
        }
    }

    fn check_batch(&self, batch: Vec<Job>) {
        self.metrics.verify_batch(batch.len() as u64);
        let (boxes, answers): (Vec<SealedBox>, Vec<_>) =
            batch.into_iter().map(|j| (j.sealed, j.answer)).unzip();
        for (checked, answer) in check_boxes(boxes, self.max_payload, self.verification)
            .into_iter()
            .zip(answers)
        {
            // The query may be gone (its client went away); then nobody waits for the answer.
            let _ = answer.send(checked);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bacap::{Signature, WriteCap};
    use rand_core::SeedableRng;

    fn boxes(n: usize) -> Vec<SealedBox> {
        let w = WriteCap::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(7));
        let mut index = w.first_index().clone();
        (0..n)
            .map(|i| {
                let b = w.seal(&index, b"ctx", format!("box {i}").as_bytes());
                index = index.next().unwrap();
                b
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_get_their_own_answers_in_batches() {
        let verifier = check_200_concurrent_writes(Verification::Batched).await;
        let (batches, checked) = verifier.metrics.verify_counts();
        assert_eq!(checked, 200);
        assert!(
            batches < 200,
            "200 concurrent writes are checked in batches"
        );
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
        let verifier = check_200_concurrent_writes(Verification::Each).await;
        assert_eq!(verifier.metrics.verify_counts(), (200, 200));
        assert_eq!(verifier.lock().leaders, 0, "no leader ever ran");
    }

    /// Checks 200 writes concurrently, three in four of them bad (in three ways), asserting each
    /// answer; returns the verifier.
    async fn check_200_concurrent_writes(verification: Verification) -> Arc<Verifier> {
        let verifier = Arc::new(Verifier::new(100, verification, Arc::default()));
        let mut cases = Vec::new();
        for (i, mut b) in boxes(200).into_iter().enumerate() {
            let expected = match i % 4 {
                0 => Ok(()),
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
                    let id = b.box_id;
                    let got = verifier.check(b).await;
                    if let Ok(checked) = &got {
                        assert_eq!(checked.box_id, id, "the answer belongs to the query");
                    }
                    assert_eq!(got.map(|_| ()), expected);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        verifier
    }

    #[tokio::test]
    async fn sequential_writes_are_checked_one_by_one() {
        let metrics = Arc::new(Metrics::default());
        let verifier = Arc::new(Verifier::new(2000, Verification::Batched, metrics.clone()));
        for b in boxes(5) {
            verifier.check(b).await.unwrap();
            assert!(!verifier.lock().gather, "a lone write is not held back");
        }
        assert_eq!(metrics.verify_counts(), (5, 5));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_that_goes_away_does_not_stall_the_others() {
        use futures_util::FutureExt;
        let verifier = Arc::new(Verifier::new(
            2000,
            Verification::Batched,
            Arc::new(Metrics::default()),
        ));
        let mut boxes = boxes(3).into_iter();
        // Each query queues its box and is dropped before its answer, the first as the leader.
        for b in boxes.by_ref().take(2) {
            assert!(verifier.check(b).now_or_never().is_none());
        }
        let last = verifier.check(boxes.next().unwrap());
        let answered = tokio::time::timeout(Duration::from_secs(10), last).await;
        assert!(matches!(answered, Ok(Ok(_))), "the last query is answered");
    }
}
