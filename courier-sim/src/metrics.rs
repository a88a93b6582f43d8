//! Counters and latency histograms, rendered in the Prometheus text format at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&b| s <= b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
}

const OPS: [&str; 5] = ["write", "read", "copy", "copy_status", "malformed"];

/// The simulator's metrics.
#[derive(Default)]
pub struct Metrics {
    /// Queries answered, by (operation, outcome).
    queries: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Boxes answered by batch reads, by outcome: found, not found, tombstone.
    boxes_read: [AtomicU64; 3],
    /// Replies answered from the deduplication cache.
    dedup_hits: AtomicU64,
    /// Replies dropped by the simulated mixnet.
    lost_replies: AtomicU64,
    /// Time to carry out a query (without simulated latency), by operation.
    latency: [Histogram; OPS.len()],
    /// Batches of writes whose signatures were checked together.
    verify_batches: AtomicU64,
    /// Writes checked in those batches.
    verified_boxes: AtomicU64,
    /// Batches of checked writes that RocksDB held back (a write stall), stored off the request
    /// threads.
    held_back_batches: AtomicU64,
}

/// Writes a metric's `# HELP` and `# TYPE` lines.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes a metric without labels: its header and its one value.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// What a batch read found, for [`Metrics::boxes_read`].
#[derive(Debug, Clone, Copy)]
pub enum BoxRead {
    /// A stored box.
    Found = 0,
    /// Nothing there.
    NotFound = 1,
    /// A tombstone.
    Tombstone = 2,
}

impl Metrics {
    /// Counts a query answered with `outcome` (only for queries carried out, not cache hits).
    pub fn query(&self, op: &'static str, outcome: &'static str, took: Duration) {
        *self
            .queries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((op, outcome))
            .or_default() += 1;
        if let Some(i) = OPS.iter().position(|&o| o == op) {
            self.latency[i].observe(took);
        }
    }

    /// Counts boxes answered by a batch read.
    pub fn boxes_read(&self, what: BoxRead, n: u64) {
        self.boxes_read[what as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a reply served from the deduplication cache.
    pub fn dedup_hit(&self) {
        self.dedup_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a batch of `n` writes whose signatures were checked together.
    pub fn verify_batch(&self, n: u64) {
        self.verify_batches.fetch_add(1, Ordering::Relaxed);
        self.verified_boxes.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a batch of checked writes that RocksDB held back, stored on the blocking pool.
    pub fn store_waited(&self) {
        self.held_back_batches.fetch_add(1, Ordering::Relaxed);
    }

    /// The batches counted by [`Metrics::verify_batch`] and the writes in them.
    pub fn verify_counts(&self) -> (u64, u64) {
        (
            self.verify_batches.load(Ordering::Relaxed),
            self.verified_boxes.load(Ordering::Relaxed),
        )
    }

    /// Counts a reply dropped by the simulated mixnet.
    pub fn lost_reply(&self) {
        self.lost_replies.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with the replicas' up state and the cache size.
    pub fn render(&self, replicas_up: &[bool], dedup_entries: usize) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "courier_queries_total",
            "counter",
            "Queries carried out, by operation and outcome.",
        );
        for ((op, outcome), n) in self
            .queries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "courier_queries_total{{op=\"{op}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        header(
            &mut out,
            "courier_boxes_read_total",
            "counter",
            "Boxes answered by batch reads, by outcome.",
        );
        for (i, name) in ["found", "not_found", "tombstone"].iter().enumerate() {
            let n = self.boxes_read[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "courier_boxes_read_total{{outcome=\"{name}\"}} {n}");
        }
        single(
            &mut out,
            "courier_dedup_hits_total",
            "counter",
            "Resent queries answered from the deduplication cache.",
            self.dedup_hits.load(Ordering::Relaxed),
        );
        single(
            &mut out,
            "courier_lost_replies_total",
            "counter",
            "Replies dropped by the simulated mixnet.",
            self.lost_replies.load(Ordering::Relaxed),
        );
        let (batches, boxes) = self.verify_counts();
        single(
            &mut out,
            "courier_verify_batches_total",
            "counter",
            "Batches of writes whose signatures were checked together.",
            batches,
        );
        single(
            &mut out,
            "courier_verified_writes_total",
            "counter",
            "Writes whose size and signature were checked.",
            boxes,
        );
        single(
            &mut out,
            "courier_held_back_write_batches_total",
            "counter",
            "Batches of checked writes that RocksDB held back (a write stall).",
            self.held_back_batches.load(Ordering::Relaxed),
        );
        single(
            &mut out,
            "courier_dedup_entries",
            "gauge",
            "Replies held in the deduplication cache.",
            dedup_entries,
        );
        header(
            &mut out,
            "courier_replica_up",
            "gauge",
            "Whether each replica is up.",
        );
        for (r, up) in replicas_up.iter().enumerate() {
            let _ = writeln!(
                out,
                "courier_replica_up{{replica=\"{r}\"}} {}",
                u8::from(*up)
            );
        }
        header(
            &mut out,
            "courier_query_duration_seconds",
            "histogram",
            "Time to carry out a query, without simulated latency.",
        );
        for (op, h) in OPS.iter().zip(&self.latency) {
            let mut cumulative = 0;
            for (b, c) in BUCKETS.iter().zip(&h.counts) {
                cumulative += c.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "courier_query_duration_seconds_bucket{{op=\"{op}\",le=\"{b}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "courier_query_duration_seconds_bucket{{op=\"{op}\",le=\"+Inf\"}} {count}"
            );
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "courier_query_duration_seconds_sum{{op=\"{op}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "courier_query_duration_seconds_count{{op=\"{op}\"}} {count}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.query("write", "success", Duration::from_micros(300));
        m.query("write", "success", Duration::from_millis(30));
        m.query("write", "invalid_signature", Duration::from_micros(50));
        m.boxes_read(BoxRead::NotFound, 7);
        m.lost_reply();
        m.verify_batch(5);
        m.verify_batch(1);
        m.store_waited();
        let text = m.render(&[true, false], 3);
        for line in [
            "courier_queries_total{op=\"write\",outcome=\"success\"} 2",
            "courier_queries_total{op=\"write\",outcome=\"invalid_signature\"} 1",
            "courier_boxes_read_total{outcome=\"not_found\"} 7",
            "courier_lost_replies_total 1",
            "courier_verify_batches_total 2",
            "courier_verified_writes_total 6",
            "courier_held_back_write_batches_total 1",
            "courier_replica_up{replica=\"1\"} 0",
            "courier_query_duration_seconds_bucket{op=\"write\",le=\"0.0001\"} 1",
            "courier_query_duration_seconds_bucket{op=\"write\",le=\"0.0005\"} 2",
            "courier_query_duration_seconds_bucket{op=\"write\",le=\"+Inf\"} 3",
            "courier_query_duration_seconds_count{op=\"write\"} 3",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
