//! Sealed caps: a ReadCap encrypted to one member's sealing key, so that a member who rotates
//! can hand its new stream's ReadCap to the remaining members only (see the "Sealed caps"
//! section of the lifecycle spec).
//!
//! HPKE (RFC 9180) in base mode with `DHKEM(X25519, HKDF-SHA256)`, `HKDF-SHA256` and
//! `ChaCha20Poly1305`, through the `hpke` crate:
//!
//! - `info` = [`SEALED_CAP_INFO`] `|| 0x00 ||` the 32-byte group ID `||` the sender's new
//!   stream's epoch as a big-endian u64, so a sealed cap cannot be replayed into another group
//!   or another rotation;
//! - `aad` is empty and the plaintext is the 136-byte ReadCap;
//! - the sealed bytes are `enc` (32) followed by the ciphertext and its tag (136 + 16):
//!   [`SEALED_CAP_LEN`] bytes.

use core::fmt;

use bacap::{ReadCap, READ_CAP_LEN};
use hpke::aead::{AeadTag, ChaCha20Poly1305};
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::channel::GroupId;

/// The sealed form of a ReadCap: enc (32) || ciphertext (136 + 16).
pub const SEALED_CAP_LEN: usize = ENC_LEN + READ_CAP_LEN + TAG_LEN;

/// The `info` prefix.
pub const SEALED_CAP_INFO: &[u8] = b"bacap-chat/sealed-cap/v1";

/// Length of the encapsulated key (an X25519 public key).
const ENC_LEN: usize = 32;
/// Length of the ChaCha20Poly1305 tag.
const TAG_LEN: usize = 16;
/// Length of `info`: the prefix, the zero byte, the group ID and the epoch.
const INFO_LEN: usize = SEALED_CAP_INFO.len() + 1 + 32 + 8;

type SealKem = X25519HkdfSha256;
type SealKdf = HkdfSha256;
type SealAead = ChaCha20Poly1305;

/// Why a key could not be used or a sealed cap could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The sealed bytes are not exactly [`SEALED_CAP_LEN`] long.
    #[error("a sealed cap is {SEALED_CAP_LEN} bytes, got {got}")]
    Length {
        /// The length the bytes had.
        got: usize,
    },
    /// The sealed bytes do not open with this key, group and epoch: sealed to someone else, for
    /// another group or epoch, or changed on the way.
    #[error("the sealed cap does not open with this key, group and epoch")]
    DoesNotOpen,
    /// The sealed bytes opened, but what they hold is not a valid ReadCap.
    #[error("the sealed cap does not hold a valid ReadCap: {0}")]
    InvalidReadCap(bacap::Error),
    /// A sealing key that cannot be used: a secret key that is not 32 bytes, or a recipient's
    /// public key with which no shared secret can be agreed (a low-order point).
    #[error("invalid sealing key: {0}")]
    InvalidKey(&'static str),
}

/// A member's sealing public key (X25519), posted in its KEY message.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SealingPublicKey(pub [u8; 32]);

/// A member's sealing key pair (X25519). Secret; zeroized on drop; Debug shows only the public key.
#[derive(Clone)]
pub struct SealingKeyPair {
    /// The private key. It holds an `x25519_dalek::StaticSecret`, which zeroizes itself on drop
    /// (this crate turns on x25519-dalek's `zeroize` feature for that).
    secret: <SealKem as Kem>::PrivateKey,
    public: SealingPublicKey,
}

impl SealingKeyPair {
    /// A fresh key pair from `rng`.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let (secret, public) = SealKem::gen_keypair(&mut HpkeRng(rng));
        Self {
            secret,
            public: public_key_bytes(&public),
        }
    }

    /// The key pair of a 32-byte X25519 private key, as [`secret_bytes`](Self::secret_bytes)
    /// gave it.
    pub fn from_secret_bytes(secret: &[u8]) -> Result<Self, SealError> {
        if secret.len() != 32 {
            return Err(SealError::InvalidKey("a sealing secret key is 32 bytes"));
        }
        let secret = <SealKem as Kem>::PrivateKey::from_bytes(secret)
            .map_err(|_| SealError::InvalidKey("not an X25519 secret key"))?;
        let public = public_key_bytes(&SealKem::sk_to_pk(&secret));
        Ok(Self { secret, public })
    }

    /// The 32-byte private key, to persist the key pair; the buffer zeroizes itself.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        self.secret.write_exact(out.as_mut_slice());
        out
    }

    /// The public key, to post in a KEY message.
    pub fn public(&self) -> SealingPublicKey {
        self.public
    }
}

