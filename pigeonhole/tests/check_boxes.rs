//! The storage rules check a batch of writes as they check each write alone.

use bacap::{BoxId, SealedBox, Signature, WriteCap};
use pigeonhole::store::{check_box, check_boxes, ReplyCode, Verification};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// A 32-byte string that is not the encoding of a curve point.
fn not_a_point() -> BoxId {
    (0u8..=255)
        .map(|b| BoxId::from_array([b; 32]))
        .find(|id| {
            SealedBox {
                box_id: *id,
                signature: Signature::from_array([0; 64]),
                payload: vec![1],
            }
            .verify()
                == Err(bacap::Error::InvalidPoint("box ID"))
        })
        .expect("some repeated byte is not the encoding of a point")
}

/// Twelve boxes: 0 to 4 intact, 5 with a flipped payload byte, 6 with another box's
/// signature, 7 over the payload limit, 8 with an ID that is no point, 9 to 11 intact.
fn boxes() -> (Vec<SealedBox>, usize) {
    let w = WriteCap::generate(&mut ChaCha20Rng::seed_from_u64(12));
    let mut index = w.first_index().clone();
    let mut out = Vec::new();
    for i in 0..12 {
        out.push(w.seal(&index, b"ctx", format!("message {i}").as_bytes()));
        index = index.next().unwrap();
    }
    let limit = out.iter().map(|b| b.payload.len()).max().unwrap();
    out[5].payload[2] ^= 1;
    out[6].signature = out[0].signature;
    out[7].payload.resize(limit + 1, 0);
    out[8].box_id = not_a_point();
    (out, limit)
}

#[test]
fn checking_in_a_batch_or_each_alone_gives_the_same_answers() {
    let (boxes, limit) = boxes();
    let answers = |v| -> Vec<Result<BoxId, ReplyCode>> {
        check_boxes(boxes.clone(), limit, v)
            .into_iter()
            .map(|c| c.map(|b| b.box_id))
            .collect()
    };
    let batched = answers(Verification::Batched);
    assert_eq!(batched, answers(Verification::Each));
    let alone: Vec<_> = boxes
        .iter()
        .map(|b| check_box(b.clone(), limit).map(|c| c.into_inner().box_id))
        .collect();
    assert_eq!(batched, alone);
    assert_eq!(batched[5], Err(ReplyCode::InvalidSignature));
    assert_eq!(batched[6], Err(ReplyCode::InvalidSignature));
    assert_eq!(batched[7], Err(ReplyCode::InvalidPayload));
    assert_eq!(batched[8], Err(ReplyCode::InvalidBoxId));
    assert_eq!(batched.iter().filter(|a| a.is_ok()).count(), 8);
}
