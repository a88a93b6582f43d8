//! The storage rules check a batch of writes as they check each write alone.

use bacap::{BoxId, Geometry, SealedBox, Signature, StatefulWriter, WriteCap};
use pigeonhole::padding::PaddedGeometry;
use pigeonhole::store::{check_box, check_boxes, ReplyCode, Verification};
use pigeonhole::transport::seal_message;
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

/// Fourteen padded boxes: 0 to 4 intact, 5 with a flipped payload byte, 6 with another box's
/// signature, 7 one byte over the padded size, 8 with an ID that is no point, 9 to 11 intact,
/// 12 a validly signed box that was not padded, 13 a tombstone.
fn boxes() -> (Vec<SealedBox>, PaddedGeometry) {
    let mut w = StatefulWriter::new(
        WriteCap::generate(&mut ChaCha20Rng::seed_from_u64(12)),
        b"ctx",
    );
    let mut out = Vec::new();
    for i in 0..12 {
        let message = format!("message {i}");
        out.push(seal_message(&w, message.as_bytes(), Geometry::KATZENPOST).unwrap());
        w.advance().unwrap();
    }
    let geometry = PaddedGeometry::KATZENPOST;
    assert!(out.iter().all(|b| b.payload.len() == 1576));
    out[5].payload[2] ^= 1;
    out[6].signature = out[0].signature;
    out[7].payload.push(0);
    out[8].box_id = not_a_point();
    out.push(w.prepare_next(b"message 12"));
    w.advance().unwrap();
    out.push(w.cap().tombstone(w.next_index(), w.ctx()));
    (out, geometry)
}

#[test]
fn checking_in_a_batch_or_each_alone_gives_the_same_answers() {
    let (boxes, geometry) = boxes();
    let answers = |v| -> Vec<Result<BoxId, ReplyCode>> {
        check_boxes(boxes.clone(), geometry, v)
            .into_iter()
            .map(|c| c.map(|b| b.box_id))
            .collect()
    };
    let batched = answers(Verification::Batched);
    assert_eq!(batched, answers(Verification::Each));
    let alone: Vec<_> = boxes
        .iter()
        .map(|b| check_box(b.clone(), geometry).map(|c| c.into_inner().box_id))
        .collect();
    assert_eq!(batched, alone);
    assert_eq!(batched[5], Err(ReplyCode::InvalidSignature));
    assert_eq!(batched[6], Err(ReplyCode::InvalidSignature));
    assert_eq!(batched[7], Err(ReplyCode::InvalidPayload));
    assert_eq!(batched[8], Err(ReplyCode::InvalidBoxId));
    assert!(boxes[12].verify().is_ok(), "signed, but not padded");
    assert_eq!(batched[12], Err(ReplyCode::InvalidPayload));
    assert!(batched[13].is_ok(), "a tombstone is empty");
    assert_eq!(batched.iter().filter(|a| a.is_ok()).count(), 9);
}
