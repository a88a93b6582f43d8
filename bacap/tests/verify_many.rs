//! Batch verification answers item by item exactly what verifying each box alone answers.

use bacap::{verify, verify_many, BoxId, Error, SealedBox, Signature, WriteCap};
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// What is done to a freshly sealed box before it is verified.
#[derive(Debug, Clone, Copy)]
enum Damage {
    None,
    /// One payload byte flipped.
    Payload,
    /// One bit of `R` flipped.
    R,
    /// `S` made at least the group order (a non-canonical scalar).
    NonCanonicalS,
    /// The signature of another box.
    OtherSignature,
    /// A box ID that is not a curve point.
    NotAPoint,
}

const ALL: [Damage; 6] = [
    Damage::None,
    Damage::Payload,
    Damage::R,
    Damage::NonCanonicalS,
    Damage::OtherSignature,
    Damage::NotAPoint,
];

fn not_a_point() -> BoxId {
    (0u8..=255)
        .map(|b| BoxId::from_array([b; 32]))
        .find(|id| {
            verify(id, b"", &Signature::from_array([0; 64])) == Err(Error::InvalidPoint("box ID"))
        })
        .expect("some repeated byte is not the encoding of a point")
}

fn boxes(damage: &[Damage]) -> Vec<SealedBox> {
    let w = WriteCap::generate(&mut ChaCha20Rng::seed_from_u64(damage.len() as u64));
    let mut index = w.first_index().clone();
    let mut out = Vec::new();
    for (i, d) in damage.iter().enumerate() {
        let mut b = w.seal(&index, b"ctx", format!("message {i}").as_bytes());
        let other = w.seal(&index, b"ctx", b"another message").signature;
        let mut sig = *b.signature.as_bytes();
        match d {
            Damage::None => {}
            Damage::Payload => b.payload[3] ^= 1,
            Damage::R => sig[5] ^= 0x10,
            Damage::NonCanonicalS => sig[63] |= 0xf0,
            Damage::OtherSignature => sig = *other.as_bytes(),
            Damage::NotAPoint => b.box_id = not_a_point(),
        }
        b.signature = Signature::from_array(sig);
        out.push(b);
        index = index.next().unwrap();
    }
    out
}

fn check(damage: &[Damage]) {
    let boxes = boxes(damage);
    let items: Vec<_> = boxes
        .iter()
        .map(|b| (&b.box_id, b.payload.as_slice(), &b.signature))
        .collect();
    let alone: Vec<_> = boxes.iter().map(|b| b.verify()).collect();
    assert_eq!(verify_many(&items), alone, "{damage:?}");
    for (d, answer) in damage.iter().zip(&alone) {
        assert_eq!(matches!(d, Damage::None), answer.is_ok(), "{d:?}");
    }
}

#[test]
fn every_kind_of_damage_is_refused_alone_and_in_a_batch() {
    for d in ALL {
        check(&[d]);
        check(&[Damage::None, d, Damage::None]);
        check(&[d; 5]);
    }
    check(&[]);
    check(&ALL);
}

#[test]
fn a_full_batch_of_valid_boxes_passes_and_one_bad_box_is_named() {
    check(&[Damage::None; 64]);
    for bad in [0, 31, 63] {
        let mut damage = [Damage::None; 64];
        damage[bad] = Damage::Payload;
        check(&damage);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn batch_answers_match_single_answers(damage in prop::collection::vec(prop::sample::select(ALL.to_vec()), 0..20)) {
        check(&damage);
    }
}
