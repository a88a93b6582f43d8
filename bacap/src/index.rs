//! MessageBoxIndex: the per-box key material of a BACAP stream and how it advances.

use core::fmt;

use curve25519_dalek::Scalar;
use sha2::{Digest, Sha512_256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};
use crate::kdf::kdf;

/// Length of a MessageBoxIndex's binary encoding.
pub const MESSAGE_BOX_INDEX_LEN: usize = 104;

/// One position in a BACAP stream: a counter and the three 32-byte keys derived for it.
///
/// Layout: `LE64(idx) || K || E || H`, where `K` is the blinding key, `E` the encryption key,
/// and `H` the KDF state from which the next index is derived. All three are secret.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct MessageBoxIndex {
    idx: u64,
    blinding_key: [u8; 32],
    encryption_key: [u8; 32],
    kdf_state: [u8; 32],
}

/// Ed25519 clamping of a 32-byte little-endian scalar.
pub(crate) fn clamp(mut b: [u8; 32]) -> [u8; 32] {
    b[0] &= 248;
    b[31] &= 127;
    b[31] |= 64;
    b
}

impl MessageBoxIndex {
    /// Builds an index from its counter and keys.
    pub fn from_parts(
        idx: u64,
        blinding_key: [u8; 32],
        encryption_key: [u8; 32],
        kdf_state: [u8; 32],
    ) -> Self {
        Self {
            idx,
            blinding_key,
            encryption_key,
            kdf_state,
        }
    }

    /// The 64-bit counter of this index.
    pub fn idx(&self) -> u64 {
        self.idx
    }

    /// The index after this one.
    ///
    /// `okm = KDF(H, none, LE64(idx), 96)`; the next index is `idx + 1` with
    /// `H = okm[0..32]`, `E = okm[32..64]`, `K = okm[64..96]`.
    pub fn next(&self) -> Result<Self> {
        let idx = self.idx.checked_add(1).ok_or(Error::CounterExhausted)?;
        let okm = kdf::<96>(&self.kdf_state, &[], &self.idx.to_le_bytes());
        let mut next = Self {
            idx,
            blinding_key: [0; 32],
            encryption_key: [0; 32],
            kdf_state: [0; 32],
        };
        next.kdf_state.copy_from_slice(&okm[0..32]);
        next.encryption_key.copy_from_slice(&okm[32..64]);
        next.blinding_key.copy_from_slice(&okm[64..96]);
        Ok(next)
    }

    /// The index with counter `target`, reached by advancing `target - idx` times.
    ///
    /// Going backwards is an error; the cost is linear in the distance.
    pub fn advance_to(&self, target: u64) -> Result<Self> {
        if target < self.idx {
            return Err(Error::IndexBehind {
                current: self.idx,
                target,
            });
        }
        let mut cur = self.clone();
        while cur.idx < target {
            cur = cur.next()?;
        }
        Ok(cur)
    }

    /// The binary encoding, `LE64(idx) || K || E || H`. It is secret; the buffer zeroizes itself.
    pub fn to_bytes(&self) -> Zeroizing<[u8; MESSAGE_BOX_INDEX_LEN]> {
        let mut out = Zeroizing::new([0u8; MESSAGE_BOX_INDEX_LEN]);
        out[0..8].copy_from_slice(&self.idx.to_le_bytes());
        out[8..40].copy_from_slice(&self.blinding_key);
        out[40..72].copy_from_slice(&self.encryption_key);
        out[72..104].copy_from_slice(&self.kdf_state);
        out
    }

    /// Decodes the 104-byte binary encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != MESSAGE_BOX_INDEX_LEN {
            return Err(Error::InvalidLength {
                what: "message box index",
                expected: MESSAGE_BOX_INDEX_LEN,
                got: bytes.len(),
            });
        }
        let mut idx = [0u8; 8];
        idx.copy_from_slice(&bytes[0..8]);
        let mut index = Self {
            idx: u64::from_le_bytes(idx),
            blinding_key: [0; 32],
            encryption_key: [0; 32],
            kdf_state: [0; 32],
        };
        index.blinding_key.copy_from_slice(&bytes[8..40]);
        index.encryption_key.copy_from_slice(&bytes[40..72]);
        index.kdf_state.copy_from_slice(&bytes[72..104]);
        Ok(index)
    }

    /// The blinding factor of the box at this index in context `ctx`:
    /// `clamp(SHA-512/256(K_ctx)) mod L` with `K_ctx = KDF(K, ctx, "", 32)`.
    pub(crate) fn blinding_factor(&self, ctx: &[u8]) -> Zeroizing<Scalar> {
        let k_ctx = kdf::<32>(&self.blinding_key, ctx, &[]);
        let mut digest: [u8; 32] = Sha512_256::digest(k_ctx.as_ref()).into();
        let factor = Zeroizing::new(Scalar::from_bytes_mod_order(clamp(digest)));
        digest.zeroize();
        factor
    }

    /// The AEAD key of the box at this index in context `ctx`: `E_ctx = KDF(E, ctx, "", 32)`.
    pub(crate) fn encryption_key(&self, ctx: &[u8]) -> Zeroizing<[u8; 32]> {
        kdf::<32>(&self.encryption_key, ctx, &[])
    }
}

impl fmt::Debug for MessageBoxIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageBoxIndex")
            .field("idx", &self.idx)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(idx: u64) -> MessageBoxIndex {
        MessageBoxIndex::from_parts(idx, [1; 32], [2; 32], [3; 32])
    }

    #[test]
    fn encoding_round_trips() {
        let i = sample(0x0102_0304_0506_0708);
        let b = i.to_bytes();
        assert_eq!(&b[0..8], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(MessageBoxIndex::from_bytes(b.as_ref()).unwrap(), i);
    }

    #[test]
    fn wrong_length_is_an_error() {
        let err = MessageBoxIndex::from_bytes(&[0u8; 103]).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidLength {
                expected: 104,
                got: 103,
                ..
            }
        ));
    }

    #[test]
    fn advance_is_deterministic_and_moves_all_keys() {
        let i = sample(5);
        let a = i.next().unwrap();
        assert_eq!(a.idx(), 6);
        assert_eq!(a, i.next().unwrap());
        assert_ne!(a.blinding_key, i.blinding_key);
        assert_ne!(a.encryption_key, i.encryption_key);
        assert_ne!(a.kdf_state, i.kdf_state);
        assert_eq!(i.advance_to(8).unwrap(), a.next().unwrap().next().unwrap());
        assert_eq!(i.advance_to(5).unwrap(), i);
    }

    #[test]
    fn backwards_and_overflow_are_errors() {
        assert_eq!(
            sample(5).advance_to(4).unwrap_err(),
            Error::IndexBehind {
                current: 5,
                target: 4
            }
        );
        assert_eq!(
            sample(u64::MAX).next().unwrap_err(),
            Error::CounterExhausted
        );
        assert!(sample(u64::MAX - 1).next().is_ok());
    }

    #[test]
    fn debug_hides_keys() {
        let s = format!("{:?}", sample(7));
        assert!(s.contains("idx: 7"));
        assert!(!s.contains("[1, 1"));
        assert!(!s.contains("blinding"));
    }
}