impl fmt::Debug for SealingKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Seals `cap` for the holder of `recipient`, for `group`'s stream epoch `epoch`.
///
/// Fails only when `recipient` is a key with which no shared secret can be agreed.
pub fn seal_read_cap<R: RngCore + CryptoRng>(
    rng: &mut R,
    recipient: &SealingPublicKey,
    group: &GroupId,
    epoch: u64,
    cap: &ReadCap,
) -> Result<[u8; SEALED_CAP_LEN], SealError> {
    seal_bytes(rng, recipient, group, epoch, &cap.to_bytes())
}

/// Seals any 136 bytes; [`seal_read_cap`] with the cap's encoding.
fn seal_bytes<R: RngCore + CryptoRng>(
    rng: &mut R,
    recipient: &SealingPublicKey,
    group: &GroupId,
    epoch: u64,
    plaintext: &[u8; READ_CAP_LEN],
) -> Result<[u8; SEALED_CAP_LEN], SealError> {
    let recipient = <SealKem as Kem>::PublicKey::from_bytes(&recipient.0)
        .map_err(|_| SealError::InvalidKey("not an X25519 public key"))?;
    let mut out = [0u8; SEALED_CAP_LEN];
    let (enc_out, rest) = out.split_at_mut(ENC_LEN);
    let (body, tag_out) = rest.split_at_mut(READ_CAP_LEN);
    body.copy_from_slice(plaintext);
    let (enc, tag) = hpke::single_shot_seal_in_place_detached::<SealAead, SealKdf, SealKem, _>(
        &OpModeS::Base,
        &recipient,
        &info(group, epoch),
        body,
        &[],
        &mut HpkeRng(rng),
    )
    .map_err(|_| {
        SealError::InvalidKey("no shared secret can be agreed with this recipient's key")
    })?;
    enc.write_exact(enc_out);
    tag.write_exact(tag_out);
    Ok(out)
}

/// Opens a sealed cap; refuses anything that does not open (or is not exactly 184 bytes, or
/// whose plaintext is not a valid ReadCap).
///
/// Another key, group or epoch and changed bytes all give [`SealError::DoesNotOpen`]: HPKE does
/// not tell them apart.
pub fn open_read_cap(
    key: &SealingKeyPair,
    group: &GroupId,
    epoch: u64,
    sealed: &[u8],
) -> Result<ReadCap, SealError> {
    if sealed.len() != SEALED_CAP_LEN {
        return Err(SealError::Length { got: sealed.len() });
    }
    let (enc, rest) = sealed.split_at(ENC_LEN);
    let (body, tag) = rest.split_at(READ_CAP_LEN);
    // Any 32 bytes decode as an X25519 public key and any 16 as a tag; a low-order `enc` fails
    // in decapsulation below.
    let enc = <SealKem as Kem>::EncappedKey::from_bytes(enc).map_err(|_| SealError::DoesNotOpen)?;
    let tag = AeadTag::<SealAead>::from_bytes(tag).map_err(|_| SealError::DoesNotOpen)?;
    let mut plaintext = Zeroizing::new([0u8; READ_CAP_LEN]);
    plaintext.copy_from_slice(body);
    hpke::single_shot_open_in_place_detached::<SealAead, SealKdf, SealKem>(
        &OpModeR::Base,
        &key.secret,
        &enc,
        &info(group, epoch),
        plaintext.as_mut_slice(),
        &[],
        &tag,
    )
    .map_err(|_| SealError::DoesNotOpen)?;
    ReadCap::from_bytes(plaintext.as_slice()).map_err(SealError::InvalidReadCap)
}

