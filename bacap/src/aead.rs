//! AES-256-GCM-SIV as BACAP uses it: RFC 8452 generalised to a 12- or 16-byte nonce.
//!
//! Record keys are derived from the first 12 nonce bytes exactly as RFC 8452 does; the POLYVAL
//! output is then XORed with *all* nonce bytes (16 in BACAP, where RFC 8452 XORs 12) before the
//! top bit of byte 15 is cleared and the block is encrypted into the tag. With a 12-byte nonce
//! this is plain RFC 8452. The output is `ciphertext || tag`.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes256;
use polyval::universal_hash::UniversalHash;
use polyval::Polyval;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// Length of the authentication tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

type Block = GenericArray<u8, aes::cipher::consts::U16>;

/// Per-nonce record keys of RFC 8452, section 4.
struct RecordKeys {
    auth_key: Zeroizing<[u8; 16]>,
    enc_cipher: Aes256,
}

fn record_keys(key: &[u8; 32], nonce12: &[u8]) -> RecordKeys {
    let kgk = Aes256::new(GenericArray::from_slice(key));
    let mut blocks = [Block::default(); 6];
    for (i, block) in blocks.iter_mut().enumerate() {
        block[0..4].copy_from_slice(&(i as u32).to_le_bytes());
        block[4..16].copy_from_slice(nonce12);
    }
    kgk.encrypt_blocks(&mut blocks);
    let mut auth_key = Zeroizing::new([0u8; 16]);
    auth_key[0..8].copy_from_slice(&blocks[0][0..8]);
    auth_key[8..16].copy_from_slice(&blocks[1][0..8]);
    let mut enc_key = Zeroizing::new([0u8; 32]);
    for (i, block) in blocks[2..6].iter().enumerate() {
        enc_key[i * 8..i * 8 + 8].copy_from_slice(&block[0..8]);
    }
    for block in blocks.iter_mut() {
        block.as_mut_slice().zeroize();
    }
    RecordKeys {
        auth_key,
        enc_cipher: Aes256::new(GenericArray::from_slice(enc_key.as_ref())),
    }
}

fn compute_tag(keys: &RecordKeys, nonce: &[u8], ad: &[u8], plaintext: &[u8]) -> [u8; TAG_LEN] {
    let mut polyval = Polyval::new(GenericArray::from_slice(keys.auth_key.as_ref()));
    polyval.update_padded(ad);
    polyval.update_padded(plaintext);
    let mut lengths = Block::default();
    lengths[0..8].copy_from_slice(&((ad.len() as u64) * 8).to_le_bytes());
    lengths[8..16].copy_from_slice(&((plaintext.len() as u64) * 8).to_le_bytes());
    polyval.update(&[lengths]);
    let mut s = polyval.finalize();
    for (b, n) in s.iter_mut().zip(nonce) {
        *b ^= n;
    }
    s[15] &= 0x7f;
    keys.enc_cipher.encrypt_block(&mut s);
    s.into()
}

/// XORs `data` with the AES-CTR keystream that starts at the counter block derived from `tag`.
fn apply_ctr(keys: &RecordKeys, tag: &[u8; TAG_LEN], data: &mut [u8]) {
    const BATCH: usize = 8;
    let mut counter_block = *tag;
    counter_block[15] |= 0x80;
    let mut counter = u32::from_le_bytes([
        counter_block[0],
        counter_block[1],
        counter_block[2],
        counter_block[3],
    ]);
    let mut keystream = [Block::default(); BATCH];
    for chunk in data.chunks_mut(16 * BATCH) {
        let nblocks = chunk.len().div_ceil(16);
        for block in keystream.iter_mut().take(nblocks) {
            block.copy_from_slice(&counter_block);
            block[0..4].copy_from_slice(&counter.to_le_bytes());
            counter = counter.wrapping_add(1);
        }
        keys.enc_cipher.encrypt_blocks(&mut keystream[..nblocks]);
        for (d, k) in chunk
            .iter_mut()
            .zip(keystream.iter().flat_map(|b| b.iter()))
        {
            *d ^= k;
        }
    }
    for block in keystream.iter_mut() {
        block.as_mut_slice().zeroize();
    }
}

fn check_nonce(nonce: &[u8]) {
    assert!(
        nonce.len() == 12 || nonce.len() == 16,
        "GCM-SIV nonce must be 12 or 16 bytes"
    );
}

