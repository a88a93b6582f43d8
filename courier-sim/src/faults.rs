//! Simulated mixnet faults: latency, jitter and lost replies, all reproducible from `--seed`.
//!
//! Each decision is drawn from a ChaCha20 RNG seeded with BLAKE2b-256 of the seed, the query's
//! hash and how many times that query arrived before. The same query sent the same number of
//! times therefore meets the same faults on every run, whatever the interleaving of other
//! clients' queries.

use std::time::Duration;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::config::Config;
use crate::dedup::QueryHash;

/// What the simulated mixnet does to one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fate {
    /// How long the reply is held back.
    pub delay: Duration,
    /// Whether it is lost after the delay.
    pub lost: bool,
}

/// The fault model.
#[derive(Debug, Clone)]
pub struct Faults {
    seed: u64,
    latency: Duration,
    jitter_ms: u64,
    loss: f64,
}

impl Faults {
    /// The faults `config` asks for.
    pub fn new(config: &Config) -> Self {
        Self {
            seed: config.seed,
            latency: Duration::from_millis(config.latency),
            jitter_ms: config.jitter,
            loss: config.loss,
        }
    }

    /// Whether any fault is configured.
    pub fn any(&self) -> bool {
        !self.latency.is_zero() || self.jitter_ms > 0 || self.loss > 0.0
    }

    /// The fate of the reply to the `arrival`-th delivery (from 0) of the query `hash`.
    pub fn fate(&self, hash: &QueryHash, arrival: u32) -> Fate {
        if !self.any() {
            return Fate {
                delay: Duration::ZERO,
                lost: false,
            };
        }
        let mut h = Blake2b::<U32>::new();
        h.update(self.seed.to_le_bytes());
        h.update(hash);
        h.update(arrival.to_le_bytes());
        let mut rng = ChaCha20Rng::from_seed(h.finalize().into());
        let jitter = if self.jitter_ms > 0 {
            Duration::from_micros(rng.next_u64() % (self.jitter_ms * 1000 + 1))
        } else {
            Duration::ZERO
        };
        // 53 random bits as a uniform float in [0, 1).
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        Fate {
            delay: self.latency + jitter,
            lost: u < self.loss,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(latency: u64, jitter: u64, loss: f64, seed: u64) -> Faults {
        let mut c = Config::ephemeral();
        c.latency = latency;
        c.jitter = jitter;
        c.loss = loss;
        c.seed = seed;
        Faults::new(&c)
    }

    #[test]
    fn no_faults_by_default() {
        let f = faults(0, 0, 0.0, 1);
        assert!(!f.any());
        assert_eq!(
            f.fate(&[1; 32], 0),
            Fate {
                delay: Duration::ZERO,
                lost: false
            }
        );
    }

    #[test]
    fn fates_are_reproducible_and_follow_the_parameters() {
        let f = faults(5, 10, 0.3, 42);
        let fates: Vec<Fate> = (0..2000u32)
            .map(|i| f.fate(&query_hash_of(i), i % 3))
            .collect();
        let again: Vec<Fate> = (0..2000u32)
            .map(|i| f.fate(&query_hash_of(i), i % 3))
            .collect();
        assert_eq!(fates, again);
        let other_seed = faults(5, 10, 0.3, 43);
        assert_ne!(
            fates[..50],
            (0..50u32)
                .map(|i| other_seed.fate(&query_hash_of(i), i % 3))
                .collect::<Vec<_>>()[..]
        );
        let lost = fates.iter().filter(|f| f.lost).count();
        assert!((500..700).contains(&lost), "{lost} of 2000 lost at p = 0.3");
        assert!(fates
            .iter()
            .all(|f| f.delay >= Duration::from_millis(5) && f.delay <= Duration::from_millis(15)));
        let spread = fates.iter().map(|f| f.delay).max().unwrap()
            - fates.iter().map(|f| f.delay).min().unwrap();
        assert!(
            spread > Duration::from_millis(8),
            "jitter spreads delays: {spread:?}"
        );
    }

    fn query_hash_of(i: u32) -> QueryHash {
        crate::dedup::query_hash(&i.to_le_bytes())
    }
}
