//! HKDF (RFC 5869) with HMAC-BLAKE2b-512, the KDF of BACAP.

use blake2::Blake2b512;
use hkdf::SimpleHkdf;
use zeroize::Zeroizing;

/// `KDF(ikm, salt, info, N)`: HKDF-BLAKE2b-512 with an output of `N` bytes.
///
/// An empty salt behaves as the RFC's all-zero salt (HMAC pads short keys with zeros).
pub(crate) fn kdf<const N: usize>(ikm: &[u8], salt: &[u8], info: &[u8]) -> Zeroizing<[u8; N]> {
    let hk = SimpleHkdf::<Blake2b512>::new(Some(salt), ikm);
    let mut okm = Zeroizing::new([0u8; N]);
    // N is at most 96 everywhere in BACAP, far below HKDF's 255 * 64 limit.
    hk.expand(info, okm.as_mut())
        .expect("HKDF output length within 255 hash lengths");
    okm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_salt_equals_zero_salt() {
        let a = kdf::<32>(b"ikm", b"", b"info");
        let b = kdf::<32>(b"ikm", &[0u8; 64], b"info");
        assert_eq!(*a, *b);
        let c = kdf::<32>(b"ikm", b"salt", b"info");
        assert_ne!(*a, *c);
    }
}