/// `SEALED_CAP_INFO || 0x00 || group_id || epoch (u64 big-endian)`.
fn info(group: &GroupId, epoch: u64) -> [u8; INFO_LEN] {
    let mut info = [0u8; INFO_LEN];
    let (prefix, rest) = info.split_at_mut(SEALED_CAP_INFO.len());
    prefix.copy_from_slice(SEALED_CAP_INFO);
    // rest[0] stays the zero separator.
    rest[1..33].copy_from_slice(&group.0);
    rest[33..].copy_from_slice(&epoch.to_be_bytes());
    info
}

fn public_key_bytes(public: &<SealKem as Kem>::PublicKey) -> SealingPublicKey {
    let mut out = [0u8; 32];
    public.write_exact(&mut out);
    SealingPublicKey(out)
}

/// Lends a `rand_core` 0.6 generator (this workspace's) to `hpke`, which takes `rand_core` 0.9.
/// It only forwards calls.
struct HpkeRng<'a, R>(&'a mut R);

impl<R: RngCore> hpke::rand_core::RngCore for HpkeRng<'_, R> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.0.fill_bytes(dst);
    }
}

impl<R: RngCore + CryptoRng> hpke::rand_core::CryptoRng for HpkeRng<'_, R> {}

#[cfg(test)]
mod tests {
    use super::*;
    use bacap::WriteCap;
    use proptest::prelude::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn rng(seed: u64) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(seed)
    }

    fn cap(rng: &mut ChaCha20Rng) -> ReadCap {
        WriteCap::generate(rng).read_cap()
    }

    const GROUP: GroupId = GroupId([7; 32]);
    const OTHER_GROUP: GroupId = GroupId([8; 32]);

    #[test]
    fn sealed_cap_opens_for_its_recipient_group_and_epoch() {
        let mut rng = rng(1);
        let key = SealingKeyPair::generate(&mut rng);
        let cap = cap(&mut rng);
        for epoch in [0, 1, 255, 256, u64::MAX] {
            let sealed = seal_read_cap(&mut rng, &key.public(), &GROUP, epoch, &cap).unwrap();
            assert_eq!(sealed.len(), SEALED_CAP_LEN);
            let opened = open_read_cap(&key, &GROUP, epoch, &sealed).unwrap();
            assert_eq!(opened, cap);
            assert_eq!(*opened.to_bytes(), *cap.to_bytes());
        }
    }

    #[test]
    fn each_seal_takes_a_fresh_ephemeral_key() {
        let mut rng = rng(2);
        let key = SealingKeyPair::generate(&mut rng);
        let cap = cap(&mut rng);
        let a = seal_read_cap(&mut rng, &key.public(), &GROUP, 0, &cap).unwrap();
        let b = seal_read_cap(&mut rng, &key.public(), &GROUP, 0, &cap).unwrap();
        assert_ne!(a[..ENC_LEN], b[..ENC_LEN]);
        assert_ne!(a[ENC_LEN..], b[ENC_LEN..]);
        // The plaintext does not show through.
        let plain = cap.to_bytes();
        assert!(!a.windows(32).any(|w| w == &plain[..32]));
    }

    #[test]
    fn another_key_group_or_epoch_does_not_open() {
        let mut rng = rng(3);
        let key = SealingKeyPair::generate(&mut rng);
        let other = SealingKeyPair::generate(&mut rng);
        let cap = cap(&mut rng);
        let sealed = seal_read_cap(&mut rng, &key.public(), &GROUP, 5, &cap).unwrap();
        assert_eq!(
            open_read_cap(&other, &GROUP, 5, &sealed),
            Err(SealError::DoesNotOpen)
        );
        assert_eq!(
            open_read_cap(&key, &OTHER_GROUP, 5, &sealed),
            Err(SealError::DoesNotOpen)
        );
        for epoch in [4, 6, 5 | 1 << 63] {
            assert_eq!(
                open_read_cap(&key, &GROUP, epoch, &sealed),
                Err(SealError::DoesNotOpen),
                "epoch {epoch}"
            );
        }
        assert!(open_read_cap(&key, &GROUP, 5, &sealed).is_ok());
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let mut rng = rng(4);
        let key = SealingKeyPair::generate(&mut rng);
        let cap = cap(&mut rng);
        let sealed = seal_read_cap(&mut rng, &key.public(), &GROUP, 1, &cap).unwrap();
        for byte in 0..SEALED_CAP_LEN {
            for bit in [0, 3, 7] {
                let mut bad = sealed;
                bad[byte] ^= 1 << bit;
                let got = open_read_cap(&key, &GROUP, 1, &bad);
                // Bit 7 of the last byte of `enc` is ignored by X25519 (RFC 7748), so that
                // flip decodes to the same point, yet the KEM's context hashes the bytes of
                // `enc` as sent, so it does not open either.
                assert_eq!(got, Err(SealError::DoesNotOpen), "byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn wrong_lengths_are_refused() {
        let mut rng = rng(5);
        let key = SealingKeyPair::generate(&mut rng);
        let cap = cap(&mut rng);
        let sealed = seal_read_cap(&mut rng, &key.public(), &GROUP, 1, &cap).unwrap();
        for len in [0, 1, ENC_LEN, SEALED_CAP_LEN - TAG_LEN, SEALED_CAP_LEN - 1] {
            assert_eq!(
                open_read_cap(&key, &GROUP, 1, &sealed[..len]),
                Err(SealError::Length { got: len })
            );
        }
        let mut long = sealed.to_vec();
        long.push(0);
        assert_eq!(
            open_read_cap(&key, &GROUP, 1, &long),
            Err(SealError::Length {
                got: SEALED_CAP_LEN + 1
            })
        );
    }

    #[test]
    fn a_seal_of_bytes_that_are_no_read_cap_opens_but_is_refused() {
        let mut rng = rng(6);
        let key = SealingKeyPair::generate(&mut rng);
        // The root public key of all-0xff bytes is not a point on the curve.
        let sealed = seal_bytes(&mut rng, &key.public(), &GROUP, 0, &[0xff; READ_CAP_LEN]).unwrap();
        assert!(matches!(
            open_read_cap(&key, &GROUP, 0, &sealed),
            Err(SealError::InvalidReadCap(_))
        ));
    }

    #[test]
    fn a_low_order_recipient_key_is_refused_when_sealing() {
        let mut rng = rng(7);
        let cap = cap(&mut rng);
        // The identity and a point of order 8 give an all-zero shared secret.
        let order_8 =
            hex::decode("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
                .unwrap();
        for low in [[0u8; 32], order_8.try_into().unwrap()] {
            assert!(matches!(
                seal_read_cap(&mut rng, &SealingPublicKey(low), &GROUP, 0, &cap),
                Err(SealError::InvalidKey(_))
            ));
        }
    }

    #[test]
    fn a_low_order_enc_does_not_open() {
        let mut rng = rng(8);
        let key = SealingKeyPair::generate(&mut rng);
        let cap = cap(&mut rng);
        let mut sealed = seal_read_cap(&mut rng, &key.public(), &GROUP, 0, &cap).unwrap();
        sealed[..ENC_LEN].fill(0);
        assert_eq!(
            open_read_cap(&key, &GROUP, 0, &sealed),
            Err(SealError::DoesNotOpen)
        );
    }

    #[test]
    fn secret_bytes_round_trip_to_the_same_key_pair() {
        let mut rng = rng(9);
        let key = SealingKeyPair::generate(&mut rng);
        let again = SealingKeyPair::from_secret_bytes(key.secret_bytes().as_slice()).unwrap();
        assert_eq!(again.public(), key.public());
        assert_eq!(*again.secret_bytes(), *key.secret_bytes());
        let cap = cap(&mut rng);
        let sealed = seal_read_cap(&mut rng, &key.public(), &GROUP, 3, &cap).unwrap();
        assert_eq!(open_read_cap(&again, &GROUP, 3, &sealed).unwrap(), cap);

        for len in [0, 31, 33] {
            assert!(matches!(
                SealingKeyPair::from_secret_bytes(&vec![1; len]),
                Err(SealError::InvalidKey(_))
            ));
        }
    }

    /// Case `valid-0` of the shared vectors, made by pyhpke: an independent implementation
    /// opens to the same cap here (the testvectors crate checks the whole file).
    #[test]
    fn opens_a_seal_made_by_another_implementation() {
        let key = SealingKeyPair::from_secret_bytes(
            &hex::decode("ff4d233479ac5919adbc1e41bd504e8741a8ae5c366945c907a5e31a3f94bd82")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            hex::encode(key.public().0),
            "b7ebaa3b22775624ad48d60eb0f205e6dd7fdb9c4e80247651368587ffbc4561"
        );
        let group = GroupId(
            hex::decode("a4cdc93bd63f1b2eb9c695c8804354ac618a2221fdc0cb1082bfd08c8a97560f")
                .unwrap()
                .try_into()
                .unwrap(),
        );
        let sealed = hex::decode(concat!(
            "1c0314b3d22fd155a5cfbe4a64710bad365e5937b458d67f34cdab6e2487a370",
            "ce4ed594ac19c8b266f52e00bc6039845158088ff0c386d659bd04888ef36c7f",
            "a225c4af24a6a9be7e4bdd41701c9180bb6b89b72d4b40f63f7bbb7ab8b1bd68",
            "04dca4896ad157a4f256155922e92c4efcb494e58377fc06adc974fe335821ea",
            "dd427ef19cde01554dc089006b288ff17b1779deaf6ac1779928e5be4a9865cf",
            "400b5ad9f9e51b1b74244bbd1895b8dacf0dd87268ce9f14",
        ))
        .unwrap();
        let cap = open_read_cap(&key, &group, 0, &sealed).unwrap();
        assert_eq!(
            hex::encode(cap.to_bytes().as_slice()),
            concat!(
                "5e3fdd14e34d41005e3e4b22fa04577ef0bca13fd7fb264622a8ff455b992a69",
                "0c1c78e2a8b3eca7e827ede1810efbeeafb6099c93bb2a68921e948d60c38ced",
                "0895c7efda02d540c8b60649e9565fd14eeded30c12affb59b7f8514d579517c",
                "26c5343a4b971c030f32c6bd372632904f51bb2fe8ce89c26ab83cdfce45ba64",
                "3425f086e9ef3240",
            )
        );
        assert_eq!(
            open_read_cap(&key, &group, 1, &sealed),
            Err(SealError::DoesNotOpen)
        );
    }

    #[test]
    fn info_is_prefix_zero_group_and_big_endian_epoch() {
        let info = info(&GroupId([0xab; 32]), 0x0102_0304_0506_0708);
        let mut expected = b"bacap-chat/sealed-cap/v1\x00".to_vec();
        expected.extend_from_slice(&[0xab; 32]);
        expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(info.as_slice(), expected.as_slice());
        assert_eq!(SEALED_CAP_LEN, 184);
    }

    #[test]
    fn debug_shows_the_public_key_and_no_secret() {
        let key = SealingKeyPair::from_secret_bytes(&[0x5a; 32]).unwrap();
        let shown = format!("{key:?} {key:#?}");
        assert!(shown.contains("SealingPublicKey"), "{shown}");
        let secret = key.secret_bytes();
        for needle in [
            hex::encode(*secret),
            format!("{:?}", *secret),
            "90, 90".into(),
        ] {
            assert!(!shown.contains(&needle), "{shown}");
        }
        let public = format!("{:?}", key.public().0);
        assert!(shown.contains(&public[1..public.len() - 1]), "{shown}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Outside bytes of any length give an error, never a panic or a cap.
        #[test]
        fn arbitrary_bytes_do_not_open(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let key = SealingKeyPair::from_secret_bytes(&[3; 32]).unwrap();
            prop_assert!(open_read_cap(&key, &GROUP, 0, &bytes).is_err());
        }

        /// Seal-sized random bytes do not open either.
        #[test]
        fn arbitrary_seals_do_not_open(
            bytes in proptest::collection::vec(any::<u8>(), SEALED_CAP_LEN)
        ) {
            let key = SealingKeyPair::from_secret_bytes(&[3; 32]).unwrap();
            prop_assert_eq!(
                open_read_cap(&key, &GROUP, 0, &bytes),
                Err(SealError::DoesNotOpen)
            );
        }
    }
}