/// Encrypts `plaintext` under `key` and `nonce` (12 or 16 bytes), authenticating `ad`.
///
/// Returns `ciphertext || tag`.
///
/// # Panics
///
/// If `nonce` is neither 12 nor 16 bytes long (a programming error, never input-dependent).
pub fn seal(key: &[u8; 32], nonce: &[u8], ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    check_nonce(nonce);
    let keys = record_keys(key, &nonce[..12]);
    let tag = compute_tag(&keys, nonce, ad, plaintext);
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    apply_ctr(&keys, &tag, &mut out);
    out.extend_from_slice(&tag);
    out
}

/// Decrypts and authenticates `ciphertext || tag`; the inverse of [`seal`].
///
/// # Panics
///
/// If `nonce` is neither 12 nor 16 bytes long (a programming error, never input-dependent).
pub fn open(
    key: &[u8; 32],
    nonce: &[u8],
    ad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    check_nonce(nonce);
    if ciphertext.len() < TAG_LEN {
        return Err(Error::PayloadTooShort(ciphertext.len()));
    }
    let (body, tag) = ciphertext.split_at(ciphertext.len() - TAG_LEN);
    let tag: [u8; TAG_LEN] = tag.try_into().expect("split at TAG_LEN");
    let keys = record_keys(key, &nonce[..12]);
    let mut plaintext = Zeroizing::new(body.to_vec());
    apply_ctr(&keys, &tag, &mut plaintext);
    let expected = compute_tag(&keys, nonce, ad, &plaintext);
    if bool::from(expected.ct_eq(&tag)) {
        Ok(plaintext)
    } else {
        Err(Error::DecryptionFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm_siv::aead::{Aead, Payload};
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // RFC 8452 appendix C.2, AES-256-GCM-SIV, the first vector with a non-empty plaintext.
    #[test]
    fn rfc8452_vector() {
        let key: [u8; 32] = hex("0100000000000000000000000000000000000000000000000000000000000000")
            .try_into()
            .unwrap();
        let nonce = hex("030000000000000000000000");
        let pt = hex("0100000000000000");
        let ct = seal(&key, &nonce, &[], &pt);
        assert_eq!(
            hex::encode(&ct),
            "c2ef328e5c71c83b843122130f7364b761e0b97427e3df28"
        );
        assert_eq!(
            open(&key, &nonce, &[], &ct).unwrap().as_slice(),
            pt.as_slice()
        );
    }

    proptest! {
        // With a 12-byte nonce our construction must be exactly RFC 8452, as the aes-gcm-siv crate implements it.
        #[test]
        fn twelve_byte_nonce_is_rfc8452(key in any::<[u8; 32]>(), nonce in any::<[u8; 12]>(),
                                        ad in proptest::collection::vec(any::<u8>(), 0..70),
                                        pt in proptest::collection::vec(any::<u8>(), 0..300)) {
            let reference = aes_gcm_siv::Aes256GcmSiv::new(&key.into())
                .encrypt(&nonce.into(), Payload { msg: &pt, aad: &ad }).unwrap();
            let ours = seal(&key, &nonce, &ad, &pt);
            prop_assert_eq!(&ours, &reference);
            let opened = open(&key, &nonce, &ad, &ours).unwrap();
            prop_assert_eq!(opened.as_slice(), pt.as_slice());
        }

        #[test]
        fn sixteen_byte_nonce_round_trips_and_differs(key in any::<[u8; 32]>(), nonce in any::<[u8; 16]>(),
                                                      pt in proptest::collection::vec(any::<u8>(), 0..300)) {
            let ct = seal(&key, &nonce, &nonce, &pt);
            prop_assert_eq!(ct.len(), pt.len() + TAG_LEN);
            let opened = open(&key, &nonce, &nonce, &ct).unwrap();
            prop_assert_eq!(opened.as_slice(), pt.as_slice());
            // The last four nonce bytes take part in the tag.
            let mut other = nonce;
            other[13] ^= 1;
            prop_assert!(open(&key, &other, &nonce, &ct).is_err());
        }
    }

    #[test]
    fn tampering_is_detected() {
        let key = [7u8; 32];
        let nonce = [9u8; 16];
        let ct = seal(
            &key,
            &nonce,
            b"ad",
            b"some plaintext that spans more than one block",
        );
        for i in 0..ct.len() {
            let mut bad = ct.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                open(&key, &nonce, b"ad", &bad).unwrap_err(),
                Error::DecryptionFailed
            );
        }
        assert_eq!(
            open(&key, &nonce, b"AD", &ct).unwrap_err(),
            Error::DecryptionFailed
        );
        assert_eq!(
            open(&key, &nonce, b"ad", &ct[..15]).unwrap_err(),
            Error::PayloadTooShort(15)
        );
    }
}
