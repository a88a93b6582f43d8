//! The simulated storage replicas: identity keys, Shard2 placement and which replicas are up.

use std::sync::atomic::{AtomicBool, Ordering};

use bacap::BoxId;
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// A replica's identity key.
pub type IdentityKey = [u8; 32];

/// The replicas of one simulator: their identity keys and up/down state.
#[derive(Debug)]
pub struct Replicas {
    keys: Vec<IdentityKey>,
    up: Vec<AtomicBool>,
}

impl Replicas {
    /// `n` replicas whose identity keys are drawn from a ChaCha20 RNG seeded with `seed`.
    pub fn derive(n: u8, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let keys = (0..n)
            .map(|_| {
                let mut k = [0u8; 32];
                rng.fill_bytes(&mut k);
                k
            })
            .collect();
        Self::from_keys(keys)
    }

    /// Replicas with these identity keys, all up.
    pub fn from_keys(keys: Vec<IdentityKey>) -> Self {
        let up = keys.iter().map(|_| AtomicBool::new(true)).collect();
        Self { keys, up }
    }

    /// The identity keys, by replica number.
    pub fn keys(&self) -> &[IdentityKey] {
        &self.keys
    }

    /// How many replicas there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none (never, for a running simulator).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether replica `r` is up.
    pub fn is_up(&self, r: u8) -> bool {
        self.up
            .get(usize::from(r))
            .is_some_and(|u| u.load(Ordering::Acquire))
    }

    /// Marks replica `r` up or down. The caller serializes this with writes.
    pub(crate) fn set_up(&self, r: u8, up: bool) {
        if let Some(flag) = self.up.get(usize::from(r)) {
            flag.store(up, Ordering::Release);
        }
    }

    /// Shard2: the two replicas holding `box_id`, those with the smallest
    /// `BLAKE2b-256(k_r || box_id)`, smallest first.
    pub fn shard(&self, box_id: &BoxId) -> [u8; 2] {
        let mut best: [(IdentityKey, u8); 2] = [([0xff; 32], 0), ([0xff; 32], 1)];
        for (r, key) in self.keys.iter().enumerate() {
            let mut h = Blake2b::<U32>::new();
            h.update(key);
            h.update(box_id.as_bytes());
            let h: IdentityKey = h.finalize().into();
            let r = r as u8;
            if r == 0 || h < best[0].0 {
                best[1] = best[0];
                best[0] = (h, r);
            } else if r == 1 || h < best[1].0 {
                best[1] = (h, r);
            }
        }
        [best[0].1, best[1].1]
    }

    /// The first replica of `box_id`'s shard that is up, if any.
    pub fn serving(&self, box_id: &BoxId) -> Option<u8> {
        self.serving_of(self.shard(box_id))
    }

    /// The first replica of `shard` that is up, if any.
    pub fn serving_of(&self, shard: [u8; 2]) -> Option<u8> {
        shard.into_iter().find(|&r| self.is_up(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_is_the_two_smallest_hashes() {
        let replicas = Replicas::derive(5, 7);
        for i in 0..200u8 {
            let id = BoxId::from_array([i; 32]);
            let mut hashes: Vec<(IdentityKey, u8)> = replicas
                .keys()
                .iter()
                .enumerate()
                .map(|(r, k)| {
                    let mut h = Blake2b::<U32>::new();
                    h.update(k);
                    h.update(id.as_bytes());
                    (h.finalize().into(), r as u8)
                })
                .collect();
            hashes.sort();
            assert_eq!(replicas.shard(&id), [hashes[0].1, hashes[1].1]);
        }
    }

    #[test]
    fn keys_are_deterministic_per_seed_and_spread_boxes() {
        assert_eq!(Replicas::derive(4, 1).keys(), Replicas::derive(4, 1).keys());
        assert_ne!(Replicas::derive(4, 1).keys(), Replicas::derive(4, 2).keys());
        let replicas = Replicas::derive(4, 0);
        let mut counts = [0usize; 4];
        for i in 0..=255u8 {
            for r in replicas.shard(&BoxId::from_array([i; 32])) {
                counts[usize::from(r)] += 1;
            }
        }
        assert!(counts.iter().all(|&c| c > 60), "{counts:?}");
    }

    #[test]
    fn serving_skips_down_replicas() {
        let replicas = Replicas::derive(4, 0);
        let id = BoxId::from_array([3; 32]);
        let [a, b] = replicas.shard(&id);
        assert_eq!(replicas.serving(&id), Some(a));
        replicas.set_up(a, false);
        assert_eq!(replicas.serving(&id), Some(b));
        replicas.set_up(b, false);
        assert_eq!(replicas.serving(&id), None);
    }
}
